"""Presets: short functions that wire the jobs of vidsynth into a :class:`Pipeline`.

The CLI is a thin layer over these; a script can call them too and ``.run()`` the result.

>>> from vidsynth.engine.presets import extract
>>> # extract("dance.mp4", what="pose", output="pose.mp4").run()
"""

from __future__ import annotations

import json
import math
import os
import re
from fractions import Fraction
from typing import Iterator

import numpy as np

from vidsynth.errors import VidsynthError
from vidsynth.streams.synthetic.photo_pan import PhotoPanClip  # noqa: F401  (importers of the old home)

from .pipeline import Pipeline
from .stage import Stage
from .stages import Resize, SideBySide  # noqa: F401  (importers of the old home)

WHATS = ("pose", "face", "mask", "flow", "labels")
PREVIEWS = ("window", "http")


# -- parsing the options users type ------------------------------------------------------------------


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"640x480"`` → ``(640, 480)``; None stays None.

    >>> parse_size("64x48")
    (64, 48)
    """
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[x×X]\s*(\d+)\s*", str(text))
    if not match or int(match[1]) < 2 or int(match[2]) < 2:
        raise VidsynthError(f"expected a size as WIDTHxHEIGHT (e.g. 640x480), found {text!r}")
    width, height = int(match[1]), int(match[2])
    if width % 2 or height % 2:
        raise VidsynthError(f"expected an even width and height (H.264 with 4:2:0 needs them), found {width}x{height}")
    return width, height


def parse_remap(text: str | None) -> dict[int, int] | None:
    """Label id remapping from ``"7:0,8:1"`` or a JSON file/object ``{"7": 0}``.

    >>> parse_remap("7:0, 8:1")
    {7: 0, 8: 1}
    """
    if text is None:
        return None
    raw = text
    if os.path.isfile(text):
        with open(text) as f:
            raw = f.read()
    try:
        if raw.strip().startswith("{"):
            pairs = json.loads(raw).items()
        else:
            pairs = [item.split(":") for item in raw.split(",") if item.strip()]
        return {int(k): int(v) for k, v in pairs}
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise VidsynthError(
            f"expected --remap as FROM:TO pairs ('7:0,8:1') or a JSON object/file ({{\"7\": 0}}), found {text!r} ({exc})"
        ) from None


# -- the presets ---------------------------------------------------------------------------------------


def extraction_stages(what: str, palette: str | None = None, remap: dict | None = None,
                      label_mode: str = "id") -> list[Stage]:
    """The extractor and the drawing stage for ``what`` (pose, face, mask, flow, labels).

    For labels, ``label_mode`` says how the input codes them: ``"id"`` (pixel values are class ids) or
    ``"color"`` (pixels are palette colours).
    """
    if what not in WHATS:
        raise VidsynthError(f"expected --what to be one of {', '.join(WHATS)}, found {what!r}")
    if what == "pose":
        from .draw import DrawPose
        from .extract import PoseExtractor

        return [PoseExtractor(), DrawPose()]
    if what == "face":
        from .draw import DrawFace
        from .extract import FaceExtractor

        return [FaceExtractor(), DrawFace()]
    if what == "mask":
        from .draw import DrawMask
        from .extract import PersonMaskExtractor

        return [PersonMaskExtractor(), DrawMask()]
    if what == "flow":
        from .draw import DrawFlow
        from .extract import FlowExtractor

        return [FlowExtractor(), DrawFlow()]
    from .draw import DrawLabels
    from .extract.labels import LabelDecoder

    if label_mode not in ("id", "color"):
        raise VidsynthError(f"expected --label-mode 'id' or 'color', found {label_mode!r}")
    decoder = LabelDecoder(palette=palette or "cityscapes", remap=remap, mode=label_mode)
    return [decoder, DrawLabels(palette=palette or "cityscapes")]


def looks_live(spec) -> bool:
    """Cameras and network streams are live; files, folders and synthetic worlds are not.

    >>> looks_live("camera:0"), looks_live("dance.mp4")
    (True, False)
    """
    text = str(spec)
    return text == "camera" or text.startswith("camera:") or "://" in text


def open_input(spec, size, fps):
    """Open the input; a camera captures at ``size``/``fps`` itself, other inputs are resized by a stage."""
    from vidsynth.streams import open_source

    text = str(spec)
    if text == "camera" or text.startswith("camera:"):
        options = {}
        if size is not None:
            options.update(width=size[0], height=size[1])
        if fps is not None:
            options["fps"] = fps
        return open_source(spec, **options), False
    if fps is not None:
        raise VidsynthError(f"--fps sets a camera's capture rate; {text!r} is not a camera, so drop --fps")
    return open_source(spec), size is not None


def guard_run(input, outputs, folders, overwrite, resume, start, duration, frames, more_inputs=()) -> None:
    """Refuse a bad frame range, an output that is an input, an existing output without ``overwrite`` and an
    output another process writes: now, before any model or MediaPipe graph loads."""
    from vidsynth.streams.outputs import guard_outputs
    from vidsynth.streams.timing import check_range

    check_range(start, duration, frames)
    inputs = [input, *more_inputs]
    guard_outputs(outputs, inputs, overwrite=overwrite, resume=resume)
    guard_outputs(folders, inputs, overwrite=True, lock=False)  # dataset roots gather many runs


def shape_source(source, start, duration, frames, realtime, live, strict):
    """The input with its frame range and real-time pacing (see :mod:`vidsynth.streams.timing`)."""
    from vidsynth.streams.timing import shape_source as shape

    return shape(source, start, duration, frames, realtime=realtime, live=live, strict=strict)


def output_sinks(output: str | None, preview: str | None, resume: bool = False) -> list:
    """The sinks of a job: the ``output`` file or URL (continued with ``resume``) and the live ``preview``."""
    from vidsynth.streams import open_sink

    if preview is not None and preview not in PREVIEWS:
        raise VidsynthError(f"expected --preview to be 'window' or 'http', found {preview!r}")
    sinks = [open_sink(output, resume=True) if resume else open_sink(output)] if output else []
    return sinks + ([open_sink(preview)] if preview else [])


def extract(
    input: str,
    what: str | None = "pose",
    output: str | None = None,
    preview: str | None = None,
    palette: str | None = None,
    remap: str | dict | None = None,
    label_mode: str = "id",
    sidecars: str | None = None,
    dataset_out: str | None = None,
    size: str | tuple | None = None,
    fps: float | None = None,
    metrics: str | None = None,
    seed: int | None = None,
    resume: bool = False,
    mode: str = "auto",
    progress: bool = True,
    stop_event=None,
    smooth: bool | None = None,
    overwrite: bool = False,
    start: float | None = None,
    duration: float | None = None,
    frames: int | None = None,
    realtime: bool | None = None,
    strict: bool = False,
) -> Pipeline:
    """Extract conditioning from a video, camera or stream and write it as video, sidecars or a dataset.

    ``what`` picks the conditioning (pose, face, mask, flow, labels); ``output`` is a file or URL;
    ``preview`` shows it live (``"window"`` or ``"http"``); ``sidecars`` writes keypoint JSON per frame;
    ``dataset_out`` writes imaginaire's raw training layout. At least one of them is needed.
    ``smooth`` filters pose and face landmarks over time (One Euro); by default only live input is smoothed.
    ``overwrite``, ``start``/``duration``/``frames``, ``realtime`` and ``strict`` are FFmpeg's ``-y``,
    ``-ss``/``-t``/``-frames``, ``-re`` and stopping at the first corrupt packet.

    >>> # extract("dance.mp4", what="pose", output="pose.mp4").run()
    """
    if what is not None and what not in WHATS:
        raise VidsynthError(f"expected --what to be one of {', '.join(WHATS)}, found {what!r}")
    if not (output or preview or sidecars or dataset_out):
        raise VidsynthError(
            "nothing to write: pass --output FILE_OR_URL, --preview, --sidecars DIR or --dataset-out DIR"
        )
    if resume and not output:
        raise VidsynthError("--resume continues an --output file; pass --output")
    if resume and os.path.splitext(str(output))[1].lower() not in (".mp4", ".mov", ".m4v"):
        raise VidsynthError(
            f"--resume continues an .mp4 output (written in closed segments); found {output!r}; "
            "write to an .mp4 or run without --resume"
        )
    size = parse_size(size) if isinstance(size, str) or size is None else tuple(size)
    remap = parse_remap(remap) if isinstance(remap, str) or remap is None else remap
    if palette is not None and what != "labels":
        raise VidsynthError(f"--palette colours label maps; it needs --what labels, found --what {what}")
    if palette is not None:
        from .extract.labels import load_palette

        load_palette(palette)  # a palette that does not parse fails now, before the input is opened
    if fps is not None and not (0 < float(fps) <= 1000):
        raise VidsynthError(f"expected --fps between 0 and 1000, found {fps}")
    guard_run(input, [output], [sidecars, dataset_out], overwrite, resume, start, duration, frames)

    stages = _extract_stages(input, what, palette, remap, label_mode, sidecars, dataset_out, bool(output or preview))
    live = mode == "live" or (mode == "auto" and looks_live(input))
    from .resume import resumable_output

    if what in ("pose", "face") and not live and resumable_output(output):
        from .extract._common import detect_per_frame

        # MediaPipe's tracking cannot be resumed: detect on every frame and smooth with our (resumable) filter
        if detect_per_frame(stages) and smooth is None:
            smooth = True
    if what in ("pose", "face") and (smooth if smooth is not None else live):
        from .extract.smoothing import LandmarkSmoother

        stages.insert(1, LandmarkSmoother(keys=(what,)))  # right after the extractor: jitter-free maps and sidecars
    source, resize = open_input(input, size, fps)
    source = shape_source(source, start, duration, frames, realtime=realtime, live=live, strict=strict)
    if resize:
        stages.insert(0, Resize(*size))
    return Pipeline(source, stages, output_sinks(output, preview, resume) or None, mode=mode, metrics_path=metrics, progress=progress,
                    resume=resume, stop_event=stop_event, seed=seed)


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


def _extract_stages(input, what, palette, remap, label_mode, sidecars, dataset_out, draw_output) -> list[Stage]:
    """Extractors, then the writers of sidecars and datasets (they see the original image), then drawing."""
    from .dataset_writer import DatasetWriter

    draw = None
    if what is not None:
        *extractors, draw = extraction_stages(what, palette=palette, remap=remap, label_mode=label_mode)
        keys = [CONDITION_KEYS[what]]
    elif dataset_out:
        extractors = [s for w in ("pose", "face", "mask", "flow") for s in extraction_stages(w)[:-1]]
        keys = ["pose", "face", "person_mask", "flow"]
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
