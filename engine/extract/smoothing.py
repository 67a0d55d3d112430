"""One Euro filtering of landmark tracks (Casiez, Roussel and Vogel, CHI 2012), for live use.

Each coordinate is low-pass filtered with a cutoff that rises with its speed: still points are
steadied strongly (little jitter), fast ones follow with little lag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vidsynth.streams.frame import Frame

from ..stage import Stage
from .keypoints import FaceLandmarks, PoseKeypoints


def _alpha(cutoff, dt: float):
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """A One Euro filter over an array of coordinates, with per-point missing data.

    ``__call__(values, t, valid)``: ``values`` (N, D), ``t`` seconds, ``valid`` (N,) bools. A point
    that goes missing forgets its state, so when it comes back it starts afresh instead of being
    pulled towards where it was. ``min_cutoff`` (Hz) sets the smoothing of still points, ``beta`` how
    fast the cutoff grows with speed (in units of ``values`` per second), ``d_cutoff`` (Hz) smooths
    the speed estimate.

    >>> f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    >>> f(np.array([[0.0]]), 0.0).tolist(), f(np.array([[1.0]]), 1 / 30).tolist()
    ([[0.0]], [[0.1731...]])
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self._x = None       # filtered values
        self._dx = None      # filtered speeds
        self._has = None     # which points have state
        self._t = None

    def __call__(self, values: np.ndarray, t: float, valid: np.ndarray | None = None) -> np.ndarray:
        x = np.asarray(values, np.float64)
        valid = np.ones(x.shape[0], bool) if valid is None else np.asarray(valid, bool)
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            self._has, self._t = valid.copy(), t
            return np.where(valid[:, None], x, 0.0)
        dt = t - self._t
        if dt <= 0:
            dt = 1.0 / 30   # repeated or out-of-order timestamps: assume a nominal frame interval
        cont = valid & self._has
        dx = (x - self._x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        dx_hat = a_d * dx + (1 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(dx_hat)
        a = _alpha(cutoff, dt)
        x_hat = a * x + (1 - a) * self._x
        out = np.where(cont[:, None], x_hat, x)
        self._x = np.where(valid[:, None], out, 0.0)
        self._dx = np.where(cont[:, None], dx_hat, 0.0)
        self._has = valid.copy()
        self._t = t
        return np.where(valid[:, None], out, 0.0)


@dataclass
class LandmarkSmootherConfig:
    keys: tuple[str, ...] = ("pose", "face")   # conditions to smooth (PoseKeypoints / FaceLandmarks)
    min_cutoff: float = 1.0                    # Hz; lower = steadier when still
    beta: float = 0.05                         # cutoff growth per pixel/second of speed; higher = less lag
    d_cutoff: float = 1.0                      # Hz, for the speed estimate


class LandmarkSmoother(Stage):
    """Smooths ``conditions['pose']`` and ``conditions['face']`` in place with One Euro filters.

    Time comes from the frames' timestamps; a discontinuity (new stream, cut, seek) resets every filter.
    The filters are the stage's state: a resumed extraction restores them (``Stage.snapshot``).
    """

    state_attrs = ("_filters",)

    def __init__(self, config: LandmarkSmootherConfig | None = None, **overrides):
        self.config = config or LandmarkSmootherConfig(**overrides)
        self._filters: dict[tuple[str, str], OneEuroFilter] = {}

    def _filter(self, key: str, part: str) -> OneEuroFilter:
        f = self._filters.get((key, part))
        if f is None:
            c = self.config
            f = self._filters[(key, part)] = OneEuroFilter(c.min_cutoff, c.beta, c.d_cutoff)
        return f

    def _smooth(self, key: str, part: str, points: np.ndarray, t: float) -> np.ndarray:
        valid = points[:, 2] > 0
        out = points.copy()
        out[:, :2] = self._filter(key, part)(points[:, :2], t, valid)
        return out

    def process(self, frame: Frame) -> Frame:
        t = frame.time
        for key in self.config.keys:
            value = frame.conditions.get(key)
            if isinstance(value, PoseKeypoints):
                frame.conditions[key] = PoseKeypoints(
                    body=self._smooth(key, "body", value.body, t),
                    hand_left=self._smooth(key, "hand_left", value.hand_left, t),
                    hand_right=self._smooth(key, "hand_right", value.hand_right, t),
                    face=self._smooth(key, "face", value.face, t),
                )
            elif isinstance(value, FaceLandmarks):
                frame.conditions[key] = FaceLandmarks(self._smooth(key, "points", value.points, t))
        return frame

    def reset(self) -> None:
        for f in self._filters.values():
            f.reset()
