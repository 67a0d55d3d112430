"""What every job that runs a model shares: loading a model file, reading pictures, and the stages that
extract what a model reads (:func:`conditioning_stages`); converting imaginaire checkpoints; and
:func:`render`, the ``render`` job (:mod:`vidsynth.engine.jobs.render`) in one Python call.

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    render("street.safetensors", "seg_video.mkv", output="street.mp4").run()
"""

from __future__ import annotations

import os

import numpy as np

from vidsynth.errors import VidsynthError

from .pipeline import Pipeline
from .stage import Stage


def load_generator(path: str):
    """A vidsynth model file → the model (eval mode). imaginaire ``.pt`` files must be converted first."""
    if not os.path.exists(path):
        raise VidsynthError(f"model file {path!r} does not exist; give a .safetensors model (vidsynth convert makes "
                            "one from an imaginaire checkpoint)")
    if path.endswith((".pt", ".pth", ".ckpt")):
        raise VidsynthError(f"{path!r} looks like an imaginaire/PyTorch checkpoint; convert it first: "
                            f"vidsynth convert {path} --config CONFIG.yaml --out model.safetensors")
    from vidsynth.networks.model_file import load_model

    return load_model(path).eval()


def read_image(path: str) -> np.ndarray:
    """An image file → H×W×3 uint8 RGB, or a clear error."""
    import cv2

    if not os.path.isfile(path):
        raise VidsynthError(f"image {path!r} does not exist; give the path of a .jpg or .png picture")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise VidsynthError(f"could not read {path!r} as an image; expected a .jpg or .png picture")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_images(path: str) -> list[np.ndarray]:
    """One image, or every image of a folder (sorted)."""
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")))
        if not names:
            raise VidsynthError(f"folder {path!r} holds no .jpg/.png pictures")
        return [read_image(os.path.join(path, n)) for n in names]
    return [read_image(path)]


# what the synthetic worlds put into each frame themselves
_SYNTHETIC_CARRIES = {"synthetic:street": ("labels",), "synthetic:puppet": ("pose",), "synthetic:face": ("face",)}


def conditioning_stages(condition, input_spec: str = "", palette: str | None = None, remap=None,
                        label_mode: str = "id", live: bool = False, static: bool = False) -> list[Stage]:
    """The stages that put what a model's ``condition`` (a :class:`~vidsynth.networks.spec.Condition`,
    e.g. ``describe_model(net).main``) reads into each frame's conditions.

    ``live`` adds landmark smoothing; ``static`` treats every frame as an unrelated photo (references).
    """
    reads = condition.reads
    world = str(input_spec).partition("?")[0]
    if reads in _SYNTHETIC_CARRIES.get(world, ()):  # the world carries this condition (and depth, cameras)
        if reads == "pose":
            from .extract import PoseFromArrays

            return [PoseFromArrays()]
        if reads == "face":
            from .extract.face_track import FaceFromArrays

            return [FaceFromArrays()]
        return []
    if reads == "labels":
        from .extract.labels import LabelDecoder

        return [LabelDecoder(palette=palette or "cityscapes", remap=remap, mode=label_mode)]
    if reads == "pose":
        from .extract import PersonMaskExtractor, PoseExtractor

        stages = [PoseExtractor(static_image_mode=static)]
        if "person_mask" in condition.also_reads:
            stages.append(PersonMaskExtractor())
    elif reads == "face":
        from .extract import FaceExtractor

        stages = [FaceExtractor(static_image_mode=static)]
    else:
        return []
    if live:
        from .extract import LandmarkSmoother

        stages.append(LandmarkSmoother())
    return stages


def render(model: str, input: str, **options) -> Pipeline:
    """``vidsynth render`` from Python in one call: the keyword arguments are the fields of
    :class:`vidsynth.engine.jobs.render.Options`.

    Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

        render("street.safetensors", "seg_video.mkv", output="street.mp4").run()
    """
    from .jobs import render as job

    return job.build(job.Options(model=model, input=input, **options))


def convert(checkpoint: str, config: str, out: str, ema: bool = True) -> dict:
    """Convert an imaginaire checkpoint (+ its YAML config) into a vidsynth model file; returns its info."""
    from vidsynth.networks.imaginaire import convert_imaginaire
    from vidsynth.networks.model_file import read_model_info, save_model

    for path, what in ((checkpoint, "checkpoint"), (config, "config")):
        if not os.path.isfile(path):
            raise VidsynthError(f"imaginaire {what} {path!r} does not exist")
    model = convert_imaginaire(checkpoint, config, ema=ema)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_model(model, out)
    return read_model_info(out)
