"""Export a module to a fixed-shape ONNX graph, cached on disk by a key over weights, shapes and precision.

The graph is what both ONNX Runtime and TensorRT consume. The TorchScript exporter (``dynamo=False``)
is used: it needs only ``onnx``, while the dynamo exporter also needs ``onnxscript``.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from vidsynth.errors import require

from .base import DictOutput, as_output_dict, shape_signature
from .cache import atomic_write_bytes, cache_key
from .errors import BackendUnavailable

DEFAULT_OPSET = 17


class _PositionalOutputs(nn.Module):
    """Positional tensors in, a tuple out: the calling convention the tracer exports."""

    def __init__(self, module: nn.Module, input_names: Sequence[str], output_names: Sequence[str]):
        super().__init__()
        self.module = module
        self.input_names = tuple(input_names)
        self.output_names = tuple(output_names)

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.module(**dict(zip(self.input_names, tensors)))
        return tuple(out[k] for k in self.output_names)


def graph_cache_key(
    kind: str,
    fingerprint: str,
    inputs: Mapping[str, torch.Tensor],
    precision: str,
    opset: int = DEFAULT_OPSET,
    output_names: Sequence[str] | None = None,
    **extra: object,
) -> str:
    """The file name stem of a cached graph or engine of ``kind``: module hash, input names/shapes/dtypes,
    precision, opset, output names, torch version, and the ``extra`` parts that also decide it."""
    return cache_key(
        {
            "kind": kind,
            "module": fingerprint,
            "inputs": shape_signature(inputs),
            "precision": precision,
            "opset": opset,
            "output_names": list(output_names) if output_names else None,
            "torch": torch.__version__.split("+")[0],
            **extra,
        }
    )


def onnx_cache_key(
    fingerprint: str,
    inputs: Mapping[str, torch.Tensor],
    precision: str,
    opset: int = DEFAULT_OPSET,
    output_names: Sequence[str] | None = None,
) -> str:
    """The file name stem of an exported graph (see :func:`graph_cache_key`)."""
    return graph_cache_key("onnx", fingerprint, inputs, precision, opset, output_names)


def export_onnx(
    module: nn.Module,
    example_inputs: Mapping[str, torch.Tensor],
    path: str | Path,
    opset: int = DEFAULT_OPSET,
    output_names: Sequence[str] | None = None,
    half: bool = False,
) -> Path:
    """Export ``module(**example_inputs)`` (a dict, tensor or tuple out) to ``path`` with static shapes.

    ``half`` exports an fp16 copy (for GPUs). The file is written atomically and checked with
    ``onnx.checker``; an op the exporter cannot handle raises :class:`BackendUnavailable`.

    >>> import torch, tempfile, os
    >>> p = export_onnx(torch.nn.Conv2d(3, 2, 1), {"input": torch.zeros(1, 3, 8, 8)},
    ...                 os.path.join(tempfile.mkdtemp(), "conv.onnx"))
    >>> p.suffix
    '.onnx'
    """
    onnx = require("onnx", "exporting a network to ONNX")
    path = Path(path)
    module = copy.deepcopy(module).eval()
    inputs = dict(example_inputs)
    if half:
        module = module.half()
        inputs = {k: (v.half() if v.is_floating_point() else v) for k, v in inputs.items()}
    named = DictOutput(module, output_names)
    with torch.no_grad():
        names = list(as_output_dict(named(**inputs)))
    wrapper = _PositionalOutputs(named, list(inputs), names).eval()
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # The exporter's deprecation notices and tracer remarks are for PyTorch developers; a wrong
            # trace shows up in the numeric check instead.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                tuple(inputs.values()),
                buffer,
                input_names=list(inputs),
                output_names=names,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
    except Exception as exc:
        raise BackendUnavailable(
            f"the network could not be exported to ONNX opset {opset} ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}); "
            "use backend='eager' or 'compile' for it"
        ) from exc
    model = onnx.load_from_string(buffer.getvalue())
    changed = _float64_to_float32(onnx, model)
    changed = _match_grid_sample_types(onnx, model) or changed
    if changed:
        data = model.SerializeToString()
    else:
        data = buffer.getvalue()
    onnx.checker.check_model(model)
    atomic_write_bytes(path, data)
    return path


def _float64_to_float32(onnx, model) -> bool:
    """Compute in float32 what the exporter made float64; True if the graph changed.

    The TorchScript exporter turns arithmetic on traced sizes (``flow / ((w - 1) / 2)``) and folded
    constants such as a ``linspace`` grid into float64 tensors. The module computed those in float32;
    TensorRT has no float64 at all, and ONNX Runtime lacks float64 kernels for some ops (GridSample).
    Graphs whose own inputs or outputs are float64 are left alone.
    """
    double, single = onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT
    io = list(model.graph.input) + list(model.graph.output)
    if any(v.type.tensor_type.elem_type == double for v in io):
        return False
    numpy_helper = onnx.numpy_helper
    changed = False

    def single_tensor(tensor):
        converted = numpy_helper.from_array(numpy_helper.to_array(tensor).astype("float32"), tensor.name)
        tensor.CopyFrom(converted)

    for init in model.graph.initializer:
        if init.data_type == double:
            single_tensor(init)
            changed = True
    for node in model.graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == double:
                attr.i = single
                changed = True
            elif attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == double:
                single_tensor(attr.t)
                changed = True
    return changed


def _match_grid_sample_types(onnx, model) -> bool:
    """Cast a GridSample grid to the type of the image it samples; True if the graph changed.

    A guard after :func:`_float64_to_float32`: ONNX Runtime and TensorRT implement GridSample only for
    an image and grid of the same type.
    """
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        types[value.name] = value.type.tensor_type.elem_type
    for init in inferred.graph.initializer:
        types[init.name] = init.data_type
    nodes, changed = [], False
    for node in model.graph.node:
        if node.op_type == "GridSample" and len(node.input) >= 2:
            image_type, grid_type = types.get(node.input[0]), types.get(node.input[1])
            if image_type and grid_type and image_type != grid_type:
                cast_name = f"{node.input[1]}_as_image_type"
                nodes.append(onnx.helper.make_node("Cast", [node.input[1]], [cast_name], to=image_type,
                                                   name=f"{node.name}_grid_cast"))
                node.input[1] = cast_name
                changed = True
        nodes.append(node)
    if changed:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return changed
