"""Rendering with a model, and converting imaginaire checkpoints: the ``render`` and ``convert`` jobs.

:func:`render` wires one Pipeline for any of the nine models: the input, the extractors the model
needs (labels decoded from a label video, pose or face landmarks extracted on the fly, depth and
cameras for wc-vid2vid), the generator stage, and the outputs. The jobs of DESIGN.md are this
function with different models: ``dance`` (a pose model and a dancer video or camera), ``street``
(a label video), ``talking-head`` (a face model, a reference photo and a driver), ``translate``
(an image model and any video).

>>> # render("street.safetensors", "seg_video.mkv", output="street.mp4").run()
"""

from __future__ import annotations

import os

import numpy as np

from vidsynth.errors import VidsynthError

from .pipeline import Pipeline
from .presets import guard_run, looks_live, open_input, output_sinks, parse_remap, parse_size, shape_source
from .stage import Stage
from .stages import DepthAndCameras, Resize


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
_SYNTHETIC_CARRIES = {"synthetic:street": ("labels",), "synthetic:puppet": ("pose",)}


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


def render(
    model: str,
    input: str,
    output: str | None = None,
    preview: str | None = None,
    reference: str | None = None,
    style: str | None = None,
    examples: str | None = None,
    depth: str | None = None,
    depth_scale: float | None = None,
    cameras: str | None = None,
    hfov: float = 60.0,
    world_out: str | None = None,
    fit: str = "auto",
    model_size: str | None = None,
    output_size: str = "frame",
    size: str | tuple | None = None,
    fps: float | None = None,
    palette: str | None = None,
    remap: str | dict | None = None,
    label_mode: str = "id",
    a2b: bool = True,
    seed: int = 0,
    device: str = "cpu",
    backend: str = "eager",
    metrics: str | None = None,
    resume: bool = False,
    mode: str = "auto",
    progress: bool = True,
    stop_event=None,
    overwrite: bool = False,
    start: float | None = None,
    duration: float | None = None,
    frames: int | None = None,
    realtime: bool | None = None,
    strict: bool = False,
) -> Pipeline:
    """Render a video (file, folder, camera or URL) through a model; see the module docstring."""
    from vidsynth.networks.registry import describe_model

    from .devices import check_device
    from .generate import generator_stage, reference_frames

    if not (output or preview):
        raise VidsynthError("nothing to write: pass --output FILE_OR_URL and/or --preview")
    guard_run(input, [output], [world_out], overwrite, resume, start, duration, frames,
               more_inputs=(model, reference, style, examples, depth, cameras))
    device = check_device(device)  # a typo or a missing GPU is said before the model loads
    net = load_generator(model)
    spec = describe_model(net)
    size = parse_size(size) if isinstance(size, str) or size is None else tuple(size)
    remap = parse_remap(remap) if isinstance(remap, str) or remap is None else remap
    check_model_inputs(spec, net, reference=reference, style=style, examples=examples, depth=depth,
                       cameras=cameras, a2b=a2b, model_size=model_size)
    source, resize = open_input(input, size, fps)
    live = mode == "live" or (mode == "auto" and looks_live(input))
    source = shape_source(source, start, duration, frames, realtime=realtime, live=live, strict=strict)

    stages: list[Stage] = [Resize(*size)] if resize else []
    stages += conditioning_stages(spec.main, input, palette, remap, label_mode, live)
    if depth is not None:
        stages.append(DepthAndCameras(depth, depth_scale, cameras, hfov))

    options: dict = {"device": device}
    if not spec.is_video:
        options.update(fit="resize" if fit == "auto" else fit, seed=seed, a2b=a2b)
        if model_size is not None:
            options["size"] = parse_size(model_size)[::-1]
        if style is not None:
            options["style_image"] = read_image(style)
        if examples is not None:
            options["examples"] = read_images(examples)
        if backend != "eager":
            options["runner_factory"] = _runner_factory(backend, device)
    else:
        options.update(fit=fit, output=output_size)
        if spec.kind == "world_consistent":
            options["save_world"] = world_out or (_beside(output, ".world.pt") if output else None)
        if reference is not None:
            extract = conditioning_stages(spec.main, static=True)
            for stage in extract:
                stage.open()
            options["references"] = reference_frames(read_images(reference), extract)
    stages.append(generator_stage(net, **options))
    return Pipeline(source, stages, output_sinks(output, preview, resume), mode=mode, metrics_path=metrics, progress=progress, resume=resume,
                    stop_event=stop_event, seed=seed)


def check_model_inputs(spec, net, reference=None, style=None, examples=None, depth=None, cameras=None,
                       a2b: bool = True, model_size=None) -> None:
    """Refuse, before any input opens, what the model's description says it does not take or lacks."""
    what = f"this {net.model_name} model"
    if spec.references and reference is None:
        raise VidsynthError(f"{what} renders a person or face shown by reference pictures: give one or a few with "
                            "--reference PHOTO_OR_FOLDER")
    if reference is not None and not spec.references:
        raise VidsynthError(f"--reference is for models that need reference pictures; {what} takes none: drop "
                            "--reference")
    if spec.examples and examples is None:
        raise VidsynthError(f"{what} translates into a class shown by a few example pictures: give them with "
                            "--examples PHOTO_OR_FOLDER")
    if examples is not None and not spec.examples:
        raise VidsynthError(f"--examples is for models that translate into a class shown by examples; {what} takes "
                            "none: drop --examples")
    if style is not None and not spec.style:
        raise VidsynthError(f"--style is for models with a style code; {what} has none: drop --style")
    if not a2b and not spec.directions:
        raise VidsynthError(f"--b2a is for models that translate between two domains; {what} has one direction: "
                            "drop --b2a")
    if model_size is not None and spec.is_video:
        h, w = spec.size
        raise VidsynthError(f"--model-size sets the size an image model runs at; {what} runs at its trained "
                            f"{w}x{h} only: drop --model-size")
    if depth is not None and spec.kind != "world_consistent":
        raise VidsynthError(f"--depth is for world-consistent models; {what} takes none: drop --depth (and "
                            "--cameras)")
    if cameras is not None and depth is None:
        raise VidsynthError("--cameras goes with --depth (world-consistent rendering): add --depth")


def _beside(output: str, suffix: str) -> str | None:
    """``out/street.mp4`` → ``out/street.world.pt``; None for URLs and previews."""
    if "://" in output or output in ("null", "window", "http"):
        return None
    return os.path.splitext(output)[0] + suffix


def _runner_factory(backend: str, device: str):
    """Build runners lazily for a generator stage, falling back (with a warning) to what is installed."""
    from .backends import make_runner

    def factory(module, inputs):
        return make_runner(module, inputs, backend=backend, device=device, fallback=True)

    return factory


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
