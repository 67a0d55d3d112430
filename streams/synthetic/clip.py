"""A procedural test clip whose frames carry their own index, stamped into the pixels.

The stamp is a band of large black/white cells across the top, one cell per bit of the frame index
(16 bits, most significant first). Cells are at least 4 px and aligned to the frame, so the stamp
survives H.264 at ordinary quality and :func:`read_stamp` recovers the index from a decoded frame.
Below the band a smooth picture moves, so encoders see real motion.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Iterator

import numpy as np

from vidsynth.errors import VidsynthError

from ..base import Source, StreamInfo
from ..frame import Frame
from . import register_synthetic

STAMP_BITS = 16


def stamp_cells(width: int, height: int) -> tuple[int, int]:
    """``(cell_size, columns)`` of the stamp for a frame size; the band is ``ceil(16/columns)`` rows.

    >>> stamp_cells(64, 48)
    (8, 8)
    """
    for size in (16, 8, 4):
        columns = min(STAMP_BITS, width // size)
        if columns == 0:
            continue
        rows = -(-STAMP_BITS // columns)
        if rows * size <= height // 3 and size <= width // 4:
            return size, columns
    raise VidsynthError(
        f"expected a frame of at least 32×24 pixels for the stamped clip, found {width}×{height}; use a larger size"
    )


def stamp(image: np.ndarray, index: int) -> np.ndarray:
    """Write ``index`` into the top band of ``image`` (in place) and return it."""
    if not 0 <= index < 2**STAMP_BITS:
        raise VidsynthError(f"expected a frame index below {2**STAMP_BITS} to stamp, found {index}")
    height, width = image.shape[:2]
    size, columns = stamp_cells(width, height)
    for bit in range(STAMP_BITS):
        row, col = divmod(bit, columns)
        value = 255 if (index >> (STAMP_BITS - 1 - bit)) & 1 else 0
        image[row * size : (row + 1) * size, col * size : (col + 1) * size] = value
    return image


def read_stamp(image: np.ndarray) -> int:
    """The frame index stamped into ``image`` (H×W×3 or H×W, uint8), e.g. after an H.264 round trip.

    >>> read_stamp(stamp(np.zeros((48, 64, 3), np.uint8), 1234))
    1234
    """
    image = np.asarray(image)
    grey = image.mean(axis=2) if image.ndim == 3 else image.astype(np.float64)
    height, width = grey.shape
    size, columns = stamp_cells(width, height)
    inner = slice(size // 4, size - size // 4)  # the cell's middle: away from ringing at its edges
    index = 0
    for bit in range(STAMP_BITS):
        row, col = divmod(bit, columns)
        cell = grey[row * size : (row + 1) * size, col * size : (col + 1) * size]
        index = (index << 1) | int(cell[inner, inner].mean() > 127.5)
    return index


class SyntheticClip(Source):
    """A moving picture with the frame index stamped in its top band; constant or variable frame rate.

    With ``vfr=True`` the pts step irregularly (half to two and a half nominal frame periods, seeded),
    counted in a 1/90000 time base, as a phone recording's would.

    >>> clip = SyntheticClip(n_frames=4, width=64, height=48)
    >>> info = clip.open()
    >>> [read_stamp(f.image) for f in clip]
    [0, 1, 2, 3]
    """

    def __init__(self, n_frames: int = 60, width: int = 64, height: int = 48, fps: float = 30, vfr: bool = False, seed: int = 0):
        if n_frames < 1 or n_frames >= 2**STAMP_BITS:
            raise VidsynthError(f"expected 1 to {2**STAMP_BITS - 1} frames for the synthetic clip, found {n_frames}")
        stamp_cells(width, height)  # validates the size
        self.n_frames = int(n_frames)
        self.width = int(width)
        self.height = int(height)
        self.rate = Fraction(fps).limit_denominator(1001000)
        self.vfr = bool(vfr)
        self.seed = int(seed)
        self._start = 0
        rng = np.random.default_rng(seed)
        self._colours = rng.uniform(40, 215, size=(3, 3))
        self._velocity = rng.uniform(0.5, 1.5, size=2) * rng.choice([-1, 1], size=2)
        if self.vfr:
            self.time_base = Fraction(1, 90000)
            period = float(self.time_base**-1 / self.rate)
            steps = np.rint(rng.choice([0.5, 1.0, 1.0, 1.5, 2.5], size=self.n_frames) * period).astype(np.int64)
            self._pts = np.concatenate([[0], np.cumsum(steps)[:-1]])
            self._durations = steps
        else:
            self.time_base = 1 / self.rate
            self._pts = np.arange(self.n_frames, dtype=np.int64)
            self._durations = np.ones(self.n_frames, dtype=np.int64)

    def open(self) -> StreamInfo:
        return StreamInfo(self.width, self.height, self.rate, self.time_base, frame_count=self.n_frames)

    def pts(self, index: int) -> int:
        """The pts of frame ``index`` in :attr:`time_base` units."""
        return int(self._pts[index])

    def render(self, index: int) -> np.ndarray:
        """Frame ``index``'s picture (H×W×3 uint8), stamp included."""
        h, w = self.height, self.width
        t = float(self._pts[index] * self.time_base)  # picture follows time, so VFR motion looks right
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        a, b, c = self._colours
        wave = 0.5 + 0.5 * np.sin(2 * math.pi * (x / w + y / (2 * h)) + 1.3 * t)
        image = a[None, None, :] * wave[..., None] + b[None, None, :] * (1 - wave[..., None])
        cx = w * (0.5 + 0.35 * math.sin(self._velocity[0] * t * 2))
        cy = h * (0.6 + 0.25 * math.cos(self._velocity[1] * t * 2))
        radius = min(w, h) * 0.22
        disc = np.clip(radius + 0.5 - np.hypot(x - cx, y - cy), 0, 1)[..., None]  # anti-aliased edge
        image = image * (1 - disc) + c[None, None, :] * disc
        return stamp(np.clip(image, 0, 255).astype(np.uint8), index)

    def seek(self, index: int) -> None:
        self._start = max(0, int(index))

    def __iter__(self) -> Iterator[Frame]:
        for index in range(self._start, self.n_frames):
            yield Frame(
                index=index,
                pts=int(self._pts[index]),
                time_base=self.time_base,
                image=self.render(index),
                duration=int(self._durations[index]),
                discontinuity=index == self._start,
            )


register_synthetic("clip", SyntheticClip)
