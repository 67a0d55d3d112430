"""The ``render`` job: a video (file, folder, camera, stream or synthetic world) through any model.

The model describes what it reads (labels, pose, face or the picture) and what it needs (references,
a style picture, examples, depth); the job extracts that conditioning on the fly and wires the
generator stage. The jobs of DESIGN.md (dance, street, talking head, translate) are this with a model.

>>> from vidsynth.engine.jobs.render import Options, build
>>> options = Options(model="demo:street", input="synthetic:street?frames=8", output="street.mp4")
>>> # build(options).run()
"""

from __future__ import annotations

from dataclasses import dataclass

from .options import RunOptions, option

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
    """The render's Pipeline; every option is checked before the model loads."""
    from vidsynth.engine.render import render

    from .models import resolve_model

    fields = {k: getattr(options, k) for k in options.__dataclass_fields__ if k not in ("model", "input",
                                                                                          "input_timeout", "precision")}
    fields["seed"] = 0 if options.seed is None else options.seed
    return render(resolve_model(options.model), options.input, **fields)
