"""Training: datasets, losses, trainers, distributed launch, training checkpoints.

>>> from vidsynth.training import run           # doctest: +SKIP
>>> run("spade_tiny", data="data/street", out="runs/spade")   # doctest: +SKIP

Nothing imports this package at inference time; importing it is cheap (the pieces load on first use).
"""

from __future__ import annotations

import importlib

_LAZY = {
    "run": "vidsynth.training.launch",
    "load_config": "vidsynth.training.config",
    "TrainConfig": "vidsynth.training.config",
    "build_dataset": "vidsynth.training.datasets",
    "register_training_model": "vidsynth.training.models",
    "add_train_parser": "vidsynth.training.cli",
    "cmd_train": "vidsynth.training.cli",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidsynth.training' has no attribute {name!r}")
