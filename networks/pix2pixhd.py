"""pix2pixHD: coarse-to-fine label-to-image generator (Wang et al., CVPR 2018).

A global generator (conv down-sampling, residual blocks, nearest up-sampling) optionally refined by
local enhancers at 2x, 4x, ... resolution. With ``feature_channels > 0`` an encoder turns a real
image into instance-wise constant feature maps that are concatenated to the label: at inference
those features come from an image (:meth:`Pix2PixHD.encode_features`) or are sampled per instance
from the stored cluster centres (:meth:`Pix2PixHD.sample_features`), which makes the output
multimodal.

Example:
    >>> import torch
    >>> cfg = Pix2PixHDConfig(label=LabelLayout(num_classes=4, instance_edges=True), num_filters=8,
    ...                       num_downsamples=2, num_res_blocks=1, num_enhancers=0)
    >>> model = Pix2PixHD(cfg).eval()
    >>> ids = torch.randint(0, 4, (1, 32, 32))
    >>> model.generate(ids, instance_map=ids).shape
    torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from vidsynth.errors import VidsynthError

from .labels import LabelLayout
from .layers import ConvBlock, ResBlock, assert_shape, check_size_multiple
from .registry import register_model
from .spec import Condition, ModelSpec

__all__ = ["Pix2PixHDConfig", "Pix2PixHD"]


@dataclass
class Pix2PixHDConfig:
    """pix2pixHD generator hyper-parameters (defaults: imaginaire's)."""

    label: LabelLayout = field(default_factory=lambda: LabelLayout(35, False, True))  # label input layout
    image_channels: int = 3        # output image channels
    num_filters: int = 64          # global generator base width
    num_downsamples: int = 4       # global generator down-samplings
    num_res_blocks: int = 9        # global generator residual blocks
    num_enhancers: int = 1         # local enhancers (each doubles the resolution)
    enhancer_res_blocks: int = 3   # residual blocks per enhancer
    weight_norm: str = ""          # none | spectral | weight
    norm: str = "instance"         # activation normalisation
    norm_params: dict | None = None  # its keyword arguments
    padding_mode: str = "reflect"  # padding of every conv
    feature_channels: int = 0      # encoder feature channels (0: no encoder)
    encoder_filters: int = 64      # encoder base width
    encoder_downsamples: int = 4   # encoder down-samplings
    encoder_norm: str = "instance"  # encoder normalisation
    encoder_weight_norm: str = "none"  # encoder weight norm
    encoder_padding_mode: str = "reflect"  # encoder padding
    num_clusters: int = 10         # feature cluster centres per class (for sampling)

    @property
    def input_channels(self) -> int:
        return self.label.channels + self.feature_channels

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return 2 ** (self.num_downsamples + self.num_enhancers)

    @classmethod
    def from_imaginaire(cls, cfg: Mapping) -> "Pix2PixHDConfig":
        """From a parsed imaginaire YAML (``gen:`` and ``data:``)."""
        from .imaginaire import image_channels, label_channels

        gen, data = cfg["gen"], cfg.get("data", {})
        glob, local = gen.get("global_generator") or {}, gen.get("local_enhancer") or {}
        input_labels = data.get("input_labels") or []
        seg_key = input_labels[0] if input_labels else "seg_maps"
        num_classes = (data.get("one_hot_num_classes") or {}).get(seg_key)
        dont_care = bool(data.get("use_dont_care", False))
        uses_instance = bool(input_labels) and input_labels[-1] == "instance_maps"
        total = label_channels(data)
        if num_classes is None:  # labels are not one-hot: treat the whole input as "classes"
            num_classes, dont_care, uses_instance = total, False, False
        layout = LabelLayout(int(num_classes), dont_care, uses_instance or total > num_classes + dont_care)
        enc = gen.get("enc") or {}
        feat = int(enc.get("num_feat_channels", 0)) if (enc and uses_instance) else 0
        return cls(
            label=layout,
            image_channels=image_channels(data),
            num_filters=glob.get("num_filters", 64),
            num_downsamples=glob.get("num_downsamples", 4),
            num_res_blocks=glob.get("num_res_blocks", 9),
            num_enhancers=local.get("num_enhancers", 1),
            enhancer_res_blocks=local.get("num_res_blocks", 3),
            weight_norm=gen.get("weight_norm_type", ""),
            norm=gen.get("activation_norm_type", "instance"),
            norm_params=gen.get("activation_norm_params"),
            padding_mode=gen.get("padding_mode", "reflect"),
            feature_channels=feat,
            encoder_filters=enc.get("num_filters", 64),
            encoder_downsamples=enc.get("num_downsamples", 4),
            encoder_norm=enc.get("activation_norm_type", "instance"),
            encoder_weight_norm=enc.get("weight_norm_type", "none"),
            encoder_padding_mode=enc.get("padding_mode", "reflect"),
            num_clusters=enc.get("num_clusters", 10),
        )


def _upsample() -> nn.Module:
    return nn.Upsample(scale_factor=2, mode="nearest")


def _hourglass(in_channels: int, out_channels: int, num_filters: int, num_downsamples: int, num_res_blocks: int,
               **conv) -> list[nn.Module]:
    """7x7 conv, stride-2 convs doubling the width, residual blocks, (x2 nearest + 3x3 conv) back up, 7x7 conv
    + tanh: the layers of the global generator and of the feature encoder (``conv``: the hidden blocks')."""
    nf = num_filters
    layers: list[nn.Module] = [ConvBlock(in_channels, nf, 7, padding=3, **conv)]
    for i in range(num_downsamples):
        ch = nf * 2 ** i
        layers.append(ConvBlock(ch, ch * 2, 3, stride=2, padding=1, **conv))
    ch = nf * 2 ** num_downsamples
    layers += [ResBlock(ch, ch, 3, padding=1, order="CNACN", **conv) for _ in range(num_res_blocks)]
    for i in reversed(range(num_downsamples)):
        ch = nf * 2 ** i
        layers += [_upsample(), ConvBlock(ch * 2, ch, 3, padding=1, **conv)]
    layers.append(ConvBlock(nf, out_channels, 7, padding=3, padding_mode=conv["padding_mode"], activation="tanh"))
    return layers


class _GlobalGenerator(nn.Module):
    """Down-sample, residual blocks, up-sample, 7x7 conv + tanh (``model`` is one Sequential)."""

    def __init__(self, cfg: Pix2PixHDConfig):
        super().__init__()
        self.model = nn.Sequential(*_hourglass(
            cfg.input_channels, cfg.image_channels, cfg.num_filters, cfg.num_downsamples, cfg.num_res_blocks,
            padding_mode=cfg.padding_mode, weight_norm=cfg.weight_norm, norm=cfg.norm, norm_params=cfg.norm_params,
            activation="relu"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class _LocalEnhancer(nn.Module):
    """Refines the coarser output with the label at twice its resolution."""

    def __init__(self, cfg: Pix2PixHDConfig, num_filters: int, output_image: bool):
        super().__init__()
        conv = dict(padding_mode=cfg.padding_mode, weight_norm=cfg.weight_norm, norm=cfg.norm,
                    norm_params=cfg.norm_params, activation="relu")
        nf = num_filters
        self.model_downsample = nn.Sequential(
            ConvBlock(cfg.input_channels, nf, 7, padding=3, **conv),
            ConvBlock(nf, nf * 2, 3, stride=2, padding=1, **conv),
        )
        up: list[nn.Module] = [ResBlock(nf * 2, nf * 2, 3, padding=1, order="CNACN", **conv)
                               for _ in range(cfg.enhancer_res_blocks)]
        up += [_upsample(), ConvBlock(nf * 2, nf, 3, padding=1, **conv)]
        if output_image:
            up.append(ConvBlock(nf, cfg.image_channels, 7, padding=3, padding_mode=cfg.padding_mode,
                                activation="tanh"))
        self.model_upsample = nn.Sequential(*up)

    def forward(self, coarse: torch.Tensor, fine_input: torch.Tensor) -> torch.Tensor:
        return self.model_upsample(self.model_downsample(fine_input) + coarse)


class _FeatureEncoder(nn.Module):
    """Image -> per-instance mean features (the multimodal code of pix2pixHD)."""

    def __init__(self, cfg: Pix2PixHDConfig):
        super().__init__()
        self.model = nn.Sequential(*_hourglass(
            cfg.image_channels, cfg.feature_channels, cfg.encoder_filters, cfg.encoder_downsamples, 0,
            padding_mode=cfg.encoder_padding_mode, weight_norm=cfg.encoder_weight_norm, norm=cfg.encoder_norm,
            activation="relu"))
        for i in range(cfg.label.channels):
            self.register_buffer(f"cluster_{i}", torch.zeros(cfg.num_clusters, cfg.feature_channels))

    def forward(self, image: torch.Tensor, instance_map: torch.Tensor) -> torch.Tensor:
        feats = self.model(image)
        return instance_mean(feats, instance_map)


def instance_mean(feats: torch.Tensor, instance_map: torch.Tensor) -> torch.Tensor:
    """Replace each feature by its mean over the pixels of the same instance id (per sample, per channel)."""
    n, c, h, w = feats.shape
    out = torch.empty_like(feats)
    ids = instance_map.reshape(n, -1).long()
    for b in range(n):
        uniq, inverse = torch.unique(ids[b], return_inverse=True)
        flat = feats[b].reshape(c, -1)
        sums = torch.zeros(c, len(uniq), dtype=feats.dtype, device=feats.device).index_add_(1, inverse, flat)
        counts = torch.bincount(inverse, minlength=len(uniq)).to(feats.dtype)
        out[b] = (sums / counts)[:, inverse].reshape(c, h, w)
    return out


@register_model("pix2pixhd", Pix2PixHDConfig)
class Pix2PixHD(nn.Module):
    """The pix2pixHD generator. ``forward(label[, features]) -> image`` in [-1, 1].

    ``label`` is the float label input ([N, label.channels, H, W], see :class:`LabelLayout`);
    H and W must be multiples of ``config.size_multiple``. :meth:`generate` builds it from integer
    label maps and adds encoder features when the model has an encoder.
    """

    def __init__(self, config: Pix2PixHDConfig):
        super().__init__()
        self.config = cfg = config
        glob = _GlobalGenerator(cfg)
        if cfg.num_enhancers == 0:
            self.global_model = glob
        else:  # without its last (image) layer, as a bare Sequential: the enhancers finish the image
            self.global_model = nn.Sequential(*list(glob.model)[:-1])
        for n in range(cfg.num_enhancers):
            setattr(self, f"enhancer_{n}", _LocalEnhancer(cfg, cfg.num_filters // 2 ** (n + 1),
                                                          n == cfg.num_enhancers - 1))
        self.encoder = _FeatureEncoder(cfg) if cfg.feature_channels > 0 else None

    def forward(self, label: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        assert_shape(label, [None, cfg.label.channels, None, None], "label")
        if cfg.feature_channels:
            if features is None:
                raise VidsynthError("this pix2pixHD model has a feature encoder: pass features "
                                    "(encode_features(image, instance_map) or sample_features(...))")
            label = torch.cat((label, features), dim=1)
        check_size_multiple(label, cfg.size_multiple, "pix2pixHD", "labels")
        pyramid = [label]
        for _ in range(cfg.num_enhancers):
            pyramid.append(F.avg_pool2d(pyramid[-1], 3, stride=2, padding=1, count_include_pad=False))
        x = self.global_model(pyramid[-1])
        for n in range(cfg.num_enhancers):
            x = getattr(self, f"enhancer_{n}")(x, pyramid[cfg.num_enhancers - n - 1])
        return x

    def encode_features(self, image: torch.Tensor, instance_map: torch.Tensor) -> torch.Tensor:
        """Instance-wise features from a real image ([N,3,H,W] in [-1,1]) for :meth:`forward`."""
        if self.encoder is None:
            raise VidsynthError("this pix2pixHD model has no feature encoder (feature_channels is 0)")
        return self.encoder(image, instance_map)

    def sample_features(self, label_ids: torch.Tensor, instance_map: torch.Tensor,
                        generator: torch.Generator | None = None) -> torch.Tensor:
        """Random instance-wise features: each instance gets a random cluster centre of its class."""
        if self.encoder is None:
            raise VidsynthError("this pix2pixHD model has no feature encoder (feature_channels is 0)")
        ids = label_ids.reshape(label_ids.shape[0], -1).long()
        inst = instance_map.reshape(ids.shape).long()
        n, hw = ids.shape
        out = torch.zeros(n, self.config.feature_channels, hw)
        for b in range(n):
            for inst_id in torch.unique(inst[b]).tolist():
                where = inst[b] == inst_id
                cls_id = int(torch.mode(ids[b][where]).values)
                centres = getattr(self.encoder, f"cluster_{cls_id}", None)
                if centres is None:
                    continue
                pick = int(torch.randint(len(centres), (1,), generator=generator))
                out[b][:, where] = centres[pick].unsqueeze(1)
        return out.reshape(n, -1, *label_ids.shape[-2:])

    @torch.inference_mode()
    def generate(self, label_ids: torch.Tensor, instance_map: torch.Tensor | None = None,
                 style_image: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Integer label maps ([N,H,W]) -> images [N,3,H,W] in [-1,1].

        With a feature encoder the style comes from ``style_image`` (encoded per instance) or, without
        one, from randomly chosen cluster centres (seeded by ``generator``).
        """
        label = self.config.label.encode(label_ids, instance_map)
        features = None
        if self.encoder is not None:
            inst = instance_map if instance_map is not None else label_ids
            features = (self.encode_features(style_image, inst.reshape(label.shape[0], 1, *label.shape[2:]))
                        if style_image is not None else self.sample_features(label_ids, inst, generator))
        return self(label, features)

    # ---- what it is, and its per-frame call (read by the engine) ---------------------------------
    def describe(self) -> ModelSpec:
        """Label maps in, one picture per frame out; random instance features when it has an encoder."""
        cfg = self.config
        return ModelSpec(kind="image", short_side=256, conditions=(
            Condition("label", reads="labels", channels=cfg.label.channels, size_multiple=cfg.size_multiple),))

    def stream_style(self, style_image=None, examples=None, generator=None, a2b=True) -> None:
        """No code is fixed for a stream: the features are drawn per frame from the label map."""
        return None

    def translate_inputs(self, label_ids: torch.Tensor, style=None,
                         generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The named inputs of :meth:`forward` for label ids ``[N, H, W]`` (features from ``generator``)."""
        inputs = {"label": self.config.label.encode(label_ids)}
        if self.encoder is not None:
            inputs["features"] = self.sample_features(label_ids, label_ids, generator)
        return inputs

    def translator(self, a2b: bool = True) -> nn.Module:
        return self
