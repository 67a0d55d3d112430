"""Relative motion retargeting of face landmarks: the driver's expression on the target's face.

Driving a target with another person's landmarks as they are would draw the driver's face shape (a wider
jaw, eyes set apart, a bigger mouth) and put it where the driver sat. Relative retargeting instead takes
the driver's motion relative to its own neutral frame and applies it to the target's neutral landmarks:

1. both faces are expressed in their own face frame (centre and size from the rigid points, see
   :func:`~vidsynth.engine.extract.face_track.rigid_frame`; the driver's current frame from its stable
   box, so head motion stays in);
2. the driver's displacement from its neutral is scaled per region by the ratio of the target's to the
   driver's region size (mouth by mouth width, eyes by eye width and opening, jaw by jaw width and
   height), so a mouth opened to a third of its width opens the target's to a third of its own width and
   a half-closed eye half closes the target's;
3. the result is placed in the target's frame.

>>> import numpy as np
>>> from vidsynth.streams.synthetic.face import FaceWorld, FaceConfig
>>> target = FaceWorld(FaceConfig(identity=1, motion=0)).frame(0)["face"]
>>> driver = FaceWorld(FaceConfig(identity=2, motion=0))
>>> out = retarget_relative(driver.frame(5)["face"], driver.frame(0)["face"], target)
>>> out.shape
(68, 3)
"""

from __future__ import annotations

import numpy as np

from vidsynth.errors import VidsynthError

from .extract.face_track import rigid_frame
from .stage import Stage

JAW = list(range(0, 17))
BROWS = list(range(17, 27))
NOSE = list(range(27, 36))
RIGHT_EYE, LEFT_EYE = list(range(36, 42)), list(range(42, 48))
MOUTH = list(range(48, 68))


def _normalised(points: np.ndarray, frame) -> np.ndarray:
    centre, size = frame
    return (points[:, :2] - centre) / size


def _extent(xy: np.ndarray) -> np.ndarray:
    """(width, height) of a set of points, never zero."""
    return np.maximum(xy.max(0) - xy.min(0), 1e-3)


def _region_scales(driver_neutral: np.ndarray, target_neutral: np.ndarray) -> np.ndarray:
    """(68, 2): per point, the x and y factor that turns the driver's displacement into the target's."""
    scale = np.ones((68, 2))
    jaw = _extent(target_neutral[JAW]) / _extent(driver_neutral[JAW])
    scale[JAW] = jaw
    scale[BROWS, 0] = jaw[0]
    for eye in (RIGHT_EYE, LEFT_EYE):
        # the eye's opening is its height: a displacement of the lids keeps the fraction of it closed
        scale[eye] = _extent(target_neutral[eye]) / _extent(driver_neutral[eye])
    mouth_width = _extent(target_neutral[MOUTH])[0] / _extent(driver_neutral[MOUTH])[0]
    scale[MOUTH] = mouth_width  # the same in x and y: the opening keeps its ratio to the width
    return scale


def retarget_relative(driver, driver_neutral, target_neutral, driver_frame=None, driver_neutral_frame=None,
                      target_frame=None) -> np.ndarray:
    """The target's landmarks (68, 3) for the driver's current landmarks (all (68, 3), pixels).

    ``driver_frame`` / ``driver_neutral_frame`` / ``target_frame``: (centre, size) face frames to use
    instead of each face's own rigid frame (the stable box of the driver's tracker keeps the driver's
    head motion in the displacement). Missing driver points keep the target's neutral position.
    """
    d, dn, tn = (np.asarray(getattr(a, "points", a), np.float64) for a in (driver, driver_neutral, target_neutral))
    frames = []
    for pts, given, who in ((d, driver_frame, "driver"), (dn, driver_neutral_frame, "driver's neutral"),
                            (tn, target_frame, "target's neutral")):
        f = given if given is not None else rigid_frame(pts)
        if f is None:
            raise VidsynthError(f"cannot retarget: the {who} landmarks have too few eye and nose points; "
                                "give a frame where the face is fully visible")
        frames.append(f)
    dn_norm = _normalised(dn, frames[1])
    tn_norm = _normalised(tn, frames[2])
    motion = (_normalised(d, frames[0]) - dn_norm) * _region_scales(dn_norm, tn_norm)
    ok = (d[:, 2] > 0) & (dn[:, 2] > 0)
    out_norm = tn_norm + np.where(ok[:, None], motion, 0.0)
    centre, size = frames[2]
    out = np.zeros((68, 3), np.float32)
    out[:, :2] = out_norm * size + centre
    out[:, 2] = 1.0
    return out


class RelativeRetarget(Stage):
    """Replaces ``frame.conditions['face']`` by the target's landmarks moved as the driver moves.

    The driver's neutral is its first face after a discontinuity (a reset). The target's neutral
    landmarks are pixels of the target's frame; the output landmarks are too. The driver's own face
    frame comes from ``frame.conditions['face_box']`` (the tracker's smoothed (centre, size)) when
    present. Frames without a face are left as they are.
    """

    def __init__(self, target_neutral: np.ndarray, key: str = "face"):
        from .extract.keypoints import FaceLandmarks

        self._landmarks = FaceLandmarks
        self.target_neutral = np.asarray(target_neutral, np.float64)
        if self.target_neutral.shape[1] == 2:
            self.target_neutral = np.concatenate([self.target_neutral, np.ones((68, 1))], 1)
        if rigid_frame(self.target_neutral) is None:
            raise VidsynthError("the target's neutral landmarks lack eye and nose points; re-create the model file")
        self.key = key
        self.reset()

    def reset(self) -> None:
        self._neutral = None
        self._neutral_frame = None

    def process(self, frame):
        face = frame.conditions.get(self.key)
        if face is None or not frame.conditions.get("face_found", True):
            return frame
        points = np.asarray(getattr(face, "points", face), np.float64)
        current = rigid_frame(points)
        if current is None:
            return frame
        box = frame.conditions.get("face_box")
        if self._neutral is None:
            self._neutral = points.copy()
            self._neutral_frame = box if box is not None else current
        moved = retarget_relative(points, self._neutral, self.target_neutral,
                                  driver_frame=box if box is not None else current,
                                  driver_neutral_frame=self._neutral_frame)
        frame.conditions["driver_face"] = face
        frame.conditions[self.key] = self._landmarks(moved)
        return frame
