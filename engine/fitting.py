"""Fitting frames of any size to a model's trained size, and mapping the output back.

A :class:`Placement` says which box of the source frame becomes the model's input: the whole frame
(``resize``), the largest centred box of the model's aspect ratio (``crop``), the smallest box of that
aspect ratio that contains the frame (``letterbox``, padded), or a box that follows the subject
(:class:`SubjectCrop`, for pose and face models). The same placement crops the conditions on the way in
and pastes the generated image back on the way out, so image, labels and keypoints stay aligned.

>>> p = Placement.for_mode("letterbox", src_hw=(90, 160), dst_hw=(64, 64))
>>> p.box
(0, -35, 160, 125)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vidsynth.errors import VidsynthError

MODES = ("resize", "crop", "letterbox")


@dataclass(frozen=True)
class Placement:
    """A box ``(x0, y0, x1, y1)`` in source pixels (it may reach outside the frame) shown at ``dst_hw``."""

    box: tuple[int, int, int, int]
    src_hw: tuple[int, int]
    dst_hw: tuple[int, int]

    @staticmethod
    def for_mode(mode: str, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> "Placement":
        if mode not in MODES:
            raise VidsynthError(f"unknown fit mode {mode!r}: expected one of {', '.join(MODES)}")
        (sh, sw), (dh, dw) = src_hw, dst_hw
        if min(sh, sw, dh, dw) <= 0:
            raise VidsynthError(f"cannot fit a {sw}x{sh} frame to a {dw}x{dh} model: sizes must be positive")
        if mode == "resize":
            return Placement((0, 0, sw, sh), src_hw, dst_hw)
        aspect = dw / dh
        # crop: the largest box of the model's aspect inside the frame; letterbox: the smallest around it
        wide = sw / sh > aspect
        if (mode == "crop") == wide:
            bw, bh = round(sh * aspect), sh
        else:
            bw, bh = sw, round(sw / aspect)
        return Placement.centred(sw / 2, sh / 2, bw, bh, src_hw, dst_hw)

    @staticmethod
    def centred(cx: float, cy: float, bw: int, bh: int, src_hw, dst_hw) -> "Placement":
        x0, y0 = int(round(cx - bw / 2)), int(round(cy - bh / 2))
        return Placement((x0, y0, x0 + int(bw), y0 + int(bh)), tuple(src_hw), tuple(dst_hw))

    @property
    def scale(self) -> tuple[float, float]:
        """Model pixels per source pixel, (x, y)."""
        x0, y0, x1, y1 = self.box
        return self.dst_hw[1] / (x1 - x0), self.dst_hw[0] / (y1 - y0)

    def points_to_model(self, xy: np.ndarray) -> np.ndarray:
        """Map source pixel coordinates (…, 2) into the model's input frame."""
        sx, sy = self.scale
        return (xy - np.array(self.box[:2], dtype=np.float64)) * np.array([sx, sy])

    def crop(self, x: torch.Tensor, nearest: bool = False, pad_value: float = 0.0) -> torch.Tensor:
        """Cut the box out of ``x`` [N,C,H,W] (padding with ``pad_value`` outside) and resize to ``dst_hw``.

        ``nearest`` keeps label ids and one-hot maps exact; images are resized with antialiasing.
        """
        x0, y0, x1, y1 = self.box
        h, w = x.shape[-2:]
        if (h, w) != tuple(self.src_hw):
            raise VidsynthError(f"fitting expected a {self.src_hw[1]}x{self.src_hw[0]} input, found {w}x{h}")
        pad = (max(0, -x0), max(0, x1 - w), max(0, -y0), max(0, y1 - h))
        if any(pad):
            x = F.pad(x, pad, value=pad_value)
        x = x[..., y0 + pad[2] : y1 + pad[2], x0 + pad[0] : x1 + pad[0]]
        if tuple(x.shape[-2:]) == tuple(self.dst_hw):
            return x
        if nearest:  # through float: exact for ids below 2**24, and interpolate has no integer kernels
            return F.interpolate(x.float(), size=self.dst_hw, mode="nearest-exact").to(x.dtype)
        return F.interpolate(x.float(), size=self.dst_hw, mode="bilinear", align_corners=False,
                             antialias=True).to(x.dtype)

    def paste(self, y: torch.Tensor, canvas: torch.Tensor | None = None) -> torch.Tensor:
        """Resize the model output ``y`` [N,C,h,w] to the box and write it into ``canvas`` [N,C,H,W]
        (default: a black frame of the source size, -1 in the [-1, 1] image range)."""
        if canvas is None:
            canvas = torch.full((y.shape[0], y.shape[1], *self.src_hw), -1.0, dtype=y.dtype)
        x0, y0, x1, y1 = self.box
        H, W = canvas.shape[-2:]
        if (x1 - x0, y1 - y0) != (y.shape[-1], y.shape[-2]):
            y = F.interpolate(y, size=(y1 - y0, x1 - x0), mode="bilinear", align_corners=False,
                              antialias=True)
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
        if cx0 >= cx1 or cy0 >= cy1:
            return canvas
        canvas = canvas.clone()
        canvas[..., cy0:cy1, cx0:cx1] = y[..., cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        return canvas


class SubjectCrop:
    """A crop that follows a person or a face and is stable over time.

    Each frame gives the subject's bounding box (or None when nobody is found: the last box is held).
    The crop is the box grown by ``margin``, made the model's aspect ratio, and smoothed: it moves only
    when the target has drifted by more than ``deadband`` of its size, then eases toward it with factor
    ``smoothing``, so the generated person does not jitter with the detector.

    >>> c = SubjectCrop(dst_hw=(64, 64), margin=1.5)
    >>> c.update((40, 20, 60, 80), src_hw=(100, 100)).box
    (5, 5, 95, 95)
    """

    def __init__(self, dst_hw: tuple[int, int], margin: float = 1.3, smoothing: float = 0.7,
                 deadband: float = 0.05):
        self.dst_hw = tuple(dst_hw)
        self.margin = margin           # box growth around the subject
        self.smoothing = smoothing     # 0 = jump to the target, 1 = never move
        self.deadband = deadband       # relative drift ignored, so a still subject gives a still crop
        self._state: np.ndarray | None = None  # (cx, cy, height)

    def reset(self) -> None:
        self._state = None

    def update(self, bbox, src_hw: tuple[int, int]) -> Placement:
        if bbox is not None:
            x0, y0, x1, y1 = bbox
            aspect = self.dst_hw[1] / self.dst_hw[0]
            height = max(y1 - y0, (x1 - x0) / aspect, 1.0) * self.margin
            target = np.array([(x0 + x1) / 2, (y0 + y1) / 2, height], dtype=np.float64)
            if self._state is None:
                self._state = target
            else:
                drift = np.abs(target - self._state) / self._state[2]
                if drift.max() > self.deadband:
                    self._state = self.smoothing * self._state + (1 - self.smoothing) * target
        if self._state is None:  # nobody seen yet: the whole frame, letterboxed
            return Placement.for_mode("letterbox", src_hw, self.dst_hw)
        cx, cy, height = self._state
        width = height * self.dst_hw[1] / self.dst_hw[0]
        return Placement.centred(cx, cy, round(width), round(height), src_hw, self.dst_hw)


def keypoint_bbox(points: np.ndarray, min_confidence: float = 0.1):
    """The bounding box (x0, y0, x1, y1) of the confident points of an (N, 3) array, or None."""
    if points is None or len(points) == 0:
        return None
    ok = points[:, 2] > min_confidence
    if ok.sum() < 2:
        return None
    xy = points[ok, :2]
    return (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))
