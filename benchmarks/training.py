"""Training benchmark: a tiny SPADE and a tiny vid2vid learn the synthetic street world on this CPU.

Both train on the same street sequences (128×128, Cityscapes labels, exact flow; 6 frames at each of 20
places 8 m apart along the camera path of one city) for a bounded number of iterations, then render
held-out frames from their labels: 8 frames at each of the 20 places in between (``held_out``, the
figures the checks use), and the same places in a city never trained on (``new_city``, how far what
they learnt carries):

- PSNR against the real frames, next to a per-class mean-colour baseline (each label pixel painted
  with its class's mean training colour): both models should beat it;
- vid2vid's PSNR should be within 1 dB of SPADE's;
- warp error: mean |out_t − warp(out_{t−1}, exact flow_t)| over pixels visible in both frames (0..255
  scale) — how much the output flickers; vid2vid's should be lower than SPADE's. The real frames'
  own warp error is printed as the floor.

    python benchmarks/training.py                       # defaults: the two trained side by side, ~25 min on 2 cores
    python benchmarks/training.py --spade-iters 50 --vid2vid-iters 30 --out /tmp/bench   # a quick look
    python benchmarks/training.py --export engine/data/models   # also keep the two model files

Why 128×128 and not 64×64: SPADE (imaginaire's architecture, kept as it is) modulates its last blocks with
the labels at half the output size, so at 64×64 it sees 32×32 labels; painting the per-class means from
labels at half resolution already costs 2.0 dB at 64×64 and 1.3 dB at 128×128. The loss weights favour
the L1 term (the adversarial terms stay, at a tenth): PSNR rewards the mean, a GAN rewards a sample.
vid2vid trains with smooth noise on the frames it feeds itself (``previous_noise`` 0.4 on an 8×8 grid):
on the places it trained on its own outputs are nearly right, on new places they are not, and without
the noise it learns to trust them too much (benchmarks/README.md has the runs).

Results go to stdout and ``OUT/results.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vidsynth.training.config import load_config  # noqa: E402
from vidsynth.training.datasets import read_flow, read_id_map, read_image  # noqa: E402
from vidsynth.training.launch import run  # noqa: E402
from vidsynth.training.synthetic_data import write_street_dataset  # noqa: E402

TRAIN_STARTS = [float(s) for s in np.arange(0.0, 160.0, 8.0)]    # 20 sequences along the loop (8 m apart)
HELD_OUT_STARTS = [s + 4.0 for s in TRAIN_STARTS]                  # one between each two: places never trained on
VID2VID_ITERS = 800


def bench_configs(size: int, spade_iters: int, vid_iters: int, vid_frames: int = 4, seed: int = 0):
    """The shipped tiny configs with the benchmark's loss weights (the same image losses for both)."""
    common = {"gan": 0.1, "feature_matching": 1.0, "l1": 20.0, "perceptual": 0.0}
    spade = load_config("spade_tiny")
    spade.trainer.loss_weights = dict(common, kl=0.0)
    spade.trainer.max_iter = spade_iters
    vid = load_config("vid2vid_street_tiny")
    vid.trainer.loss_weights = dict(common, flow=10.0, temporal=10.0, temporal_gan=0.0)
    vid.trainer.max_iter = vid_iters
    vid.data.sequence_length = vid_frames
    vid.trainer.video.initial_frames = 2
    vid.trainer.video.double_every = max(1, vid_iters // 3)
    # smooth noise on the frames it feeds itself: in training they are near-real, on new places they are not
    vid.trainer.video.previous_noise, vid.trainer.video.previous_noise_grid = 0.4, 8
    for cfg in (spade, vid):
        for opt in (cfg.gen_opt, cfg.dis_opt):  # pix2pixHD's recipe: constant, then linearly to zero
            opt.schedule.type, opt.schedule.start, opt.schedule.end = "linear", cfg.trainer.max_iter // 2, cfg.trainer.max_iter
        cfg.data.crop_size = [size, size]
        cfg.data.flip = False
        cfg.trainer.checkpoint_every = 100
        cfg.trainer.ema.start_iter = max(1, cfg.trainer.max_iter // 5)
        cfg.trainer.seed = seed
    vid.generator["output_size"] = [size, size]
    return spade, vid


def load_sequences(root: str) -> list[dict]:
    seqs = []
    for seq in sorted(os.listdir(os.path.join(root, "images"))):
        names = sorted(os.listdir(os.path.join(root, "images", seq)))
        stem = [os.path.splitext(n)[0] for n in names]
        seqs.append({
            "name": seq,
            "images": np.stack([read_image(os.path.join(root, "images", seq, n)) for n in names]),
            "labels": np.stack([read_id_map(os.path.join(root, "seg_maps", seq, s + ".png")) for s in stem]),
            "flow": np.stack([read_flow(os.path.join(root, "flow", seq, s + ".npy")) for s in stem]),
        })
    return seqs


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0 ** 2 / max(mse, 1e-10))


def warp_error(frames: np.ndarray, flows: np.ndarray) -> float:
    """Mean |f_t − warp(f_{t−1}, flow_t)| (0..255) over valid pixels, t ≥ 1."""
    from vidsynth.training.losses import warp

    errs = []
    for t in range(1, len(frames)):
        cur = torch.from_numpy(frames[t]).permute(2, 0, 1)[None].float()
        prev = torch.from_numpy(frames[t - 1]).permute(2, 0, 1)[None].float()
        flow = torch.from_numpy(flows[t][..., :2]).permute(2, 0, 1)[None]
        valid = torch.from_numpy(flows[t][..., 2] > 0.5)
        diff = (warp(prev, flow) - cur).abs().mean(1)[0]
        if valid.any():
            errs.append(float(diff[valid].mean()))
    return float(np.mean(errs))


def to_uint8(img: torch.Tensor) -> np.ndarray:
    return ((img[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def render(model_file: str, cfg, seqs) -> list[np.ndarray]:
    """Each held-out sequence through the model: frame by frame (``step``, carrying the stream state) for a
    video model, one image per label map for an image model."""
    from vidsynth.networks.model_file import load_model
    from vidsynth.training.datasets import LabelEncoder

    net = load_model(model_file)
    enc = LabelEncoder(cfg.data)
    video = hasattr(net, "step")
    outs = []
    with torch.no_grad():
        for s in seqs:
            state, frames = (net.initial_state() if video else None), []
            for ids in s["labels"]:
                label = enc.seg(ids, None)[None]
                if video:
                    out, state = net.step({"label": label}, state)
                    frames.append(to_uint8(out["image"]))
                else:
                    frames.append(to_uint8(net(label)))
            outs.append(np.stack(frames))
    return outs


def class_mean_baseline(train, held_out) -> list[np.ndarray]:
    sums, counts = np.zeros((256, 3)), np.zeros(256)
    for s in train:
        ids = s["labels"].reshape(-1)
        np.add.at(sums, ids, s["images"].reshape(-1, 3).astype(np.float64))
        np.add.at(counts, ids, 1)
    means = (sums / np.maximum(counts, 1)[:, None]).round().astype(np.uint8)
    return [means[s["labels"]] for s in held_out]


def train_one(name: str, cfg, data: str, out: str, threads: int) -> tuple[dict, dict]:
    """Train one model into ``out``; returns run()'s result and the timing (also kept in ``out``)."""
    torch.set_num_threads(threads)
    t = time.time()
    result = run(cfg, data, out, progress=False)
    timing = {f"{name}_train_s": time.time() - t, f"{name}_iterations": cfg.trainer.max_iter}
    with open(os.path.join(out, "train_seconds.json"), "w") as f:
        json.dump(timing, f)
    return result, timing


def report(results: dict, out: str) -> None:
    """The results on stdout and in ``out/results.json``."""
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/vidsynth_bench_training")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=6, help="frames per training sequence (held-out: 8)")
    ap.add_argument("--cities", type=int, default=1, help="train on the places in this many cities (seeds 0, 1, ...)")
    ap.add_argument("--spade-iters", type=int, default=1000)
    ap.add_argument("--vid2vid-iters", type=int, default=VID2VID_ITERS)
    ap.add_argument("--vid2vid-frames", type=int, default=4, help="vid2vid's longest training sequence")
    ap.add_argument("--seed", type=int, default=0, help="trainer.seed of both runs")
    ap.add_argument("--only", choices=["spade", "vid2vid"], default=None, help="train just this one")
    ap.add_argument("--serial", action="store_true", help="train one after the other (default: side by side, "
                                                          "one process and --threads threads each)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--export", default=None, help="copy the two model files into this folder")
    ap.add_argument("--reuse", default=None, help="take finished runs (spade/, vid2vid/) from this earlier --out "
                                                   "instead of training them again")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if os.path.isdir(args.out) and os.path.abspath(args.out) != os.path.abspath(args.reuse or ""):
        shutil.rmtree(args.out)
    t0 = time.time()
    folders = {name: os.path.join(args.out, name) for name in ("train", "held_out", "new_city")}
    if not (args.reuse and all(os.path.isdir(f) for f in folders.values())):
        write_street_dataset(folders["train"], TRAIN_STARTS, args.frames, args.size, cities=args.cities)
        write_street_dataset(folders["held_out"], HELD_OUT_STARTS, 8, args.size)
        write_street_dataset(folders["new_city"], HELD_OUT_STARTS, 8, args.size, seed=args.cities)
    t_data = time.time() - t0
    train_dir = folders["train"]
    train = load_sequences(train_dir)
    spade_cfg, vid_cfg = bench_configs(args.size, args.spade_iters, args.vid2vid_iters, args.vid2vid_frames, args.seed)

    times = {}

    jobs = [(name, cfg) for name, cfg in (("spade", spade_cfg), ("vid2vid", vid_cfg)) if args.only in (None, name)]
    trained = {}
    for name, _ in jobs:
        done = os.path.join(args.reuse or "", name)
        if args.reuse and os.path.isfile(os.path.join(done, "model.safetensors")):
            trained[name] = {"model_file": os.path.join(done, "model.safetensors")}
            timing = os.path.join(done, "train_seconds.json")
            times.update(json.load(open(timing)) if os.path.isfile(timing) else {})
    todo = [(name, cfg, train_dir, os.path.join(args.out, name), args.threads) for name, cfg in jobs
            if name not in trained]
    if args.serial or len(todo) < 2:
        finished = [train_one(*job) for job in todo]
    else:  # side by side: two processes (spawned, so each sets its own thread count)
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(len(todo)) as pool:
            finished = pool.starmap(train_one, todo)
    for (name, *_), (result, timing) in zip(todo, finished):
        trained[name] = result
        times.update(timing)
    spade, vid = trained.get("spade"), trained.get("vid2vid")
    if args.only:
        print(json.dumps(times))
        return 0

    results = {"settings": vars(args), "data_s": t_data, **times, "train_frames": sum(len(s["images"]) for s in train)}
    for split in ("held_out", "new_city"):
        held = load_sequences(folders[split])
        real, flows = [s["images"] for s in held], [s["flow"] for s in held]
        candidates = {
            "class_mean_baseline": class_mean_baseline(train, held),
            "spade": render(spade["model_file"], spade_cfg, held),
            "vid2vid": render(vid["model_file"], vid_cfg, held),
        }
        scores = {name: {
            "psnr_db": float(np.mean([psnr(o, r) for seq_o, seq_r in zip(outs, real) for o, r in zip(seq_o, seq_r)])),
            "warp_error": float(np.mean([warp_error(o, f) for o, f in zip(outs, flows)])),
        } for name, outs in candidates.items()}
        scores["real_frames_warp_error"] = float(np.mean([warp_error(r, f) for r, f in zip(real, flows)]))
        results[split] = scores
    h = results["held_out"]
    b, s, v = (h[k]["psnr_db"] for k in ("class_mean_baseline", "spade", "vid2vid"))
    results["checks"] = {
        "spade_beats_baseline_db": s - b,
        "vid2vid_beats_baseline_db": v - b,
        "vid2vid_minus_spade_db": v - s,
        "warp_error_ratio_vid2vid_over_spade": h["vid2vid"]["warp_error"] / max(h["spade"]["warp_error"], 1e-9),
        "pass": bool(s > b and v > b and abs(v - s) <= 1.0 and h["vid2vid"]["warp_error"] < h["spade"]["warp_error"]),
    }
    results["total_s"] = time.time() - t0
    if args.export:
        os.makedirs(args.export, exist_ok=True)
        shutil.copy(spade["model_file"], os.path.join(args.export, f"spade_street_{args.size}.safetensors"))
        shutil.copy(vid["model_file"], os.path.join(args.export, f"vid2vid_street_{args.size}.safetensors"))
    report(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
