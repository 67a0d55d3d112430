"""wc-vid2vid benchmark: does training with guidance make the generated street consistent with itself?

Two tiny wc-vid2vids train on the same street sequences (64×64, Cityscapes labels, exact flow), with the
same seed, recipe and number of iterations, side by side: one with the sequences' ``unprojections/``
(guidance images and the guidance loss), one without (the folder left out: it trains as vid2vid does).
Both then render held-out sequences (12 frames at places no training sequence reaches) frame by frame,
as inference does; the guided one gets its guidance from the held-out unprojection files through the
engine's own :class:`~vidsynth.geometry.imaginaire_unprojection.UnprojectionGuidance`. Scores, per model:

- consistency error: mean |out_t − the colour an earlier output gave the same 3D point| (0..255) over
  the pixels whose point an earlier frame coloured, t ≥ 1. This is what world consistency means. It is
  measured the same way for both models (the unguided one just never sees those colours), and for the
  real frames, whose error is the floor;
- PSNR against the real frames, and warp error between consecutive outputs (as ``training.py``).

    python benchmarks/wc_guidance.py                    # defaults: about 12 min on 2 cores
    python benchmarks/wc_guidance.py --iters 40 --out /tmp/wc   # a quick look

Results go to stdout and ``OUT/results.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.training import load_sequences, psnr, report, to_uint8, train_one, warp_error  # noqa: E402
from vidsynth.geometry.imaginaire_unprojection import UnprojectionGuidance, read_unprojection_folder  # noqa: E402
from vidsynth.training.config import load_config  # noqa: E402
from vidsynth.training.datasets import LabelEncoder  # noqa: E402
from vidsynth.training.synthetic_data import write_street_dataset  # noqa: E402

PLACES = [float(s) for s in np.arange(0.0, 160.0, 8.0)]  # training starts: every 8 m along the loop
HELD_OUT_STARTS = [4.0, 44.0, 84.0, 124.0]              # places never trained on
HELD_OUT_FRAMES = 12
METRES_PER_FRAME = 0.5                                   # the street data's speed (write_street_dataset's default)


def train_starts(frames: int) -> list[float]:
    """The places whose ``frames``-frame sequences share no stretch of road with a held-out sequence
    (16 of the 20 at 8 frames: the held-out sequences reach the place after theirs)."""
    def span(start, n):
        return start, start + (n - 1) * METRES_PER_FRAME

    held = [span(h, HELD_OUT_FRAMES) for h in HELD_OUT_STARTS]
    return [s for s in PLACES
            if all(span(s, frames)[1] < a or s > b for a, b in held)]


def bench_config(size: int, iters: int, frames: int, init: str = "xavier", seed: int = 0):
    """The shipped tiny config with an L1-leaning recipe (as ``training.py``'s vid2vid), the guidance loss
    and (by default) imaginaire's initialisation, xavier with gain 0.02."""
    cfg = load_config("wc_vid2vid_tiny")
    cfg.trainer.init.type, cfg.trainer.init.gain = init, 0.02
    cfg.trainer.loss_weights = {"gan": 0.1, "feature_matching": 1.0, "l1": 20.0, "perceptual": 0.0, "flow": 10.0,
                                "temporal": 10.0, "temporal_gan": 0.0, "guidance": 20.0}
    cfg.trainer.max_iter = iters
    cfg.data.sequence_length = frames
    cfg.trainer.video.initial_frames = 2
    cfg.trainer.video.double_every = max(1, iters // 3)
    for opt in (cfg.gen_opt, cfg.dis_opt):
        opt.schedule.type, opt.schedule.start, opt.schedule.end = "linear", iters // 2, iters
    cfg.data.crop_size = [size, size]
    cfg.data.flip = False
    cfg.trainer.checkpoint_every = 100
    cfg.trainer.ema.start_iter = max(1, iters // 5)
    cfg.generator["output_size"] = [size, size]
    cfg.trainer.seed = seed
    return cfg


def load_held_out(root: str) -> list[dict]:
    """``training.py``'s sequences, each with its frames' unprojection entries (``points``)."""
    seqs = load_sequences(root)
    for seq in seqs:
        seq["points"] = read_unprojection_folder(os.path.join(root, "unprojections", seq["name"]), len(seq["images"]))
    return seqs


def render(model_file: str, cfg, seqs, guided: bool) -> list[np.ndarray]:
    """Each held-out sequence through the model, frame by frame (the guided model with its guidance)."""
    from vidsynth.networks.model_file import load_model

    net = load_model(model_file)
    enc = LabelEncoder(cfg.data)
    outs = []
    with torch.no_grad():
        for s in seqs:
            state, frames, world = net.initial_state(), [], UnprojectionGuidance()
            for t, ids in enumerate(s["labels"]):
                conditions = {"label": enc.seg(ids, None)[None]}
                if guided:
                    conditions["guidance"] = world.guidance(s["points"][t], *ids.shape)
                out, state = net.step(conditions, state)
                world.update(out["image"], s["points"][t])
                frames.append(to_uint8(out["image"]))
            outs.append(np.stack(frames))
    return outs


def consistency_error(frames: np.ndarray, points: list) -> float:
    """Mean |f_t − the colour the first frame to see a pixel's 3D point gave it| (0..255) over the pixels
    whose point an earlier frame saw, t ≥ 1."""
    world, errs = UnprojectionGuidance(), []
    for t, frame in enumerate(frames):
        guidance = world.guidance(points[t], *frame.shape[:2])
        mask = guidance[0, 3] > 0
        if t > 0 and mask.any():
            seen = ((guidance[0, :3] + 1) * 127.5).permute(1, 2, 0)
            errs.append(float((torch.from_numpy(frame).float() - seen)[mask].abs().mean()))
        world.update(frame, points[t])
    return float(np.mean(errs))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/vidsynth_bench_wc")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=8, help=f"frames per training sequence (held-out: {HELD_OUT_FRAMES})")
    ap.add_argument("--iters", type=int, default=600)
    ap.add_argument("--threads", type=int, default=1, help="per model (the two train side by side)")
    ap.add_argument("--init", default="xavier", help="trainer.init.type of both runs (none: PyTorch's own)")
    ap.add_argument("--seed", type=int, default=0, help="trainer.seed of both runs")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    t0 = time.time()
    guided_dir, plain_dir = os.path.join(args.out, "train"), os.path.join(args.out, "train_without_unprojections")
    test_dir = os.path.join(args.out, "held_out")
    write_street_dataset(guided_dir, train_starts(args.frames), args.frames, args.size, unprojections=True)
    write_street_dataset(test_dir, HELD_OUT_STARTS, HELD_OUT_FRAMES, args.size, unprojections=True)
    shutil.copytree(guided_dir, plain_dir, ignore=shutil.ignore_patterns("unprojections"))
    cfg = bench_config(args.size, args.iters, min(args.frames, 6), args.init, args.seed)

    import multiprocessing as mp

    jobs = [("guided", cfg, guided_dir, os.path.join(args.out, "guided"), args.threads),
            ("unguided", cfg, plain_dir, os.path.join(args.out, "unguided"), args.threads)]
    with mp.get_context("spawn").Pool(2) as pool:
        (guided, guided_time), (unguided, unguided_time) = pool.starmap(train_one, jobs)

    held = load_held_out(test_dir)
    real = [s["images"] for s in held]
    flows = [s["flow"] for s in held]
    results = {"settings": vars(args), **guided_time, **unguided_time}
    points = [s["points"] for s in held]
    for name, trained in (("guided", guided), ("unguided", unguided)):
        outs = render(trained["model_file"], cfg, held, guided=name == "guided")
        results[name] = {
            "consistency_error": float(np.mean([consistency_error(o, p) for o, p in zip(outs, points)])),
            "psnr_db": float(np.mean([psnr(o, r) for so, sr in zip(outs, real) for o, r in zip(so, sr)])),
            "warp_error": float(np.mean([warp_error(o, f) for o, f in zip(outs, flows)])),
        }
    results["real_frames"] = {  # the floor: shading changes with the view, and a voxel spans several pixels
        "consistency_error": float(np.mean([consistency_error(r, p) for r, p in zip(real, points)])),
        "warp_error": float(np.mean([warp_error(r, f) for r, f in zip(real, flows)])),
    }
    results["consistency_ratio_guided_over_unguided"] = (results["guided"]["consistency_error"]
                                                         / max(results["unguided"]["consistency_error"], 1e-9))
    results["total_s"] = time.time() - t0
    report(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
