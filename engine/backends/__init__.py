"""Backends: one :class:`Runner` interface over eager PyTorch, torch.compile, ONNX Runtime and TensorRT.

>>> import torch
>>> from vidsynth.engine.backends import make_runner
>>> net = torch.nn.Conv2d(3, 3, 3, padding=1)
>>> runner = make_runner(net, {"input": torch.zeros(1, 3, 32, 32)}, backend="eager")
>>> runner({"input": torch.zeros(1, 3, 32, 32)})["output"].shape
torch.Size([1, 3, 32, 32])

onnxruntime and tensorrt are imported only when their backend is built.
"""

from .base import DictOutput, Runner, as_output_dict
from .cache import default_cache_dir, module_fingerprint
from .compiled import CompiledRunner
from .config import BACKENDS, PRECISIONS, RunnerConfig
from .cpu import cpu_bf16_support
from .eager import EagerRunner
from .errors import BackendUnavailable
from .factory import available_backends, make_runner, make_runner_from_config
from .onnx_export import export_onnx, onnx_cache_key
from .onnxruntime_runner import OnnxRunner
from .step import StepRunner
from .tensorrt_runner import (
    TENSORRT_ONNX_OPS,
    TensorRTRunner,
    export_for_tensorrt,
    tensorrt_cache_key,
    unsupported_tensorrt_ops,
)

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "TENSORRT_ONNX_OPS",
    "BackendUnavailable",
    "CompiledRunner",
    "DictOutput",
    "EagerRunner",
    "OnnxRunner",
    "Runner",
    "RunnerConfig",
    "StepRunner",
    "TensorRTRunner",
    "as_output_dict",
    "available_backends",
    "cpu_bf16_support",
    "default_cache_dir",
    "export_for_tensorrt",
    "export_onnx",
    "make_runner",
    "make_runner_from_config",
    "module_fingerprint",
    "onnx_cache_key",
    "tensorrt_cache_key",
    "unsupported_tensorrt_ops",
]
