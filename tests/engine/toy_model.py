"""A model the engine has never heard of: registered here, in a test-only module, and rendered by
``vidsynth render`` through its description alone (tests/engine/test_model_descriptions.py).

A tiny real conv net that re-colours pictures: 3 channels in, a few hidden, 3 out, tanh.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vidsynth.networks.registry import register_model
from vidsynth.networks.spec import Condition, ModelSpec

NAME = "toy_recolour"


@dataclass
class ToyRecolourConfig:
    hidden: int = 4          # hidden channels
    size_multiple: int = 4   # both sides a multiple of this
    short_side: int = 32     # the short side it runs at


@register_model(NAME, ToyRecolourConfig)
class ToyRecolour(nn.Module):
    """Pictures [N, 3, H, W] in [-1, 1] -> re-coloured pictures, one frame at a time."""

    def __init__(self, config: ToyRecolourConfig):
        super().__init__()
        self.config = config
        self.body = nn.Sequential(nn.Conv2d(3, config.hidden, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(config.hidden, 3, 3, padding=1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.body(images) + images)

    def describe(self) -> ModelSpec:
        return ModelSpec(kind="image", short_side=self.config.short_side, conditions=(
            Condition("images", reads="image", channels=3, size_multiple=self.config.size_multiple),))

    def stream_style(self, style_image=None, examples=None, generator=None, a2b=True):
        return None

    def translate_inputs(self, images: torch.Tensor, style=None, generator=None) -> dict[str, torch.Tensor]:
        return {"images": images}

    def translator(self, a2b: bool = True) -> nn.Module:
        return self
