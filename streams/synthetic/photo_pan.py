"""``synthetic:photo_pan``: a clip of a real person made from one photograph by a slow pan and zoom.

>>> from vidsynth.streams.synthetic import synthetic_source
>>> synthetic_source("photo_pan", n_frames=3, size=64).open().frame_count
3
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Iterator

import numpy as np

from ..base import Source, StreamInfo
from ..frame import Frame
from . import register_synthetic


class PhotoPanClip(Source):
    """A short clip made from one photograph by a slow camera move (pan and zoom), with no download.

    The demo needs footage of a real person that the project can make itself: scikit-image ships a
    photograph of one (``skimage.data.astronaut()``). When scikit-image is missing, the stamped
    synthetic clip stands in (it has motion for the flow panel, no person for the pose panel).

    >>> clip = PhotoPanClip(n_frames=3, size=64)
    >>> clip.open().frame_count
    3
    """

    def __init__(self, n_frames: int = 60, size: int = 256, fps: int = 30):
        self.n_frames, self.size, self.rate = int(n_frames), int(size), Fraction(fps)
        self._photo = None
        self._info: StreamInfo | None = None
        self._start = 0

    def open(self) -> StreamInfo:
        try:
            from skimage import data
        except ImportError:
            self._photo = None
        else:
            self._photo = np.ascontiguousarray(data.astronaut())
        self._info = StreamInfo(self.size, self.size, self.rate, 1 / self.rate, frame_count=self.n_frames,
                                extra={"content": "skimage astronaut photo" if self._photo is not None else "synthetic clip"})
        return self._info

    def seek(self, index: int) -> None:
        self._start = max(0, int(index))

    def render(self, index: int) -> np.ndarray:
        import cv2

        if self._photo is None:
            from vidsynth.streams.synthetic.clip import SyntheticClip

            return SyntheticClip(n_frames=self.n_frames, width=self.size, height=self.size).render(index)
        h, w = self._photo.shape[:2]
        t = index / max(1, self.n_frames - 1)
        side = min(h, w) * (0.95 - 0.2 * t)  # zoom in slowly
        cx = w / 2 + 0.08 * w * math.sin(2 * math.pi * t)  # sway left and right
        cy = h / 2 + 0.03 * h * t
        x0 = int(np.clip(cx - side / 2, 0, w - side))
        y0 = int(np.clip(cy - side / 2, 0, h - side))
        crop = self._photo[y0 : y0 + int(side), x0 : x0 + int(side)]
        return cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA)

    def __iter__(self) -> Iterator[Frame]:
        if self._info is None:
            self.open()
        for index in range(self._start, self.n_frames):
            yield Frame(index=index, pts=index, time_base=1 / self.rate, image=self.render(index), duration=1,
                        discontinuity=index == self._start)


register_synthetic("photo_pan", PhotoPanClip)
