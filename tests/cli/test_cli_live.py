"""Live mode from the command line: a file standing in for a camera, latest-frame-wins, figures as JSON."""

import json

from vidsynth.cli import main


def test_live_mode_accounts_for_every_frame(tmp_path):
    metrics = tmp_path / "live.json"
    code = main(["extract", "--input", "synthetic:clip?n_frames=60&width=64&height=48", "--what", "flow",
                 "--output", "null", "--live", "--metrics", str(metrics), "--no-progress"])
    assert code == 0
    data = json.loads(metrics.read_text())
    assert data["mode"] == "live"
    # every frame read is either written or dropped as stale at one hand-over, never queued
    assert data["frames_in"] == 60
    assert data["frames_out"] + data["dropped"] == 60
    assert all(s["queue_max"] <= 1 for s in data["stages"].values())
    assert data["end_to_end_ms"]["count"] == data["frames_out"] > 0


def test_bench_live_smoke(capsys):
    assert main(["bench", "live", "--frames", "15", "--stage-ms", "20"]) == 0
    out = capsys.readouterr().out
    assert "end-to-end latency" in out and "dropped" in out
