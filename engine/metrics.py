"""What a pipeline run measured: per-stage latency, end-to-end latency, fps, drops, memory.

Every worker of a :class:`~vidsynth.engine.pipeline.Pipeline` records into one :class:`StageMetrics`;
the run ends with a :class:`RunReport` that prints as a short table and writes as JSON (``--metrics``).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import threading
from dataclasses import asdict, dataclass, field

import numpy as np

from vidsynth.errors import VidsynthError, user_os_error

# Percentiles come from the most recent samples; a bounded window keeps memory flat on long live runs.
_WINDOW = 8192


def check_metrics_path(path: str) -> None:
    """Refuse a ``--metrics`` path that cannot take the JSON file, before the run starts (not after it).

    The folder is created when missing; a path that is a folder, or a folder that cannot be written, is an
    error naming the path.

    >>> import tempfile
    >>> check_metrics_path(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    vidsynth.errors.VidsynthError: expected --metrics to name a JSON file, found the directory ...
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise VidsynthError(f"expected --metrics to name a JSON file, found the directory {path!r}; give a file name "
                            f"such as {os.path.join(path, 'metrics.json')!r}")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise (user_os_error(exc, f"the metrics file {path!r}") or VidsynthError(
            f"cannot create the folder of the metrics file {path!r}: {exc.strerror or exc}")) from None
    if not os.access(directory, os.W_OK):
        raise VidsynthError(f"cannot write the metrics file {path!r}: the folder {directory!r} is not writable; "
                            "write it somewhere else")


class LatencyWindow:
    """Running count and mean of all samples, percentiles over the last ``window`` samples (milliseconds).

    >>> w = LatencyWindow()
    >>> for ms in (1.0, 2.0, 3.0): w.add(ms)
    >>> w.summary()["p50"]
    2.0
    """

    def __init__(self, window: int = _WINDOW):
        self._samples = np.zeros(window, dtype=np.float64)
        self._window = window
        self._count = 0
        self._total = 0.0
        self._max = 0.0

    def add(self, ms: float) -> None:
        self._samples[self._count % self._window] = ms
        self._count += 1
        self._total += ms
        self._max = max(self._max, ms)

    @property
    def count(self) -> int:
        return self._count

    def summary(self) -> dict:
        if self._count == 0:
            return {"count": 0, "mean": None, "p50": None, "p95": None, "max": None}
        recent = self._samples[: min(self._count, self._window)]
        return {
            "count": self._count,
            "mean": round(self._total / self._count, 3),
            "p50": round(float(np.percentile(recent, 50)), 3),
            "p95": round(float(np.percentile(recent, 95)), 3),
            "max": round(self._max, 3),
        }


class StageMetrics:
    """Counters of one worker (the source reader, a stage or the sink); updated from that worker only.

    ``dropped`` counts frames this worker never saw because a newer one replaced them in its input slot
    (live mode); ``filtered`` counts frames the stage itself returned None for.
    """

    def __init__(self, name: str, kind: str):
        self.name = name
        self.kind = kind  # "source" | "stage" | "sink"
        self.frames_in = 0
        self.frames_out = 0
        self.dropped = 0
        self.filtered = 0
        self.queue_max = 0
        self.queue_bound = 0
        self.latency = LatencyWindow()
        self._lock = threading.Lock()

    def add_drop(self, n: int = 1) -> None:
        with self._lock:  # drops are counted by the producer thread, the rest by the consumer
            self.dropped += n

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "dropped": self.dropped,
            "filtered": self.filtered,
            "queue_bound": self.queue_bound,
            "queue_max": self.queue_max,
            "latency_ms": self.latency.summary(),
        }


def rss_mb() -> float:
    """Resident memory of this process now, in MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@dataclass
class RunReport:
    """The figures of one run; ``to_json(path)`` writes what ``--metrics`` asks for.

    ``frames_in`` were read from the source, ``frames_out`` written to the sink; ``dropped`` sums the
    live-mode drops of all workers; ``stopped`` says why the run ended (``"end"``, ``"stop"``, ``"interrupt"``).
    """

    mode: str
    frames_in: int
    frames_out: int
    dropped: int
    wall_s: float
    fps: float
    end_to_end_ms: dict
    stages: dict
    rss_mb: dict
    threads: dict
    resumed_from: int = 0
    stopped: str = "end"
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def to_json(self, path: str) -> None:
        check_metrics_path(path)
        tmp = f"{path}.tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(self.as_dict(), f, indent=2)
            os.replace(tmp, path)  # atomic: a reader never sees half a file
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise user_os_error(exc, f"the metrics file {path!r}") or exc

    def summary(self) -> str:
        """A few lines for a terminal: throughput, latency and the slowest stage."""
        lines = [
            f"{self.mode}: {self.frames_out} frames written of {self.frames_in} read in {self.wall_s:.2f} s "
            f"({self.fps:.1f} fps), {self.dropped} dropped"
        ]
        e2e = self.end_to_end_ms
        if e2e.get("count"):
            lines.append(f"end-to-end latency ms: mean {e2e['mean']}, p50 {e2e['p50']}, p95 {e2e['p95']}")
        for name, s in self.stages.items():
            lat = s["latency_ms"]
            if lat["count"]:
                lines.append(
                    f"  {name:<24} {lat['mean']:8.2f} ms mean {lat['p95']:8.2f} ms p95"
                    f"  in {s['frames_in']} out {s['frames_out']} dropped {s['dropped']}"
                )
        lines.append(f"RSS MiB: start {self.rss_mb['start']:.0f}, end {self.rss_mb['end']:.0f}, peak {self.rss_mb['peak']:.0f}")
        if self.threads:
            lines.append(f"threads: {self.threads.get('summary', '')}")
        return "\n".join(lines)
