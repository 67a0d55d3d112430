"""Small generator/discriminator modules and data folders for the training tests.

They stand in for the real networks where a test is about the training machinery (checkpoints, resume,
DDP, NaN handling), so it runs in seconds. They are real modules trained for real: nothing is stubbed.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vidsynth.training.config import config_from_dict
from vidsynth.training.models import register_training_model


class TinyGenerator(nn.Module):
    def __init__(self, in_ch: int, ch: int = 8):
        super().__init__()
        self.a = nn.Conv2d(in_ch, ch, 3, padding=1)
        self.b = nn.Conv2d(ch, 3, 3, padding=1)

    def forward(self, label):
        return torch.tanh(self.b(F.leaky_relu(self.a(label), 0.2)))


class TinyDiscriminator(nn.Module):
    """Two scales, each [feature, logits]: the layout the losses expect."""

    def __init__(self, in_ch: int, ch: int = 8):
        super().__init__()
        self.scales = nn.ModuleList(
            nn.ModuleList([nn.Conv2d(in_ch, ch, 4, 2, 1), nn.Conv2d(ch, 1, 3, 1, 1)]) for _ in range(2))

    def forward(self, x):
        outs = []
        for i, (c1, c2) in enumerate(self.scales):
            xi = F.avg_pool2d(x, 2) if i else x
            f = F.leaky_relu(c1(xi), 0.2)
            outs.append([f, c2(f)])
        return outs


class NaNAfter(TinyGenerator):
    """A generator whose output turns NaN after a number of calls (a diverging run)."""

    calls = 0
    limit = 10**9

    def forward(self, label):
        NaNAfter.calls += 1
        out = super().forward(label)
        return out * float("nan") if NaNAfter.calls > NaNAfter.limit else out


def _build(cfg, gen_cls=TinyGenerator):
    c = cfg.data.num_classes
    return gen_cls(c), TinyDiscriminator(c + 3)


register_training_model("standin_paired", "paired_images", _build)
register_training_model("standin_nan", "paired_images", lambda cfg: _build(cfg, NaNAfter))


def standin_config(model: str = "standin_paired", **trainer):
    return config_from_dict(standin_config_dict(model, **trainer))


def standin_config_dict(model: str = "standin_paired", **trainer) -> dict:
    t = {"max_iter": 12, "seed": 3, "checkpoint_every": 4, "log_every": 1, "image_every": 1000,
         "loss_weights": {"gan": 1.0, "feature_matching": 2.0, "l1": 1.0},
         "ema": {"enabled": True, "beta": 0.9}}
    t.update(trainer)
    return {
        "model": model,
        "data": {"type": "paired_images", "num_classes": 4, "crop_size": [16, 16], "batch_size": 2,
                 "random_scale": 0.2},
        "trainer": t,
        "gen_opt": {"lr": 0.002, "betas": [0.5, 0.999]},
        "dis_opt": {"lr": 0.002, "betas": [0.5, 0.999]},
    }


def write_paired_folder(root: str, n: int = 10, size: int = 20, num_classes: int = 4, seed: int = 0,
                        sequences: int = 0) -> str:
    """images/ + seg_maps/ of random rectangles; each class has its own colour (learnable)."""
    rng = np.random.default_rng(seed)
    colors = rng.integers(0, 256, (num_classes, 3))
    for i in range(n):
        seq = f"seq{i % sequences:02d}" if sequences else ""
        ids = np.zeros((size, size), np.uint8)
        for _ in range(3):
            y, x = rng.integers(0, size - 4, 2)
            ids[y:y + rng.integers(3, 10), x:x + rng.integers(3, 10)] = rng.integers(0, num_classes)
        img = colors[ids].astype(np.uint8)
        for sub, arr in (("images", cv2.cvtColor(img, cv2.COLOR_RGB2BGR)), ("seg_maps", ids)):
            d = os.path.join(root, sub, seq)
            os.makedirs(d, exist_ok=True)
            cv2.imwrite(os.path.join(d, f"{i:05d}.png"), arr)
    return root
