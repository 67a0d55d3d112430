"""FFmpeg's manners for sources: a frame range (``-ss``/``-t``/``-frames``) and real-time pacing (``-re``).

:class:`FrameRange` keeps the frames from ``start`` seconds on, for ``duration`` seconds or ``frames``
frames, numbered again from 0 (so a resume counts the frames it wrote). :class:`RealtimePacer` hands
out a file's frames no faster than their timestamps, as a camera would, so a live pipeline fed by a
file processes it instead of dropping almost every frame as stale. :func:`shape_source` applies both.

>>> from vidsynth.streams.synthetic.clip import SyntheticClip
>>> clip = FrameRange(SyntheticClip(n_frames=90, fps=30), start=1.0, frames=10)
>>> [f.index for f in clip][:3], clip.open().frame_count
([0, 1, 2], 10)
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Iterator

from vidsynth.errors import VidsynthError

from .base import Source, StreamInfo
from .frame import Frame

MAX_WAIT_S = 1.0  # the longest pause between two paced frames (a gap in a variable-rate file)


def check_range(start: float | None = None, duration: float | None = None, frames: int | None = None) -> None:
    """Refuse a frame range that cannot be meant (negative start, empty duration), before anything opens.

    >>> check_range(start=-1)
    Traceback (most recent call last):
    ...
    vidsynth.errors.VidsynthError: expected --start to be 0 seconds or more, found -1
    """
    if start is not None and not (math.isfinite(start) and start >= 0):
        raise VidsynthError(f"expected --start to be 0 seconds or more, found {start:g}")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise VidsynthError(f"expected --duration to be more than 0 seconds, found {duration:g}")
    if frames is not None and int(frames) < 1:
        raise VidsynthError(f"expected --frames to be 1 or more, found {frames}")


class FrameRange(Source):
    """The frames of ``source`` from ``start`` seconds (after its first frame) for ``duration`` s or ``frames``.

    Frames keep their timestamps (a sink shifts its output to start at 0, audio with it) and are
    numbered from 0. A range that holds no frame is an error naming the input's length.
    """

    def __init__(self, source: Source, start: float | None = None, duration: float | None = None,
                 frames: int | None = None):
        check_range(start, duration, frames)
        self.source = source
        self.start = float(start or 0.0)
        self.duration = duration
        self.frames = None if frames is None else int(frames)
        self._skip = 0
        self._info: StreamInfo | None = None

    def open(self) -> StreamInfo:
        info = self.source.open()
        count = info.frame_count
        if count is not None and info.rate:
            count = max(0, count - int(round(self.start * float(info.rate))))
            if self.duration is not None:
                count = min(count, int(math.ceil(self.duration * float(info.rate))))
        if self.frames is not None:
            count = self.frames if count is None else min(count, self.frames)
        self._info = replace(info, frame_count=count)
        return self._info

    def seek(self, index: int) -> None:
        self._skip = max(0, int(index))

    def __iter__(self) -> Iterator[Frame]:
        first_time = None
        kept = 0
        last_seen = None
        for frame in self.source:
            if first_time is None:
                first_time = frame.time
            offset = frame.time - first_time
            last_seen = offset
            if offset < self.start - 1e-9:
                continue
            if self.duration is not None and offset >= self.start + self.duration - 1e-9:
                break
            if self.frames is not None and kept >= self.frames:
                break
            index = kept
            kept += 1
            if index < self._skip:
                continue
            yield replace(frame, index=index, discontinuity=frame.discontinuity or index == self._skip)
        if kept == 0:
            length = "no frames" if last_seen is None else f"{last_seen:.2f} s of frames"
            raise VidsynthError(
                f"expected frames from --start {self.start:g} s on, found none: the input has {length}; "
                "choose an earlier --start"
            )

    def close(self) -> None:
        self.source.close()


class RealtimePacer(Source):
    """Hand out the frames of ``source`` at the pace of their timestamps, like a camera (FFmpeg's ``-re``).

    Each frame's ``capture_ns`` is the moment it is handed out, so live latency counts from there.
    """

    def __init__(self, source: Source, clock=time.monotonic, sleep=time.sleep):
        self.source = source
        self._clock, self._sleep = clock, sleep

    def open(self) -> StreamInfo:
        return replace(self.source.open(), live=True)

    def seek(self, index: int) -> None:
        self.source.seek(index)

    def __iter__(self) -> Iterator[Frame]:
        started = first = None
        previous = None
        for frame in self.source:
            now = self._clock()
            if started is None:
                started, first = now, frame.time
            else:
                due = started + (frame.time - first)
                wait = due - now
                if wait > MAX_WAIT_S or (previous is not None and frame.time < previous):
                    # a long gap or a jump back in the file's time: carry on from here, not from its start
                    started, first = now, frame.time
                elif wait > 0:
                    self._sleep(wait)
            previous = frame.time
            frame.capture_ns = time.monotonic_ns()
            yield frame

    def close(self) -> None:
        self.source.close()


def shape_source(source: Source, start: float | None = None, duration: float | None = None,
                 frames: int | None = None, realtime: bool | None = None, live: bool = False,
                 strict: bool = False) -> Source:
    """``source`` with a frame range, paced as a camera when ``realtime`` (range first, then pace).

    ``realtime=None`` paces a file, folder or synthetic input in a ``live`` run (it stands in for a
    camera) and nothing else; cameras and streams keep their own pace. ``strict`` makes a video file
    stop at its first corrupt packet.
    """
    if strict and hasattr(source, "strict"):
        source.strict = True
    if realtime is None:
        realtime = live and type(source).__name__ not in ("CameraSource", "UrlSource")
    if start or duration is not None or frames is not None:
        source = FrameRange(source, start=start, duration=duration, frames=frames)
    if realtime:
        source = RealtimePacer(source)
    return source
