"""How a trainer calls each model's networks: the one place that knows their forward signatures.

:class:`Forward` wraps a network with a call function, so that the whole training forward (SPADE's
style encoder and decoder, MUNIT's every reconstruction) runs inside one ``forward`` — the one
DistributedDataParallel sees. Each family has its call functions:

- paired images: ``generator(net, batch) -> {'fake_images', 'mu', 'logvar'}``,
  ``discriminator(net, batch, images) -> per-scale outputs`` (see :mod:`vidsynth.training.losses`);
- unpaired images: the generator's ``training_outputs(images_a, images_b)``, a discriminator per domain;
- few-shot images: ``training_outputs(images_content, images_style)``, a class-projection discriminator;
- videos: one frame per call, ``net(label, prev_labels, prev_images, ...)``.

Models without an entry (a user's own networks, small test modules) use the plain convention
``G(label) -> image`` and ``D(cat(label, image)) -> outputs``.

>>> import torch
>>> f = Forward(torch.nn.Identity(), lambda net, batch: {"fake_images": net(batch["label"])[:, :3]})
>>> f({"label": torch.zeros(1, 4, 8, 8)})["fake_images"].shape
torch.Size([1, 3, 8, 8])
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn


class Forward(nn.Module):
    """``forward(*args)`` runs ``fn(net, *args)`` (or ``net(*args)``); it owns no parameters of its own, so its
    state is the network's."""

    def __init__(self, net: nn.Module, fn: Callable | None = None):
        super().__init__()
        self.net = net
        self.fn = fn

    def forward(self, *args, **kwargs):
        if self.fn is None:
            return self.net(*args, **kwargs)
        return self.fn(self.net, *args, **kwargs)


def scales_from_pair(out) -> list[list[torch.Tensor]]:
    """(outputs per scale, features per scale) — our multi-scale discriminator's return — as
    [[features..., logits] per scale]; other layouts pass through."""
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], list) and isinstance(out[1], list):
        outputs, features = out
        return [list(f) + [o] for o, f in zip(outputs, features)]
    return out


# --- paired images ---------------------------------------------------------------------------------------


def _as_dict(out) -> dict:
    if isinstance(out, torch.Tensor):
        return {"fake_images": out}
    return dict(out)


def plain_generator(net, batch):
    return _as_dict(net(batch["label"]))


def spade_generator(net, batch):
    """SPADE: with a style encoder, the code is a sample of the real image's style (the VAE path)."""
    if getattr(net, "style_encoder", None) is None:
        return {"fake_images": net(batch["label"])}
    mu, logvar = net.encode_style(batch["images"])
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    return {"fake_images": net(batch["label"], z), "mu": mu, "logvar": logvar}


def pix2pixhd_generator(net, batch):
    """pix2pixHD: with a feature encoder, instance-wise features of the real image join the label."""
    if net.config.feature_channels:
        feats = net.encode_features(batch["images"], batch["instance_ids"])
        return {"fake_images": net(batch["label"], feats)}
    return {"fake_images": net(batch["label"])}


def conditional_discriminator(net, batch, images):
    return scales_from_pair(net(torch.cat([batch["label"], images], dim=1)))


PAIRED_GENERATORS = {"spade": spade_generator, "pix2pixhd": pix2pixhd_generator}


def paired_generator_call(model: str) -> Callable:
    return PAIRED_GENERATORS.get(model, plain_generator)


# --- unpaired images -------------------------------------------------------------------------------------


def unpaired_generator(net, batch):
    return net.training_outputs(batch["images_a"], batch["images_b"])


def domain_discriminator(net, images, domain: str):
    """``net`` is a ModuleDict {'a': D_a, 'b': D_b} of image-only discriminators."""
    return scales_from_pair(net[domain](images))


# --- few-shot images ---------------------------------------------------------------------------------------


def few_shot_generator(net, batch):
    style = batch["images_style"]
    if style.dim() == 5:  # K examples per class: imaginaire trains with one; take the first
        style = style[:, 0]
    return net.training_outputs(batch["images_content"], style)


def projection_discriminator(net, images, labels):
    """(scores, pooled features) for images of the given classes."""
    return net(images, labels)


# --- videos --------------------------------------------------------------------------------------------------


def video_discriminator(net, image_input=None, temporal_input=None):
    """``net`` is a ModuleDict {'image': D on (label, frame) pairs, 'temporal': D on consecutive frames}.

    Both inputs go through one call (DDP allows one forward per backward); returns (image outputs,
    temporal outputs), None for an input not given."""
    image = scales_from_pair(net["image"](image_input)) if image_input is not None else None
    temporal = scales_from_pair(net["temporal"](temporal_input)) if temporal_input is not None else None
    return image, temporal


def split_batch(outputs, parts: int):
    """Per-scale outputs of a stacked batch → ``parts`` per-scale outputs of equal batch slices."""
    result = [[] for _ in range(parts)]
    for scale in outputs:
        pieces = [t.chunk(parts, dim=0) for t in scale]
        for k in range(parts):
            result[k].append([p[k] for p in pieces])
    return result
