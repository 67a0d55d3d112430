"""Crash safety and resume of Mp4Sink: SIGKILL midway leaves the closed segments playable; a resumed
render is identical (packet for packet, byte for byte) to an uninterrupted one."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import pytest

from vidsynth.errors import VidsynthError
from vidsynth.streams.mp4 import Mp4Sink
from vidsynth.streams.mp4box import scan_fragments
from vidsynth.streams.synthetic.clip import SyntheticClip, read_stamp
from vidsynth.streams.video_file import VideoFileSource

REPO = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import sys, time
    from vidsynth.streams.synthetic.clip import SyntheticClip
    from vidsynth.streams.mp4 import Mp4Sink
    clip = SyntheticClip(n_frames=60, width=64, height=48, vfr=True, seed=1)
    sink = Mp4Sink(sys.argv[1], gop=10)
    sink.open(clip.open())
    for frame in clip:
        sink.write(frame)
        print(frame.index, flush=True)
        if frame.index == 34:
            time.sleep(60)  # killed here
    sink.close()
    """
)


def packets(path):
    with av.open(str(path)) as container:
        return [(bytes(p), p.pts, p.dts, p.duration, p.is_keyframe) for p in container.demux(video=0) if p.size]


def render(clip, sink):
    sink.open(clip.open())
    for frame in clip:
        sink.write(frame)
    sink.close()


def test_sigkill_leaves_playable_closed_segments_and_resume_equals_uninterrupted(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    out = tmp_path / "killed.mp4"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)
    try:
        for line in proc.stdout:
            if line.strip() == "34":
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    # the unfinished render is under the temporary name; the output's name is not taken by a cut file
    partial = tmp_path / "killed.partial.mp4"
    assert not out.exists() and partial.exists()
    # frames 0..34 went in; segments 0-9, 10-19, 20-29 are closed (frame 30 opened the next one)
    assert scan_fragments(partial).frames == 30
    source = VideoFileSource(partial)
    source.open()
    assert [read_stamp(f.image) for f in source] == list(range(30))

    clip = SyntheticClip(n_frames=60, width=64, height=48, vfr=True, seed=1)
    sink = Mp4Sink(out, gop=10, resume=True)
    start = sink.resume_point()
    assert start == 30
    clip.seek(start)
    render(clip, sink)
    assert not sink.resume_path.exists() and not partial.exists()

    whole = tmp_path / "whole.mp4"
    clip.seek(0)
    render(clip, Mp4Sink(whole, gop=10))
    assert packets(out) == packets(whole)  # same bits, same timestamps
    assert out.read_bytes() == whole.read_bytes()


def test_resume_adopts_a_longer_file_left_by_a_crashed_resume(tmp_path):
    clip = SyntheticClip(n_frames=40, width=64, height=48)
    out = tmp_path / "out.mp4"
    render(clip, Mp4Sink(out, gop=10))
    sink = Mp4Sink(out, gop=10, resume=True)
    out.rename(sink.resume_path)  # as if the main file were still the short one and the temp ran ahead
    short = SyntheticClip(n_frames=10, width=64, height=48)
    render(short, Mp4Sink(out, gop=10))
    assert sink.resume_point() == 40
    assert not sink.resume_path.exists()


def test_resume_checks_the_first_frame_and_the_file_kind(tmp_path):
    clip = SyntheticClip(n_frames=25, width=64, height=48)
    out = tmp_path / "out.mp4"
    render(clip, Mp4Sink(out, gop=10))
    sink = Mp4Sink(out, gop=10, resume=True)
    assert sink.resume_point() == 25  # a cleanly closed file: every frame is in a closed segment
    sink.open(clip.open())
    clip.seek(3)
    with pytest.raises(VidsynthError, match="seek the source"):
        sink.write(next(iter(clip)))

    plain = tmp_path / "plain.mp4"  # an ordinary (not fragmented) MP4
    with av.open(str(plain), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height = 64, 48
        for frame in SyntheticClip(n_frames=3, width=64, height=48):
            vframe = av.VideoFrame.from_ndarray(frame.image, format="rgb24")
            vframe.pts = frame.pts
            container.mux(stream.encode(vframe))
        container.mux(stream.encode(None))
    with pytest.raises(VidsynthError, match="fragmented"):
        Mp4Sink(plain, resume=True).resume_point()
