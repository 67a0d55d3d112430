"""Decode fuzz: seeded damaged inputs through ``vidsynth extract``; no hang, no traceback, bounded memory.

Small camera-like files are made here with PyAV (H.264 + AAC in MP4, H.264 + AC3 in Matroska, H.264 +
MP2 in MPEG-TS, FFV1 labels, a PNG folder), then damaged in seeded ways: truncated, bits flipped, blocks
zeroed, a garbage tail, zero length, the wrong extension, huge dimensions in a header. Each goes through
``vidsynth extract --what flow`` in a worker process that runs the inputs one after another (a fresh
process per input would spend seconds importing); an input that takes longer than ``--timeout`` is a
hang, and the worker is replaced. Each run ends as one of

- ``complete``: exit 0 and every frame of the undamaged file written;
- ``partial``: exit 0 with fewer frames (the frames that decode; the rest counted and named);
- ``clean error``: exit 2 with one ``vidsynth: error: ...`` line;
- ``internal error``: exit 1, or exit 2 saying "This is a bug" (one line, but not a user's error);
- ``traceback``: a Python traceback on stderr or any other exit code;
- ``hang``: no answer within the timeout.

It prints the counts and the worker's peak resident memory::

    python benchmarks/fuzz.py --n 240 --seed 0
    vidsynth bench fuzz -- --n 240
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("truncate", "bitflip", "zero_blocks", "garbage_tail", "zero_length", "wrong_extension", "huge_dimensions")
OUTCOMES = ("complete", "partial", "clean error", "internal error", "traceback", "hang")


# -- the undamaged inputs ---------------------------------------------------------------------------------


def _stamped_frames(n: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    from vidsynth.streams.synthetic.clip import SyntheticClip

    return [f.image for f in SyntheticClip(n_frames=n, width=width, height=height)]


def _write(path: Path, fmt: str, video_codec: str, audio_codec: str | None, n: int = 30) -> None:
    import av

    with av.open(str(path), "w", format=fmt) as container:
        video = container.add_stream(video_codec, rate=30)
        video.width, video.height = 64, 48
        video.pix_fmt = "gray" if video_codec == "ffv1" else "yuv420p"
        audio = None
        if audio_codec:
            audio = container.add_stream(audio_codec, rate=48000)
            audio.layout = "stereo"
            audio.format = "fltp" if audio_codec != "mp2" else "s16"
        for i, image in enumerate(_stamped_frames(n)):
            if video_codec == "ffv1":
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:, :, 0] // 16), format="gray")
            else:
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            t = np.arange(n * 1600) / 48000
            tone = 0.3 * np.sin(2 * np.pi * (300 + 200 * t) * t)
            for start in range(0, len(tone), 1152):
                chunk = np.stack([tone[start : start + 1152]] * 2)
                if audio.format.name == "fltp":
                    samples = chunk.astype(np.float32)
                else:  # packed 16-bit: the channels interleaved in one plane
                    samples = np.ascontiguousarray((chunk.T * 32767).astype(np.int16).reshape(1, -1))
                aframe = av.AudioFrame.from_ndarray(samples, format=audio.format.name, layout="stereo")
                aframe.sample_rate, aframe.pts = 48000, start
                container.mux(audio.encode(aframe))
            container.mux(audio.encode(None))


def make_seeds(folder: Path) -> dict[str, tuple[Path, int]]:
    """The undamaged inputs: name -> (path, frames)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    seeds = {
        "mp4": (folder / "clip.mp4", "mp4", "libx264", "aac"),
        "mkv": (folder / "clip.mkv", "matroska", "libx264", "ac3"),
        "ts": (folder / "clip.ts", "mpegts", "libx264", "mp2"),
        "ffv1": (folder / "labels.mkv", "matroska", "ffv1", None),
    }
    made = {}
    for name, (path, fmt, vcodec, acodec) in seeds.items():
        _write(path, fmt, vcodec, acodec)
        made[name] = (path, 30)
    frames = folder / "frames"
    frames.mkdir(exist_ok=True)
    for i, image in enumerate(_stamped_frames(6)):
        cv2.imwrite(str(frames / f"{i:04d}.png"), image[:, :, ::-1])
    made["png"] = (frames, 6)
    return made


# -- the damage ---------------------------------------------------------------------------------------------


def _huge_dimensions(data: bytearray, name: str) -> bytearray:
    """Write the largest width and height a header can hold where this container keeps them."""
    if name == "mp4":
        at = data.find(b"avc1")
        if at >= 0:  # the sample entry: 24 bytes after its type, then width and height (16 bits each)
            data[at + 28 : at + 32] = b"\xff\xff\xff\xff"
        at = data.find(b"tkhd")
        if at >= 0:  # tkhd ends with width and height as 16.16 fixed point
            size = int.from_bytes(data[at - 4 : at], "big")
            data[at - 4 + size - 8 : at - 4 + size] = b"\x7f\xff\x00\x00\x7f\xff\x00\x00"
    elif name in ("mkv", "ffv1"):
        for element in (b"\xb0", b"\xba"):  # PixelWidth, PixelHeight
            at = data.find(element + b"\x81")
            if at >= 0:
                data[at + 1 : at + 3] = b"\x84\xff"  # claim four bytes of 0xff... (the next bytes follow)
    return data


def mutate(seed: Path, name: str, kind: str, rng: np.random.Generator, out_dir: Path) -> Path:
    """One damaged copy of ``seed`` (a file, or for the PNG folder a folder) in ``out_dir``."""
    if seed.is_dir():
        target = out_dir / "frames"
        shutil.copytree(seed, target)
        victim = sorted(target.iterdir())[int(rng.integers(0, len(list(target.iterdir()))))]
        if kind == "wrong_extension":
            shutil.copy(seed.parent / "clip.mp4", victim)  # a video where an image should be
            return target
        if kind == "huge_dimensions":
            data = bytearray(victim.read_bytes())
            data[16:24] = b"\x7f\xff\xff\xff\x7f\xff\xff\xff"  # IHDR width and height
            victim.write_bytes(bytes(data))
            return target
        victim.write_bytes(bytes(_damage(bytearray(victim.read_bytes()), kind, rng)))
        return target
    suffix = seed.suffix
    if kind == "wrong_extension":
        suffix = {".mp4": ".mkv", ".mkv": ".mp4", ".ts": ".mp4"}.get(suffix, ".mp4")
    target = out_dir / f"input{suffix}"
    data = bytearray(seed.read_bytes())
    if kind == "huge_dimensions":
        data = _huge_dimensions(data, name)
    elif kind != "wrong_extension":
        data = _damage(data, kind, rng)
    target.write_bytes(bytes(data))
    return target


def _damage(data: bytearray, kind: str, rng: np.random.Generator) -> bytearray:
    n = len(data)
    if kind == "zero_length":
        return bytearray()
    if kind == "truncate":
        return data[: int(rng.integers(1, max(2, n)))]
    if kind == "bitflip":
        for at in rng.integers(0, n, size=int(rng.integers(1, 40))):
            data[int(at)] ^= 1 << int(rng.integers(0, 8))
        return data
    if kind == "zero_blocks":
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, n))
            data[at : at + int(rng.integers(16, 512))] = bytes(min(n - at, 512))[: len(data[at : at + 512])]
        return data[:n]
    if kind == "garbage_tail":
        cut = int(rng.integers(n // 2, n))
        return data[:cut] + bytearray(rng.integers(0, 256, size=int(rng.integers(100, 5000)), dtype=np.uint8).tobytes())
    raise ValueError(kind)


# -- the worker: one process runs the inputs one after another --------------------------------------------


def worker() -> int:
    """Read one JSON task per line; run ``vidsynth`` with its argv, its output in the task's log file."""
    import resource

    from vidsynth.cli import main

    answer = os.fdopen(os.dup(1), "w", buffering=1)
    for line in sys.stdin:
        task = json.loads(line)
        with open(task["log"], "w") as log:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = os.dup(1), os.dup(2)
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                code = main(task["argv"])
            except BaseException as exc:  # main() must not raise: whatever does is a traceback
                import traceback

                traceback.print_exc()
                code = f"raised {type(exc).__name__}"
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        answer.write(json.dumps({"code": code, "peak_mb": round(peak, 1)}) + "\n")
    return 0


class Worker:
    def __init__(self):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)

    def run(self, argv: list[str], log: Path, timeout: float) -> dict | None:
        self.proc.stdin.write(json.dumps({"argv": argv, "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else {"code": "worker died", "peak_mb": 0.0}

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def classify(result: dict | None, log_text: str, written: int | None, expected: int) -> str:
    if result is None:
        return "hang"
    code = result["code"]
    if "Traceback (most recent call last)" in log_text or code not in (0, 1, 2):
        return "traceback"
    if code == 1:
        return "internal error"
    if code == 2:
        errors = [line for line in log_text.splitlines() if line.startswith("vidsynth: error: ")]
        if len(errors) != 1:
            return "traceback"
        # the pipeline words an unexpected exception as "This is a bug ...": a user's error it is not
        return "internal error" if "This is a bug" in errors[0] else "clean error"
    return "complete" if written is not None and written >= expected else "partial"


def frames_in(path: Path) -> int | None:
    from vidsynth.errors import VidsynthError
    from vidsynth.streams.video_file import VideoFileSource

    try:
        with VideoFileSource(path, partial=True) as source:
            return sum(1 for _ in source)
    except VidsynthError:
        return None


def fuzz(n: int, seed: int = 0, timeout: float = 30.0, workdir: Path | None = None, verbose: bool = False) -> dict:
    """Run ``n`` damaged inputs; returns the counts, the peak memory and each case."""
    own = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="vidsynth-fuzz-"))
    seeds = make_seeds(workdir / "seeds")
    rng = np.random.default_rng(seed)
    names = sorted(seeds)
    counts = dict.fromkeys(OUTCOMES, 0)
    cases, peaks = [], []
    work = Worker()
    started = time.perf_counter()
    try:
        for i in range(n):
            name, kind = names[i % len(names)], KINDS[(i // len(names)) % len(KINDS)]
            case_dir = workdir / f"case{i:04d}"
            case_dir.mkdir()
            path = mutate(seeds[name][0], name, kind, rng, case_dir)
            out = case_dir / "out.mp4"
            log = case_dir / "log.txt"
            argv = ["extract", "-i", str(path), "--what", "flow", "-o", str(out), "-y", "--no-progress"]
            result = work.run(argv, log, timeout)
            if result is None or not isinstance(result.get("code"), int):
                work.close()
                work = Worker()
            else:
                peaks.append(result["peak_mb"])
            text = log.read_text(errors="replace") if log.exists() else ""
            written = frames_in(out) if result is not None and result.get("code") == 0 and out.exists() else None
            outcome = classify(result, text, written, seeds[name][1])
            counts[outcome] += 1
            last = text.strip().splitlines()[-1] if text.strip() else ""
            cases.append({"input": name, "damage": kind, "outcome": outcome, "frames": written, "last_line": last})
            if verbose:
                print(f"{i:4d} {name:5s} {kind:16s} {outcome:14s} {last[:110]}", file=sys.stderr)
    finally:
        work.close()
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    return {"n": n, "seed": seed, "counts": counts, "peak_rss_mb": max(peaks or [0.0]),
            "rss_mb_first_last": [peaks[0], peaks[-1]] if peaks else [], "seconds": round(time.perf_counter() - started, 1),
            "cases": cases}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=240, help="how many damaged inputs (default: 240)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the damage (default: 0)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds after which an input is a hang")
    parser.add_argument("--json", help="also write every case as JSON here")
    parser.add_argument("--verbose", action="store_true", help="print each case as it ends")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker()
    report = fuzz(args.n, args.seed, args.timeout, verbose=args.verbose)
    print(f"decode fuzz: {report['n']} damaged inputs (seed {report['seed']}) through vidsynth extract "
          f"in {report['seconds']} s")
    for outcome in OUTCOMES:
        print(f"  {outcome:<15} {report['counts'][outcome]}")
    print(f"  peak RSS        {report['peak_rss_mb']:.0f} MB (worker after its first and last input: "
          f"{report['rss_mb_first_last']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    bad = report["counts"]["hang"] + report["counts"]["traceback"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
