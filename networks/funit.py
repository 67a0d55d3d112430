"""FUNIT: few-shot unsupervised image-to-image translation (Liu et al., ICCV 2019).

A content encoder keeps the pose/structure of the input; a class (style) code computed from a few
example images of a target class, never seen in training, is mapped by an MLP to AdaIN parameters of
the decoder. The class code of K examples is the mean of their codes.

Example:
    >>> import torch
    >>> model = FUNIT(FUNITConfig(num_filters=4, num_filters_mlp=8, style_dims=8)).eval()
    >>> examples = torch.zeros(3, 3, 32, 32)          # three photos of the target class
    >>> model.generate(torch.zeros(1, 3, 32, 32), examples=examples).shape
    torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

from vidsynth.errors import VidsynthError

from .layers import ConvBlock, ResBlock, UpResBlock, assert_shape, check_size_multiple, is_conditional
from .munit import StyleEncoder, StyleMLP
from .registry import register_model
from .spec import Condition, ModelSpec
from .unit import ContentEncoder

__all__ = ["FUNITConfig", "FUNIT", "FUNITDecoder"]


@dataclass
class FUNITConfig:
    """FUNIT hyper-parameters (defaults: imaginaire's)."""

    num_filters: int = 64              # base width
    num_filters_mlp: int = 256         # width of the class-code MLP (= AdaIN conditioning size)
    style_dims: int = 64               # class code length
    num_res_blocks: int = 2            # content encoder residual blocks
    num_mlp_blocks: int = 3            # MLP depth parameter (imaginaire's: max(n - 1, 2) layers)
    num_downsamples_style: int = 4     # class (style) encoder down-samplings
    num_downsamples_content: int = 2   # content down-samplings (input size multiple of 2**this)
    image_channels: int = 3            # image channels
    weight_norm: str = ""              # weight norm of the convs

    @classmethod
    def from_imaginaire(cls, cfg: Mapping) -> "FUNITConfig":
        """From a parsed imaginaire YAML (``gen:``)."""
        gen = cfg["gen"]
        return cls(**cls._common(gen))

    @staticmethod
    def _common(gen: Mapping) -> dict:
        return dict(
            num_filters=gen.get("num_filters", 64),
            num_filters_mlp=gen.get("num_filters_mlp", 256),
            style_dims=gen.get("style_dims", 64),
            num_res_blocks=gen.get("num_res_blocks", 2),
            num_mlp_blocks=gen.get("num_mlp_blocks", 3),
            num_downsamples_style=gen.get("num_downsamples_style", 4),
            num_downsamples_content=gen.get("num_downsamples_content", 2),
            image_channels=gen.get("num_image_channels", 3),
            weight_norm=gen.get("weight_norm_type", ""),
        )


def funit_mlp_layers(num_mlp_blocks: int) -> int:
    """imaginaire's FUNIT MLP has a first and a last layer and ``n - 3`` in between."""
    return 2 + max(num_mlp_blocks - 3, 0)


class FUNITDecoder(nn.Module):
    """Content code + conditioning vector -> image: two AdaIN residual blocks, AdaIN up-sampling blocks."""

    def __init__(self, cfg: FUNITConfig, dims: int, padding_mode: str = "reflect"):
        super().__init__()
        adain = dict(cond_dims=cfg.num_filters_mlp, norm="instance", norm_params={"affine": False})
        common = dict(padding_mode=padding_mode, weight_norm=cfg.weight_norm, norm="adaptive", norm_params=adain,
                      activation="relu")
        layers: list[nn.Module] = [ResBlock(dims, dims, 3, padding=1, learn_shortcut=False, **common)
                                   for _ in range(2)]
        for _ in range(cfg.num_downsamples_content):
            layers.append(UpResBlock(dims, dims // 2, 5, padding=2, skip_norm=True, skip_activation=True,
                                     hidden_equals_out=True, learn_shortcut=True, **common))
            dims //= 2
        layers.append(ConvBlock(dims, cfg.image_channels, 7, 1, 3, padding_mode="reflect", activation="tanh"))
        self.decoder = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        for layer in self.decoder:
            x = layer(x, style) if is_conditional(layer) else layer(x)
        return x


class _Translator(nn.Module):
    def __init__(self, cfg: FUNITConfig):
        super().__init__()
        self.style_encoder = StyleEncoder(cfg.num_downsamples_style, cfg.image_channels, cfg.num_filters,
                                          cfg.style_dims, "none", cfg.weight_norm)
        self.content_encoder = ContentEncoder(cfg.num_downsamples_content, cfg.num_res_blocks, cfg.image_channels,
                                              cfg.num_filters, None, "instance", cfg.weight_norm, False)
        self.decoder = FUNITDecoder(cfg, self.content_encoder.output_dim)
        self.mlp = StyleMLP(cfg.style_dims, cfg.num_filters_mlp, cfg.num_filters_mlp,
                            funit_mlp_layers(cfg.num_mlp_blocks))

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.decoder(content, self.mlp(style))


@register_model("funit", FUNITConfig)
class FUNIT(nn.Module):
    """The FUNIT generator. ``forward(images, class_code) -> translated images``.

    ``images`` [N,3,H,W] in [-1,1] with H, W multiples of ``2**num_downsamples_content``;
    ``class_code`` [N or 1, style_dims, 1, 1] from :meth:`encode_class` (a few examples of the target class).
    """

    translator_cls = _Translator

    def __init__(self, config: FUNITConfig):
        super().__init__()
        self.config = config
        self.generator = self.translator_cls(config)

    def encode_class(self, examples: torch.Tensor) -> torch.Tensor:
        """Class code [1, style_dims, 1, 1]: the mean code of K example images [K,3,H,W]."""
        assert_shape(examples, [None, self.config.image_channels, None, None], "examples")
        return self.generator.style_encoder(examples).mean(0, keepdim=True)

    def forward(self, images: torch.Tensor, class_code: torch.Tensor) -> torch.Tensor:
        assert_shape(images, [None, self.config.image_channels, None, None], "images")
        check_size_multiple(images, 2 ** self.config.num_downsamples_content, self.model_name)
        code = class_code.reshape(class_code.shape[0], -1, 1, 1).expand(images.shape[0], -1, -1, -1)
        return self.generator.decode(self.generator.content_encoder(images), code)

    def training_outputs(self, images_content: torch.Tensor, images_style: torch.Tensor) -> dict[str, torch.Tensor]:
        """Translation (content of one image, style of the other) and reconstruction, per sample."""
        g = self.generator
        content = g.content_encoder(images_content)
        style_a, style_b = g.style_encoder(images_content), g.style_encoder(images_style)
        return {"images_trans": g.decode(content, style_b), "images_recon": g.decode(content, style_a)}

    @torch.inference_mode()
    def generate(self, images: torch.Tensor, examples: torch.Tensor | None = None,
                 class_code: torch.Tensor | None = None) -> torch.Tensor:
        """Translate ``images`` into the class shown by ``examples`` (K images), or by ``class_code``."""
        if class_code is None:
            if examples is None:
                raise VidsynthError(f"{self.model_name} needs a few example images of the target class "
                                    "(examples=) or a class code (class_code=)")
            class_code = self.encode_class(examples)
        return self(images, class_code)

    # ---- what it is, and its per-frame call (read by the engine) ---------------------------------
    def describe(self) -> ModelSpec:
        """Pictures in, the same pictures as the class a few example pictures show."""
        cfg = self.config
        return ModelSpec(kind="image", short_side=256, examples=True, conditions=(
            Condition("images", reads="image", channels=cfg.image_channels,
                      size_multiple=2 ** cfg.num_downsamples_content),))

    def stream_style(self, style_image=None, examples: torch.Tensor | None = None, generator=None,
                     a2b: bool = True) -> torch.Tensor:
        """The stream's class code, from the example pictures ``[K, 3, H, W]``."""
        if examples is None or len(examples) == 0:
            raise VidsynthError("this model translates into a class shown by a few example pictures: give them "
                                "with --examples DIR")
        return self.encode_class(examples)

    def translate_inputs(self, images: torch.Tensor, style: torch.Tensor,
                         generator=None) -> dict[str, torch.Tensor]:
        return {"images": images, "class_code": style}

    def translator(self, a2b: bool = True) -> nn.Module:
        return self
