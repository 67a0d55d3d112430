"""SPADE / GauGAN: label-to-image synthesis with spatially-adaptive normalisation (Park et al., CVPR 2019).

The generator starts from the label map down-sampled to 1/16 (1/32, 1/64 for 512 / 1024 models) plus a
positional grid, then alternates SPADE residual blocks (modulated by the full-resolution label) with
x2 nearest up-sampling. With a style code (``style_dims``) an encoder maps an image to (mu, logvar), and
AdaIN-style blocks inject the code: the output is multimodal, from a style image or a random code.

Example:
    >>> import torch
    >>> cfg = SPADEConfig(label=LabelLayout(num_classes=5, dont_care=False, instance_edges=True),
    ...                   num_filters=4, spade_filters=8, style_dims=8, style_encoder_filters=4)
    >>> model = SPADE(cfg).eval()
    >>> ids = torch.randint(0, 5, (1, 32, 32))
    >>> model.generate(ids, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from vidsynth.errors import VidsynthError

from .labels import LabelLayout
from .layers import ConvBlock, LinearBlock, PositionalGrid, ResBlock, assert_shape, resize_nearest
from .registry import register_model
from .spec import Condition, ModelSpec

__all__ = ["SPADEConfig", "SPADE"]


@dataclass
class SPADEConfig:
    """SPADE generator hyper-parameters (defaults: imaginaire's)."""

    label: LabelLayout = field(default_factory=lambda: LabelLayout(182, True, True))  # label input layout
    image_channels: int = 3            # output image channels
    output_size: int = 256             # trained small-side size: 256, 512 or 1024 (sets the depth)
    num_filters: int = 128             # base width
    kernel_size: int = 3               # kernel of the main convs
    weight_norm: str = "spectral"      # weight norm of the main convs
    style_dims: int | None = None      # style code length (None: no style encoder, unimodal)
    skip_norm: bool = True             # learned shortcuts are SPADE-normalised too
    spade_filters: int = 128           # hidden width of each SPADE modulation net
    spade_kernel_size: int = 3         # kernel of the SPADE modulation convs
    spade_norm: str = "sync_batch"     # the normalisation inside SPADE
    spade_affine: bool = True          # ... with an affine transform
    spade_separate_projection: bool = False  # separate gamma / beta convs
    spade_weight_norm: str | None = None  # weight norm of the SPADE convs (None: same as weight_norm)
    global_adaptive_norm: str = "sync_batch"  # normalisation of the style (AdaIN-like) blocks
    use_positional_input: bool = True  # concatenate a coordinate grid to the input labels
    output_multiplier: float = 1.0     # the output is tanh(multiplier * x)
    style_encoder_filters: int = 128   # style encoder base width
    style_encoder_kernel_size: int = 3  # style encoder kernel
    style_encoder_weight_norm: str | None = None  # style encoder weight norm (None: weight_norm)

    def __post_init__(self):
        if self.output_size not in (256, 512, 1024):
            raise VidsynthError(f"SPADE output_size must be 256, 512 or 1024, found {self.output_size}")

    @property
    def size_multiple(self) -> int:
        """The output is this multiple of the input size (rounded down)."""
        return {256: 16, 512: 32, 1024: 64}[self.output_size]

    @classmethod
    def from_imaginaire(cls, cfg: Mapping) -> "SPADEConfig":
        """From a parsed imaginaire YAML (``gen:`` and ``data:``)."""
        from .imaginaire import crop_size, image_channels, label_channels

        gen, data = cfg["gen"], cfg.get("data", {})
        if gen.get("attribute_dims") is not None:
            raise VidsynthError("SPADE with attribute_dims (attribute-conditioned SPADE) is not supported")
        total = int(gen.get("num_labels") or label_channels(data))
        input_labels = data.get("input_labels") or []
        one_hot = data.get("one_hot_num_classes") or {}
        seg_key = next((k for k in input_labels if k in one_hot), None)
        if seg_key is not None and total == label_channels(data):
            n_cls, dont_care = int(one_hot[seg_key]), bool(data.get("use_dont_care", False))
            extra = total - n_cls - int(dont_care)
        else:
            n_cls, dont_care, extra = total, False, 0
        if extra not in (0, 1):
            raise VidsynthError(f"SPADE label layout with {extra} extra channels is not supported")
        crop = crop_size(data) or (256, 256)
        norm_p = gen.get("activation_norm_params") or {}
        wn = gen.get("weight_norm_type", "spectral")
        style_enc = gen.get("style_enc") or {}
        return cls(
            label=LabelLayout(n_cls, dont_care, bool(extra)),
            image_channels=int(gen.get("image_channels") or image_channels(data)),
            output_size=min(crop),
            num_filters=gen.get("num_filters", 128),
            kernel_size=gen.get("kernel_size", 3),
            weight_norm=wn,
            style_dims=gen.get("style_dims"),
            skip_norm=gen.get("skip_activation_norm", True),
            spade_filters=norm_p.get("num_filters", 128),
            spade_kernel_size=norm_p.get("kernel_size", 3),
            spade_norm=norm_p.get("activation_norm_type", "sync_batch"),
            spade_affine=(norm_p.get("activation_norm_params") or {}).get("affine", True),
            spade_separate_projection=norm_p.get("separate_projection", False),
            spade_weight_norm=norm_p.get("weight_norm_type", wn),
            global_adaptive_norm=gen.get("global_adaptive_norm_type", "sync_batch"),
            use_positional_input=gen.get("use_posenc_in_input_layer", True),
            output_multiplier=gen.get("output_multiplier", 1.0),
            style_encoder_filters=style_enc.get("num_filters", 128),
            style_encoder_kernel_size=style_enc.get("kernel_size", 3),
            style_encoder_weight_norm=style_enc.get("weight_norm_type", wn),
        )


class _SPADEDecoder(nn.Module):
    """Label (+ style code) -> image: the SPADE residual decoder."""

    def __init__(self, cfg: SPADEConfig):
        super().__init__()
        nf, k = cfg.num_filters, cfg.kernel_size
        pad = math.ceil((k - 1) / 2)
        self.use_style = cfg.style_dims is not None
        self.output_size, self.output_multiplier = cfg.output_size, cfg.output_multiplier
        self.base = cfg.size_multiple
        spade_wn = cfg.weight_norm if cfg.spade_weight_norm is None else cfg.spade_weight_norm
        spade = dict(cond_dims=cfg.label.channels, num_filters=cfg.spade_filters, kernel_size=cfg.spade_kernel_size,
                     weight_norm=spade_wn, separate_projection=cfg.spade_separate_projection, norm=cfg.spade_norm,
                     norm_params={"affine": cfg.spade_affine})

        def res(cin: int, cout: int) -> ResBlock:
            return ResBlock(cin, cout, k, padding=pad, bias=(True, True, False), weight_norm=cfg.weight_norm,
                            norm="spatially_adaptive", norm_params=spade, skip_norm=cfg.skip_norm,
                            activation="leakyrelu", order="NACNAC")

        def mid(cin: int, cout: int) -> ConvBlock:
            if self.use_style:
                adain = dict(cond_dims=2 * cfg.style_dims, norm=cfg.global_adaptive_norm, weight_norm=spade_wn,
                             separate_projection=cfg.spade_separate_projection,
                             norm_params={"affine": cfg.spade_affine})
                return ConvBlock(cin, cout, k, padding=pad, weight_norm=cfg.weight_norm, norm="adaptive",
                                 norm_params=adain, activation="leakyrelu", order="NAC")
            return ConvBlock(cin, cout, k, padding=pad, weight_norm=cfg.weight_norm, activation="leakyrelu",
                             order="NAC")

        def to_image(cin: int) -> ConvBlock:
            return ConvBlock(cin, cfg.image_channels, 5, padding=2, weight_norm=cfg.weight_norm,
                             activation="leakyrelu", order="ANC")

        mid_prefix = "cbn_" if self.use_style else "conv_"
        if self.use_style:
            self.fc_0 = LinearBlock(cfg.style_dims, 2 * cfg.style_dims, weight_norm=cfg.weight_norm,
                                    activation="relu", order="CAN")
            self.fc_1 = LinearBlock(2 * cfg.style_dims, 2 * cfg.style_dims, weight_norm=cfg.weight_norm,
                                    activation="relu", order="CAN")
        in_labels = cfg.label.channels + (2 if cfg.use_positional_input else 0)
        self.head_0 = ConvBlock(in_labels, 8 * nf, k, padding=pad, weight_norm=cfg.weight_norm,
                                activation="leakyrelu")
        setattr(self, mid_prefix + "head_0", mid(8 * nf, 16 * nf))
        self.head_1 = res(16 * nf, 16 * nf)
        self.head_2 = res(16 * nf, 16 * nf)
        self.up_0a = res(16 * nf, 8 * nf)
        setattr(self, mid_prefix + "up_0a", mid(8 * nf, 8 * nf))
        self.up_0b = res(8 * nf, 8 * nf)
        self.up_1a = res(8 * nf, 4 * nf)
        setattr(self, mid_prefix + "up_1a", mid(4 * nf, 4 * nf))
        self.up_1b = res(4 * nf, 4 * nf)
        self.up_2a = res(4 * nf, 4 * nf)
        setattr(self, mid_prefix + "up_2a", mid(4 * nf, 4 * nf))
        self.up_2b = res(4 * nf, 2 * nf)
        self.conv_img256 = to_image(2 * nf)
        if cfg.output_size >= 512:
            self.up_3a = res(2 * nf, nf)
            self.up_3b = res(nf, nf)
            self.conv_img512 = to_image(nf)
        if cfg.output_size >= 1024:
            self.up_4a = res(nf, nf // 2)
            self.up_4b = res(nf // 2, nf // 2)
            self.conv_img1024 = to_image(nf // 2)
        self.positional = PositionalGrid(16) if cfg.use_positional_input else None
        self._mid = [getattr(self, mid_prefix + n) for n in ("head_0", "up_0a", "up_1a", "up_2a")]

    @staticmethod
    def _up(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
        return F.interpolate(x, scale_factor=factor, mode="nearest")

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        cond = ()
        if self.use_style:
            cond = (self.fc_1(self.fc_0(z)),)
        sy, sx = seg.shape[2] // self.base, seg.shape[3] // self.base
        x = resize_nearest(seg, (sy, sx))
        if self.positional is not None:
            x = torch.cat((x, self.positional(seg.shape[0], sy, sx, seg)), 1)
        x = self._mid[0](self.head_0(x), *cond)
        x = self.head_2(self.head_1(x, seg), seg)
        x = self._up(x)
        x = self.up_0b(self._mid[1](self.up_0a(x, seg), *cond), seg)
        x = self._up(x)
        x = self.up_1b(self._mid[2](self.up_1a(x, seg), *cond), seg)
        x = self._up(x)
        x = self.up_2b(self._mid[3](self.up_2a(x, seg), *cond), seg)
        x = self._up(x)
        out = self.conv_img256(x)
        if self.output_size >= 512:
            out = self._up(out)
            x = self._up(self.up_3b(self.up_3a(x, seg), seg))
            out = out + self.conv_img512(x)
        if self.output_size >= 1024:
            out = self._up(out)
            x = self._up(self.up_4b(self.up_4a(x, seg), seg))
            out = out + self.conv_img1024(x)
        return torch.tanh(self.output_multiplier * out)


class _StyleEncoder(nn.Module):
    """Image (resized to 256x256) -> (mu, logvar) of the style code."""

    def __init__(self, cfg: SPADEConfig):
        super().__init__()
        nf, k = cfg.style_encoder_filters, cfg.style_encoder_kernel_size
        pad = math.ceil((k - 1) / 2)
        wn = cfg.weight_norm if cfg.style_encoder_weight_norm is None else cfg.style_encoder_weight_norm
        widths = [cfg.image_channels, nf, 2 * nf, 4 * nf, 8 * nf, 8 * nf, 8 * nf]
        for i in range(6):
            setattr(self, f"layer{i + 1}", ConvBlock(widths[i], widths[i + 1], k, stride=2, padding=pad,
                                                     weight_norm=wn, activation="leakyrelu"))
        self.fc_mu = LinearBlock(8 * nf * 4 * 4, cfg.style_dims)
        self.fc_var = LinearBlock(8 * nf * 4 * 4, cfg.style_dims)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if image.shape[2:] != (256, 256):
            image = F.interpolate(image, size=(256, 256), mode="bilinear", align_corners=False)
        x = image
        for i in range(6):
            x = getattr(self, f"layer{i + 1}")(x)
        x = x.flatten(1)
        return self.fc_mu(x), self.fc_var(x)


@register_model("spade", SPADEConfig)
class SPADE(nn.Module):
    """The SPADE generator. ``forward(label, z=None) -> image`` in [-1, 1].

    ``label``: float [N, label.channels, H, W] (see :class:`LabelLayout`); the output is
    ``size_multiple * floor(H / size_multiple)`` high (likewise wide). ``z``: [N, style_dims] style code,
    required when the model has a style encoder. :meth:`generate` does the rest: label maps in, a style
    from an image (:meth:`encode_style`) or a random code.
    """

    def __init__(self, config: SPADEConfig):
        super().__init__()
        self.config = config
        self.spade_generator = _SPADEDecoder(config)
        self.style_encoder = _StyleEncoder(config) if config.style_dims is not None else None

    def forward(self, label: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        assert_shape(label, [None, self.config.label.channels, None, None], "label")
        if self.config.style_dims is not None:
            if z is None:
                raise VidsynthError("this SPADE model is multimodal: pass a style code z "
                                    f"([N, {self.config.style_dims}]), e.g. from encode_style() or random_style()")
            assert_shape(z, [label.shape[0], self.config.style_dims], "z")
        if label.shape[2] < self.config.size_multiple or label.shape[3] < self.config.size_multiple:
            raise VidsynthError(f"SPADE needs labels of at least {self.config.size_multiple}x"
                                f"{self.config.size_multiple} pixels, found {label.shape[2]}x{label.shape[3]}")
        return self.spade_generator(label, z)

    def encode_style(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of the style of ``image`` ([N,3,H,W] in [-1,1])."""
        if self.style_encoder is None:
            raise VidsynthError("this SPADE model has no style encoder (style_dims is not set)")
        return self.style_encoder(image)

    def random_style(self, batch: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """A style code drawn from the prior N(0, I)."""
        if self.config.style_dims is None:
            raise VidsynthError("this SPADE model has no style code (style_dims is not set)")
        return torch.randn(batch, self.config.style_dims, generator=generator)

    @torch.inference_mode()
    def generate(self, label_ids: torch.Tensor, style_image: torch.Tensor | None = None,
                 z: torch.Tensor | None = None, instance_map: torch.Tensor | None = None,
                 edge_map: torch.Tensor | None = None, sample: bool = False,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Integer label maps ([N,H,W]) -> images [N,3,H',W'] in [-1,1].

        Style (multimodal models): ``z`` if given; else the style of ``style_image`` (its mean, or a
        sample from its distribution with ``sample=True``); else a random code from ``generator``.
        """
        label = self.config.label.encode(label_ids, instance_map, edge_map)
        if self.config.style_dims is not None and z is None:
            if style_image is not None:
                mu, logvar = self.encode_style(style_image)
                z = mu + torch.randn(mu.shape, generator=generator) * torch.exp(0.5 * logvar) if sample else mu
            else:
                z = self.random_style(label.shape[0], generator)
        return self(label, z)

    # ---- what it is, and its per-frame call (read by the engine) ---------------------------------
    def describe(self) -> ModelSpec:
        """Label maps in, one picture per frame out; a style code when it has a style encoder."""
        cfg = self.config
        return ModelSpec(kind="image", short_side=cfg.output_size, style=cfg.style_dims is not None, conditions=(
            Condition("label", reads="labels", channels=cfg.label.channels, size_multiple=cfg.size_multiple),))

    def stream_style(self, style_image: torch.Tensor | None = None, examples=None,
                     generator: torch.Generator | None = None, a2b: bool = True) -> torch.Tensor | None:
        """The stream's style code: the mean style of ``style_image``, else a random one (None: no style)."""
        if self.config.style_dims is None:
            return None
        return self.encode_style(style_image)[0] if style_image is not None else self.random_style(1, generator)

    def translate_inputs(self, label_ids: torch.Tensor, style: torch.Tensor | None = None,
                         generator=None) -> dict[str, torch.Tensor]:
        """The named inputs of :meth:`forward` for label ids ``[N, H, W]``."""
        inputs = {"label": self.config.label.encode(label_ids)}
        if style is not None:
            inputs["z"] = style
        return inputs

    def translator(self, a2b: bool = True) -> nn.Module:
        return self
