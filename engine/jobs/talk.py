"""The ``talk`` job: a personal talking head driven by a video or a camera.

``vidsynth talk --model me.safetensors --driver clip.mp4 --output out.mp4``: face landmarks from the
driver (MediaPipe, or what a synthetic driver carries), a stable face crop, relative retargeting onto the
target's neutral face (``--retarget absolute``: the driver's landmarks as they are, for a driver who is
the target), generation, and a feathered paste into the target's background frame from the model file.
The driver's audio goes to the output. Frames without a usable face are counted (the run's metrics, a
warning past 5 %).

>>> from vidsynth.engine.jobs.talk import Options, build
>>> options = Options(model="demo:talk", driver="synthetic:face?frames=50&identity=3", output="talk.mp4")

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    build(options).run()
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .options import RunOptions, option

COMMAND = {
    "name": "talk",
    "help": "drive a personal talking-head model (vidsynth train --job talk) with a video or a camera",
    "description": "Make the person of a talking-head model say what the driver says: face tracking with a "
    "stable crop, relative retargeting of the driver's expression onto the target's face, generation, and a "
    "feathered paste into the target's frame, with the driver's audio.",
}


@dataclass(kw_only=True)
class Options(RunOptions):
    """What ``vidsynth talk`` takes."""

    model: str = option(help="a talking-head model file (vidsynth train --job talk) or demo:talk",
                        flags=("--model", "-m"))
    driver: str = option(help="the driving video file, camera:N, URL or synthetic:face", flags=("--driver", "-d"))
    output: str | None = option(None, help="output video file (.mp4) or rtmp/udp URL", flags=("--output", "-o"))
    preview: str | None = option(None, help="show the result live: in a window or a browser page on 127.0.0.1",
                                 choices=("window", "http"))
    retarget: str = option("relative", help="relative: the driver's expression on the target's face; absolute: the "
                           "driver's landmarks as they are (a driver who is the target)",
                           choices=("relative", "absolute"))
    reference: str | None = option(None, help="few-shot face models (fs-vid2vid): a photo of the target, or a folder "
                                   "of photos; the output is the first photo with the face generated in it")
    device: str = option("cpu", help="cpu or cuda[:N]")


def _check(options: Options) -> str:
    from vidsynth.errors import VidsynthError

    from .models import resolve_model

    path = resolve_model(options.model)
    if not os.path.isfile(path):
        raise VidsynthError(f"model file {path!r} does not exist; train one with vidsynth train --job talk --target "
                            "me.mp4 --out me.safetensors, or use demo:talk")
    driver = str(options.driver)
    if not driver.startswith(("camera", "synthetic:")) and "://" not in driver and not os.path.exists(driver):
        raise VidsynthError(f"the driver {driver!r} does not exist; give a video file, camera:N or a stream URL")
    if not options.output and not options.preview:
        raise VidsynthError("expected --output and/or --preview; found neither, so nothing would be seen")
    if options.reference is not None and not os.path.exists(options.reference):
        raise VidsynthError(f"the reference {options.reference!r} does not exist; give a photo of the target or a "
                            "folder of photos")
    return path


def _target_from_model(path: str):
    """(background, neutral landmarks, crop convention) from a personal model's job metadata."""
    from vidsynth.errors import VidsynthError
    from vidsynth.networks.model_file import read_job

    from ..extract.face_track import FaceCropConvention

    job = read_job(path)
    if job is None or job.job != "talk":
        found = "no job metadata" if job is None else f"a {job.job!r} model"
        raise VidsynthError(f"{path!r} is not a talking-head model ({found}); train one with vidsynth train --job "
                            "talk, or give a few-shot face model (fs-vid2vid) with --reference")
    for key in ("background", "neutral_landmarks"):
        if key not in job.tensors:
            raise VidsynthError(f"{path!r} lacks the target's {key.replace('_', ' ')}; re-create it with vidsynth "
                                "train --job talk")
    return (job.tensors["background"].numpy(), job.tensors["neutral_landmarks"].numpy(),
            FaceCropConvention.from_dict(job.info.get("crop")))


def reference_faces(reference: str) -> list:
    """The reference photos and their landmarks: [(image, (68, 3) landmarks)], every photo with a face."""
    from vidsynth.errors import VidsynthError

    from ..extract import FaceExtractor
    from ..render import read_images
    from ..generate import reference_frames

    extractor = FaceExtractor(static_image_mode=True)
    extractor.open()
    try:
        frames = reference_frames(read_images(reference), [extractor])
    finally:
        extractor.close()
    faces = []
    for i, f in enumerate(frames):
        face = f.conditions["face"]
        if face.is_empty:
            raise VidsynthError(f"no face found in reference picture {i + 1} of {reference!r}; give photos where the "
                                "face is visible, facing the camera")
        faces.append((f.image, face.points.copy()))
    return faces


def build(options: Options):
    """The talking head's Pipeline; the options and files are checked before the model loads."""
    from vidsynth.errors import VidsynthError
    from ..extract.face_track import FaceCropConvention, FaceFromArrays, FaceTracker
    from ..pipeline import Pipeline
    from ..presets import looks_live, open_input, output_sinks
    from ..render import load_generator
    from ..retarget import RelativeRetarget
    from ..talking_head import TalkingHeadGenerator
    from .models import describe_model_file

    path = _check(options)
    few_shot = describe_model_file(path)[0].references  # what the model needs, from its metadata
    references = None
    if few_shot:
        if options.reference is None:
            raise VidsynthError(f"{path!r} is a few-shot face model: give the target's photo(s) with --reference")
        convention = FaceCropConvention()
        faces = reference_faces(options.reference)
        background, neutral = faces[0]
    else:
        if options.reference is not None:
            raise VidsynthError(f"--reference is for few-shot face models (fs-vid2vid); {path!r} is a personal model "
                                "that already knows its target: drop --reference")
        background, neutral, convention = _target_from_model(path)
    source, _ = open_input(options.driver, None, None)
    live = looks_live(options.driver) if options.mode == "auto" else options.mode == "live"
    model = load_generator(path)
    size = tuple(model.config.output_size)
    if few_shot:
        references = TalkingHeadGenerator.encode_references(model, faces, convention)
    stages = []
    if str(options.driver).startswith("synthetic:face"):
        stages.append(FaceFromArrays())
    else:
        from ..extract import FaceExtractor

        stages.append(FaceExtractor())
        if live:
            from ..extract import LandmarkSmoother

            stages.append(LandmarkSmoother())
    stages.append(FaceTracker(size, convention))
    if options.retarget == "relative":
        stages.append(RelativeRetarget(neutral))
    stages.append(TalkingHeadGenerator(model, background, neutral, convention, options.retarget, options.device,
                                       references=references))
    return Pipeline(source, stages, output_sinks(options.output, options.preview, options.resume),
                    mode=options.mode, metrics_path=options.metrics, progress=options.progress, resume=options.resume,
                    seed=0 if options.seed is None else options.seed)


WARN_MISSING = 0.05  # past this fraction of frames without a usable face, the closing line warns


def closing_note(report) -> tuple[str | None, float]:
    """The closing line's words about frames without a usable face (from the run's metrics)."""
    from ..talking_head import missing_face_note

    for stage in (report.stages or {}).values():
        counters = stage.get("counters") or {}
        if "no_face" in counters and "frames" in counters:
            return missing_face_note(counters)
    return None, 0.0


def run(options: Options) -> int:
    """Run the talking head; the closing line says how many frames had no usable face."""
    import sys

    from . import run_pipeline

    pipeline = build(options)
    code = run_pipeline(pipeline, options)
    report = pipeline.report
    if report is not None:
        note, fraction = closing_note(report)
        line = f"talk: {report.frames_out} frames written" + (f" to {options.output}" if options.output else "")
        if note:
            line += f"; {note}"
        print(line, file=sys.stderr)
        if fraction > WARN_MISSING:
            print("vidsynth: warning: the driver's face was missing or too small in "
                  f"{100 * fraction:.1f}% of the frames (the last picture was held); hint: face the camera in even "
                  "light, and come closer (the face should be at least a tenth of the frame's height)",
                  file=sys.stderr)
    return code


def demo_panel(options, output: str, model: str = "demo:talk", driver_identity: int = 3):
    """The demo's talking head: another synthetic person drives the shipped face model (relative
    retargeting); the video shows generated | driver | the retargeted landmarks."""
    from vidsynth.networks.model_file import read_job
    from vidsynth.streams import open_sink, open_source

    from ..draw import DrawFace
    from ..extract.face_track import FaceCropConvention, FaceFromArrays, FaceTracker
    from ..pipeline import Pipeline
    from ..render import load_generator
    from ..retarget import RelativeRetarget
    from ..stages import KeepImage, SideBySide
    from ..talking_head import TalkingHeadGenerator
    from .models import resolve_model

    path = resolve_model(model)
    job = read_job(path)
    net = load_generator(path)
    background = job.tensors["background"].numpy()
    neutral = job.tensors["neutral_landmarks"].numpy()
    convention = FaceCropConvention.from_dict(job.info.get("crop"))
    h, w = background.shape[:2]
    source = open_source(f"synthetic:face?width={w}&height={h}&frames={options.frames}&identity={driver_identity}"
                         f"&background={driver_identity}&seed={driver_identity}")
    stages = [KeepImage("driver"), FaceFromArrays(), FaceTracker(tuple(net.config.output_size), convention),
              RelativeRetarget(neutral), DrawFace(target="condition"),
              TalkingHeadGenerator(net, background, neutral, convention, "relative"),
              SideBySide(["driver", "face_map"])]
    return Pipeline(source, stages, open_sink(output), mode="offline", progress=options.progress,
                    metrics_path=options.metrics, seed=0)
