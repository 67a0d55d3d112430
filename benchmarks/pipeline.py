"""Pipeline benchmark: decode → pose → draw → encode, against its slowest stage alone and the serial sum.

Measured in one run, on one input: a clip of a real person made from a photograph (no download),
encoded to H.264 first. Each stage is timed alone over all frames (decode the file; MediaPipe pose
on the decoded frames; draw the pose maps; encode them), then the same chain runs as a Pipeline with
one worker per stage. Ratios:

- pipeline fps / slowest stage's fps alone: how close the overlap gets to the bottleneck (goal ≥ 0.8)
- pipeline fps / serial fps (all stages one after another): the speed-up from running them at once

The pipeline runs twice: all stages as threads of one process, and with pose in a process of its own
(``ProcessStage``), where MediaPipe's Python callbacks no longer take turns on one GIL with the drawing.

    python -m benchmarks.pipeline                  # 120 frames of 320×320
    python -m benchmarks.pipeline --frames 30      # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

from vidsynth.engine.threads import apply_threads, configure_environment, plan_threads

configure_environment()

from vidsynth.engine import Pipeline  # noqa: E402
from vidsynth.engine.pipeline import ProcessStage  # noqa: E402
from vidsynth.engine.draw import DrawPose  # noqa: E402
from vidsynth.engine.extract import PoseExtractor  # noqa: E402
from vidsynth.streams.synthetic.photo_pan import PhotoPanClip  # noqa: E402
from vidsynth.streams.mp4 import Mp4Sink  # noqa: E402
from vidsynth.streams.video_file import VideoFileSource  # noqa: E402


def make_input(path: str, frames: int, size: int) -> None:
    Pipeline(PhotoPanClip(n_frames=frames, size=size), [], Mp4Sink(path), progress=False).run()


def _cpu(who=resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class _Clock:
    """Wall and process CPU seconds of a block, added to two dicts under one name."""

    def __init__(self, name, seconds, cpu):
        self.name, self.seconds, self.cpu = name, seconds, cpu

    def __enter__(self):
        self.t0, self.c0 = time.perf_counter(), _cpu()

    def __exit__(self, *exc):
        self.seconds[self.name] = time.perf_counter() - self.t0
        self.cpu[self.name] = _cpu() - self.c0


def time_stages_alone(path: str, out_path: str, budget) -> tuple[dict, dict]:
    """Wall and CPU seconds each stage needs alone for all frames (opening excluded, like the pipeline's
    warm stages)."""
    seconds, cpu = {}, {}
    source = VideoFileSource(path)
    info = source.open()
    apply_threads(budget, source=source)
    with _Clock("decode", seconds, cpu):
        frames = list(source)
    source.close()

    pose = PoseExtractor()
    pose.open()
    with _Clock("pose", seconds, cpu):
        posed = [pose(f) for f in frames]
    pose.close()

    draw = DrawPose()
    with _Clock("draw", seconds, cpu):
        drawn = [draw(f) for f in posed]

    sink = Mp4Sink(out_path)
    apply_threads(budget, sink=sink)
    with _Clock("encode", seconds, cpu):
        sink.open(info)
        for f in drawn:
            sink.write(f)
        sink.close()
    return seconds, cpu


def time_pipeline(path: str, out_path: str, budget, own_process: bool = False):
    """The chain as a Pipeline; ``own_process`` runs pose in a process of its own (its own GIL)."""
    pose = ProcessStage(PoseExtractor) if own_process else PoseExtractor()
    pose.open()  # the stages-alone timing excludes opening MediaPipe's graph; so does this one
    cpu0 = _cpu() + _cpu(resource.RUSAGE_CHILDREN)
    report = Pipeline(VideoFileSource(path), [pose, DrawPose()], Mp4Sink(out_path), mode="offline",
                      progress=False, threads=budget).run()
    pose.close()  # a child process's CPU time is counted once it has ended
    # how many cores the run kept busy on average: on a shared machine, what it was given
    report.extra["cores_used"] = (_cpu() + _cpu(resource.RUSAGE_CHILDREN) - cpu0) / report.wall_s
    return report


def control_overhead(frames: int = 100) -> float:
    """The runtime's own cost: three stages that wait 20, 15 and 10 ms without using the CPU or the GIL.

    Returns pipeline fps / the slowest stage's rate (as measured inside the run); 1.0 is no overhead.
    """
    from vidsynth.engine import FunctionStage
    from vidsynth.streams import SyntheticClip

    def waiting(ms):
        return FunctionStage(lambda f: (time.sleep(ms / 1000), f)[1], name=f"wait_{ms}ms")

    report = Pipeline(SyntheticClip(n_frames=frames, width=64, height=48), [waiting(20), waiting(15), waiting(10)],
                      None, progress=False).run()
    slowest_ms = report.stages["wait_20ms"]["latency_ms"]["mean"]
    return report.fps / (1000.0 / slowest_ms)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--repeat", type=int, default=2, help="alternate stages-alone and pipeline runs; best of each")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    budget = plan_threads([PoseExtractor(), DrawPose()])
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "input.mp4")
        make_input(src, args.frames, args.size)
        best_alone, best_pipe, best_proc = None, None, None
        for _ in range(args.repeat):
            alone, alone_cpu = time_stages_alone(src, os.path.join(tmp, "alone.mp4"), budget)
            if best_alone is None or sum(alone.values()) < sum(best_alone.values()):
                best_alone, best_cpu = alone, alone_cpu
            report = time_pipeline(src, os.path.join(tmp, "pipeline.mp4"), budget)
            if best_pipe is None or report.wall_s < best_pipe.wall_s:
                best_pipe = report
            report = time_pipeline(src, os.path.join(tmp, "pipeline_proc.mp4"), budget, own_process=True)
            if best_proc is None or report.wall_s < best_proc.wall_s:
                best_proc = report
    control = control_overhead()
    n = args.frames
    fps_alone = {k: n / v for k, v in best_alone.items()}
    slowest = min(fps_alone, key=fps_alone.get)
    serial_fps = n / sum(best_alone.values())
    pipe_fps = n / best_pipe.wall_s
    proc_fps = n / best_proc.wall_s
    result = {
        "frames": n,
        "size": f"{args.size}x{args.size}",
        "fps_alone": {k: round(v, 2) for k, v in fps_alone.items()},
        "cpu_ms_per_frame_alone": {k: round(1e3 * v / n, 1) for k, v in best_cpu.items()},
        "slowest_stage": slowest,
        "serial_fps": round(serial_fps, 2),
        "pipeline_fps": round(pipe_fps, 2),
        "ratio_vs_slowest": round(pipe_fps / fps_alone[slowest], 3),
        "ratio_vs_serial": round(pipe_fps / serial_fps, 3),
        "pipeline_cores_used": round(best_pipe.extra["cores_used"], 2),
        "serial_cpu_ms_per_frame": round(1e3 * sum(best_cpu.values()) / n, 1),
        "pipeline_cpu_ms_per_frame": round(1e3 * best_pipe.extra["cores_used"] * best_pipe.wall_s / n, 1),
        "pipeline_pose_process_fps": round(proc_fps, 2),
        "pipeline_pose_process_cores_used": round(best_proc.extra["cores_used"], 2),
        "ratio_vs_slowest_pose_process": round(proc_fps / fps_alone[slowest], 3),
        "ratio_vs_serial_pose_process": round(proc_fps / serial_fps, 3),
        "control_ratio_waiting_stages": round(control, 3),
        "pipeline_stage_ms": {k: v["latency_ms"]["mean"] for k, v in best_pipe.stages.items()},
        "threads": budget.summary,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"decode → pose → draw → encode, {n} frames of {result['size']}; threads: {budget.summary}")
        for k, v in result["fps_alone"].items():
            print(f"  {k:<7} alone {v:8.2f} fps  ({result['cpu_ms_per_frame_alone'][k]:.1f} ms CPU per frame)")
        print(f"  serial (sum of stages) {serial_fps:8.2f} fps")
        print(f"  pipeline               {pipe_fps:8.2f} fps  (kept {result['pipeline_cores_used']:.2f} cores busy; "
              f"{result['pipeline_cpu_ms_per_frame']:.1f} ms CPU per frame against {result['serial_cpu_ms_per_frame']:.1f} serial)")
        print(f"  pipeline / slowest stage alone ({slowest}): {result['ratio_vs_slowest']:.2f} (goal ≥ 0.8)")
        print(f"  pipeline / serial: {result['ratio_vs_serial']:.2f}")
        print(f"  pipeline, pose in its own process: {proc_fps:.2f} fps = {result['ratio_vs_slowest_pose_process']:.2f} "
              f"of the slowest stage alone, {result['ratio_vs_serial_pose_process']:.2f} of serial "
              f"({result['pipeline_pose_process_cores_used']:.2f} cores busy)")
        print(f"  control: stages that only wait (20/15/10 ms): pipeline / slowest = {control:.3f} (the runtime's overhead)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
