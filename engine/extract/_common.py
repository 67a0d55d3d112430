"""Small helpers shared by the extractor stages."""

from __future__ import annotations

import numpy as np

from vidsynth.errors import VidsynthError, require
from vidsynth.streams.frame import Frame

from ..stage import Stage


def rgb_image(frame, stage: str) -> np.ndarray:
    """The frame's image as H×W×3 uint8 RGB numpy, or a VidsynthError saying what was found."""
    image = frame.image
    if not isinstance(image, np.ndarray):
        raise VidsynthError(
            f"{stage} expected frame {frame.index} to carry an H×W×3 uint8 numpy image, found {type(image).__name__}; "
            "put extractors before any stage that moves frames to a device"
        )
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise VidsynthError(
            f"{stage} expected an H×W×3 uint8 RGB image, found shape {image.shape} dtype {image.dtype} "
            f"at frame {frame.index}; convert the source to RGB24"
        )
    return np.ascontiguousarray(image)


def mediapipe_solutions(purpose: str):
    """``mediapipe.solutions``, imported lazily (0.10.21 is the last release that ships it with its models)."""
    mp = require("mediapipe", purpose)
    solutions = getattr(mp, "solutions", None)
    if solutions is None:
        raise VidsynthError(
            f"{purpose} needs mediapipe's legacy 'solutions' API (models inside the wheel), but the installed "
            f"mediapipe {getattr(mp, '__version__', '?')} does not have it; install mediapipe==0.10.21"
        )
    return solutions


def landmark_array(landmark_list, with_visibility: bool = False) -> np.ndarray | None:
    """A MediaPipe NormalizedLandmarkList as an (N, 2) or (N, 3) float array (x, y[, visibility])."""
    if landmark_list is None:
        return None
    lms = landmark_list.landmark
    if with_visibility:
        return np.array([[p.x, p.y, p.visibility] for p in lms], np.float64)
    return np.array([[p.x, p.y] for p in lms], np.float64)


class MediaPipeStage(Stage):
    """A stage around one MediaPipe solution: built on ``open()`` (or the first frame), closed on ``close()``.

    A subclass says what the solution is for (``purpose``, named when mediapipe is missing), builds it in
    :meth:`build`, and turns each frame's result into the condition stored under ``config.key`` in
    :meth:`condition`. Tracking solutions start over on a discontinuity.
    """

    purpose = "MediaPipe"  # what the solution is for, in the missing-mediapipe message
    tracks = True          # the solution tracks between frames: reset it on a discontinuity
    # Holistic's face landmarks depend on earlier frames even when it detects on every frame (measured: up
    # to 0.44 px apart from a graph that starts mid-stream, still 0.01-0.04 px ten frames later), so a
    # resumed output can only equal an uninterrupted one if such a stage re-runs the stream from its start
    history_in_static_mode = False

    def __init__(self, config):
        self.config = config
        self._solution = None

    def build(self, solutions):
        """The MediaPipe solution object, from ``mediapipe.solutions``."""
        raise NotImplementedError

    def condition(self, result, image: np.ndarray):
        """What the solution's ``result`` on the RGB ``image`` gives the frame (stored under ``config.key``)."""
        raise NotImplementedError

    def open(self) -> None:
        if self._solution is None:
            self._solution = self.build(mediapipe_solutions(self.purpose))

    def process(self, frame: Frame) -> Frame:
        if self._solution is None:  # opened on first use
            self.open()
        image = rgb_image(frame, self.name)
        frame.conditions[self.config.key] = self.condition(self._solution.process(image), image)
        return frame

    def reset(self) -> None:
        if self.tracks and self._solution is not None:
            self._solution.reset()

    def close(self) -> None:
        if self._solution is not None:
            self._solution.close()
            self._solution = None


REPLAY_FROM_START = 1 << 40  # warm-up frames meaning: a resume re-runs the stage from the first frame


def detect_per_frame(stages) -> bool:
    """Switch the MediaPipe stages among ``stages`` that track between frames to detection on every frame.

    MediaPipe's tracking state cannot be saved, so an output that can be resumed (an MP4 written in
    closed segments) is extracted this way, with our own landmark smoother (whose state is saved) in the
    place of MediaPipe's: the resumed output then equals an uninterrupted one. A stage whose per-frame results
    still depend on earlier frames (``history_in_static_mode``: Holistic's face) re-runs the stream from its
    first frame on a resume, which is slower but exact. Returns True when a stage was switched (the caller
    adds the smoother). Call before the stages open.
    """
    switched = False
    for stage in stages:
        config = getattr(stage, "config", None)
        if isinstance(stage, MediaPipeStage) and stage.tracks and hasattr(config, "static_image_mode"):
            config.static_image_mode = True
            stage.tracks = False
            switched = True
            if stage.history_in_static_mode:
                stage.warmup_frames = REPLAY_FROM_START
    return switched
