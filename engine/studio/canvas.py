"""Label map → picture for the studio's canvas and region edits.

:class:`LabelRenderer` runs a SPADE or pix2pixHD model file on a label id map (through the same
:class:`~vidsynth.engine.generate.ImageGenerator` stage the pipelines use, so fitting and label
encoding are the pipelines'). :func:`paste_region` puts a new rendering back over the previous picture
only where the labels changed, dilated and feathered: every pixel farther than ``radius`` from a changed
label is the previous picture's, bit for bit. That keeps a canvas steady while painting (a SPADE with
instance normalisation would otherwise shift every pixel a little on each stroke) and lets a real
photograph be edited without touching the rest of it.

>>> import numpy as np
>>> before = np.zeros((8, 8, 3), np.uint8); after = np.full((8, 8, 3), 200, np.uint8)
>>> changed = np.zeros((8, 8), bool); changed[0, 0] = True
>>> out = paste_region(before, after, changed, radius=2, feather=1)
>>> int(out[0, 0, 0]), int(out[7, 7, 0])
(200, 0)
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass

import numpy as np

from vidsynth.errors import VidsynthError

# Region edits: how far around a changed label the new rendering is used, and over how many pixels it
# fades into the old picture. A convolutional generator's change spreads beyond the painted pixels.
DEFAULT_RADIUS = 8
DEFAULT_FEATHER = 4


def changed_region(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """H×W bool: where two label maps differ."""
    if before.shape != after.shape:
        raise VidsynthError(f"the edited label map is {after.shape[1]}x{after.shape[0]} but the original is "
                            f"{before.shape[1]}x{before.shape[0]}; paint at the picture's size")
    return np.asarray(before) != np.asarray(after)


def blend_weights(changed: np.ndarray, radius: int = DEFAULT_RADIUS, feather: int = DEFAULT_FEATHER) -> np.ndarray:
    """H×W float32 in [0, 1]: 1 on and near the changed pixels, fading to exactly 0 at ``radius``."""
    import cv2

    if not changed.any():
        return np.zeros(changed.shape, np.float32)
    # distance of every pixel to the nearest changed one
    distance = cv2.distanceTransform((~changed).astype(np.uint8), cv2.DIST_L2, 5)
    feather = max(1, min(int(feather), int(radius)))
    weights = np.clip((radius - distance) / feather, 0.0, 1.0).astype(np.float32)
    weights[distance >= radius] = 0.0
    return weights


def paste_region(previous: np.ndarray, rendered: np.ndarray, changed: np.ndarray, radius: int = DEFAULT_RADIUS,
                 feather: int = DEFAULT_FEATHER) -> np.ndarray:
    """``rendered`` over ``previous`` within ``radius`` of the ``changed`` pixels (feathered), else ``previous``."""
    if previous.shape != rendered.shape:
        raise VidsynthError(f"cannot paste a {rendered.shape} rendering over a {previous.shape} picture")
    w = blend_weights(changed, radius, feather)[..., None]
    mixed = previous.astype(np.float32) * (1.0 - w) + rendered.astype(np.float32) * w
    out = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    outside = w[..., 0] == 0.0
    out[outside] = previous[outside]  # exactly the previous picture, not a float round trip of it
    return out


def paints_labels(spec) -> bool:
    """Whether a model (its :class:`~vidsynth.networks.spec.ModelSpec`) turns one label map into one picture."""
    return spec.kind == "image" and spec.reads == "labels"


@dataclass
class Style:
    """Where a rendering's style comes from: an example picture (models with a style encoder) or a seed."""

    seed: int = 0
    image: np.ndarray | None = None
    image_key: str = ""  # identifies ``image`` for caching (an upload's id)


class LabelRenderer:
    """A SPADE or pix2pixHD model file that turns label id maps into pictures.

    >>> r = LabelRenderer("engine/data/models/spade_street_128.safetensors")  # doctest: +SKIP
    >>> r.render(np.full((128, 128), 7, np.uint8)).shape  # doctest: +SKIP
    (128, 128, 3)
    """

    def __init__(self, path: str, device: str = "cpu"):
        from vidsynth.engine.render import load_generator
        from vidsynth.networks.registry import describe_model

        self.path, self.device = path, device
        self.model = load_generator(path)
        self.spec = describe_model(self.model)
        if not paints_labels(self.spec):
            raise VidsynthError(f"the canvas paints label maps for label-to-image models (SPADE, pix2pixHD); "
                                f"{os.path.basename(path)} is a {self.spec.kind} model reading {self.spec.reads}; "
                                "pick a label-to-image model")
        self.num_classes = int(self.model.config.label.num_classes)
        self._stages: dict[tuple, object] = {}
        self._lock = threading.Lock()  # one rendering at a time per model: torch modules are not re-entrant

    @property
    def has_style_encoder(self) -> bool:
        return bool(self.spec.style)

    def _stage(self, style: Style, shape: tuple[int, int]):
        from vidsynth.engine.generate import ImageGenerator, ImageGeneratorConfig

        key = (style.seed, style.image_key if self.has_style_encoder else "", shape)
        if key not in self._stages:
            if len(self._stages) > 8:
                self._stages.clear()
            image = style.image if self.has_style_encoder else None
            # the model runs at the label map's own size when its architecture allows it (no resampling of
            # the painted labels), else at its trained size with the pipelines' fitting
            multiple = int(self.spec.size_multiple or 16)
            size = tuple(shape) if shape[0] % multiple == 0 and shape[1] % multiple == 0 else None
            config = ImageGeneratorConfig(seed=int(style.seed), device=self.device, size=size)
            self._stages[key] = ImageGenerator(self.model, config, style_image=image)
        return self._stages[key]

    def render(self, labels: np.ndarray, style: Style | None = None) -> np.ndarray:
        """An H×W label id map → H×W×3 uint8 RGB picture (the model runs at its size; the result is resized back)."""
        from fractions import Fraction

        from vidsynth.streams.frame import Frame

        labels = np.asarray(labels)
        if labels.ndim != 2:
            raise VidsynthError(f"expected an H×W label id map, found an array of shape {labels.shape}")
        top = int(labels.max()) if labels.size else 0
        if top >= self.num_classes:
            raise VidsynthError(f"the label map uses class id {top} but the model knows {self.num_classes} classes "
                                f"(0..{self.num_classes - 1}); pick a class from the model's palette")
        frame = Frame(index=0, pts=0, time_base=Fraction(1, 30), image=np.zeros(labels.shape + (3,), np.uint8),
                      conditions={"labels": labels.astype(np.int32)})
        with self._lock:
            return self._stage(style or Style(), labels.shape).process(frame).image


class CanvasSession:
    """The canvas of one page: the label map and picture last shown, so a stroke re-renders only its region.

    Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

        session = CanvasSession(); session.update(renderer, labels, Style(seed=1))
    """

    def __init__(self, radius: int = DEFAULT_RADIUS, feather: int = DEFAULT_FEATHER):
        self.radius, self.feather = radius, feather
        self.labels: np.ndarray | None = None
        self.image: np.ndarray | None = None
        self.key: tuple | None = None

    def update(self, renderer: LabelRenderer, labels: np.ndarray, style: Style) -> tuple[np.ndarray, np.ndarray | None]:
        """The picture for ``labels``; returns it and the changed mask (None after a full rendering)."""
        key = (renderer.path, style.seed, style.image_key, labels.shape)
        full = self.key != key or self.labels is None
        if not full:
            changed = changed_region(self.labels, labels)
            if not changed.any():
                return self.image, changed
        rendered = renderer.render(labels, style)
        if full:
            self.image, changed = rendered, None
        else:
            self.image = paste_region(self.image, rendered, changed, self.radius, self.feather)
        self.labels, self.key = labels.copy(), key
        return self.image, changed


def edit_picture(renderer: LabelRenderer, picture: np.ndarray, original_labels: np.ndarray, edited_labels: np.ndarray,
                 seed: int = 0, radius: int = DEFAULT_RADIUS, feather: int = DEFAULT_FEATHER) -> tuple[np.ndarray, np.ndarray]:
    """Re-render a real picture where its label map was edited and paste back only that region.

    The style is encoded from the picture itself when the model has a style encoder (a seed otherwise).
    Returns the edited picture and the changed-label mask; pixels farther than ``radius`` from a changed
    label equal ``picture``'s.
    """
    picture = np.asarray(picture)
    if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype != np.uint8:
        raise VidsynthError(f"expected an H×W×3 uint8 picture, found {picture.dtype} {picture.shape}")
    if edited_labels.shape != picture.shape[:2]:
        raise VidsynthError(f"the label map is {edited_labels.shape[1]}x{edited_labels.shape[0]} but the picture is "
                            f"{picture.shape[1]}x{picture.shape[0]}; paint the labels at the picture's size")
    changed = changed_region(original_labels, edited_labels)
    if not changed.any():
        return picture.copy(), changed
    style = Style(seed=seed, image=picture, image_key="picture:" + hashlib.sha1(picture.tobytes()).hexdigest())
    rendered = renderer.render(edited_labels, style)
    return paste_region(picture, rendered, changed, radius, feather), changed
