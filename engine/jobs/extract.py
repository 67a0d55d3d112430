"""The ``extract`` job: pose, face landmarks, person masks, optical flow or labels from any input.

Writes what it extracts as a video, a live preview, keypoint JSON sidecars or a training folder in
imaginaire's raw layout.

>>> from vidsynth.engine.jobs.extract import Options, build
>>> options = Options(input="dance.mp4", what="pose", output="pose.mp4")

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    build(options).run()
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from vidsynth.errors import VidsynthError

from .options import RunOptions, option

COMMAND = {
    "name": "extract",
    "help": "extract pose, face landmarks, person masks, optical flow or labels from a video, camera or stream",
    "description": "Extract conditioning from a video file, a camera (camera:0) or a stream URL and write it as a "
    "video, a live preview, keypoint JSON sidecars or a training dataset.",
}

WHATS = ("pose", "face", "mask", "flow", "labels")


@dataclass(kw_only=True)
class Options(RunOptions):
    """What an extraction takes; the CLI's ``vidsynth extract`` options are these fields."""

    input: str = option(help="video file, image folder, camera:N, rtsp/http/udp URL or synthetic:NAME",
                        flags=("--input", "-i"))
    what: str | None = option(None, help="what to extract (default: pose; with --dataset-out alone, everything the "
                              "dataset needs)", choices=WHATS, flags=("--what", "-w"))
    output: str | None = option(None, help="output video file (.mp4 H.264; .mkv FFV1 lossless), image folder or "
                                "rtmp/udp URL", flags=("--output", "-o"))
    preview: str | None = option(None, help="show the result live: in a window (default) or a browser page served "
                                 "on 127.0.0.1", choices=("window", "http"), const="window")
    palette: str | None = option(None, help="label palette for --what labels: cityscapes, cocostuff or a JSON file",
                                 group="labels")
    label_mode: str = option("id", help="how the input codes labels: pixel values are ids (default) or palette "
                             "colours", choices=("id", "color"), group="labels")
    remap: str | None = option(None, help="label id remapping: FROM:TO pairs ('7:0,8:1') or a JSON file",
                               group="labels")
    sidecars: str | None = option(None, help="also write the keypoints of every frame as JSON (OpenPose / dlib-68)",
                                  metavar="DIR")
    dataset_out: str | None = option(None, help="write a training folder in imaginaire's raw layout", metavar="DIR")
    size: str | None = option(None, help="frame size (camera capture size; files are resized)", metavar="WxH")
    fps: float | None = option(None, help="capture frame rate of a camera")
    smooth: bool | None = option(None, help="smooth pose/face landmarks over time (One Euro filter); the default "
                                 "for live input (--no-smooth: never)")
    stop_event: object = option(None, help="a threading.Event that ends the run when set", cli=False)


def build(options: Options):
    """The extraction's Pipeline; every option and path is checked before MediaPipe loads."""
    from vidsynth.engine.pipeline import Pipeline
    from vidsynth.engine.presets import (guard_run, looks_live, open_input, output_sinks, parse_remap, parse_size,
                                         shape_source)
    from vidsynth.engine.resume import resumable_output
    from vidsynth.engine.stages import Resize

    o = options
    what = o.what if o.what is not None or o.dataset_out else "pose"
    if not (o.output or o.preview or o.sidecars or o.dataset_out):
        raise VidsynthError("nothing to write: pass --output FILE_OR_URL, --preview, --sidecars DIR or --dataset-out DIR")
    if o.resume and not o.output:
        raise VidsynthError("--resume continues an --output file; pass --output")
    if o.resume and os.path.splitext(str(o.output))[1].lower() not in (".mp4", ".mov", ".m4v"):
        raise VidsynthError(f"--resume continues an .mp4 output (written in closed segments); found {o.output!r}; "
                            "write to an .mp4 or run without --resume")
    size, remap = parse_size(o.size), parse_remap(o.remap)
    if o.palette is not None and what != "labels":
        raise VidsynthError(f"--palette colours label maps; it needs --what labels, found --what {what}")
    if o.palette is not None:
        from vidsynth.engine.extract.labels import load_palette

        load_palette(o.palette)  # a palette that does not parse fails now, before the input is opened
    if o.fps is not None and not (0 < float(o.fps) <= 1000):
        raise VidsynthError(f"expected --fps between 0 and 1000, found {o.fps}")
    guard_run(o.input, [o.output], [o.sidecars, o.dataset_out], o.overwrite, o.resume, o.start, o.duration, o.frames)

    stages = _extract_stages(o.input, what, o.palette, remap, o.label_mode, o.sidecars, o.dataset_out,
                             bool(o.output or o.preview))
    live = o.mode == "live" or (o.mode == "auto" and looks_live(o.input))
    smooth = o.smooth
    if what in ("pose", "face") and not live and resumable_output(o.output):
        from vidsynth.engine.extract._common import detect_per_frame

        # MediaPipe's tracking cannot be resumed: detect on every frame and smooth with our (resumable) filter
        if detect_per_frame(stages) and smooth is None:
            smooth = True
    if what in ("pose", "face") and (smooth if smooth is not None else live):
        from vidsynth.engine.extract.smoothing import LandmarkSmoother

        stages.insert(1, LandmarkSmoother(keys=(what,)))  # right after the extractor: jitter-free maps and sidecars
    source, resize = open_input(o.input, size, o.fps)
    source = shape_source(source, o.start, o.duration, o.frames, realtime=o.realtime, live=live, strict=o.strict)
    if resize:
        stages.insert(0, Resize(*size))
    return Pipeline(source, stages, output_sinks(o.output, o.preview, o.resume) or None, mode=o.mode,
                    metrics_path=o.metrics, progress=o.progress, resume=o.resume, stop_event=o.stop_event, seed=o.seed)


def extraction_stages(what: str, palette: str | None = None, remap: dict | None = None,
                      label_mode: str = "id") -> list:
    """The extractor and the drawing stage for ``what`` (pose, face, mask, flow, labels).

    For labels, ``label_mode`` says how the input codes them: ``"id"`` (pixel values are class ids) or
    ``"color"`` (pixels are palette colours).
    """
    if what not in WHATS:
        raise VidsynthError(f"expected --what to be one of {', '.join(WHATS)}, found {what!r}")
    if what == "pose":
        from vidsynth.engine.draw import DrawPose
        from vidsynth.engine.extract import PoseExtractor

        return [PoseExtractor(), DrawPose()]
    if what == "face":
        from vidsynth.engine.draw import DrawFace
        from vidsynth.engine.extract import FaceExtractor

        return [FaceExtractor(), DrawFace()]
    if what == "mask":
        from vidsynth.engine.draw import DrawMask
        from vidsynth.engine.extract import PersonMaskExtractor

        return [PersonMaskExtractor(), DrawMask()]
    if what == "flow":
        from vidsynth.engine.draw import DrawFlow
        from vidsynth.engine.extract import FlowExtractor

        return [FlowExtractor(), DrawFlow()]
    from vidsynth.engine.draw import DrawLabels
    from vidsynth.engine.extract.labels import LabelDecoder

    if label_mode not in ("id", "color"):
        raise VidsynthError(f"expected --label-mode 'id' or 'color', found {label_mode!r}")
    decoder = LabelDecoder(palette=palette or "cityscapes", remap=remap, mode=label_mode)
    return [decoder, DrawLabels(palette=palette or "cityscapes")]




# what --what extracts -> the condition key it leaves on the frame
CONDITION_KEYS = {"pose": "pose", "face": "face", "mask": "person_mask", "flow": "flow", "labels": "labels"}


def sequence_name(spec: str) -> str:
    """A folder name for the sequence an input gives: the file's stem, ``camera0``, the URL's host...

    >>> sequence_name("clips/dance 01.mp4")
    'dance_01'
    """
    text = str(spec).rstrip("/")
    if "://" in text:
        text = text.split("://", 1)[1].split("/", 1)[0]
    elif text.startswith(("camera", "synthetic:")):
        text = text.split("?", 1)[0].replace(":", "")
    else:
        text = os.path.splitext(os.path.basename(text))[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "seq0000"


def _extract_stages(input, what, palette, remap, label_mode, sidecars, dataset_out, draw_output) -> list:
    """Extractors, then the writers of sidecars and datasets (they see the original image), then drawing."""
    from vidsynth.engine.dataset_writer import DatasetWriter

    draw = None
    if what is not None:
        *extractors, draw = extraction_stages(what, palette=palette, remap=remap, label_mode=label_mode)
        keys = [CONDITION_KEYS[what]]
    elif dataset_out:  # what the pose and face models read; flow (large) only when asked: --what flow
        extractors = [s for w in ("pose", "face", "mask") for s in extraction_stages(w)[:-1]]
        keys = ["pose", "face", "person_mask"]
    else:
        raise VidsynthError("expected --what (pose, face, mask, flow or labels); found none")
    if draw_output and draw is None:
        raise VidsynthError("--output and --preview show one conditioning: add --what (pose, face, mask, flow, labels)")
    if sidecars and what is None:
        raise VidsynthError("--sidecars writes the conditioning --what names; add --what")
    sequence = sequence_name(input)
    stages = list(extractors)
    if sidecars:
        stages.append(DatasetWriter(root=sidecars, sequence=sequence, what=tuple(keys)))
    if dataset_out:
        stages.append(DatasetWriter(root=dataset_out, sequence=sequence, what=("image", *keys)))
    if draw_output:
        stages.append(draw)
    return stages
