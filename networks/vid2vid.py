"""vid2vid (Wang et al., NeurIPS 2018) as in imaginaire: a SPADE generator driven by the previous frames.

Frame 0 is generated from the label alone (a coarse map of the label, or a learned constant for pose
models, up-sampled through SPADE residual blocks). Every later frame encodes the previous generated
frame with SPADE blocks conditioned on the previous label, then decodes with the current label.
Once ``num_frames_G - 1`` previous frames exist, a flow head predicts the flow from the last
previous frame to the current one and an occlusion mask; the warped frame and the mask are embedded
and added as a second SPADE input in the last ``multi_spade_layers`` up blocks.

Streaming use is a step function whose state is two named tensors, the last ``num_frames_G - 1``
labels and outputs (see :mod:`vidsynth.networks.video_state`):

>>> import torch
>>> cfg = Vid2VidConfig.tiny(label_channels=4, output_size=(32, 64))
>>> model = Vid2VidGenerator(cfg).eval()
>>> state = model.initial_state()
>>> for t in range(3):
...     out, state = model.step({"label": torch.rand(1, 4, 32, 64)}, state)
>>> out["image"].shape, out["flow"].shape, state["prev_images"].shape
(torch.Size([1, 3, 32, 64]), torch.Size([1, 2, 32, 64]), torch.Size([1, 2, 3, 32, 64]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from vidsynth.errors import VidsynthError

from .flow import FlowNetConfig, TemporalFlowHead, warp
from .layers import ConvBlock, LinearBlock, ResBlock, resize_nearest
from .registry import register_model
from .spec import Condition, ModelSpec
from .video_layers import LabelEmbedder
from .video_state import TensorDict, empty_history, model_device_dtype, push_frame

__all__ = [
    "EmbedConfig", "PoseLabelConfig", "Vid2VidConfig", "Vid2VidGenerator", "FedBack",
    "valid_pose_labels", "push_frame", "VideoDiscriminatorConfig", "VideoDiscriminator", "skipped_frames",
]


@dataclass
class EmbedConfig:
    """A label / warped-image embedding network (imaginaire's ``embed`` sections)."""

    num_filters: int = 32             # channels at full resolution
    max_num_filters: int = 1024       # channel cap
    num_downsamples: int = 5          # stride-2 convs
    kernel_size: int = 3              # conv kernel
    weight_norm: str = "spectral"     # weight norm (training only)
    norm: str = "none"                # normalisation of the convs
    arch: str = "encoderdecoder"      # encoder | encoderdecoder | unet

    def build(self, in_channels: int, num_hyper_layers: int = 0) -> LabelEmbedder:
        return LabelEmbedder(in_channels, self.num_filters, self.max_num_filters, self.num_downsamples,
                             self.kernel_size, self.weight_norm, self.norm, self.arch, num_hyper_layers)


@dataclass
class PoseLabelConfig:
    """How pose labels are filtered before use (imaginaire's ``data.for_pose_dataset``).

    ``pose_type='open'`` drops the 3 DensePose channels in front; ``remove_face_labels`` paints the
    DensePose face parts (ids 23, 24) as background (-1) in the current and previous labels.
    """

    pose_type: str = "both"           # both | open
    remove_face_labels: bool = False  # hide DensePose face parts


def valid_pose_labels(labels: torch.Tensor | None, cfg: PoseLabelConfig | None,
                      remove_face: bool = True) -> torch.Tensor | None:
    """Apply :class:`PoseLabelConfig` to labels [..., C, H, W] (C includes 3 DensePose channels first)."""
    if labels is None or cfg is None:
        return labels
    if cfg.pose_type == "open":
        return labels[..., 3:, :, :]
    if cfg.remove_face_labels and remove_face:
        dense, rest = labels[..., :3, :, :], labels[..., 3:, :, :]
        part = (dense[..., 2:3, :, :] / 2 + 0.5) * 24
        face = (((part > 22.9) & (part < 23.1)) | ((part > 23.9) & (part < 24.1))).to(labels.dtype)
        return torch.cat([dense * (1 - face) - face, rest], dim=-3)
    return labels


# What a step does to a generated frame before the next frames see it (the trainer adds noise here).
FedBack = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Vid2VidConfig:
    """vid2vid generator (street: label maps; pose: drawn OpenPose/DensePose maps).

    Defaults are imaginaire's Cityscapes project config at 512x1024.
    """

    label_channels: int = 35           # channels of the input label map
    image_channels: int = 3            # channels of the output image
    output_size: tuple[int, int] = (512, 1024)  # (H, W) the model was trained at; fixes the bottleneck size
    num_frames_G: int = 3              # frames the generator sees (current + num_frames_G - 1 previous)
    num_layers: int = 7                # up blocks after the bottleneck (the bottleneck is H / 2**num_layers)
    num_downsamples_img: int = 4       # down blocks that encode the previous frame
    num_filters: int = 32              # channels at full resolution
    max_num_filters: int = 1024        # channel cap
    kernel_size: int = 3               # conv kernel
    weight_norm: str = "spectral"      # weight norm of the main branch (training only)
    spade_norm: str = "instance"       # SPADE's parameter-free normalisation
    spade_hidden: Any = 0              # SPADE hidden channels (int, or one per conditional input)
    spade_kernel_size: int = 1         # SPADE modulation conv kernel
    style_dims: int = 256              # length of the (all-zero) code a pose model starts from
    use_segmap_as_input: bool = True   # frame 0 starts from the label map (street) instead of a code (pose)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    flow: FlowNetConfig = field(default_factory=lambda: FlowNetConfig(num_downsamples=5, flow_multiplier=40))
    spade_combine: bool = True         # warped frame enters as SPADE input (else a mask blend)
    multi_spade_layers: int = 3        # how many of the last up blocks see the warped frame
    warp_embed: EmbedConfig = field(default_factory=lambda: EmbedConfig(arch="unet"))
    pose: PoseLabelConfig | None = None  # set for pose models

    @classmethod
    def from_imaginaire(cls, cfg: dict) -> "Vid2VidConfig":
        """Our config from an imaginaire YAML (as a dict) of ``imaginaire.generators.vid2vid``."""
        return cls(**vid2vid_fields_from_imaginaire(cfg))

    @classmethod
    def tiny(cls, **kw: Any) -> "Vid2VidConfig":
        """A few-channel config for tests (32x64 by default)."""
        small = dict(output_size=(32, 64), num_layers=4, num_downsamples_img=2, num_filters=4, max_num_filters=16,
                     embed=EmbedConfig(num_filters=4, max_num_filters=16, num_downsamples=2),
                     flow=FlowNetConfig(num_filters=4, max_num_filters=16, num_downsamples=2, num_res_blocks=1,
                                        flow_multiplier=10),
                     multi_spade_layers=2, warp_embed=EmbedConfig(num_filters=4, num_downsamples=2, arch="unet"))
        small.update(kw)
        return cls(**small)

    def channels(self, level: int) -> int:
        return min(self.max_num_filters, self.num_filters * 2 ** level)

    def cond_dims(self, level: int) -> list[int]:
        """Channels of the SPADE inputs of a block at ``level`` (label embedding, then warped frame)."""
        j = min(level, self.embed.num_downsamples)
        ch = [min(self.max_num_filters, self.embed.num_filters * 2 ** j)]
        return ch * 2 if j < self.multi_spade_layers and self.spade_combine else ch

    @property
    def num_res_blocks(self) -> int:
        return int(math.ceil((self.num_layers - self.num_downsamples_img) / 2.0) * 2)

    @property
    def bottleneck_size(self) -> tuple[int, int]:
        h, w = self.output_size
        return h // 2 ** self.num_layers, w // 2 ** self.num_layers


def _check_embedding_widths(cfg: "Vid2VidConfig") -> None:
    """The SPADE blocks are sized for the label embedding's widths (and the warped-frame embedding's, which
    must match them): say which numbers disagree instead of failing in a convolution mid-run."""
    def width(emb: EmbedConfig, level: int) -> int:
        return min(emb.max_num_filters, emb.num_filters * 2 ** min(level, emb.num_downsamples))

    for level in range(cfg.num_layers + 1):
        expected = cfg.cond_dims(level)[0]
        found = {"embed": width(cfg.embed, level)}
        if cfg.spade_combine and min(level, cfg.embed.num_downsamples) < cfg.multi_spade_layers:
            found["warp_embed"] = width(cfg.warp_embed, level)
        bad = {k: v for k, v in found.items() if v != expected}
        if bad:
            raise VidsynthError(
                f"vid2vid generator: at level {level} the SPADE blocks expect {expected}-channel conditions "
                f"(min(generator max_num_filters {cfg.max_num_filters}, embed num_filters {cfg.embed.num_filters} "
                f"x 2^level)), but " + ", ".join(f"{k} gives {v}" for k, v in bad.items())
                + "; give embed and warp_embed the same num_filters and max_num_filters (at most the generator's)")


# what step() returns per frame
VIDEO_OUTPUTS = ("image", "flow", "occlusion_mask", "warped_image")


@register_model("vid2vid", Vid2VidConfig)
class Vid2VidGenerator(nn.Module):
    """vid2vid generator. ``forward`` is one imaginaire-style call; ``step`` is the streaming form."""

    def __init__(self, cfg: Vid2VidConfig):
        super().__init__()
        _check_embedding_widths(cfg)
        self.config = cfg
        k, pad = cfg.kernel_size, cfg.kernel_size // 2
        self.label_embedding = cfg.embed.build(cfg.label_channels)
        for i in range(cfg.num_layers, -1, -1):
            setattr(self, f"up_{i}", self._spade_block(cfg.channels(i + 1), cfg.channels(i), i))
        self.conv_img = ConvBlock(cfg.num_filters, cfg.image_channels, k, padding=pad, activation="leakyrelu",
                                  order="AC")
        bottom = cfg.channels(cfg.num_layers + 1)
        sh, sw = cfg.bottleneck_size
        if cfg.use_segmap_as_input:
            self.fc = ConvBlock(cfg.label_channels, bottom, 3, padding=1)
        else:
            self.fc = LinearBlock(cfg.style_dims, bottom * sh * sw)
        # Temporal part: encoder of the previous frame, residual blocks, flow head, warp embedding.
        self.down_first = ConvBlock(cfg.image_channels, cfg.num_filters, k, padding=pad)
        for i in range(cfg.num_downsamples_img + 1):
            setattr(self, f"down_{i}", self._spade_block(cfg.channels(i), cfg.channels(i + 1), i))
        res_ch = cfg.channels(cfg.num_downsamples_img + 1)
        for i in range(cfg.num_res_blocks):
            setattr(self, f"res_{i}", self._spade_block(res_ch, res_ch, cfg.num_downsamples_img + 1))
        self.flow_network_temp = TemporalFlowHead(cfg.flow, cfg.label_channels, cfg.image_channels, cfg.num_frames_G)
        if cfg.spade_combine:
            self.img_prev_embedding = cfg.warp_embed.build(cfg.image_channels + 1)

    def _spade_cond_dims(self, level: int) -> list[int]:
        return self.config.cond_dims(level)

    def _spade_block(self, in_ch: int, out_ch: int, level: int) -> ResBlock:
        cfg = self.config
        params = dict(cond_dims=self._spade_cond_dims(level), num_filters=cfg.spade_hidden,
                      kernel_size=cfg.spade_kernel_size, norm=cfg.spade_norm)
        return ResBlock(in_ch, out_ch, cfg.kernel_size, padding=cfg.kernel_size // 2, weight_norm=cfg.weight_norm,
                        norm="spatially_adaptive", norm_params=params, activation="leakyrelu", order="NACNAC")

    # ---- one frame -------------------------------------------------------------------------------
    def _check_label(self, label: torch.Tensor) -> None:
        cfg = self.config
        if label.dim() != 4 or label.shape[1] != cfg.label_channels:
            raise ValueError(f"label: expected [N, {cfg.label_channels}, H, W], found {list(label.shape)}")
        h, w = label.shape[2:]
        unit = 2 ** cfg.num_layers
        if not cfg.use_segmap_as_input and (h, w) != tuple(cfg.output_size):
            raise VidsynthError(f"this vid2vid pose model runs at {cfg.output_size[0]}x{cfg.output_size[1]} only, "
                                f"found {h}x{w}; fit the frames to the model size first")
        if h % unit or w % unit:
            raise VidsynthError(f"vid2vid needs frames whose sides are multiples of {unit}, found {h}x{w}; "
                                f"fit the frames to the model size ({cfg.output_size[0]}x{cfg.output_size[1]})")

    def extra_repr(self) -> str:
        cfg = self.config
        return (f"labels={cfg.label_channels}, size={cfg.output_size[0]}x{cfg.output_size[1]}, "
                f"num_frames_G={cfg.num_frames_G}, filters={cfg.num_filters}..{cfg.max_num_filters}")

    def describe(self) -> ModelSpec:
        """What the engine reads: a label map (street) or a drawn pose per frame, one step per frame."""
        return ModelSpec(kind="video", conditions=(self._label_condition(),), outputs=VIDEO_OUTPUTS)

    def _label_condition(self) -> Condition:
        cfg = self.config
        # street models start frame 0 from the label map; pose models from a code (and may filter poses);
        # one channel is a face edge map (a label map of one class would say nothing), as in fs-vid2vid
        pose = cfg.pose is not None or not cfg.use_segmap_as_input
        reads = "pose" if pose else "face" if cfg.label_channels == 1 else "labels"
        return Condition("label", reads=reads, channels=cfg.label_channels,
                         size=tuple(cfg.output_size),
                         also_reads=("person_mask",) if pose and cfg.label_channels == 30 else ())

    def _first_frame_features(self, label: torch.Tensor, cond_now: list[torch.Tensor]) -> torch.Tensor:
        cfg = self.config
        sh, sw = cfg.bottleneck_size
        if cfg.use_segmap_as_input:
            x = self.fc(resize_nearest(label, (sh, sw)))
        else:
            # imaginaire starts pose models from an all-zero code, so only the fc bias matters.
            z = label.new_zeros(label.shape[0], cfg.style_dims)
            x = self.fc(z).view(label.shape[0], -1, sh, sw)
        for i in range(cfg.num_layers, cfg.num_downsamples_img, -1):
            x = getattr(self, f"up_{i}")(x, cond_now[min(cfg.embed.num_downsamples, i)])
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def _encode_previous(self, prev_image: torch.Tensor, prev_label: torch.Tensor,
                         cond_now: list[torch.Tensor]) -> torch.Tensor:
        cfg = self.config
        nde = cfg.embed.num_downsamples
        cond_prev = self.label_embedding(prev_label)
        x = self.down_first(prev_image)
        for i in range(cfg.num_downsamples_img + 1):
            x = getattr(self, f"down_{i}")(x, cond_prev[min(nde, i)])
            if i != cfg.num_downsamples_img:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1)
        j = min(nde, cfg.num_downsamples_img + 1)
        for i in range(cfg.num_res_blocks):
            x = getattr(self, f"res_{i}")(x, cond_prev[j] if i < cfg.num_res_blocks // 2 else cond_now[j])
        return x

    def _extra_cond(self, level: int, warp_prev: bool, cond_img: list[torch.Tensor] | None,
                    guidance: torch.Tensor | None) -> list[torch.Tensor]:
        """Extra SPADE inputs of main-branch block ``level`` (wc-vid2vid adds guidance here)."""
        if warp_prev and level < self.config.multi_spade_layers and cond_img is not None:
            return [cond_img[min(level, self.config.embed.num_downsamples)]]
        return []

    def forward(self, label: torch.Tensor, prev_labels: torch.Tensor | None = None,
                prev_images: torch.Tensor | None = None, guidance: torch.Tensor | None = None) -> dict[str, Any]:
        """One frame: ``label`` [N,C,H,W], ``prev_labels`` [N,t,C,H,W] and ``prev_images`` [N,t,3,H,W] or None.

        Returns ``image`` [N,3,H,W] in [-1, 1], and ``flow``, ``occlusion_mask``, ``warped_image``
        (None until ``num_frames_G - 1`` previous frames are given).
        """
        cfg = self.config
        self._check_label(label)
        n, _, h, w = label.shape
        first = prev_images is None
        label = valid_pose_labels(label, cfg.pose)
        prev_labels = valid_pose_labels(prev_labels, cfg.pose)
        cond_now = self.label_embedding(label)
        if first:
            x = self._first_frame_features(label, cond_now)
        else:
            x = self._encode_previous(prev_images[:, -1], prev_labels[:, -1], cond_now)

        flow = mask = warped = cond_img = None
        warp_prev = not first and prev_labels.shape[1] == cfg.num_frames_G - 1
        if warp_prev:
            flow, mask = self.flow_network_temp(torch.cat([prev_labels.reshape(n, -1, h, w), label], dim=1),
                                                prev_images.reshape(n, -1, h, w))
            warped = warp(prev_images[:, -1], flow)
            if cfg.spade_combine:
                cond_img = self.img_prev_embedding(torch.cat([warped, mask], dim=1))

        for i in range(cfg.num_downsamples_img, -1, -1):
            cond = [cond_now[min(i, cfg.embed.num_downsamples)]]
            cond += self._extra_cond(i, warp_prev, cond_img, guidance)
            x = getattr(self, f"up_{i}")(x, *cond)
            if i != 0:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        image = torch.tanh(self.conv_img(x))
        if warp_prev and not cfg.spade_combine:
            image = image * mask + warped * (1 - mask)
        return {"image": image, "flow": flow, "occlusion_mask": mask, "warped_image": warped}

    # ---- streaming -------------------------------------------------------------------------------
    def conditions_spec(self) -> dict[str, tuple]:
        """What ``step`` takes per frame: name -> shape ([N, ...], N any), for the generator stage."""
        h, w = self.config.output_size
        return {"label": (self.config.label_channels, h, w)}

    def initial_state(self, batch_size: int = 1) -> TensorDict:
        """The state at the start of a stream (and after a discontinuity): no previous frames yet.

        ``prev_labels`` [N, 0, C, H, W] and ``prev_images`` [N, 0, 3, H, W] on the model's device; the
        first step replaces them, whatever their batch and size.
        """
        cfg = self.config
        device, dtype = model_device_dtype(self)
        return {"prev_labels": empty_history(batch_size, cfg.label_channels, cfg.output_size, device, dtype),
                "prev_images": empty_history(batch_size, cfg.image_channels, cfg.output_size, device, dtype)}

    def reset(self, state: TensorDict | None = None) -> TensorDict:
        """A fresh state; call on a scene cut, seek or new stream."""
        return self.initial_state()

    def step(self, conditions: dict[str, torch.Tensor] | torch.Tensor, state: TensorDict | None = None, *,
             fed_back: FedBack | None = None, detach: bool = True) -> tuple[TensorDict, TensorDict]:
        """Generate one frame from ``conditions['label']`` [N,C,H,W] and advance the state.

        Returns the outputs that exist for this frame (``image``; ``flow``, ``occlusion_mask`` and
        ``warped_image`` once ``num_frames_G - 1`` previous frames are held) and the next state. The
        label must be at the model's size (``cfg.output_size``); fitting other sizes is the generator
        stage's job. Training hooks: the generated frame is kept detached from the graph (``detach``)
        and passed through ``fed_back`` before later frames see it.
        """
        state = state if state is not None else self.initial_state()
        conditions = conditions if isinstance(conditions, dict) else {"label": conditions}
        out = self._frame(conditions, state)
        outputs = {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}
        return outputs, self._advance(state, conditions["label"], out["image"], fed_back, detach)

    @staticmethod
    def _previous(state: TensorDict) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The previous labels and frames for ``forward`` (None at a stream's start: a static shape test)."""
        if state["prev_images"].shape[1] == 0:
            return None, None
        return state["prev_labels"], state["prev_images"]

    def _frame(self, conditions: dict[str, torch.Tensor], state: TensorDict) -> dict[str, Any]:
        """One frame's forward from the conditions and the state (wc-vid2vid adds guidance)."""
        return self(conditions["label"], *self._previous(state))

    def _advance(self, state: TensorDict, label: torch.Tensor, image: torch.Tensor, fed_back: FedBack | None,
                 detach: bool) -> TensorDict:
        keep = self.config.num_frames_G - 1
        image = image.detach() if detach else image
        if fed_back is not None:
            image = fed_back(image)
        return {**state, "prev_labels": push_frame(state["prev_labels"], label, keep),
                "prev_images": push_frame(state["prev_images"], image, keep)}


def _get(d: dict | None, key: str, default: Any) -> Any:
    if not d:
        return default
    value = d.get(key, default)
    return default if value is None else value


def output_size_from_imaginaire(data: dict) -> tuple[int, int]:
    """(H, W) of imaginaire's validation crop / resize, which fixes vid2vid's bottleneck size."""
    aug = _get(_get(data, "val", {}), "augmentations", {})
    for key in ("center_crop_h_w", "resize_h_w"):
        if key in aug:
            h, w = str(aug[key]).split(",")
            return int(h), int(w)
    if "output_h_w" in data:
        h, w = str(data["output_h_w"]).split(",")
        return int(h), int(w)
    raise VidsynthError("the imaginaire config gives no output size (data.val.augmentations.resize_h_w or "
                        "center_crop_h_w); add one")


def embed_from_imaginaire(emb: dict | None, default_arch: str = "encoderdecoder") -> EmbedConfig:
    return EmbedConfig(num_filters=_get(emb, "num_filters", 32), max_num_filters=_get(emb, "max_num_filters", 1024),
                       num_downsamples=_get(emb, "num_downsamples", 5), kernel_size=_get(emb, "kernel_size", 3),
                       weight_norm=_get(emb, "weight_norm_type", "spectral"),
                       norm=_get(emb, "activation_norm_type", "none"), arch=_get(emb, "arch", default_arch))


def pose_from_imaginaire(data: dict) -> PoseLabelConfig | None:
    pose = data.get("for_pose_dataset")
    if pose is None:
        return None
    return PoseLabelConfig(pose_type=_get(pose, "pose_type", "both"),
                           remove_face_labels=bool(_get(pose, "remove_face_labels", False)))


def vid2vid_fields_from_imaginaire(cfg: dict) -> dict[str, Any]:
    """Field values of :class:`Vid2VidConfig` from an imaginaire config dict (shared with wc-vid2vid)."""
    from .imaginaire import image_channels, label_channels

    gen, data = cfg["gen"], cfg["data"]
    flow = _get(gen, "flow", {})
    norm_params = _get(gen, "activation_norm_params", {})
    msc = _get(flow, "multi_spade_combine", None)
    return dict(
        label_channels=label_channels(data), image_channels=image_channels(data),
        output_size=output_size_from_imaginaire(data), num_frames_G=_get(data, "num_frames_G", 3),
        num_layers=_get(gen, "num_layers", 7), num_downsamples_img=_get(gen, "num_downsamples_img", 4),
        num_filters=_get(gen, "num_filters", 32), max_num_filters=_get(gen, "max_num_filters", 1024),
        kernel_size=_get(gen, "kernel_size", 3), weight_norm=_get(gen, "weight_norm_type", "spectral"),
        spade_norm=_get(norm_params, "activation_norm_type", "sync_batch"),
        spade_hidden=_get(norm_params, "num_filters", 0), spade_kernel_size=_get(norm_params, "kernel_size", 3),
        style_dims=_get(gen, "style_dims", 256), use_segmap_as_input=bool(_get(gen, "use_segmap_as_input", False)),
        embed=embed_from_imaginaire(_get(gen, "embed", {})),
        flow=FlowNetConfig(num_filters=_get(flow, "num_filters", 32), max_num_filters=_get(flow, "max_num_filters", 1024),
                           num_downsamples=_get(flow, "num_downsamples", 5),
                           num_res_blocks=_get(flow, "num_res_blocks", 6), kernel_size=_get(flow, "kernel_size", 3),
                           norm=_get(flow, "activation_norm_type", "sync_batch"),
                           weight_norm=_get(flow, "weight_norm_type", "spectral"),
                           flow_multiplier=_get(flow, "flow_output_multiplier", 20)),
        spade_combine=bool(msc) if "multi_spade_combine" in flow else True,
        multi_spade_layers=_get(msc, "num_layers", 3) if isinstance(msc, dict) else 3,
        warp_embed=embed_from_imaginaire(_get(msc, "embed", {}) if isinstance(msc, dict) else {}, "unet"),
        pose=pose_from_imaginaire(data),
    )


# ---------------------------------------------------------------------------------------------------------
# Discriminators (training only)


@dataclass
class VideoDiscriminatorConfig:
    """The video discriminators of vid2vid / few-shot vid2vid / wc-vid2vid (imaginaire's ``fs_vid2vid`` D).

    ``image``: a multi-scale PatchGAN on [label, image] (few-shot: also the reference label and image).
    ``temporal``: PatchGANs on ``num_frames_D`` consecutive frames stacked along channels, at
    ``temporal_scales`` frame rates (every 1st, ``num_frames_D``-th, ``num_frames_D**2``-th frame ...).
    """

    label_channels: int = 35           # label channels
    image_channels: int = 3            # image channels
    num_frames_D: int = 3              # frames per temporal discriminator input
    few_shot: bool = False             # condition the image D on the reference too
    image: Any = None                  # MultiScalePatchConfig of the image D (input channels are set here)
    temporal: Any = None               # MultiScalePatchConfig of the temporal Ds, or None
    temporal_scales: int = 0           # how many temporal Ds


def skipped_frames(history: torch.Tensor | None, frame: torch.Tensor, scales: int,
                   frames_d: int) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """Append ``frame`` [N,C,H,W] to ``history`` [N,T,C,H,W]; return (new history, per-scale clips).

    Scale ``s`` takes ``frames_d`` frames ``frames_d**s`` apart, ending with the newest; None until
    enough frames exist. The history keeps only what the coarsest scale needs.
    """
    history = frame.unsqueeze(1) if history is None else torch.cat([history.detach(), frame.unsqueeze(1)], 1)
    clips: list[torch.Tensor | None] = [None] * scales
    for s in range(scales):
        step = frames_d ** s
        span = step * (frames_d - 1)
        if history.shape[1] > span:
            clips[s] = history[:, -(span + 1)::step].contiguous()
    keep = frames_d ** max(scales - 1, 0) * (frames_d - 1)
    if scales and history.shape[1] > keep:
        history = history[:, -keep:]
    return history, clips


class VideoDiscriminator(nn.Module):
    """Image and temporal discriminators for the video generators.

    ``forward(label, real, fake, history=(None, None), ref_label=None, ref_image=None)`` returns
    ``(outputs, history)``: ``outputs['image']`` and ``outputs['temporal_<s>']`` are
    ``(real scores, fake scores)`` pairs of ``(score maps per scale, features per scale)``; carry
    ``history`` (past real and fake frames) from one training frame to the next.

    >>> from vidsynth.networks.discriminators import MultiScalePatchConfig
    >>> patch = MultiScalePatchConfig(num_filters=4, num_layers=2, norm="instance")
    >>> d = VideoDiscriminator(VideoDiscriminatorConfig(label_channels=2, image=patch, temporal=patch,
    ...                                                 temporal_scales=1, num_frames_D=2))
    >>> hist = (None, None)
    >>> for _ in range(2):
    ...     out, hist = d(torch.rand(1, 2, 32, 32), torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), hist)
    >>> sorted(out)
    ['image', 'temporal_0']
    """

    def __init__(self, cfg: VideoDiscriminatorConfig):
        super().__init__()
        from .discriminators import MultiScalePatchConfig, MultiScalePatchDiscriminator

        self.config = cfg
        image_in = cfg.label_channels + cfg.image_channels
        image_cfg = replace(cfg.image or MultiScalePatchConfig(), input_channels=image_in * (2 if cfg.few_shot else 1))
        self.net_D = MultiScalePatchDiscriminator(image_cfg)
        for s in range(cfg.temporal_scales):
            t_cfg = replace(cfg.temporal or MultiScalePatchConfig(), input_channels=cfg.image_channels * cfg.num_frames_D)
            setattr(self, f"net_DT{s}", MultiScalePatchDiscriminator(t_cfg))

    def forward(self, label, real, fake, history=(None, None), ref_label=None, ref_image=None):
        cfg = self.config
        if cfg.few_shot:
            label = torch.cat([label, ref_label, ref_image], dim=1)
        outputs = {"image": (self.net_D(torch.cat([label, real], 1)), self.net_D(torch.cat([label, fake], 1)))}
        real_hist, real_clips = skipped_frames(history[0], real, cfg.temporal_scales, cfg.num_frames_D)
        fake_hist, fake_clips = skipped_frames(history[1], fake, cfg.temporal_scales, cfg.num_frames_D)
        for s in range(cfg.temporal_scales):
            if real_clips[s] is None:
                continue
            net = getattr(self, f"net_DT{s}")
            h, w = real.shape[-2:]
            outputs[f"temporal_{s}"] = (net(real_clips[s].reshape(-1, cfg.image_channels * cfg.num_frames_D, h, w)),
                                        net(fake_clips[s].reshape(-1, cfg.image_channels * cfg.num_frames_D, h, w)))
        return outputs, (real_hist, fake_hist)
