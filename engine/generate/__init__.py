"""Generator stages: the nine models as pipeline stages, and :func:`generator_stage` to pick the right one."""

from __future__ import annotations

from .image import ImageGenerator, ImageGeneratorConfig
from .inputs import InputEncoder, input_kind
from .video import VideoGenerator, VideoGeneratorConfig, reference_frames
from .world import WorldConsistentGenerator

__all__ = ["ImageGenerator", "ImageGeneratorConfig", "VideoGenerator", "VideoGeneratorConfig",
           "WorldConsistentGenerator", "InputEncoder", "input_kind", "reference_frames", "generator_stage"]


def generator_stage(model, **options):
    """The stage that runs ``model``: per-frame for image models, stepping for video models.

    ``options`` are the fields of the stage's config (``fit``, ``size``, ``seed``, ``device``, ...) plus
    ``style_image``/``examples`` (image models), ``references`` (fs-vid2vid) and ``world`` (wc-vid2vid).
    """
    name = model.model_name
    if name in ("pix2pixhd", "spade", "unit", "munit", "funit", "coco_funit"):
        extra = {k: options.pop(k) for k in ("style_image", "examples", "runner_factory") if k in options}
        return ImageGenerator(model, ImageGeneratorConfig(**options), **extra)
    if name == "wc_vid2vid":
        world, save = options.pop("world", None), options.pop("save_world", None)
        options.setdefault("fit", "resize")
        return WorldConsistentGenerator(model, VideoGeneratorConfig(**options), world=world, save_world=save)
    references = options.pop("references", None)
    return VideoGenerator(model, VideoGeneratorConfig(**options), references=references)
