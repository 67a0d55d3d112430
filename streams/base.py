"""What every source and sink is: the small interfaces the pipeline drives."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterator

from .frame import Frame


@dataclass
class StreamInfo:
    """What a source knows about its stream before the first frame.

    ``rate`` is the nominal frame rate (frames per second); ``time_base`` the unit of the frames' pts.
    ``frame_count`` is None when unknown (live input, some containers). ``live`` sources are read
    latest-frame-wins; files are read losslessly. ``audio`` is the path of a file whose audio a sink
    may copy, or None.
    """

    width: int
    height: int
    rate: Fraction
    time_base: Fraction
    frame_count: int | None = None
    live: bool = False
    audio: str | None = None
    extra: dict = field(default_factory=dict)


class Source:
    """A stream of frames. ``open()`` returns its :class:`StreamInfo`; iterating yields frames in order."""

    def open(self) -> StreamInfo:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def seek(self, index: int) -> None:
        """Start the next iteration at frame ``index`` (offline resume). Sources that cannot seek skip."""
        raise NotImplementedError(f"{type(self).__name__} cannot seek")

    def close(self) -> None:
        pass

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()


class Sink:
    """Where frames go. ``open(info)`` before the first ``write``; ``close()`` flushes and finalises."""

    def open(self, info: StreamInfo) -> None:
        pass

    def write(self, frame: Frame) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass
