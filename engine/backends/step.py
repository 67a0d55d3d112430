"""A video model's step on any backend: conditions and state in, outputs and the next state out.

A video model (vid2vid, few-shot vid2vid, world-consistent vid2vid) advances with
``model.step(conditions, state) -> (outputs, state)``, all plain dicts of tensors. :class:`StepRunner`
runs that step through a :class:`~vidsynth.engine.backends.Runner`: each warm-up phase of a stream (the
first ``num_frames_G - 1`` frames, which hold fewer previous frames and so have other shapes) and the
steady phase become one fixed-shape graph (:class:`~vidsynth.networks.video_state.StepGraph`). Only the
steady phase, which runs for every frame after the first few, is built on the backend asked for; the
warm-up phases run eager at the same precision, so a stream does not pay two extra compilations or
exports for two frames.

>>> import torch
>>> from vidsynth.networks.vid2vid import Vid2VidConfig, Vid2VidGenerator
>>> model = Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=4)).eval()
>>> stepper = StepRunner(model, backend="eager")
>>> state = stepper.initial_state()
>>> for t in range(3):
...     out, state = stepper.step({"label": torch.rand(1, 4, 32, 64)}, state)
>>> sorted(out), stepper.describe()
(['flow', 'image', 'occlusion_mask', 'warped_image'], 'eager on cpu at fp32')
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from vidsynth.errors import VidsynthError

from .config import RunnerConfig
from .eager import is_channels_last, resolve_eager_precision

log = logging.getLogger(__name__)


class StepRunner:
    """``step(conditions, state) -> (outputs, state)`` of a video model on one backend.

    ``backend``/``precision``/``channels_last``/``compile_mode`` and the other keyword options are
    those of :func:`~vidsynth.engine.backends.make_runner`. The model is moved to ``device`` (and to
    channels_last when asked) once; every phase's runner shares those weights. The state is opaque
    here: whatever tensors the model's ``initial_state`` and ``step`` use. Outputs and state come back
    as float32 on ``device``.
    """

    def __init__(self, model: nn.Module, backend: str = "eager", device: str | torch.device = "cpu",
                 precision: str = "fp32", channels_last: bool | None = None, **runner_options: Any):
        from vidsynth.networks.video_state import PhasedStep

        if not hasattr(model, "step") or not hasattr(model, "initial_state"):
            raise VidsynthError(f"a step runner needs a video model with step() and initial_state(); "
                                f"{type(model).__name__} has none: use make_runner for image models")
        self.config = RunnerConfig(backend=backend, device=str(device), precision=precision,
                                   channels_last=channels_last, **runner_options).validate()
        self.device = torch.device(self.config.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise VidsynthError("device 'cuda' was asked but torch sees no CUDA GPU; pass device='cpu' or install a "
                                "CUDA build of torch")
        resolved = resolve_eager_precision(precision, self.device) if backend in ("eager", "compile") else precision
        self.channels_last = bool(channels_last if channels_last is not None else resolved not in ("fp32", "auto"))
        model.eval()
        self.model = _prepared(model, self.device, self.channels_last)
        self.steady_phase = int(getattr(self.model.config, "num_frames_G", 1)) - 1
        self._phased = PhasedStep(self.model, self._make_runner)
        self.runners: dict[int, Any] = {}

    def initial_state(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The model's fresh state (``model.initial_state``), on the runner's device, float32."""
        state = self.model.initial_state(*args, **kwargs)
        return {k: v.to(self.device) for k, v in state.items()}

    def encode_references(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The model's per-stream reference encoding (few-shot models), run eager in fp32 once per stream."""
        with torch.inference_mode():
            refs = self.model.encode_references(*(_to(a, self.device) for a in args),
                                                **{k: _to(v, self.device) for k, v in kwargs.items()})
        return {k: v.float() if v.is_floating_point() else v for k, v in refs.items()}

    def step(self, conditions: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
             ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """One frame: the model's outputs for ``conditions`` and the state for the next frame."""
        conditions = {k: v.to(self.device, non_blocking=True) for k, v in conditions.items()}
        with torch.inference_mode():
            return self._phased.step(conditions, dict(state))

    def _make_runner(self, graph: nn.Module, inputs: dict[str, torch.Tensor]):
        from . import make_runner

        phase = int(inputs["prev_images"].shape[1]) if "prev_images" in inputs else 0
        options = {k: v for k, v in vars(self.config).items() if k not in ("backend", "output_names")}
        options["channels_last"] = self.channels_last
        backend = self.config.backend if phase >= self.steady_phase else "eager"
        if backend == "eager":
            options["precision"] = self._eager_precision()
            options = {k: v for k, v in options.items() if k in ("device", "precision", "channels_last")}
        runner = make_runner(graph, inputs, backend=backend, **options)
        self.runners[phase] = runner
        if phase >= self.steady_phase:  # what a user asked "auto" for is worth saying; the rest is detail
            (log.warning if self.config.backend == "auto" else log.info)(
                "video step (%s): %s", type(self.model).__name__, runner.describe())
        return runner

    def _eager_precision(self) -> str:
        steady = self.runners.get(self.steady_phase)
        if steady is not None:
            return steady.precision
        precision = self.config.precision
        if precision == "auto":
            return resolve_eager_precision("auto", self.device)
        return precision

    def describe(self) -> str:
        """How the steady phase runs (once a stream has reached it), else what was asked."""
        steady = self.runners.get(self.steady_phase)
        if steady is not None:
            return steady.describe()
        return f"{self.config.backend} on {self.device} at {self.config.precision}"


def _prepared(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    """The model on ``device`` in the layout asked: the caller's model when it already is, else a copy."""
    first = next(iter(model.parameters()), None)
    on_device = first is None or first.device == device
    if on_device and (not channels_last or is_channels_last(model)):
        return model
    model = copy.deepcopy(model).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def _to(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (list, tuple)):
        return type(value)(_to(v, device) for v in value)
    return value
