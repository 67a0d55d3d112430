"""Lossless video: FFV1 in Matroska (or AVI), for conditioning that must survive a round trip."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidsynth.errors import VidsynthError, require

from .base import Sink, StreamInfo
from .convert import OutputClock, as_fraction, as_numpy
from .frame import Frame
from .outputs import claim_output, finish_output, partial_path, refuse_input_as_output, release_output

# (dtype, channels) of the first frame -> (PyAV input format, FFV1 pixel format)
LAYOUTS = {
    ("uint8", 3): ("rgb24", "bgr0"),
    ("uint8", 1): ("gray", "gray"),
    ("uint16", 1): ("gray16le", "gray16le"),
    ("uint16", 3): ("rgb48le", "rgb48le"),
}


class LosslessVideoSink(Sink):
    """Write frames bit-exactly with FFV1: 8-bit RGB, 8-bit grey (label maps), 16-bit grey (depth) or 16-bit RGB.

    The layout is taken from the first frame. Read it back with ``VideoFileSource(path, raw=True)`` for
    grey and 16-bit data. Matroska keeps time in milliseconds, so pts are exact to 1 ms. The file is
    written as ``labels.partial.mkv`` and renamed when it closes; the output is locked meanwhile.

    >>> sink = LosslessVideoSink("labels.mkv")  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, threads: int = 0):
        self.path = Path(path)
        self.threads = threads
        self.frames_written = 0
        self._container = None
        self._stream = None
        self._layout = None
        self._info: StreamInfo | None = None
        self._clock = OutputClock()

    def open(self, info: StreamInfo) -> None:
        self._av = require("av", "writing lossless video")
        self._info = info
        refuse_input_as_output(self.path, info)
        claim_output(self.path)

    def _start(self, image: np.ndarray, frame: Frame) -> None:
        av = self._av
        channels = 1 if image.ndim == 2 else image.shape[2]
        key = (str(image.dtype), channels)
        if key not in LAYOUTS:
            raise VidsynthError(
                f"expected uint8 or uint16 images with 1 or 3 channels for {self.path}, found {image.dtype} with "
                f"{channels} channels; convert the frames first"
            )
        self._layout = key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fmt = "avi" if self.path.suffix.lower() == ".avi" else "matroska"
        try:
            self._container = av.open(str(partial_path(self.path)), "w", format=fmt)
        except (av.FFmpegError, OSError) as exc:
            raise VidsynthError(f"cannot write {self.path}: {exc}; check the folder is writable") from None
        rate = self._info.rate if self._info is not None and self._info.rate else Fraction(30)
        stream = self._container.add_stream("ffv1", rate=rate)
        stream.width, stream.height = image.shape[1], image.shape[0]
        stream.pix_fmt = LAYOUTS[key][1]
        stream.time_base = as_fraction(self._info.time_base) if self._info is not None else 1 / rate
        stream.codec_context.thread_count = self.threads
        stream.codec_context.options = {"level": "3", "slicecrc": "1"}
        self._stream = stream

    def write(self, frame: Frame) -> None:
        image = as_numpy(frame.image)
        if image.dtype == np.bool_:
            image = image.astype(np.uint8) * 255
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if self._container is None:
            self._start(image, frame)
        channels = 1 if image.ndim == 2 else image.shape[2]
        if (str(image.dtype), channels) != self._layout or image.shape[:2] != (self._stream.height, self._stream.width):
            raise VidsynthError(
                f"expected every frame of {self.path} to be {self._stream.width}×{self._stream.height} "
                f"{self._layout[0]} with {self._layout[1]} channel(s), found {image.shape} {image.dtype} at frame "
                f"{frame.index}"
            )
        vframe = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=LAYOUTS[self._layout][0])
        vframe.pts = self._clock.pts(frame, self._stream.time_base)
        vframe.time_base = self._stream.time_base
        vframe = vframe.reformat(format=LAYOUTS[self._layout][1])
        self._container.mux(self._stream.encode(vframe))
        self.frames_written += 1

    def close(self) -> None:
        if self._container is None:
            release_output(self.path)
            return
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()
            self._container = None
        finish_output(partial_path(self.path), self.path)
