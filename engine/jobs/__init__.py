"""The jobs: one module per thing a user runs (``extract``, ``render``, ``demo``, ``talk``, ...).

A job module ``engine/jobs/<name>.py`` defines

- ``Options``: a ``@dataclass(kw_only=True)`` (usually a subclass of
  :class:`~vidsynth.engine.jobs.options.RunOptions`) whose fields are declared with
  :func:`~vidsynth.engine.jobs.options.option`: the one definition of the job's options that the CLI,
  the docs' option table, the studio and the Python API read;
- ``COMMAND = {"name": ..., "help": ..., "description": ...}``: its ``vidsynth`` subcommand;
- ``build(options) -> Pipeline``: checks every option and input file before any model loads, then wires
  the pipeline;
- optionally ``run(options) -> int``, for a job that is more than one pipeline (the demo): the CLI calls
  it instead of running ``build(options)``.

The ``vidsynth`` command makes one subcommand per name in :data:`JOB_MODULES`, so a new job is one
file plus one line here. Job modules are imported to build the parser: they import torch, MediaPipe and
the models inside ``build``, not at the top.

>>> from vidsynth.engine.jobs import load_job
>>> job = load_job("extract")
>>> job.COMMAND["name"]
'extract'

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    run_pipeline(job.build(job.Options(input="dance.mp4", output="pose.mp4")), job.Options(...))
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

# one name per module in this folder that is a job (the CLI's subcommands, in this order)
JOB_MODULES = ["extract", "render", "demo", "talk", "dance", "street", "studio"]


def load_job(name: str) -> ModuleType:
    """The job module ``vidsynth.engine.jobs.<name>``."""
    return importlib.import_module(f"{__name__}.{name}")


def run_pipeline(pipeline, options) -> int:
    """Run a job's pipeline the way the CLI does: the input watchdog, a progress bar only on a terminal,
    the metrics' summary on stderr. Returns the exit code (0)."""
    pipeline.watchdog_s = getattr(options, "input_timeout", pipeline.watchdog_s)
    pipeline.progress = pipeline.progress and sys.stderr.isatty()  # no bar in logs and pipes
    report = pipeline.run()
    from vidsynth.streams.outputs import closing_line

    print(closing_line(report, pipeline.source, pipeline.sink, pipeline.stages), file=sys.stderr)  # in every mode
    metrics = getattr(options, "metrics", None)
    if metrics:
        print(report.summary(), file=sys.stderr)
        print(f"metrics written to {metrics}", file=sys.stderr)
    return 0


def run_job(module: ModuleType, options) -> int:
    """Run a job with its options: its own ``run`` when it has one, else its pipeline."""
    if hasattr(module, "run"):
        return int(module.run(options) or 0)
    return run_pipeline(module.build(options), options)
