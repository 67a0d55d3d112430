"""Conversions between what frames carry and what encoders take, shared by the sinks and sources."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from vidsynth.errors import VidsynthError


def as_numpy(image: Any) -> np.ndarray:
    """The image as a host numpy array (a tensor on any device is copied to the CPU).

    >>> as_numpy([[1, 2]]).shape
    (1, 2)
    """
    if hasattr(image, "detach"):  # a torch tensor, without importing torch here
        image = image.detach().cpu().numpy()
    return np.asarray(image)


def as_rgb8(image: Any, what: str = "frame") -> np.ndarray:
    """An H×W×3 uint8 RGB array, C-contiguous, from RGB, RGBA or grey input.

    >>> as_rgb8(np.zeros((4, 6), np.uint8)).shape
    (4, 6, 3)
    """
    array = as_numpy(image)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating):
            raise VidsynthError(
                f"expected a uint8 RGB image for the {what}, found {array.dtype} values; "
                "convert it with (x * 255).clip(0, 255).astype(np.uint8) first"
            )
        if array.dtype == np.uint16:
            array = (array >> 8).astype(np.uint8)
        else:
            array = array.clip(0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    if array.ndim != 3 or array.shape[2] != 3:
        raise VidsynthError(f"expected an H×W×3 RGB image for the {what}, found shape {tuple(array.shape)}")
    return np.ascontiguousarray(array)


def as_fraction(value: Any) -> Fraction:
    """A Fraction from an int, float, str or Fraction (floats are limited to a sane denominator).

    >>> as_fraction(29.97)
    Fraction(2997, 100)
    """
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        return Fraction(value).limit_denominator(1001000)
    return Fraction(value)


def rescale(pts: int, src: Fraction, dst: Fraction) -> int:
    """``pts`` counted in ``src`` units, re-counted in ``dst`` units (rounded to the nearest).

    >>> rescale(3, Fraction(1, 30), Fraction(1, 90000))
    9000
    """
    value = Fraction(pts) * src / dst
    return int(value.numerator * 2 + value.denominator) // (2 * value.denominator)


def even_size(width: int, height: int, what: str) -> None:
    """H.264 with 4:2:0 chroma needs even sizes; say so instead of failing inside the encoder."""
    if width % 2 or height % 2 or width < 2 or height < 2:
        raise VidsynthError(
            f"expected an even frame size for {what} (H.264 yuv420p), found {width}×{height}; "
            "crop or resize the frames to even width and height, or write a lossless .mkv or PNG folder"
        )


class OutputClock:
    """A sink's pts: each frame's time counted from the first frame written, in the output time base, and
    strictly increasing (a frame that does not advance past the previous one is moved one tick on).

    >>> from vidsynth.streams.frame import Frame
    >>> clock = OutputClock()
    >>> [clock.pts(Frame(index=i, pts=p, time_base=Fraction(1, 30), image=None), Fraction(1, 90))
    ...  for i, p in enumerate((30, 31, 31))]
    [0, 3, 4]
    """

    def __init__(self):
        self.start: Fraction | None = None   # seconds of the first frame
        self.last: int | None = None         # the last pts given out

    def pts(self, frame, time_base: Fraction) -> int:
        seconds = Fraction(frame.pts) * as_fraction(frame.time_base)
        if self.start is None:
            self.start = seconds
        pts = round((seconds - self.start) / time_base)
        if self.last is not None and pts <= self.last:
            pts = self.last + 1
        self.last = pts
        return pts
