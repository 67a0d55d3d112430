"""ONNX Runtime over the exported graph: CPU execution provider, or CUDA when the GPU build is present."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidsynth.errors import MissingDependency, VidsynthError, require

from .base import Runner, TensorDict, float32_inputs, float32_outputs, shape_signature
from .cache import module_fingerprint, resolve_cache_dir
from .errors import BackendUnavailable
from .onnx_export import DEFAULT_OPSET, export_onnx, onnx_cache_key

# how many fixed-shape graphs one runner keeps open (a stream rarely changes size)
MAX_SESSIONS = 4


def resolve_onnx_precision(precision: str, device: torch.device) -> str:
    """ONNX Runtime runs fp32 graphs on the CPU and fp32 or fp16 graphs on CUDA."""
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision == "bf16" or (precision == "fp16" and device.type != "cuda"):
        raise BackendUnavailable(
            f"the onnx backend runs fp32 (and fp16 on cuda), not {precision} on {device.type}; "
            "pass precision='fp32', or use backend='eager' for bf16"
        )
    return precision


def import_onnxruntime():
    require("onnx", "the onnx backend")
    return require("onnxruntime", "the onnx backend")


class OnnxRunner(Runner):
    """Exports the module to ONNX (cached on disk) and runs the graph with ONNX Runtime.

    Graphs have static shapes: a call with new input shapes exports and opens another graph (kept,
    up to a few). ``threads`` sets ONNX Runtime's intra-op threads (default: torch's thread count, the
    process budget). The module's weights are hashed once, at build: build a new runner for new weights.

    >>> import torch
    >>> r = OnnxRunner(torch.nn.Conv2d(3, 2, 1), {"input": torch.zeros(1, 3, 8, 8)})
    >>> r({"input": torch.ones(1, 3, 8, 8)})["output"].shape
    torch.Size([1, 2, 8, 8])
    """

    name = "onnx"

    def __init__(
        self,
        module: nn.Module,
        example_inputs: Mapping[str, torch.Tensor],
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        cache_dir: str | Path | None = None,
        threads: int | None = None,
        opset: int = DEFAULT_OPSET,
        output_names: Sequence[str] | None = None,
    ):
        self.ort = import_onnxruntime()
        device = torch.device(device)
        precision = resolve_onnx_precision(precision, device)
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in self.ort.get_available_providers():
                raise BackendUnavailable(
                    "the onnx backend on cuda needs ONNX Runtime's CUDA execution provider, but this "
                    f"onnxruntime has only {self.ort.get_available_providers()}; install onnxruntime-gpu "
                    "or pass device='cpu'"
                )
            self.providers = [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
        else:
            self.providers = ["CPUExecutionProvider"]
        self.module = module.eval()
        self.cache_dir = resolve_cache_dir(cache_dir) / "onnx"
        self.threads = int(threads) if threads is not None else torch.get_num_threads()
        self.opset = opset
        self.names_for_outputs = tuple(output_names) if output_names is not None else None
        self.fingerprint = module_fingerprint(module)
        self._sessions: dict[tuple, object] = {}
        self.onnx_path: Path | None = None
        self._float_dtype = np.float16 if precision == "fp16" else np.float32
        super().__init__(list(example_inputs), [], device, precision)
        session = self._session_for(float32_inputs(example_inputs))
        self.output_names = tuple(o.name for o in session.get_outputs())

    def graph_path(self, inputs: Mapping[str, torch.Tensor]) -> Path:
        """Where the graph for these input shapes lives in the cache (exported on first need)."""
        key = onnx_cache_key(self.fingerprint, inputs, self.precision, self.opset, self.names_for_outputs)
        return self.cache_dir / f"{key}.onnx"

    def _session_for(self, inputs: Mapping[str, torch.Tensor]):
        signature = shape_signature(inputs)
        session = self._sessions.get(signature)
        if session is not None:
            return session
        path = self.graph_path(inputs)
        if not path.is_file():
            cpu_inputs = {k: v.detach().to("cpu") for k, v in inputs.items()}
            export_onnx(self.module, cpu_inputs, path, self.opset, self.names_for_outputs, half=self.precision == "fp16")
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: ORT's per-node notes are noise here
        try:
            session = self.ort.InferenceSession(str(path), sess_options=options, providers=self.providers)
        except Exception as exc:
            raise BackendUnavailable(
                f"ONNX Runtime could not load the exported graph {str(path)!r} ({type(exc).__name__}: "
                f"{str(exc)[:300]}); delete it to re-export, or use backend='eager'"
            ) from exc
        if len(self._sessions) >= MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        self._sessions[signature] = session
        self.onnx_path = path
        return session

    def run(self, inputs: TensorDict) -> TensorDict:
        inputs = float32_inputs(inputs)
        session = self._session_for(inputs)
        feed = {}
        for key, value in inputs.items():
            array = value.detach().to("cpu").numpy()
            if np.issubdtype(array.dtype, np.floating) and array.dtype != self._float_dtype:
                array = array.astype(self._float_dtype)
            feed[key] = np.ascontiguousarray(array)
        try:
            arrays = session.run(None, feed)
        except Exception as exc:
            raise VidsynthError(
                f"ONNX Runtime failed on inputs {list(shape_signature(inputs))} ({type(exc).__name__}: "
                f"{str(exc)[:300]}); check the input shapes and dtypes, or use backend='eager'"
            ) from exc
        return float32_outputs({name: torch.from_numpy(a) for name, a in zip(self.output_names, arrays)}, self.device)

    def configure_threads(self, threads: int) -> None:
        """ONNX Runtime's pool is per session: reopen the sessions (from the cached graphs) at the new size."""
        threads = max(1, int(threads))
        if threads != self.threads:
            self.threads = threads
            self._sessions.clear()

    def close(self) -> None:
        self._sessions.clear()

    def describe(self) -> str:
        provider = self.providers[0] if isinstance(self.providers[0], str) else self.providers[0][0]
        return f"onnx ({provider}, {self.threads} threads) on {self.device} at {self.precision}"


def onnxruntime_status() -> tuple[bool, str]:
    """Whether the onnx backend can run here, and what it would use."""
    try:
        ort = import_onnxruntime()
    except MissingDependency as exc:
        return False, str(exc)
    return True, f"onnxruntime {ort.__version__}, providers {', '.join(ort.get_available_providers())}"


