"""Few-shot vid2vid (Wang et al., NeurIPS 2019) as in imaginaire: vid2vid for an unseen subject.

A weight-generation network encodes one or a few reference images (and their labels) of the target
person or face and generates part of the generator's weights from them: the first SPADE modulation
conv of the first ``num_hyper_layers`` up blocks and the last convs of the label-embedding decoder.
The reference encoding is also the decoder's input. A flow head warps the reference image to the
current pose on every frame, another (by default the same module) warps the previous output; both
warped images enter as extra SPADE inputs in the last ``multi_spade_layers`` up blocks.

Streaming: the state is a fixed set of named tensors (:mod:`vidsynth.networks.video_state`). With one
reference (K=1) everything that depends on the references only (the encoding and the generated
weights) is computed once per stream by :meth:`FewShotVid2VidGenerator.encode_references` and kept in
the state (``ref_images``, ``ref_labels``, ``ref_features`` and the generated ``weights.*``); with
several references the attention over them depends on the current label, so that part runs per frame
(as imaginaire does), and only the per-reference features and the attention keys are kept
(``ref_image_features``, ``ref_label_features``, ``attention_keys``). The previous labels and frames
follow as in vid2vid.

>>> import torch
>>> cfg = FewShotVid2VidConfig.tiny(label_channels=1)
>>> model = FewShotVid2VidGenerator(cfg).eval()
>>> refs = model.encode_references(torch.rand(1, 1, 3, 64, 64), torch.rand(1, 1, 1, 64, 64))
>>> state = model.initial_state(refs)
>>> for t in range(2):
...     out, state = model.step({"label": torch.rand(1, 1, 64, 64)}, state)
>>> out["image"].shape, out["flow"].shape, out["reference_flow"].shape
(torch.Size([1, 3, 64, 64]), torch.Size([1, 2, 64, 64]), torch.Size([1, 2, 64, 64]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vidsynth.errors import VidsynthError

from .flow import FlowNetConfig, PairFlowHead, warp
from .layers import ConvBlock, LinearBlock
from .registry import register_model
from .spec import Condition, ModelSpec
from .vid2vid import (VIDEO_OUTPUTS, EmbedConfig, FedBack, PoseLabelConfig, _get, embed_from_imaginaire,
                      output_size_from_imaginaire, pose_from_imaginaire, valid_pose_labels)
from .video_layers import HyperResBlock
from .video_state import TensorDict, empty_history, push_frame

__all__ = ["HyperConfig", "FewShotVid2VidConfig", "GeneratedWeights", "FewShotVid2VidGenerator", "WeightGenerator",
           "ReferenceAttention"]


@dataclass
class HyperConfig:
    """The weight-generation network (imaginaire's ``gen.hyper``)."""

    hyper_spade: bool = True           # generate the first SPADE modulation conv of the hyper layers
    hyper_embed: bool = True           # generate the label-embedding decoder's last convs
    hyper_conv: bool = False           # generate the main branch convs
    num_hyper_layers: int = 4          # how many of the finest up blocks are generated (-1: all)
    kernel_size: int = 3               # kernel of the reference encoder's convs
    num_fc_layers: int = 2             # linear layers per generated weight
    norm: str = "instance"             # normalisation of the reference encoder
    weight_norm: str = "spectral"      # weight norm of the reference encoder (training only)
    ref_label_mode: str = "mul"        # how reference labels are used: mul | concat | none
    attention_filters: int = 32        # channels of the attention encoders (several references)
    attention_downsamples: int = 2     # where the references are combined (after this many downsamples)
    block_order: str = "NAC"           # order of each half of the main branch's residual blocks


@dataclass
class FewShotVid2VidConfig:
    """Few-shot vid2vid generator (face: dlib-68 edge maps; pose: DensePose + OpenPose maps).

    Defaults are imaginaire's FaceForensics project config.
    """

    label_channels: int = 1            # channels of the label map (pose: 3 DensePose + 3 OpenPose)
    image_channels: int = 3            # channels of images
    output_size: tuple[int, int] = (512, 512)  # (H, W) the model was trained at
    num_frames_G: int = 2              # frames the generator sees (current + previous)
    few_shot_K: int = 1                # references the model was built for (>1 adds the attention module)
    num_downsamples: int = 5           # resolution levels of the main branch
    num_filters: int = 32              # channels at full resolution
    max_num_filters: int = 1024        # channel cap (also capped at num_filters * 2**num_downsamples)
    kernel_size: int = 3               # main branch kernel
    weight_norm: str = "spectral"      # main branch weight norm (training only)
    spade_norm: str = "instance"       # SPADE's parameter-free normalisation
    spade_kernel_size: int = 1         # SPADE modulation kernel
    hyper: HyperConfig = field(default_factory=HyperConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    flow: FlowNetConfig = field(default_factory=FlowNetConfig)
    warp_ref: bool = True              # warp the reference image to the current frame
    separate_prev_flow: bool = False   # a separate flow head for the previous frame (else shared)
    multi_spade_layers: int = 2        # how many of the last up blocks see the warped images
    warp_embed: EmbedConfig = field(default_factory=lambda: EmbedConfig(arch="unet"))
    separate_warp_embed: bool = True   # separate embeddings for the warped reference and previous frame
    pose: PoseLabelConfig | None = None  # set for pose models
    ref_label_norm_eps: float = 0.1    # eps of the reference-label encoder's norms (imaginaire's training copy)

    @classmethod
    def tiny(cls, **kw: Any) -> "FewShotVid2VidConfig":
        """A few-channel config for tests (64x64)."""
        small = dict(output_size=(64, 64), num_downsamples=3, num_filters=4, max_num_filters=32,
                     hyper=HyperConfig(num_hyper_layers=2, attention_filters=4, attention_downsamples=1),
                     embed=EmbedConfig(num_filters=4, num_downsamples=3),
                     flow=FlowNetConfig(num_filters=4, max_num_filters=16, num_downsamples=2, num_res_blocks=1),
                     warp_embed=EmbedConfig(num_filters=4, num_downsamples=3, arch="unet"))
        small.update(kw)
        return cls(**small)

    @classmethod
    def from_imaginaire(cls, cfg: dict) -> "FewShotVid2VidConfig":
        """Our config from an imaginaire YAML (as a dict) of ``imaginaire.generators.fs_vid2vid``."""
        from .imaginaire import image_channels, label_channels

        gen, data = cfg["gen"], cfg["data"]
        hyper, flow = _get(gen, "hyper", {}), _get(gen, "flow", {})
        msc = _get(flow, "multi_spade_combine", {})
        atn = _get(hyper, "attention", {})
        norm_params = _get(gen, "activation_norm_params", {})
        return cls(
            label_channels=label_channels(data), image_channels=image_channels(data),
            output_size=output_size_from_imaginaire(data), num_frames_G=_get(data, "num_frames_G", 2),
            few_shot_K=_get(data, "initial_few_shot_K", 1),
            num_downsamples=_get(gen, "num_downsamples", 5), num_filters=_get(gen, "num_filters", 32),
            max_num_filters=_get(gen, "max_num_filters", 1024), kernel_size=_get(gen, "kernel_size", 3),
            weight_norm=_get(gen, "weight_norm_type", "spectral"),
            spade_norm=_get(norm_params, "activation_norm_type", "sync_batch"),
            spade_kernel_size=_get(norm_params, "kernel_size", 1),
            hyper=HyperConfig(
                hyper_spade=bool(hyper.get("is_hyper_spade", True)), hyper_embed=bool(hyper.get("is_hyper_embed", True)),
                hyper_conv=bool(hyper.get("is_hyper_conv", False)), num_hyper_layers=_get(hyper, "num_hyper_layers", 4),
                # imaginaire's reference encoder ends up with SPADE's kernel size, not hyper.kernel_size
                kernel_size=_get(norm_params, "kernel_size", 1), num_fc_layers=_get(hyper, "num_fc_layers", 2),
                norm=_get(hyper, "activation_norm_type", "sync_batch"),
                weight_norm=_get(hyper, "weight_norm_type", "spectral"),
                ref_label_mode=_get(hyper, "method_to_use_ref_labels", "none"),
                attention_filters=_get(atn, "num_filters", 32), attention_downsamples=_get(atn, "num_downsamples", 2),
                block_order=_get(hyper, "hyper_block_order", "NAC")),
            embed=embed_from_imaginaire(_get(gen, "embed", {})),
            flow=FlowNetConfig(num_filters=_get(flow, "num_filters", 32), max_num_filters=_get(flow, "max_num_filters", 1024),
                               num_downsamples=_get(flow, "num_downsamples", 3),
                               num_res_blocks=_get(flow, "num_blocks", 6),  # imaginaire reads num_blocks here
                               kernel_size=_get(flow, "kernel_size", 3),
                               norm=_get(flow, "activation_norm_type", "sync_batch"),
                               weight_norm=_get(flow, "weight_norm_type", "spectral"),
                               flow_multiplier=_get(flow, "flow_output_multiplier", 20),
                               separate_mask_decoder=bool(_get(flow, "sep_up_mask", False))),
            warp_ref=bool(_get(flow, "warp_ref", True)), separate_prev_flow=bool(_get(flow, "sep_prev_flow", False)),
            multi_spade_layers=_get(msc, "num_layers", 3),
            warp_embed=embed_from_imaginaire(_get(msc, "embed", {}), "unet"),
            separate_warp_embed=bool(_get(_get(msc, "embed", {}), "sep_warp_embed", False)),
            pose=pose_from_imaginaire(data),
        )

    @property
    def effective_label_channels(self) -> int:
        """Label channels the network sees (OpenPose-only pose models drop the 3 DensePose channels)."""
        if self.pose is not None and self.pose.pose_type == "open":
            return self.label_channels - 3
        return self.label_channels

    def channels(self, level: int) -> int:
        cap = min(self.max_num_filters, self.num_filters * 2 ** self.num_downsamples)
        return min(cap, self.num_filters * 2 ** level)

    @property
    def num_hyper_layers(self) -> int:
        return self.num_downsamples if self.hyper.num_hyper_layers == -1 else self.hyper.num_hyper_layers


def _split_generated(x: torch.Tensor, shape: Sequence[int]) -> list[torch.Tensor | None]:
    """[N, numel(shape) (+ shape[0])] -> [weight [N, *shape], bias [N, shape[0]] or None]."""
    n, total = x.shape
    size = math.prod(shape)
    if total == size + shape[0]:
        return [x[:, :size].reshape(n, *shape), x[:, size:]]
    if total == size:
        return [x.reshape(n, *shape), None]
    raise ValueError(f"generated {total} values, expected {size} (+{shape[0]} bias) for weights {list(shape)}")


@dataclass
class GeneratedWeights:
    """Weights produced from the references for the hyper layers (lists indexed by layer)."""

    embedding: list[Any]               # label-embedding decoder convs: [w, b] per hyper layer
    norm: list[Any]                    # SPADE modulation convs: [[w, b] x 3 (conv 0, conv 1, shortcut)]
    conv: list[Any]                    # main branch convs (hyper_conv only)

    def tensors(self, prefix: str = "weights.") -> TensorDict:
        """The weights as named tensors (``weights.norm.0.1.weight``); a bias that was not generated is absent.

        >>> w = GeneratedWeights([[torch.zeros(1, 2), None]], [], [])
        >>> list(w.tensors()), GeneratedWeights.from_tensors(w.tensors()).embedding[0][1]
        (['weights.embedding.0.weight'], None)
        """
        out: TensorDict = {}

        def add(name: str, pair: Any) -> None:
            out[f"{prefix}{name}.weight"] = pair[0]
            if pair[1] is not None:
                out[f"{prefix}{name}.bias"] = pair[1]

        for i, pair in enumerate(self.embedding):
            add(f"embedding.{i}", pair)
        for kind in ("norm", "conv"):
            for i, block in enumerate(getattr(self, kind)):
                for j, pair in enumerate(block):
                    add(f"{kind}.{i}.{j}", pair)
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str = "weights.") -> "GeneratedWeights":
        """The inverse of :meth:`tensors` (the layout follows from the names, so a traced step has no branch on data)."""
        def pair(name: str) -> list[Any]:
            return [tensors[f"{prefix}{name}.weight"], tensors.get(f"{prefix}{name}.bias")]

        def count(kind: str) -> int:
            n = 0
            while any(k.startswith(f"{prefix}{kind}.{n}.") for k in tensors):
                n += 1
            return n

        embedding = [pair(f"embedding.{i}") for i in range(count("embedding"))]
        norm = [[pair(f"norm.{i}.{j}") for j in range(3)] for i in range(count("norm"))]
        conv = [[pair(f"conv.{i}.{j}") for j in range(3)] for i in range(count("conv"))]
        return cls(embedding, norm, conv)


class ReferenceAttention(nn.Module):
    """Attention over K references: the current label (query) against each reference label (keys).

    Combines per-reference features ``[N*K, C, h, w]`` into ``[N, C, h, w]``; the same attention can
    be re-applied to other features (the reference-label branch).
    """

    def __init__(self, label_channels: int, num_filters: int, num_downsamples: int, channels: Sequence[int],
                 block: Any):
        super().__init__()
        self.num_downsamples = num_downsamples
        self.atn_query_first = block(label_channels, num_filters)
        self.atn_key_first = block(label_channels, num_filters)
        for i in range(num_downsamples):
            setattr(self, f"atn_key_{i}", block(channels[i], channels[i + 1], stride=2))
            setattr(self, f"atn_query_{i}", block(channels[i], channels[i + 1], stride=2))

    def encode(self, x: torch.Tensor, which: str) -> torch.Tensor:
        x = getattr(self, f"{which}_first")(x)
        for i in range(self.num_downsamples):
            x = getattr(self, f"{which}_{i}")(x)
        return x

    def attention(self, keys: torch.Tensor, label: torch.Tensor, k: int) -> torch.Tensor:
        """``keys`` = encode(ref labels, 'atn_key') [N*K, C, h, w] -> attention [N, K*h*w, h*w]."""
        query = self.encode(label, "atn_query")
        n, c = query.shape[:2]
        keys = keys.reshape(n, k, c, -1).permute(0, 1, 3, 2).reshape(n, -1, c)
        return torch.softmax(torch.bmm(keys, query.reshape(n, c, -1)), dim=1)

    @staticmethod
    def combine(features: torch.Tensor, attention: torch.Tensor, k: int) -> torch.Tensor:
        nk, c, h, w = features.shape
        n = nk // k
        features = features.reshape(n, k, c, h * w).permute(0, 2, 1, 3).reshape(n, c, -1)
        return torch.bmm(features, attention).reshape(n, c, h, w)


class WeightGenerator(nn.Module):
    """Encodes the references and generates the hyper layers' weights; also embeds the target label."""

    def __init__(self, cfg: FewShotVid2VidConfig):
        super().__init__()
        self.cfg = cfg
        hyper = cfg.hyper
        nd = cfg.num_downsamples
        ch = [cfg.channels(i) for i in range(nd + 2)]
        self.ch = ch
        label_ch = cfg.effective_label_channels
        self.concat_label = "concat" in hyper.ref_label_mode
        self.mul_label = "mul" in hyper.ref_label_mode
        if cfg.embed.num_filters != cfg.num_filters:
            raise ValueError("the label embedding must have as many filters as the generator")
        k = hyper.kernel_size

        def block(cin: int, cout: int, stride: int = 1, eps: float | None = None) -> ConvBlock:
            params = {"eps": eps} if eps is not None else None
            return ConvBlock(cin, cout, k, stride=stride, padding=k // 2, weight_norm=hyper.weight_norm,
                             norm=hyper.norm, norm_params=params, activation="leakyrelu")

        eps = cfg.ref_label_norm_eps
        self.ref_img_first = block(cfg.image_channels + (label_ch if self.concat_label else 0), cfg.num_filters)
        if self.mul_label:
            self.ref_label_first = block(label_ch, cfg.num_filters, eps=eps)
        for i in range(nd):
            setattr(self, f"ref_img_down_{i}", block(ch[i], ch[i + 1], stride=2))
            setattr(self, f"ref_img_up_{i}", block(ch[i + 1], ch[i]))
            if self.mul_label:
                setattr(self, f"ref_label_down_{i}", block(ch[i], ch[i + 1], stride=2, eps=eps))
                setattr(self, f"ref_label_up_{i}", block(ch[i + 1], ch[i], eps=eps))

        self.conv_before_norm = hyper.block_order.find("C") < hyper.block_order.find("N")
        eks, sks, cks = cfg.embed.kernel_size, cfg.spade_kernel_size, cfg.kernel_size
        for i in range(cfg.num_hyper_layers):
            ch_in, ch_out = ch[i], ch[i + 1]
            spade_ch = ch[i]
            names, ins, outs = [], [], []
            if hyper.hyper_spade:
                fc0 = (spade_ch * sks ** 2 + 1) * (1 if self.conv_before_norm else 2)
                fc1 = (spade_ch * sks ** 2 + 1) * (1 if ch_in != ch_out else 2)
                names += ["fc_spade_0", "fc_spade_1", "fc_spade_s"]
                ins += [ch_out] * 3
                outs += [fc0, fc1, fc0]
                if hyper.hyper_embed:
                    names.append("fc_spade_e")
                    ins.append(ch_out)
                    outs.append(ch_in * eks ** 2 + 1)
            if hyper.hyper_conv:
                names += ["fc_conv_0", "fc_conv_1", "fc_conv_s"]
                ins += [ch_in] * 3
                outs += [ch_out * cks ** 2 + 1, ch_in * cks ** 2 + 1, ch_out + 1]
            for name, fc_in, fc_out in zip(names, ins, outs):
                fc_in = fc_in if self.mul_label else 32 * 32
                layers = [LinearBlock(fc_in, ch_out, weight_norm="spectral", activation="leakyrelu")]
                layers += [LinearBlock(ch_out, ch_out, weight_norm="spectral", activation="leakyrelu")
                           for _ in range(1, hyper.num_fc_layers)]
                layers.append(LinearBlock(ch_out, fc_out, weight_norm="spectral"))
                setattr(self, f"{name}_{i}", nn.Sequential(*layers))

        self.label_embedding = cfg.embed.build(label_ch, cfg.num_hyper_layers if hyper.hyper_embed else 0)
        self.attention_module = None
        if cfg.few_shot_K > 1:
            self.attention_module = ReferenceAttention(label_ch, hyper.attention_filters, hyper.attention_downsamples,
                                                       ch, lambda a, b, stride=1: block(a, b, stride))

    # -- reference encoding ------------------------------------------------------------------------
    def encode_until_attention(self, ref_image: torch.Tensor, ref_label: torch.Tensor | None
                               ) -> tuple[torch.Tensor, torch.Tensor | None, int]:
        """Per-reference features ([N*K, ...]) up to the level where references are combined.

        Returns (image features, label features, number of down layers already applied).
        """
        if self.concat_label:
            x = self.ref_img_first(torch.cat([ref_image, ref_label], dim=1))
        else:
            x = self.ref_img_first(ref_image)
        x_label = self.ref_label_first(ref_label) if self.mul_label else None
        stop = self.cfg.hyper.attention_downsamples if self.attention_module is not None else self.cfg.num_downsamples
        for i in range(stop):
            x = getattr(self, f"ref_img_down_{i}")(x)
            if self.mul_label:
                x_label = getattr(self, f"ref_label_down_{i}")(x_label)
        return x, x_label, stop

    def encode_after(self, x: torch.Tensor, x_label: torch.Tensor | None, start: int
                     ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Remaining down layers, then the up path; returns (decoder input, per-level encodings)."""
        for i in range(start, self.cfg.num_downsamples):
            x = getattr(self, f"ref_img_down_{i}")(x)
            if self.mul_label:
                x_label = getattr(self, f"ref_label_down_{i}")(x_label)
        img_feats, label_feats = [x], [x_label]
        for i in reversed(range(self.cfg.num_downsamples)):
            img_feats.append(getattr(self, f"ref_img_up_{i}")(img_feats[-1]))
            if self.mul_label:
                label_feats.append(getattr(self, f"ref_label_up_{i}")(label_feats[-1]))
        if self.mul_label:
            encoded = []
            for conv, conv_label in zip(img_feats, label_feats):
                b, c, h, w = conv.shape
                prob = torch.softmax(conv_label, dim=1)
                encoded.append((conv.reshape(b, c, 1, h * w) * prob.reshape(b, 1, c, h * w)).sum(3, keepdim=True))
        else:
            encoded = img_feats
        return x, encoded[::-1]

    # -- weight generation -------------------------------------------------------------------------
    def _fc_input(self, feat: torch.Tensor) -> torch.Tensor:
        if not self.mul_label:
            feat = F.adaptive_avg_pool2d(feat, (32, 32))
        return feat.reshape(feat.shape[0] * feat.shape[1], -1)

    def generate(self, encoded: list[torch.Tensor]) -> GeneratedWeights:
        cfg, hyper = self.cfg, self.cfg.hyper
        out = GeneratedWeights([], [], [])
        eks, sks, cks = cfg.embed.kernel_size, cfg.spade_kernel_size, cfg.kernel_size
        for i in range(cfg.num_hyper_layers):
            in_ch, out_ch, spade_ch = self.ch[i], self.ch[i + 1], self.ch[i]
            if hyper.hyper_spade:
                feat = encoded[min(len(encoded) - 1, i + 1)]
                b = feat.shape[0]
                x = self._fc_input(feat)
                if hyper.hyper_embed:
                    fc_e = getattr(self, f"fc_spade_e_{i}")(x).reshape(b, -1)
                    if cfg.embed.arch != "encoder":
                        # decoder convs map level i+1 to level i; imaginaire drops the tail it over-generates
                        out.embedding.append(_split_generated(fc_e[:, :-in_ch], [in_ch, out_ch, eks, eks]))
                    else:
                        out.embedding.append(_split_generated(fc_e, [out_ch, in_ch, eks, eks]))
                norm_out = in_ch if self.conv_before_norm else out_ch
                fc = [getattr(self, f"fc_spade_{s}_{i}")(x).reshape(b, -1) for s in ("0", "1", "s")]
                out.norm.append([_split_generated(fc[0], [norm_out * 2, spade_ch, sks, sks]),
                                 _split_generated(fc[1], [in_ch * 2, spade_ch, sks, sks]),
                                 _split_generated(fc[2], [norm_out * 2, spade_ch, sks, sks])])
            if hyper.hyper_conv:
                feat = encoded[min(len(encoded) - 1, i)]
                b = feat.shape[0]
                x = self._fc_input(feat)
                fc = [getattr(self, f"fc_conv_{s}_{i}")(x).reshape(b, -1) for s in ("0", "1", "s")]
                out.conv.append([_split_generated(fc[0], [in_ch, out_ch, cks, cks]),
                                 _split_generated(fc[1], [in_ch, in_ch, cks, cks]),
                                 _split_generated(fc[2], [in_ch, out_ch, 1, 1])])
        return out


@register_model("fs_vid2vid", FewShotVid2VidConfig)
class FewShotVid2VidGenerator(nn.Module):
    """Few-shot vid2vid generator. ``forward`` is one imaginaire-style call; ``step`` the streaming form."""

    def __init__(self, cfg: FewShotVid2VidConfig):
        super().__init__()
        self.config = cfg
        nd, msl = cfg.num_downsamples, cfg.multi_spade_layers
        ch = [cfg.channels(i) for i in range(nd + 2)]
        self.weight_generator = WeightGenerator(cfg)
        order = cfg.hyper.block_order * 2
        for i in reversed(range(nd + 1)):
            cond_dims = [ch[i]] if i >= msl else [ch[i]] * 3
            params = dict(cond_dims=cond_dims, num_filters=0, kernel_size=cfg.spade_kernel_size, norm=cfg.spade_norm)
            hyper = i < cfg.num_hyper_layers
            setattr(self, f"up_{i}", HyperResBlock(
                ch[i + 1], ch[i], cfg.kernel_size, padding=cfg.kernel_size // 2, weight_norm=cfg.weight_norm,
                norm="spatially_adaptive", norm_params=params, order=order,
                hyper_conv=cfg.hyper.hyper_conv and hyper, hyper_norm=cfg.hyper.hyper_spade and hyper))
        self.conv_img = ConvBlock(cfg.num_filters, cfg.image_channels, cfg.kernel_size, padding=cfg.kernel_size // 2,
                                  activation="leakyrelu", order="AC")
        label_ch, img_ch = cfg.effective_label_channels, cfg.image_channels
        if cfg.warp_ref:
            self.flow_network_ref = PairFlowHead(cfg.flow, label_ch, img_ch, 2)
            self.ref_image_embedding = cfg.warp_embed.build(img_ch + 1)
        separate_flow = cfg.separate_prev_flow or cfg.num_frames_G != 2 or not cfg.warp_ref
        # imaginaire ties the two flow heads (and optionally the embeddings): the same module twice
        self.flow_network_temp = (PairFlowHead(cfg.flow, label_ch, img_ch, cfg.num_frames_G) if separate_flow
                                  else self.flow_network_ref)
        separate_embed = cfg.separate_warp_embed or not cfg.warp_ref
        self.prev_image_embedding = cfg.warp_embed.build(img_ch + 1) if separate_embed else self.ref_image_embedding

    def extra_repr(self) -> str:
        cfg = self.config
        return (f"labels={cfg.label_channels}, size={cfg.output_size[0]}x{cfg.output_size[1]}, K={cfg.few_shot_K}, "
                f"hyper_layers={cfg.num_hyper_layers}, filters={cfg.num_filters}..{cfg.channels(cfg.num_downsamples)}")

    def describe(self) -> ModelSpec:
        """What the engine reads: face landmarks or a pose per frame, and reference pictures per stream."""
        cfg = self.config
        face = cfg.label_channels == 1
        return ModelSpec(kind="few_shot_video", references=True, outputs=VIDEO_OUTPUTS, conditions=(
            Condition("label", reads="face" if face else "pose", channels=cfg.label_channels,
                      size=tuple(cfg.output_size),
                      also_reads=("person_mask",) if cfg.label_channels in (6, 30) else ()),))

    def adapt_to_imaginaire_layout(self, layout: str) -> None:
        """imaginaire's EMA copy keeps eps=1e-5 on the reference-label norms (only the training copy
        got 0.1); match whichever copy is being loaded."""
        eps = 1e-5 if layout == "ema" else 0.1
        self.config = replace(self.config, ref_label_norm_eps=eps)
        for name, module in self.weight_generator.named_modules():
            if name.startswith("ref_label_") and isinstance(module, nn.InstanceNorm2d):
                module.eps = eps

    # ---- references ------------------------------------------------------------------------------
    def prepare_references(self, ref_images: Any, ref_labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack references into [N, K, C, H, W] at the model's size.

        Accepts [N,K,C,H,W], [K,C,H,W] or a list of [C,H,W] / [1,C,H,W] tensors; references whose
        size differs from ``cfg.output_size`` are resized (bilinear for images, nearest for labels).
        """
        cfg = self.config
        images, labels = self._stack(ref_images, "ref_images"), self._stack(ref_labels, "ref_labels")
        if images.shape[:2] != labels.shape[:2]:
            raise VidsynthError(f"got {images.shape[1]} reference image(s) but {labels.shape[1]} reference label(s) "
                                f"(batch {images.shape[0]} vs {labels.shape[0]}); give one label map per image")
        if images.shape[2] != cfg.image_channels:
            raise VidsynthError(f"reference images must have {cfg.image_channels} channels, found {images.shape[2]}")
        if labels.shape[2] != cfg.label_channels:
            raise VidsynthError(f"reference labels must have {cfg.label_channels} channels (this model's label "
                                f"layout), found {labels.shape[2]}; extract them with the same encoder as the driver")
        return images, labels

    def _stack(self, refs: Any, what: str) -> torch.Tensor:
        h, w = self.config.output_size
        if isinstance(refs, torch.Tensor):
            if refs.dim() == 4:
                refs = refs.unsqueeze(0)
            if refs.dim() != 5:
                raise VidsynthError(f"{what}: expected [N, K, C, H, W] or [K, C, H, W], found {list(refs.shape)}")
            if tuple(refs.shape[-2:]) == (h, w):
                return refs
            refs = list(refs.unbind(1))
        else:
            refs = list(refs)
            if not refs:
                raise VidsynthError(f"{what}: no references given; give at least one")
        fitted = []
        for r in refs:
            r = r if r.dim() == 4 else r.unsqueeze(0)
            if r.dim() != 4:
                raise VidsynthError(f"{what}: each reference must be [C, H, W] or [1, C, H, W], found {list(r.shape)}")
            if tuple(r.shape[-2:]) != (h, w):
                mode = "nearest" if what == "ref_labels" else "bilinear"
                r = F.interpolate(r, size=(h, w), mode=mode, **({} if mode == "nearest" else {"align_corners": False}))
            fitted.append(r)
        channels = {r.shape[1] for r in fitted}
        if len(channels) > 1:
            raise VidsynthError(f"{what}: references have different channel counts {sorted(channels)}")
        return torch.stack(fitted, dim=1)

    def encode_references(self, ref_images: Any, ref_labels: Any) -> TensorDict:
        """The per-stream work: encode the references (and, for one reference, generate the weights).

        Returns the references' part of the state as named tensors: ``ref_images`` [N,K,3,H,W] and
        ``ref_labels`` [N,K,C,H,W] (pose filtering applied); for K=1 the decoder input ``ref_features``
        and the generated ``weights.*``; for K>1 ``ref_image_features`` (and ``ref_label_features``)
        [N*K, ...] up to where the attention combines them, and the attention's ``attention_keys``.
        """
        images, labels = self.prepare_references(ref_images, ref_labels)
        labels = valid_pose_labels(labels, self.config.pose, remove_face=False)
        n, k = images.shape[:2]
        wg = self.weight_generator
        flat_img = images.reshape(n * k, *images.shape[2:])
        flat_lbl = labels.reshape(n * k, *labels.shape[2:])
        if k > 1 and wg.attention_module is None:
            raise VidsynthError(f"this model was built for {self.config.few_shot_K} reference(s) and has no attention "
                                f"module to combine {k}; give one reference or a model trained with several")
        x, x_label, done = wg.encode_until_attention(flat_img, flat_lbl)
        refs = {"ref_images": images, "ref_labels": labels}
        if k == 1:
            features, encoded = wg.encode_after(x, x_label, done)
            return {**refs, "ref_features": features, **wg.generate(encoded).tensors()}
        refs.update(ref_image_features=x, attention_keys=wg.attention_module.encode(flat_lbl, "atn_key"))
        if x_label is not None:
            refs["ref_label_features"] = x_label
        return refs

    def _frame_encoding(self, refs: TensorDict, label: torch.Tensor):
        """Decoder input, weights and chosen reference index for this frame."""
        if "attention_keys" not in refs:
            return refs["ref_features"], GeneratedWeights.from_tensors(refs), None
        wg, k = self.weight_generator, refs["ref_images"].shape[1]
        x, x_label, keys = refs["ref_image_features"], refs.get("ref_label_features"), refs["attention_keys"]
        done = self.config.hyper.attention_downsamples  # where encode_until_attention stopped
        attention = wg.attention_module.attention(keys, label, k)
        x = wg.attention_module.combine(x, attention, k)
        if x_label is not None:
            x_label = wg.attention_module.combine(x_label, attention, k)
        ref_idx = attention.reshape(label.shape[0], k, -1).sum(2).argmax(dim=1)
        features, encoded = wg.encode_after(x, x_label, done)
        return features, wg.generate(encoded), ref_idx

    # ---- one frame -------------------------------------------------------------------------------
    def forward(self, label: torch.Tensor, ref_labels: torch.Tensor | None = None,
                ref_images: torch.Tensor | None = None, prev_labels: torch.Tensor | None = None,
                prev_images: torch.Tensor | None = None, references: TensorDict | None = None
                ) -> dict[str, Any]:
        """One frame. Give ``ref_labels``/``ref_images`` [N,K,...] (encoded on the spot, as in training)
        or ``references`` from :meth:`encode_references`.

        Returns ``image``; ``flow``, ``occlusion_mask``, ``warped_image`` as [reference, previous]
        lists (previous is None on the first frame); ``ref_idx`` (the reference warped, K>1).
        """
        cfg = self.config
        if label.dim() != 4 or label.shape[1] != cfg.label_channels:
            raise ValueError(f"label: expected [N, {cfg.label_channels}, H, W], found {list(label.shape)}")
        if references is None:
            if ref_images is None or ref_labels is None:
                raise ValueError("give ref_images and ref_labels, or references from encode_references()")
            references = self.encode_references(ref_images, ref_labels)
        ref_size = references["ref_images"].shape[3:]
        if label.shape[2:] != ref_size:
            raise VidsynthError(f"the driving label is {label.shape[2]}x{label.shape[3]} but the references are "
                                f"{ref_size[0]}x{ref_size[1]}; fit both to the "
                                f"model size {cfg.output_size[0]}x{cfg.output_size[1]}")
        unit = 2 ** cfg.num_downsamples
        if label.shape[2] % unit or label.shape[3] % unit:
            raise VidsynthError(f"few-shot vid2vid needs frames whose sides are multiples of {unit}, found "
                                f"{label.shape[2]}x{label.shape[3]}")
        label = valid_pose_labels(label, cfg.pose)
        prev_labels = valid_pose_labels(prev_labels, cfg.pose)
        x, weights, ref_idx = self._frame_encoding(references, label)
        wg = self.weight_generator
        encoded_label = wg.label_embedding(label, weights=weights.embedding if cfg.hyper.hyper_embed else None)

        flows, masks, warped, cond = self._flows(label, references, prev_labels, prev_images, ref_idx)
        embedded = [self.ref_image_embedding(cond[0]) if cond[0] is not None else None,
                    self.prev_image_embedding(cond[1]) if cond[1] is not None else None]
        for i in range(cfg.num_downsamples, -1, -1):
            cond_maps = [encoded_label[i]]
            if i < cfg.multi_spade_layers:
                cond_maps += [e[i] if e is not None else None for e in embedded]
            hyper = i < cfg.num_hyper_layers
            conv_w = weights.conv[i] if cfg.hyper.hyper_conv and hyper else [None] * 3
            norm_w = weights.norm[i] if cfg.hyper.hyper_spade and hyper else [None] * 3
            x = getattr(self, f"up_{i}")(x, *cond_maps, conv_weights=conv_w, norm_weights=norm_w)
            if i != 0:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        image = torch.tanh(self.conv_img(x))
        return {"image": image, "flow": flows, "occlusion_mask": masks, "warped_image": warped, "ref_idx": ref_idx}

    def _flows(self, label, refs: TensorDict, prev_labels, prev_images, ref_idx):
        if ref_idx is None:
            ref_label, ref_image = refs["ref_labels"][:, 0], refs["ref_images"][:, 0]
        else:
            pick = torch.arange(label.shape[0], device=label.device)
            ref_label, ref_image = refs["ref_labels"][pick, ref_idx], refs["ref_images"][pick, ref_idx]
        flows, masks, warped, cond = [None, None], [None, None], [None, None], [None, None]
        if self.config.warp_ref:
            flows[0], masks[0] = self.flow_network_ref(label, ref_label, ref_image)
            warped[0] = warp(ref_image, flows[0])[:, :3]
            cond[0] = torch.cat([warped[0], masks[0]], dim=1)
        if prev_labels is not None and prev_labels.shape[1] == self.config.num_frames_G - 1:
            n, _, _, h, w = prev_labels.shape
            flows[1], masks[1] = self.flow_network_temp(label, prev_labels.reshape(n, -1, h, w),
                                                        prev_images.reshape(n, -1, h, w))
            warped[1] = warp(prev_images[:, -1], flows[1])
            cond[1] = torch.cat([warped[1], masks[1]], dim=1)
        return flows, masks, warped, cond

    # ---- streaming -------------------------------------------------------------------------------
    def conditions_spec(self) -> dict[str, tuple]:
        """What ``step`` takes per frame (and ``encode_references`` per stream): name -> shape."""
        cfg = self.config
        h, w = cfg.output_size
        return {"label": (cfg.label_channels, h, w), "ref_images": (cfg.few_shot_K, cfg.image_channels, h, w),
                "ref_labels": (cfg.few_shot_K, cfg.label_channels, h, w)}

    def initial_state(self, references: TensorDict | None = None) -> TensorDict:
        """A stream's state: the encoded references (:meth:`encode_references`) and no previous frames yet."""
        references = dict(references or {})
        cfg = self.config
        device, dtype = (references["ref_images"].device, references["ref_images"].dtype) if references \
            else (None, torch.float32)
        n = references["ref_images"].shape[0] if references else 1
        return {**references,
                "prev_labels": empty_history(n, cfg.label_channels, cfg.output_size, device, dtype),
                "prev_images": empty_history(n, cfg.image_channels, cfg.output_size, device, dtype)}

    def reset(self, state: TensorDict | None = None) -> TensorDict:
        """New scene in the same stream: forget the previous frames, keep the references."""
        references = {k: v for k, v in (state or {}).items() if k not in ("prev_labels", "prev_images")}
        return self.initial_state(references)

    def step(self, conditions: dict[str, torch.Tensor] | torch.Tensor, state: TensorDict | None, *,
             fed_back: FedBack | None = None, detach: bool = True) -> tuple[TensorDict, TensorDict]:
        """Generate one frame from ``conditions['label']`` and advance the state.

        ``conditions`` may also carry ``ref_images``/``ref_labels`` to (re)encode the references.
        Outputs: ``image``; ``reference_flow``, ``reference_occlusion_mask``, ``reference_warped_image``
        (the reference warped to this frame); ``flow``, ``occlusion_mask``, ``warped_image`` (the previous
        frame, once ``num_frames_G - 1`` are held); ``reference_index`` (K>1: the reference warped).
        ``fed_back`` and ``detach`` are the training hooks of :meth:`Vid2VidGenerator.step`.
        """
        conditions = conditions if isinstance(conditions, dict) else {"label": conditions}
        if "ref_images" in conditions:
            state = self.initial_state(self.encode_references(conditions["ref_images"], conditions["ref_labels"]))
        if state is None or "ref_images" not in state:
            raise VidsynthError("few-shot vid2vid needs reference images: call encode_references(images, labels) "
                                "and pass the result to initial_state() before the first step")
        label = conditions["label"]
        previous = (None, None) if state["prev_images"].shape[1] == 0 else (state["prev_labels"], state["prev_images"])
        references = {k: v for k, v in state.items() if k not in ("prev_labels", "prev_images")}
        out = self(label, prev_labels=previous[0], prev_images=previous[1], references=references)
        keep = self.config.num_frames_G - 1
        image = out["image"].detach() if detach else out["image"]
        if fed_back is not None:
            image = fed_back(image)
        return self.step_outputs(out), {**state, "prev_labels": push_frame(state["prev_labels"], label, keep),
                                        "prev_images": push_frame(state["prev_images"], image, keep)}

    @staticmethod
    def step_outputs(out: dict[str, Any]) -> TensorDict:
        """``forward``'s [reference, previous] pairs as named tensors; what was not computed is absent."""
        named = {"image": out["image"]}
        for key in ("flow", "occlusion_mask", "warped_image"):
            reference, previous = out[key]
            if reference is not None:
                named[f"reference_{key}"] = reference
            if previous is not None:
                named[key] = previous
        if out.get("ref_idx") is not None:
            named["reference_index"] = out["ref_idx"]
        return named
