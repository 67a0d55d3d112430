"""torchrun with 2 CPU processes (gloo) trains to the same weights as 1 process with the same global batch."""

import os
import subprocess
import sys

import torch
import yaml

import standins  # noqa: F401
from standins import standin_config, standin_config_dict, write_paired_folder

from vidsynth.training import checkpoint as ckpt
from vidsynth.training import run

HERE = os.path.dirname(os.path.abspath(__file__))


def test_two_process_ddp_equals_one_process(tmp_path):
    data = write_paired_folder(str(tmp_path / "data"), n=12)
    trainer = {"max_iter": 20, "checkpoint_every": 20}
    cfg = standin_config_dict(**trainer)
    cfg["data"]["batch_size"] = 4  # the global batch: 2 per process under torchrun
    cfg_path = str(tmp_path / "cfg.yaml")
    with open(cfg_path, "w") as f:
        yaml.safe_dump(cfg, f)

    out = str(tmp_path / "ddp")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2",
           os.path.join(HERE, "train_standin.py"), "--config", cfg_path, "--data", data, "--out", out,
           "--no-progress", "--device", "cpu"]
    done = subprocess.run(cmd, env=env, capture_output=True, timeout=240)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert os.path.isfile(os.path.join(out, "model.safetensors"))  # rank 0 finished writing before any rank left

    ref_out = str(tmp_path / "single")
    single = standin_config(**trainer)
    single.data.batch_size = 4
    run(single, data, ref_out, progress=False, device="cpu")

    ddp, ref = ckpt.load_checkpoint(out), ckpt.load_checkpoint(ref_out)
    assert ddp["world_size"] == 2 and ref["world_size"] == 1 and ddp["iteration"] == 20
    for part in ("generator", "discriminator"):
        for k, v in ref[part].items():
            rel = (ddp[part][k] - v).norm() / v.norm().clamp_min(1e-12)
            assert rel <= 1e-5, (part, k, float(rel))
    # and training did move the weights (the comparison is not between two untouched initialisations)
    torch.manual_seed(single.trainer.seed)
    fresh = standins.TinyGenerator(4)
    moved = max(float((ref["generator"][k] - v).abs().max()) for k, v in fresh.state_dict().items())
    assert moved > 1e-3


def test_two_process_ddp_trains_vid2vid_as_one_process_in_float64(tmp_path):
    """The tiny street vid2vid with every loss it ships with (GAN, feature matching, L1, the flow terms) and
    the temporal term, 20 Adam steps. In float32 its training amplifies rounding: one process at 1 and at 2
    threads already differs by ~6e-5 after 4 steps. float64 takes rounding out of the way, so what is left
    is what DDP changes: nothing (about 1e-10 here; per-process normalised masked losses gave 1e-2)."""
    from vidsynth.training.config import load_config
    from vidsynth.training.synthetic_data import write_street_dataset

    data = write_street_dataset(str(tmp_path / "street"), starts=[0.0, 10.0, 20.0, 30.0], frames=4, size=32)
    cfg = load_config("vid2vid_street_tiny")
    cfg.data.crop_size, cfg.generator["output_size"] = [32, 32], [32, 32]
    cfg.data.batch_size, cfg.data.sequence_length, cfg.data.flip = 2, 3, False  # global batch: 1 per process
    cfg.trainer.video.initial_frames = 3  # the warp path and its losses from the first step
    cfg.trainer.loss_weights["temporal"] = 10.0
    cfg.trainer.max_iter = cfg.trainer.checkpoint_every = 20
    cfg.trainer.float64 = True
    cfg_path = str(tmp_path / "cfg.yaml")
    with open(cfg_path, "w") as f:
        yaml.safe_dump(cfg.to_dict(), f)

    out = str(tmp_path / "ddp")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2",
           "-m", "vidsynth.cli", "train", "--config", cfg_path, "--data", data, "--out", out,
           "--no-progress", "--device", "cpu"]
    done = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    run(cfg, data, str(tmp_path / "single"), progress=False, device="cpu")

    ddp, ref = ckpt.load_checkpoint(out), ckpt.load_checkpoint(str(tmp_path / "single"))
    assert ddp["world_size"] == 2 and ref["world_size"] == 1 and ddp["iteration"] == 20
    for part in ("generator", "discriminator"):
        weights = {k: v for k, v in ref[part].items() if v.is_floating_point()}
        assert all(v.dtype == torch.float64 for v in weights.values())
        diff = sum(float((ddp[part][k] - v).norm()) ** 2 for k, v in weights.items()) ** 0.5
        norm = sum(float(v.norm()) ** 2 for v in weights.values()) ** 0.5
        assert diff / norm <= 1e-8, (part, diff / norm)
        worst = max(float((ddp[part][k] - v).norm() / v.norm().clamp_min(1e-12)) for k, v in weights.items())
        assert worst <= 1e-5, (part, worst)
    # training did move them: Adam's first moments are not zero
    assert max(float(s["exp_avg"].abs().max()) for s in ref["opt_G"]["state"].values()) > 1e-4
    # the model file is float32, as every model file
    from safetensors.torch import load_file
    assert {v.dtype for v in load_file(os.path.join(out, "model.safetensors")).values()} == {torch.float32}
