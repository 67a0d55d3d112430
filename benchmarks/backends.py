"""Backends benchmark: one generator's forward pass per backend, as ratios against eager fp32 in one run.

Nets: a generator-like conv net (conv + instance norm + down/upsampling + residual blocks +
grid_sample warping, the ops our generators use) and, when networks/ provides them, a reduced-width
SPADE and pix2pixHD (real architectures from vidsynth.networks; widths cut so a 2-core CPU finishes).
Backends: eager fp32 (baseline), eager fp32 + channels_last, eager bf16 + channels_last (only when the CPU has AMX/AVX512-BF16),
torch.compile (inductor; build time excluded, reported separately), ONNX Runtime fp32 (CPU EP).
Runners are built first, then timed round-robin (one call each per round), so load from other
processes on a shared machine hits every backend alike. For each: median ms per frame, speed ratio vs eager fp32 (>1 = faster), and
max |out - eager fp32| / max |eager fp32|.

    python benchmarks/backends.py                      # all nets, 1 thread, default sizes
    python benchmarks/backends.py --threads 2 --no-compile --sizes 256 --nets conv
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidsynth.engine.backends import available_backends, cpu_bf16_support, make_runner  # noqa: E402


class ConvGenerator(nn.Module):
    """Encoder / residual blocks / decoder with instance norm, nearest upsampling and a flow warp."""

    def __init__(self, labels: int = 12, width: int = 32, blocks: int = 3):
        super().__init__()

        def conv_norm(cin, cout, stride=1):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.InstanceNorm2d(cout, affine=True), nn.ReLU())

        self.encode = nn.Sequential(conv_norm(labels, width), conv_norm(width, width * 2, 2), conv_norm(width * 2, width * 4, 2))
        self.blocks = nn.ModuleList(
            nn.Sequential(conv_norm(width * 4, width * 4), nn.Conv2d(width * 4, width * 4, 3, 1, 1)) for _ in range(blocks)
        )
        self.decode = nn.Sequential(
            nn.Upsample(scale_factor=2), conv_norm(width * 4, width * 2),
            nn.Upsample(scale_factor=2), conv_norm(width * 2, width),
            nn.Conv2d(width, 3, 3, 1, 1), nn.Tanh(),
        )

    def forward(self, labels: torch.Tensor, flow: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.encode(labels)
        for block in self.blocks:
            h = h + block(h)
        image = self.decode(h)
        warped = F.grid_sample(image, flow.permute(0, 2, 3, 1), mode="bilinear", padding_mode="border", align_corners=False)
        return {"image": warped}


def conv_case(size: int):
    g = torch.Generator().manual_seed(0)
    net = ConvGenerator()
    ids = torch.randint(0, 12, (1, size, size), generator=g)
    labels = F.one_hot(ids, 12).permute(0, 3, 1, 2).float()
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    flow = torch.stack([xs, ys])[None] + 0.02 * torch.randn(1, 2, size, size, generator=g)
    return net, {"labels": labels, "flow": flow}


def network_case(name: str, size: int):
    """A real generator from vidsynth.networks at reduced width, or None if it has not landed."""
    try:
        from vidsynth.networks.labels import LabelLayout
        from vidsynth.networks.registry import build_model
    except ImportError:
        return None
    classes = 12
    if name == "spade":
        options = {"label": LabelLayout(classes, False, False), "num_filters": 16, "spade_filters": 32,
                   "output_size": 256, "style_dims": None}
    else:
        options = {"label": LabelLayout(classes, False, False), "num_filters": 16, "num_res_blocks": 4,
                   "num_enhancers": 1, "enhancer_res_blocks": 2}
    try:
        net = build_model(name, options)
    except Exception as exc:  # not landed yet, or its config changed
        print(f"# {name}: not benchmarked ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, classes, (1, size, size), generator=g)
    return net, {"label": F.one_hot(ids, classes).permute(0, 3, 1, 2).float()}


def bench_case(label: str, net: nn.Module, inputs: dict, args, cache_dir: str) -> list[dict]:
    """Build every variant, then time them round-robin, so load from other processes hits all alike."""
    net.eval()
    variants = [("eager fp32", dict(backend="eager")),
                ("eager fp32+channels_last", dict(backend="eager", channels_last=True))]
    if cpu_bf16_support()[0]:
        variants.append(("eager bf16+channels_last", dict(backend="eager", precision="bf16", channels_last=True)))
    if not args.no_compile and available_backends()["compile"][0]:
        variants.append(("compile (inductor) fp32", dict(backend="compile")))
    variants.append(("onnxruntime fp32", dict(backend="onnx", cache_dir=cache_dir, threads=args.threads)))
    built = []
    for name, options in variants:
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runner = make_runner(net, inputs, **options)
        build_s = time.perf_counter() - start
        note = "; ".join(str(w.message)[:80] for w in caught if issubclass(w.category, RuntimeWarning))
        for _ in range(2):  # warm-up: allocator, oneDNN primitive caches, ORT arenas
            runner(inputs)
        built.append((name, runner, build_s, note))
    samples = {name: [] for name, *_ in built}
    for _ in range(args.repeats):
        for name, runner, *_ in built:
            start = time.perf_counter()
            runner(inputs)
            samples[name].append(time.perf_counter() - start)
    rows, baseline, reference = [], None, None
    for name, runner, build_s, note in built:
        ms = statistics.median(samples[name]) * 1000
        out = runner(inputs)[runner.output_names[0]]
        if reference is None:
            baseline, reference = ms, out
        error = ((out - reference).abs().max() / reference.abs().max()).item()
        rows.append({"net": label, "backend": name, "ran_as": runner.describe(), "ms": ms, "speedup": baseline / ms,
                     "max_rel_error": error, "build_s": build_s, "note": note})
        print(f"  {label:20s} {name:26s} {ms:9.1f} ms  x{baseline / ms:5.2f}  err {error:.1e}  build {build_s:5.1f}s",
              file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime intra-op threads")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="square input sizes")
    parser.add_argument("--nets", nargs="+", default=["conv", "spade", "pix2pixhd"])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (its build takes minutes)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bf16_ok, bf16_detail = cpu_bf16_support()
    print(f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} thread(s); "
          f"cpu bf16: {bf16_ok} ({bf16_detail})")
    rows = []
    with tempfile.TemporaryDirectory() as cache_dir:
        for size in args.sizes:
            for name in args.nets:
                case = conv_case(size) if name == "conv" else network_case(name, size)
                if case is None:
                    continue
                net, inputs = case
                rows += bench_case(f"{name} {size}x{size}", net, inputs, args, cache_dir)
    print("\n| net | backend | ms/frame | speed vs eager fp32 | max rel. error vs fp32 | build s |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        extra = f" ({r['note']})" if r["note"] else ""
        print(f"| {r['net']} | {r['backend']}{extra} | {r['ms']:.1f} | {r['speedup']:.2f}x | {r['max_rel_error']:.1e} | {r['build_s']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
