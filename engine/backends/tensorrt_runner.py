"""TensorRT, built from the same ONNX graph that ONNX Runtime runs: engines cached on disk.

An engine is specific to the GPU model and the TensorRT version that built it, so both are part of
the cache key, with the module hash, the input shapes and the precision. Tensors are bound by their
CUDA pointers (``tensor.data_ptr()``), so nothing beyond torch and tensorrt is needed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from vidsynth.errors import require

from .base import Runner, TensorDict, float32_inputs, float32_outputs, shape_signature
from .cache import atomic_write_bytes, module_fingerprint, resolve_cache_dir
from .errors import BackendUnavailable
from .onnx_export import DEFAULT_OPSET, export_onnx, graph_cache_key, onnx_cache_key

WORKSPACE_BYTES = 1 << 30
MAX_ENGINES = 4

# ONNX ops that TensorRT's ONNX parser (8.6 and 10.x) imports: checked before a build, so an
# unsupported op is named up front instead of deep in the parser's log
TENSORRT_ONNX_OPS = frozenset(
    """Abs Acos Add And ArgMax ArgMin AveragePool BatchNormalization Cast Ceil Clip Concat Constant
    ConstantOfShape Conv ConvTranspose Cos CumSum DepthToSpace Div Einsum Elu Equal Erf Exp Expand Flatten
    Floor Gather GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalMaxPool Greater GreaterOrEqual
    GridSample GroupNormalization HardSigmoid Identity If InstanceNormalization LayerNormalization LeakyRelu
    Less LessOrEqual Log LpNormalization MatMul Max MaxPool Mean Min Mod Mul Neg NonZero Not Or Pad Pow
    PRelu Range Reciprocal ReduceL1 ReduceL2 ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum Relu
    Reshape Resize ScatterElements ScatterND Shape Sigmoid Sign Sin Size Slice Softmax Softplus
    SpaceToDepth Split Sqrt Squeeze Sub Sum Tanh Tile TopK Transpose Unsqueeze Upsample Where Xor""".split()
)


def unsupported_tensorrt_ops(onnx_path: str | Path) -> set[str]:
    """The op types in an ONNX graph that TensorRT's parser would reject (empty: it can build)."""
    onnx = require("onnx", "checking an ONNX graph for TensorRT")
    return {n.op_type for n in onnx.load(str(onnx_path)).graph.node} - TENSORRT_ONNX_OPS


def tensorrt_cache_key(
    fingerprint: str,
    inputs: Mapping[str, torch.Tensor],
    precision: str,
    gpu_name: str,
    tensorrt_version: str,
    opset: int = DEFAULT_OPSET,
    output_names: Sequence[str] | None = None,
) -> str:
    """The file name stem of a built engine.

    >>> import torch
    >>> k = tensorrt_cache_key("abc", {"x": torch.zeros(1, 3, 8, 8)}, "fp16", "NVIDIA H100", "10.3.0")
    >>> k != tensorrt_cache_key("abc", {"x": torch.zeros(1, 3, 8, 8)}, "fp16", "NVIDIA A100", "10.3.0")
    True
    """
    return graph_cache_key("tensorrt", fingerprint, inputs, precision, opset, output_names, gpu=gpu_name,
                           tensorrt=tensorrt_version)


def export_for_tensorrt(
    module: nn.Module,
    example_inputs: Mapping[str, torch.Tensor],
    cache_dir: Path,
    fingerprint: str,
    opset: int = DEFAULT_OPSET,
    output_names: Sequence[str] | None = None,
) -> Path:
    """The fp32 ONNX graph TensorRT builds from (fp16 is TensorRT's choice per layer, not the graph's).

    It is the very graph (and cache file) the onnx backend runs at fp32.
    """
    inputs = {k: v.detach().to("cpu") for k, v in example_inputs.items()}
    path = cache_dir / "onnx" / f"{onnx_cache_key(fingerprint, inputs, 'fp32', opset, output_names)}.onnx"
    if not path.is_file():
        export_onnx(module, inputs, path, opset, output_names, half=False)
    return path


def tensorrt_status() -> tuple[bool, str]:
    """Whether the tensorrt backend can run here, without importing tensorrt when it is absent."""
    if importlib.util.find_spec("tensorrt") is None:
        return False, "the package 'tensorrt' is not installed (pip install tensorrt; needs an NVIDIA GPU)"
    if not torch.cuda.is_available():
        return False, "tensorrt is installed but torch sees no CUDA GPU"
    trt = require("tensorrt", "the tensorrt backend")
    return True, f"tensorrt {trt.__version__} on {torch.cuda.get_device_name()}"


class TensorRTRunner(Runner):
    """Builds (or loads from the cache) a TensorRT engine for the module and runs it on CUDA tensors.

    Precision: fp16 (default, also for "auto"), fp32, or bf16 where the TensorRT version has it.
    Like the onnx backend, shapes are static; new input shapes build another engine.

    Example (on a machine with an NVIDIA GPU and tensorrt)::

        runner = TensorRTRunner(generator, {"labels": labels}, cache_dir="~/.cache/vidsynth")
        image = runner({"labels": labels})["image"]
    """

    name = "tensorrt"

    def __init__(
        self,
        module: nn.Module,
        example_inputs: Mapping[str, torch.Tensor],
        device: str | torch.device = "cuda",
        precision: str = "fp16",
        cache_dir: str | Path | None = None,
        opset: int = DEFAULT_OPSET,
        output_names: Sequence[str] | None = None,
    ):
        self.trt = require("tensorrt", "the tensorrt backend")
        device = torch.device(device)
        if device.type != "cuda" or not torch.cuda.is_available():
            raise BackendUnavailable(
                f"the tensorrt backend runs on an NVIDIA GPU, but the device is {device} "
                f"(cuda available: {torch.cuda.is_available()}); pass device='cuda' on a GPU machine, or use "
                "backend='onnx' or 'eager'"
            )
        precision = "fp16" if precision == "auto" else precision
        if precision == "bf16" and not hasattr(self.trt.BuilderFlag, "BF16"):
            raise BackendUnavailable(
                f"tensorrt {self.trt.__version__} has no bf16; pass precision='fp16' or 'fp32'"
            )
        self.module = module.eval()
        self.cache_dir = resolve_cache_dir(cache_dir)
        self.opset = opset
        self.names_for_outputs = tuple(output_names) if output_names is not None else None
        self.fingerprint = module_fingerprint(module)
        self.gpu_name = torch.cuda.get_device_name(device)
        self.logger = self.trt.Logger(self.trt.Logger.WARNING)
        self._engines: dict[tuple, tuple] = {}
        self._runtimes: dict[tuple, object] = {}
        super().__init__(list(example_inputs), [], device, precision)
        _, _, outputs = self._engine_for(float32_inputs(example_inputs))
        self.output_names = tuple(outputs)

    def engine_path(self, inputs: Mapping[str, torch.Tensor]) -> Path:
        key = tensorrt_cache_key(
            self.fingerprint, inputs, self.precision, self.gpu_name, self.trt.__version__, self.opset,
            self.names_for_outputs,
        )
        return self.cache_dir / "tensorrt" / f"{key}.engine"

    def _engine_for(self, inputs: Mapping[str, torch.Tensor]):
        signature = shape_signature(inputs)
        if signature in self._engines:
            return self._engines[signature]
        path = self.engine_path(inputs)
        if not path.is_file():
            onnx_path = export_for_tensorrt(
                self.module, inputs, self.cache_dir, self.fingerprint, self.opset, self.names_for_outputs
            )
            unsupported = unsupported_tensorrt_ops(onnx_path)
            if unsupported:
                raise BackendUnavailable(
                    f"the network's ONNX graph has ops TensorRT cannot parse ({', '.join(sorted(unsupported))}); "
                    "use backend='onnx'"
                )
            atomic_write_bytes(path, self._build(onnx_path.read_bytes()))
        runtime = self.trt.Runtime(self.logger)
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise BackendUnavailable(
                f"TensorRT could not load the cached engine {str(path)!r}; delete it to rebuild"
            )
        context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        outputs = [n for n in names if engine.get_tensor_mode(n) == self.trt.TensorIOMode.OUTPUT]
        if len(self._engines) >= MAX_ENGINES:
            oldest = next(iter(self._engines))
            self._engines.pop(oldest)
            self._runtimes.pop(oldest, None)
        self._runtimes[signature] = runtime  # an engine must not outlive the runtime that loaded it
        self._engines[signature] = (engine, context, outputs)
        return self._engines[signature]

    def _build(self, onnx_bytes: bytes) -> bytes:
        trt = self.trt
        builder = trt.Builder(self.logger)
        flags = 0
        if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # implicit in TensorRT >= 10
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(onnx_bytes):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendUnavailable(
                f"TensorRT could not parse the network's ONNX graph ({errors[:500]}); use backend='onnx'"
            )
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        if self.precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        elif self.precision == "bf16":
            config.set_flag(trt.BuilderFlag.BF16)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise BackendUnavailable("TensorRT failed to build an engine for the network; use backend='onnx'")
        return bytes(serialized)

    def run(self, inputs: TensorDict) -> TensorDict:
        inputs = float32_inputs(inputs)
        engine, context, outputs = self._engine_for(inputs)
        stream = torch.cuda.current_stream(self.device)
        bound = {}
        for name, value in inputs.items():
            t = value.to(self.device, _torch_dtype(self.trt, engine.get_tensor_dtype(name))).contiguous()
            bound[name] = t  # keep alive until the stream has run
            context.set_input_shape(name, tuple(t.shape))
            context.set_tensor_address(name, t.data_ptr())
        result = {}
        for name in outputs:
            shape = tuple(context.get_tensor_shape(name))
            out = torch.empty(shape, dtype=_torch_dtype(self.trt, engine.get_tensor_dtype(name)), device=self.device)
            context.set_tensor_address(name, out.data_ptr())
            result[name] = out
        if not context.execute_async_v3(stream.cuda_stream):
            raise BackendUnavailable(f"TensorRT failed to run on inputs {list(shape_signature(inputs))}")
        stream.synchronize()
        return float32_outputs(result, self.device)

    def close(self) -> None:
        self._engines.clear()
        self._runtimes.clear()

    def describe(self) -> str:
        return f"tensorrt {self.trt.__version__} on {self.gpu_name} at {self.precision}"


def _torch_dtype(trt, dtype) -> torch.dtype:
    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32, trt.int8: torch.int8,
             trt.bool: torch.bool}
    for trt_name, torch_dtype in (("bfloat16", torch.bfloat16), ("int64", torch.int64), ("uint8", torch.uint8)):
        if hasattr(trt, trt_name):
            table[getattr(trt, trt_name)] = torch_dtype
    if dtype not in table:
        raise BackendUnavailable(f"TensorRT tensor type {dtype} has no torch equivalent here")
    return table[dtype]
