"""Which networks and which trainer a config's model name means.

The nine models come from the networks registry (generators) and the networks' discriminators; each
belongs to a trainer family. Other generator/discriminator pairs (a user's own, small test modules)
join with :func:`register_training_model`.

>>> trainer_family("spade")
'paired_images'
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from vidsynth.errors import VidsynthError

from .config import InitConfig, TrainConfig

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


def build_networks(cfg: TrainConfig, dataset=None) -> tuple[nn.Module, nn.Module]:
    """The generator and discriminator the config describes; what the data fixes (label channels,
    class count) is filled in from the dataset when the config leaves it out."""
    if cfg.model in _EXTRA:
        return _EXTRA[cfg.model][1](cfg)
    from vidsynth.networks.registry import build_model

    generator = build_model(cfg.model, generator_config(cfg))
    discriminator = build_discriminator(cfg, generator, dataset)
    return generator, discriminator


def initialise_weights(module: nn.Module, init: InitConfig) -> nn.Module:
    """Draw the weights of every convolution, linear and embedding layer anew as ``init`` says, and zero
    every bias (imaginaire's ``weights_init``); ``init.type == 'none'`` leaves the module as it is.

    >>> conv = initialise_weights(nn.Conv2d(8, 8, 3), InitConfig("normal", 0.02))
    >>> round(float(conv.weight.detach().std()), 2), float(conv.bias.detach().abs().sum())
    (0.02, 0.0)
    """
    from torch.nn import init as nn_init
    from torch.nn.utils import parametrize

    if init.type == "none":
        return module
    gain = init.gain
    draw = {
        "normal": lambda w: nn_init.normal_(w, 0.0, gain),
        "xavier": lambda w: nn_init.xavier_normal_(w, gain=gain),
        "xavier_uniform": lambda w: nn_init.xavier_uniform_(w, gain=gain),
        "kaiming": lambda w: nn_init.kaiming_normal_(w, a=0, mode="fan_in").mul_(gain),
        "kaiming_linear": lambda w: nn_init.kaiming_normal_(w, a=0, mode="fan_in", nonlinearity="linear").mul_(gain),
        "orthogonal": lambda w: nn_init.orthogonal_(w, gain=gain),
    }[init.type]
    weighted = (nn.modules.conv._ConvNd, nn.Linear, nn.Embedding)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, weighted) and not parametrize.is_parametrized(m, "weight"):
                draw(m.weight)
            bias = getattr(m, "bias", None)
            if isinstance(bias, nn.Parameter):
                bias.zero_()
    return module


def label_channels(cfg: TrainConfig) -> int:
    from .datasets import LabelEncoder

    return LabelEncoder(cfg.data).channels


def generator_config(cfg: TrainConfig) -> dict:
    gen = dict(cfg.generator)
    d = cfg.data
    if cfg.model in ("spade", "pix2pixhd") and "label" not in gen:
        extra = bool(d.instance_maps or d.extra_labels)
        gen["label"] = {"num_classes": d.num_classes, "dont_care": d.use_dont_care, "instance_edges": extra}
    if cfg.model in ("vid2vid", "wc_vid2vid", "fs_vid2vid"):
        gen.setdefault("label_channels", label_channels(cfg))
        gen.setdefault("output_size", list(d.crop_size))
    if cfg.model == "fs_vid2vid":
        gen.setdefault("few_shot_K", d.num_references)
    for key in ("output_size",):
        if isinstance(gen.get(key), list):
            gen[key] = tuple(gen[key])
    return gen


def build_discriminator(cfg: TrainConfig, generator: nn.Module, dataset=None) -> nn.Module:
    from vidsynth.networks.discriminators import (MultiScalePatchConfig, MultiScalePatchDiscriminator,
                                                  ProjectionResConfig, ProjectionResDiscriminator)

    family = trainer_family(cfg.model)
    opts = dict(cfg.discriminator)
    temporal = opts.pop("temporal", {})

    def patch(channels: int, o: dict) -> nn.Module:
        try:
            return MultiScalePatchDiscriminator(MultiScalePatchConfig(input_channels=channels, **o))
        except TypeError as exc:
            raise VidsynthError(f"bad discriminator option in the config: {exc}") from None

    if family == "paired_images":
        return patch(label_channels(cfg) + 3, opts)
    if family == "unpaired_images":
        return nn.ModuleDict({"a": patch(3, opts), "b": patch(3, opts)})
    if family == "few_shot_images":
        if "num_classes" not in opts and dataset is not None:
            opts["num_classes"] = len(dataset.classes)
        return ProjectionResDiscriminator(ProjectionResConfig(**opts))
    parts = {"image": patch(label_channels(cfg) + 3, opts)}
    if cfg.trainer.loss_weights.get("temporal_gan", 0) > 0:
        t_opts = {**opts, **temporal}
        parts["temporal"] = patch(3 * cfg.trainer.video.temporal_frames, t_opts)
    return nn.ModuleDict(parts)


def trainer_class(model: str):
    family = trainer_family(model)
    if family == "paired_images":
        from .trainers.paired import PairedImageTrainer as cls
    elif family == "unpaired_images":
        from .trainers.unpaired import UnpairedImageTrainer as cls
    elif family == "few_shot_images":
        from .trainers.few_shot import FewShotImageTrainer as cls
    elif family == "paired_videos" and model == "wc_vid2vid":
        from .trainers.video import WorldConsistentVideoTrainer as cls
    elif family == "paired_videos":
        from .trainers.video import VideoTrainer as cls
    elif family == "few_shot_videos":
        from .trainers.video import FewShotVideoTrainer as cls
    else:
        raise VidsynthError(f"unknown trainer family {family!r}")
    return cls
