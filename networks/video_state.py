"""The state a video generator carries from frame to frame: a fixed set of named tensors.

vid2vid, few-shot vid2vid and world-consistent vid2vid advance with ``step(conditions, state) ->
(outputs, state)``, where ``conditions``, ``state`` and ``outputs`` are plain ``dict[str, Tensor]``:
no Python objects and no ``None``, so the same step runs eager, under ``torch.compile(fullgraph=True)``,
exported to ONNX (state in, state out) and inside the video trainer.

The warm-up is told by the state's static shapes: ``prev_images`` is ``[N, t, 3, H, W]`` with
``t = 0 .. num_frames_G - 1`` previous frames, so a stream goes through ``num_frames_G`` phases and the
last one repeats. A compiled or exported step is specialised per phase (:func:`phase_of`);
:class:`StepGraph` is one phase as a function of named tensors, and :class:`PhasedStep` streams with
one graph per phase behind any runner (ONNX Runtime, a compiled module, ...).

>>> import torch
>>> from vidsynth.networks.vid2vid import Vid2VidConfig, Vid2VidGenerator
>>> model = Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=4)).eval()
>>> state = model.initial_state()
>>> phase_of(state), sorted(state)
(0, ['prev_images', 'prev_labels'])
>>> with torch.no_grad():
...     out, state = model.step({"label": torch.rand(1, 4, 32, 64)}, state)
>>> phase_of(state), sorted(out)
(1, ['image'])
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import nn

__all__ = ["TensorDict", "push_frame", "empty_history", "phase_of", "StepGraph", "PhasedStep", "NEXT"]

TensorDict = dict[str, torch.Tensor]
NEXT = "next."  # prefix of the state a step graph hands on ("next.prev_images")


def push_frame(history: torch.Tensor, frame: torch.Tensor, keep: int) -> torch.Tensor:
    """``history`` [N, t, C, H, W] with ``frame`` [N, C, H, W] appended, keeping the newest ``keep``.

    An empty history (t = 0, the start of a stream) is replaced, whatever its batch and size: the
    first frame fixes them. The branches depend on shapes only, so a traced step has no data-dependent
    control flow.

    >>> h = empty_history(1, 2, (2, 2))
    >>> for i in range(3):
    ...     h = push_frame(h, torch.full((1, 2, 2, 2), float(i)), keep=2)
    >>> h.shape, h[0, :, 0, 0, 0].tolist()
    (torch.Size([1, 2, 2, 2, 2]), [1.0, 2.0])
    """
    frame = frame.unsqueeze(1)
    if keep <= 0:
        return frame[:, :0]
    if history.shape[1] == 0:
        return frame
    return torch.cat([history[:, max(0, history.shape[1] - keep + 1):], frame], dim=1)


def empty_history(batch: int, channels: int, size: tuple[int, int], device=None,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A history with no frames yet: ``[batch, 0, channels, H, W]``."""
    return torch.zeros(batch, 0, channels, *size, device=device, dtype=dtype)


def phase_of(state: Mapping[str, torch.Tensor]) -> int:
    """How many previous frames the state holds (0 at a stream's start, ``num_frames_G - 1`` when steady)."""
    return int(state["prev_images"].shape[1])


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where a model's parameters live and their floating type (CPU float32 for a parameterless module)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
    return torch.device("cpu"), torch.float32


class StepGraph(nn.Module):
    """One phase of ``model.step`` as a function of named tensors, for ``torch.compile`` and export.

    Inputs: the conditions by name (``label``, ``guidance``) and the state's non-empty tensors by name
    (empty ones, the missing previous frames of the warm-up, are rebuilt inside, so no graph has a
    zero-size input). Outputs: the step's outputs by name (``image``, ``flow``, ...) and, prefixed
    with ``next.``, the state entries the step changed; every other state entry carries over as it is.

    >>> import torch
    >>> from vidsynth.networks.vid2vid import Vid2VidConfig, Vid2VidGenerator
    >>> model = Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=4)).eval()
    >>> conditions = {"label": torch.rand(1, 4, 32, 64)}
    >>> graph = StepGraph(model, conditions, model.initial_state())
    >>> graph.input_names, graph.output_names
    (('label',), ('image', 'next.prev_labels', 'next.prev_images'))
    """

    def __init__(self, model: nn.Module, conditions: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]):
        super().__init__()
        self.model = model
        self.condition_names = tuple(conditions)
        self.state_names = tuple(k for k, v in state.items() if v.numel() > 0)
        # the shapes of the empty entries: rebuilt as constants inside the graph
        self.empty = {k: (tuple(v.shape), v.dtype) for k, v in state.items() if v.numel() == 0}
        with torch.no_grad():
            out, new = model.step(dict(conditions), dict(state))
        self.step_output_names = tuple(out)
        self.changed = tuple(k for k in new if k not in state or new[k] is not state[k])

    @property
    def input_names(self) -> tuple[str, ...]:
        return self.condition_names + self.state_names

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.step_output_names + tuple(NEXT + k for k in self.changed)

    def inputs(self, conditions: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> TensorDict:
        """This phase's named inputs from a frame's conditions and the stream's state."""
        return {**{k: conditions[k] for k in self.condition_names}, **{k: state[k] for k in self.state_names}}

    def split(self, outputs: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
              ) -> tuple[TensorDict, TensorDict]:
        """(step outputs, next state) from this graph's outputs and the state it was given."""
        new = dict(state)
        new.update({k: outputs[NEXT + k] for k in self.changed})
        return {k: outputs[k] for k in self.step_output_names}, new

    def forward(self, **tensors: torch.Tensor) -> TensorDict:
        conditions = {k: tensors[k] for k in self.condition_names}
        state = {}
        for name in tuple(self.empty) + self.state_names:  # the model's own order does not matter
            if name in self.empty:
                shape, dtype = self.empty[name]
                device = tensors[self.condition_names[0]].device
                state[name] = torch.zeros(shape, dtype=dtype, device=device)
            else:
                state[name] = tensors[name]
        out, new = self.model.step(conditions, state)
        return {**{k: out[k] for k in self.step_output_names}, **{NEXT + k: new[k] for k in self.changed}}


class PhasedStep:
    """Streams a video model through one compiled or exported graph per warm-up phase.

    ``make_runner(graph, example_inputs)`` turns a :class:`StepGraph` into a callable
    ``runner(inputs: dict) -> dict`` (an ONNX Runtime session, a compiled module, ...); it is called
    once per phase (``num_frames_G`` times for a stream). ``step`` has the model's signature.

    >>> import torch
    >>> from vidsynth.networks.vid2vid import Vid2VidConfig, Vid2VidGenerator
    >>> model = Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=4)).eval()
    >>> stepper = PhasedStep(model, lambda graph, inputs: lambda named: graph(**named))  # eager graphs
    >>> state = model.initial_state()
    >>> with torch.no_grad():
    ...     for t in range(4):
    ...         out, state = stepper.step({"label": torch.rand(1, 4, 32, 64)}, state)
    >>> [phase for phase, _ in stepper.runners], sorted(out)
    ([0, 1, 2], ['flow', 'image', 'occlusion_mask', 'warped_image'])
    """

    def __init__(self, model: nn.Module, make_runner: Callable[[StepGraph, TensorDict], Callable]):
        self.model = model
        self.make_runner = make_runner
        self.graphs: dict[tuple, StepGraph] = {}
        self.runners: dict[tuple, Callable] = {}

    def step(self, conditions: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
             ) -> tuple[TensorDict, TensorDict]:
        phase = (phase_of(state), tuple(conditions))  # wc-vid2vid's guidance may come and go
        if phase not in self.graphs:
            graph = StepGraph(self.model, conditions, state)
            self.graphs[phase] = graph
            self.runners[phase] = self.make_runner(graph, graph.inputs(conditions, state))
        graph = self.graphs[phase]
        outputs = self.runners[phase](graph.inputs(conditions, state))
        return graph.split(outputs, state)
