"""SIGKILL a training process mid-run, resume it, and get the uninterrupted run's losses and weights."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

import standins  # noqa: F401
from standins import standin_config, standin_config_dict, write_paired_folder

from vidsynth.training import checkpoint as ckpt
from vidsynth.training import run

HERE = os.path.dirname(os.path.abspath(__file__))


def _train_cmd(cfg_path, data, out, *extra):
    return [sys.executable, os.path.join(HERE, "train_standin.py"), "--config", cfg_path, "--data", data,
            "--out", out, "--no-progress", *extra]


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    data = write_paired_folder(str(tmp_path / "data"), n=10)
    trainer = {"max_iter": 24, "checkpoint_every": 3}
    cfg_path = str(tmp_path / "cfg.yaml")
    with open(cfg_path, "w") as f:
        yaml.safe_dump(standin_config_dict(**trainer), f)
    env = dict(os.environ, OMP_NUM_THREADS="1")

    out = str(tmp_path / "killed")
    proc = subprocess.Popen(_train_cmd(cfg_path, data, out), env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        state = ckpt.latest_checkpoint(out)
        if state and int(os.path.basename(state)[5:13]) >= 6:
            proc.send_signal(signal.SIGKILL)
            killed_at = state
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    assert killed_at is not None and proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    assert not os.path.exists(os.path.join(out, "model.safetensors"))  # it really stopped mid-run
    stopped = ckpt.load_checkpoint(out)["iteration"]
    assert 6 <= stopped < 24

    done = subprocess.run(_train_cmd(cfg_path, data, out, "--resume", out), env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]

    ref_out = str(tmp_path / "reference")
    run(standin_config(**trainer), data, ref_out, progress=False)
    ref, got = ckpt.load_checkpoint(ref_out), ckpt.load_checkpoint(out)
    assert got["iteration"] == ref["iteration"] == 24
    for part in ("generator", "discriminator", "generator_ema"):
        for k, v in ref[part].items():
            torch.testing.assert_close(got[part][k], v, rtol=1e-6, atol=1e-7, msg=f"{part}.{k}")
    ref_log = [json.loads(x) for x in open(os.path.join(ref_out, "losses.jsonl"))]
    got_log = [json.loads(x) for x in open(os.path.join(out, "losses.jsonl"))]
    assert [r["iteration"] for r in got_log] == list(range(1, 25))
    for a, b in zip(got_log, ref_log):
        for k in b:
            assert abs(a[k] - b[k]) <= 1e-5 * max(1.0, abs(b[k])), (a["iteration"], k, a[k], b[k])


SLOW_TRAIN = """
import sys, time
sys.path.insert(0, {here!r})
import standins  # noqa: F401  (registers the stand-in models)
import torch
torch.set_num_threads(1)
from vidsynth.training.trainers import base
step = base.Trainer.train_step
base.Trainer.train_step = lambda self, batch: (time.sleep(0.05), step(self, batch))[1]
from vidsynth.training.cli import main
sys.exit(main({argv!r}))
"""


def _logged(out) -> int:
    path = os.path.join(out, "losses.jsonl")
    return sum(1 for _ in open(path)) if os.path.exists(path) else 0


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_a_checkpoint_at_that_iteration_and_resume_continues_there(tmp_path, signum, code):
    """Ctrl-C / SIGTERM mid-run: a checkpoint at the iteration reached (not the last periodic one), the
    message says where, and the resumed run ends with the uninterrupted run's weights."""
    data = write_paired_folder(str(tmp_path / "data"), n=10)
    trainer = {"max_iter": 40, "checkpoint_every": 1000, "checkpoint_minutes": 0}
    cfg_path = str(tmp_path / "cfg.yaml")
    with open(cfg_path, "w") as f:
        yaml.safe_dump(standin_config_dict(**trainer), f)
    out = str(tmp_path / "stopped")
    argv = ["train", "--config", cfg_path, "--data", data, "--out", out, "--no-progress"][1:]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_TRAIN.format(here=HERE, argv=argv)],
                            env=dict(os.environ, OMP_NUM_THREADS="1"), stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while _logged(out) < 7 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err and "output written so far" not in err
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith("vidsynth: interrupted; checkpoint saved at iteration "), last
    stopped = int(last.split("iteration ")[1].split(":")[0])
    assert 7 <= stopped < 40
    state = ckpt.load_checkpoint(out)
    assert state["iteration"] == stopped and state["path"] in last and f"--resume {out}" in last
    assert not os.path.exists(os.path.join(out, "model.safetensors"))

    run(standin_config(**trainer), data, out, resume=out, progress=False)
    got_log = [json.loads(x) for x in open(os.path.join(out, "losses.jsonl"))]
    assert [r["iteration"] for r in got_log] == list(range(1, 41))  # nothing redone, nothing skipped
    ref_out = str(tmp_path / "reference")
    run(standin_config(**trainer), data, ref_out, progress=False)
    ref, got = ckpt.load_checkpoint(ref_out), ckpt.load_checkpoint(out)
    for part in ("generator", "discriminator", "generator_ema"):
        for k, v in ref[part].items():
            torch.testing.assert_close(got[part][k], v, rtol=1e-6, atol=1e-7, msg=f"{part}.{k}")


def test_checkpoints_by_wall_time_between_the_periodic_ones(tmp_path):
    data = write_paired_folder(str(tmp_path / "data"), n=10)
    out = str(tmp_path / "timed")
    # every iteration is past a (tiny) wall-time period: each one checkpoints, although checkpoint_every is 1000
    run(standin_config(max_iter=5, checkpoint_every=1000, checkpoint_minutes=1e-9, keep_checkpoints=10), data, out,
        progress=False)
    names = sorted(f for f in os.listdir(ckpt.checkpoint_dir(out)) if f.endswith(".pt"))
    assert names == [f"iter_{i:08d}.pt" for i in range(1, 6)]
