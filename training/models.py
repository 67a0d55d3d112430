"""Which networks and which trainer a config's model name means.

The nine models come from the networks registry (generators) and the networks' discriminators; each
belongs to a trainer family. Other generator/discriminator pairs (a user's own, small test modules)
join with :func:`register_training_model`.

>>> trainer_family("spade")
'paired_images'
"""

from __future__ import annotations

from typing import Callable

import torch.nn as nn

from vidsynth.errors import VidsynthError

from .config import TrainConfig

# model name -> (trainer family, the dataset type it reads)
FAMILIES = {
    "pix2pixhd": "paired_images",
    "spade": "paired_images",
    "unit": "unpaired_images",
    "munit": "unpaired_images",
    "funit": "few_shot_images",
    "coco_funit": "few_shot_images",
    "vid2vid": "paired_videos",
    "wc_vid2vid": "paired_videos",
    "fs_vid2vid": "few_shot_videos",
}

_EXTRA: dict[str, tuple[str, Callable[[TrainConfig], tuple[nn.Module, nn.Module]]]] = {}


def register_training_model(name: str, family: str, build: Callable[[TrainConfig], tuple[nn.Module, nn.Module]]) -> None:
    """Make ``model: name`` in a config build ``build(cfg) -> (generator, discriminator)`` and train with
    the trainer of ``family`` (paired_images, unpaired_images, few_shot_images, paired_videos,
    few_shot_videos)."""
    _EXTRA[name] = (family, build)


def trainer_family(model: str) -> str:
    if model in _EXTRA:
        return _EXTRA[model][0]
    key = model.lower().replace("-", "_")
    if key not in FAMILIES:
        raise VidsynthError(f"unknown model {model!r} for training; expected one of: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[key]


def build_networks(cfg: TrainConfig) -> tuple[nn.Module, nn.Module]:
    """The generator and discriminator the config describes."""
    if cfg.model in _EXTRA:
        return _EXTRA[cfg.model][1](cfg)
    from vidsynth.networks.registry import build_model

    generator = build_model(cfg.model, cfg.generator or None)
    discriminator = build_discriminator(cfg)
    return generator, discriminator


def build_discriminator(cfg: TrainConfig) -> nn.Module:
    try:
        from vidsynth.networks import discriminators
    except ImportError as exc:
        raise VidsynthError(f"the discriminators are not available in this build ({exc}); cannot train {cfg.model!r}") from None
    return discriminators.build_discriminator(cfg.model, cfg.discriminator or None)


def trainer_class(model: str):
    family = trainer_family(model)
    if family == "paired_images":
        from .trainers.paired import PairedImageTrainer as cls
    elif family == "unpaired_images":
        from .trainers.unpaired import UnpairedImageTrainer as cls
    elif family == "few_shot_images":
        from .trainers.few_shot import FewShotImageTrainer as cls
    elif family == "paired_videos":
        from .trainers.video import VideoTrainer as cls
    elif family == "few_shot_videos":
        from .trainers.video import FewShotVideoTrainer as cls
    else:
        raise VidsynthError(f"unknown trainer family {family!r}")
    return cls
