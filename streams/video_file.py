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


DEMUX_RETRIES = 20  # consecutive demuxer errors after which the rest of a file is given up as cut

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

    A corrupt packet in the middle, as FFmpeg plays it: the frames that decode are kept, the ones that
    do not are counted and named (``lost``: ``(frame number, seconds)``; one warning at the end) and
    reading goes on; with ``strict=True`` iteration stops there with a :class:`VidsynthError` saying the
    same. A truncated file (fewer frames than it announces, or a container that cannot be read on)
    raises after yielding the frames before the cut, unless ``partial=True`` (a warning, then the end).
    ``seek(index)`` decodes from the start and skips to ``index`` (exact for any frame rate).
    ``raw=True`` returns grey and 16-bit video (label maps, depth in FFV1) as stored: H×W uint8/uint16,
    or H×W×3 uint16 for 16-bit RGB.

    >>> src = VideoFileSource("clip.mp4")  # doctest: +SKIP
    >>> info = src.open()  # doctest: +SKIP
    >>> for frame in src: ...  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, strict: bool = False, threads: int = 0, raw: bool = False,
                 partial: bool = False):
        self.path = Path(path)
        self.raw = raw
        self.strict = strict
        self.partial = partial
        self.lost: list[tuple[int, float]] = []
        self.counters: dict = {}
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
            return av.open(str(self.path), metadata_errors="replace")  # damaged tags must not stop the video
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
        failure = None
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.FFmpegError as exc:  # a bad packet at the start: the frames after it may decode
                    failure = exc
                    continue
                if frames:
                    return frames[0]
        except (av.FFmpegError, IndexError) as exc:
            failure = exc
        if failure is not None:
            raise VidsynthError(
                f"expected decodable video in {self.path}, found data FFmpeg cannot decode ({failure}); "
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
        # frame threads report a bad packet a few packets late; strict mode names the very frame, so slices
        stream.thread_type = "SLICE" if self.strict else "AUTO"
        stream.codec_context.thread_count = self.threads
        time_base = Fraction(stream.time_base)
        default_step = max(1, round(1 / (self._info.rate * time_base)))
        self.lost = []
        sent: list[int] = []  # pts of every packet given to the decoder
        came_out: set[int] = set()  # pts of every frame it gave back
        index = 0
        last_pts = None
        demux_errors = 0
        try:
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                    demux_errors = 0
                except StopIteration:
                    break
                except (av.FFmpegError, IndexError) as exc:  # IndexError: PyAV meets a stream the header never announced
                    # a damaged stretch of the container: read on from where the demuxer stopped, a few times
                    demux_errors += 1
                    if demux_errors > DEMUX_RETRIES:
                        self._stopped_early(index, f"the container cannot be read after frame {index - 1} ({exc})")
                        return
                    packets = container.demux(stream)
                    continue
                if packet.size and packet.pts is not None:
                    sent.append(packet.pts)
                try:
                    decoded = packet.decode()
                except av.FFmpegError as exc:
                    if self.strict:
                        self._stop_at(packet, sent, time_base, exc)
                    continue
                for vframe in decoded:
                    if vframe.pts is not None:
                        came_out.add(vframe.pts)
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
            self._report_lost(sent, came_out, time_base, index)
            expected = self._info.frame_count
            if expected and index + len(self.lost) < expected:
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

    @staticmethod
    def _place(pts: int, sent: list[int], time_base: Fraction) -> tuple[int, float]:
        """A packet's frame number (its place in presentation order) and time from the first frame."""
        ordered = sorted(sent)
        return ordered.index(pts) if pts in ordered else len(ordered), round(float((pts - ordered[0]) * time_base), 3)

    def _stop_at(self, packet, sent: list[int], time_base: Fraction, exc) -> None:
        """``strict``: a packet that does not decode ends the reading, naming its frame."""
        number, seconds = self._place(packet.pts, sent, time_base) if packet.pts is not None else (len(sent), None)
        self.lost = [(number, seconds)]
        self.counters["frames_lost"] = 1
        raise VidsynthError(f"{self._lost_message(self.lost)} (a corrupt packet: {exc.strerror or exc}); stopped "
                            "there as --strict asks (without it the frame is skipped)")

    def _lost_message(self, lost: list[tuple[int, float | None]]) -> str:
        named = ", ".join(f"{n}" + (f" (at {t:.2f} s)" if t is not None else "") for n, t in lost[:10])
        more = f" and {len(lost) - 10} more" if len(lost) > 10 else ""
        return f"{self.path}: frame {named}{more} could not be decoded"

    def _report_lost(self, sent: list[int], came_out: set[int], time_base: Fraction, decoded: int) -> None:
        """Packets that gave no frame (rejected, or dropped by the decoder): counted, named, one warning."""
        missing = sorted(set(sent) - came_out)
        if not missing or not came_out:
            return
        self.lost = [self._place(pts, sent, time_base) for pts in missing]
        self.counters["frames_lost"] = len(self.lost)
        log.warning("%s (corrupt packets); skipped, kept the %d frames that decode (--strict stops at the first)",
                    self._lost_message(self.lost), decoded)

    def _stopped_early(self, decoded: int, why: str) -> None:
        message = f"{self.path} is truncated or corrupt: {why}; re-export or re-download the file"
        if not self.partial:
            raise VidsynthError(message)
        log.warning("%s (kept the %d frames before it)", message, decoded)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
