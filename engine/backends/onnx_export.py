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


def onnx_cache_key(
    fingerprint: str,
    inputs: Mapping[str, torch.Tensor],
    precision: str,
    opset: int = DEFAULT_OPSET,
    output_names: Sequence[str] | None = None,
) -> str:
    """The file name stem of an exported graph: module hash, input names/shapes/dtypes, precision, opset."""
    return cache_key(
        {
            "kind": "onnx",
            "module": fingerprint,
            "inputs": shape_signature(inputs),
            "precision": precision,
            "opset": opset,
            "output_names": list(output_names) if output_names else None,
            "torch": torch.__version__.split("+")[0],
        }
    )


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
    onnx.checker.check_model(model)
    atomic_write_bytes(path, buffer.getvalue())
    return path
