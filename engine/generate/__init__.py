"""Generator stages: any registered model as a pipeline stage, and :func:`generator_stage` to pick the right one."""

from __future__ import annotations

from .image import ImageGenerator, ImageGeneratorConfig
from .inputs import InputEncoder, input_kind
from .video import VideoGenerator, VideoGeneratorConfig, reference_frames
from .world import WorldConsistentGenerator

__all__ = ["ImageGenerator", "ImageGeneratorConfig", "VideoGenerator", "VideoGeneratorConfig",
           "WorldConsistentGenerator", "InputEncoder", "input_kind", "reference_frames", "generator_stage"]


def generator_stage(model, **options):
    """The stage that runs ``model``, chosen by its description (``model.describe().kind``): per frame for
    image models, stepping for video models, with the world inside for world-consistent ones.

    ``options`` are the fields of the stage's config (``fit``, ``size``, ``seed``, ``device``, ...) plus
    ``style_image``/``examples``/``runner_factory`` (image models), ``references`` (models that need them)
    and ``world``/``save_world`` (world-consistent models).
    """
    from vidsynth.networks.registry import describe_model

    spec = describe_model(model)
    if not spec.is_video:
        extra = {k: options.pop(k) for k in ("style_image", "examples", "runner_factory") if k in options}
        return ImageGenerator(model, ImageGeneratorConfig(**options), **extra)
    if spec.kind == "world_consistent":
        world, save = options.pop("world", None), options.pop("save_world", None)
        options.setdefault("fit", "resize")
        return WorldConsistentGenerator(model, VideoGeneratorConfig(**options), world=world, save_world=save)
    references = options.pop("references", None)
    return VideoGenerator(model, VideoGeneratorConfig(**options), references=references)
