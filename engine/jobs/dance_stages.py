"""The dance job's own pieces: the target's body crop, the feathered paste, the generator stage that renders
the target's full frame, and the live latency overlay.

Training crops the target's footage with :class:`BodyCrop` too, so inference cuts the same window around
the same body that the model learned.

>>> feather_mask(4, 4, border=0.5)[0].tolist()
[0.25, 0.25, 0.25, 0.25]
"""

from __future__ import annotations

import time

import numpy as np

from ..fitting import Placement
from ..generate.video import VideoGenerator, VideoGeneratorConfig
from ..stage import Stage


class BodyCrop:
    """A box of fixed size (the target's trained crop, in frame pixels) centred on the body's keypoints.

    The centre eases toward the body's (``smoothing``) and holds still within ``deadband`` of the crop's
    height, so a still dancer gives a still crop.

    >>> from vidsynth.engine.extract.keypoints import PoseKeypoints
    >>> body = np.zeros((25, 3), np.float32); body[:, 2] = 1; body[:, 0] = 50; body[:, 1] = np.linspace(20, 80, 25)
    >>> BodyCrop((40, 80), dst_hw=(64, 32)).update(PoseKeypoints(body=body), src_hw=(100, 100)).box
    (30, 10, 70, 90)
    """

    def __init__(self, crop_wh: tuple[int, int], dst_hw: tuple[int, int], smoothing: float = 0.5,
                 deadband: float = 0.01):
        self.crop_wh = (int(crop_wh[0]), int(crop_wh[1]))
        self.dst_hw = tuple(dst_hw)
        self.smoothing, self.deadband = smoothing, deadband
        self._centre: np.ndarray | None = None

    def reset(self) -> None:
        self._centre = None

    @staticmethod
    def body_centre(pose):
        """The middle of the confident body points' extent, or None with fewer than three."""
        if pose is None:
            return None
        body = pose.body
        ok = body[:, 2] > 0.1
        if ok.sum() < 3:
            return None
        xy = body[ok, :2].astype(np.float64)
        return (xy.min(0) + xy.max(0)) / 2

    def update(self, pose, src_hw: tuple[int, int]) -> Placement:
        centre = self.body_centre(pose)
        if centre is not None:
            if self._centre is None:
                self._centre = centre
            elif np.abs(centre - self._centre).max() > self.deadband * self.crop_wh[1]:
                self._centre = self.smoothing * self._centre + (1 - self.smoothing) * centre
        cx, cy = (src_hw[1] / 2, src_hw[0] / 2) if self._centre is None else self._centre
        return Placement.centred(cx, cy, self.crop_wh[0], self.crop_wh[1], src_hw, self.dst_hw)


def feather_mask(height: int, width: int, border: float = 0.12) -> np.ndarray:
    """H×W weights: 1 inside, falling linearly toward 0 over ``border`` of the shorter side at the edges."""
    ramp = max(1.0, border * min(height, width))
    ys = np.minimum(np.arange(height) + 0.5, height - np.arange(height) - 0.5) / ramp
    xs = np.minimum(np.arange(width) + 0.5, width - np.arange(width) - 0.5) / ramp
    return np.clip(np.minimum(ys[:, None], xs[None, :]), 0.0, 1.0).astype(np.float32)


def paste_feathered(canvas: np.ndarray, patch: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``canvas`` (H×W×3 uint8) with ``patch`` resized to ``box`` (x0, y0, x1, y1) blended in with soft
    edges, so the generated crop meets the real background without a seam.

    >>> out = paste_feathered(np.zeros((8, 8, 3), np.uint8), np.full((4, 4, 3), 200, np.uint8), (2, 2, 6, 6))
    >>> int(out[4, 4, 0]) > 100, int(out[0, 0, 0])
    (True, 0)
    """
    import cv2

    x0, y0, x1, y1 = box
    H, W = canvas.shape[:2]
    if (patch.shape[1], patch.shape[0]) != (x1 - x0, y1 - y0):
        patch = cv2.resize(patch, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    out = canvas.copy()
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if cx0 >= cx1 or cy0 >= cy1:
        return out
    alpha = feather_mask(y1 - y0, x1 - x0)[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0, None]
    piece = patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0].astype(np.float32)
    region = out[cy0:cy1, cx0:cx1].astype(np.float32)
    out[cy0:cy1, cx0:cx1] = np.clip(alpha * piece + (1 - alpha) * region + 0.5, 0, 255).astype(np.uint8)
    return out


def body_mask(pose, hw: tuple[int, int], width: float = 0.16, blur: float = 0.04) -> np.ndarray:
    """H×W weights in [0, 1]: the body drawn from its keypoints with thick limbs and a round head, softened.

    Outside it the target's real background is kept, so the generated crop adds the dancer and nothing
    the model had to guess about a scene it may never have seen at that place. ``width`` and ``blur`` are
    fractions of the body's height.

    >>> from vidsynth.engine.extract.keypoints import PoseKeypoints
    >>> body = np.zeros((25, 3), np.float32); body[[1, 8], 2] = 1; body[1, :2] = (20, 10); body[8, :2] = (20, 30)
    >>> m = body_mask(PoseKeypoints(body=body), (40, 40)); float(m[20, 20]) > 0.9, float(m[20, 2]) < 0.1
    (True, True)
    """
    import cv2

    from ..draw import BODY25_LIMBS

    mask = np.zeros(hw, np.float32)
    b = pose.body
    ok = b[:, 2] > 0.1
    if ok.sum() < 2:
        return mask
    ys = b[ok, 1]
    height = max(float(ys.max() - ys.min()), 8.0)
    thick = max(2, int(round(width * height)))
    for i, j in BODY25_LIMBS:
        if ok[i] and ok[j]:
            cv2.line(mask, tuple(int(round(v)) for v in b[i, :2]), tuple(int(round(v)) for v in b[j, :2]), 1.0,
                     thick, cv2.LINE_AA)
    for i in np.flatnonzero(ok):
        cv2.circle(mask, tuple(int(round(v)) for v in b[i, :2]), thick // 2 + 1, 1.0, -1, cv2.LINE_AA)
    head = [i for i in (0, 15, 16, 17, 18) if ok[i]]
    if head:  # the head reaches above the eyes and ears that BODY_25 marks
        cx, cy = b[head, :2].mean(0)
        cv2.circle(mask, (int(round(cx)), int(round(cy - 0.03 * height))), int(round(0.09 * height)) + 1, 1.0, -1)
    k = max(3, int(round(blur * height)) * 2 + 1)
    return np.clip(cv2.GaussianBlur(mask, (k, k), 0) * 1.5, 0.0, 1.0)


class TargetBodyGenerator(VideoGenerator):
    """A dancer model run on the target's body crop (:class:`BodyCrop`) around the pose (already in the
    target's frame), its output pasted into the target's background: every output frame is the target's
    full frame. The driver's picture is kept as ``conditions['driver']``."""

    def __init__(self, model, background: np.ndarray, crop_wh: tuple[int, int], device: str = "cpu",
                 keep_background: bool = True):
        super().__init__(model, VideoGeneratorConfig(fit="resize", output="model", device=device))
        self.background = np.ascontiguousarray(background)
        self.keep_background = keep_background  # outside the body's mask, the real background
        self.body_crop = BodyCrop(crop_wh, self.size)
        self._placement: Placement | None = None

    def reset(self) -> None:
        super().reset()
        self.body_crop.reset()

    def placement(self, frame, bbox=None) -> Placement:
        return self._placement

    def process(self, frame):
        frame.conditions["driver"] = frame.image
        frame.image = self.background
        self._placement = self.body_crop.update(frame.conditions.get("pose"), self.background.shape[:2])
        frame = super().process(frame)
        pasted = paste_feathered(self.background, frame.image, self._placement.box)
        pose = frame.conditions.get("pose")
        if self.keep_background and pose is not None and not pose.is_empty:
            alpha = body_mask(pose, self.background.shape[:2])[..., None]
            pasted = np.clip(alpha * pasted + (1 - alpha) * self.background + 0.5, 0, 255).astype(np.uint8)
        frame.image = pasted
        return frame


class LatencyOverlay(Stage):
    """Writes the capture-to-now latency (and, while the normaliser calibrates, a note) on the picture."""

    def __init__(self, normalizer=None):
        self.normalizer = normalizer

    def process(self, frame):
        import cv2

        ms = (time.monotonic_ns() - frame.capture_ns) / 1e6
        image = np.ascontiguousarray(frame.image).copy()
        scale = max(0.4, image.shape[0] / 720)
        lines = [f"{ms:.0f} ms"]
        if self.normalizer is not None and not self.normalizer.calibrated:
            lines.append("calibrating: walk toward and away from the camera")
        for k, text in enumerate(lines):
            org = (int(10 * scale), int((30 + 30 * k) * scale))
            cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), max(1, int(4 * scale)))
            cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), max(1, int(2 * scale)))
        frame.image = image
        return frame
