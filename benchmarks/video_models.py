"""Frames per second of the video models' step loops on this CPU: vidsynth vs imaginaire, same weights.

One invocation runs every case twice, each in its own fresh process (so neither side warms the
other's caches or allocator): our ``step()`` loop with the weights converted from the imaginaire
reference harness's ``weights_G.pt``, and imaginaire's own per-frame ``forward()`` loop (previous
labels and generated frames fed back as its trainers do) with the same weights and inputs. The
first ``--warmup`` frames (frame 0 and the frames before the flow path starts, plus the per-stream
reference work of fs-vid2vid) are not timed; the next ``--frames`` are. wc-vid2vid includes the
guidance rendering and point-colour update on both sides.

fps is frames per CPU second of the process (``time.process_time``, one torch thread by default):
the machine is shared, and CPU time is what another process's load disturbs least. Wall-clock fps
is printed too.

    IMAGINAIRE_ROOT=/work/imaginaire python benchmarks/video_models.py --ref /work/ref

Without IMAGINAIRE_ROOT (or without a reference folder) the imaginaire side is skipped and ours runs
with random weights at the same sizes (unit-test-sized networks).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "..", "..", "shared", "tools", "imaginaire_ref")

# case -> (imaginaire config, (H, W), extra harness options)
CASES = {
    "vid2vid_street": ("configs/unit_test/vid2vid_street.yaml", (128, 256), {"val_resize_h_w": "128, 256"}),
    "vid2vid_pose": ("configs/unit_test/vid2vid_pose.yaml", (512, 512), {}),
    "fs_vid2vid_face": ("configs/unit_test/fs_vid2vid_face.yaml", (128, 128), {}),
    "fs_vid2vid_pose": ("configs/unit_test/fs_vid2vid_pose.yaml", (256, 128), {}),
    "wc_vid2vid": ("configs/unit_test/wc_vid2vid.yaml", (512, 1024), {}),
}


def _load_io(ref: str, case: str):
    import torch

    return torch.load(os.path.join(ref, case, "io.pt"), weights_only=True)


def _frame_inputs(calls, t):
    return calls[t % len(calls)]["inputs"]


def worker_ours(case: str, ref: str | None, root: str | None, warmup: int, frames: int) -> dict:
    import torch

    from vidsynth.geometry.imaginaire_unprojection import UnprojectionGuidance

    if ref and root:
        sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
        import parity_video

        model, io = parity_video.build_model(os.path.join(ref, case), root, ema=False)
        calls = io["calls"]
    else:
        model, calls = _random_model(case)
    name = model.model_name
    with torch.no_grad():
        t0 = None
        first = calls[0]["inputs"]
        if name == "fs_vid2vid":
            state = model.initial_state(model.encode_references(first["ref_images"], first["ref_labels"]))
        else:
            state = model.initial_state()
        guide = UnprojectionGuidance() if name == "wc_vid2vid" else None
        for t in range(warmup + frames):
            if t == warmup:
                t0, c0 = time.perf_counter(), time.process_time()
            inputs = _frame_inputs(calls, t)
            cond = {"label": inputs["label"]}
            if guide is not None and inputs.get("unprojection") is not None:
                cond["guidance"] = guide.guidance(inputs["unprojection"], *inputs["label"].shape[2:])
            out, state = model.step(cond, state)
            if guide is not None and inputs.get("unprojection") is not None:
                guide.update(out["image"], inputs["unprojection"])
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"fps": frames / cpu, "wall_fps": frames / elapsed, "cpu_seconds_per_frame": cpu / frames}


def _random_model(case: str):
    """Our models at the benchmark sizes with random weights (no imaginaire needed)."""
    import torch

    from vidsynth.networks.flow import FlowNetConfig
    from vidsynth.networks.fs_vid2vid import FewShotVid2VidConfig, FewShotVid2VidGenerator, HyperConfig
    from vidsynth.networks.vid2vid import EmbedConfig, PoseLabelConfig, Vid2VidConfig, Vid2VidGenerator
    from vidsynth.networks.wc_vid2vid import WCVid2VidConfig, WCVid2VidGenerator

    torch.manual_seed(0)
    (h, w), n = CASES[case][1], 4
    if case.startswith("fs_"):
        label_ch = 1 if case.endswith("face") else 6
        cfg = FewShotVid2VidConfig(label_channels=label_ch, output_size=(h, w), multi_spade_layers=2,
                                   hyper=HyperConfig(kernel_size=1),
                                   pose=None if label_ch == 1 else PoseLabelConfig(remove_face_labels=True))
        model = FewShotVid2VidGenerator(cfg).eval()
        calls = [{"inputs": {"label": torch.rand(1, label_ch, h, w), "ref_images": torch.rand(1, 1, 3, h, w),
                             "ref_labels": torch.rand(1, 1, label_ch, h, w)}} for _ in range(n)]
        return model, calls
    small = dict(num_filters=8, max_num_filters=128, embed=EmbedConfig(num_filters=8, max_num_filters=128),
                 flow=FlowNetConfig(num_filters=8, max_num_filters=128, num_downsamples=5, flow_multiplier=40),
                 warp_embed=EmbedConfig(num_filters=8, arch="unet"))
    if case == "vid2vid_pose":
        small = dict(num_filters=32, max_num_filters=256, use_segmap_as_input=False,
                     embed=EmbedConfig(num_filters=32, max_num_filters=256),
                     flow=FlowNetConfig(num_filters=32, max_num_filters=256, num_downsamples=3),
                     warp_embed=EmbedConfig(num_filters=32, arch="unet"), pose=PoseLabelConfig())
    label_ch = 27 if case == "vid2vid_pose" else 35
    cls, gen = (WCVid2VidConfig, WCVid2VidGenerator) if case == "wc_vid2vid" else (Vid2VidConfig, Vid2VidGenerator)
    model = gen(cls(label_channels=label_ch, output_size=(h, w), **small)).eval()
    calls = [{"inputs": {"label": torch.rand(1, label_ch, h, w)}} for _ in range(n)]
    return model, calls


def worker_imaginaire(case: str, ref: str, root: str, warmup: int, frames: int) -> dict:
    sys.path.insert(0, os.path.abspath(HARNESS))
    import imaginaire_ref as harness  # the shared harness: stubs imaginaire's CUDA extensions

    harness.ROOT = os.path.abspath(root)
    harness.install_stubs()
    import torch

    sys.path.insert(0, harness.ROOT)
    os.chdir(harness.ROOT)
    cfg_rel, _, extra = CASES[case]
    cfg, _, _, G, _ = harness.build(cfg_rel, extra)
    G.load_state_dict(torch.load(os.path.join(ref, case, "weights_G.pt"), weights_only=True))
    G.eval()
    calls = _load_io(ref, case)["calls"]
    keep = cfg.data.num_frames_G - 1
    if hasattr(G, "reset_renderer"):
        G.reset_renderer(False)
    elif hasattr(G, "reset"):
        G.reset()
    prev_labels = prev_images = None
    with torch.no_grad():
        t0 = None
        for t in range(warmup + frames):
            if t == warmup:
                t0, c0 = time.perf_counter(), time.process_time()
            inputs = _frame_inputs(calls, t)
            data = {"label": inputs["label"], "image": inputs["image"], "prev_labels": prev_labels,
                    "prev_images": prev_images, "real_prev_image": None}
            for key in ("ref_labels", "ref_images"):
                if key in inputs:
                    data[key] = inputs[key]
            if "unprojection" in inputs:
                u = inputs["unprojection"]
                data["unprojection"] = None if u is None else {k: v.numpy() for k, v in u.items()}
            out = G(data)
            new_l, new_i = inputs["label"].unsqueeze(1), out["fake_images"].unsqueeze(1)
            prev_labels = new_l if prev_labels is None else torch.cat([prev_labels, new_l], 1)[:, -keep:]
            prev_images = new_i if prev_images is None else torch.cat([prev_images, new_i], 1)[:, -keep:]
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"fps": frames / cpu, "wall_fps": frames / elapsed, "cpu_seconds_per_frame": cpu / frames}


def run_worker(side: str, case: str, args) -> dict | None:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", side, "--case", case, "--threads", str(args.threads),
           "--warmup", str(args.warmup), "--frames", str(args.frames)]
    if args.ref:
        cmd += ["--ref", os.path.abspath(args.ref)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        print(f"  {side} failed on {case}:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1][len("RESULT "):])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", help="folder written by the imaginaire reference harness (weights + inputs)")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed frames (the flow path starts at frame 2)")
    parser.add_argument("--frames", type=int, default=5, help="timed frames")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side, alternating; the best counts")
    parser.add_argument("--worker", choices=("ours", "imaginaire"), help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = os.environ.get("IMAGINAIRE_ROOT")

    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        fn = worker_ours if args.worker == "ours" else worker_imaginaire
        print("RESULT " + json.dumps(fn(args.case, args.ref, root, args.warmup, args.frames)), flush=True)
        return 0

    compare = bool(root and args.ref)
    if not compare:
        print("IMAGINAIRE_ROOT or --ref not given: imaginaire side skipped; ours runs with random weights")
    print(f"{args.threads} torch thread(s) per process, {args.warmup} warm-up + {args.frames} timed frames, "
          f"best of {args.repeats} alternating runs per side")
    print(f"{'case':<18} {'H x W':>10} {'ours fps':>9} {'imaginaire fps':>15} {'ours / imaginaire':>18}"
          f" {'(wall fps: ours, imaginaire)':>30}")
    for case in [c for c in args.cases.split(",") if c]:
        if compare and not os.path.isdir(os.path.join(args.ref, case)):
            print(f"{case:<18} no reference folder; skipped")
            continue
        h, w = CASES[case][1]
        # the sides alternate and the best run of each counts: the machine is shared, so the fastest
        # run is the least disturbed one
        ours_runs, their_runs = [], []
        for _ in range(args.repeats):
            ours_runs.append(run_worker("ours", case, args if compare else
                                        argparse.Namespace(**{**vars(args), "ref": None})))
            if compare:
                their_runs.append(run_worker("imaginaire", case, args))
        ours = max((r for r in ours_runs if r), key=lambda r: r["fps"], default=None)
        theirs = max((r for r in their_runs if r), key=lambda r: r["fps"], default=None)
        o = f"{ours['fps']:.2f}" if ours else "failed"
        i = f"{theirs['fps']:.2f}" if theirs else ("skipped" if not compare else "failed")
        ratio = f"{ours['fps'] / theirs['fps']:.2f}x" if ours and theirs else "-"
        wall = f"{ours['wall_fps']:.2f}" if ours else "-"
        wall += f", {theirs['wall_fps']:.2f}" if theirs else ", -"
        print(f"{case:<18} {f'{h}x{w}':>10} {o:>9} {i:>15} {ratio:>18} {wall:>30}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
