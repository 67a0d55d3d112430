"""Body, hand and face keypoints of one person, from MediaPipe Holistic, in OpenPose's layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidsynth.errors import VidsynthError

from ._common import MediaPipeStage, landmark_array
from .keypoints import PoseKeypoints, body25_from_mediapipe, hand21_from_mediapipe, openpose_face70_from_mesh


@dataclass
class PoseExtractorConfig:
    static_image_mode: bool = False        # True: detect afresh on every frame (single images); False: track
    model_complexity: int = 1              # 1 ships in the wheel; 0 (lite) and 2 (heavy) only if their files exist
    min_detection_confidence: float = 0.5  # person detector threshold
    min_tracking_confidence: float = 0.5   # below this the tracker re-detects
    refine_face_landmarks: bool = True     # iris points, used for the OpenPose pupils
    min_visibility: float = 0.5            # body points MediaPipe thinks less visible count as missing
    key: str = "pose"                      # condition the record is stored under

    def __post_init__(self):
        if self.model_complexity not in (0, 1, 2):
            raise ValueError(f"model_complexity must be 0, 1 or 2, got {self.model_complexity}")


def pose_from_holistic(result, width: int, height: int, min_visibility: float = 0.0) -> PoseKeypoints:
    """Turn a MediaPipe Holistic result into :class:`PoseKeypoints` (pixels); no person -> empty record.

    MediaPipe's ``left_hand_landmarks`` is the subject's left hand, as OpenPose's ``hand_left`` is.
    Body points with a visibility below ``min_visibility`` are marked missing: MediaPipe guesses
    points outside the image or hidden, where OpenPose (and the data imaginaire trained on) has none.
    """
    body = landmark_array(result.pose_landmarks, with_visibility=True)
    if body is None:
        return PoseKeypoints.empty()
    body25 = body25_from_mediapipe(body, width, height)
    body25[body25[:, 2] < min_visibility] = 0
    return PoseKeypoints(
        body=body25,
        hand_left=hand21_from_mediapipe(landmark_array(result.left_hand_landmarks), width, height),
        hand_right=hand21_from_mediapipe(landmark_array(result.right_hand_landmarks), width, height),
        face=openpose_face70_from_mesh(landmark_array(result.face_landmarks), width, height),
    )


_POSE_MODEL_FILES = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}


def _check_pose_model_present(model_complexity: int) -> None:
    """MediaPipe downloads the lite and heavy pose models on first use; we never download at run time."""
    import mediapipe

    folder = Path(mediapipe.__file__).parent / "modules" / "pose_landmark"
    name = _POSE_MODEL_FILES[model_complexity]
    if not (folder / name).exists():
        raise VidsynthError(
            f"pose model_complexity={model_complexity} needs {name}, which the mediapipe wheel does not ship "
            f"(it would be downloaded, and vidsynth never downloads at run time); use model_complexity=1"
        )


class PoseExtractor(MediaPipeStage):
    """Writes ``frame.conditions['pose']``: a :class:`PoseKeypoints` in the frame's pixels.

    A frame without a person gets an empty record (every confidence 0). On a discontinuity the
    tracker starts over.

    >>> from vidsynth.engine.extract import PoseExtractor, PoseExtractorConfig
    >>> stage = PoseExtractor(PoseExtractorConfig(static_image_mode=True))  # doctest: +SKIP
    >>> stage.open(); frame = stage(frame); frame.conditions["pose"].body[1]  # neck  # doctest: +SKIP
    """

    purpose = "pose extraction"
    history_in_static_mode = True  # Holistic's face points (see MediaPipeStage)

    def __init__(self, config: PoseExtractorConfig | None = None, **overrides):
        super().__init__(config or PoseExtractorConfig(**overrides))

    def build(self, solutions):
        c = self.config
        _check_pose_model_present(c.model_complexity)
        return solutions.holistic.Holistic(
            static_image_mode=c.static_image_mode,
            model_complexity=c.model_complexity,
            refine_face_landmarks=c.refine_face_landmarks,
            min_detection_confidence=c.min_detection_confidence,
            min_tracking_confidence=c.min_tracking_confidence,
        )

    def condition(self, result, image: np.ndarray) -> PoseKeypoints:
        h, w = image.shape[:2]
        return pose_from_holistic(result, w, h, self.config.min_visibility)
