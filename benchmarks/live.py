"""Live-mode benchmark: a 30 fps camera through a stage that keeps the interpreter busy 100 ms a frame.

The camera is simulated in real time (frames stamped with their capture time at 30 fps); the stage is
a pure-Python busy loop, so it competes with the reader and the sink for the GIL as a heavy Python
stage would. Latest-frame-wins should keep end-to-end latency near one stage time plus one frame
interval (goal: under 250 ms), count the stale frames dropped, and keep memory flat.

    python -m benchmarks.live                 # 3,000 frames (100 s)
    python -m benchmarks.live --frames 300    # a 10 s smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction

import numpy as np

from vidsynth.engine import Pipeline, Stage
from vidsynth.streams.base import Source, StreamInfo
from vidsynth.streams.frame import Frame


class PacedCamera(Source):
    """``n`` frames at ``fps`` in real time, each stamped with the moment it was captured."""

    def __init__(self, n: int, fps: float = 30.0, size=(320, 240)):
        self.n, self.fps, self.size = n, fps, size
        self.late = 0  # frames the reader asked for after their capture time had passed

    def open(self):
        return StreamInfo(self.size[0], self.size[1], Fraction(self.fps), Fraction(1, 90000), live=True)

    def __iter__(self):
        image = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        period = 1.0 / self.fps
        start = time.monotonic()
        for k in range(self.n):
            due = start + k * period
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            else:
                self.late += 1
            frame_image = image.copy()
            frame_image[0, 0, 0] = k % 256
            yield Frame(index=k, pts=round(k * 90000 / self.fps), time_base=Fraction(1, 90000), image=frame_image,
                        capture_ns=time.monotonic_ns())


class BusyPythonStage(Stage):
    """Keeps the interpreter busy for ``ms`` per frame in pure Python (it holds the GIL between switches)."""

    def __init__(self, ms: float = 100.0):
        self.seconds = ms / 1000.0

    @property
    def name(self):
        return "busy_python_100ms"

    def process(self, frame):
        end = time.perf_counter() + self.seconds
        x = 0
        while time.perf_counter() < end:
            x += 1
        return frame


def run(frames: int, fps: float, stage_ms: float, metrics_path: str | None):
    camera = PacedCamera(frames, fps)
    report = Pipeline(camera, [BusyPythonStage(stage_ms)], None, mode="live", progress=False,
                      metrics_path=metrics_path).run()
    return report, camera


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--stage-ms", type=float, default=100.0)
    parser.add_argument("--metrics", help="also write the pipeline's metrics JSON here")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    report, camera = run(args.frames, args.fps, args.stage_ms, args.metrics)
    e2e = report.end_to_end_ms
    rss = report.rss_mb
    samples = rss["samples"]
    # Memory growth after warm-up: the second half of the run against the first half's end.
    half = samples[len(samples) // 2] if len(samples) > 2 else rss["start"]
    result = {
        "frames": args.frames,
        "fps_in": args.fps,
        "stage_ms": args.stage_ms,
        "written": report.frames_out,
        "dropped": report.dropped,
        "drop_fraction": round(report.dropped / max(1, report.frames_in), 3),
        "fps_out": report.fps,
        "e2e_ms_mean": e2e["mean"],
        "e2e_ms_p50": e2e["p50"],
        "e2e_ms_p95": e2e["p95"],
        "e2e_ms_max": e2e["max"],
        "stage_ms_p50": report.stages["busy_python_100ms"]["latency_ms"]["p50"],
        "queue_max": max(s["queue_max"] for s in report.stages.values()),
        "camera_late_frames": camera.late,
        "rss_mb_start": rss["start"],
        "rss_mb_mid": half,
        "rss_mb_end": rss["end"],
        "threads": report.threads["summary"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"live: {result['frames']} frames at {args.fps:g} fps through a {args.stage_ms:g} ms pure-Python stage")
        print(f"  written {result['written']} ({result['fps_out']:.1f} fps), dropped {result['dropped']} "
              f"({100 * result['drop_fraction']:.0f}%), largest queue {result['queue_max']}")
        print(f"  end-to-end latency ms: p50 {result['e2e_ms_p50']}, p95 {result['e2e_ms_p95']}, max {result['e2e_ms_max']} "
              f"(goal < 250)")
        print(f"  RSS MiB: start {result['rss_mb_start']}, middle {result['rss_mb_mid']}, end {result['rss_mb_end']}")
        print(f"  threads: {result['threads']}")
    ok = (e2e["p95"] or 1e9) < 250
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
