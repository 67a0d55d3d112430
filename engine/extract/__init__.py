"""Conditioning extractors: pose, face landmarks, person masks, optical flow, labels; smoothing and normalisation.

MediaPipe is imported only when an extractor opens, so importing this package stays cheap.
"""

from .face import FaceExtractor, FaceExtractorConfig
from .flow import FlowExtractor, FlowExtractorConfig, backward_flow
from .keypoints import (
    BODY25_NAMES,
    MEDIAPIPE_MESH_TO_DLIB68,
    MEDIAPIPE_TO_BODY25,
    FaceLandmarks,
    PoseFromArrays,
    PoseKeypoints,
)
from .labels import LabelDecoder, LabelDecoderConfig, Palette, load_palette
from .mask import PersonMaskExtractor, PersonMaskExtractorConfig
from .normalize import BodyStats, PoseNormalizer, body_stats, normalize_pose
from .smoothing import LandmarkSmoother, LandmarkSmootherConfig, OneEuroFilter
from .pose import PoseExtractor, PoseExtractorConfig

__all__ = [
    "BODY25_NAMES", "MEDIAPIPE_MESH_TO_DLIB68", "MEDIAPIPE_TO_BODY25",
    "FaceLandmarks", "PoseKeypoints", "PoseFromArrays",
    "PoseExtractor", "PoseExtractorConfig", "FaceExtractor", "FaceExtractorConfig",
    "PersonMaskExtractor", "PersonMaskExtractorConfig", "LabelDecoder", "LabelDecoderConfig", "Palette", "load_palette",
    "BodyStats", "PoseNormalizer", "body_stats", "normalize_pose", "LandmarkSmoother", "LandmarkSmootherConfig",
    "OneEuroFilter",
    "FlowExtractor", "FlowExtractorConfig", "backward_flow",
]
