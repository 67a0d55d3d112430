"""How a trainer calls each model's networks: the one place that knows their forward signatures.

A family trainer asks ``call_generator(model_name, G, batch)`` for a dict with at least
``fake_images`` and ``call_discriminator(model_name, D, batch, images)`` for per-scale outputs (see
:mod:`vidsynth.training.losses`). Models with no entry here use the plain convention
``G(batch["label"])`` → image and ``D(cat(label, image))`` → outputs, which is also what small test
modules implement.

>>> import torch
>>> out = call_generator("anything", lambda x: x[:, :3], {"label": torch.zeros(1, 4, 8, 8)})
>>> sorted(out)
['fake_images']
"""

from __future__ import annotations

from typing import Callable

import torch

GENERATOR_CALLS: dict[str, Callable] = {}
DISCRIMINATOR_CALLS: dict[str, Callable] = {}


def register_calls(model: str, generator: Callable | None = None, discriminator: Callable | None = None) -> None:
    """Say how model ``model``'s networks are called (``generator(G, batch)``, ``discriminator(D, batch, images)``)."""
    if generator is not None:
        GENERATOR_CALLS[model] = generator
    if discriminator is not None:
        DISCRIMINATOR_CALLS[model] = discriminator


def _as_dict(out) -> dict:
    if isinstance(out, torch.Tensor):
        return {"fake_images": out}
    if isinstance(out, (tuple, list)):
        return {"fake_images": out[0]}
    return dict(out)


def call_generator(model: str, G, batch: dict) -> dict:
    fn = GENERATOR_CALLS.get(model)
    if fn is None:
        return _as_dict(G(batch["label"]))
    return _as_dict(fn(G, batch))


def call_discriminator(model: str, D, batch: dict, images: torch.Tensor):
    fn = DISCRIMINATOR_CALLS.get(model)
    if fn is None:
        return D(torch.cat([batch["label"], images], dim=1))
    return fn(D, batch, images)
