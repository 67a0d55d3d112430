"""The one owner of the process's thread budget.

A pipeline runs the source reader, every stage and the sink on their own threads at once, and several
of them have thread pools of their own (torch intra-op and inter-op, OpenCV, the H.264 encoder,
MediaPipe's TFLite interpreter, OpenMP/MKL under numpy). Left alone each pool sizes itself to the
whole machine, so on 2 cores a pipeline asks for a dozen busy threads and runs slower than serial.
This module decides, once, how many threads each pool may use, applies what can be applied, and tells
the rest (sinks and stages) through ``configure_threads(n)`` when they define it.

>>> budget = plan_threads(cores=2)
>>> budget.torch_intra, budget.encoder
(1, 1)
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field

# Environment variables that size the native pools; read once when the library loads, so they must be
# set before numpy/torch/cv2 are imported (``configure_environment`` does it at the CLI's start).
_POOL_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), or ``VIDSYNTH_CORES`` when set."""
    override = os.environ.get("VIDSYNTH_CORES")
    if override and override.isdigit() and int(override) > 0:
        return int(override)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass
class ThreadBudget:
    """How many threads each pool of the process may use.

    ``workers`` is the number of pipeline threads (reader, stages, sink); ``stages`` the grant of each
    stage by name (what it may use inside its own ``process``, e.g. MediaPipe or a torch model).
    ``torch_intra`` is process-wide in torch, so it is the largest stage grant. ``switch_interval_s``
    is how long a Python thread may keep the GIL while another waits for it: the default 5 ms makes a
    stage that returns from native code (MediaPipe, a codec) wait behind a busy Python stage, so a
    pipeline uses 1 ms while it runs (measured in benchmarks/pipeline.py).
    """

    cores: int
    torch_intra: int = 1
    torch_interop: int = 1
    opencv: int = 1
    encoder: int = 1
    decoder: int = 1
    workers: int = 0
    stages: dict = field(default_factory=dict)
    switch_interval_s: float = 0.001

    @property
    def summary(self) -> str:
        return (
            f"{self.cores} cores: {self.workers} pipeline workers, torch {self.torch_intra} intra-op/"
            f"{self.torch_interop} inter-op, OpenCV {self.opencv}, decoder {self.decoder}, encoder {self.encoder}, "
            f"GIL switch {self.switch_interval_s * 1e3:g} ms"
            + (", stages " + ", ".join(f"{k}={v}" for k, v in self.stages.items()) if self.stages else "")
        )

    def as_dict(self) -> dict:
        d = asdict(self)
        d["summary"] = self.summary
        return d

    def __str__(self) -> str:
        return self.summary


def plan_threads(stages=(), cores: int | None = None) -> ThreadBudget:
    """Share ``cores`` between the decoder, the stages and the encoder.

    The decoder and encoder get a small fixed share (a quarter of the cores each, at least one); the
    rest goes to the stages in proportion to what each asks for (``Stage.threads``), at least one each.
    With 2 cores every pool gets one thread: the pipeline's own parallelism (one worker per stage)
    already fills both cores, and any pool larger than one would only contend with it.

    >>> plan_threads(cores=16).encoder
    4
    """
    cores = cores or available_cores()
    stages = list(stages)
    io = max(1, cores // 4)
    rest = max(1, cores - 2 * io) if cores > 2 else 1
    wants = {}
    for stage in stages:
        name = getattr(stage, "name", type(stage).__name__)
        wants[name] = max(1, int(getattr(stage, "threads", 1) or 1))
    total_want = sum(wants.values()) or 1
    grants = {name: max(1, (rest * want) // total_want) if cores > 2 else 1 for name, want in wants.items()}
    intra = max(grants.values(), default=max(1, rest))
    return ThreadBudget(
        cores=cores,
        torch_intra=intra,
        torch_interop=1,  # stages already run in parallel; torch's inter-op pool would only add threads
        opencv=max(1, min(intra, 4)) if cores > 2 else 1,
        encoder=io if cores > 2 else 1,
        decoder=io if cores > 2 else 1,
        workers=len(stages) + 2,
        stages=grants,
    )


def configure_environment(cores: int | None = None) -> None:
    """Size the native pools through their environment variables before the heavy imports.

    A variable the user set is kept (it is their choice); the rest are set to a safe default so that
    importing numpy or torch does not start a pool per core. Call this first thing in a program.
    """
    cores = cores or available_cores()
    default = "1" if cores <= 2 else str(max(1, cores // 2))
    for var in _POOL_ENV:
        os.environ.setdefault(var, default)


def apply_threads(budget: ThreadBudget, sink=None, stages=(), source=None) -> ThreadBudget:
    """Apply the budget to the pools already loaded, and tell the source, stages and sink their share.

    torch and cv2 are configured only if something imported them (the budget never imports a heavy
    package itself). torch's inter-op pool can be sized only before its first use; later calls are
    ignored, which is fine because the size stays whatever it was the first time. A stage, source or
    sink hears its share through ``configure_threads(n)`` when it defines one; otherwise an integer
    ``threads`` attribute left at 0 ("let the codec choose", which means one thread per core) is set
    to the share, and a number the user chose is kept.
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        if torch.get_num_threads() != budget.torch_intra:
            torch.set_num_threads(budget.torch_intra)
        try:
            torch.set_num_interop_threads(budget.torch_interop)
        except RuntimeError:
            pass  # already started; the first size stands
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.setNumThreads(budget.opencv)
    for stage in stages:
        _tell(stage, budget.stages.get(getattr(stage, "name", type(stage).__name__), 1))
    for target in _flatten_sinks(sink):
        _tell(target, budget.encoder)
    if source is not None:
        _tell(source, budget.decoder)
    return budget


def _tell(target, n: int) -> None:
    configure = getattr(target, "configure_threads", None)
    if callable(configure):
        configure(n)
    elif type(getattr(target, "threads", None)) is int and target.threads == 0 and "threads" in vars(target):
        target.threads = n


def _flatten_sinks(sink):
    if sink is None:
        return []
    inner = getattr(sink, "sinks", None)
    if isinstance(inner, (list, tuple)):
        return [s for child in inner for s in _flatten_sinks(child)]
    return [sink]
