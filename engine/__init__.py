"""The runtime: Frame, Stage, Pipeline, extractor stages, conditioning encoders, generator stages, backends."""

from vidsynth.streams.frame import Frame

from .metrics import RunReport
from .pipeline import Channel, FanOutSink, Pipeline, PipelineError, ProcessStage, seed_everything
from .stage import FunctionStage, Stage
from .threads import ThreadBudget, apply_threads, plan_threads

__all__ = [
    "Frame",
    "Stage",
    "FunctionStage",
    "Pipeline",
    "PipelineError",
    "ProcessStage",
    "RunReport",
    "Channel",
    "FanOutSink",
    "ThreadBudget",
    "plan_threads",
    "apply_threads",
    "seed_everything",
]
