"""``torch.compile`` over the eager runner; any failure to compile falls back to eager, with a warning."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .base import TensorDict
from .eager import EagerRunner


class CompiledRunner(EagerRunner):
    """The eager runner with its module compiled by ``torch.compile`` (static shapes).

    Compilation happens at build time, on the example inputs, so a missing C compiler or an
    unsupported op shows up before the first frame: the runner then warns and stays eager
    (``runner.name`` says which). A later recompilation failure (a new input shape) does the same.

    >>> import torch
    >>> r = CompiledRunner(torch.nn.Conv2d(3, 2, 1), {"input": torch.zeros(1, 3, 4, 4)}, compile_backend="eager")
    >>> r.name
    'compile'
    """

    name = "compile"

    def __init__(
        self,
        module: nn.Module,
        example_inputs: Mapping[str, torch.Tensor],
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        channels_last: bool | None = None,
        output_names: Sequence[str] | None = None,
        compile_mode: str = "default",
        compile_backend: str | object = "inductor",
    ):
        super().__init__(module, example_inputs, device, precision, channels_last, output_names)
        self.compile_mode = compile_mode
        self._eager_module = self.module
        try:
            self.module = torch.compile(
                self._eager_module,
                mode=None if compile_mode == "default" else compile_mode,
                backend=compile_backend,
                dynamic=False,
            )
            self._forward(dict(example_inputs))
        except Exception as exc:  # compilers fail in many ways (no C compiler, unsupported op)
            self._give_up(exc)

    def run(self, inputs: TensorDict) -> TensorDict:
        if self.name == "eager":
            return self._forward(inputs)
        try:
            return self._forward(inputs)
        except Exception as exc:
            self._give_up(exc)
            return self._forward(inputs)

    def _forward(self, inputs):
        if not self._uses_cuda_graphs():
            return super()._forward(inputs)
        # a CUDA graph writes its outputs into the same buffers at every replay: a caller that keeps
        # them (a video step's state, fed back as the next call's input) gets its own copy
        torch.compiler.cudagraph_mark_step_begin()
        return {k: v.clone() for k, v in super()._forward(inputs).items()}

    def _uses_cuda_graphs(self) -> bool:
        return (self.name == "compile" and self._target.type == "cuda"
                and getattr(self, "compile_mode", "default") in ("reduce-overhead", "max-autotune"))

    def _give_up(self, exc: Exception) -> None:
        root = exc
        while True:  # dynamo wraps the compiler's own error
            inner = getattr(root, "inner_exception", None) or root.__cause__
            if not isinstance(inner, BaseException) or inner is root:
                break
            root = inner
        first_line = (str(root).strip().splitlines() or [""])[0]
        warnings.warn(
            f"torch.compile failed ({type(root).__name__}: {first_line[:300]}); running eager instead",
            RuntimeWarning,
            stacklevel=3,
        )
        self.module = self._eager_module
        self.name = "eager"

    def describe(self) -> str:
        if self.name == "eager":
            return super().describe() + " (torch.compile failed)"
        return super().describe().replace("eager", f"compile[{self.compile_mode}]", 1)
