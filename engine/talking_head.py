"""The talking head's generator stage: face landmarks → the target's face, pasted into the target's frame.

:class:`TalkingHeadGenerator` steps a face video model (vid2vid from dlib-68 edge maps) over the stream.
Where the face sits in the output depends on the retargeting:

- ``relative``: the landmarks are already the target's (see :class:`~vidsynth.engine.retarget.RelativeRetarget`);
  the model's window is the target's own face crop (its neutral landmarks and crop convention, from the
  model file) and the output is the target's background frame with the generated face pasted in;
- ``absolute``: the driver's landmarks as they are; the window is the driver's stable face crop
  (``frame.conditions['face_crop']``, see :class:`~vidsynth.engine.extract.face_track.FaceTracker`) and
  the output is the target's background at the driver's frame size.

The paste is feathered (a linear ramp over ``feather`` of the window's side), so the crop's edges do not
show. A frame without a face holds the last output (counted).
"""

from __future__ import annotations

import numpy as np
import torch

from vidsynth.errors import VidsynthError

from . import conditioning
from .extract.face_track import FaceCropConvention, rigid_frame
from .fitting import Placement
from .stage import Stage
from .tensors import image_to_tensor, tensor_to_image


def feather_mask(hw: tuple[int, int], feather: float = 0.12) -> torch.Tensor:
    """[1, 1, h, w] weights: 1 inside, falling linearly to 0 over ``feather`` of each side at the edges.

    >>> m = feather_mask((10, 10), 0.2)
    >>> float(m[0, 0, 5, 5]), float(m[0, 0, 0, 0]) < 0.5
    (1.0, True)
    """
    h, w = hw
    ramp = lambda n: torch.clamp(torch.minimum(torch.arange(n) + 0.5, n - torch.arange(n) - 0.5)  # noqa: E731
                                 / max(feather * n, 1e-6), 0, 1)
    return (ramp(h)[:, None] * ramp(w)[None, :])[None, None].float()


def feathered_paste(generated: torch.Tensor, canvas: torch.Tensor, placement: Placement, feather: float = 0.12):
    """Blend ``generated`` [1,3,h,w] into ``canvas`` [1,3,H,W] (both in [-1, 1]) at ``placement``."""
    mask = placement.paste(feather_mask(tuple(generated.shape[-2:]), feather), torch.zeros(1, 1, *canvas.shape[-2:]))
    image = placement.paste(generated, canvas)
    return canvas * (1 - mask) + image * mask


class TalkingHeadGenerator(Stage):
    """Generates the target's face for each frame's landmarks and pastes it into the target's frame.

    ``background``: the target's frame (H×W×3 uint8, from the model file); ``target_neutral``: its neutral
    landmarks (68, 2+) in that frame's pixels; ``retarget``: relative | absolute.
    """

    threads = 4

    def __init__(self, model, background: np.ndarray, target_neutral: np.ndarray | None,
                 convention: FaceCropConvention | None = None, retarget: str = "relative", device: str = "cpu",
                 feather: float = 0.12, references=None):
        if retarget not in ("relative", "absolute"):
            raise VidsynthError(f"--retarget must be relative or absolute; found {retarget!r}")
        self.model = model.eval().to(device)
        self.size = tuple(model.config.output_size)
        self.background = np.ascontiguousarray(background)
        self.retarget = retarget
        self.device = device
        self.feather = feather
        self.convention = convention or FaceCropConvention()
        self._target_placement = None
        if retarget == "relative":
            frame = rigid_frame(np.asarray(target_neutral, np.float64)) if target_neutral is not None else None
            if frame is None:
                raise VidsynthError("relative retargeting needs the target's neutral landmarks, which this model "
                                    "file lacks; use --retarget absolute or re-train with vidsynth train --job talk")
            self._target_placement = self.convention.placement(frame[0], frame[1], self.background.shape[:2],
                                                               self.size)
        self.references = references  # a few-shot model's encoded references (see encode_references)
        self._state = None
        self._last = None
        self._canvas_cache: dict = {}
        self.counters = {"generated": 0, "held": 0}

    @property
    def name(self) -> str:
        return "generate:talking_head"

    def reset(self) -> None:
        self._state = None
        self._last = None

    @staticmethod
    def encode_references(model, faces: list, convention: FaceCropConvention | None = None, device: str = "cpu"):
        """A few-shot model's reference encoding from [(image, landmarks (68, 3))]: each photo cut to its
        face crop, its landmarks drawn there; computed once per stream."""
        convention = convention or FaceCropConvention()
        size = tuple(model.config.output_size)
        images, labels = [], []
        for image, points in faces:
            frame = rigid_frame(points)
            if frame is None:
                raise VidsynthError("a reference photo's face lacks eye and nose landmarks; give a photo facing the camera")
            p = convention.placement(frame[0], frame[1], image.shape[:2], size)
            images.append(p.crop(image_to_tensor(image), pad_value=-1.0)[0])
            local = np.asarray(points, np.float32).copy()
            local[:, :2] = p.points_to_model(local[:, :2].astype(np.float64))
            labels.append(conditioning.face_label(local, size))
        with torch.inference_mode():
            return model.to(device).encode_references(torch.stack(images)[None].to(device),
                                                      torch.stack(labels)[None].to(device))

    def _canvas(self, hw: tuple[int, int]) -> torch.Tensor:
        if hw not in self._canvas_cache:
            bg = self.background
            if bg.shape[:2] != hw:
                import cv2

                bg = cv2.resize(bg, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
            self._canvas_cache[hw] = image_to_tensor(bg)
        return self._canvas_cache[hw]

    def process(self, frame):
        face = frame.conditions.get("face")
        found = frame.conditions.get("face_found", face is not None and not getattr(face, "is_empty", False))
        out_hw = self.background.shape[:2] if self.retarget == "relative" else frame.image.shape[:2]
        if not found:
            self.counters["held"] += 1
            frame.image = self._last if self._last is not None else tensor_to_image(self._canvas(out_hw))
            return frame
        if self.retarget == "relative":
            placement = self._target_placement
        else:
            placement = frame.conditions.get("face_crop")
            if placement is None:
                raise VidsynthError("the talking head needs a FaceTracker stage before it (face_crop)")
        if self._state is None:
            self._state = (self.model.initial_state(self.references) if self.references is not None
                           else self.model.initial_state())
        sx, sy = placement.scale
        local = face.transformed((sx, sy), placement.box[:2])
        label = conditioning.face_label(local, self.size)[None].to(self.device)
        with torch.inference_mode():
            out, self._state = self.model.step({"label": label}, self._state)
        generated = out["image"].float().cpu()
        frame.conditions["generated"] = generated
        image = feathered_paste(generated, self._canvas(out_hw), placement, self.feather)
        frame.image = self._last = tensor_to_image(image)
        self.counters["generated"] += 1
        return frame


def missing_face_note(counters: dict) -> tuple[str | None, float]:
    """The closing line's part about frames without a usable face (None when every frame had one), and
    their fraction.

    >>> missing_face_note({"frames": 200, "no_face": 10, "face_too_small": 2})
    ('no usable face in 12 of 200 frames (6.0%: 10 without a face, 2 too small)', 0.06)
    """
    missing = counters.get("no_face", 0) + counters.get("face_too_small", 0)
    if not missing:
        return None, 0.0
    frames = max(counters.get("frames", 0), 1)
    return (f"no usable face in {missing} of {frames} frames ({100 * missing / frames:.1f}%: "
            f"{counters.get('no_face', 0)} without a face, {counters.get('face_too_small', 0)} too small)",
            missing / frames)


__all__ = ["TalkingHeadGenerator", "feathered_paste", "feather_mask", "missing_face_note"]
