"""The losses the nine models train with: GAN, feature matching, perceptual, KL, flow-warp, temporal.

Each loss is a plain function; a few thin ``nn.Module`` wrappers hold settings (the GAN mode, a
feature network). Discriminator outputs follow one convention across the trainers: a list with one
entry per scale, each entry the list of that scale's intermediate features whose LAST element is the
logit map. A bare tensor counts as one scale with no features.

>>> import torch
>>> logits = [[torch.zeros(2, 1, 4, 4)]]
>>> float(gan_loss(logits, real=True, for_discriminator=True, mode="hinge"))
1.0
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidsynth.errors import VidsynthError
from vidsynth.networks.flow import warp as _network_warp

GAN_MODES = ("hinge", "least_square", "non_saturated")


def _scales(dis_output) -> list[list[torch.Tensor]]:
    """Normalise a discriminator output to [scale][feature]; the last feature of a scale is the logit map."""
    if isinstance(dis_output, torch.Tensor):
        return [[dis_output]]
    scales = []
    for s in dis_output:
        scales.append([s] if isinstance(s, torch.Tensor) else list(s))
    return scales


def logits_of(dis_output) -> list[torch.Tensor]:
    """The logit map of every scale."""
    return [s[-1] for s in _scales(dis_output)]


def wide(x: torch.Tensor) -> torch.Tensor:
    """``x`` in at least fp32: half-precision activations under autocast are widened for the loss sums
    (they overflow fp16); fp32 and fp64 (``trainer.float64``) stay as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def features_of(dis_output) -> list[list[torch.Tensor]]:
    """The intermediate features of every scale (the logit map excluded)."""
    return [s[:-1] for s in _scales(dis_output)]


def _gan_term(logit: torch.Tensor, real: bool, for_discriminator: bool, mode: str) -> torch.Tensor:
    logit = wide(logit)
    if mode == "hinge":
        if for_discriminator:
            return F.relu(1.0 - logit).mean() if real else F.relu(1.0 + logit).mean()
        return -logit.mean()
    if mode == "least_square":
        target = torch.ones_like(logit) if real else torch.zeros_like(logit)
        return 0.5 * F.mse_loss(logit, target)
    if mode == "non_saturated":
        target = torch.ones_like(logit) if real else torch.zeros_like(logit)
        return F.binary_cross_entropy_with_logits(logit, target)
    raise VidsynthError(f"GAN mode must be one of {', '.join(GAN_MODES)}; found {mode!r}; fix trainer.gan_mode in the config")


def gan_loss(dis_output, real: bool, for_discriminator: bool, mode: str = "hinge") -> torch.Tensor:
    """GAN loss averaged per scale, then across scales (so the finest scale does not dominate).

    The generator side always targets ``real=True``: hinge gives ``-mean(D(fake))``, least squares
    ``0.5·(D(fake)−1)²`` and non-saturating ``softplus(−D(fake))``.
    """
    if not for_discriminator and not real:
        raise ValueError("the generator's GAN loss targets real")
    terms = [_gan_term(lg, real, for_discriminator, mode) for lg in logits_of(dis_output)]
    return torch.stack(terms).mean()


def discriminator_loss(real_output, fake_output, mode: str = "hinge") -> torch.Tensor:
    """The discriminator's side: real outputs pushed up, fake outputs pushed down."""
    return gan_loss(real_output, True, True, mode) + gan_loss(fake_output, False, True, mode)


def generator_loss(fake_output, mode: str = "hinge") -> torch.Tensor:
    """The generator's side: its outputs should look real to the discriminator."""
    return gan_loss(fake_output, True, False, mode)


def feature_matching_loss(fake_output, real_output) -> torch.Tensor:
    """L1 between the discriminator's intermediate features of fake and real, averaged over scales.

    Real features are detached: the generator matches them, it does not move them.
    """
    fake_f, real_f = features_of(fake_output), features_of(real_output)
    if len(fake_f) != len(real_f):
        raise ValueError(f"fake and real outputs have {len(fake_f)} and {len(real_f)} scales")
    loss = None
    for fs, rs in zip(fake_f, real_f):
        for f, r in zip(fs, rs):
            term = F.l1_loss(wide(f), wide(r.detach())) / len(fake_f)
            loss = term if loss is None else loss + term
    if loss is None:
        ref = logits_of(fake_output)[0]
        return wide(ref.new_zeros(()))
    return loss


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL divergence of N(mu, exp(logvar)) from N(0, 1), summed over the code and averaged over the batch
    as SPADE does (imaginaire sums over all elements; we divide by the batch so the weight does not
    scale with the batch size)."""
    mu, logvar = wide(mu), wide(logvar)
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.shape[0]


def gaussian_kl_loss(mu: torch.Tensor) -> torch.Tensor:
    """UNIT's KL term for a unit-variance encoder: the mean squared code."""
    return wide(mu).pow(2).mean()


# the warp every model and loss shares: backward warping, out(p) = image(p + flow(p)), flow in pixels (dx, dy)
warp = _network_warp


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute difference, only where ``mask`` (broadcastable, 0..1) is on.

    Each example is averaged over its own masked pixels, then the examples are averaged: every example
    weighs the same however much of it is masked, and the loss of a batch split across processes (DDP
    averages their gradients) is the loss of the whole batch.
    """
    diff = (wide(a) - wide(b)).abs()
    if mask is None:
        return diff.mean()
    mask = mask.to(diff.dtype).expand_as(diff)
    per_example = (diff * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1.0)
    return per_example.mean()


def flow_l1_loss(flow: torch.Tensor, flow_gt: torch.Tensor, confidence: torch.Tensor | None = None) -> torch.Tensor:
    """L1 between a predicted flow and the ground-truth flow, where the ground truth is trusted."""
    return masked_l1(flow, flow_gt, confidence)


def flow_warp_loss(prev_image: torch.Tensor, image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """How far ``prev_image`` warped by ``flow`` is from ``image``: vid2vid's flow-warp term."""
    return F.l1_loss(wide(warp(prev_image, flow)), wide(image))


def temporal_loss(prev_output: torch.Tensor, output: torch.Tensor, flow: torch.Tensor,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    """Temporal consistency: an output should equal the previous output carried along the flow.

    The previous output is detached, so only the current frame is pulled toward consistency.
    """
    return masked_l1(warp(prev_output.detach(), flow), output, mask)


def occlusion_mask_loss(mask: torch.Tensor, warped: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """vid2vid's mask term: trust the warped image (mask→1) where it already matches the target."""
    agreement = (1.0 - (wide(warped.detach()) - wide(target)).abs().mean(1, keepdim=True).clamp(0, 1))
    return F.l1_loss(wide(mask), agreement)


# --- perceptual loss -------------------------------------------------------------------------------------


class SmallFeatureNet(nn.Module):
    """A tiny fixed convolutional feature extractor: the built-in stand-in for VGG when the user points
    to no feature network. Its weights come from a fixed seed (random features are still a useful
    perceptual metric at small scale); it is never trained.

    >>> net = SmallFeatureNet()
    >>> [f.shape[1] for f in net(torch.zeros(1, 3, 32, 32))]
    [16, 32, 64]
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 64), seed: int = 1234):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        layers = []
        cin = 3
        for cout in channels:
            conv = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * (2.0 / (9 * cin)) ** 0.5)
                conv.bias.zero_()
            layers.append(conv)
            cin = cout
        self.convs = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for conv in self.convs:
            x = F.relu(conv(x))
            feats.append(x)
        return feats


class PerceptualLoss(nn.Module):
    """Weighted L1 between the features a frozen network gives for the output and for the target.

    ``network`` is any module returning a list of feature maps (or a tensor) for a (B,3,H,W) image in
    [-1, 1]; ``weights`` weight its outputs in order (imaginaire's VGG19 recipe is relu1_1..relu5_1 with
    1/32, 1/16, 1/8, 1/4, 1). The network's parameters are frozen.

    >>> loss = PerceptualLoss(SmallFeatureNet(), weights=[1, 1, 1])
    >>> float(loss(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)))
    0.0
    """

    def __init__(self, network: nn.Module, weights: Sequence[float] | None = None):
        super().__init__()
        self.network = network.eval()
        for p in self.network.parameters():
            p.requires_grad_(False)
        self.weights = list(weights) if weights is not None else None

    def train(self, mode: bool = True):
        # the feature network stays in eval mode whatever the trainer does
        super().train(mode)
        self.network.eval()
        return self

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fo = self.network(wide(output))
        with torch.no_grad():
            ft = self.network(wide(target))
        if isinstance(fo, torch.Tensor):
            fo, ft = [fo], [ft]
        weights = self.weights or [1.0] * len(fo)
        if len(weights) != len(fo):
            raise VidsynthError(
                f"the perceptual loss has {len(weights)} layer weights but the feature network returns {len(fo)} "
                "feature maps; give one weight per feature map (trainer.perceptual.weights)"
            )
        loss = output.new_zeros((), dtype=torch.float32)
        for w, a, b in zip(weights, fo, ft):
            loss = loss + w * F.l1_loss(a, b.detach())
        return loss


def load_feature_network(path: str | None) -> nn.Module:
    """The perceptual loss's feature network: the built-in :class:`SmallFeatureNet` when ``path`` is None
    or ``"builtin"``, otherwise a TorchScript file (``torch.jit.save``) whose forward maps an image in
    [-1, 1] to a list of feature maps — e.g. a VGG19 the user exported from their own weights."""
    if path in (None, "", "builtin"):
        return SmallFeatureNet()
    import os

    if not os.path.isfile(path):
        raise VidsynthError(
            f"the perceptual loss's feature network file {path!r} does not exist; give a TorchScript file "
            "(torch.jit.save of a module returning a list of feature maps) or 'builtin'"
        )
    try:
        return torch.jit.load(path, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any load failure is a user file problem
        raise VidsynthError(
            f"could not load the feature network {path!r} as TorchScript ({exc}); save it with "
            "torch.jit.save(torch.jit.script(net), path) or use 'builtin'"
        ) from None
