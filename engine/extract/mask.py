"""Person mask from MediaPipe selfie segmentation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


from ._common import MediaPipeStage


@dataclass
class PersonMaskExtractorConfig:
    model_selection: int = 0     # 0: general model (256×256), 1: landscape model (144×256, faster)
    threshold: float = 0.5       # probability above which a pixel is the person
    soft: bool = False           # True: keep the H×W float32 probability instead of a 0/255 mask
    key: str = "person_mask"

    def __post_init__(self):
        if self.model_selection not in (0, 1):
            raise ValueError(f"model_selection must be 0 or 1, got {self.model_selection}")


def binarize_mask(probability: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """H×W probability -> H×W uint8 mask, 255 on the person, 0 elsewhere.

    >>> binarize_mask(np.array([[0.2, 0.9]])).tolist()
    [[0, 255]]
    """
    return np.where(np.asarray(probability) > threshold, 255, 0).astype(np.uint8)


class PersonMaskExtractor(MediaPipeStage):
    """Writes ``frame.conditions['person_mask']``: H×W uint8 (0/255), or float32 in [0, 1] when ``soft``."""

    purpose = "person segmentation"
    tracks = False

    def __init__(self, config: PersonMaskExtractorConfig | None = None, **overrides):
        super().__init__(config or PersonMaskExtractorConfig(**overrides))

    def build(self, solutions):
        return solutions.selfie_segmentation.SelfieSegmentation(model_selection=self.config.model_selection)

    def condition(self, result, image: np.ndarray) -> np.ndarray:
        prob = result.segmentation_mask
        if prob is None:
            prob = np.zeros(image.shape[:2], np.float32)
        prob = np.asarray(prob, np.float32)
        return prob if self.config.soft else binarize_mask(prob, self.config.threshold)
