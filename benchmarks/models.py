"""Benchmark: every generator × backend × precision: ms/frame, fps, speed-up over eager fp32, FLOP floor, PSNR, memory.

Two kinds of case, all batch 1, all through the product's runners (``make_runner`` for image models,
``StepRunner`` for a video model's step, state in and state out):

- project size, random weights (imaginaire's default configs): vid2vid street 512x1024, few-shot
  vid2vid face 512x512, SPADE 256x256, pix2pixHD 512x1024, wc-vid2vid 512x1024. Speed is what these
  are for; their PSNR is reported but random recurrent networks drift, so it says little.
- trained: the shipped models (``demo:street`` vid2vid, ``demo:spade``) over a stream of the street
  world's label maps. Their PSNR against eager fp32 over the stream is the numerical check that
  decides which backends and precisions ``auto`` may choose (>= 35 dB).

For each variant: build seconds (export/compile included), median-free throughput ms/frame over the
timed frames (device synchronised at the end only, as a stream runs), fps, ratio to eager fp32 with
TF32 off measured in the same run (>1 = faster), FLOPs per frame (torch's flop counter, one steady
frame) and the FLOP floor (FLOPs / peak measured by a large matmul on the same device at the
variant's precision), peak device memory, PSNR against the fp32 outputs over the stream (outputs in
[-1, 1]) and the worst frame's PSNR. A failing variant is recorded with its error; the rest go on.

    python -m benchmarks.models --device cuda --quick --json out.json     # what benchmarks/gpu.sh runs
    vidsynth bench models --quick                                          # this CPU: trained models only
    python -m benchmarks.models --cases vid2vid_street --variants "eager fp32,compile fp16 cl ro"
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# variant name -> (runner options, TF32 on). The first is the baseline every ratio is against.
CUDA_VARIANTS = {
    "eager fp32": (dict(backend="eager", precision="fp32", channels_last=False), False),
    "compile fp16 cl ro": (dict(backend="compile", precision="fp16", channels_last=True, compile_mode="reduce-overhead"), True),
    "eager fp16": (dict(backend="eager", precision="fp16", channels_last=False), True),
    "eager tf32": (dict(backend="eager", precision="fp32", channels_last=False), True),
    "eager fp16 cl": (dict(backend="eager", precision="fp16", channels_last=True), True),
    "eager bf16 cl": (dict(backend="eager", precision="bf16", channels_last=True), True),
    "compile bf16 cl ro": (dict(backend="compile", precision="bf16", channels_last=True, compile_mode="reduce-overhead"), True),
    "compile fp16 cl": (dict(backend="compile", precision="fp16", channels_last=True, compile_mode="max-autotune-no-cudagraphs"), True),
    "onnx fp16": (dict(backend="onnx", precision="fp16"), True),
    "onnx fp32": (dict(backend="onnx", precision="fp32"), False),
    "tensorrt fp16": (dict(backend="tensorrt", precision="fp16"), True),
}
CPU_VARIANTS = {
    "eager fp32": (dict(backend="eager", precision="fp32", channels_last=False), False),
    "eager fp32 cl": (dict(backend="eager", precision="fp32", channels_last=True), False),
    "eager bf16 cl": (dict(backend="eager", precision="bf16", channels_last=True), False),
    "eager bf16": (dict(backend="eager", precision="bf16", channels_last=False), False),
    "compile fp32": (dict(backend="compile", precision="fp32", channels_last=False), False),
    "onnx fp32": (dict(backend="onnx", precision="fp32"), False),
}
PROJECT_CASES = ("vid2vid_street", "fs_vid2vid_face", "spade", "pix2pixhd", "wc_vid2vid")
TRAINED_CASES = ("demo:street", "demo:spade")
PSNR_THRESHOLD = 35.0


@dataclass
class Case:
    """One model at one size with the stream of per-frame conditions it is run on."""

    name: str
    model: object
    video: bool
    frames: list = field(default_factory=list)  # per-frame conditions (dicts of tensors on the device)
    references: tuple | None = None             # (ref_images, ref_labels) for few-shot models
    size: tuple[int, int] = (0, 0)
    weights: str = "random"


# ------------------------------------------------------------------------------------------------ inputs


def blob_labels(channels: int, h: int, w: int, frames: int, seed: int = 0):
    """A moving label map: coarse random regions (like a segmentation), panned a few pixels per frame."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, channels, (1, 1, h // 16 + 2, w // 16 + 2), generator=g).float()
    big = F.interpolate(coarse, scale_factor=16, mode="nearest")[0, 0].long()
    out = []
    for t in range(frames):
        ids = big[t % 16: t % 16 + h, 2 * t % 16: 2 * t % 16 + w]
        out.append(F.one_hot(ids, channels).permute(2, 0, 1)[None].float())
    return out


def edge_maps(h: int, w: int, frames: int, seed: int = 0):
    """Face-like edge maps: a few thin random curves that drift, one channel."""
    import torch

    g = torch.Generator().manual_seed(seed)
    base = torch.rand(6, 2, generator=g)
    out = []
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    for t in range(frames):
        m = torch.zeros(h, w)
        for cy, cx in base + 0.003 * t:
            r = torch.sqrt((ys - cy) ** 2 + (xs - cx) ** 2)
            m = torch.maximum(m, (torch.abs(r - 0.15) < 2.0 / h).float())
        out.append(m[None, None])
    return out


def street_labels(channels: int, size: int, frames: int):
    """Cityscapes label ids from the procedural street world, one-hot (what the shipped models saw)."""
    import torch
    import torch.nn.functional as F

    from vidsynth.streams.synthetic.street import StreetConfig, StreetWorld

    world = StreetWorld(StreetConfig(width=size, height=size, path="loop", seed=1))
    out = []
    for t in range(frames):
        ids = torch.from_numpy(world.frame(t)["labels"].astype("int64")).clamp_(0, channels - 1)
        out.append(F.one_hot(ids, channels).permute(2, 0, 1)[None].float())
    return out


def build_case(name: str, frames: int, device, quick_small: bool = False) -> Case:
    """A case by name: a project-size model with random weights, or a shipped trained model."""
    import torch

    torch.manual_seed(0)
    if name.startswith("demo:"):
        from vidsynth.engine.jobs.models import resolve_model
        from vidsynth.networks.model_file import load_model

        model = load_model(resolve_model(name)).eval()
        video = hasattr(model, "step")
        if video:
            h, w = model.config.output_size
            channels = model.config.label_channels
        else:
            h = w = 128
            channels = model.config.label.channels
        stream = street_labels(channels, h, frames)
        return Case(name, model, video, [{"label": x.to(device)} for x in stream], size=(h, w), weights="trained")
    from vidsynth.networks.registry import build_model

    if name == "vid2vid_street":
        from vidsynth.networks.vid2vid import Vid2VidConfig

        cfg = Vid2VidConfig.tiny(label_channels=35) if quick_small else Vid2VidConfig()
        model = build_model("vid2vid", cfg)
        h, w = cfg.output_size
        stream = [{"label": x} for x in blob_labels(cfg.label_channels, h, w, frames)]
        refs = None
    elif name == "wc_vid2vid":
        from vidsynth.networks.wc_vid2vid import WCVid2VidConfig

        cfg = WCVid2VidConfig.tiny(label_channels=35) if quick_small else WCVid2VidConfig()
        model = build_model("wc_vid2vid", cfg)
        h, w = cfg.output_size
        g = torch.Generator().manual_seed(1)
        stream = []
        for t, x in enumerate(blob_labels(cfg.label_channels, h, w, frames)):
            rgb = torch.rand(1, 3, h, w, generator=g) * 2 - 1
            mask = (torch.rand(1, 1, h // 8, w // 8, generator=g) > 0.5).float().repeat_interleave(8, 2).repeat_interleave(8, 3)
            stream.append({"label": x, "guidance": torch.cat([rgb * mask, mask], 1)})
        refs = None
    elif name == "fs_vid2vid_face":
        from vidsynth.networks.fs_vid2vid import FewShotVid2VidConfig

        cfg = FewShotVid2VidConfig.tiny() if quick_small else FewShotVid2VidConfig()
        model = build_model("fs_vid2vid", cfg)
        h, w = cfg.output_size
        edges = edge_maps(h, w, frames + 1)
        stream = [{"label": x} for x in edges[1:]]
        refs = (torch.rand(1, 1, 3, h, w) * 2 - 1, edges[0][:, None])
    elif name == "spade":
        from vidsynth.networks.spade import SPADEConfig

        cfg = SPADEConfig(num_filters=8, spade_filters=8) if quick_small else SPADEConfig()
        model = build_model("spade", cfg)
        h = w = 256
        stream = [{"label": x} for x in blob_labels(cfg.label.channels, h, w, frames)]
        refs = None
    elif name == "pix2pixhd":
        from vidsynth.networks.pix2pixhd import Pix2PixHDConfig

        cfg = Pix2PixHDConfig(num_filters=8) if quick_small else Pix2PixHDConfig()
        model = build_model("pix2pixhd", cfg)
        h, w = 512, 1024
        stream = [{"label": x} for x in blob_labels(cfg.label.channels, h, w, frames)]
        refs = None
    else:
        raise SystemExit(f"unknown case {name!r}; expected one of {', '.join(PROJECT_CASES + TRAINED_CASES)}")
    model.eval()
    stream = [{k: v.to(device) for k, v in c.items()} for c in stream]
    refs = tuple(r.to(device) for r in refs) if refs is not None else None
    return Case(name, model, hasattr(model, "step"), stream, refs, (h, w))


# ------------------------------------------------------------------------------------------------ running


class Stream:
    """Runs a case's frames through one variant: a video model's StepRunner, or an image model's Runner."""

    def __init__(self, case: Case, device: str, options: dict):
        import torch

        self.case = case
        if case.video:
            from vidsynth.engine.backends import StepRunner

            self.stepper = StepRunner(case.model, device=device, **options)
            self.runner = None
        else:
            from vidsynth.engine.backends import make_runner

            module = case.model.translator(True) if hasattr(case.model, "translator") else case.model
            self.runner = make_runner(module, {"label": case.frames[0]["label"]}, device=device, **options)
            self.stepper = None
        self.device = torch.device(device)
        self.reset()

    def reset(self) -> None:
        if self.stepper is None:
            self.state = None
            return
        if self.case.references is not None:
            refs = self.stepper.encode_references(*self.case.references)
            self.state = self.stepper.initial_state(refs)
        else:
            self.state = self.stepper.initial_state()

    def frame(self, conditions: dict):
        if self.stepper is None:
            return next(iter(self.runner(conditions).values()))
        out, self.state = self.stepper.step(conditions, self.state)
        return out["image"]

    def describe(self) -> str:
        return (self.stepper or self.runner).describe()


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def set_tf32(on: bool) -> None:
    import torch

    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def psnr(a, b) -> float:
    """PSNR of ``a`` against ``b``, both in [-1, 1] (peak-to-peak 2)."""
    mse = float(((a.float() - b.float()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


def count_flops(case: Case, device: str) -> float | None:
    """FLOPs of one steady frame (conv and matmul, 2 per multiply-add), from torch's flop counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with torch.inference_mode():
            if case.video:
                from vidsynth.engine.backends import StepRunner

                stepper = StepRunner(case.model, device=device)
                refs = stepper.encode_references(*case.references) if case.references is not None else None
                state = stepper.initial_state(refs) if refs is not None else stepper.initial_state()
                steady = int(getattr(case.model.config, "num_frames_G", 1)) - 1
                for t in range(steady):
                    _, state = case.model.step(case.frames[t], state)
                counter = FlopCounterMode(display=False)
                with counter:
                    case.model.step(case.frames[steady], state)
            else:
                module = case.model.translator(True) if hasattr(case.model, "translator") else case.model
                counter = FlopCounterMode(display=False)
                with counter:
                    module(label=case.frames[0]["label"])
        return float(counter.get_total_flops())
    except Exception as exc:  # the counter is a figure of merit, never a reason to lose the row
        print(f"# flop count failed for {case.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def peak_matmul(device, dtype_name: str) -> float:
    """TFLOP/s of a large square matmul at ``dtype_name`` on ``device`` (the FLOP floor's peak)."""
    import torch

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32, "tf32": torch.float32}[dtype_name]
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    if device.type == "cuda":
        set_tf32(dtype_name == "tf32")
    for _ in range(3):
        a @ b
    sync(device)
    reps = 20 if device.type == "cuda" else 3
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    seconds = (time.perf_counter() - start) / reps
    return 2 * n ** 3 / seconds / 1e12


def run_variant(case: Case, device: str, name: str, options: dict, tf32: bool, args, reference) -> dict:
    """Build one variant, time the stream, then run it again for PSNR against the fp32 outputs."""
    import torch

    dev = torch.device(device)
    row = {"case": case.name, "weights": case.weights, "size": f"{case.size[1]}x{case.size[0]}", "variant": name,
           "options": {k: v for k, v in options.items()}, "tf32": tf32}
    if dev.type == "cuda":
        set_tf32(tf32)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
        base_mem = torch.cuda.memory_allocated(dev)
    start = time.perf_counter()
    stream = Stream(case, device, dict(options, cache_dir=args.cache_dir) if options["backend"] in ("onnx", "tensorrt") else options)
    row["ran_as"] = stream.describe()
    frames = case.frames
    warm = min(args.warmup, len(frames) - 1)
    with torch.inference_mode():
        for c in frames[:warm]:  # warm-up phases, compilation of the steady phase, autotuning
            stream.frame(c)
        sync(dev)
        row["build_s"] = round(time.perf_counter() - start, 2)
        row["ran_as"] = stream.describe()
        timed = frames[warm:][: args.timed]
        t0, c0 = time.perf_counter(), time.process_time()
        for c in timed:
            stream.frame(c)
        sync(dev)
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    row["timed_frames"] = len(timed)
    row["ms"] = round(1000 * seconds / max(1, len(timed)), 3)
    # CPU seconds of this process per frame: on a shared CPU, what other processes' load disturbs least
    row["cpu_ms"] = round(1000 * cpu_seconds / max(1, len(timed)), 3)
    row["fps"] = round(1000 / row["ms"], 2) if row["ms"] > 0 else None
    if dev.type == "cuda":
        row["peak_mem_gib"] = round((torch.cuda.max_memory_allocated(dev) - base_mem) / 2 ** 30, 3)
        row["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved(dev) / 2 ** 30, 3)
    # accuracy: the whole stream again from a fresh state, outputs kept on the CPU
    stream.reset()
    outputs = []
    with torch.inference_mode():
        for c in frames[: args.psnr_frames]:
            outputs.append(stream.frame(c).float().cpu())
    row["ran_as"] = stream.describe()
    if reference is not None:
        values = [psnr(o, r) for o, r in zip(outputs, reference)]
        row["psnr_db"] = round(psnr(torch.stack(outputs), torch.stack(reference[: len(outputs)])), 2)
        row["psnr_worst_frame_db"] = round(min(values), 2)
        row["psnr_frames"] = len(values)
    del stream
    return row, outputs


def bench_case(case_name: str, args, device: str, emit) -> None:
    """Every variant of one case, rows emitted as they come (a time-out loses only what is left)."""
    import torch

    dev = torch.device(device)
    variants = CUDA_VARIANTS if dev.type == "cuda" else CPU_VARIANTS
    names = [v.strip() for v in args.variants.split(",")] if args.variants else list(variants)
    for unknown in [n for n in names if n not in variants]:
        emit({"case": case_name, "variant": unknown,
              "error": f"no such variant on {dev.type}; expected one of: {', '.join(variants)}"})
    names = [n for n in names if n in variants]
    if not names or names[0] != next(iter(variants)):
        names.insert(0, next(iter(variants)))
    deadline = time.perf_counter() + args.budget_s
    frames = max(args.warmup + args.timed, args.psnr_frames)
    try:
        case = build_case(case_name, frames, dev, quick_small=args.small)
    except Exception as exc:
        emit({"case": case_name, "error": f"{type(exc).__name__}: {exc}"})
        return
    case.model.to(dev)
    flops = count_flops(case, device)
    baseline_ms, reference = None, None
    for name in names:
        if time.perf_counter() > deadline:
            emit({"case": case.name, "variant": name, "skipped": f"over this case's {args.budget_s:.0f} s budget"})
            continue
        options, tf32 = variants[name]
        try:
            row, outputs = run_variant(case, device, name, options, tf32, args, reference)
        except BaseException as exc:  # one failing variant never loses the others
            if isinstance(exc, KeyboardInterrupt):
                raise
            emit({"case": case.name, "variant": name, "error": f"{type(exc).__name__}: {str(exc)[:400]}",
                  "trace": traceback.format_exc(limit=3)[-800:]})
            release(dev)
            continue
        release(dev)
        if name == names[0]:
            baseline_ms, reference = row["ms"], outputs
            row["psnr_db"] = "reference"
        row["speedup_vs_eager_fp32"] = round(baseline_ms / row["ms"], 3) if baseline_ms and row["ms"] else None
        if flops:
            row["gflop_per_frame"] = round(flops / 1e9, 2)
            peak_key = "fp16" if "fp16" in name else "bf16" if "bf16" in name else ("tf32" if tf32 else "fp32")
            peak = args.peaks.get(peak_key)
            if peak:
                row["flop_floor_ms"] = round(flops / (peak * 1e12) * 1000, 3)
                row["ms_over_floor"] = round(row["ms"] / row["flop_floor_ms"], 2)
        if case.weights == "trained" and isinstance(row.get("psnr_db"), float):
            row["auto_eligible"] = row["psnr_db"] >= PSNR_THRESHOLD
        emit(row)


def release(dev) -> None:
    """Drop the last variant's compiled graphs, CUDA graph pools and cached blocks before the next."""
    import gc

    import torch

    torch._dynamo.reset()
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()


def print_row(row: dict) -> None:
    if "error" in row or "skipped" in row:
        print(f"  {row.get('case', ''):18s} {row.get('variant', ''):22s} {row.get('error') or row.get('skipped')}",
              file=sys.stderr, flush=True)
        return
    print(f"  {row['case']:18s} {row['variant']:22s} {row['ms']:9.2f} ms (cpu {row['cpu_ms']:.1f}) {row['fps']:8.1f} fps "
          f"x{row.get('speedup_vs_eager_fp32')}  psnr {row.get('psnr_db')} dB  "
          f"mem {row.get('peak_mem_gib')} GiB  floor {row.get('flop_floor_ms')} ms  "
          f"build {row['build_s']:.1f}s  [{row['ran_as']}]", file=sys.stderr, flush=True)


def machine(device) -> dict:
    import torch

    info = {"torch": torch.__version__, "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cudnn"] = torch.backends.cudnn.version()
        info["cuda"] = torch.version.cuda
    from vidsynth.engine.backends import cpu_bf16_support

    info["cpu_bf16"] = cpu_bf16_support()[1]
    return info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--quick", action="store_true", help="fewer frames (20 timed, 30 for PSNR) and per-case time budgets")
    p.add_argument("--cases", default="", help="comma-separated; default: project sizes + trained on cuda, trained on cpu")
    p.add_argument("--variants", default="", help="comma-separated variant names (the eager fp32 baseline is always run)")
    p.add_argument("--small", action="store_true", help="project cases at test widths (a smoke test of the whole table)")
    p.add_argument("--warmup", type=int, default=5, help="frames run before timing (warm-up phases, compilation)")
    p.add_argument("--timed", type=int, default=None, help="frames timed (default 60; --quick 20)")
    p.add_argument("--psnr-frames", type=int, default=None, help="frames compared with fp32 (default 60; --quick 30)")
    p.add_argument("--budget-s", type=float, default=None, help="seconds per case before remaining variants are skipped")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (cpu)")
    p.add_argument("--cache-dir", default=None, help="where ONNX graphs / TensorRT engines are kept (default: a temp dir)")
    p.add_argument("--json", default="", help="write every row here (rewritten after each row)")
    p.add_argument("--table", default="", metavar="JSON", help="print the markdown table of a JSON written by this "
                   "script or benchmarks/gpu.sh, and exit")
    args = p.parse_args(argv)
    if args.table:
        with open(args.table) as f:
            emit_table(json.load(f))
        return 0
    import tempfile

    import torch

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda asked but torch sees no CUDA GPU; run on a GPU machine or use --device cpu", file=sys.stderr)
        return 2
    args.timed = args.timed or (20 if args.quick else 60)
    args.psnr_frames = args.psnr_frames or (30 if args.quick else 60)
    if args.budget_s is None:
        args.budget_s = 75.0 if args.quick else 600.0
    cases = [c.strip() for c in args.cases.split(",") if c.strip()] or (
        list(PROJECT_CASES + TRAINED_CASES) if dev.type == "cuda" else list(TRAINED_CASES))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    cache = tempfile.TemporaryDirectory() if args.cache_dir is None else None
    args.cache_dir = args.cache_dir or cache.name
    result = {"machine": machine(dev), "command": " ".join(sys.argv), "peaks_tflops": {}, "rows": []}
    for key in (("fp16", "bf16", "tf32", "fp32") if dev.type == "cuda" else ("fp32", "bf16")):
        try:
            result["peaks_tflops"][key] = round(peak_matmul(dev, key), 3)
        except Exception as exc:
            result["peaks_tflops"][key + "_error"] = str(exc)[:200]
    args.peaks = {k: v for k, v in result["peaks_tflops"].items() if isinstance(v, float)}
    print(f"# {result['machine']}  matmul peaks TFLOP/s {result['peaks_tflops']}", file=sys.stderr, flush=True)

    def emit(row: dict) -> None:
        result["rows"].append(row)
        print_row(row)
        if args.json:
            tmp = args.json + ".tmp"
            with open(tmp, "w") as f:
                json.dump(result, f, indent=1, default=str)
            os.replace(tmp, args.json)

    for name in cases:
        bench_case(name, args, args.device, emit)
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    emit_table(result)
    return 0


def emit_table(result: dict) -> None:
    """A markdown table of the rows on stdout (rows that failed or were skipped listed after it)."""
    print(f"machine: {result.get('machine')}; matmul peaks TFLOP/s: {result.get('peaks_tflops')}")
    print("| case | variant | ms/frame | fps | x eager fp32 | PSNR dB (worst frame) | peak GiB | ms / FLOP floor |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in result["rows"]:
        if "ms" not in r:
            continue
        print(f"| {r['case']} {r.get('size', '')} | {r['variant']} | {r['ms']:.2f} | {r['fps']:.1f} | "
              f"{r.get('speedup_vs_eager_fp32')} | {r.get('psnr_db', '')} ({r.get('psnr_worst_frame_db', '')}) | "
              f"{r.get('peak_mem_gib', '')} | {r.get('ms_over_floor', '')} |")
    for r in result["rows"] + result.get("incomplete", []):
        if "ms" not in r:
            print(f"- {r.get('case')} {r.get('variant', '')}: {r.get('error') or r.get('skipped')}")


if __name__ == "__main__":
    sys.exit(main())
