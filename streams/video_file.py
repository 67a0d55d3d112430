"""Frames from a video file (any container and codec FFmpeg reads), with the container's exact timestamps."""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from vidsynth.errors import VidsynthError, require

from .base import Source, StreamInfo
from .frame import Frame

log = logging.getLogger(__name__)

ITU709, ITU601 = 1, 5  # H.273 matrix codes (also PyAV's Colorspace values)
# swscale flags: bicubic chroma upsampling at full horizontal resolution, accurate rounding
# (about +2 dB against the default on small frames; see tests/streams)
UPSAMPLE_CHROMA = 4 | 8192 | 262144


RAW_FORMATS = {"gray": "gray", "gray16le": "gray16le", "gray16be": "gray16le", "gbrp16le": "rgb48le", "rgb48le": "rgb48le"}


def decoded_image(vframe, rotation: int = 0, raw: bool = False) -> np.ndarray:
    """A decoded PyAV frame as an RGB uint8 image (or, with ``raw``, grey/16-bit kept as stored), upright.

    Untagged YUV is read as BT.709 from 720 lines up and BT.601 below, as players do.
    """
    if raw and vframe.format.name in RAW_FORMATS:
        image = vframe.to_ndarray(format=RAW_FORMATS[vframe.format.name])
    else:
        matrix = vframe.colorspace
        if matrix not in (ITU709, ITU601, 4, 7, 9):
            matrix = ITU709 if vframe.height >= 720 else ITU601
        image = vframe.to_ndarray(
            format="rgb24", src_colorspace=matrix, src_color_range=vframe.color_range or 1, interpolation=UPSAMPLE_CHROMA
        )
    if rotation:
        image = np.ascontiguousarray(np.rot90(image, k=rotation // 90))
    return image


class VideoFileSource(Source):
    """Decode a video file with PyAV; frames carry the stream's pts and time base unchanged.

    Variable frame rate is kept exactly (each frame's own pts). Rotation metadata (the display matrix a
    phone writes) is applied to the image, so portrait recordings come out upright. ``frame_count``
    is known when the container says so. ``StreamInfo.audio`` is the file's path when it has audio.

    A truncated or corrupt file: with ``strict=True`` (the default) iteration raises
    :class:`VidsynthError` naming the last good frame once decoding fails, after yielding the frames
    before it; with ``strict=False`` it logs a warning and ends there.
    ``seek(index)`` decodes from the start and skips to ``index`` (exact for any frame rate).
    ``raw=True`` returns grey and 16-bit video (label maps, depth in FFV1) as stored: H×W uint8/uint16,
    or H×W×3 uint16 for 16-bit RGB.

    >>> src = VideoFileSource("clip.mp4")  # doctest: +SKIP
    >>> info = src.open()  # doctest: +SKIP
    >>> for frame in src: ...  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, strict: bool = True, threads: int = 0, raw: bool = False):
        self.path = Path(path)
        self.raw = raw
        self.strict = strict
        self.threads = threads
        self.rotation = 0  # degrees counter-clockwise applied to every image
        self._container = None
        self._start = 0
        self._info: StreamInfo | None = None
        self._expected_end: float | None = None

    def open(self) -> StreamInfo:
        av = require("av", "reading video files")
        if not self.path.exists():
            raise VidsynthError(f"expected a video file at {self.path}, found nothing there; check the path")
        if self.path.is_dir():
            raise VidsynthError(
                f"expected a video file at {self.path}, found a folder; pass the folder as an image-folder input "
                "(open_source picks ImageFolderSource for folders)"
            )
        if self.path.stat().st_size == 0:
            raise VidsynthError(f"expected a video file at {self.path}, found an empty file (0 bytes); re-export it")
        container = self._open_container(av)
        try:
            if not container.streams.video:
                kinds = ", ".join(sorted({s.type for s in container.streams}))
                found = f"only {kinds} streams" if kinds else "no streams at all (a video with zero frames)"
                raise VidsynthError(f"expected a video stream with frames in {self.path}, found {found}; pass a non-empty video")
            stream = container.streams.video[0]
            first = self._first_frame(container, stream)
            self._expected_end = self._announced_end(container, stream)
            has_audio = bool(container.streams.audio)
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(30)
            count = stream.frames or None
            time_base = Fraction(stream.time_base)
            codec = stream.codec_context.name
        finally:
            container.close()
        self.rotation = int(first.rotation or 0) % 360 if hasattr(first, "rotation") else 0
        width, height = first.width, first.height
        if self.rotation in (90, 270):
            width, height = height, width
        self._info = StreamInfo(
            width=width,
            height=height,
            rate=Fraction(rate),
            time_base=time_base,
            frame_count=count,
            live=False,
            audio=str(self.path) if has_audio else None,
            extra={"codec": codec, "rotation": self.rotation, "path": str(self.path)},
        )
        return self._info

    @staticmethod
    def _announced_end(container, stream) -> float | None:
        """Seconds of video the header announces, when it is trustworthy (used to spot a cut file)."""
        if stream.duration:
            return float(stream.duration * stream.time_base + (stream.start_time or 0) * stream.time_base)
        if container.duration and len(container.streams) == 1 and container.format.name != "mpegts":
            return container.duration / 1_000_000  # the whole file's length, which here is the video's
        return None

    def _open_container(self, av):
        try:
            return av.open(str(self.path))
        except av.EOFError:
            raise VidsynthError(
                f"expected frames in {self.path}, found a file that ends before its first frame (zero frames or cut "
                "short); pass a complete, non-empty video"
            ) from None
        except av.FFmpegError as exc:
            raise VidsynthError(
                f"expected a video file FFmpeg can read at {self.path}, found something it cannot ({exc.strerror or exc}); "
                "check the file is a complete video (not text, an image or a partial download)"
            ) from None

    def _first_frame(self, container, stream):
        """Decode one frame now, so an unreadable or empty file fails at open(), not mid-pipeline."""
        av = require("av")
        try:
            for frame in container.decode(stream):
                return frame
        except av.FFmpegError as exc:
            raise VidsynthError(
                f"expected decodable video in {self.path}, found data FFmpeg cannot decode ({exc}); "
                "the file is corrupt or truncated at its start: re-export it"
            ) from None
        raise VidsynthError(f"expected frames in {self.path}, found a video stream with zero frames; pass a non-empty video")

    def seek(self, index: int) -> None:
        self._start = max(0, int(index))

    def __iter__(self) -> Iterator[Frame]:
        av = require("av", "reading video files")
        if self._info is None:
            self.open()
        container = self._open_container(av)
        self._container = container
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.threads
        time_base = Fraction(stream.time_base)
        default_step = max(1, round(1 / (self._info.rate * time_base)))
        index = 0
        last_pts = None
        try:
            frames = container.decode(stream)
            while True:
                try:
                    vframe = next(frames)
                except StopIteration:
                    break
                except av.FFmpegError as exc:
                    self._stopped_early(index, f"decoding failed after frame {index - 1} ({exc})")
                    return
                pts = vframe.pts
                if pts is None:  # raw streams without timestamps: count frames at the nominal rate
                    pts = 0 if last_pts is None else last_pts + default_step
                last_pts = pts
                if index >= self._start:
                    yield Frame(
                        index=index,
                        pts=int(pts),
                        time_base=time_base,
                        image=decoded_image(vframe, self.rotation, self.raw),
                        duration=int(vframe.duration) if vframe.duration else None,
                        discontinuity=index == self._start,
                    )
                index += 1
            expected = self._info.frame_count
            if expected and index < expected:
                self._stopped_early(index, f"the file announces {expected} frames but only {index} could be read")
            elif not expected and self._expected_end and last_pts is not None:
                got = float(last_pts * time_base) + 2 / float(self._info.rate)
                if got < self._expected_end - 0.1:
                    self._stopped_early(
                        index, f"the file announces {self._expected_end:.2f} s of video but it ends at {got:.2f} s"
                    )
        finally:
            container.close()
            self._container = None

    def _stopped_early(self, decoded: int, why: str) -> None:
        message = f"{self.path} is truncated or corrupt: {why}; re-export or re-download the file"
        if self.strict:
            raise VidsynthError(message)
        log.warning("%s (kept the %d frames before it)", message, decoded)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
