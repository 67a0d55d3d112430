"""Blocks only the video generators need: hyper (per-sample generated) convolutions and SPADE.

Few-shot vid2vid generates part of its own weights from the reference images: the first SPADE
modulation conv of the first few up-sampling blocks, and the last decoder convs of its label
embedding network. These blocks take those weights at call time, one set per batch sample:

* :class:`HyperConv2d`: a conv with no parameters of its own; ``conv_weights=[w, b]`` with
  ``w`` [N, out, in, k, k] and ``b`` [N, out].
* :class:`HyperSpatiallyAdaptiveNorm`: SPADE whose first conditional map is modulated by a
  generated 1x1..kxk conv (``norm_weights``); the other maps have ordinary learned convs.
* :class:`HyperConvBlock` / :class:`HyperResBlock`: the layers.py blocks with the above inside.

Everything else (ConvBlock, ResBlock, SPADE) comes from :mod:`vidsynth.networks.layers`.

Example:
    >>> import torch
    >>> conv = HyperConv2d(padding=1)
    >>> w, b = torch.zeros(2, 4, 3, 3, 3), torch.ones(2, 4)
    >>> conv(torch.zeros(2, 3, 8, 8), conv_weights=[w, b]).shape
    torch.Size([2, 4, 8, 8])
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvBlock, _Block, _norm_channels, make_activation, make_norm, resize_nearest

__all__ = ["HyperConv2d", "HyperSpatiallyAdaptiveNorm", "HyperConvBlock", "HyperResBlock", "LabelEmbedder"]


def _split_weight_bias(conv_weights: Any) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if conv_weights is None:
        return None, None
    if isinstance(conv_weights, torch.Tensor):
        return conv_weights, None
    return conv_weights[0], conv_weights[1]


class HyperConv2d(nn.Module):
    """A 2D conv whose weights come with each call, one set per sample (no parameters of its own).

    Without weights the input passes through unchanged (the generator has not produced them).
    """

    def __init__(self, stride: int = 1, padding: int = 1, bias: bool = True):
        super().__init__()
        self.stride, self.padding, self.use_bias = stride, padding, bias
        self.conditional = True

    def forward(self, x: torch.Tensor, *_: Any, conv_weights: Any = None, **__: Any) -> torch.Tensor:
        weight, bias = _split_weight_bias(conv_weights)
        if weight is None:
            return x
        if bias is None and self.use_bias:
            raise ValueError("HyperConv2d was built with a bias but the generated weights have none")
        outs = [F.conv2d(x[i:i + 1], weight[i], None if bias is None else bias[i], stride=self.stride,
                         padding=self.padding) for i in range(x.shape[0])]
        return torch.cat(outs, dim=0)

    def extra_repr(self) -> str:
        return f"stride={self.stride}, padding={self.padding}"


class HyperSpatiallyAdaptiveNorm(nn.Module):
    """SPADE whose first conditional map uses generated modulation weights (``norm_weights``).

    ``cond_dims`` lists the channels of each conditional map; map 0's modulation conv is generated
    (see :class:`HyperConv2d`), the others have a learned conv to ``2 * num_features`` channels
    (``mlps[i].0``). A ``None`` map is skipped. Without ``norm_weights`` map 0 falls back to the
    learned path of the other maps (there is none for map 0, so its modulation is skipped).

    Example:
        >>> norm = HyperSpatiallyAdaptiveNorm(4, cond_dims=[3, 2], kernel_size=1)
        >>> w = [torch.zeros(1, 8, 3, 1, 1), torch.zeros(1, 8)]
        >>> norm(torch.rand(1, 4, 8, 8), torch.rand(1, 3, 8, 8), None, norm_weights=w).shape
        torch.Size([1, 4, 8, 8])
    """

    def __init__(
        self,
        num_features: int,              # channels of the normalised input
        cond_dims: int | Sequence[int],  # channels of each conditional map
        kernel_size: int = 1,           # kernel of the modulation convs
        weight_norm: str = "",          # weight norm of the learned modulation convs
        norm: str = "instance",         # parameter-free normalisation applied first
    ):
        super().__init__()
        cond_dims = list(cond_dims) if isinstance(cond_dims, (list, tuple)) else [cond_dims]
        pad = kernel_size // 2
        self.mlps = nn.ModuleList()
        for i, ch in enumerate(cond_dims):
            if i == 0:
                self.mlps.append(HyperConv2d(padding=pad))
            else:
                self.mlps.append(nn.Sequential(
                    ConvBlock(ch, 2 * num_features, kernel_size, padding=pad, weight_norm=weight_norm)))
        self.norm = make_norm(norm, num_features, 2, affine=False)
        self.conditional = True

    def forward(self, x: torch.Tensor, *cond_maps: torch.Tensor | None, norm_weights: Any = None,
                **_: Any) -> torch.Tensor:
        out = self.norm(x) if self.norm is not None else x
        for i, cond in enumerate(cond_maps):
            if cond is None:
                continue
            cond = resize_nearest(cond, x.shape[2:])
            if i == 0:
                weights = None if norm_weights is None or norm_weights[0] is None else norm_weights
                params = self.mlps[0](cond, conv_weights=weights)
            else:
                params = self.mlps[i](cond)
            gamma, beta = params.chunk(2, dim=1)
            out = out * (1 + gamma) + beta
        return out


class HyperConvBlock(_Block):
    """:class:`~vidsynth.networks.layers.ConvBlock` whose conv and/or SPADE may take generated weights.

    ``hyper_conv``: the conv is a :class:`HyperConv2d` (no weight norm; weights via ``conv_weights``).
    ``hyper_norm``: a ``spatially_adaptive`` norm becomes :class:`HyperSpatiallyAdaptiveNorm`
    (weights via ``norm_weights``). Otherwise this is exactly a ConvBlock.

    Example:
        >>> HyperConvBlock(3, 8, 3, padding=1, activation="leakyrelu")(torch.zeros(1, 3, 8, 8)).shape
        torch.Size([1, 8, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,              # input channels
        out_channels: int,             # output channels
        kernel_size: int = 3,          # square kernel
        stride: int = 1,               # conv stride
        padding: int = 0,              # padding each side
        bias: bool = True,             # learn (or receive) a bias
        weight_norm: str = "none",     # weight norm of a learned conv
        norm: str = "none",            # normalisation kind
        norm_params: dict | None = None,  # its keyword arguments
        activation: str = "none",      # activation kind
        order: str = "CNA",            # operation order
        hyper_conv: bool = False,      # conv weights are generated
        hyper_norm: bool = False,      # SPADE weights are generated
    ):
        if hyper_conv:
            layer: nn.Module = HyperConv2d(stride=stride, padding=padding, bias=bias)
            weight_norm = "none"
        else:
            layer = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        norm_ch = _norm_channels(order, in_channels, out_channels)
        params = dict(norm_params or {})
        if hyper_norm and norm == "spatially_adaptive":
            norm_layer = HyperSpatiallyAdaptiveNorm(
                norm_ch, params.get("cond_dims"), kernel_size=params.get("kernel_size", 1),
                weight_norm=params.get("weight_norm", ""), norm=params.get("norm", "instance"))
        else:
            norm_layer = make_norm(norm, norm_ch, 2, **params)
        super().__init__(layer, norm_layer, make_activation(activation), order, weight_norm)
        self.hyper_conv, self.hyper_norm = hyper_conv, hyper_norm

    def forward(self, x: torch.Tensor, *cond: Any, conv_weights: Any = None, norm_weights: Any = None,
                **_: Any) -> torch.Tensor:
        for op in self.order:
            if op == "C":
                x = self.conv(x, conv_weights=conv_weights) if self.hyper_conv else self.conv(x)
            elif op == "N":
                if self.norm is None:
                    continue
                if isinstance(self.norm, HyperSpatiallyAdaptiveNorm):
                    x = self.norm(x, *cond, norm_weights=norm_weights)
                elif self.conditional:
                    x = self.norm(x, *cond)
                else:
                    x = self.norm(x)
            elif self.act is not None:
                x = self.act(x)
        return x


class HyperResBlock(nn.Module):
    """Residual block of :class:`HyperConvBlock`s; generated weights come per block (0, 1, shortcut).

    The shortcut is a learned 1x1 block when ``in != out``, else the identity.

    Example:
        >>> HyperResBlock(8, 4, norm="instance")(torch.zeros(1, 8, 8, 8)).shape
        torch.Size([1, 4, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,              # input channels
        out_channels: int,             # output channels
        kernel_size: int = 3,          # branch kernel
        padding: int = 1,              # branch padding
        weight_norm: str = "none",     # weight norm of learned convs
        norm: str = "none",            # normalisation kind
        norm_params: dict | None = None,  # its keyword arguments
        activation: str = "leakyrelu",  # branch activation
        order: str = "NACNAC",         # operations of the two branch blocks
        hyper_conv: bool = False,      # convs take generated weights
        hyper_norm: bool = False,      # SPADE takes generated weights
    ):
        super().__init__()
        hidden = min(in_channels, out_channels)
        common = dict(weight_norm=weight_norm, norm=norm, norm_params=norm_params, hyper_conv=hyper_conv,
                      hyper_norm=hyper_norm)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.conv_0 = HyperConvBlock(in_channels, hidden, kernel_size, padding=padding, activation=activation,
                                     order=order[:3], **common)
        self.conv_1 = HyperConvBlock(hidden, out_channels, kernel_size, padding=padding, activation=activation,
                                     order=order[3:], **common)
        self.learn_shortcut = in_channels != out_channels
        self.shortcut = HyperConvBlock(in_channels, out_channels, 1, order=order[:3],
                                       **common) if self.learn_shortcut else None
        self.conditional = True

    def forward(self, x: torch.Tensor, *cond: Any, conv_weights: Sequence[Any] = (None,) * 3,
                norm_weights: Sequence[Any] = (None,) * 3) -> torch.Tensor:
        dx = self.conv_0(x, *cond, conv_weights=conv_weights[0], norm_weights=norm_weights[0])
        dx = self.conv_1(dx, *cond, conv_weights=conv_weights[1], norm_weights=norm_weights[1])
        skip = x if self.shortcut is None else self.shortcut(x, *cond, conv_weights=conv_weights[2],
                                                             norm_weights=norm_weights[2])
        return skip + dx

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}"


class LabelEmbedder(nn.Module):
    """Multi-scale embedding of a label map (or of a warped image + mask) for SPADE.

    ``arch``: ``encoder`` (stride-2 convs), ``encoderdecoder`` (then nearest up-sampling convs) or
    ``unet`` (the decoder also sees the encoder's features). Returns a list whose entry ``j`` has
    resolution ``H / 2**j`` (``j = 0 .. num_downsamples``). With ``num_hyper_layers > 0`` the last
    decoder convs (or, without a decoder, the first encoder convs) take generated weights
    (``weights[j]`` = ``[w, b]``), as few-shot vid2vid's label embedding does.

    Example:
        >>> emb = LabelEmbedder(3, num_filters=4, num_downsamples=2, arch="unet")
        >>> [tuple(f.shape) for f in emb(torch.zeros(1, 3, 16, 16))]
        [(1, 4, 16, 16), (1, 8, 8, 8), (1, 16, 4, 4)]
    """

    def __init__(
        self,
        in_channels: int,              # input channels
        num_filters: int = 32,         # channels at full resolution
        max_num_filters: int = 1024,   # channel cap
        num_downsamples: int = 5,      # stride-2 convs
        kernel_size: int = 3,          # conv kernel
        weight_norm: str = "spectral",  # weight norm of learned convs (training only)
        norm: str = "none",            # normalisation of the down / up convs
        arch: str = "encoderdecoder",  # encoder | encoderdecoder | unet
        num_hyper_layers: int = 0,     # how many convs take generated weights
    ):
        super().__init__()
        if arch not in ("encoder", "encoderdecoder", "unet"):
            raise ValueError(f"unknown embedding arch {arch!r}; expected encoder, encoderdecoder or unet")
        self.arch, self.num_downsamples = arch, num_downsamples
        self.unet = arch == "unet"
        self.has_decoder = arch != "encoder"
        self.num_hyper_layers = num_downsamples if num_hyper_layers == -1 else num_hyper_layers
        ch = [min(max_num_filters, num_filters * 2 ** i) for i in range(num_downsamples + 1)]
        self.channels = ch
        pad = kernel_size // 2
        block = dict(padding=pad, weight_norm=weight_norm, activation="leakyrelu")
        self.conv_first = HyperConvBlock(in_channels, num_filters, kernel_size, **block)
        for i in range(num_downsamples):
            hyper = i < self.num_hyper_layers and not self.has_decoder
            setattr(self, f"down_{i}", HyperConvBlock(ch[i], ch[i + 1], kernel_size, stride=2, norm=norm,
                                                      hyper_conv=hyper, **block))
        if self.has_decoder:
            for i in reversed(range(num_downsamples)):
                in_ch = ch[i + 1] * (2 if self.unet and i != num_downsamples - 1 else 1)
                setattr(self, f"up_{i}", HyperConvBlock(in_ch, ch[i], kernel_size, norm=norm,
                                                        hyper_conv=i < self.num_hyper_layers, **block))

    def forward(self, x: torch.Tensor, weights: Sequence[Any] | None = None) -> list[torch.Tensor]:
        feats = [self.conv_first(x)]
        for i in range(self.num_downsamples):
            layer = getattr(self, f"down_{i}")
            if i < self.num_hyper_layers and not self.has_decoder:
                feats.append(layer(feats[-1], conv_weights=weights[i]))
            else:
                feats.append(layer(feats[-1]))
        if not self.has_decoder:
            return feats
        encoder = feats
        out = [encoder[-1]]
        for i in reversed(range(self.num_downsamples)):
            h = out[-1]
            if self.unet and i != self.num_downsamples - 1:
                h = torch.cat([h, encoder[i + 1]], dim=1)
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            layer = getattr(self, f"up_{i}")
            out.append(layer(h, conv_weights=weights[i]) if i < self.num_hyper_layers else layer(h))
        return out[::-1]
