"""Dense optical flow between consecutive frames with OpenCV's DIS."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidsynth.errors import VidsynthError, require
from vidsynth.streams.frame import Frame

from ..stage import Stage
from ._common import rgb_image

DIS_PRESETS = ("ultrafast", "fast", "medium")


@dataclass
class FlowExtractorConfig:
    preset: str = "medium"   # DIS preset: ultrafast, fast or medium (slower, more accurate)
    key: str = "flow"        # condition the flow is stored under

    def __post_init__(self):
        if self.preset not in DIS_PRESETS:
            raise VidsynthError(f"flow preset must be one of {', '.join(DIS_PRESETS)}, found '{self.preset}'")


def create_dis(preset: str = "medium"):
    """An OpenCV DIS optical-flow object for one of :data:`DIS_PRESETS`."""
    cv2 = require("cv2", "optical flow")
    if preset not in DIS_PRESETS:
        raise VidsynthError(f"flow preset must be one of {', '.join(DIS_PRESETS)}, found '{preset}'")
    code = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[preset]
    return cv2.DISOpticalFlow_create(code)


def to_gray(image: np.ndarray) -> np.ndarray:
    cv2 = require("cv2", "optical flow")
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def backward_flow(current: np.ndarray, previous: np.ndarray, dis=None) -> np.ndarray:
    """Flow from ``current`` to ``previous``: H×W×2 float32 (dx, dy) in pixels.

    ``current[y, x] ≈ previous[y + dy, x + dx]``: sampling the previous frame at ``grid + flow`` (for
    example with ``grid_sample``) warps it into the current one, which is what vid2vid's flow is for.
    Inputs are H×W×3 RGB or H×W gray uint8.

    >>> a = np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8)
    >>> backward_flow(a, a).shape
    (32, 32, 2)
    """
    cur = current if current.ndim == 2 else to_gray(current)
    prev = previous if previous.ndim == 2 else to_gray(previous)
    if cur.shape != prev.shape:
        raise VidsynthError(f"flow needs two frames of one size, found {cur.shape} and {prev.shape}")
    dis = dis or create_dis()
    return dis.calc(np.ascontiguousarray(cur), np.ascontiguousarray(prev), None).astype(np.float32)


class FlowExtractor(Stage):
    """Writes ``frame.conditions['flow']``: H×W×2 float32 flow from this frame to the previous one.

    Direction: ``image_t[y, x] ≈ image_{t-1}[y + flow[y, x, 1], x + flow[y, x, 0]]`` (see
    :func:`backward_flow`). The first frame, a frame after a discontinuity and a frame whose size
    changed get zero flow (nothing to warp from).
    """

    warmup_frames = 1  # frame k's flow needs frame k-1: a resumed render re-reads one frame

    def __init__(self, config: FlowExtractorConfig | None = None, **overrides):
        self.config = config or FlowExtractorConfig(**overrides)
        self._dis = None
        self._previous = None

    def open(self) -> None:
        if self._dis is None:
            self._dis = create_dis(self.config.preset)

    def process(self, frame: Frame) -> Frame:
        if self._dis is None:
            self.open()
        gray = to_gray(rgb_image(frame, self.name))
        if self._previous is None or self._previous.shape != gray.shape:
            flow = np.zeros(gray.shape + (2,), np.float32)
        else:
            flow = backward_flow(gray, self._previous, self._dis)
        self._previous = gray
        frame.conditions[self.config.key] = flow
        return frame

    def reset(self) -> None:
        self._previous = None

    def close(self) -> None:
        self._dis = None
        self._previous = None
