"""dlib-68 face landmarks from MediaPipe Face Mesh."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


from ._common import MediaPipeStage, landmark_array
from .keypoints import FaceLandmarks, dlib68_from_mesh


@dataclass
class FaceExtractorConfig:
    static_image_mode: bool = False        # True: detect on every frame; False: track between frames
    max_num_faces: int = 1                 # faces searched for; the largest one is kept
    refine_landmarks: bool = False         # iris refinement (not needed for dlib-68)
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    key: str = "face"                      # condition the landmarks are stored under


def face_from_mesh_result(result, width: int, height: int) -> FaceLandmarks:
    """MediaPipe Face Mesh result -> :class:`FaceLandmarks` of its largest face; no face -> empty."""
    faces = [landmark_array(f) for f in (result.multi_face_landmarks or [])]
    if not faces:
        return FaceLandmarks.empty()
    mesh = max(faces, key=lambda m: float(np.ptp(m[:, 0]) * np.ptp(m[:, 1])))
    return FaceLandmarks(dlib68_from_mesh(mesh, width, height))


class FaceExtractor(MediaPipeStage):
    """Writes ``frame.conditions['face']``: :class:`FaceLandmarks` (dlib 68 points, pixels).

    >>> stage = FaceExtractor(static_image_mode=True)  # doctest: +SKIP
    >>> stage(frame).conditions["face"].xy.shape  # doctest: +SKIP
    (68, 2)
    """

    purpose = "face landmark extraction"

    def __init__(self, config: FaceExtractorConfig | None = None, **overrides):
        super().__init__(config or FaceExtractorConfig(**overrides))

    def build(self, solutions):
        c = self.config
        return solutions.face_mesh.FaceMesh(
            static_image_mode=c.static_image_mode,
            max_num_faces=c.max_num_faces,
            refine_landmarks=c.refine_landmarks,
            min_detection_confidence=c.min_detection_confidence,
            min_tracking_confidence=c.min_tracking_confidence,
        )

    def condition(self, result, image: np.ndarray) -> FaceLandmarks:
        h, w = image.shape[:2]
        return face_from_mesh_result(result, w, h)
