"""H.264 MP4 output written in keyframe-closed segments, so a crash leaves a playable file and a
render can resume from the last closed segment.

Layout: fragmented MP4 (``moov`` first, then one ``moof``+``mdat`` per GOP). Every GOP is encoded by
a fresh x264 encoder that starts with an IDR frame and never sees the frames before it; so a GOP's
bits depend only on its own frames, and a resumed render is bit-identical to an uninterrupted one
(x264 is deterministic for fixed settings). B-frames are off (decode order = presentation order, which
keeps each GOP independent and the timestamps exact); the cost is a few percent of bitrate.

Timestamps: frames are muxed by their pts (variable frame rate kept), shifted so the file starts at
0; the shift is stored in the file's metadata (``vidsynth_start``) for resume.

Resume protocol::

    sink = Mp4Sink("out.mp4", resume=True)
    start = sink.resume_point()        # frames in complete segments of out.mp4 (0 when none)
    source.seek(start)
    sink.open(info)                    # copies those segments' packets (no re-encode) to a temp file
    for frame in source: sink.write(frame)   # first frame written must be frame ``start``
    sink.close()                       # temp file replaces out.mp4

A render is written to ``out.partial.mp4`` and renamed to ``out.mp4`` when it closes, so a crash leaves
the partial file (playable: its closed segments) and never a cut file under the finished name;
``--resume`` continues the partial file (or a finished ``out.mp4``). While resuming, the file resumed
is left as it was; a crash then leaves ``out.resuming.mp4`` with more closed segments, which the next
``resume_point()`` adopts. The output is locked while it is written (:mod:`vidsynth.streams.outputs`).
"""

from __future__ import annotations

import collections
import logging
import os
from fractions import Fraction
from pathlib import Path

from vidsynth.errors import VidsynthError, require

from .audio import AudioCopy
from .base import Sink, StreamInfo
from .convert import as_fraction, as_rgb8, even_size
from .frame import Frame
from .mp4box import scan_fragments
from .outputs import claim_output, finish_output, partial_path, refuse_input_as_output, release_output

log = logging.getLogger(__name__)

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof+use_metadata_tags"
BT709 = 1  # the H.273 code for BT.709 primaries, transfer and matrix
LIMITED_RANGE = 1  # "MPEG" range: Y in 16..235


def parameter_sets(extradata: bytes | None) -> list[bytes]:
    """The SPS/PPS NAL units of H.264 extradata, from either avcC (as stored in MP4) or Annex B form.

    >>> parameter_sets(b"\\x00\\x00\\x00\\x01gAB\\x00\\x00\\x01hC")
    [b'gAB', b'hC']
    """
    data = bytes(extradata or b"")
    if not data:
        return []
    if data[0] == 1 and len(data) > 6:  # avcC: version 1, then counted, length-prefixed SPS and PPS
        units, pos = [], 5
        for count_mask in (0x1F, 0xFF):
            count = data[pos] & count_mask
            pos += 1
            for _ in range(count):
                size = int.from_bytes(data[pos : pos + 2], "big")
                units.append(data[pos + 2 : pos + 2 + size])
                pos += 2 + size
        return units
    parts = data.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01")
    return [p for p in parts if p]


class Mp4Sink(Sink):
    """Write frames as H.264 (libx264, yuv420p, BT.709 limited range) in a fragmented MP4.

    ``crf`` sets quality (lower is better, 18 is visually lossless); ``gop`` is the segment length in
    frames (default: two seconds at the stream's rate); ``preset`` is x264's speed/size trade-off;
    ``threads`` caps the encoder's threads (0 lets x264 choose). ``audio=True`` copies the audio of
    ``StreamInfo.audio`` when there is one.

    >>> from vidsynth.streams.synthetic.clip import SyntheticClip
    >>> clip = SyntheticClip(n_frames=10, width=64, height=48)
    >>> sink = Mp4Sink("/tmp/doctest_clip.mp4", gop=5)
    >>> sink.open(clip.open())
    >>> for frame in clip: sink.write(frame)
    >>> sink.close()
    >>> sink.frames_written
    10
    """

    def __init__(
        self,
        path: str | os.PathLike,
        crf: float = 18,
        gop: int | None = None,
        preset: str = "fast",
        resume: bool = False,
        audio: bool = True,
        threads: int = 0,
    ):
        self.path = Path(path)
        self.crf = crf
        self.gop = gop
        self.preset = preset
        self.resume = resume
        self.copy_audio = audio
        self.threads = int(threads)
        self.frames_written = 0
        self.retimed = 0  # frames whose pts had to be nudged forward to keep time increasing
        self._container = None
        self._stream = None
        self._encoder = None
        self._gop_frames = 0
        self._info: StreamInfo | None = None
        self._offset: Fraction | None = None  # seconds subtracted from every pts (the first frame's time)
        self._last_pts: int | None = None
        self._durations: collections.deque = collections.deque()
        self._resume_from = 0
        self._expect_index: int | None = None
        self._old_extradata: bytes | None = None
        self._audio: AudioCopy | None = None
        self._writing_to: Path | None = None
        self._video_end = Fraction(0)  # output time where the last written frame ends
        self.audio_note: str | None = None  # how the audio was carried (for the closing line)

    @property
    def seconds_written(self) -> float:
        """Seconds of video in the output so far."""
        return float(self._video_end)

    # ----------------------------------------------------------------------------------- resume
    @property
    def resume_path(self) -> Path:
        """Where a resumed render is written until it is complete."""
        return self.path.with_name(f"{self.path.stem}.resuming{self.path.suffix}")

    @property
    def partial_path(self) -> Path:
        """Where a fresh render is written until it is complete."""
        return partial_path(self.path)

    def _resume_base(self) -> Path:
        """The file a resume continues: an interrupted render's partial file, else the finished output."""
        return self.partial_path if self.partial_path.exists() else self.path

    def resume_point(self) -> int:
        """Frames in the complete segments of the existing file (0 when there is none to resume)."""
        if not self.resume:
            return 0
        self._adopt_crashed_resume()
        base = self._resume_base()
        if not base.exists():
            return 0
        scan = scan_fragments(base)
        if not scan.fragmented:
            raise VidsynthError(
                f"expected {base} to be a fragmented MP4 written by vidsynth to resume it, found another kind "
                "of file; render again without --resume, or choose another output path"
            )
        return scan.frames

    def _adopt_crashed_resume(self) -> None:
        """A crash during a resumed render leaves the temp file ahead of the one resumed: keep the longer."""
        temp = self.resume_path
        if not temp.exists():
            return
        ahead = 0
        try:
            ahead = scan_fragments(temp).frames
        except OSError:
            pass
        base = self._resume_base()
        behind = scan_fragments(base).frames if base.exists() else 0
        if ahead > behind:
            os.replace(temp, base)
            log.info("adopted %s (%d closed frames) from an interrupted resume", temp, ahead)
        else:
            temp.unlink()

    # ------------------------------------------------------------------------------------- open
    def open(self, info: StreamInfo) -> None:
        self._av = require("av", "writing MP4 video")
        self._info = info
        if self.gop is None:
            self.gop = max(1, round(2 * float(info.rate))) if info.rate else 60
        self.gop = int(self.gop)
        refuse_input_as_output(self.path, info)
        claim_output(self.path)
        try:
            self._resume_from = self.resume_point() if self.resume else 0
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise VidsynthError(f"cannot create the folder of {self.path}: {exc}; choose a writable path") from None
            if self._resume_from > 0:
                self._open_resumed()
        except BaseException:
            release_output(self.path)  # nothing will be written: the next writer may have the path
            raise

    def _container_options(self) -> dict:
        return {"movflags": MOVFLAGS, "flush_packets": "1"}

    def _configure(self, ctx, width: int, height: int) -> None:
        """Settings shared by the stream's header and every GOP's encoder (they must agree bit for bit)."""
        ctx.width = width
        ctx.height = height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = self._time_base
        if self._info.rate:
            ctx.framerate = self._info.rate
        ctx.color_primaries = BT709
        ctx.color_trc = BT709
        ctx.colorspace = BT709
        ctx.color_range = LIMITED_RANGE
        ctx.thread_count = self.threads
        ctx.options = {
            "preset": self.preset,
            "crf": str(self.crf),
            "bf": "0",
            "g": str(self.gop),
            "keyint_min": str(self.gop),
            "sc_threshold": "0",
            # no look-ahead and no frame-thread delay: each packet leaves the encoder with its frame, so
            # a segment is written to disk the moment the next one starts (a crash loses only the open one)
            "x264-params": "rc-lookahead=0:sync-lookahead=0:sliced-threads=1",
        }

    @property
    def _time_base(self) -> Fraction:
        return as_fraction(self._info.time_base)

    def _new_encoder(self, width: int, height: int):
        av = self._av
        ctx = av.CodecContext.create("libx264", "w")
        self._configure(ctx, width, height)
        ctx.flags |= av.codec.context.Flags.global_header  # MP4 keeps SPS/PPS in the header (avcC)
        ctx.open()
        expected = self._old_extradata if self._old_extradata is not None else self._stream.codec_context.extradata
        if parameter_sets(ctx.extradata) != parameter_sets(expected):
            raise VidsynthError(
                f"expected the H.264 settings of {self.path} to match this render's, found different ones "
                "(frame size, rate, crf, preset or x264 build changed); render again without --resume"
                if self._old_extradata is not None
                else "internal: the x264 header of a new segment differs from the file's; please report this"
            )
        return ctx

    def _open_container(self, path: Path, width: int, height: int) -> None:
        """The output file and its H.264 stream, set up the same way for a fresh and a resumed render."""
        av = self._av
        even_size(width, height, str(self.path))
        self._writing_to = path
        try:
            self._container = av.open(str(path), "w", format="mp4", container_options=self._container_options())
        except (av.FFmpegError, OSError) as exc:
            raise VidsynthError(f"cannot write {path}: {exc}; check the folder exists and is writable") from None
        self._container.metadata["vidsynth_start"] = str(self._offset)
        stream = self._container.add_stream("libx264", rate=self._info.rate or None)
        self._configure(stream.codec_context, width, height)
        stream.time_base = self._time_base
        self._stream = stream
        self._size = (width, height)
        self._open_audio()
        self._container.start_encoding()

    def _start_fresh(self, frame: Frame, width: int, height: int) -> None:
        self._offset = Fraction(frame.pts) * as_fraction(frame.time_base)
        self._open_container(self.partial_path, width, height)

    def _open_resumed(self) -> None:
        av = self._av
        old = av.open(str(self._resume_base()))
        try:
            old_video = old.streams.video[0]
            self._offset = Fraction(old.metadata.get("vidsynth_start", "0"))
            self._old_extradata = bytes(old_video.codec_context.extradata or b"")
            self._open_container(self.resume_path, old_video.codec_context.width, old_video.codec_context.height)
            self._copy_closed_segments(old, old_video)
        finally:
            old.close()
        self.frames_written = self._resume_from
        self._expect_index = self._resume_from

    def _copy_closed_segments(self, old, old_video) -> None:
        """Mux the packets of the first ``_resume_from`` frames into the new file, audio interleaved."""
        video_done = 0
        try:
            for packet in old.demux(old_video):
                if packet.dts is None:
                    continue
                if video_done >= self._resume_from:
                    break
                video_done += 1
                start = Fraction(packet.pts) * packet.time_base
                if self._audio is not None:
                    self._audio.mux_until(self._container, start)
                self._video_end = start + Fraction(packet.duration or 0) * packet.time_base
                self._container.mux(self._as_annex_b(packet))
                self._last_pts = int(start / self._time_base)
        except self._av.FFmpegError:
            pass  # the cut segment after the closed ones; it is not copied
        if video_done < self._resume_from:
            raise VidsynthError(
                f"expected {self._resume_from} frames in the closed segments of {self.path}, read {video_done}; "
                "the file is damaged: render again without --resume"
            )

    def _as_annex_b(self, packet):
        """An MP4 (length-prefixed) H.264 packet re-framed with start codes, like the encoder's output,
        so the muxer frames old and new packets the same way (and the bytes come out as they went in)."""
        data = bytes(packet)
        units, pos = [], 0
        while pos + 4 <= len(data):
            size = int.from_bytes(data[pos : pos + 4], "big")
            units.append(data[pos + 4 : pos + 4 + size])
            pos += 4 + size
        copy = self._av.Packet(b"".join(b"\x00\x00\x00\x01" + unit for unit in units))
        copy.pts, copy.dts, copy.duration = packet.pts, packet.dts, packet.duration
        copy.time_base = packet.time_base
        copy.is_keyframe = packet.is_keyframe
        copy.stream = self._stream
        return copy

    def _open_audio(self) -> None:
        """Add the audio of ``StreamInfo.audio`` (copied packet for packet, or as AAC) when asked."""
        if self.copy_audio and self._info.audio:
            self._audio = AudioCopy(self._info.audio, offset=self._offset)
            if not self._audio.add_to(self._container):
                self._audio = None
                self.audio_note = "no usable audio"

    # ------------------------------------------------------------------------------------ write
    def write(self, frame: Frame) -> None:
        if self._info is None:
            raise VidsynthError("Mp4Sink.write() was called before open(info); open the sink first")
        image = as_rgb8(frame.image, f"frame {frame.index} written to {self.path}")
        height, width = image.shape[:2]
        if self._container is None:
            self._start_fresh(frame, width, height)
        if self._expect_index is not None:
            if frame.index != self._expect_index:
                raise VidsynthError(
                    f"expected the first frame after resuming {self.path} to be frame {self._expect_index}, "
                    f"found frame {frame.index}; seek the source to sink.resume_point() before writing"
                )
            self._expect_index = None
        if (width, height) != self._size:
            raise VidsynthError(
                f"expected every frame written to {self.path} to be {self._size[0]}×{self._size[1]}, "
                f"found {width}×{height} at frame {frame.index}; resize frames to one size before the sink"
            )
        pts = self._output_pts(frame)
        duration = self._duration(frame)
        if self._encoder is None or self._gop_frames >= self.gop:
            self._flush_encoder()
            self._encoder = self._new_encoder(width, height)
            self._gop_frames = 0
        vframe = self._av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
            format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG", interpolation="AREA"
        )  # AREA averages chroma over each 2×2 block: the least loss for 4:2:0
        vframe.pts = pts
        vframe.time_base = self._time_base
        self._durations.append(duration)
        if self._audio is not None:
            self._audio.mux_until(self._container, Fraction(pts) * self._time_base)
        self._mux(self._encoder.encode(vframe))
        self._video_end = Fraction(pts + duration) * self._time_base
        self._gop_frames += 1
        self.frames_written += 1

    def _output_pts(self, frame: Frame) -> int:
        seconds = Fraction(frame.pts) * as_fraction(frame.time_base) - self._offset
        value = seconds / self._time_base
        pts = int(value.numerator * 2 + value.denominator) // (2 * value.denominator)
        if self._last_pts is not None and pts <= self._last_pts:
            if self.retimed == 0:
                log.warning("%s: frame %d does not advance in time; nudged forward", self.path, frame.index)
            self.retimed += 1
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts

    def _duration(self, frame: Frame) -> int:
        if frame.duration:
            value = Fraction(frame.duration) * as_fraction(frame.time_base) / self._time_base
            return max(1, round(value))
        rate = self._info.rate or Fraction(30)
        return max(1, round(1 / (as_fraction(rate) * self._time_base)))

    def _mux(self, packets) -> None:
        for packet in packets:
            packet.stream = self._stream
            if self._durations:
                packet.duration = self._durations.popleft()
            self._container.mux(packet)

    def _flush_encoder(self) -> None:
        if self._encoder is not None:
            self._mux(self._encoder.encode(None))
            self._encoder = None

    # ------------------------------------------------------------------------------------ close
    def close(self) -> None:
        if self._container is None:
            release_output(self.path)
            return
        try:
            self._flush_encoder()
            if self._audio is not None:
                self._audio.mux_until(self._container, self._video_end)
                self._audio.finish(self._container)
                self.audio_note = self._audio.describe()
                self._audio.close()
        finally:
            self._container.close()
            self._container = None
        finish_output(self._writing_to, self.path)
        if self._writing_to == self.resume_path and self.partial_path.exists():
            self.partial_path.unlink()  # its frames are in the finished output now
