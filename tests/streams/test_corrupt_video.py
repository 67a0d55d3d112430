"""A corrupt video packet in the middle of a file, as FFmpeg plays it: the frames that decode are kept, the
lost one is counted and named, and reading goes on; ``strict`` stops there with the same words."""

import logging

import pytest

from vidsynth.errors import VidsynthError
from vidsynth.streams.synthetic.clip import read_stamp
from vidsynth.streams.video_file import VideoFileSource

from footage import FPS, N_FRAMES, corrupt_video_packet, write_clip_with_audio


@pytest.fixture
def damaged(tmp_path):
    path = tmp_path / "camera.mp4"
    write_clip_with_audio(path, "mp4", "aac")
    seconds = corrupt_video_packet(path, 12)  # the 13th in decode order; B-frames put it elsewhere in time
    return path, round(seconds * FPS), seconds


def test_frames_that_decode_are_kept_and_the_lost_one_is_named(damaged, caplog):
    path, number, seconds = damaged
    source = VideoFileSource(path)
    source.open()
    with caplog.at_level(logging.WARNING, logger="vidsynth.streams.video_file"):
        frames = list(source)
    assert len(frames) == N_FRAMES - 1
    assert [read_stamp(f.image) for f in frames[:number]] == list(range(number))
    assert [f.index for f in frames] == list(range(N_FRAMES - 1))
    assert source.lost == [(number, pytest.approx(seconds, abs=0.001))] and source.counters == {"frames_lost": 1}
    assert f"frame {number} (at {seconds:.2f} s) could not be decoded" in caplog.text and "skipped" in caplog.text


def test_strict_stops_at_the_corrupt_packet_after_the_frames_before_it(damaged):
    path, number, seconds = damaged
    source = VideoFileSource(path, strict=True)
    source.open()
    kept = []
    with pytest.raises(VidsynthError, match=rf"frame {number} \(at {seconds:.2f} s\) could not be decoded") as caught:
        for frame in source:
            kept.append(frame)
    assert [read_stamp(f.image) for f in kept] == list(range(len(kept))) and len(kept) >= number - 3
    assert "--strict" in str(caught.value)


def test_a_stream_with_a_damaged_packet_goes_on(damaged):
    from vidsynth.streams.url import UrlSource

    path, _, _ = damaged
    source = UrlSource(str(path))  # any address FFmpeg opens; a local file stands in for the network here
    source.open()
    frames = list(source)
    source.close()
    assert len(frames) == N_FRAMES - 1 and source.corrupt_packets == 1
