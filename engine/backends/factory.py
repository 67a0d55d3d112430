"""Build a runner by backend name, fall back to the next best when asked, and report what is available."""

from __future__ import annotations

import copy
import dataclasses
import os
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from vidsynth.errors import MissingDependency, VidsynthError

from .base import Runner, as_output_dict, check_input_names, float32_outputs
from .compiled import CompiledRunner
from .config import RunnerConfig
from .cpu import cpu_bf16_support
from .eager import EagerRunner
from .errors import BackendUnavailable
from .onnxruntime_runner import OnnxRunner, onnxruntime_status
from .tensorrt_runner import TensorRTRunner, tensorrt_status

# what to try after a backend that cannot run here, best first
_NEXT = {
    "tensorrt": ("onnx", "eager"),
    "onnx": ("eager",),
    "compile": ("eager",),
    "eager": (),
}
# "auto": the order tried per device (benchmarks/backends.py measured these on CPU)
_AUTO = {
    "cuda": ("tensorrt", "onnx", "eager"),
    "cpu": ("onnx", "eager"),
}
# max |backend - eager fp32| / max |eager fp32| that the build-time check accepts, per precision
CHECK_TOLERANCE = {"fp32": 1e-3, "fp16": 5e-2, "bf16": 1e-1}


def make_runner(
    module: nn.Module,
    example_inputs: Mapping[str, torch.Tensor],
    backend: str = "eager",
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    channels_last: bool | None = None,
    cache_dir: str | Path | None = None,
    fallback: bool = False,
    threads: int | None = None,
    compile_mode: str = "default",
    compile_backend: str = "inductor",
    opset: int = 17,
    check: bool | None = None,
    output_names: Sequence[str] | None = None,
) -> Runner:
    """Wrap ``module`` (keyword tensors in; a dict, tensor or tuple out) in a :class:`Runner`.

    ``backend``: eager | compile | onnx | tensorrt | auto. A backend that cannot run here (package
    missing, no GPU, an op it cannot export, a precision it lacks) raises :class:`BackendUnavailable`
    or :class:`~vidsynth.errors.MissingDependency` naming the package, unless ``fallback`` is set:
    then the next best backend is built and a ``RuntimeWarning`` says why. ``"auto"`` falls back,
    and checks the chosen backend's outputs against eager on the example inputs (``check``).
    See :class:`RunnerConfig` for the other options.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU())
    >>> x = {"input": torch.randn(1, 3, 16, 16)}
    >>> runner = make_runner(net, x, backend="eager")
    >>> torch.equal(runner(x)["output"], net(x["input"]))
    True
    """
    cfg = RunnerConfig(
        backend=backend, device=str(device), precision=precision, channels_last=channels_last,
        cache_dir=cache_dir, fallback=fallback, threads=threads, compile_mode=compile_mode,
        compile_backend=compile_backend, opset=opset, check=check,
        output_names=tuple(output_names) if output_names is not None else None,
    ).validate()
    if not isinstance(module, nn.Module):
        raise VidsynthError(f"make_runner needs a torch.nn.Module, found {type(module).__name__}")
    if not isinstance(example_inputs, Mapping) or not example_inputs:
        raise VidsynthError(
            "make_runner needs example inputs as a non-empty dict of named tensors (the module's keyword "
            f"arguments), found {type(example_inputs).__name__}; pass e.g. {{'label': torch.zeros(1, C, H, W)}}"
        )
    check_input_names(example_inputs, list(example_inputs), "requested")
    device_kind = torch.device(cfg.device).type
    if cfg.backend == "auto":
        chain, do_fallback = _AUTO[device_kind], True
        do_check = cfg.check is not False
    else:
        chain = (cfg.backend,) + (_NEXT[cfg.backend] if cfg.fallback else ())
        do_fallback, do_check = cfg.fallback, bool(cfg.check)

    reference = _eager_reference(module, example_inputs, cfg) if do_check else None
    for i, name in enumerate(chain):
        try:
            runner = _build(name, module, example_inputs, cfg)
            if reference is not None and name != "eager":
                _check_against(runner, example_inputs, reference)
        except (BackendUnavailable, MissingDependency) as exc:
            if not do_fallback or i == len(chain) - 1:
                raise
            warnings.warn(
                f"backend '{name}' cannot run here ({exc}); falling back to '{chain[i + 1]}'",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        return runner
    raise AssertionError("unreachable: the chain always ends in a backend that raises or returns")


def make_runner_from_config(module: nn.Module, example_inputs: Mapping[str, torch.Tensor], config: RunnerConfig) -> Runner:
    """:func:`make_runner` with its options in a :class:`RunnerConfig` (what the CLI builds)."""
    return make_runner(module, example_inputs, **dataclasses.asdict(config))


def _build(name: str, module: nn.Module, inputs: Mapping[str, torch.Tensor], cfg: RunnerConfig) -> Runner:
    if name == "eager":
        return EagerRunner(module, inputs, cfg.device, cfg.precision, cfg.channels_last, cfg.output_names)
    if name == "compile":
        return CompiledRunner(
            module, inputs, cfg.device, cfg.precision, cfg.channels_last, cfg.output_names,
            cfg.compile_mode, cfg.compile_backend,
        )
    if name == "onnx":
        return OnnxRunner(module, inputs, cfg.device, cfg.precision, cfg.cache_dir, cfg.threads, cfg.opset, cfg.output_names)
    if name == "tensorrt":
        return TensorRTRunner(module, inputs, cfg.device, cfg.precision, cfg.cache_dir, cfg.opset, cfg.output_names)
    raise AssertionError(name)


def _eager_reference(module: nn.Module, inputs: Mapping[str, torch.Tensor], cfg: RunnerConfig) -> dict:
    """fp32 eager outputs on the target device: what every other backend is checked against."""
    device = torch.device(cfg.device)
    module.eval()
    first = next(iter(module.parameters()), None)
    if first is not None and first.device != device:
        module = copy.deepcopy(module).to(device)
    with torch.inference_mode():
        out = module(**{k: v.to(device) for k, v in inputs.items()})
    return float32_outputs(as_output_dict(out, cfg.output_names), device)


def _check_against(runner: Runner, inputs: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor]) -> None:
    out = runner(dict(inputs))
    tolerance = CHECK_TOLERANCE.get(runner.precision, 1e-3)
    for key, ref in reference.items():
        if key not in out or out[key].shape != ref.shape:
            raise BackendUnavailable(
                f"the {runner.name} backend gave outputs {sorted(out)} that do not match eager's {sorted(reference)}"
            )
        if not ref.is_floating_point():
            continue
        scale = ref.abs().max().clamp_min(1e-6)
        error = ((out[key].to(ref.device) - ref).abs().max() / scale).item()
        if not error <= tolerance:
            raise BackendUnavailable(
                f"the {runner.name} backend's output {key!r} differs from eager by {error:.2e} of its range "
                f"(allowed {tolerance:.0e} at {runner.precision})"
            )


def available_backends() -> dict[str, tuple[bool, str]]:
    """Each backend: whether it can run on this machine, and what it would use (for ``vidsynth info``).

    >>> available_backends()["eager"][0]
    True
    """
    bf16_ok, bf16_detail = cpu_bf16_support()
    cuda = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    result = {
        "eager": (True, f"torch {torch.__version__}; cpu bf16: {'yes' if bf16_ok else 'no'} ({bf16_detail}); cuda: {cuda}"),
    }
    compiler = os.environ.get("CXX") or next((c for c in ("g++", "c++", "clang++") if shutil.which(c)), None)
    if not hasattr(torch, "compile"):
        result["compile"] = (False, f"torch {torch.__version__} has no torch.compile")
    elif compiler is None and not torch.cuda.is_available():
        result["compile"] = (False, "no C++ compiler on PATH (torch.compile's CPU code generation needs one); eager is used instead")
    else:
        result["compile"] = (True, f"torch.compile (inductor) with {compiler or 'triton'}")
    result["onnx"] = onnxruntime_status()
    result["tensorrt"] = tensorrt_status()
    return result
