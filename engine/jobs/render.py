"""The ``render`` job: a video (file, folder, camera, stream or synthetic world) through any model.

The model describes what it reads (labels, pose, face or the picture) and what it needs (references,
a style picture, examples, depth); the job extracts that conditioning on the fly and wires the
generator stage. The jobs of DESIGN.md (dance, street, talking head, translate) are this with a model.

>>> from vidsynth.engine.jobs.render import Options, build
>>> options = Options(model="demo:street", input="synthetic:street?frames=8", output="street.mp4")

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    build(options).run()
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from vidsynth.errors import VidsynthError

from .options import RunOptions, option

log = logging.getLogger(__name__)

COMMAND = {
    "name": "render",
    "help": "render a video through a model (a model file or a shipped name such as demo:street)",
    "description": "Render a video file, image folder, camera or stream through a vidsynth model file; the "
    "conditioning the model reads (labels, pose, face) is extracted on the fly.",
}

FITS = ("auto", "resize", "crop", "letterbox", "subject")
BACKENDS = ("eager", "compile", "onnx", "tensorrt", "auto")
PRECISIONS = ("fp32", "fp16", "bf16", "auto")


@dataclass(kw_only=True)
class Options(RunOptions):
    """What a render takes; the CLI's ``vidsynth render`` options are these fields."""

    model: str = option(help="a vidsynth .safetensors model (vidsynth convert makes one) or a shipped name "
                        "(demo:street; vidsynth info lists them)", flags=("--model", "-m"))
    input: str = option(help="video file, image folder, camera:N, URL or synthetic:NAME", flags=("--input", "-i"))
    output: str | None = option(None, help="output video file, folder or rtmp/udp URL", flags=("--output", "-o"))
    preview: str | None = option(None, help="show the result live: in a window (default) or a browser page on "
                                 "127.0.0.1", choices=("window", "http"), const="window")
    reference: str | None = option(None, help="models that need references (few-shot video models): a photo or "
                                   "a folder of photos of the target", group="model inputs")
    style: str | None = option(None, help="models with a style code: a picture in the style to render", group="model inputs")
    examples: str | None = option(None, help="models that need examples (few-shot translation): a photo or "
                                  "folder of example pictures of the target class", group="model inputs")
    depth: str | None = option(None, help="world-consistent models: depth maps (folder, .npy or FFV1 video)",
                               group="model inputs")
    depth_scale: float | None = option(None, help="world-consistent models: metres per depth unit",
                                       group="model inputs")
    cameras: str | None = option(None, help="world-consistent models: camera poses JSON (estimated by odometry "
                                 "when absent)", group="model inputs")
    hfov: float = option(60.0, help="world-consistent models: horizontal field of view in degrees",
                         group="model inputs")
    world_out: str | None = option(None, help="world-consistent models: where to save the world (default beside "
                                   "--output)", group="model inputs")
    fit: str = option("auto", help="how frames meet the model's size (auto: a subject crop for pose/face models, "
                      "else resize)", choices=FITS, group="fitting")
    model_size: str | None = option(None, help="the size an image model runs at", metavar="WxH", group="fitting")
    output_size: str = option("frame", help="write at the input's size (frame) or the model's (model)",
                              choices=("frame", "model"), group="fitting")
    size: str | None = option(None, help="frame size (camera capture size; files are resized)", metavar="WxH")
    fps: float | None = option(None, help="capture frame rate of a camera")
    palette: str | None = option(None, help="label palette: cityscapes, cocostuff or a JSON file", group="labels")
    remap: str | None = option(None, help="label id remapping: FROM:TO pairs or a JSON file", group="labels")
    label_mode: str = option("id", help="labels coded as ids or palette colours", choices=("id", "color"),
                             group="labels")
    a2b: bool = option(True, help="two-domain translation models: translate domain B to A",
                       flags=("--b2a",))
    device: str = option("cpu", help="cpu or cuda[:N]", group="backend")
    backend: str = option("eager", help="how the network runs (falls back to eager with a warning when "
                          "unavailable)", choices=BACKENDS, group="backend")
    precision: str = option("fp32", help="the precision the network computes in (fp16 on CUDA only)",
                            choices=PRECISIONS, group="backend")
    stop_event: object = option(None, help="a threading.Event that ends the run when set", cli=False)


def build(options: Options):
    """The render's Pipeline. Options and files are checked first, then the model's description against
    what was given (references, style, examples, depth), and only then are the inputs opened and the
    extractors built."""
    from vidsynth.engine import render as models
    from vidsynth.engine.devices import check_device
    from vidsynth.engine.extract import LandmarkSmoother
    from vidsynth.engine.extract._common import detect_per_frame
    from vidsynth.engine.generate import generator_stage, reference_frames
    from vidsynth.engine.pipeline import Pipeline
    from vidsynth.engine.presets import (guard_run, looks_live, open_input, output_sinks, parse_remap, parse_size,
                                         shape_source)
    from vidsynth.engine.resume import resumable_output
    from vidsynth.engine.stages import DepthAndCameras, Resize
    from vidsynth.networks.registry import describe_model

    from .models import resolve_model

    o = options
    if not (o.output or o.preview):
        raise VidsynthError("nothing to write: pass --output FILE_OR_URL and/or --preview")
    model = resolve_model(o.model)
    guard_run(o.input, [o.output], [o.world_out], o.overwrite, o.resume, o.start, o.duration, o.frames,
              more_inputs=(model, o.reference, o.style, o.examples, o.depth, o.cameras))
    size, run_size = parse_size(o.size), parse_size(o.model_size)
    remap = parse_remap(o.remap)
    device = check_device(o.device)  # a typo or a missing GPU is said before the model loads
    net = models.load_generator(model)
    spec = describe_model(net)
    check_model_inputs(spec, net, o)
    seed = 0 if o.seed is None else o.seed

    generator: dict = {"device": device}
    if spec.is_video:
        generator.update(fit=o.fit, output=o.output_size)
        if spec.kind == "world_consistent":
            generator["save_world"] = o.world_out or (_beside(o.output, ".world.pt") if o.output else None)
        generator.update(backend=o.backend, precision=o.precision)
    else:
        generator.update(fit="resize" if o.fit == "auto" else o.fit, seed=seed, a2b=o.a2b)
        if run_size is not None:
            generator["size"] = run_size[::-1]
        if o.style is not None:
            generator["style_image"] = models.read_image(o.style)
        if o.examples is not None:
            generator["examples"] = models.read_images(o.examples)
        if o.backend != "eager" or o.precision != "fp32":
            generator["runner_factory"] = _runner_factory(o.backend, device, o.precision)
    if o.reference is not None:
        pictures = models.read_images(o.reference)
        extract = models.conditioning_stages(spec.main, static=True)
        for stage in extract:
            stage.open()
        generator["references"] = reference_frames(pictures, extract)

    source, resize = open_input(o.input, size, o.fps)
    live = o.mode == "live" or (o.mode == "auto" and looks_live(o.input))
    source = shape_source(source, o.start, o.duration, o.frames, realtime=o.realtime, live=live, strict=o.strict)
    stages = [Resize(*size)] if resize else []
    conditioning = models.conditioning_stages(spec.main, o.input, o.palette, remap, o.label_mode, live)
    if not live and resumable_output(o.output) and detect_per_frame(conditioning):
        conditioning.append(LandmarkSmoother())  # MediaPipe's tracking cannot be resumed; our smoother can
    stages += conditioning
    if o.depth is not None:
        stages.append(DepthAndCameras(o.depth, o.depth_scale, o.cameras, o.hfov))
    stages.append(generator_stage(net, **generator))
    return Pipeline(source, stages, output_sinks(o.output, o.preview, o.resume), mode=o.mode, metrics_path=o.metrics,
                    progress=o.progress, resume=o.resume, stop_event=o.stop_event, seed=seed)


def check_model_inputs(spec, net, o: Options) -> None:
    """Refuse, before any input opens, what the model's description says it does not take or lacks."""
    what = f"this {net.model_name} model"
    if spec.references and o.reference is None:
        raise VidsynthError(f"{what} renders a person or face shown by reference pictures: give one or a few with "
                            "--reference PHOTO_OR_FOLDER")
    if o.reference is not None and not spec.references:
        raise VidsynthError(f"--reference is for models that need reference pictures; {what} takes none: drop "
                            "--reference")
    if spec.examples and o.examples is None:
        raise VidsynthError(f"{what} translates into a class shown by a few example pictures: give them with "
                            "--examples PHOTO_OR_FOLDER")
    if o.examples is not None and not spec.examples:
        raise VidsynthError(f"--examples is for models that translate into a class shown by examples; {what} takes "
                            "none: drop --examples")
    if o.style is not None and not spec.style:
        raise VidsynthError(f"--style is for models with a style code; {what} has none: drop --style")
    if not o.a2b and not spec.directions:
        raise VidsynthError(f"--b2a is for models that translate between two domains; {what} has one direction: "
                            "drop --b2a")
    if o.model_size is not None and spec.is_video:
        h, w = spec.size
        raise VidsynthError(f"--model-size sets the size an image model runs at; {what} runs at its trained "
                            f"{w}x{h} only: drop --model-size")
    if o.depth is not None and spec.kind != "world_consistent":
        raise VidsynthError(f"--depth is for world-consistent models; {what} takes none: drop --depth (and "
                            "--cameras)")
    if o.cameras is not None and o.depth is None:
        raise VidsynthError("--cameras goes with --depth (world-consistent rendering): add --depth")


def _beside(output: str, suffix: str) -> str | None:
    """``out/street.mp4`` → ``out/street.world.pt``; None for URLs and previews."""
    if "://" in output or output in ("null", "window", "http"):
        return None
    return os.path.splitext(output)[0] + suffix


def _runner_factory(backend: str, device: str, precision: str):
    """Build runners lazily for a generator stage, falling back (with a warning) to what is installed."""
    from vidsynth.engine.backends import make_runner

    def factory(module, inputs):
        return make_runner(module, inputs, backend=backend, device=device, precision=precision, fallback=True)

    return factory
