"""UNIT: unsupervised image-to-image translation with a shared latent space (Liu et al., NeurIPS 2017).

Two auto-encoders (domain A and B). Translating A->B encodes with A's content encoder and decodes with
B's decoder; there is no style code, so the translation is unimodal.

Example:
    >>> import torch
    >>> model = UNIT(UNITConfig(num_filters=8, max_num_filters=16, num_res_blocks=1)).eval()
    >>> model.generate(torch.zeros(1, 3, 32, 32), a2b=True).shape
    torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from vidsynth.errors import VidsynthError

from .layers import ConvBlock, ResBlock, assert_shape, check_size_multiple, is_conditional
from .registry import register_model
from .spec import BoundDirection, Condition, ModelSpec

__all__ = ["UNITConfig", "UNIT", "ContentEncoder", "ContentDecoder"]


@dataclass
class UNITConfig:
    """UNIT hyper-parameters (defaults: imaginaire's)."""

    num_filters: int = 64              # base width
    max_num_filters: int = 256         # width cap of the content encoder
    num_res_blocks: int = 4            # residual blocks in encoder and decoder
    num_downsamples_content: int = 2   # content down-samplings (input size multiple of 2**this)
    image_channels: int = 3            # image channels
    content_norm: str = "instance"     # content encoder normalisation
    decoder_norm: str = "instance"     # decoder normalisation
    weight_norm: str = ""              # weight norm of the encoder/decoder convs
    output_activation: str = ""        # activation of the output layer ("" or "tanh")
    pre_activation: bool = False       # pre-activation residual blocks (NACNAC)

    @classmethod
    def from_imaginaire(cls, cfg: Mapping) -> "UNITConfig":
        """From a parsed imaginaire YAML (``gen:``)."""
        return cls(**autoencoder_fields(cfg["gen"], "UNIT"))


def autoencoder_fields(gen: Mapping, model: str) -> dict:
    """The content encoder and decoder fields UNIT and MUNIT read alike from imaginaire's ``gen:``."""
    if gen.get("apply_noise", False):
        raise VidsynthError(f"{model} with apply_noise (noise injection) is not supported")
    return dict(
        num_filters=gen.get("num_filters", 64),
        max_num_filters=gen.get("max_num_filters", 256),
        num_res_blocks=gen.get("num_res_blocks", 4),
        num_downsamples_content=gen.get("num_downsamples_content", 2),
        image_channels=gen.get("num_image_channels", 3),
        content_norm=gen.get("content_norm_type", "instance"),
        decoder_norm=gen.get("decoder_norm_type", "instance"),
        weight_norm=gen.get("weight_norm_type", ""),
        output_activation=gen.get("output_nonlinearity", ""),
        pre_activation=gen.get("pre_act", False),
    )


class ContentEncoder(nn.Module):
    """Image -> content code: 7x7 conv, stride-2 4x4 convs (width doubling up to a cap), residual blocks.

    UNIT's and MUNIT's content encoder; FUNIT's is the same with no cap (``max_num_filters=None``).

    Example:
        >>> ContentEncoder(2, 1, 3, 4, None, "instance", "", False)(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 16, 8, 8])
    """

    def __init__(self, num_downsamples: int, num_res_blocks: int, image_channels: int, num_filters: int,
                 max_num_filters: int | None, norm: str, weight_norm: str, pre_activation: bool,
                 padding_mode: str = "reflect"):
        super().__init__()
        if max_num_filters is None:
            max_num_filters = num_filters * 2 ** num_downsamples
        conv = dict(padding_mode=padding_mode, norm=norm, weight_norm=weight_norm, activation="relu")
        layers: list[nn.Module] = [ConvBlock(image_channels, num_filters, 7, 1, 3, **conv)]
        for _ in range(num_downsamples):
            prev, num_filters = num_filters, min(num_filters * 2, max_num_filters)
            layers.append(ConvBlock(prev, num_filters, 4, 2, 1, **conv))
        order = "NACNAC" if pre_activation else "CNACNA"
        layers += [ResBlock(num_filters, num_filters, order=order, **conv) for _ in range(num_res_blocks)]
        self.model = nn.Sequential(*layers)
        self.output_dim = num_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ContentDecoder(nn.Module):
    """Content code -> image: residual blocks, (x2 nearest + 5x5 conv) per up-sampling, 7x7 output conv.

    ``conv`` holds the blocks' normalisation (plain for UNIT; ``norm="adaptive"`` for MUNIT, whose
    forward then takes the conditioning vector as ``style``).

    Example:
        >>> ContentDecoder(1, 2, 8, 3, norm="instance")(torch.zeros(1, 8, 8, 8)).shape
        torch.Size([1, 3, 32, 32])
    """

    def __init__(
        self,
        num_res_blocks: int,            # residual blocks at the content resolution
        num_upsamples: int,             # x2 up-samplings (each halves the width)
        num_filters: int,               # width of the content code
        image_channels: int,            # output image channels
        output_activation: str = "",    # activation of the output layer ("" or "tanh")
        pre_activation: bool = False,   # pre-activation residual blocks (NACNAC)
        padding_mode: str = "reflect",  # padding of every conv
        **conv: Any,                    # norm, norm_params, weight_norm of the hidden blocks
    ):
        super().__init__()
        conv = dict(padding_mode=padding_mode, activation="relu", **conv)
        order = "NACNAC" if pre_activation else "CNACNA"
        layers: list[nn.Module] = [ResBlock(num_filters, num_filters, order=order, **conv)
                                   for _ in range(num_res_blocks)]
        for _ in range(num_upsamples):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       ConvBlock(num_filters, num_filters // 2, 5, 1, 2, **conv)]
            num_filters //= 2
        layers.append(ConvBlock(num_filters, image_channels, 7, 1, 3, padding_mode=padding_mode,
                                activation=output_activation))
        self.decoder = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.decoder:
            x = layer(x, style) if is_conditional(layer) else layer(x)
        return x


class _AutoEncoder(nn.Module):
    def __init__(self, cfg: UNITConfig):
        super().__init__()
        self.content_encoder = ContentEncoder(cfg.num_downsamples_content, cfg.num_res_blocks, cfg.image_channels,
                                              cfg.num_filters, cfg.max_num_filters, cfg.content_norm,
                                              cfg.weight_norm, cfg.pre_activation)
        self.decoder = ContentDecoder(cfg.num_res_blocks, cfg.num_downsamples_content,
                                      self.content_encoder.output_dim, cfg.image_channels, cfg.output_activation,
                                      cfg.pre_activation, norm=cfg.decoder_norm, weight_norm=cfg.weight_norm)


@register_model("unit", UNITConfig)
class UNIT(nn.Module):
    """The UNIT generator. ``forward(images, a2b=True) -> translated images``.

    Images are [N,3,H,W] in [-1,1] with H, W multiples of ``2**num_downsamples_content``.
    :meth:`training_outputs` returns every reconstruction and translation (for training and parity).
    """

    def __init__(self, config: UNITConfig):
        super().__init__()
        self.config = config
        self.autoencoder_a = _AutoEncoder(config)
        self.autoencoder_b = _AutoEncoder(config)

    def forward(self, images: torch.Tensor, a2b: bool = True) -> torch.Tensor:
        assert_shape(images, [None, self.config.image_channels, None, None], "images")
        check_size_multiple(images, 2 ** self.config.num_downsamples_content, "UNIT")
        src, dst = (self.autoencoder_a, self.autoencoder_b) if a2b else (self.autoencoder_b, self.autoencoder_a)
        return dst.decoder(src.content_encoder(images))

    def training_outputs(self, images_a: torch.Tensor, images_b: torch.Tensor, image_recon: bool = True,
                         cycle_recon: bool = True) -> dict[str, torch.Tensor]:
        """Reconstructions (aa, bb), translations (ab, ba), cycles (aba, bab) and content codes."""
        enc_a, enc_b = self.autoencoder_a, self.autoencoder_b
        out: dict[str, torch.Tensor] = {}
        content_a, content_b = enc_a.content_encoder(images_a), enc_b.content_encoder(images_b)
        if image_recon:
            out.update(images_aa=enc_a.decoder(content_a), images_bb=enc_b.decoder(content_b))
        images_ba, images_ab = enc_a.decoder(content_b), enc_b.decoder(content_a)
        if cycle_recon:
            content_ba, content_ab = enc_a.content_encoder(images_ba), enc_b.content_encoder(images_ab)
            out.update(content_ba=content_ba, content_ab=content_ab,
                       images_aba=enc_a.decoder(content_ab), images_bab=enc_b.decoder(content_ba))
        out.update(content_a=content_a, content_b=content_b, images_ba=images_ba, images_ab=images_ab)
        return out

    @torch.inference_mode()
    def generate(self, images: torch.Tensor, a2b: bool = True) -> torch.Tensor:
        """Translate images [N,3,H,W] in [-1,1] from domain A to B (or B to A)."""
        return self(images, a2b)

    # ---- what it is, and its per-frame call (read by the engine) ---------------------------------
    def describe(self) -> ModelSpec:
        """Pictures of one domain in, the same pictures in the other domain out."""
        cfg = self.config
        return ModelSpec(kind="image", short_side=256, directions=True, conditions=(
            Condition("images", reads="image", channels=cfg.image_channels,
                      size_multiple=2 ** cfg.num_downsamples_content),))

    def stream_style(self, style_image=None, examples=None, generator=None, a2b=True) -> None:
        return None

    def translate_inputs(self, images: torch.Tensor, style=None, generator=None) -> dict[str, torch.Tensor]:
        return {"images": images}

    def translator(self, a2b: bool = True) -> nn.Module:
        """The model with its direction fixed (A to B, or B to A)."""
        return BoundDirection(self, a2b)
