"""A sink that keeps nothing: for benchmarks and dry runs."""

from __future__ import annotations

from .base import Sink, StreamInfo
from .frame import Frame


class NullSink(Sink):
    """Count frames and drop them; ``last`` is the last frame written.

    >>> sink = NullSink()
    >>> sink.write(Frame(index=0, pts=0, time_base=1, image=None)); sink.frames_written
    1
    """

    def __init__(self):
        self.frames_written = 0
        self.last: Frame | None = None
        self.info: StreamInfo | None = None

    def open(self, info: StreamInfo | None = None) -> None:
        self.info = info

    def write(self, frame: Frame) -> None:
        self.frames_written += 1
        self.last = frame
