"""The ``dance`` job: a person on camera or in a clip drives a dancer model, in the target's own frame.

A personal model (``vidsynth train --job dance``) carries what inference needs in its model file: the
target's body statistics (ankle rows and heights near and far), the target's full frame size and
background, and the size of the body crop the model was trained on. The job then

1. finds one person in each frame and keeps them (:mod:`vidsynth.engine.extract.person`; ``--person``
   picks another), and extracts their pose on a crop around them;
2. smooths the keypoints (One Euro filter);
3. moves the pose into the target's frame (Everybody Dance Now's global normalisation: the source's
   statistics come from its first seconds, or from a ``--calibrate`` walk in live use);
4. generates the body crop around the moved pose and pastes it into the target's background, so the
   output is the target's full frame at the target's size.

A model without dance metadata (the shipped ``demo:dance`` puppet, an imaginaire pose model) is run on a
crop that follows the person and pasted back into the input frame, without normalisation. A few-shot pose
model takes ``--reference`` photos of the target instead of a personal model.

>>> from vidsynth.engine.jobs.dance import Options, build
>>> options = Options(model="dancer.safetensors", input="clip.mp4", output="out.mp4")

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    build(options).run()
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from vidsynth.errors import VidsynthError

from .options import RunOptions, option

COMMAND = {
    "name": "dance",
    "help": "drive a dancer model with a person on camera or in a clip (vidsynth train --job dance makes one)",
    "description": "One person is chosen and kept in the input (camera:N, a clip or a stream), their pose is "
    "smoothed and normalised into the target's frame, and the dancer model renders the target's full frame "
    "with the dancer in it.",
}

JOB = "dance"


@dataclass(kw_only=True)
class Options(RunOptions):
    """What a dance run takes; the CLI's ``vidsynth dance`` options are these fields."""

    model: str = option(help="a dancer model file (vidsynth train --job dance) or a shipped name (demo:dance)",
                        flags=("--model", "-m"))
    input: str = option(help="who drives the dancer: camera:N, a video file or a stream URL", flags=("--input", "-i"))
    output: str | None = option(None, help="output video file or rtmp/udp URL", flags=("--output", "-o"))
    preview: str | None = option(None, help="show the result live: in a window (default) or a browser page on "
                                 "127.0.0.1", choices=("window", "http"), const="window")
    record: str | None = option(None, help="also record what is shown to this .mp4 file (live use)", metavar="MP4")
    person: int | None = option(None, help="follow the N-th person from the left (0 = leftmost) instead of the "
                                "largest", metavar="N", group="person")
    choose: str = option("largest", help="who is followed when --person is not given", choices=("largest", "central"),
                         group="person")
    calibrate: bool = option(False, help="live use: measure the driver during the first --calibration-seconds "
                             "(walk toward and away from the camera), then keep that scale", group="person")
    calibration_seconds: float = option(5.0, help="how much of the input's start measures the driver's body "
                                        "(files always; live input with --calibrate)", metavar="SECONDS",
                                        group="person")
    normalize: bool = option(True, help="no global pose normalisation (use the driver's pose as it is)",
                             flags=("--no-normalize",), group="person")
    smooth: bool = option(True, help="no One Euro smoothing of the driver's keypoints", flags=("--no-smooth",),
                          group="person")
    reference: str | None = option(None, help="few-shot pose models: a photo or folder of photos of the target",
                                   group="model inputs")
    overlay: bool | None = option(None, help="draw the latency on the output (default: on for live input)")
    size: str | None = option(None, help="frame size (camera capture size; files are resized)", metavar="WxH")
    fps: float | None = option(None, help="capture frame rate of a camera")
    device: str = option("cpu", help="cpu or cuda[:N]", group="backend")
    stop_event: object = option(None, help="a threading.Event that ends the run when set", cli=False)


# -- checking the options ---------------------------------------------------------------------------


@dataclass
class DanceTarget:
    """What a personal dancer model's file says about its target (from :func:`read_target`)."""

    stats: object                 # BodyStats in the target's full frame
    frame_hw: tuple[int, int]     # the target's frame size
    crop_wh: tuple[int, int]      # the body crop the model was trained on, in target pixels
    background: np.ndarray        # H×W×3 uint8, the target's scene without the target


def read_target(path: str) -> DanceTarget | None:
    """The dance metadata of a model file, or None for a model without it (a plain pose model)."""
    from vidsynth.networks.model_file import read_job

    from ..extract.normalize import BodyStats

    job = read_job(path)
    if job is None:
        return None
    if job.job != JOB:
        raise VidsynthError(f"{path} is a model for the {job.job!r} job, not for dance; give a dancer model "
                            "(vidsynth train --job dance) or use vidsynth " + job.job)
    info = job.info
    try:
        frame_hw = (int(info["frame_size"][1]), int(info["frame_size"][0]))
        crop_wh = (int(info["crop"]["width"]), int(info["crop"]["height"]))
        background = job.tensors["background"].numpy().astype(np.uint8)
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise VidsynthError(f"{path} has incomplete dance metadata (missing {exc}); re-create it with "
                            "vidsynth train --job dance") from None
    if background.shape != (*frame_hw, 3):
        raise VidsynthError(f"{path}: the background is {background.shape}, the target frame "
                            f"{frame_hw[1]}x{frame_hw[0]}; re-create the model with vidsynth train --job dance")
    return DanceTarget(BodyStats.from_dict(info.get("body_stats", {})), frame_hw, crop_wh, background)


def _check(options: Options):
    """Every check that needs no model weights and no MediaPipe graph; returns the model path, its description
    and the dance metadata of its file (None for a plain pose model)."""
    from vidsynth.networks.model_file import read_model_info
    from vidsynth.networks.registry import describe_config

    from ..devices import check_device
    from ..presets import PREVIEWS, guard_run, looks_live, parse_size
    from .models import resolve_model

    o = options
    if not (o.output or o.preview or o.record):
        raise VidsynthError("nothing to write: pass --output FILE_OR_URL, --preview and/or --record FILE.mp4")
    if o.preview is not None and o.preview not in PREVIEWS:
        raise VidsynthError(f"expected --preview to be 'window' or 'http', found {o.preview!r}")
    if o.record is not None and not str(o.record).lower().endswith(".mp4"):
        raise VidsynthError(f"--record writes an .mp4 file; found {o.record!r}")
    if o.person is not None and o.person < 0:
        raise VidsynthError(f"--person counts people from the left starting at 0; found {o.person}")
    if not o.calibration_seconds > 0:
        raise VidsynthError(f"expected --calibration-seconds above 0, found {o.calibration_seconds:g}")
    parse_size(o.size)
    text = str(o.input)
    live = looks_live(text)
    if not live and not text.startswith("synthetic:") and not os.path.exists(text):
        raise VidsynthError(f"input {text!r} does not exist; give a video file, camera:N or a stream URL")
    if o.calibrate and not (live or o.mode == "live"):
        raise VidsynthError("--calibrate is for live input (a camera or stream); a file is measured over its first "
                            "--calibration-seconds anyway")
    if o.reference is not None and not os.path.exists(o.reference):
        raise VidsynthError(f"--reference {o.reference!r} does not exist; give a photo or a folder of photos")
    path = resolve_model(o.model)
    if not os.path.isfile(path):
        raise VidsynthError(f"model file {path!r} does not exist; give a dancer model (vidsynth train --job dance "
                            "makes one) or demo:dance")
    guard_run(o.input, [o.output, o.record], [], o.overwrite, o.resume, o.start, o.duration, o.frames,
              more_inputs=(path, o.reference))
    o.device = check_device(o.device)
    info = read_model_info(path)
    spec = describe_config(info["model"], info["config"])
    if spec.reads != "pose" or not spec.is_video:
        raise VidsynthError(f"{path} holds a {info['model']} model that does not read poses; vidsynth dance needs a "
                            "pose model (vidsynth train --job dance, demo:dance, or a few-shot pose model with "
                            "--reference); use vidsynth render for other models")
    if spec.references and o.reference is None:
        raise VidsynthError("this few-shot pose model renders the person shown by reference pictures: pass "
                            "--reference PHOTO_OR_FOLDER")
    if o.reference is not None and not spec.references:
        raise VidsynthError(f"--reference is for few-shot pose models; {path} is a {info['model']} model trained "
                            "on its own target: drop --reference")
    return path, spec, read_target(path)


def build(options: Options):
    """The dance Pipeline; every option and file is checked before the model and MediaPipe load."""
    from vidsynth.streams import open_sink

    from ..extract.person import PersonPoseConfig, PersonPoseExtractor
    from ..generate import generator_stage, reference_frames
    from ..pipeline import Pipeline
    from ..presets import looks_live, open_input, output_sinks, parse_size, shape_source
    from ..render import load_generator, read_images
    from ..stages import Resize
    from .dance_stages import LatencyOverlay, TargetBodyGenerator

    o = options
    path, spec, target = _check(o)
    live = o.mode == "live" or (o.mode == "auto" and looks_live(o.input))
    size = parse_size(o.size)
    net = load_generator(path)
    masks = "person_mask" in spec.main.also_reads  # DensePose-trained models read a stand-in from the mask
    references = None
    if o.reference is not None:
        from ..extract import PersonMaskExtractor, PoseExtractor

        extract = [PoseExtractor(static_image_mode=True)] + ([PersonMaskExtractor()] if masks else [])
        references = reference_frames(read_images(o.reference), extract)
        for stage in extract:
            stage.close()

    source, resize = open_input(o.input, size, o.fps)
    source = shape_source(source, o.start, o.duration, o.frames, realtime=o.realtime, live=live, strict=o.strict)
    stages: list = [Resize(*size)] if resize else []
    stages.append(PersonPoseExtractor(PersonPoseConfig(choose=o.choose, person=o.person)))
    if masks:
        from ..extract import PersonMaskExtractor

        stages.append(PersonMaskExtractor())
    if o.smooth:
        from ..extract import LandmarkSmoother

        stages.append(LandmarkSmoother(keys=("pose",)))
    normalizer = None
    if target is not None and o.normalize:
        from ..extract.normalize import PoseNormalizer

        # files: the source's first seconds; live: a calibration walk, or a running estimate without one
        seconds = o.calibration_seconds if (o.calibrate or not live) else None
        normalizer = PoseNormalizer(target.stats, calibration_seconds=seconds)
        stages.append(normalizer)
    if target is not None:
        stages.append(TargetBodyGenerator(net, target.background, target.crop_wh, o.device))
    else:
        stages.append(generator_stage(net, fit="auto", output="frame", device=o.device,
                                      **({"references": references} if references else {})))
    if o.overlay if o.overlay is not None else live:
        stages.append(LatencyOverlay(normalizer))
    sinks = output_sinks(o.output, o.preview, o.resume)
    if o.record:
        sinks.append(open_sink(o.record))
    seed = 0 if o.seed is None else o.seed
    return Pipeline(source, stages, sinks, mode=o.mode, metrics_path=o.metrics, progress=o.progress,
                    resume=o.resume, stop_event=o.stop_event, seed=seed)


def closing_note(report) -> str | None:
    """What the closing line says about frames without a person (from the run's metrics), or None."""
    from ..extract.person import missing_person_note

    for stage in (report.stages or {}).values():
        counters = stage.get("counters") or {}
        if "no_person" in counters:
            return missing_person_note(counters)
    return None


def run(options: Options) -> int:
    """Run the dance pipeline; after the closing line, how many frames had nobody to follow, with a hint."""
    import sys

    from . import run_pipeline

    pipeline = build(options)
    code = run_pipeline(pipeline, options)
    note = closing_note(pipeline.report) if pipeline.report is not None else None
    if note:
        print(f"vidsynth: {note}; the dancer holds its last pose there (crop the input closer to the person, or "
              "pick another with --person N, 0 = leftmost)", file=sys.stderr)
    return code
