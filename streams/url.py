"""Network streams through PyAV: a URL source (rtsp/http/udp/rtmp/...) and a URL sink (RTMP/UDP/SRT)."""

from __future__ import annotations

import logging
import time
from fractions import Fraction
from typing import Iterator

from vidsynth.errors import VidsynthError, require

from .base import Sink, Source, StreamInfo
from .convert import OutputClock, as_fraction, as_rgb8, even_size
from .frame import Frame
from .video_file import decoded_image

log = logging.getLogger(__name__)

URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp", "hls")
# output scheme -> container format
SINK_FORMATS = {"rtmp": "flv", "rtmps": "flv", "udp": "mpegts", "tcp": "mpegts", "srt": "mpegts", "rtsp": "rtsp"}


def is_url(spec: str) -> bool:
    """True for ``scheme://...`` with a streaming scheme.

    >>> is_url("udp://127.0.0.1:5000"), is_url("clip.mp4")
    (True, False)
    """
    scheme, sep, _ = spec.partition("://")
    return bool(sep) and scheme.lower() in URL_SCHEMES


class UrlSource(Source):
    """Decode a network stream; ``live=True``, pts as the stream sends them, ``capture_ns`` at decode.

    Opening gives up after ``open_timeout`` seconds and a stalled stream after ``read_timeout`` seconds,
    each with a :class:`VidsynthError` (never a hang). ``options`` go to FFmpeg (e.g.
    ``{"rtsp_transport": "tcp"}``); ``format`` forces the demuxer (e.g. ``"mpegts"`` for raw UDP).
    A packet that arrives damaged (a lost UDP datagram, a corrupt slice) is skipped and counted
    (``corrupt_packets``), as FFmpeg does; only a stream that stops sending ends the run.

    >>> src = UrlSource("rtsp://192.168.1.20/stream", open_timeout=3)  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        open_timeout: float = 5.0,
        read_timeout: float = 5.0,
        options: dict | None = None,
        format: str | None = None,
    ):
        self.url = url
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.options = dict(options or {})
        self.format = format
        self._container = None
        self._frames = None
        self._first = None
        self.corrupt_packets = 0
        self.counters: dict = {}

    def open(self) -> StreamInfo:
        av = require("av", "reading network streams")
        started = time.monotonic()
        try:
            self._container = av.open(
                self.url, format=self.format, options=self.options, timeout=(self.open_timeout, self.read_timeout)
            )
        except (av.FFmpegError, OSError) as exc:
            waited = time.monotonic() - started
            raise VidsynthError(
                f"expected a video stream at {self.url}, found none after {waited:.1f} s ({_reason(exc)}); check the "
                "address, that the sender is running, and the network"
            ) from None
        if not self._container.streams.video:
            self.close()
            raise VidsynthError(f"expected a video stream at {self.url}, found no video in it; check the URL")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._frames = self._decoded(av, stream)
        self._first = self._next()
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(30)
        return StreamInfo(
            width=self._first.width,
            height=self._first.height,
            rate=Fraction(rate),
            time_base=Fraction(stream.time_base),
            live=True,
            extra={"url": self.url, "codec": stream.codec_context.name},
        )

    def _decoded(self, av, stream):
        """The stream's frames; damaged packets are skipped and counted, a stream that stops is an error."""
        packets = self._container.demux(stream)
        damaged_in_a_row = 0
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.InvalidDataError:
                packets = self._container.demux(stream)  # read on after the damaged stretch
                frames = None
            else:
                try:
                    frames = packet.decode()
                except av.InvalidDataError:
                    frames = None
            if frames is None:
                self.corrupt_packets += 1
                self.counters["corrupt_packets"] = self.corrupt_packets
                damaged_in_a_row += 1
                if damaged_in_a_row > 200:  # nothing but damage: this is not a stream to decode
                    raise av.InvalidDataError(1094995529, "every packet is damaged")
                continue
            damaged_in_a_row = 0
            yield from frames

    def _next(self):
        av = require("av")
        try:
            return next(self._frames)
        except StopIteration:
            return None
        except (av.FFmpegError, OSError) as exc:
            raise VidsynthError(
                f"the stream at {self.url} stopped ({_reason(exc)}); no data for {self.read_timeout:g} s or the "
                "sender closed it"
            ) from None

    def __iter__(self) -> Iterator[Frame]:
        if self._container is None:
            self.open()
        stream = self._container.streams.video[0]
        time_base = Fraction(stream.time_base)
        vframe, self._first = self._first, None
        index = 0
        last_pts = None
        while vframe is not None:
            captured = time.monotonic_ns()
            pts = vframe.pts if vframe.pts is not None else round(Fraction(captured, 10**9) / time_base)
            if last_pts is not None and pts <= last_pts:
                pts = last_pts + 1
            last_pts = pts
            yield Frame(
                index=index,
                pts=int(pts),
                time_base=time_base,
                image=decoded_image(vframe, int(getattr(vframe, "rotation", 0) or 0) % 360),
                capture_ns=captured,
                discontinuity=index == 0,
            )
            index += 1
            vframe = self._next()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class UrlSink(Sink):
    """Stream frames out as H.264 (x264 ``zerolatency``): RTMP as FLV, UDP/TCP/SRT as MPEG-TS, or RTSP.

    Timing follows the frames' pts from the first frame. ``bitrate`` (bits/s) caps the stream for
    networks; without it quality is set by ``crf``.

    >>> sink = UrlSink("udp://127.0.0.1:5000")  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        crf: float = 23,
        bitrate: int | None = None,
        preset: str = "veryfast",
        gop: int | None = None,
        open_timeout: float = 5.0,
        threads: int = 0,
    ):
        scheme = url.partition("://")[0].lower()
        if scheme not in SINK_FORMATS:
            raise VidsynthError(
                f"expected an output URL starting with {', '.join(s + '://' for s in SINK_FORMATS)}, found {url!r}"
            )
        self.url = url
        self.format = SINK_FORMATS[scheme]
        self.crf, self.bitrate, self.preset, self.gop = crf, bitrate, preset, gop
        self.open_timeout = open_timeout
        self.threads = threads
        self.frames_written = 0
        self._info: StreamInfo | None = None
        self._container = None
        self._stream = None
        self._clock = OutputClock()

    def open(self, info: StreamInfo) -> None:
        self._av = require("av", "streaming to a URL")
        self._info = info

    def _start(self, frame: Frame, width: int, height: int) -> None:
        av = self._av
        even_size(width, height, self.url)
        url = self.url
        if self.format == "mpegts" and url.startswith("udp://") and "pkt_size" not in url:
            url += ("&" if "?" in url else "?") + "pkt_size=1316"  # 7 TS packets: fits an Ethernet MTU
        try:
            self._container = av.open(url, "w", format=self.format, timeout=(self.open_timeout, self.open_timeout))
        except (av.FFmpegError, OSError) as exc:
            raise VidsynthError(
                f"cannot stream to {self.url} ({_reason(exc)}); check that the server is running and the address"
            ) from None
        rate = as_fraction(self._info.rate) if self._info and self._info.rate else Fraction(30)
        stream = self._container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, 90000)
        gop = self.gop or max(1, round(float(rate)))
        options = {"preset": self.preset, "tune": "zerolatency", "g": str(gop), "bf": "0"}
        if self.bitrate:
            stream.bit_rate = int(self.bitrate)
            options["maxrate"] = str(int(self.bitrate))
            options["bufsize"] = str(int(self.bitrate))
        else:
            options["crf"] = str(self.crf)
        stream.codec_context.options = options
        stream.codec_context.thread_count = self.threads
        self._stream = stream

    def write(self, frame: Frame) -> None:
        image = as_rgb8(frame.image, f"frame {frame.index} streamed to {self.url}")
        if self._container is None:
            self._start(frame, image.shape[1], image.shape[0])
        vframe = self._av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
            format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG"
        )
        vframe.pts = self._clock.pts(frame, self._stream.time_base)
        vframe.time_base = self._stream.time_base
        try:
            self._container.mux(self._stream.encode(vframe))
        except (self._av.FFmpegError, OSError) as exc:
            raise VidsynthError(f"streaming to {self.url} failed at frame {frame.index} ({_reason(exc)})") from None
        self.frames_written += 1

    def close(self) -> None:
        if self._container is None:
            return
        try:
            self._container.mux(self._stream.encode(None))
        except (self._av.FFmpegError, OSError):
            pass  # the receiver went away; nothing more to deliver
        finally:
            self._container.close()
            self._container = None
