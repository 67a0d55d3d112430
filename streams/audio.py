"""Copy the audio of a source file into an output container, in step with the video being written."""

from __future__ import annotations

import logging
from fractions import Fraction

from vidsynth.errors import require

log = logging.getLogger(__name__)

# codecs an MP4 carries as they are; others (PCM, Vorbis, ...) are re-encoded to AAC
MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "opus", "alac", "flac"}


class AudioCopy:
    """Feed an input file's first audio track into ``container`` up to a given output time.

    Output time is input time minus ``offset`` (the first video frame's time), so audio stays in sync
    with video that was shifted to start at 0. Audio before the first video frame is dropped.

    >>> copy = AudioCopy("talk.mp4", offset=Fraction(0))  # doctest: +SKIP
    >>> copy.add_to(out_container)  # before the header is written  # doctest: +SKIP
    >>> copy.mux_until(out_container, Fraction(2))  # audio up to 2 s  # doctest: +SKIP
    """

    def __init__(self, path: str, offset: Fraction = Fraction(0)):
        self.path = path
        self.offset = Fraction(offset)
        self._input = None
        self._out = None
        self._packets = None
        self._pending = []
        self._encoder = None
        self._resampler = None
        self._samples = 0

    def add_to(self, container) -> bool:
        """Add the audio stream to ``container``; False (with a warning) when there is none to copy."""
        av = require("av", "copying audio")
        try:
            self._input = av.open(self.path)
        except (av.FFmpegError, OSError) as exc:
            log.warning("audio of %s not copied: %s", self.path, exc)
            return False
        if not self._input.streams.audio:
            self.close()
            return False
        source = self._input.streams.audio[0]
        if source.codec_context.name in MP4_AUDIO:
            self._out = container.add_stream_from_template(source)
        else:
            log.info("audio of %s is %s; re-encoding it as AAC for MP4", self.path, source.codec_context.name)
            self._out = container.add_stream("aac", rate=source.codec_context.sample_rate)
            channels = source.codec_context.channels  # untagged PCM has a layout like "1 channels"
            self._out.layout = {1: "mono", 2: "stereo"}.get(channels, source.codec_context.layout.name)
            self._out.format = "fltp"
            self._encoder = self._out
            self._resampler = av.AudioResampler(format="fltp", layout=self._out.layout, rate=self._out.rate)
        self._packets = self._input.demux(source)
        return True

    def _next(self):
        if self._pending:
            return self._pending.pop(0)
        try:
            return next(self._packets)
        except StopIteration:
            return None
        except require("av").FFmpegError as exc:
            log.warning("audio of %s stops early: %s", self.path, exc)
            return None

    def mux_until(self, container, until: Fraction | None) -> None:
        """Mux the audio packets that start before output time ``until`` (seconds; None: all)."""
        if self._packets is None:
            return
        while True:
            packet = self._next()
            if packet is None:
                self._packets = None
                self._flush_encoder(container)
                return
            if packet.pts is None:
                continue
            start = Fraction(packet.pts) * packet.time_base - self.offset
            if until is not None and start >= until:
                self._pending.insert(0, packet)
                return
            if start < 0:
                continue
            if self._encoder is None:
                shift = round(self.offset / packet.time_base)
                packet.pts -= shift
                if packet.dts is not None:
                    packet.dts -= shift
                packet.stream = self._out
                container.mux(packet)
            else:
                self._reencode(container, packet, start)

    def _reencode(self, container, packet, start: Fraction) -> None:
        for frame in packet.decode():
            for resampled in self._resampler.resample(frame):
                if self._samples == 0:
                    self._samples = round(start * self._out.rate)
                resampled.pts = self._samples
                resampled.time_base = Fraction(1, self._out.rate)
                self._samples += resampled.samples
                for out_packet in self._encoder.encode(resampled):
                    container.mux(out_packet)

    def _flush_encoder(self, container) -> None:
        if self._encoder is not None:
            for out_packet in self._encoder.encode(None):
                container.mux(out_packet)
            self._encoder = None

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None
