"""Dance benchmark: a personal dancer learns a real person from footage nobody on the project made.

The clip: ``vtest.avi`` from Debian's ``opencv-doc`` package (``apt-get install opencv-doc``; it lands in
/usr/share/doc/opencv-doc/examples/data/), 768×576 at 10 fps, real people walking across a campus, several
in view at once. Its first 200 frames follow one person (walking in, standing at a lamp post, walking on);
the person chooser keeps them among the others. Any other clip works with ``--clip`` (and ``--frames``).

In one run:

1. ``train_dance`` (what ``vidsynth train --job dance`` runs) on the first 75 % of the frames for at most
   ``--minutes`` (preparation included): person choice, pose, body statistics, background, body crops,
   a pose vid2vid trained for the time left;
2. the held-out last 25 % are rendered from their own poses (the same person chooser over the whole range,
   no normalisation: same person, same camera) by the dance job's generator stage, which pastes the body
   crop into the model's background: full frames;
3. on each held-out frame with the person posed, PSNR and SSIM on the person's body box (from the real
   frame's keypoints) against the real frame, beside two baselines computed the same way: the mean
   training frame, and the training frame whose pose is nearest (mean keypoint distance in pixels).

    python benchmarks/dance.py                           # vtest.avi, 30 minutes
    python benchmarks/dance.py --minutes 3 --out /tmp/dance_quick    # a quick look
    python benchmarks/dance.py --clip me.mp4 --frames 0:1800

Results go to stdout and ``OUT/results.json`` (and ``OUT/heldout.mp4``: real | ours | nearest pose).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from fractions import Fraction

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0 ** 2 / max(mse, 1e-10))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    win = min(7, min(a.shape[:2]) // 2 * 2 - 1)
    return float(structural_similarity(a, b, channel_axis=2, data_range=255, win_size=max(win, 3)))


def body_box(pose, hw):
    from vidsynth.engine.extract.person import pose_box

    box = pose_box(pose)
    if box is None:
        return None
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, hw[1]), min(y1, hw[0])
    return (x0, y0, x1, y1) if x1 - x0 >= 8 and y1 - y0 >= 8 else None


def track(clip: str, frames: range, person):
    """The chosen person's pose on every frame of ``frames`` (None where not posed), and the frames."""
    from vidsynth.engine.extract.person import PersonPoseConfig, PersonPoseExtractor
    from vidsynth.streams.frame import Frame
    from vidsynth.training.dance import read_frames

    stage = PersonPoseExtractor(PersonPoseConfig(person=person, warn_fraction=1.0))
    stage.open()
    poses, images = {}, {}
    try:
        for index, image in read_frames(clip, frames):
            f = stage(Frame(index=index, pts=index, time_base=Fraction(1, 1), image=image))
            poses[index] = None if f.conditions["pose"].is_empty else f.conditions["pose"]
            images[index] = image
    finally:
        stage.close()
    return poses, images


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", default=VTEST, help="a real clip of one person moving (default: opencv-doc's vtest.avi)")
    p.add_argument("--frames", default=None, help="START:END frame range (default 0:200 for vtest.avi, else all)")
    p.add_argument("--minutes", type=float, default=30.0, help="training budget, preparation included")
    p.add_argument("--person", type=int, default=None, help="follow the N-th person from the left")
    p.add_argument("--size", default=None, help="the model's body crop size, WxH (default: 48x64 on a CPU, "
                   "96x128 on a GPU)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="out/bench_dance")
    args = p.parse_args(argv)

    import torch

    from vidsynth.engine.jobs.dance_stages import TargetBodyGenerator
    from vidsynth.networks.model_file import load_model
    from vidsynth.streams.frame import Frame
    from vidsynth.training.dance import train_dance

    if not os.path.isfile(args.clip):
        hint = " (apt-get install opencv-doc)" if args.clip == VTEST else ""
        print(f"dance benchmark: clip {args.clip} not found{hint}", file=sys.stderr)
        return 2
    if args.frames:
        start, end = (int(v) for v in args.frames.split(":"))
    elif args.clip == VTEST:
        start, end = 0, 200
    else:
        import cv2

        start, end = 0, int(cv2.VideoCapture(args.clip).get(cv2.CAP_PROP_FRAME_COUNT))
    split = start + int(round(0.75 * (end - start)))
    size = None
    if args.size:
        w, h = (int(v) for v in args.size.lower().split("x"))
        size = (h, w)
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    t0 = time.monotonic()
    model_path = os.path.join(args.out, "dancer.safetensors")
    data = train_dance(args.clip, model_path, minutes=args.minutes, device=args.device, size=size,
                       frames=range(start, split), person=args.person, work=os.path.join(args.out, "work"))
    train_s = time.monotonic() - t0

    poses, images = track(args.clip, range(start, end), args.person)
    held = [i for i in range(split, end)]
    train_ids = [i for i in range(start, split) if poses.get(i) is not None]
    mean_frame = np.mean(np.stack([images[i] for i in range(start, split)]).astype(np.float32), 0)
    mean_frame = np.clip(mean_frame + 0.5, 0, 255).astype(np.uint8)
    train_keys = np.stack([poses[i].body for i in train_ids])  # (N, 25, 3)

    def nearest(pose):
        both = (train_keys[:, :, 2] > 0.1) & (pose.body[None, :, 2] > 0.1)
        dist = np.linalg.norm(train_keys[:, :, :2] - pose.body[None, :, :2], axis=2)
        mean = np.where(both.sum(1) >= 5, (dist * both).sum(1) / np.maximum(both.sum(1), 1), np.inf)
        return train_ids[int(np.argmin(mean))]

    net = load_model(model_path).eval()
    stage = TargetBodyGenerator(net, data.background, data.crop_wh)
    rows = {"ours": [], "mean_frame": [], "nearest_pose": []}
    from vidsynth.streams.base import StreamInfo
    from vidsynth.streams.mp4 import Mp4Sink

    sink = Mp4Sink(os.path.join(args.out, "heldout.mp4"))
    hh, ww = images[start].shape[:2]
    sink.open(StreamInfo(width=3 * ww // 2, height=hh // 2, rate=Fraction(10), time_base=Fraction(1, 10)))
    previous = None
    for index in held:
        pose = poses[index]
        if pose is None:
            continue
        f = Frame(index=index, pts=index, time_base=Fraction(1, 10), image=images[index],
                  conditions={"pose": pose}, discontinuity=previous is None or index != previous + 1)
        previous = index
        out = stage(f).image
        box = body_box(pose, out.shape[:2])
        if box is None:
            continue
        x0, y0, x1, y1 = box
        real = images[index][y0:y1, x0:x1]
        near = images[nearest(pose)]
        for name, picture in (("ours", out), ("mean_frame", mean_frame), ("nearest_pose", near)):
            rows[name].append((psnr(picture[y0:y1, x0:x1], real), ssim(picture[y0:y1, x0:x1], real)))
        panel = np.concatenate([images[index], out, near], axis=1)
        sink.write(Frame(index=len(rows["ours"]) - 1, pts=len(rows["ours"]) - 1, time_base=Fraction(1, 10),
                         image=np.ascontiguousarray(panel[::2, ::2])))
    sink.close()
    results = {
        "clip": args.clip, "frames": [start, end], "train_frames": [start, split], "held_out_frames": [split, end],
        "minutes": args.minutes, "train_seconds": round(train_s, 1), "iterations": data.iterations,
        "train_posed": data.posed, "crop_wh": list(data.crop_wh),
        "model_size_wh": [net.config.output_size[1], net.config.output_size[0]],
        "held_out_scored": len(rows["ours"]),
    }
    for name, values in rows.items():
        arr = np.array(values) if values else np.zeros((0, 2))
        results[name] = {"psnr": round(float(arr[:, 0].mean()), 2) if len(arr) else None,
                         "ssim": round(float(arr[:, 1].mean()), 4) if len(arr) else None}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
