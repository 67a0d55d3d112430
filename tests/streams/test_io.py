"""Folders, lossless video, live inputs and outputs, and the spec parsers."""

import socket
import threading
import time
import urllib.request
from fractions import Fraction

import numpy as np
import pytest

from vidsynth.errors import VidsynthError
from vidsynth.streams import open_sink, open_source
from vidsynth.streams.base import StreamInfo
from vidsynth.streams.browser import BrowserPreviewSink
from vidsynth.streams.camera import CameraSource
from vidsynth.streams.folder import ImageFolderSink, ImageFolderSource
from vidsynth.streams.frame import Frame
from vidsynth.streams.lossless import LosslessVideoSink
from vidsynth.streams.mp4 import Mp4Sink
from vidsynth.streams.null import NullSink
from vidsynth.streams.synthetic.clip import SyntheticClip, read_stamp
from vidsynth.streams.url import UrlSink, UrlSource
from vidsynth.streams.video_file import VideoFileSource
from vidsynth.streams.window import WindowSink

INFO = StreamInfo(64, 48, Fraction(30), Fraction(1, 30))


def frames_of(images):
    return [Frame(index=i, pts=i, time_base=Fraction(1, 30), image=im) for i, im in enumerate(images)]


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "dtype, shape",
    [(np.uint8, (48, 64, 3)), (np.uint8, (48, 64)), (np.uint16, (48, 64)), (np.uint16, (48, 64, 3))],
    ids=["rgb8", "grey8", "grey16", "rgb16"],
)
def test_lossless_video_and_png_folder_round_trip_bit_exact(tmp_path, rng, dtype, shape):
    images = [rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True) for _ in range(4)]
    for sink, reader in [
        (LosslessVideoSink(tmp_path / "v.mkv"), lambda: VideoFileSource(tmp_path / "v.mkv", raw=True)),
        (ImageFolderSink(tmp_path / "png"), lambda: ImageFolderSource(tmp_path / "png", raw=True)),
    ]:
        sink.open(INFO)
        for frame in frames_of(images):
            sink.write(frame)
        sink.close()
        source = reader()
        source.open()
        back = [f.image for f in source]
        assert len(back) == 4
        for a, b in zip(back, images):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_image_folder_source_natural_order_rgb_and_seek(tmp_path):
    clip = SyntheticClip(n_frames=12, width=64, height=48)
    sink = ImageFolderSink(tmp_path, pattern="frame{index}")  # frame2 must come before frame10
    sink.open(clip.open())
    for frame in clip:
        sink.write(frame)
    source = ImageFolderSource(tmp_path, fps=25)
    info = source.open()
    assert info.frame_count == 12 and info.rate == 25
    source.seek(5)
    frames = list(source)
    assert [read_stamp(f.image) for f in frames] == list(range(5, 12))
    assert frames[0].image.shape == (48, 64, 3) and frames[0].time == 5 / 25


def test_image_folder_errors(tmp_path):
    with pytest.raises(VidsynthError, match="no such folder"):
        ImageFolderSource(tmp_path / "missing").open()
    with pytest.raises(VidsynthError, match="found none"):
        ImageFolderSource(tmp_path).open()
    (tmp_path / "0001.png").write_text("not an image")
    with pytest.raises(VidsynthError, match="cannot decode"):
        ImageFolderSource(tmp_path).open()


def test_missing_camera_fails_fast():
    started = time.monotonic()
    with pytest.raises(VidsynthError, match="expected a camera at index 99"):
        CameraSource(99, open_timeout=3).open()
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("url", ["rtsp://127.0.0.1:9/x", "http://127.0.0.1:9/x.mp4", "rtmp://127.0.0.1:9/live"])
def test_unreachable_url_fails_fast(url):
    started = time.monotonic()
    with pytest.raises(VidsynthError, match="found none after"):
        UrlSource(url, open_timeout=1, read_timeout=1).open()
    assert time.monotonic() - started < 5


def test_silent_udp_source_times_out():
    started = time.monotonic()
    with pytest.raises(VidsynthError, match=r"expected a video stream at udp://|stopped"):
        UrlSource(f"udp://127.0.0.1:{free_udp_port()}", open_timeout=1, read_timeout=1, format="mpegts").open()
    assert time.monotonic() - started < 6


def test_udp_sink_streams_to_a_udp_source_on_localhost():
    port = free_udp_port()
    received, errors = [], []

    def receive():
        try:
            source = UrlSource(
                f"udp://127.0.0.1:{port}",
                open_timeout=4,
                read_timeout=2,
                format="mpegts",
                options={"probesize": "32768", "analyzeduration": "200000"},
            )
            info = source.open()
            assert info.live and (info.width, info.height) == (64, 48)
            for frame in source:
                received.append(read_stamp(frame.image))
                if len(received) >= 15:
                    break
            source.close()
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    time.sleep(0.3)  # the receiver binds before the first datagram leaves
    clip = SyntheticClip(n_frames=240, width=64, height=48)
    sink = UrlSink(f"udp://127.0.0.1:{port}")
    sink.open(clip.open())
    for frame in clip:
        sink.write(frame)
        time.sleep(1 / 120)
        if not reader.is_alive():
            break
    sink.close()
    reader.join(timeout=5)
    assert not errors, errors
    assert len(received) == 15
    assert received == sorted(received) and len(set(received)) == 15  # in order, none repeated


def test_rtmp_sink_without_server_says_so():
    sink = UrlSink("rtmp://127.0.0.1:9/live", open_timeout=1)
    clip = SyntheticClip(n_frames=2, width=64, height=48)
    sink.open(clip.open())
    with pytest.raises(VidsynthError, match="rtmp://127.0.0.1:9/live"):
        sink.write(next(iter(clip)))
        sink.close()


def test_browser_preview_serves_page_and_jpeg_frames():
    import cv2

    sink = BrowserPreviewSink(port=0)
    sink.open(INFO)
    try:
        assert sink.url.startswith("http://127.0.0.1:")
        page = urllib.request.urlopen(sink.url, timeout=3).read().decode()
        assert "/stream.mjpg" in page
        clip = SyntheticClip(n_frames=3, width=64, height=48)
        for frame in clip:
            sink.write(frame)  # returns at once: no viewer is waited for
        data = urllib.request.urlopen(sink.url + "frame.jpg", timeout=3).read()
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
        assert image.shape == (48, 64, 3) and read_stamp(image) == 2  # the newest frame

        stream = urllib.request.urlopen(sink.url + "stream.mjpg", timeout=3)
        assert stream.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        chunk = b""
        for _ in range(50):  # bounded: one multipart JPEG is a few kB
            chunk += stream.read1(4096)
            if b"\xff\xd9" in chunk:
                break
        assert b"Content-Type: image/jpeg" in chunk and b"\xff\xd8" in chunk and b"\xff\xd9" in chunk
        stream.close()
    finally:
        started = time.monotonic()
        sink.close()
        assert time.monotonic() - started < 3


def test_window_without_display_points_to_browser_preview(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(VidsynthError, match="--preview http"):
        WindowSink().open(INFO)


def test_open_source_and_open_sink_pick_the_right_class(tmp_path, write_clip):
    path = tmp_path / "clip.mp4"
    write_clip(path, SyntheticClip(n_frames=3, width=64, height=48), gop=3)
    assert isinstance(open_source(str(path)), VideoFileSource)
    assert isinstance(open_source(tmp_path), ImageFolderSource)
    assert isinstance(open_source("camera:99"), CameraSource)
    assert isinstance(open_source("rtsp://127.0.0.1:9/x"), UrlSource)
    clip = open_source("synthetic:clip?n_frames=7&vfr=true", seed=2)
    assert isinstance(clip, SyntheticClip) and clip.n_frames == 7 and clip.vfr and clip.seed == 2
    with pytest.raises(VidsynthError, match="synthetic"):
        open_source("synthetic:no_such_world")
    with pytest.raises(VidsynthError, match="none of these"):
        open_source(tmp_path / "nothing_here")

    assert isinstance(open_sink(tmp_path / "o.mp4", crf=20), Mp4Sink)
    assert isinstance(open_sink(tmp_path / "o.mkv"), LosslessVideoSink)
    assert isinstance(open_sink(str(tmp_path / "frames") + "/"), ImageFolderSink)
    assert isinstance(open_sink("null"), NullSink)
    assert isinstance(open_sink("window"), WindowSink)
    assert open_sink("http:8089").port == 8089
    assert open_sink("udp://127.0.0.1:5000").format == "mpegts"
    assert open_sink("rtmp://host/live/key").format == "flv"
    for bad in ("ftp://host/x", "out.xyz"):
        with pytest.raises(VidsynthError):
            open_sink(bad)
    with pytest.raises(VidsynthError, match="does not take"):
        open_sink(tmp_path / "o.mp4", colour="blue")


def test_null_sink_counts():
    sink = NullSink()
    sink.open(INFO)
    for frame in SyntheticClip(n_frames=5, width=64, height=48):
        sink.write(frame)
    assert sink.frames_written == 5 and sink.last.index == 4
