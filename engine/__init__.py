"""The runtime: Frame, Stage, Pipeline, extractor stages, conditioning encoders, generator stages, backends."""

from vidsynth.streams.frame import Frame

from .stage import FunctionStage, Stage

__all__ = ["Frame", "Stage", "FunctionStage"]
