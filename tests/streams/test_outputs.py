"""Output safety: an output that is an input is refused, an existing one needs overwrite, a second writer is
refused by the lock (which a killed writer does not leave held), and files appear under their name only
when complete."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vidsynth.errors import VidsynthError
from vidsynth.streams.lossless import LosslessVideoSink
from vidsynth.streams.outputs import claim_output, guard_outputs, partial_path, release_output
from vidsynth.streams.synthetic.clip import SyntheticClip

REPO = Path(__file__).resolve().parents[2]


def test_an_output_that_is_or_resolves_to_or_lies_inside_an_input_is_refused(tmp_path):
    clip = tmp_path / "in.mp4"
    clip.write_bytes(b"video")
    (tmp_path / "link.mp4").symlink_to(clip)
    os.link(clip, tmp_path / "hard.mp4")
    frames = tmp_path / "frames"
    frames.mkdir()
    cases = [
        ([str(clip)], [str(clip)], "it is the input"),
        ([str(tmp_path / "sub" / ".." / "in.mp4")], [str(clip)], "it is the input"),
        ([str(tmp_path / "link.mp4")], [str(clip)], "it is the input"),
        ([str(tmp_path / "hard.mp4")], [str(clip)], "it is the input"),
        ([str(frames)], [str(frames)], "it is the input"),
        ([str(frames / "out.mp4")], [str(frames)], "inside the input folder"),
    ]
    (tmp_path / "sub").mkdir()
    for outputs, inputs, words in cases:
        with pytest.raises(VidsynthError, match=words):
            guard_outputs(outputs, inputs, overwrite=True, lock=False)
    assert clip.read_bytes() == b"video"


def test_an_existing_output_needs_overwrite_or_resume(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    with pytest.raises(VidsynthError, match=r"out.mp4 already exists .*-y/--overwrite.*--resume"):
        guard_outputs([str(out)], ["synthetic:clip"], lock=False)
    guard_outputs([str(out)], ["synthetic:clip"], overwrite=True, lock=False)
    guard_outputs([str(out)], ["synthetic:clip"], resume=True, lock=False)
    folder = tmp_path / "frames"
    folder.mkdir()
    guard_outputs([str(folder)], ["synthetic:clip"], lock=False)  # an empty folder is fine
    (folder / "000000.png").write_bytes(b"png")
    with pytest.raises(VidsynthError, match="a folder with files"):
        guard_outputs([str(folder)], ["synthetic:clip"], lock=False)
    guard_outputs(["null", "http", "udp://127.0.0.1:5000", "window"], ["camera:0"], lock=False)


HOLDER = textwrap.dedent(
    """
    import sys, time
    from vidsynth.streams.outputs import claim_output
    claim_output(sys.argv[1])
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_a_second_writer_is_refused_with_the_name_and_a_killed_writer_frees_the_output(tmp_path):
    out = tmp_path / "out.mkv"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True, cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(VidsynthError, match=rf"{out} is being written by another process \(pid {proc.pid}"):
            guard_outputs([str(out)], ["synthetic:clip"])
        sink = LosslessVideoSink(out)
        with pytest.raises(VidsynthError, match="being written by another process"):
            sink.open(SyntheticClip(n_frames=2).open())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    claim_output(out)  # the killed writer's lock went with it
    release_output(out)


def test_a_file_is_under_its_own_name_only_when_complete(tmp_path):
    out = tmp_path / "labels.mkv"
    clip = SyntheticClip(n_frames=5, width=64, height=48)
    sink = LosslessVideoSink(out)
    sink.open(clip.open())
    for frame in clip:
        sink.write(frame)
        assert not out.exists() and partial_path(out).exists()
    sink.close()
    assert out.exists() and not partial_path(out).exists()
    claim_output(out)  # the sink let go of its lock when it closed
    release_output(out)


def test_an_image_folder_output_is_locked_while_written(tmp_path):
    from vidsynth.streams.folder import ImageFolderSink

    folder = tmp_path / "frames"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True, cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(VidsynthError, match=f"{folder} is being written by another process"):
            ImageFolderSink(folder).open()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    sink = ImageFolderSink(folder)
    sink.open()
    sink.close()
    claim_output(folder)
    release_output(folder)


def test_the_sinks_refuse_to_write_over_the_file_they_read(tmp_path, write_clip):
    import cv2
    import numpy as np

    from vidsynth.streams.folder import ImageFolderSink, ImageFolderSource
    from vidsynth.streams.mp4 import Mp4Sink
    from vidsynth.streams.video_file import VideoFileSource

    clip = tmp_path / "clip.mp4"
    write_clip(clip, SyntheticClip(n_frames=3, width=64, height=48), gop=3)
    before = clip.read_bytes()
    info = VideoFileSource(clip).open()
    for sink in (Mp4Sink(clip), Mp4Sink(tmp_path / "." / "clip.mp4")):
        with pytest.raises(VidsynthError, match="it is the input"):
            sink.open(info)
    assert clip.read_bytes() == before
    frames = tmp_path / "frames"
    frames.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(frames / name), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(VidsynthError, match="it is the input"):
        ImageFolderSink(frames).open(ImageFolderSource(frames).open())
    assert sorted(p.name for p in frames.iterdir()) == ["a.png", "b.png"]


def test_the_closing_line_names_every_output_and_the_run_figures(tmp_path):
    from vidsynth.engine import FunctionStage, Pipeline
    from vidsynth.streams.browser import BrowserPreviewSink
    from vidsynth.streams.mp4 import Mp4Sink
    from vidsynth.streams.null import NullSink
    from vidsynth.streams.outputs import closing_line
    from vidsynth.streams.timing import FrameRange

    out = tmp_path / "out.mp4"
    source = FrameRange(SyntheticClip(n_frames=30, width=64, height=48, fps=30), frames=12)
    sinks = [Mp4Sink(out), BrowserPreviewSink(), NullSink()]
    stage = FunctionStage(lambda f: f, name="identity")
    stage.backend = "eager"
    pipeline = Pipeline(source, [stage], sinks, progress=False)
    report = pipeline.run()
    line = closing_line(report, pipeline.source, pipeline.sink, pipeline.stages)
    assert line == (f"vidsynth: wrote {out}: 12 frames, 0.40 s; the browser preview: 12 frames "
                    f"(offline, {report.fps:.1f} fps, 0 dropped, backend eager)")
