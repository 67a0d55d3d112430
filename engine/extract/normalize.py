"""Global pose normalisation ("Everybody Dance Now", Chan et al. 2019): move a source body into the target's frame.

Over a clip, each subject has a near ankle position (lowest in the image: close to the camera) and
a far one, with the body height at each. A source pose is scaled and shifted so that, at the same
relative depth between its far and near positions, it has the target's height and ankle row there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidsynth.errors import VidsynthError
from vidsynth.streams.frame import Frame

from ..stage import Stage
from .keypoints import PoseKeypoints

ANKLES = (11, 14)      # BODY_25 right and left ankle
MID_HIP = 8
THRESHOLD = 0.1


@dataclass
class BodyStats:
    """Where a subject stands over a clip: ankle rows and body heights (pixels), and the centre column."""

    far_ankle: float
    near_ankle: float
    far_height: float
    near_height: float
    center_x: float

    def as_dict(self) -> dict[str, float]:
        """Plain numbers, as stored in a model file's job metadata."""
        return {k: float(v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, values: dict) -> "BodyStats":
        """Inverse of :meth:`as_dict`; a clear error for statistics that are missing or not positive.

        >>> BodyStats.from_dict({"far_ankle": 200, "near_ankle": 300, "far_height": 100,
        ...                      "near_height": 150, "center_x": 320}).near_height
        150.0
        """
        try:
            stats = cls(**{k: float(values[k]) for k in cls.__dataclass_fields__})
        except (KeyError, TypeError, ValueError) as exc:
            raise VidsynthError(f"body statistics need {', '.join(cls.__dataclass_fields__)} as numbers; found "
                                f"{values!r} ({exc}); re-create the model with vidsynth train --job dance") from None
        if stats.far_height <= 0 or stats.near_height <= 0:
            raise VidsynthError(f"body heights must be positive, found far {stats.far_height} and near "
                                f"{stats.near_height}; re-create the model with vidsynth train --job dance")
        return stats

    def scaled(self, sx: float, sy: float) -> "BodyStats":
        """The statistics of the same subject in a frame resized by ``sx`` × ``sy``."""
        return BodyStats(self.far_ankle * sy, self.near_ankle * sy, self.far_height * sy, self.near_height * sy,
                         self.center_x * sx)


def ankle_and_height(pose: PoseKeypoints) -> tuple[float, float, float] | None:
    """(ankle row, height from the top point to the ankles, mid-hip column) or None without ankles."""
    b = pose.body
    ankles = [b[i] for i in ANKLES if b[i, 2] > THRESHOLD]
    valid = b[b[:, 2] > THRESHOLD]
    if not ankles or len(valid) < 3:
        return None
    ankle = max(a[1] for a in ankles)
    hip = b[MID_HIP] if b[MID_HIP, 2] > THRESHOLD else valid.mean(0)
    return float(ankle), float(ankle - valid[:, 1].min()), float(hip[0])


def body_stats(poses: list[PoseKeypoints], percentile: float = 5.0) -> BodyStats:
    """Statistics of a clip: far/near ankle rows (the ``percentile``-th from either end, robust to a
    few bad detections) and the tallest height within 10% of the ankle range of each."""
    rows = [r for r in (ankle_and_height(p) for p in poses) if r is not None]
    if not rows:
        raise VidsynthError("pose normalisation needs poses with visible ankles; none of the given frames has them")
    a = np.array(rows)
    far, near = np.percentile(a[:, 0], percentile), np.percentile(a[:, 0], 100 - percentile)
    band = max(0.1 * (near - far), 1.0)
    # the tallest height among the rows near each end (at least the nearest row: few, far-apart rows put
    # an interpolated percentile more than a band away from every row)
    far_d, near_d = np.abs(a[:, 0] - far), np.abs(a[:, 0] - near)
    far_h = a[far_d <= max(band, far_d.min()), 1].max()
    near_h = a[near_d <= max(band, near_d.min()), 1].max()
    return BodyStats(float(far), float(near), float(far_h), float(near_h), float(np.median(a[:, 2])))


def normalize_pose(pose: PoseKeypoints, source: BodyStats, target: BodyStats) -> PoseKeypoints:
    """Scale and translate ``pose`` (a source frame) into the target's frame; missing points stay missing."""
    ah = ankle_and_height(pose)
    if ah is None:
        a = (source.far_ankle + source.near_ankle) / 2
    else:
        a = ah[0]
    span = source.near_ankle - source.far_ankle
    t = 0.5 if span <= 1e-6 else float(np.clip((a - source.far_ankle) / span, 0.0, 1.0))
    scale_far = target.far_height / max(source.far_height, 1e-6)
    scale_near = target.near_height / max(source.near_height, 1e-6)
    scale = scale_far + t * (scale_near - scale_far)
    target_ankle = target.far_ankle + t * (target.near_ankle - target.far_ankle)
    moved = []
    for arr in (pose.body, pose.hand_left, pose.hand_right, pose.face):
        b = arr.copy()
        ok = b[:, 2] > 0
        b[:, 0] = np.where(ok, target.center_x + (arr[:, 0] - source.center_x) * scale, 0)
        b[:, 1] = np.where(ok, target_ankle + (arr[:, 1] - a) * scale, 0)
        moved.append(b)
    return PoseKeypoints(*moved)


class PoseNormalizer(Stage):
    """Rewrites ``conditions['pose']`` into the target subject's frame.

    ``target`` comes from the target's training poses (:func:`body_stats`). ``source`` may be given
    (offline, from the whole driving clip); otherwise it is estimated from the frames seen so far and
    re-estimated from scratch after a discontinuity. With ``calibration_frames`` N, the estimate from the
    first N frames that show the ankles is kept for the rest of the stream (the source's first seconds,
    or a calibration walk toward and away from a camera), so that later frames do not shift the scale.

    >>> t = BodyStats(200, 300, 100, 150, 320)
    >>> PoseNormalizer(t, calibration_frames=90).calibrated
    False
    """

    def __init__(self, target: BodyStats, source: BodyStats | None = None, key: str = "pose", window: int = 300,
                 calibration_frames: int | None = None, calibration_seconds: float | None = None):
        self.target, self.fixed_source, self.key, self.window = target, source, key, window
        self.calibration_frames = calibration_frames      # settle after this many frames with ankles
        self.calibration_seconds = calibration_seconds    # or once this much stream time has passed
        self._seen: list[PoseKeypoints] = []
        self._frozen: BodyStats | None = None
        self._start: float | None = None

    @property
    def calibrated(self) -> bool:
        """Whether the source's statistics are settled (given, or measured over the calibration frames)."""
        return self.fixed_source is not None or self._frozen is not None

    def process(self, frame: Frame) -> Frame:
        pose = frame.conditions.get(self.key)
        if pose is None or pose.is_empty:
            return frame
        source = self.fixed_source or self._frozen
        if source is None:
            if ankle_and_height(pose) is not None:
                self._seen = (self._seen + [pose])[-self.window:]
            if not self._seen:
                return frame
            source = body_stats(self._seen)
            now = float(frame.pts * frame.time_base)
            self._start = now if self._start is None else self._start
            if (self.calibration_frames is not None and len(self._seen) >= self.calibration_frames) or (
                    self.calibration_seconds is not None and now - self._start >= self.calibration_seconds):
                self._frozen = source
        frame.conditions[self.key] = normalize_pose(pose, source, self.target)
        return frame

    def reset(self) -> None:
        self._seen = []
        self._frozen = None
        self._start = None
