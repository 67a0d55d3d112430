"""Plain PyTorch: eval mode, ``torch.inference_mode()``, an optional lower precision and channels_last."""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from vidsynth.errors import VidsynthError

from .base import DictOutput, Runner, TensorDict, float32_outputs
from .cpu import cpu_bf16_support


def resolve_eager_precision(precision: str, device: torch.device) -> str:
    """The precision eager will really compute in on ``device`` (fp32 where the asked one would not pay)."""
    if device.type == "cuda":
        if precision == "auto":
            return "fp16"
        return precision
    if precision == "fp16":
        raise VidsynthError(
            "fp16 runs on cuda only, but the device is cpu; use precision='bf16' (CPUs with AMX or "
            "AVX512-BF16), 'fp32', or 'auto'"
        )
    if precision in ("bf16", "auto"):
        ok, detail = cpu_bf16_support()
        if ok:
            return "bf16"
        if precision == "bf16":
            warnings.warn(f"bf16 asked on a CPU without native bf16 ({detail}); running fp32 instead", stacklevel=3)
        return "fp32"
    return "fp32"


class EagerRunner(Runner):
    """Runs the module as it is, in eval mode under ``torch.inference_mode()``.

    fp32 calls the module unchanged, so the outputs are bit-identical to ``module(**inputs)``.
    bf16 (CPU with AMX/AVX512-BF16, or cuda) and fp16 (cuda) use autocast, which keeps
    precision-sensitive ops such as norms in fp32. channels_last (None: on for the lower precisions,
    where oneDNN and tensor cores prefer it; off for fp32, to stay exact) converts a copy of the module.
    The caller's module is only put in eval mode; any other change is made to a copy.

    >>> import torch
    >>> runner = EagerRunner(torch.nn.Conv2d(3, 2, 1), {"input": torch.zeros(1, 3, 4, 4)})
    >>> runner({"input": torch.ones(1, 3, 4, 4)})["output"].shape
    torch.Size([1, 2, 4, 4])
    """

    name = "eager"

    def __init__(
        self,
        module: nn.Module,
        example_inputs: Mapping[str, torch.Tensor],
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        channels_last: bool | None = None,
        output_names: Sequence[str] | None = None,
    ):
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise VidsynthError(
                "device 'cuda' was asked but torch sees no CUDA GPU (torch "
                f"{torch.__version__}); pass device='cpu' or install a CUDA build of torch"
            )
        precision = resolve_eager_precision(precision, device)
        if channels_last is None:
            channels_last = precision != "fp32"
        self.channels_last = bool(channels_last)
        module.eval()
        # a module already on the device and in the layout asked (a video step's phases share one) is used
        # as it is: a copy per runner would hold the weights twice
        if _module_device(module) != device or (self.channels_last and not is_channels_last(module)):
            module = copy.deepcopy(module).to(device)
            if self.channels_last:
                module = module.to(memory_format=torch.channels_last)
        self.module = DictOutput(module, output_names)
        self._autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self._target = device
        first = self._forward(dict(example_inputs))
        super().__init__(list(example_inputs), list(first), device, precision)

    def run(self, inputs: TensorDict) -> TensorDict:
        return self._forward(inputs)

    def _forward(self, inputs: Mapping[str, torch.Tensor]) -> TensorDict:
        prepared = {k: self._prepare(v) for k, v in inputs.items()}
        autocast = (
            torch.autocast(self._device_type(), dtype=self._autocast_dtype)
            if self._autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            out = self.module(**prepared)
        return float32_outputs(out, self._device())

    def _prepare(self, t: torch.Tensor) -> torch.Tensor:
        device = self._device()
        if t.device != device:
            t = t.to(device, non_blocking=True)
        if self.channels_last and t.dim() == 4 and t.is_floating_point():
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def _device(self) -> torch.device:
        return self._target

    def _device_type(self) -> str:
        return self._target.type

    def describe(self) -> str:
        layout = ", channels_last" if self.channels_last else ""
        return f"eager on {self.device} at {self.precision}{layout}"


def is_channels_last(module: nn.Module) -> bool:
    """Whether every 4-d weight of ``module`` is stored channels_last (and there is at least one)."""
    weights = [p for p in module.parameters() if p.dim() == 4 and p.shape[1] * p.shape[2] * p.shape[3] > 1]
    return bool(weights) and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)


def _module_device(module: nn.Module) -> torch.device:
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")
