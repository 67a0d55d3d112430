"""What a model is: a small typed description the engine reads instead of the model's name.

Every registered model class has ``describe() -> ModelSpec``: its kind (image, video, few-shot video,
world-consistent), the conditions it takes per frame (the key it takes them under, what a frame must
carry for them, channels, size), whether it needs references, a style or examples, and what it
outputs. ``describe()`` reads only ``self.config``, so a model file is described from its metadata
without its weights (:func:`vidsynth.networks.registry.describe_config`). The engine's generator stages, input encoders, fitting and the CLI read this, so a new model
is one file in ``networks/`` plus its registration.

How a model is called follows from its kind:

- ``image``: a per-frame translation. ``stream_style(style_image, examples, generator, a2b)`` gives the
  code fixed for a whole stream (or None), ``translate_inputs(x, style, generator)`` the named tensors
  of one frame (``x``: label ids ``[N, H, W]`` for a model that reads labels, else pictures
  ``[N, 3, H, W]`` in [-1, 1]), and ``translator(a2b)`` the module a backend runs on them;
- the video kinds: ``initial_state(...)``, ``step(conditions, state) -> (outputs, state)`` with the
  conditions named as in ``describe().conditions``; ``few_shot_video`` models also
  ``encode_references(images, labels)``; a ``world_consistent`` model's ``guidance`` is rendered by the
  stage that owns the world.

>>> spec = ModelSpec(kind="image", conditions=(Condition("label", reads="labels", channels=35),), short_side=256)
>>> spec.reads, spec.is_video
('labels', False)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

KINDS = ("image", "video", "few_shot_video", "world_consistent")
READS = ("labels", "pose", "face", "image", "guidance")

__all__ = ["KINDS", "READS", "Condition", "ModelSpec", "BoundDirection"]


@dataclass(frozen=True)
class Condition:
    """One input a model takes per frame."""

    name: str                              # its key in the model's call (step conditions, translate inputs)
    reads: str                             # what a frame carries for it: labels | pose | face | image | guidance
    channels: int                          # channels of the tensor the model takes
    size: tuple[int, int] | None = None    # (H, W) the model takes it at; None: any multiple of size_multiple
    size_multiple: int = 1                 # both sides a multiple of this
    also_reads: tuple[str, ...] = ()       # other frame conditions its encoding needs (e.g. person_mask)
    optional: bool = False                 # the model runs without it

    def __post_init__(self) -> None:
        if self.reads not in READS:
            raise ValueError(f"a condition reads one of {READS}, found {self.reads!r}")


@dataclass(frozen=True)
class ModelSpec:
    """A model's description of itself (see the module docstring)."""

    kind: str                              # image | video | few_shot_video | world_consistent
    conditions: tuple[Condition, ...]      # the first is what drives the model; the others come with it
    short_side: int | None = None          # image models: the short side they were trained at
    references: bool = False               # needs reference pictures of the target (with their conditions)
    style: bool = False                    # takes a style picture (a random style code without one)
    examples: bool = False                 # needs a few example pictures of the target class
    directions: bool = False               # translates between two domains (a2b or b2a)
    outputs: tuple[str, ...] = ("image",)  # what a call returns ("image": [N, 3, H, W] in [-1, 1])

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"a model's kind is one of {KINDS}, found {self.kind!r}")
        if not self.conditions:
            raise ValueError("a model takes at least one condition")

    @property
    def main(self) -> Condition:
        """The condition that drives the model."""
        return self.conditions[0]

    @property
    def reads(self) -> str:
        """What a frame must carry for the model: labels, pose, face or image."""
        return self.main.reads

    @property
    def is_video(self) -> bool:
        """Steps through a stream with a state (every kind but ``image``)."""
        return self.kind != "image"

    @property
    def size(self) -> tuple[int, int] | None:
        """The fixed (H, W) the model runs at, or None when any multiple of ``size_multiple`` will do."""
        return self.main.size

    @property
    def size_multiple(self) -> int:
        return self.main.size_multiple

    def condition(self, name: str) -> Condition | None:
        """The condition called ``name``, or None."""
        return next((c for c in self.conditions if c.name == name), None)


class BoundDirection(nn.Module):
    """A two-domain model with its direction fixed, so that a backend's runner sees named tensors only.

    >>> class Flip(nn.Module):
    ...     def forward(self, images, a2b=True):
    ...         return images if a2b else -images
    >>> BoundDirection(Flip(), a2b=False)(images=torch.ones(1)).item()
    -1.0
    """

    def __init__(self, model: nn.Module, a2b: bool):
        super().__init__()
        self.model, self.a2b = model, bool(a2b)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**inputs, a2b=self.a2b)
