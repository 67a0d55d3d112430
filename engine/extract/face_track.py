"""Face tracking with a stable crop: the face's box from its rigid landmarks, smoothed over time.

A crop around a talking face must not follow the mouth: the bounding box of all 68 landmarks grows and
shrinks with every syllable (the jaw drops), so a crop fitted to it zooms in and out ("pumps"). The box
here comes from the rigid points only (eye corners and nose), whose spread does not change with speech:
their centroid places the box and their RMS radius sizes it, with the fixed proportions of a face
(:class:`FaceCropConvention`, stored in model files so training and inference crop alike). The box is
then smoothed with a One Euro filter over (centre, log size) whose cutoff rises with speed, so a still
face gives a still crop (sub-pixel jitter) and a deliberate head move is followed within a frame or two.

>>> import numpy as np
>>> from vidsynth.streams.synthetic.face import FaceWorld, FaceConfig
>>> pts = FaceWorld(FaceConfig(width=128, height=128)).frame(0)["face"]
>>> box = StableFaceBox()
>>> p = box.update(pts, t=0.0, src_hw=(128, 128), dst_hw=(64, 64))
>>> p.dst_hw
(64, 64)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from vidsynth.errors import VidsynthError

from ..fitting import Placement
from ..stage import Stage
from .keypoints import FaceLandmarks
from .smoothing import OneEuroFilter

# eye corners and the nose: they keep their places while the face speaks and blinks
RIGID_POINTS = (36, 39, 42, 45, 27, 28, 29, 30, 31, 33, 35)


def _points(face) -> np.ndarray:
    """(68, 3) array from a FaceLandmarks or an array."""
    return np.asarray(getattr(face, "points", face), np.float64)


def rigid_frame(face) -> tuple[np.ndarray, float] | None:
    """(centre (2,), size) of a face from its rigid points: their centroid and RMS radius (pixels), or
    None when fewer than 6 of them are present.

    >>> import numpy as np
    >>> pts = np.zeros((68, 3)); pts[list(RIGID_POINTS)] = [[0, 0, 1]] * 5 + [[2, 0, 1]] * 6
    >>> c, s = rigid_frame(pts); c.round(2).tolist(), round(s, 2)
    ([1.09, 0.0], 1.0)
    """
    p = _points(face)
    rigid = p[list(RIGID_POINTS)]
    ok = rigid[:, 2] > 0
    if ok.sum() < 6:
        return None
    xy = rigid[ok, :2]
    centre = xy.mean(0)
    size = float(np.sqrt(((xy - centre) ** 2).sum(1).mean()))
    if size <= 0:
        return None
    return centre, size


@dataclass(frozen=True)
class FaceCropConvention:
    """How a face's rigid frame becomes its crop: the box is ``height_ratio * margin`` rigid sizes tall
    (the model's aspect ratio sets its width), centred ``centre_offset`` rigid sizes below the rigid
    centroid. The defaults fit dlib-68 proportions: a face (brows to chin) is about 4.5 rigid sizes tall
    and its centre 0.63 below the rigid centroid; ``margin`` 1.6 leaves room for hair, ears and neck.

    >>> FaceCropConvention().to_dict()["margin"]
    1.6
    """

    margin: float = 1.6
    height_ratio: float = 4.5
    centre_offset: float = 0.63

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "FaceCropConvention":
        d = dict(d or {})
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise VidsynthError(f"unknown face crop convention keys {unknown}; expected margin, height_ratio, "
                                "centre_offset (re-create the model file with this vidsynth)")
        return cls(**d)

    def box(self, centre, size: float, dst_hw: tuple[int, int]) -> tuple[float, float, float, float]:
        """(cx, cy, width, height) in pixels for a rigid frame."""
        height = self.height_ratio * self.margin * size
        width = height * dst_hw[1] / dst_hw[0]
        return float(centre[0]), float(centre[1] + self.centre_offset * size), width, height

    def placement(self, centre, size: float, src_hw, dst_hw) -> Placement:
        cx, cy, w, h = self.box(centre, size, dst_hw)
        return Placement.centred(cx, cy, max(1, round(w)), max(1, round(h)), src_hw, dst_hw)


class StableFaceBox:
    """The face's rigid frame smoothed over time (One Euro on centre and log size).

    ``position_cutoff`` / ``size_cutoff`` (Hz): the smoothing of a still face (lower: steadier);
    ``position_beta``: how fast the cutoff grows with the face's speed (in face sizes per second), so a
    deliberate move is followed within a frame or two; the size is smoothed hard (0.3 Hz, no speed
    term), so speech or a head turn never zooms the crop while a walk toward the camera still does,
    over a second or two. The defaults were tuned with ``benchmarks/talk.py crop``.
    """

    def __init__(self, convention: FaceCropConvention | None = None, position_cutoff: float = 0.5,
                 position_beta: float = 0.5, size_cutoff: float = 0.3, size_beta: float = 0.0,
                 speed_cutoff: float = 2.0):
        self.convention = convention or FaceCropConvention()
        self._position = OneEuroFilter(position_cutoff, 0.0, speed_cutoff)
        self._size = OneEuroFilter(size_cutoff, size_beta, speed_cutoff)
        self.position_beta = position_beta
        self.state: tuple[np.ndarray, float] | None = None  # the smoothed (centre, size)

    def reset(self) -> None:
        self._position.reset()
        self._size.reset()
        self.state = None

    def track(self, face, t: float) -> tuple[np.ndarray, float] | None:
        """Feed one frame's landmarks at time ``t`` (s); the smoothed (centre, size), or the last one
        when this frame has no face (None before any)."""
        frame = None if face is None else rigid_frame(face)
        if frame is None:
            return self.state
        centre, size = frame
        log_size = self._size(np.array([[math.log(size)]]), t)[0, 0]
        smooth_size = math.exp(log_size)
        # the beta in pixels: speeds count in face sizes per second, whatever the face's size
        self._position.beta = self.position_beta / smooth_size
        smooth_centre = self._position(centre[None], t)[0]
        self.state = (smooth_centre, smooth_size)
        return self.state

    def update(self, face, t: float, src_hw, dst_hw) -> Placement:
        """:meth:`track`, then the crop :class:`Placement` (the whole frame letterboxed before any face)."""
        state = self.track(face, t)
        if state is None:
            return Placement.for_mode("letterbox", tuple(src_hw), tuple(dst_hw))
        return self.convention.placement(state[0], state[1], tuple(src_hw), tuple(dst_hw))


class FaceFromArrays(Stage):
    """Turn a plain (68, 3) landmark array (what ``synthetic:face`` gives, since streams do not import
    the engine) into :class:`FaceLandmarks`."""

    def __init__(self, key: str = "face"):
        self.key = key

    def process(self, frame):
        face = frame.conditions.get(self.key)
        if face is not None and not isinstance(face, FaceLandmarks):
            frame.conditions[self.key] = FaceLandmarks(np.asarray(face, np.float32))
        return frame


class FaceTracker(Stage):
    """Writes ``frame.conditions['face_crop']``: the stable crop :class:`Placement` of the face at the
    model's size ``dst_hw``, and ``face_box``: the smoothed (centre, size) face frame (None before any
    face); counts frames with no face and faces too small to use.

    A face whose box is under ``min_face_fraction`` of the frame's height counts as too small (it is
    still tracked, but ``face_found`` is False). Frames without a face keep the last crop. ``counters`` go to the run's metrics.
    """

    def __init__(self, dst_hw: tuple[int, int], convention: FaceCropConvention | None = None,
                 min_face_fraction: float = 0.08, key: str = "face", **smoothing):
        self.dst_hw = tuple(dst_hw)
        self.box = StableFaceBox(convention, **smoothing)
        self.min_face_fraction = min_face_fraction
        self.key = key
        self.counters = {"frames": 0, "no_face": 0, "face_too_small": 0}

    def reset(self) -> None:
        self.box.reset()

    def process(self, frame):
        self.counters["frames"] += 1
        face = frame.conditions.get(self.key)
        src_hw = frame.image.shape[:2]
        frame_ = None if face is None else rigid_frame(face)
        if frame_ is None:
            self.counters["no_face"] += 1
            frame.conditions["face_found"] = False
        else:
            # a face too small to draw well is tracked but not used (the generator holds its last picture)
            height = self.box.convention.height_ratio * frame_[1]
            too_small = height < self.min_face_fraction * src_hw[0]
            self.counters["face_too_small"] += int(too_small)
            frame.conditions["face_found"] = not too_small
        t = float(frame.pts * frame.time_base) if frame.pts is not None else frame.index / 30.0
        frame.conditions["face_crop"] = self.box.update(face if frame_ is not None else None, t, src_hw,
                                                        self.dst_hw)
        frame.conditions["face_box"] = self.box.state
        return frame
