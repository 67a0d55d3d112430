"""File → pipeline → file: every frame kept, in order, with exact timestamps; the identity is > 35 dB.

The input is the stamped synthetic clip (each frame carries its index in its pixels) written as H.264,
constant and variable frame rate. It goes through the Pipeline (Python API, specs as a user types them)
and through the ``vidsynth`` command, and is decoded again.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from vidsynth.cli import main
from vidsynth.engine import FunctionStage, Pipeline
from vidsynth.streams import SyntheticClip, open_sink, read_stamp

from videos import read_video

N = 40


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


@pytest.fixture(params=["cfr", "vfr"])
def stamped_file(request, tmp_path):
    clip = SyntheticClip(n_frames=N, width=128, height=96, vfr=request.param == "vfr")
    path = tmp_path / f"stamped_{request.param}.mp4"
    Pipeline(clip, [], open_sink(str(path)), progress=False).run()
    times = [Fraction(clip.pts(i)) * clip.time_base for i in range(N)]
    return path, clip, times


def test_identity_pipeline_keeps_every_frame_in_order_with_exact_times(stamped_file, tmp_path):
    path, clip, times = stamped_file
    out = tmp_path / "identity.mp4"
    report = Pipeline(str(path), [FunctionStage(lambda f: f, name="identity")], str(out), progress=False).run()
    assert report.frames_in == report.frames_out == N and report.dropped == 0

    frames = read_video(out)
    assert [read_stamp(f.image) for f in frames] == list(range(N))
    assert [Fraction(f.pts) * f.time_base for f in frames] == times
    worst = min(_psnr(f.image, clip.render(i)) for i, f in enumerate(frames))
    assert worst > 35.0  # two H.264 generations (the input file and the output) against the pictures drawn


def test_cli_extract_keeps_the_input_timing(stamped_file, tmp_path, capsys):
    path, _, times = stamped_file
    out = tmp_path / "flow.mp4"
    assert main(["extract", "--input", str(path), "--what", "flow", "--output", str(out), "--no-progress"]) == 0
    frames = read_video(out)
    assert len(frames) == N
    assert [Fraction(f.pts) * f.time_base for f in frames] == times
    # the flow of a moving picture is not blank (the extraction really ran)
    assert max(float(f.image.std()) for f in frames[1:]) > 1.0


def test_offline_metrics_from_the_cli(stamped_file, tmp_path, capfd):
    import json

    path, _, _ = stamped_file
    metrics = tmp_path / "metrics.json"
    assert main(["extract", "--input", str(path), "--what", "flow", "--output", str(tmp_path / "f.mp4"),
                 "--metrics", str(metrics), "--no-progress", "--seed", "3"]) == 0
    data = json.loads(metrics.read_text())
    assert data["frames_out"] == N and data["mode"] == "offline" and data["dropped"] == 0
    assert {"source", "FlowExtractor", "DrawFlow", "sink"} <= set(data["stages"])
    assert "frames written" in capfd.readouterr().err  # the summary is printed too
