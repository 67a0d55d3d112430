"""File → file round trips of the stamped clip: every frame, in order, exact timestamps, PSNR."""

from fractions import Fraction

import av
import numpy as np
import pytest

from vidsynth.streams.synthetic.clip import SyntheticClip, read_stamp, stamp
from vidsynth.streams.video_file import VideoFileSource


def test_stamp_reads_back_every_index_and_size():
    for width, height in [(32, 24), (64, 48), (320, 240)]:
        for index in [0, 1, 255, 256, 4097, 65535]:
            image = np.full((height, width, 3), 128, np.uint8)
            assert read_stamp(stamp(image, index)) == index


@pytest.mark.parametrize("vfr", [False, True], ids=["cfr", "vfr"])
def test_file_round_trip_keeps_frames_order_and_timestamps(tmp_path, vfr, write_clip):
    clip = SyntheticClip(n_frames=45, width=64, height=48, fps=30, vfr=vfr, seed=3)
    path = tmp_path / "clip.mp4"
    write_clip(path, clip, gop=15)

    source = VideoFileSource(path)
    info = source.open()
    assert (info.width, info.height) == (64, 48)
    frames = list(source)
    assert [read_stamp(f.image) for f in frames] == list(range(45))
    assert [f.index for f in frames] == list(range(45))
    for i, frame in enumerate(frames):  # same instant, whatever time base the container chose
        assert Fraction(frame.pts) * frame.time_base == clip.pts(i) * clip.time_base
    if vfr:
        steps = {frames[i + 1].pts - frames[i].pts for i in range(44)}
        assert len(steps) > 2  # really variable


def test_identity_round_trip_psnr_above_35db(clip_file, psnr):
    path, clip = clip_file
    source = VideoFileSource(path)
    source.open()
    values = [psnr(f.image, clip.render(f.index)) for f in source]
    assert len(values) == 30
    assert np.mean(values) > 35.0
    assert min(values) > 33.0


def test_output_is_h264_yuv420p_bt709_limited(clip_file):
    path, _ = clip_file
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        assert ctx.name == "h264" and ctx.pix_fmt == "yuv420p"
        assert (ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range) == (1, 1, 1, 1)


def test_seek_starts_at_the_frame_asked(clip_file):
    path, _ = clip_file
    source = VideoFileSource(path)
    source.open()
    source.seek(17)
    frames = list(source)
    assert [f.index for f in frames] == list(range(17, 30))
    assert read_stamp(frames[0].image) == 17 and frames[0].discontinuity


def test_rotation_metadata_turns_the_image_upright(tmp_path):
    # a landscape picture stored with a display matrix of 90° counter-clockwise plays as portrait
    path = tmp_path / "rotated.mp4"
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    stream.set_display_rotation(90)
    picture = np.zeros((48, 64, 3), np.uint8)
    picture[:16, :16] = 255  # a white corner, top-left as stored
    for i in range(3):
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = i
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()

    source = VideoFileSource(path)
    info = source.open()
    assert (info.width, info.height) == (48, 64) and source.rotation == 90
    image = next(iter(source)).image
    assert image.shape == (64, 48, 3)
    # rotating 90° counter-clockwise moves the top-left corner to the bottom-left
    assert image[-16:, :16].mean() > 200 and image[:16, :16].mean() < 60


def _write_with_audio(path, fmt, audio_codec, n_frames=45, fps=30, rate=16000):
    """The stamped clip plus a 440 Hz tone as long as the video."""
    clip = SyntheticClip(n_frames=n_frames, width=64, height=48, fps=fps)
    with av.open(str(path), "w", format=fmt) as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = 64, 48
        audio = container.add_stream(audio_codec, rate=rate)
        audio.layout = "mono"
        audio.format = "fltp" if audio_codec == "aac" else "s16"
        for frame in clip:
            vframe = av.VideoFrame.from_ndarray(frame.image, format="rgb24")
            vframe.pts = frame.pts
            container.mux(video.encode(vframe))
        container.mux(video.encode(None))
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(n_frames * rate // fps) / rate)
        for start in range(0, len(tone), 1024):
            chunk = tone[start : start + 1024]
            samples = chunk.astype(np.float32) if audio_codec == "aac" else (chunk * 32767).astype(np.int16)
            aframe = av.AudioFrame.from_ndarray(samples[None], format=audio.format.name, layout="mono")
            aframe.sample_rate, aframe.pts = rate, start
            container.mux(audio.encode(aframe))
        container.mux(audio.encode(None))
    return clip


@pytest.mark.parametrize("fmt, codec", [("mp4", "aac"), ("matroska", "pcm_s16le")], ids=["copy-aac", "pcm-to-aac"])
def test_audio_is_carried_into_the_mp4_in_sync(tmp_path, fmt, codec):
    from vidsynth.streams.mp4 import Mp4Sink

    source_path = tmp_path / ("in.mp4" if fmt == "mp4" else "in.mkv")
    _write_with_audio(source_path, fmt, codec)
    source = VideoFileSource(source_path)
    info = source.open()
    assert info.audio == str(source_path)
    out = tmp_path / "out.mp4"
    sink = Mp4Sink(out, gop=15)
    sink.open(info)
    for frame in source:
        sink.write(frame)
    sink.close()
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        audio = [p for p in container.demux(audio=0) if p.size]
    starts = [float(p.pts * p.time_base) for p in audio]
    assert starts[0] == pytest.approx(0, abs=0.03) and starts[-1] == pytest.approx(1.5, abs=0.1)
    back = VideoFileSource(out)
    back.open()
    assert [read_stamp(f.image) for f in back] == list(range(45))


def test_resume_with_audio_equals_uninterrupted(tmp_path):
    from vidsynth.streams.mp4 import Mp4Sink

    source_path = tmp_path / "in.mp4"
    _write_with_audio(source_path, "mp4", "aac")

    def render(out, start, stop, resume):
        source = VideoFileSource(source_path)
        info = source.open()
        sink = Mp4Sink(out, gop=15, resume=resume)
        assert sink.resume_point() == start
        source.seek(start)
        sink.open(info)
        for frame in source:
            if frame.index == stop:
                break
            sink.write(frame)
        sink.close()

    whole, parts = tmp_path / "whole.mp4", tmp_path / "parts.mp4"
    render(whole, 0, None, False)
    render(parts, 0, 30, False)  # a first run that ended after two segments
    render(parts, 30, None, True)

    def packets(path, kind):
        with av.open(str(path)) as container:
            return [(bytes(p), p.pts, p.duration) for p in container.demux(**{kind: 0}) if p.size]

    assert packets(parts, "video") == packets(whole, "video")
    assert packets(parts, "audio") == packets(whole, "audio")
