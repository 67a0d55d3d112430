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
