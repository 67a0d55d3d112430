"""Video models (``describe().kind``: video, few-shot video, world-consistent) as streaming stages.

The network's ``step(conditions, state)`` is the only place that knows how a video model advances from
frame to frame; the stage around it owns the rest: the fitting crop (stable over time for pose and face
models), the state (reset on a discontinuity), the references of a model that needs them (encoded once
per stream), and what happens when the driver shows nobody (hold the last output, or pass the frame
through; counted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vidsynth.errors import VidsynthError

from ..fitting import Placement, SubjectCrop
from ..stage import Stage
from ..tensors import image_to_tensor, tensor_to_image
from .inputs import InputEncoder, subject_bbox


@dataclass
class VideoGeneratorConfig:
    """Options of :class:`VideoGenerator`."""

    fit: str = "auto"               # auto (subject crop for pose/face, else resize) | resize | crop | letterbox
    output: str = "frame"           # frame: mapped back to the input size | model: the model's own size
    margin: float = 1.4             # subject crop: box growth around the person / face
    on_missing: str = "hold"        # no person/face in a frame: hold the last output | pass the input through
    device: str = "cpu"
    backend: str = "eager"          # how the step runs (engine/backends: eager | compile | onnx | tensorrt | auto)
    precision: str = "fp32"         # fp32 | fp16 (cuda) | bf16 | auto


class VideoGenerator(Stage):
    """Steps a video model over the stream.

    ``references`` (for a model whose description says ``references``) are frames (images with their conditions, e.g. from
    :func:`reference_frames`); they are encoded once per stream, when the first frame arrives and
    again only if the references change, never per frame.
    """

    threads = 4
    # what a resumed render restores (Stage.snapshot): the model's step state, the held frame, the crop
    state_attrs = ("_state", "_last", "_crop")

    def __init__(self, model, config: VideoGeneratorConfig | None = None, references: list | None = None):
        from vidsynth.networks.registry import describe_model

        self.config = config or VideoGeneratorConfig()
        self.model = model.eval().to(self.config.device)
        self.spec = describe_model(model)
        if not self.spec.is_video:
            raise VidsynthError(f"{model.model_name} is an image model; use ImageGenerator")
        self.kind = self.spec.reads
        self.size = tuple(self.spec.size)
        self.encoder = InputEncoder(self.kind, self.spec.main.channels)
        self.few_shot = self.spec.references
        if self.few_shot and not references:
            raise VidsynthError(f"this {model.model_name} model needs one or a few reference pictures of the target "
                                "person or face: give them with --reference PHOTO_OR_FOLDER")
        self.references = references or []
        self._crop = SubjectCrop(self.size, margin=self.config.margin) if self._follows_subject() else None
        self._reference_encoding = None
        self._state = None
        self._last: np.ndarray | None = None
        self.counters = {"generated": 0, "missing_subject": 0}  # reported in the run's metrics
        self.stepper = None  # the step on another backend or precision (an unavailable one falls back, warning)
        if self.config.backend != "eager" or self.config.precision != "fp32":
            from ..backends import StepRunner

            self.stepper = StepRunner(self.model, backend=self.config.backend, device=self.config.device,
                                      precision=self.config.precision, fallback=True)

    @property
    def name(self) -> str:
        return f"generate:{self.model.model_name}"

    def _follows_subject(self) -> bool:
        fit = self.config.fit
        return fit == "subject" or (fit == "auto" and self.kind in ("pose", "face"))

    def reset(self) -> None:
        """A discontinuity: forget previous frames (the references stay encoded)."""
        self._state = None
        self._last = None
        if self._crop is not None:
            self._crop.reset()

    def restore(self, state: dict) -> None:
        super().restore(state)
        self._state = _on_device(self._state, self.config.device)  # snapshots are stored on the CPU

    def placement(self, frame, bbox=None) -> Placement:
        """Where the model's window sits in this frame (``bbox``: the subject's box, for pose/face models)."""
        src_hw = frame.image.shape[:2]
        if self._crop is not None:
            return self._crop.update(bbox, src_hw)
        fit = "resize" if self.config.fit == "auto" else self.config.fit
        return Placement.for_mode(fit, src_hw, self.size)

    def encode_references(self):
        """The references' per-stream work, done once."""
        images, labels = [], []
        for ref in self.references:
            self.encoder.require(ref)
            crop = SubjectCrop(self.size, margin=self.config.margin)
            p = crop.update(subject_bbox(ref, self.kind), ref.image.shape[:2])
            images.append(self.encoder.image(ref, p))
            labels.append(self.encoder.encode(ref, p))
        with torch.inference_mode():
            return self.model.encode_references(torch.stack([i[0] for i in images])[None].to(self.config.device),
                                                torch.stack([lab[0] for lab in labels])[None].to(self.config.device))

    def process(self, frame):
        self.encoder.require(frame)
        counters = self.counters
        bbox = subject_bbox(frame, self.kind)
        if self.kind in ("pose", "face") and bbox is None:
            counters["missing_subject"] += 1
            if self.config.on_missing == "hold" and self._last is not None:
                frame.image = self._last
            elif self.config.output == "model":  # passed through, at the size the other frames have
                p = self.placement(frame, None)
                frame.image = tensor_to_image(p.crop(image_to_tensor(frame.image), pad_value=-1.0))
            return frame
        if self._state is None:
            if self.few_shot:
                if self._reference_encoding is None:
                    self._reference_encoding = self.encode_references()
                self._state = self.model.initial_state(self._reference_encoding)
            else:
                self._state = self.model.initial_state()
        p = self.placement(frame, bbox)
        with torch.inference_mode():
            conditions = self.step_conditions(frame, p)
            out, self._state = (self.stepper or self.model).step(conditions, self._state)
        self.after_step(frame, p, out)
        frame.conditions["generated"] = out["image"]
        image = out["image"].float().cpu()
        if self.config.output == "frame":
            image = p.paste(image)
        frame.image = self._last = tensor_to_image(image)
        counters["generated"] += 1
        return frame

    def step_conditions(self, frame, placement: Placement) -> dict:
        """What ``model.step`` takes for this frame (the world-consistent stage adds guidance)."""
        return {"label": self.encoder.encode(frame, placement).to(self.config.device)}

    def after_step(self, frame, placement: Placement, outputs: dict) -> None:
        """Hook run after each generated frame (the world-consistent stage feeds its world here)."""


def _on_device(value, device):
    """Tensors in (nested dicts, lists and tuples of) ``value`` moved to ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _on_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_device(v, device) for v in value)
    return value


def reference_frames(images: list[np.ndarray], stages: list) -> list:
    """Reference pictures as frames carrying the conditions ``stages`` extract (e.g. a PoseExtractor).

    Pictures of mixed sizes are fine: each is fitted to the model by its own subject crop.
    """
    from fractions import Fraction

    from vidsynth.streams.frame import Frame

    frames = []
    for i, img in enumerate(images):
        f = Frame(index=i, pts=i, time_base=Fraction(1, 1), image=np.ascontiguousarray(img))
        for stage in stages:
            f = stage(f)
        frames.append(f)
    return frames

