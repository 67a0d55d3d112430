"""Discriminators for training the image (and video) generators.

* :class:`PatchDiscriminator`: a PatchGAN (strided convs, a 1-channel score map), returning the
  intermediate features too (for the feature-matching loss).
* :class:`MultiScalePatchDiscriminator`: several PatchGANs on the input at 1, 1/2, 1/4, ... resolution
  (pix2pixHD, SPADE, vid2vid; UNIT/MUNIT use it on images alone).
* :class:`ProjectionResDiscriminator`: a residual discriminator with a class-embedding projection
  (FUNIT, COCO-FUNIT), which scores an image for a given class.

Discriminators are training-only: spectral norm, when configured, is applied at construction as a
torch parametrisation (see :func:`vidsynth.networks.layers.apply_weight_norms`).

Example:
    >>> import torch
    >>> d = MultiScalePatchDiscriminator(MultiScalePatchConfig(input_channels=6, num_filters=8, num_layers=2))
    >>> outputs, features = d(torch.zeros(1, 6, 64, 64))
    >>> [tuple(o.shape) for o in outputs]
    [(1, 1, 16, 16), (1, 1, 8, 8)]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvBlock, ResBlock, apply_weight_norms

__all__ = [
    "MultiScalePatchConfig",
    "PatchDiscriminator",
    "MultiScalePatchDiscriminator",
    "ProjectionResConfig",
    "ProjectionResDiscriminator",
]


@dataclass
class MultiScalePatchConfig:
    """Multi-scale PatchGAN hyper-parameters (defaults: imaginaire's multires_patch)."""

    input_channels: int = 3        # image channels (+ label channels for conditional GANs)
    num_discriminators: int = 2    # scales
    kernel_size: int = 3           # conv kernel
    num_filters: int = 128         # first layer width (doubled per layer)
    max_num_filters: int = 512     # width cap
    num_layers: int = 5            # strided layers after the first
    norm: str = "none"             # activation normalisation
    weight_norm: str = "spectral"  # weight normalisation


class PatchDiscriminator(nn.Module):
    """PatchGAN: ``forward(x) -> (score map [N,1,h,w], [features of every hidden layer])``."""

    def __init__(self, cfg: MultiScalePatchConfig):
        super().__init__()
        pad = (cfg.kernel_size - 1) // 2
        conv = dict(kernel_size=cfg.kernel_size, padding=pad, weight_norm=cfg.weight_norm, norm=cfg.norm,
                    activation="leakyrelu")
        nf = cfg.num_filters
        layers = [ConvBlock(cfg.input_channels, nf, stride=2, **conv)]
        for n in range(cfg.num_layers):
            prev, nf = nf, min(nf * 2, cfg.max_num_filters)
            layers.append(ConvBlock(prev, nf, stride=2 if n < cfg.num_layers - 1 else 1, **conv))
        layers.append(ConvBlock(nf, 1, 3, 1, pad, weight_norm=cfg.weight_norm))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features[-1], features[:-1]


class MultiScalePatchDiscriminator(nn.Module):
    """PatchGANs at several scales (bilinear x0.5 between them).

    ``forward(x) -> (scores per scale, features per scale)``.
    """

    def __init__(self, config: MultiScalePatchConfig):
        super().__init__()
        self.config = config
        self.discriminators = nn.ModuleList(PatchDiscriminator(config) for _ in range(config.num_discriminators))
        apply_weight_norms(self)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        outputs, features = [], []
        for i, disc in enumerate(self.discriminators):
            if i:
                x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=True,
                                  recompute_scale_factor=True)
            out, feats = disc(x)
            outputs.append(out)
            features.append(feats)
        return outputs, features


@dataclass
class ProjectionResConfig:
    """Class-conditional residual discriminator hyper-parameters (defaults: imaginaire's FUNIT)."""

    image_channels: int = 3        # image channels
    num_classes: int = 119         # training classes
    num_filters: int = 64          # first width (doubled per stage)
    max_num_filters: int = 1024    # width cap
    num_layers: int = 6            # stages (two residual blocks each, pooled between stages)
    padding_mode: str = "reflect"  # conv padding
    weight_norm: str = ""          # weight normalisation


class ProjectionResDiscriminator(nn.Module):
    """``forward(images, labels=None) -> (scores [N,1,h,w], pooled features [N,C])``.

    With ``labels`` (class ids) the score adds the projection ``<embed(label), pooled features>``.
    """

    def __init__(self, config: ProjectionResConfig):
        super().__init__()
        self.config = cfg = config
        res = dict(padding_mode=cfg.padding_mode, weight_norm=cfg.weight_norm, activation="leakyrelu",
                   order="NACNAC")
        nf = cfg.num_filters
        layers: list[nn.Module] = [ConvBlock(cfg.image_channels, nf, 7, 1, 3, padding_mode=cfg.padding_mode,
                                             weight_norm=cfg.weight_norm)]
        for i in range(cfg.num_layers):
            prev, nf = nf, min(nf * 2, cfg.max_num_filters)
            layers += [ResBlock(prev, prev, **res), ResBlock(prev, nf, **res)]
            if i != cfg.num_layers - 1:
                layers += [nn.ReflectionPad2d(1), nn.AvgPool2d(3, stride=2)]
        self.model = nn.Sequential(*layers)
        self.classifier = ConvBlock(nf, 1, 1, 1, 0, weight_norm=cfg.weight_norm, activation="leakyrelu",
                                    order="NAC")
        self.embedder = nn.Embedding(cfg.num_classes, nf)
        apply_weight_norms(self)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.model(images)
        scores = self.classifier(features)
        pooled = features.mean((2, 3))
        if labels is not None:
            proj = (self.embedder(labels) * pooled).sum(1).view(-1, 1, 1, 1)
            scores = scores + proj
        return scores, pooled
