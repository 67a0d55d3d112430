"""Typed options for building a runner, validated once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidsynth.errors import VidsynthError

BACKENDS = ("eager", "compile", "onnx", "tensorrt", "auto")
DEVICES = ("cpu", "cuda")
PRECISIONS = ("fp32", "fp16", "bf16", "auto")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class RunnerConfig:
    """How to run a module: which backend, on which device, at which precision.

    >>> cfg = RunnerConfig(backend="onnx", threads=2)
    >>> cfg.validate().backend
    'onnx'
    """

    backend: str = "eager"              # eager | compile | onnx | tensorrt | auto
    device: str = "cpu"                 # cpu | cuda (cuda:N accepted)
    precision: str = "fp32"             # fp32 | fp16 (cuda) | bf16 | auto (fastest supported)
    channels_last: bool | None = None   # None: only where it helps and keeps the requested exactness
    cache_dir: str | Path | None = None  # exported ONNX graphs and TensorRT engines; None: user cache
    fallback: bool = False              # an unavailable backend falls back to the next best, with a warning
    threads: int | None = None          # intra-op threads for ONNX Runtime; None: torch.get_num_threads()
    compile_mode: str = "default"       # torch.compile mode
    compile_backend: str = "inductor"   # torch.compile backend ("eager" traces with dynamo only)
    opset: int = 17                     # ONNX opset (grid_sample needs >= 16)
    check: bool | None = None           # compare with eager once at build time; None: only for "auto"
    output_names: tuple[str, ...] | None = None  # names for a module that returns a tensor or tuple

    def validate(self) -> "RunnerConfig":
        """Raise :class:`VidsynthError` for an option outside its set; return self."""
        _one_of("backend", self.backend, BACKENDS)
        device_kind = self.device.split(":")[0] if isinstance(self.device, str) else str(self.device)
        _one_of("device", device_kind, DEVICES)
        _one_of("precision", self.precision, PRECISIONS)
        _one_of("compile_mode", self.compile_mode, COMPILE_MODES)
        if self.opset < 16:
            raise VidsynthError(
                f"ONNX opset must be at least 16 (grid_sample needs it), found {self.opset}; pass opset=17"
            )
        if self.threads is not None and self.threads < 1:
            raise VidsynthError(f"threads must be a positive count, found {self.threads}; pass threads=None or >= 1")
        return self


def _one_of(what: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise VidsynthError(f"{what} must be one of {', '.join(allowed)}; found {value!r}")
