"""Benchmark: forward time of the six image generators, ours vs imaginaire's, same weights, this CPU.

Each measurement runs in its own process (one benchmark invocation spawns them): the imaginaire
process builds imaginaire's generator from its unit-test YAML (CUDA extensions stubbed by the reference
harness), settles its spectral norms, saves its weights and times its forward; our process converts those
weights and times ours (fp32), ours with channels_last, and, when the CPU has AMX / AVX512-BF16, ours
under bf16 autocast + channels_last (its error vs our fp32 output is reported too). Without an imaginaire
checkout only our side runs (random weights, same architecture).

Usage:
    python benchmarks/image_models.py --imaginaire-root /work/imaginaire [--models spade,unit] [--repeats 3]

Reported: median seconds per forward (batch 1, after one warm-up) and ratios against imaginaire in the
same run; ours-vs-imaginaire max relative output difference as a sanity check.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARNESS = os.path.join(os.path.dirname(ROOT), "shared", "tools", "imaginaire_ref", "imaginaire_ref.py")

# model -> (imaginaire unit-test config, (H, W) of the benchmark)
CASES = {
    "pix2pixhd": ("configs/unit_test/pix2pixHD.yaml", (256, 512)),
    "spade": ("configs/unit_test/spade.yaml", (256, 256)),
    "unit": ("configs/unit_test/unit.yaml", (256, 256)),
    "munit": ("configs/unit_test/munit.yaml", (256, 256)),
    "funit": ("configs/unit_test/funit.yaml", (128, 128)),
    "coco_funit": ("configs/unit_test/coco_funit.yaml", (128, 128)),
}

# the same architectures as ours, for runs without an imaginaire checkout
OWN_CONFIGS = {
    "pix2pixhd": dict(label=dict(num_classes=35, dont_care=False, instance_edges=True), num_filters=32,
                      num_enhancers=0, weight_norm="spectral"),
    "spade": dict(label=dict(num_classes=183, dont_care=True, instance_edges=True), style_dims=256, num_filters=64,
                  global_adaptive_norm="instance", spade_filters=64, spade_kernel_size=5, spade_weight_norm="none",
                  spade_norm="instance", style_encoder_filters=32),
    "unit": dict(num_filters=24, max_num_filters=64, content_norm="instance", decoder_norm="instance",
                 weight_norm="none", pre_activation=True),
    "munit": dict(weight_norm="spectral", pre_activation=True),
    "funit": dict(num_filters=32, num_downsamples_content=4, num_downsamples_style=5),
    "coco_funit": dict(num_filters=32, num_downsamples_content=4, num_downsamples_style=5),
}


def make_inputs(name: str, h: int, w: int, label_channels: int = 0):
    import torch

    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, h, w, generator=g) * 2 - 1
    other = torch.rand(1, 3, h, w, generator=g) * 2 - 1
    if name in ("pix2pixhd", "spade"):
        ids = torch.randint(0, label_channels - 1, (1, 1, h, w), generator=g)
        label = torch.zeros(1, label_channels, h, w).scatter_(1, ids, 1.0)
        return {"label": label, "images": image}
    return {"images": image, "other": other}


def timed(fn, repeats: int):
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


# ------------------------------------------------------------------------------------------- workers


def worker_imaginaire(args) -> dict:
    import importlib

    import torch

    sys.path.insert(0, args.imaginaire_root)
    sys.path.insert(0, os.path.dirname(args.harness))
    harness = importlib.import_module("imaginaire_ref")
    harness.install_stubs()
    os.chdir(args.imaginaire_root)
    from imaginaire.config import Config

    cfg_rel, (h, w) = CASES[args.model]
    cfg = Config(cfg_rel)
    torch.manual_seed(0)
    G = importlib.import_module(cfg.gen.type).Generator(cfg.gen, cfg.data)
    harness.settle_spectral_norm(G, 10)
    G.eval()
    torch.save(G.state_dict(), args.weights)
    from imaginaire.utils.data import get_paired_input_label_channel_number

    nl = get_paired_input_label_channel_number(cfg.data) if args.model in ("pix2pixhd", "spade") else 0
    x = make_inputs(args.model, h, w, nl)
    if args.model == "pix2pixhd":
        fn = lambda: G({"label": x["label"]})["fake_images"]  # noqa: E731
    elif args.model == "spade":
        fn = lambda: G({"label": x["label"], "images": x["images"]})["fake_images"]  # noqa: E731
    elif args.model == "unit":
        fn = lambda: G.autoencoder_b.decoder(G.autoencoder_a.content_encoder(x["images"]))  # noqa: E731
    elif args.model == "munit":
        style = G.autoencoder_b.style_encoder(x["other"])
        fn = lambda: G.autoencoder_b.decode(G.autoencoder_a.content_encoder(x["images"]), style)  # noqa: E731
    else:
        gen = G.generator
        fn = lambda: gen.decode(gen.content_encoder(x["images"]), gen.style_encoder(x["other"]))  # noqa: E731
    with torch.no_grad():
        torch.manual_seed(0)
        seconds, out = timed(fn, args.repeats)
    torch.save(out, args.weights + ".out")
    return {"seconds": seconds, "label_channels": nl}


def _bf16_capable() -> bool:
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_bf16", "amx_bf16"))


def worker_ours(args) -> dict:
    import torch

    sys.path.insert(0, ROOT)
    from vidsynth.networks.imaginaire import config_from_imaginaire, convert_state, load_converted_state
    from vidsynth.networks.registry import build_model, model_class

    name = args.model
    cfg_rel, (h, w) = CASES[name]
    if args.imaginaire_root:
        _, config = config_from_imaginaire(os.path.join(args.imaginaire_root, cfg_rel))
        model = model_class(name)(config)
        state, _ = convert_state(model, torch.load(args.weights, weights_only=True))
        load_converted_state(model, state)
    else:
        torch.manual_seed(0)
        model = build_model(name, OWN_CONFIGS[name])
    model.eval()
    nl = model.config.label.channels if name in ("pix2pixhd", "spade") else 0
    x = make_inputs(name, h, w, nl)

    def run(cl: bool = False):
        xs = {k: v.contiguous(memory_format=torch.channels_last) if cl else v for k, v in x.items()}
        if name == "pix2pixhd":
            return model(xs["label"])
        if name == "spade":
            return model(xs["label"], model.encode_style(xs["images"])[0])
        if name == "unit":
            return model(xs["images"])
        if name == "munit":
            return model(xs["images"], model.encode_style(xs["other"]))
        return model(xs["images"], model.encode_class(xs["other"]))

    result = {}
    with torch.inference_mode():
        result["seconds"], ref = timed(run, args.repeats)
        if name == "spade" and args.imaginaire_root:
            ref_out = None  # imaginaire's SPADE samples z = mu + eps*std; ours above uses mu: not comparable
        elif args.imaginaire_root and os.path.isfile(args.weights + ".out"):
            ref_out = torch.load(args.weights + ".out", weights_only=True)
        else:
            ref_out = None
        if ref_out is not None:
            result["rel_diff_vs_imaginaire"] = float((ref - ref_out).abs().max() / ref_out.abs().max())
        model.to(memory_format=torch.channels_last)
        result["seconds_channels_last"], _ = timed(lambda: run(True), args.repeats)
        if _bf16_capable():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                result["seconds_bf16_channels_last"], low = timed(lambda: run(True), args.repeats)
            result["bf16_rel_err_vs_fp32"] = float((low.float() - ref).abs().max() / ref.abs().max())
    return result


# -------------------------------------------------------------------------------------------- driver


def spawn(kind: str, model: str, args, weights: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--models", model, "--weights", weights,
           "--repeats", str(args.repeats), "--threads", str(args.threads), "--harness", args.harness]
    if args.imaginaire_root:
        cmd += ["--imaginaire-root", args.imaginaire_root]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--imaginaire-root", default="", help="imaginaire checkout (omit: our side only)")
    p.add_argument("--harness", default=HARNESS, help="imaginaire_ref.py of the reference harness (its stubs)")
    p.add_argument("--models", default=",".join(CASES))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default="", help="also write the results here")
    p.add_argument("--worker", choices=["ours", "imaginaire"], help=argparse.SUPPRESS)
    p.add_argument("--weights", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.worker:
        args.model = args.models
        fn = worker_ours if args.worker == "ours" else worker_imaginaire
        print(json.dumps(fn(args)))
        return 0
    if args.imaginaire_root and not os.path.isfile(args.harness):
        p.error(f"--harness {args.harness} not found (needed for imaginaire's CUDA stubs)")
    rows = {}
    print(f"threads={args.threads} repeats={args.repeats} bf16-capable CPU={_bf16_capable()} "
          f"imaginaire={'yes' if args.imaginaire_root else 'skipped (no --imaginaire-root)'}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            weights = os.path.join(tmp, f"{name}.pt")
            row = {"resolution": "x".join(map(str, CASES[name][1]))}
            if args.imaginaire_root:
                row["imaginaire"] = spawn("imaginaire", name, args, weights)
            row["ours"] = spawn("ours", name, args, weights)
            rows[name] = row
            ours, ref = row["ours"], row.get("imaginaire", {})
            line = f"{name:10s} {row['resolution']:>8s}  ours {ours.get('seconds', float('nan')):7.3f}s"
            if "seconds" in ref:
                line += f"  imaginaire {ref['seconds']:7.3f}s  ratio ours/imaginaire {ours['seconds'] / ref['seconds']:.2f}"
            if "seconds_channels_last" in ours:
                line += f"  channels_last {ours['seconds_channels_last'] / ours['seconds']:.2f}x time"
            if "seconds_bf16_channels_last" in ours:
                line += (f"  bf16+cl {ours['seconds_bf16_channels_last'] / ours['seconds']:.2f}x time"
                         f" (err {ours['bf16_rel_err_vs_fp32']:.1e})")
            if "rel_diff_vs_imaginaire" in ours:
                line += f"  diff {ours['rel_diff_vs_imaginaire']:.1e}"
            for side in ("ours", "imaginaire"):
                if "error" in row.get(side, {}):
                    line += f"  [{side} failed: {row[side]['error']}]"
            print(line, flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
