"""The one interface every backend implements, and the adapter that makes any module fit it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from vidsynth.errors import VidsynthError

TensorDict = dict[str, torch.Tensor]


class Runner:
    """Runs one network: ``runner(inputs) -> outputs``, both dicts of tensors keyed by name.

    Inputs may live on any device and in any float precision; they are moved and cast as the backend
    needs. Floating outputs come back as float32 on ``runner.device``, whatever the compute precision,
    so code after a runner does not change with the backend.

    >>> import torch
    >>> from vidsynth.engine.backends import make_runner
    >>> net = torch.nn.Conv2d(3, 3, 1)
    >>> runner = make_runner(net, {"input": torch.zeros(1, 3, 8, 8)})
    >>> runner({"input": torch.zeros(1, 3, 8, 8)})["output"].shape
    torch.Size([1, 3, 8, 8])
    """

    name: str = "runner"

    def __init__(self, input_names: Sequence[str], output_names: Sequence[str], device: torch.device, precision: str):
        self.input_names = tuple(input_names)
        self.output_names = tuple(output_names)
        self.device = device
        self.precision = precision

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> TensorDict:
        check_input_names(inputs, self.input_names, self.name)
        return self.run({k: inputs[k] for k in self.input_names})

    def run(self, inputs: TensorDict) -> TensorDict:
        raise NotImplementedError

    def configure_threads(self, threads: int) -> None:
        """Take the share of the process's thread budget a stage was given (see engine/threads.py).

        Eager and compiled runners use torch's process-wide intra-op pool, which the budget sets itself.
        """

    def close(self) -> None:
        """Release what the backend holds (sessions, engines); the runner is unusable afterwards."""

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.name} on {self.device} at {self.precision}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()}, inputs={list(self.input_names)}, outputs={list(self.output_names)})"


class DictOutput(nn.Module):
    """Wraps a module so that it returns a dict of tensors, whatever it returned.

    A tensor becomes ``{"output": t}`` and a tuple ``{"output0": ..., "output1": ...}`` unless names
    are given; a dict passes through, less its ``None`` entries (outputs a model did not produce for
    these inputs, such as vid2vid's flow before it has previous frames).

    >>> import torch
    >>> DictOutput(torch.nn.Identity())(input=torch.ones(1))["output"]
    tensor([1.])
    """

    def __init__(self, module: nn.Module, output_names: Sequence[str] | None = None):
        super().__init__()
        self.module = module
        self.names = tuple(output_names) if output_names is not None else None

    def forward(self, **inputs: torch.Tensor) -> TensorDict:
        return as_output_dict(self.module(**inputs), self.names)


def as_output_dict(out: object, names: Sequence[str] | None = None) -> TensorDict:
    """Name a module's outputs (see :class:`DictOutput`)."""
    if isinstance(out, Mapping):
        result = {k: v for k, v in out.items() if v is not None}
    elif isinstance(out, torch.Tensor):
        result = {(names[0] if names else "output"): out}
    elif isinstance(out, (tuple, list)):
        if names is not None and len(names) != len(out):
            raise VidsynthError(
                f"the module returned {len(out)} outputs but {len(names)} output names were given ({list(names)}); "
                "pass one name per output"
            )
        result = {(names[i] if names else f"output{i}"): t for i, t in enumerate(out)}
    else:
        raise VidsynthError(
            f"a runner needs a module that returns a tensor, a tuple of tensors or a dict of tensors; "
            f"found {type(out).__name__}; wrap the module so that it returns tensors"
        )
    for key, value in result.items():
        if not isinstance(value, torch.Tensor):
            raise VidsynthError(
                f"output {key!r} of the module is a {type(value).__name__}, expected a tensor; "
                "return only tensors from the module a runner wraps"
            )
    return result


def check_input_names(inputs: Mapping[str, torch.Tensor], expected: Sequence[str], backend: str) -> None:
    """Raise a clear error when the inputs are not the ones the runner was built for."""
    if not isinstance(inputs, Mapping):
        raise VidsynthError(
            f"a runner takes a dict of named tensors ({list(expected)}), found {type(inputs).__name__}"
        )
    missing = [k for k in expected if k not in inputs]
    extra = [k for k in inputs if k not in expected]
    if missing or extra:
        raise VidsynthError(
            f"the {backend} runner was built for inputs {list(expected)}; "
            f"missing {missing}, unexpected {extra}; pass exactly the inputs it was built with"
        )
    for key in expected:
        if not isinstance(inputs[key], torch.Tensor):
            raise VidsynthError(f"input {key!r} must be a tensor, found {type(inputs[key]).__name__}")


def shape_signature(inputs: Mapping[str, torch.Tensor]) -> tuple[tuple[str, tuple[int, ...], str], ...]:
    """Names, shapes and dtypes of the inputs: what a fixed-shape graph is built for."""
    return tuple((k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in inputs.items())


def float32_inputs(inputs: Mapping[str, torch.Tensor]) -> TensorDict:
    """Floating inputs as float32 (fixed-shape graphs are keyed by fp32 inputs; their own precision is
    part of the key)."""
    return {k: (v.float() if v.is_floating_point() and v.dtype != torch.float32 else v) for k, v in inputs.items()}


def float32_outputs(outputs: Mapping[str, torch.Tensor], device: torch.device) -> TensorDict:
    """Floating outputs as float32 on ``device``; integer outputs only moved."""
    result = {}
    for key, value in outputs.items():
        if value.is_floating_point() and value.dtype != torch.float32:
            value = value.float()
        if value.device != device:
            value = value.to(device)
        result[key] = value
    return result
