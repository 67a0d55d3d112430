"""A render killed with SIGKILL midway leaves a playable MP4; ``--resume`` completes it, and the result
has the same frames as an uninterrupted render.

The render runs in a subprocess with its stage slowed down (so there is a "midway" to kill it at, on any
machine); the test waits until the output holds a closed segment, then kills it. The resumed render and
the reference render are not slowed down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from vidsynth.cli import main
from vidsynth.engine import FunctionStage, Pipeline
from vidsynth.streams import SyntheticClip, read_stamp
from vidsynth.streams.mp4 import Mp4Sink
from vidsynth.streams.mp4box import scan_fragments
from vidsynth.streams.outputs import partial_path

from videos import read_video

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HANG = 120


def _closed_frames(path) -> int:
    """Closed frames of the output, read from its temporary name while the render is unfinished."""
    path = partial_path(path) if os.path.exists(partial_path(path)) else path
    try:
        return scan_fragments(path).frames if os.path.exists(path) else 0
    except Exception:
        return 0  # the file is being written; try again


def _start_and_kill(code: str, out, at_least: int) -> int:
    """Run ``code`` in a subprocess, SIGKILL it once ``out`` holds ``at_least`` closed frames."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + HANG
    try:
        while _closed_frames(out) < at_least:
            assert proc.poll() is None, f"the render ended before it was killed: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "the render made no progress"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(HANG)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return _closed_frames(out)


def test_sigkill_then_resume_through_the_pipeline_equals_an_uninterrupted_render(tmp_path):
    n, gop = 60, 10
    out, reference = tmp_path / "killed.mp4", tmp_path / "reference.mp4"
    code = f"""
        import time
        from vidsynth.engine import FunctionStage, Pipeline
        from vidsynth.streams import SyntheticClip
        from vidsynth.streams.mp4 import Mp4Sink
        slow = FunctionStage(lambda f: (time.sleep(0.05), f)[1], name="slow_identity")
        Pipeline(SyntheticClip(n_frames={n}, width=64, height=48), [slow], Mp4Sink({str(out)!r}, gop={gop}),
                 progress=False).run()
    """
    closed = _start_and_kill(code, out, at_least=2 * gop)

    assert not out.exists()  # the unfinished render keeps its temporary name
    partial = read_video(partial_path(out))  # playable: every closed segment decodes, stamps in order
    assert 2 * gop <= len(partial) < n
    assert [read_stamp(f.image) for f in partial] == list(range(len(partial)))
    assert closed <= len(partial)

    # the same processing as the killed run (its name is in the output's recipe), without the delay
    identity = FunctionStage(lambda f: f, name="slow_identity")
    report = Pipeline(SyntheticClip(n_frames=n, width=64, height=48), [identity], Mp4Sink(out, gop=gop, resume=True),
                      resume=True, progress=False).run()
    assert report.resumed_from == closed and report.frames_out == n - closed
    Pipeline(SyntheticClip(n_frames=n, width=64, height=48), [identity], Mp4Sink(reference, gop=gop),
             progress=False).run()

    resumed, uninterrupted = read_video(out), read_video(reference)
    assert [read_stamp(f.image) for f in resumed] == list(range(n))
    assert [f.pts for f in resumed] == [f.pts for f in uninterrupted]
    for a, b in zip(resumed, uninterrupted):
        np.testing.assert_array_equal(a.image, b.image)


def test_sigkill_then_cli_resume_of_a_stateful_extraction(tmp_path, capsys):
    """Flow needs the previous frame: the resumed render re-reads it (warm-up) and matches exactly."""
    n = 150  # 2.5 segments of 60 frames (two seconds at 30 fps)
    spec = f"synthetic:clip?n_frames={n}&width=64&height=48"
    out, reference = tmp_path / "flow_killed.mp4", tmp_path / "flow_reference.mp4"
    code = f"""
        import time, sys
        from vidsynth.engine.extract import flow
        process = flow.FlowExtractor.process
        flow.FlowExtractor.process = lambda self, frame: (time.sleep(0.02), process(self, frame))[1]
        from vidsynth.cli import main
        sys.exit(main(["extract", "--input", {spec!r}, "--what", "flow", "--output", {str(out)!r}, "--no-progress"]))
    """
    closed = _start_and_kill(code, out, at_least=60)
    assert 60 <= len(read_video(partial_path(out))) < n

    argv = ["extract", "--input", spec, "--what", "flow", "--no-progress"]
    assert main([*argv, "--output", str(out), "--resume"]) == 0
    assert main([*argv, "--output", str(reference)]) == 0
    resumed, uninterrupted = read_video(out), read_video(reference)
    assert len(resumed) == len(uninterrupted) == n
    for k, (a, b) in enumerate(zip(resumed, uninterrupted)):
        assert a.pts == b.pts
        np.testing.assert_array_equal(a.image, b.image, err_msg=f"frame {k} (resumed from {closed})")


@pytest.mark.parametrize("signum, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_stops_the_cli_cleanly_and_the_output_is_complete_up_to_the_stop(tmp_path, signum, exit_code):
    """SIGINT (exit 130) and SIGTERM (exit 143) alike: one line, no traceback, and every frame read before
    the stop is in the file."""
    n = 300
    out = tmp_path / "interrupted.mp4"
    code = f"""
        import time, sys
        from vidsynth.engine.extract import flow
        process = flow.FlowExtractor.process
        flow.FlowExtractor.process = lambda self, frame: (time.sleep(0.02), process(self, frame))[1]
        from vidsynth.cli import main
        sys.exit(main(["extract", "--input", "synthetic:clip?n_frames={n}&width=64&height=48", "--what", "flow",
                       "--output", {str(out)!r}, "--no-progress", "--metrics", {str(tmp_path / "m.json")!r}]))
    """
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + HANG
    while _closed_frames(out) < 60 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=HANG)
    assert proc.returncode == exit_code, err
    assert "Traceback" not in err
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last == "vidsynth: interrupted; the output written so far was closed", last

    import json

    report = json.loads((tmp_path / "m.json").read_text())
    assert report["stopped"] == "interrupt"
    assert report["frames_out"] == report["frames_in"] < n  # graceful: nothing read was lost
    frames = read_video(out)  # closed properly: the open segment was flushed too
    assert len(frames) == report["frames_out"]


# -- resume is exact: stateful stages restored from their snapshots -------------------------------------

MODELS = os.path.join(ROOT, "engine", "data", "models")
# 45 frames at 10 fps: segments of 20 frames (two seconds); snapshots every 30 frames
RESUMABLE = {
    "street": ["render", "--model", os.path.join(MODELS, "vid2vid_street_128.safetensors"),
               "--input", "synthetic:street?frames=45&width=64&height=32&fps=10"],
    "pose": ["render", "--model", os.path.join(MODELS, "vid2vid_pose_64.safetensors"),
             "--input", "synthetic:puppet?frames=45&width=64&height=64&fps=10"],
    "extract_pose": ["extract", "--what", "pose", "--input", "synthetic:photo_pan?n_frames=45&size=96&fps=10"],
}
# the killed run's slow stage: the generator for renders, the extractor for extraction
SLOWED = {"street": ("vidsynth.engine.generate.video", "VideoGenerator"),
          "pose": ("vidsynth.engine.generate.video", "VideoGenerator"),
          "extract_pose": ("vidsynth.engine.extract.pose", "PoseExtractor")}


def _stop_midway(argv, out, signum, slowed, at_least) -> None:
    """Run the CLI with ``slowed``'s process() slowed down; send ``signum`` once ``at_least`` frames are closed."""
    module, cls = slowed
    code = f"""
        import sys, time, importlib
        stage = getattr(importlib.import_module({module!r}), {cls!r})
        process = stage.process
        stage.process = lambda self, frame: (time.sleep(0.08), process(self, frame))[1]
        from vidsynth.cli import main
        sys.exit(main({[*argv, "--output", str(out), "--no-progress"]!r}))
    """
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + HANG
    try:
        while _closed_frames(out) < at_least:
            assert proc.poll() is None, f"the run ended before it was stopped: {proc.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=HANG)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    expected = {signal.SIGKILL: -signal.SIGKILL, signal.SIGINT: 130, signal.SIGTERM: 143}[signum]
    assert proc.returncode == expected, err


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Each job's output run without a stop (made once, shared by the three signals)."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    made = {}

    def get(job):
        if job not in made:
            out = folder / f"{job}.mp4"
            assert main([*RESUMABLE[job], "--output", str(out), "--no-progress"]) == 0
            made[job] = read_video(out)
        return made[job]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["SIGKILL", "SIGINT", "SIGTERM"])
@pytest.mark.parametrize("job", ["street", "pose", "extract_pose"])
def test_a_stopped_stateful_run_resumes_frame_identical_to_an_uninterrupted_one(tmp_path, uninterrupted, job, signum):
    """vid2vid's step state, the subject crop, the held frame and the landmark smoother are restored from
    their snapshots (MediaPipe detects on every frame), so every resumed frame equals the uninterrupted run's."""
    out = tmp_path / f"{job}.mp4"
    _stop_midway(RESUMABLE[job], out, signum, SLOWED[job], at_least=40)
    record = tmp_path / f".{job}.mp4.resume"
    assert (record / "recipe.json").exists() and any(p.name.startswith("state-00000030") for p in record.iterdir())

    assert main([*RESUMABLE[job], "--output", str(out), "--no-progress", "--resume"]) == 0
    resumed, reference = read_video(out), uninterrupted(job)
    assert len(resumed) == len(reference) == 45
    for k, (a, b) in enumerate(zip(resumed, reference)):
        assert a.pts == b.pts
        np.testing.assert_array_equal(a.image, b.image, err_msg=f"frame {k}")


def test_resume_refuses_an_output_another_command_made(tmp_path, capsys):
    clip = "synthetic:clip?n_frames=20&width=64&height=48"
    out = tmp_path / "flow.mp4"
    assert main(["extract", "--input", clip, "--what", "flow", "--output", str(out), "--no-progress"]) == 0
    before = out.read_bytes()
    capsys.readouterr()

    refused = {
        "another --what": (["--input", clip, "--what", "mask"], "the processing differs"),
        "another input": (["--input", "synthetic:clip?n_frames=20&width=64&height=48&seed=5", "--what", "flow"],
                          "the input differs"),
    }
    for why, (argv, says) in refused.items():
        code = main(["extract", *argv, "--output", str(out), "--no-progress", "--resume"])
        err = capsys.readouterr().err
        assert code == 2, why
        assert "was made by another command" in err and says in err, (why, err)
        assert out.read_bytes() == before, why  # the output is left as it was

    # the command that made it: nothing left to do, the output is unchanged
    assert main(["extract", "--input", clip, "--what", "flow", "--output", str(out), "--no-progress", "--resume"]) == 0
    assert len(read_video(out)) == 20


def test_resume_refuses_an_output_without_a_record(tmp_path, capsys):
    clip = "synthetic:clip?n_frames=12&width=64&height=48"
    out = tmp_path / "flow.mp4"
    assert main(["extract", "--input", clip, "--what", "flow", "--output", str(out), "--no-progress"]) == 0
    import shutil

    shutil.rmtree(tmp_path / ".flow.mp4.resume")  # e.g. written by an older vidsynth
    capsys.readouterr()
    assert main(["extract", "--input", clip, "--what", "flow", "--output", str(out), "--no-progress", "--resume"]) == 2
    assert "has no resume record" in capsys.readouterr().err


def test_resume_with_nothing_written_yet_starts_from_the_first_frame(tmp_path):
    clip = "synthetic:clip?n_frames=12&width=64&height=48"
    out = tmp_path / "flow.mp4"
    argv = ["extract", "--input", clip, "--what", "flow", "--output", str(out), "--no-progress", "--resume"]
    assert main(argv) == 0 and len(read_video(out)) == 12
    assert (tmp_path / ".flow.mp4.resume" / "recipe.json").exists()  # so a later --resume can check it
    assert main(argv) == 0 and len(read_video(out)) == 12


@pytest.mark.xfail(strict=True, reason="the world's state_dict compacts its points into new slots, so the guidance "
                   "after a restore differs slightly (frame 43: 91 % of pixels, up to 22 levels); wc resume is not "
                   "exact yet")
def test_a_stopped_world_consistent_render_resumes_with_its_world(tmp_path, monkeypatch):
    """wc-vid2vid's world (the coloured points its guidance comes from) is restored from the snapshot: the
    resumed render equals an uninterrupted one."""
    import threading

    import torch

    from vidsynth.engine.generate.world import WorldConsistentGenerator
    from vidsynth.engine.render import render
    from vidsynth.networks.model_file import save_model
    from vidsynth.networks.wc_vid2vid import WCVid2VidConfig, WCVid2VidGenerator

    torch.manual_seed(0)
    save_model(WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=35)), tmp_path / "wc.safetensors")
    spec = "synthetic:street?frames=50&width=64&height=32&fps=5"  # segments of 10 frames

    def run(out, stop_at=None, resume=False):
        stop = threading.Event()
        if stop_at is not None:
            after = WorldConsistentGenerator.after_step

            def after_step(self, frame, placement, outputs):
                after(self, frame, placement, outputs)
                if frame.index == stop_at:
                    stop.set()  # a graceful stop, as Ctrl-C: the frames read are written, the output closed

            monkeypatch.setattr(WorldConsistentGenerator, "after_step", after_step)
        render(str(tmp_path / "wc.safetensors"), spec, output=str(out), progress=False, resume=resume,
               stop_event=stop).run()
        monkeypatch.undo()

    out, reference = tmp_path / "stopped.mp4", tmp_path / "reference.mp4"
    run(out, stop_at=36)
    written = len(read_video(partial_path(out) if partial_path(out).exists() else out))
    assert 36 < written < 50 and (tmp_path / ".stopped.mp4.resume" / "state-00000030-01.pt").exists() or \
        any(p.name.startswith("state-00000030") for p in (tmp_path / ".stopped.mp4.resume").iterdir())
    run(out, resume=True)
    run(reference)
    resumed, uninterrupted = read_video(out), read_video(reference)
    assert len(resumed) == len(uninterrupted) == 50
    for k, (a, b) in enumerate(zip(resumed, uninterrupted)):
        np.testing.assert_array_equal(a.image, b.image, err_msg=f"frame {k} (stopped after {written})")
