"""Audio that FFmpeg would play is carried into the MP4: corrupt packets skipped and counted, AC3 re-encoded
to AAC, a track with nothing decodable dropped with a warning; never a failure at frame 0."""

import logging

import av
import pytest

from vidsynth.streams.mp4 import Mp4Sink
from vidsynth.streams.synthetic.clip import read_stamp
from vidsynth.streams.video_file import VideoFileSource

from footage import FPS, N_FRAMES, RATE, corrupt_audio_packets, write_clip_with_audio


def transcribe(source_path, out_path) -> Mp4Sink:
    source = VideoFileSource(source_path)
    sink = Mp4Sink(out_path, gop=15)
    sink.open(source.open())
    for frame in source:
        sink.write(frame)
    sink.close()
    return sink


def audio_packets(path):
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None, []
        return container.streams.audio[0].codec_context.name, [p for p in container.demux(audio=0) if p.size]


def decoded_seconds(path) -> float:
    with av.open(str(path)) as container:
        return sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].rate


def stamps(path):
    with VideoFileSource(path) as source:
        return [read_stamp(f.image) for f in source]


@pytest.mark.parametrize("fmt, suffix", [("matroska", "mkv"), ("mp4", "mp4")])
def test_ac3_with_a_corrupt_packet_becomes_aac_with_every_frame(tmp_path, fmt, suffix, caplog):
    clip = tmp_path / f"camera.{suffix}"
    write_clip_with_audio(clip, fmt, "ac3")
    corrupt_audio_packets(clip, [4])
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING, logger="vidsynth.streams.audio"):
        transcribe(clip, out)
    assert stamps(out) == list(range(N_FRAMES))
    codec, packets = audio_packets(out)
    assert codec == "aac"
    assert float(packets[0].pts * packets[0].time_base) == pytest.approx(0, abs=0.03)
    # the audio lasts as long as the video (1.5 s): the skipped 32 ms packet became 32 ms of silence
    assert decoded_seconds(out) == pytest.approx(N_FRAMES / FPS, abs=0.012)
    assert "skipped 1 packet" in caplog.text


def test_corrupt_packet_is_counted_and_replaced_by_its_length_of_silence(tmp_path):
    from fractions import Fraction

    from vidsynth.streams.audio import AudioCopy

    clip = tmp_path / "camera.mkv"
    write_clip_with_audio(clip, "matroska", "ac3")
    _, packets = audio_packets(clip)
    times = [round(float(packets[n].pts * packets[n].time_base), 3) for n in (4, 9)]
    corrupt_audio_packets(clip, [4, 9])
    out = av.open(str(tmp_path / "audio.mp4"), "w", format="mp4")
    copy = AudioCopy(str(clip), offset=Fraction(0))
    assert copy.add_to(out) and copy.mode == "aac"
    out.start_encoding()
    copy.mux_until(out, None)
    copy.finish(out)
    copy.close()
    out.close()
    assert copy.skipped == 2
    assert copy.skipped_at == times
    assert copy.silence_s == pytest.approx(2 * 1536 / RATE, abs=0.002)


def test_a_track_where_nothing_decodes_gives_video_only_and_a_warning(tmp_path, caplog):
    clip = tmp_path / "camera.mkv"
    write_clip_with_audio(clip, "matroska", "ac3")
    corrupt_audio_packets(clip, "all")
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING, logger="vidsynth.streams.audio"):
        transcribe(clip, out)
    assert audio_packets(out) == (None, [])
    assert stamps(out) == list(range(N_FRAMES))
    assert "video only" in caplog.text and "ac3" in caplog.text


def test_mp3_is_copied_packet_for_packet(tmp_path):
    clip = tmp_path / "camera.mkv"
    write_clip_with_audio(clip, "matroska", "libmp3lame")
    out = tmp_path / "out.mp4"
    transcribe(clip, out)
    codec, packets = audio_packets(out)
    _, original = audio_packets(clip)
    assert codec.startswith("mp3")
    copied, whole = [bytes(p) for p in packets], [bytes(p) for p in original]
    skip = len(whole) - len(copied)  # packets before the first video frame (the encoder's delay) are left out
    assert 0 <= skip <= 2 and copied == whole[skip:]


def test_aac_with_a_corrupt_packet_is_copied_without_it(tmp_path, caplog):
    clip = tmp_path / "phone.mp4"
    write_clip_with_audio(clip, "mp4", "aac")
    _, original = audio_packets(clip)
    corrupt_audio_packets(clip, [5])
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING, logger="vidsynth.streams.audio"):
        transcribe(clip, out)
    codec, packets = audio_packets(out)
    assert codec == "aac" and "skipped 1 packet" in caplog.text
    copied, whole = [bytes(p) for p in packets], [bytes(p) for p in original]
    assert whole[5] not in copied  # the corrupt packet's place is empty; every other packet is as it was
    assert copied == [b for i, b in enumerate(whole) if i != 5][len(whole) - 1 - len(copied):]
    assert stamps(out) == list(range(N_FRAMES))
