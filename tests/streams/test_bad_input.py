"""Bad input gives one clear VidsynthError, quickly: never a traceback from FFmpeg, never a hang."""

import time

import av
import pytest

from vidsynth.errors import VidsynthError
from vidsynth.streams.synthetic.clip import SyntheticClip

from videos import read_video


def write_plain(path, fmt, n_frames=30, **options):
    """The stamped clip through an ordinary (non-fragmented) muxer."""
    with av.open(str(path), "w", format=fmt, options=options) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height = 64, 48
        for frame in SyntheticClip(n_frames=n_frames, width=64, height=48):
            vframe = av.VideoFrame.from_ndarray(frame.image, format="rgb24")
            vframe.pts = frame.pts
            container.mux(stream.encode(vframe))
        container.mux(stream.encode(None))


def test_missing_file(tmp_path):
    with pytest.raises(VidsynthError, match="found nothing there"):
        read_video(tmp_path / "nope.mp4")


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(VidsynthError, match="FFmpeg can read"):
        read_video(path)


def test_empty_file_and_folder(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VidsynthError, match="empty file"):
        read_video(tmp_path / "empty.mp4")
    with pytest.raises(VidsynthError, match="found a folder"):
        read_video(tmp_path)


@pytest.mark.parametrize("name", ["zero.mp4", "zero.mkv"])
def test_zero_frame_video(tmp_path, name):
    path = tmp_path / name
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height = 64, 48
        container.start_encoding()
    with pytest.raises(VidsynthError, match="zero frames"):
        read_video(path)


@pytest.mark.parametrize(
    "name, fmt, options",
    [("cut.mp4", "mp4", {"movflags": "faststart"}), ("cut.mkv", "matroska", {}), ("cut_index.mp4", "mp4", {})],
)
def test_truncated_video_names_the_problem(tmp_path, name, fmt, options):
    whole = tmp_path / ("whole_" + name)
    write_plain(whole, fmt, **options)
    data = whole.read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: int(len(data) * 0.6)])
    started = time.monotonic()
    with pytest.raises(VidsynthError, match="truncated|FFmpeg can read") as caught:
        read_video(path)
    assert "\n" not in str(caught.value)
    assert time.monotonic() - started < 5


def test_truncated_video_partial_keeps_the_good_frames(tmp_path, caplog):
    whole = tmp_path / "whole.mkv"
    write_plain(whole, "matroska")
    data = whole.read_bytes()
    path = tmp_path / "cut.mkv"
    path.write_bytes(data[: int(len(data) * 0.6)])
    frames = read_video(path, partial=True)
    assert 0 < len(frames) < 30
    assert "truncated" in caplog.text
