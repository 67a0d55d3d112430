"""Carry the audio of a source file into an output MP4, in step with the video being written.

What FFmpeg would play, we carry. A packet that does not decode (corrupt bytes, a timestamp out of
order) is skipped and counted, never fatal; audio the fragmented MP4 cannot hold as it is (AC3 and
E-AC3 need their first packet parsed before the header, which an empty ``moov`` cannot wait for; PCM,
Vorbis, ...) is re-encoded to AAC, with silence where skipped packets were, so the audio stays in
sync; a track where no packet decodes gives a video-only output and one warning.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np

from vidsynth.errors import require

log = logging.getLogger(__name__)

# codecs a fragmented MP4 carries packet for packet; every other one is re-encoded to AAC
COPY_AS_IS = {"aac", "aac_fixed", "mp3", "mp3float"}  # decoder names
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
AAC_LAYOUTS = {"mono", "stereo", "3.0", "4.0", "5.0", "5.1", "6.1", "7.1"}
PROBE_PACKETS = 200  # packets read at most to find one that decodes before giving up on a track
GAP_S = 0.010  # a jump in the input's audio times longer than this is filled with silence
JUMP_S = 10.0  # a packet this far ahead of the previous one carries a corrupt timestamp
DEMUX_RETRIES = 20  # consecutive demuxer errors after which the rest of the track is given up


class AudioCopy:
    """Feed an input file's first audio track into ``container`` up to a given output time.

    Output time is input time minus ``offset`` (the first video frame's time), so audio stays in sync
    with video that was shifted to start at 0. Audio before the first video frame is dropped.
    After the run, ``skipped`` counts the packets left out (``skipped_at``: input seconds of the first
    ones), ``silence_s`` the seconds of silence put in their place, and ``mode`` says whether the track
    was copied (``"copy"``) or re-encoded (``"aac"``).

    >>> copy = AudioCopy("talk.mp4", offset=Fraction(0))  # doctest: +SKIP
    >>> copy.add_to(out_container)  # before the header is written  # doctest: +SKIP
    >>> copy.mux_until(out_container, Fraction(2))  # audio up to 2 s  # doctest: +SKIP
    """

    def __init__(self, path: str, offset: Fraction = Fraction(0)):
        self.path = path
        self.offset = Fraction(offset)
        self.mode: str | None = None
        self.skipped = 0
        self.skipped_at: list[float] = []
        self.silence_s = 0.0
        self._input = None
        self._source = None
        self._out = None
        self._packets = None
        self._pending = []
        self._encoder = None
        self._resampler = None
        self._samples: int | None = None  # output samples encoded so far (re-encoding)
        self._last_start: Fraction | None = None  # input time of the last packet taken
        self._last_dts: int | None = None  # output dts of the last packet copied
        self._demux_errors = 0

    # ------------------------------------------------------------------------------------- setup
    def add_to(self, container) -> bool:
        """Add the audio stream to ``container``; False when there is none to carry (a warning says why)."""
        av = self._av = require("av", "copying audio")
        first = self._first_decodable(av)
        if first is None:
            return False
        try:
            self._input = av.open(self.path, metadata_errors="replace")
        except (av.FFmpegError, OSError) as exc:
            log.warning("audio of %s not copied (%s); the output has video only", self.path, exc)
            return False
        self._source = self._input.streams.audio[0]
        codec = self._source.codec_context.name
        if codec in COPY_AS_IS:
            self.mode = "copy"
            self._out = container.add_stream_from_template(self._source)
        else:
            self.mode = "aac"
            rate = first.sample_rate if first.sample_rate in AAC_RATES else 48000
            layout = first.layout.name if first.layout.name in AAC_LAYOUTS else "stereo"
            log.info("audio of %s is %s; re-encoding it as AAC (%s, %d Hz) for MP4", self.path, codec, layout, rate)
            self._out = container.add_stream("aac", rate=rate)
            self._out.layout = layout
            self._out.format = "fltp"
            self._encoder = self._out
            self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        self._packets = self._input.demux(self._source)
        return True

    def _first_decodable(self, av):
        """The first audio frame the track decodes to, or None (with a warning when the track is unusable)."""
        try:
            probe = av.open(self.path, metadata_errors="replace")
        except (av.FFmpegError, OSError) as exc:
            log.warning("audio of %s not copied (%s); the output has video only", self.path, exc)
            return None
        try:
            if not probe.streams.audio:
                return None
            stream = probe.streams.audio[0]
            codec = stream.codec_context.name
            tried = 0
            try:
                for packet in probe.demux(stream):
                    if not packet.size:
                        continue
                    tried += 1
                    try:
                        frames = packet.decode()
                    except av.FFmpegError:
                        frames = []
                    if frames:
                        return frames[0]
                    if tried >= PROBE_PACKETS:
                        break
            except (av.FFmpegError, IndexError):
                pass
            log.warning(
                "the audio of %s (%s) has no packet that decodes in its first %d; the output has video only",
                self.path, codec or "unknown codec", tried,
            )
            return None
        finally:
            probe.close()

    # ----------------------------------------------------------------------------------- muxing
    def _next(self):
        if self._pending:
            return self._pending.pop(0)
        while self._packets is not None:
            try:
                packet = next(self._packets)
                self._demux_errors = 0
                return packet
            except StopIteration:
                return None
            except (self._av.FFmpegError, IndexError) as exc:  # IndexError: a stream the header never announced
                # a damaged stretch of the container: carry on from where the demuxer stopped
                self._demux_errors += 1
                self.skipped += 1
                if self._demux_errors >= DEMUX_RETRIES:
                    log.warning("audio of %s stops early: %s", self.path, exc)
                    return None
                self._packets = self._input.demux(self._source)
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
            if packet.pts is None or not packet.size:
                continue
            start = Fraction(packet.pts) * packet.time_base - self.offset
            if self._last_start is not None and not (self._last_start < start < self._last_start + JUMP_S):
                self._skip(start)  # out of order or far ahead: a corrupt timestamp
                continue
            if until is not None and start >= until:
                self._pending.insert(0, packet)
                return
            if start < 0:
                continue
            try:
                frames = packet.decode()
            except self._av.FFmpegError:
                self._skip(start)
                continue
            self._last_start = start
            if self._encoder is None:
                self._copy(container, packet, start)
            else:
                for frame in frames:
                    self._reencode(container, frame, start)

    def _skip(self, start: Fraction) -> None:
        self.skipped += 1
        if len(self.skipped_at) < 10:
            self.skipped_at.append(round(float(start + self.offset), 3))

    def _copy(self, container, packet, start: Fraction) -> None:
        shift = round(self.offset / packet.time_base)
        packet.pts -= shift
        if packet.dts is not None:
            packet.dts -= shift
            if self._last_dts is not None and packet.dts <= self._last_dts:
                self._skip(start)
                return
            self._last_dts = packet.dts
        packet.stream = self._out
        try:
            container.mux(packet)
        except self._av.FFmpegError:
            self._skip(start)

    def _reencode(self, container, frame, start: Fraction) -> None:
        rate = self._out.rate
        when = Fraction(frame.pts) * frame.time_base - self.offset if frame.pts is not None else start
        target = max(0, round(when * rate))
        if self._samples is None:
            self._samples = target
        elif target - self._samples > GAP_S * rate:
            self._put_silence(container, target - self._samples)
        try:
            resampled = self._resampler.resample(frame)
        except (ValueError, self._av.FFmpegError):
            # the track changed its layout or rate midway: a fresh resampler takes the new one
            self._resampler = self._av.AudioResampler(format="fltp", layout=self._out.layout.name, rate=rate)
            try:
                resampled = self._resampler.resample(frame)
            except (ValueError, self._av.FFmpegError):
                self._skip(start)
                return
        self._encode(container, resampled)

    def _put_silence(self, container, samples: int) -> None:
        channels = len(self._out.layout.channels)
        rate = self._out.rate
        self.silence_s += samples / rate
        while samples > 0:
            n = min(samples, 4096)
            silent = self._av.AudioFrame.from_ndarray(
                np.zeros((channels, n), np.float32), format="fltp", layout=self._out.layout.name
            )
            silent.sample_rate = rate
            self._encode(container, [silent])
            samples -= n

    def _encode(self, container, frames) -> None:
        rate = self._out.rate
        for frame in frames:
            frame.pts = self._samples
            frame.time_base = Fraction(1, rate)
            self._samples += frame.samples
            for out_packet in self._encoder.encode(frame):
                container.mux(out_packet)

    def _flush_encoder(self, container) -> None:
        if self._encoder is not None:
            if self._samples is not None:
                self._encode(container, self._resampler.resample(None))
            for out_packet in self._encoder.encode(None):
                container.mux(out_packet)
            self._encoder = None

    def finish(self, container) -> None:
        """Flush what the encoder holds (the video ended) and say what was skipped, once."""
        self._packets = None
        self._flush_encoder(container)
        if self.skipped:
            where = ", ".join(f"{t:g} s" for t in self.skipped_at) + (", ..." if self.skipped > len(self.skipped_at) else "")
            log.warning(
                "audio of %s: skipped %d packet(s) that did not decode (at %s)%s", self.path, self.skipped, where,
                f"; {self.silence_s:.3f} s of silence in their place" if self.silence_s else "",
            )

    def describe(self) -> str:
        """A few words for the closing line: how the audio was carried and what was skipped."""
        how = "audio copied" if self.mode == "copy" else "audio re-encoded to AAC"
        if self.skipped:
            how += f" ({self.skipped} corrupt packet(s) skipped)"
        return how

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None
