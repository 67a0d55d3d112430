"""The shared training loop on small stand-in networks: checkpoints, exact resume, NaN stop, --init, logs."""

import json
import os

import pytest
import torch

import standins  # noqa: F401  (registers the stand-in models)
from standins import NaNAfter, standin_config, write_paired_folder

from vidsynth.errors import VidsynthError
from vidsynth.training import checkpoint as ckpt
from vidsynth.training import run


def _losses(out):
    return [json.loads(line) for line in open(os.path.join(out, "losses.jsonl"))]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_paired_folder(str(tmp_path_factory.mktemp("paired")), n=10)


@pytest.fixture(scope="module")
def full_run(data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("full"))
    result = run(standin_config(), data, out, progress=False)
    return out, result


def test_run_learns_and_writes_everything(full_run):
    out, result = full_run
    assert result["iteration"] == 12
    assert os.path.isfile(result["model_file"])
    assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == [
        "iter_00000004.pt", "iter_00000008.pt", "iter_00000012.pt", "latest"]
    logs = _losses(out)
    assert [r["iteration"] for r in logs] == list(range(1, 13))
    # the L1 term falls as the generator learns the class colours
    assert logs[-1]["gen/l1"] < logs[0]["gen/l1"]
    assert os.listdir(os.path.join(out, "logs"))  # TensorBoard events
    state = ckpt.load_checkpoint(out)
    assert state["iteration"] == 12 and state["format"] == ckpt.FORMAT
    assert set(state) >= {"generator", "discriminator", "generator_ema", "opt_G", "opt_D", "sched_G", "rng",
                          "epoch", "batch_in_epoch"}


def test_resume_continues_exactly(data, full_run, tmp_path):
    ref_out, _ = full_run
    out = str(tmp_path / "run")
    run(standin_config(), data, out, progress=False, max_iter=7)  # stops mid-epoch (5 batches per epoch)
    assert ckpt.load_checkpoint(out)["iteration"] == 7
    run(standin_config(), data, out, resume=out, progress=False)
    ref = ckpt.load_checkpoint(ref_out)
    got = ckpt.load_checkpoint(out)
    for part in ("generator", "discriminator", "generator_ema"):
        for k in ref[part]:
            assert torch.equal(ref[part][k], got[part][k]), (part, k)
    assert _losses(out) == _losses(ref_out)


def test_existing_run_needs_resume(data, full_run):
    out, _ = full_run
    with pytest.raises(VidsynthError, match="--resume"):
        run(standin_config(), data, out, progress=False)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(data, tmp_path):
    out = str(tmp_path / "nan")
    NaNAfter.calls, NaNAfter.limit = 0, 2 * 6  # ~two generator calls per iteration: NaN from iteration 7
    try:
        with pytest.raises(VidsynthError, match="NaN") as info:
            run(standin_config("standin_nan"), data, out, progress=False)
    finally:
        NaNAfter.limit = 10**9
    assert "iter_00000004.pt" in str(info.value)
    assert ckpt.load_checkpoint(out)["iteration"] == 4
    state = ckpt.load_checkpoint(out)
    assert all(torch.isfinite(v).all() for v in state["generator"].values())


def test_init_starts_from_a_model_file(data, full_run, tmp_path):
    _, result = full_run
    from safetensors.torch import load_file

    out = str(tmp_path / "ft")
    run(standin_config(), data, out, init=result["model_file"], progress=False, max_iter=1)
    start = load_file(result["model_file"])
    # one step from the given weights: close to them, not to a fresh initialisation
    got = ckpt.load_checkpoint(out)["generator"]
    assert all(torch.allclose(got[k], start[k], atol=0.01) for k in start)


def test_resume_rejects_a_foreign_file(tmp_path, data):
    bad = tmp_path / "x.pt"
    torch.save({"weights": 1}, bad)
    with pytest.raises(VidsynthError, match="not a vidsynth training checkpoint"):
        run(standin_config(), data, str(tmp_path / "o"), resume=str(bad), progress=False)


def test_a_pure_regression_run_leaves_the_discriminator_alone(data, tmp_path):
    # gan and feature matching weighted 0: the generator learns from L1 alone, the discriminator never steps
    cfg = standin_config(loss_weights={"gan": 0.0, "feature_matching": 0.0, "l1": 1.0}, max_iter=6,
                         checkpoint_every=6)
    out = str(tmp_path / "run")
    run(cfg, data, out, progress=False)
    logs = _losses(out)
    assert logs[-1]["gen/l1"] < logs[0]["gen/l1"]
    assert "dis/total" not in logs[-1]
    state = ckpt.load_checkpoint(out)
    assert state["opt_D"]["state"] == {}  # Adam never took a step for D
