"""What every job shares: parsing the options users type, opening the input, guarding and opening the
outputs. The jobs themselves are in :mod:`vidsynth.engine.jobs`.

>>> parse_size("640x480"), looks_live("camera:0")
((640, 480), True)
"""

from __future__ import annotations

import json
import os
import re

from vidsynth.errors import VidsynthError

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
