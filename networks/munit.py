"""MUNIT: multimodal unsupervised image-to-image translation (Huang et al., ECCV 2018).

Each domain's auto-encoder splits an image into a content code (spatial) and a style code (a vector).
Translating A->B keeps A's content and decodes it with B's decoder under a style of domain B: a random
code (multimodal sampling) or the style encoded from an example image of B. The style enters the
decoder through an MLP and adaptive instance normalisation.

Example:
    >>> import torch
    >>> cfg = MUNITConfig(num_filters=8, max_num_filters=16, num_filters_mlp=16, num_res_blocks=1)
    >>> model = MUNIT(cfg).eval()
    >>> model.generate(torch.zeros(1, 3, 32, 32), generator=torch.Generator().manual_seed(0)).shape
    torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

from vidsynth.errors import VidsynthError

from .layers import ConvBlock, LinearBlock, assert_shape, check_size_multiple
from .registry import register_model
from .spec import BoundDirection, Condition, ModelSpec
from .unit import ContentDecoder, ContentEncoder, autoencoder_fields

__all__ = ["MUNITConfig", "MUNIT", "StyleEncoder", "StyleMLP"]


@dataclass
class MUNITConfig:
    """MUNIT hyper-parameters (defaults: imaginaire's)."""

    num_filters: int = 64              # base width
    max_num_filters: int = 256         # width cap of the content encoder
    num_filters_mlp: int = 256         # width of the style MLP (= AdaIN conditioning size)
    latent_dim: int = 8                # style code length
    num_res_blocks: int = 4            # residual blocks in content encoder and decoder
    num_mlp_blocks: int = 2            # layers of the style MLP
    num_downsamples_style: int = 4     # style encoder down-samplings
    num_downsamples_content: int = 2   # content down-samplings (input size multiple of 2**this)
    image_channels: int = 3            # image channels
    content_norm: str = "instance"     # content encoder normalisation
    style_norm: str = ""               # style encoder normalisation
    decoder_norm: str = "instance"     # normalisation inside the decoder's AdaIN
    decoder_norm_affine: bool = False  # ... with its own affine transform
    weight_norm: str = ""              # weight norm of encoder/decoder convs
    output_activation: str = ""        # activation of the output layer ("" or "tanh")
    pre_activation: bool = False       # pre-activation residual blocks

    @classmethod
    def from_imaginaire(cls, cfg: Mapping) -> "MUNITConfig":
        """From a parsed imaginaire YAML (``gen:``)."""
        gen = cfg["gen"]
        return cls(
            **autoencoder_fields(gen, "MUNIT"),
            num_filters_mlp=gen.get("num_filters_mlp", 256),
            latent_dim=gen.get("latent_dim", 8),
            num_mlp_blocks=gen.get("num_mlp_blocks", 2),
            num_downsamples_style=gen.get("num_downsamples_style", 4),
            style_norm=gen.get("style_norm_type", ""),
            decoder_norm_affine=(gen.get("decoder_norm_params") or {}).get("affine", False),
        )


class StyleEncoder(nn.Module):
    """Image -> style code [N, C, 1, 1]: strided convs, global average pool, 1x1 conv."""

    def __init__(self, num_downsamples: int, image_channels: int, num_filters: int, style_channels: int,
                 norm: str, weight_norm: str, padding_mode: str = "reflect"):
        super().__init__()
        conv = dict(padding_mode=padding_mode, norm=norm, weight_norm=weight_norm, activation="relu")
        layers: list[nn.Module] = [ConvBlock(image_channels, num_filters, 7, 1, 3, **conv)]
        for _ in range(2):
            layers.append(ConvBlock(num_filters, 2 * num_filters, 4, 2, 1, **conv))
            num_filters *= 2
        for _ in range(num_downsamples - 2):
            layers.append(ConvBlock(num_filters, num_filters, 4, 2, 1, **conv))
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(num_filters, style_channels, 1, 1, 0)]
        self.model = nn.Sequential(*layers)
        self.output_dim = num_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class StyleMLP(nn.Module):
    """Style code -> AdaIN conditioning vector: ``num_layers`` ReLU linear layers (``hidden`` wide)."""

    def __init__(self, input_dim: int, output_dim: int, hidden: int, num_layers: int):
        super().__init__()
        layers = [LinearBlock(input_dim, hidden, activation="relu")]
        layers += [LinearBlock(hidden, hidden, activation="relu") for _ in range(num_layers - 2)]
        layers.append(LinearBlock(hidden, output_dim, activation="relu"))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(x.shape[0], -1))


class _AutoEncoder(nn.Module):
    def __init__(self, cfg: MUNITConfig):
        super().__init__()
        self.style_encoder = StyleEncoder(cfg.num_downsamples_style, cfg.image_channels, cfg.num_filters,
                                          cfg.latent_dim, cfg.style_norm, cfg.weight_norm)
        self.content_encoder = ContentEncoder(cfg.num_downsamples_content, cfg.num_res_blocks, cfg.image_channels,
                                              cfg.num_filters, cfg.max_num_filters, cfg.content_norm,
                                              cfg.weight_norm, cfg.pre_activation)
        adain = dict(cond_dims=cfg.num_filters_mlp, norm=cfg.decoder_norm,
                     norm_params={"affine": cfg.decoder_norm_affine})
        self.decoder = ContentDecoder(cfg.num_res_blocks, cfg.num_downsamples_content,
                                      self.content_encoder.output_dim, cfg.image_channels, cfg.output_activation,
                                      cfg.pre_activation, norm="adaptive", norm_params=adain,
                                      weight_norm=cfg.weight_norm)
        self.mlp = StyleMLP(cfg.latent_dim, cfg.num_filters_mlp, cfg.num_filters_mlp, cfg.num_mlp_blocks)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.content_encoder(images), self.style_encoder(images)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.decoder(content, self.mlp(style))


@register_model("munit", MUNITConfig)
class MUNIT(nn.Module):
    """The MUNIT generator. ``forward(images, style, a2b=True) -> translated images``.

    ``images`` [N,3,H,W] in [-1,1] (H, W multiples of ``2**num_downsamples_content``); ``style``
    [N, latent_dim, 1, 1] a style code of the target domain (:meth:`random_style` or :meth:`encode_style`).
    """

    def __init__(self, config: MUNITConfig):
        super().__init__()
        self.config = config
        self.autoencoder_a = _AutoEncoder(config)
        self.autoencoder_b = _AutoEncoder(config)

    def _pair(self, a2b: bool) -> tuple[_AutoEncoder, _AutoEncoder]:
        return (self.autoencoder_a, self.autoencoder_b) if a2b else (self.autoencoder_b, self.autoencoder_a)

    def forward(self, images: torch.Tensor, style: torch.Tensor, a2b: bool = True) -> torch.Tensor:
        assert_shape(images, [None, self.config.image_channels, None, None], "images")
        check_size_multiple(images, 2 ** self.config.num_downsamples_content, "MUNIT")
        src, dst = self._pair(a2b)
        return dst.decode(src.content_encoder(images), style.reshape(images.shape[0], -1, 1, 1))

    def encode_style(self, images: torch.Tensor, domain: str = "b") -> torch.Tensor:
        """Style code [N, latent_dim, 1, 1] of example images of ``domain`` ("a" or "b")."""
        return self._domain(domain).style_encoder(images)

    def random_style(self, batch: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """A style code from the prior N(0, I)."""
        return torch.randn(batch, self.config.latent_dim, 1, 1, generator=generator)

    def _domain(self, domain: str) -> _AutoEncoder:
        if domain not in ("a", "b"):
            raise VidsynthError(f"domain must be 'a' or 'b', found {domain!r}")
        return self.autoencoder_a if domain == "a" else self.autoencoder_b

    def training_outputs(self, images_a: torch.Tensor, images_b: torch.Tensor, random_style: bool = True,
                         style_a_rand: torch.Tensor | None = None, style_b_rand: torch.Tensor | None = None,
                         image_recon: bool = True, latent_recon: bool = True, cycle_recon: bool = True,
                         within_latent_recon: bool = False) -> dict[str, torch.Tensor]:
        """Every reconstruction, translation, cycle and code (imaginaire's training forward).

        Random styles are drawn unless given (``style_a_rand`` / ``style_b_rand``).
        """
        ae_a, ae_b = self.autoencoder_a, self.autoencoder_b
        out: dict[str, torch.Tensor] = {}
        content_a, style_a = ae_a.encode(images_a)
        content_b, style_b = ae_b.encode(images_b)
        if image_recon:
            out.update(images_aa=ae_a.decode(content_a, style_a), images_bb=ae_b.decode(content_b, style_b))
        if random_style:
            style_a_rand = torch.randn_like(style_a) if style_a_rand is None else style_a_rand
            style_b_rand = torch.randn_like(style_b) if style_b_rand is None else style_b_rand
        else:
            style_a_rand, style_b_rand = style_a, style_b
        images_ba = ae_a.decode(content_b, style_a_rand)
        images_ab = ae_b.decode(content_a, style_b_rand)
        if latent_recon or cycle_recon:
            content_ba, style_ba = ae_a.encode(images_ba)
            content_ab, style_ab = ae_b.encode(images_ab)
            out.update(content_ba=content_ba, style_ba=style_ba, content_ab=content_ab, style_ab=style_ab)
        if image_recon and within_latent_recon:
            content_aa, style_aa = ae_a.encode(out["images_aa"])
            content_bb, style_bb = ae_b.encode(out["images_bb"])
            out.update(content_aa=content_aa, style_aa=style_aa, content_bb=content_bb, style_bb=style_bb)
        if cycle_recon:
            out.update(images_aba=ae_a.decode(content_ab, style_a), images_bab=ae_b.decode(content_ba, style_b))
        out.update(content_a=content_a, content_b=content_b, style_a=style_a, style_b=style_b,
                   style_a_rand=style_a_rand, style_b_rand=style_b_rand, images_ba=images_ba, images_ab=images_ab)
        return out

    @torch.inference_mode()
    def generate(self, images: torch.Tensor, a2b: bool = True, style_image: torch.Tensor | None = None,
                 style: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Translate ``images`` to the other domain under ``style``, the style of ``style_image``
        (an example of the target domain), or a random style from ``generator``."""
        if style is None:
            if style_image is not None:
                style = self.encode_style(style_image, "b" if a2b else "a")
                if style.shape[0] != images.shape[0]:
                    style = style.mean(0, keepdim=True).expand(images.shape[0], -1, -1, -1)
            else:
                style = self.random_style(images.shape[0], generator)
        return self(images, style, a2b)

    # ---- what it is, and its per-frame call (read by the engine) ---------------------------------
    def describe(self) -> ModelSpec:
        """Pictures of one domain in, the other domain out, in a style (a picture's, or a random one)."""
        cfg = self.config
        return ModelSpec(kind="image", short_side=256, directions=True, style=True, conditions=(
            Condition("images", reads="image", channels=cfg.image_channels,
                      size_multiple=2 ** cfg.num_downsamples_content),))

    def stream_style(self, style_image: torch.Tensor | None = None, examples=None,
                     generator: torch.Generator | None = None, a2b: bool = True) -> torch.Tensor:
        """The stream's style: of ``style_image`` (a picture of the target domain), else a random one."""
        if style_image is not None:
            return self.encode_style(style_image, "b" if a2b else "a")
        return self.random_style(1, generator)

    def translate_inputs(self, images: torch.Tensor, style: torch.Tensor,
                         generator=None) -> dict[str, torch.Tensor]:
        return {"images": images, "style": style}

    def translator(self, a2b: bool = True) -> nn.Module:
        """The model with its direction fixed (A to B, or B to A)."""
        return BoundDirection(self, a2b)
