"""Shared building blocks for every vidsynth network.

The blocks follow the conventions of imaginaire's layers so that its checkpoints map onto ours with a
short, generic key rename (see :mod:`vidsynth.networks.imaginaire`), but they are written for inference
first: every block holds a *plain* ``weight`` parameter. Spectral or weight normalisation is a training
concern; :func:`apply_weight_norms` wraps the marked layers with torch's parametrisations for training and
:func:`fold_weight_norms` bakes them back into plain weights.

Vocabulary (strings, as in imaginaire's YAML files):

* ``order``: the sequence of operations of a block: ``C`` conv/linear, ``N`` normalisation,
  ``A`` activation, e.g. ``"CNA"`` (post-activation) or ``"NAC"`` (pre-activation).
* ``norm``: ``none`` | ``instance`` | ``batch`` | ``sync_batch`` | ``layer`` | ``layer_2d`` | ``group`` |
  ``adaptive`` (AdaIN-style, conditioned on a vector) | ``spatially_adaptive`` (SPADE, conditioned on maps).
* ``activation``: ``none`` | ``relu`` | ``leakyrelu`` (slope 0.2) | ``prelu`` | ``tanh`` | ``sigmoid``.
* ``weight_norm``: ``none`` | ``spectral`` | ``weight``; only recorded on the block (see above).

Example:
    >>> import torch
    >>> block = ConvBlock(3, 8, 3, padding=1, norm="instance", activation="relu")
    >>> block(torch.zeros(1, 3, 16, 16)).shape
    torch.Size([1, 8, 16, 16])
    >>> spade = ResBlock(8, 4, norm="spatially_adaptive", norm_params=dict(cond_dims=5), order="NACNAC")
    >>> spade(torch.zeros(1, 8, 16, 16), torch.zeros(1, 5, 32, 32)).shape
    torch.Size([1, 4, 16, 16])
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vidsynth.errors import VidsynthError

__all__ = [
    "make_activation",
    "make_norm",
    "LayerNorm2d",
    "AdaptiveNorm",
    "SpatiallyAdaptiveNorm",
    "ConvBlock",
    "LinearBlock",
    "ResBlock",
    "UpResBlock",
    "DownResBlock",
    "PositionalGrid",
    "apply_weight_norms",
    "fold_weight_norms",
    "load_plain_weights",
    "assert_shape",
    "check_size_multiple",
    "is_conditional",
]

NO_NORM = ("", "none")


def assert_shape(x: torch.Tensor, shape: Sequence[int | None], name: str = "input") -> None:
    """Raise ValueError unless ``x`` has ``len(shape)`` dims and matches every non-None entry."""
    if x.dim() != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape)):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"{name}: expected a tensor of shape {want}, found {list(x.shape)}")


def check_size_multiple(x: torch.Tensor, multiple: int, model: str, inputs: str = "frames") -> None:
    """Raise VidsynthError unless the height and width of ``x`` [N,C,H,W] are multiples of ``multiple``.

    Example:
        >>> check_size_multiple(torch.zeros(1, 3, 32, 48), 4, "UNIT")
    """
    if x.shape[2] % multiple or x.shape[3] % multiple:
        raise VidsynthError(f"{model} input size must be a multiple of {multiple}, found "
                            f"{x.shape[2]}x{x.shape[3]}; resize or pad the {inputs}")


def resize_nearest(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``F.interpolate(x, size, mode="nearest")`` bit for bit, but a strided view when ``size`` divides the input
    (the usual case: a label map brought down to each layer of a generator). PyTorch's CPU kernel takes
    milliseconds for what is here free; it is kept for the sizes that do not divide.

    >>> x = torch.arange(16.0).view(1, 1, 4, 4)
    >>> torch.equal(resize_nearest(x, (2, 2)), F.interpolate(x, size=(2, 2), mode="nearest"))
    True
    """
    h, w = x.shape[-2:]
    oh, ow = int(size[0]), int(size[1])
    if (h, w) == (oh, ow):
        return x
    if oh <= h and ow <= w and h % oh == 0 and w % ow == 0:
        return x[..., :: h // oh, :: w // ow]
    return F.interpolate(x, size=(oh, ow), mode="nearest")


def is_conditional(module: nn.Module) -> bool:
    """True when ``module`` takes conditional inputs after its main input."""
    return bool(getattr(module, "conditional", False))


def make_activation(kind: str) -> nn.Module | None:
    """An activation module by name, or None for ``"none"``/``""``."""
    kind = kind or "none"
    table = {
        "relu": lambda: nn.ReLU(),
        "leakyrelu": lambda: nn.LeakyReLU(0.2),
        "prelu": lambda: nn.PReLU(),
        "tanh": lambda: nn.Tanh(),
        "sigmoid": lambda: nn.Sigmoid(),
    }
    if kind == "none":
        return None
    if kind not in table:
        raise ValueError(f"unknown activation {kind!r}; expected one of none, {', '.join(table)}")
    return table[kind]()


class LayerNorm2d(nn.Module):
    """Layer norm over (C, H, W) with a per-channel affine; divides by (unbiased std + eps)."""

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = True, channel_only: bool = False):
        super().__init__()
        self.num_features, self.eps, self.affine, self.channel_only = num_features, eps, affine, channel_only
        if affine:
            self.gamma = nn.Parameter(torch.ones(num_features))
            self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channel_only:
            mean, std = x.mean(1, keepdim=True), x.std(1, keepdim=True)
        else:
            flat = x.reshape(x.size(0), -1)
            view = [-1] + [1] * (x.dim() - 1)
            mean, std = flat.mean(1).view(view), flat.std(1).view(view)
        x = (x - mean) / (std + self.eps)
        if self.affine:
            view = [1, -1] + [1] * (x.dim() - 2)
            x = x * self.gamma.view(view) + self.beta.view(view)
        return x


def make_norm(kind: str, num_features: int, dim: int = 2, **params: Any) -> nn.Module | None:
    """A normalisation layer by name (see the module docstring), or None for ``"none"``.

    ``dim`` is the number of spatial dims of the input (0 or 1 for vectors, 2 for images).
    ``instance`` defaults to ``affine=True`` like imaginaire; ``sync_batch`` is a plain BatchNorm here
    (identical at inference; DDP training converts it with ``nn.SyncBatchNorm.convert_sync_batchnorm``).
    """
    kind = kind or "none"
    params = dict(params)
    nd = max(dim, 1)
    if kind in NO_NORM:
        return None
    if kind in ("batch", "sync_batch"):
        return getattr(nn, f"BatchNorm{nd}d")(num_features, **params)
    if kind == "instance":
        affine = params.pop("affine", True)
        return getattr(nn, f"InstanceNorm{nd}d")(num_features, affine=affine, **params)
    if kind == "layer":
        return nn.LayerNorm(num_features, **params)
    if kind == "layer_2d":
        return LayerNorm2d(num_features, **params)
    if kind == "group":
        groups = params.pop("num_groups", 4)
        return nn.GroupNorm(num_groups=groups, num_channels=num_features, **params)
    if kind == "adaptive":
        return AdaptiveNorm(num_features, dim=dim, **params)
    if kind == "spatially_adaptive":
        if dim != 2:
            raise ValueError("spatially adaptive normalisation needs 2D inputs")
        return SpatiallyAdaptiveNorm(num_features, **params)
    raise ValueError(f"unknown normalisation {kind!r}")


class _Block(nn.Module):
    """A conv or linear layer with optional normalisation and activation, run in ``order``."""

    def __init__(
        self,
        layer: nn.Module,
        norm_layer: nn.Module | None,
        act_layer: nn.Module | None,
        order: str,
        weight_norm: str,
    ):
        super().__init__()
        if sorted(order) != sorted(set(order)) or set(order) - set("CNA"):
            raise ValueError(f"order must use each of C, N, A at most once, found {order!r}")
        self.conv = layer
        self.norm = norm_layer
        self.act = act_layer
        self.order = order
        self.weight_norm = weight_norm or "none"
        self.conditional = is_conditional(norm_layer) if norm_layer is not None else False

    def forward(self, x: torch.Tensor, *cond: Any, **cond_kw: Any) -> torch.Tensor:
        for op in self.order:
            if op == "C":
                x = self.conv(x)
            elif op == "N":
                if self.norm is not None:
                    x = self.norm(x, *cond, **cond_kw) if self.conditional else self.norm(x)
            elif self.act is not None:
                x = self.act(x)
        return x

    def run_until_conv(self, x: torch.Tensor, *cond: Any) -> torch.Tensor:
        """The operations before ``C`` (used by up-sampling residual blocks that resize before the conv)."""
        for op in self.order[: self.order.index("C")]:
            if op == "N" and self.norm is not None:
                x = self.norm(x, *cond) if self.conditional else self.norm(x)
            elif op == "A" and self.act is not None:
                x = self.act(x)
        return x

    def run_from_conv(self, x: torch.Tensor, *cond: Any) -> torch.Tensor:
        """The operations from ``C`` on (see :meth:`run_until_conv`)."""
        for op in self.order[self.order.index("C"):]:
            if op == "C":
                x = self.conv(x)
            elif op == "N" and self.norm is not None:
                x = self.norm(x, *cond) if self.conditional else self.norm(x)
            elif op == "A" and self.act is not None:
                x = self.act(x)
        return x


def _norm_channels(order: str, in_ch: int, out_ch: int) -> int:
    return out_ch if order.find("C") < order.find("N") else in_ch


class ConvBlock(_Block):
    """``Conv2d`` (or ``Conv1d``/``Conv3d`` via ``dim``) + normalisation + activation, in ``order``.

    Example:
        >>> ConvBlock(3, 16, 7, padding=3, padding_mode="reflect", norm="instance", activation="relu")(
        ...     torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 16, 32, 32])
    """

    def __init__(
        self,
        in_channels: int,              # input channels
        out_channels: int,             # output channels
        kernel_size: int = 3,          # square kernel size
        stride: int = 1,               # conv stride
        padding: int = 0,              # padding on each side
        dilation: int = 1,             # conv dilation
        groups: int = 1,               # conv groups
        bias: bool = True,             # learn a bias
        padding_mode: str = "zeros",   # zeros | reflect | replicate | circular
        weight_norm: str = "none",     # none | spectral | weight (applied for training only)
        norm: str = "none",            # normalisation kind (module docstring)
        norm_params: dict | None = None,  # keyword arguments of the normalisation
        activation: str = "none",      # activation kind
        order: str = "CNA",            # operation order
        dim: int = 2,                  # spatial dims: 1, 2 or 3
    ):
        conv_cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dim]
        layer = conv_cls(in_channels, out_channels, kernel_size, stride, padding, dilation=dilation,
                         groups=groups, bias=bias, padding_mode=padding_mode)
        norm_layer = make_norm(norm, _norm_channels(order, in_channels, out_channels), dim, **(norm_params or {}))
        super().__init__(layer, norm_layer, make_activation(activation), order, weight_norm)


class LinearBlock(_Block):
    """``Linear`` + normalisation + activation, in ``order``.

    Example:
        >>> LinearBlock(8, 16, activation="relu")(torch.zeros(2, 8)).shape
        torch.Size([2, 16])
    """

    def __init__(
        self,
        in_features: int,              # input features
        out_features: int,             # output features
        bias: bool = True,             # learn a bias
        weight_norm: str = "none",     # none | spectral | weight (applied for training only)
        norm: str = "none",            # normalisation kind
        norm_params: dict | None = None,  # keyword arguments of the normalisation
        activation: str = "none",      # activation kind
        order: str = "CNA",            # operation order
    ):
        layer = nn.Linear(in_features, out_features, bias)
        norm_layer = make_norm(norm, _norm_channels(order, in_features, out_features), 0, **(norm_params or {}))
        super().__init__(layer, norm_layer, make_activation(activation), order, weight_norm)


class AdaptiveNorm(nn.Module):
    """Adaptive normalisation (AdaIN / conditional BN): normalise, then scale and shift from a vector.

    ``x * (1 + gamma) + beta`` with ``gamma, beta`` projected from the conditional vector ``y`` by a
    linear layer (``fc``, or ``fc_gamma``/``fc_beta`` when ``separate_projection``), or taken directly
    from ``y`` when ``projection`` is False.

    Example:
        >>> AdaptiveNorm(8, cond_dims=4)(torch.zeros(2, 8, 5, 5), torch.zeros(2, 4)).shape
        torch.Size([2, 8, 5, 5])
    """

    def __init__(
        self,
        num_features: int,             # channels of the normalised input
        cond_dims: int,                # length of the conditional vector
        weight_norm: str = "",         # weight norm of the projection
        projection: bool = True,       # project y to (gamma, beta) with a linear layer
        projection_bias: bool = True,  # bias of the projection
        separate_projection: bool = False,  # two projections (gamma, beta) instead of one
        dim: int = 2,                  # spatial dims of the input
        norm: str = "instance",        # the parameter-free normalisation applied first
        norm_params: dict | None = None,  # its keyword arguments (default affine=False)
        input_scale: float = 1.0,      # y is multiplied by this first
        add_bias: bool = True,         # add beta (else return (x*(1+gamma), beta))
    ):
        super().__init__()
        self.norm = make_norm(norm, num_features, dim, **(norm_params if norm_params is not None else {"affine": False}))
        if projection:
            if separate_projection:
                self.fc_gamma = LinearBlock(cond_dims, num_features, bias=projection_bias, weight_norm=weight_norm)
                self.fc_beta = LinearBlock(cond_dims, num_features, bias=projection_bias, weight_norm=weight_norm)
            else:
                self.fc = LinearBlock(cond_dims, 2 * num_features, bias=projection_bias, weight_norm=weight_norm)
        self.projection, self.separate_projection = projection, separate_projection
        self.input_scale, self.add_bias = input_scale, add_bias
        self.conditional = True

    def forward(self, x: torch.Tensor, y: torch.Tensor, **_: Any) -> torch.Tensor:
        y = y * self.input_scale
        if self.projection and self.separate_projection:
            gamma, beta = self.fc_gamma(y), self.fc_beta(y)
        else:
            params = self.fc(y) if self.projection else y
            gamma, beta = params.chunk(2, 1)
        extra = x.dim() - gamma.dim()
        gamma = gamma.reshape(*gamma.shape, *([1] * extra))
        beta = beta.reshape(*beta.shape, *([1] * extra))
        if self.norm is not None:
            x = self.norm(x)
        if not self.add_bias:
            return x * (1 + gamma), beta.flatten(1)
        return torch.addcmul(beta, x, 1 + gamma)


class SpatiallyAdaptiveNorm(nn.Module):
    """SPADE: normalise, then modulate per pixel with (gamma, beta) predicted from label maps.

    Several conditional maps may be given (``cond_dims`` a list); each has its own small conv net
    (``mlps[i]``: an optional hidden conv + ReLU, then a conv to 2·C, or separate ``gammas[i]`` /
    ``betas[i]`` convs when ``separate_projection``), and their modulations are applied one after the
    other. A ``None`` conditional input is skipped. Maps are resized to the input size first.

    Example:
        >>> spade = SpatiallyAdaptiveNorm(8, cond_dims=[3, 4], num_filters=[16, 0], norm="instance")
        >>> spade(torch.zeros(1, 8, 8, 8), torch.zeros(1, 3, 32, 32), None).shape
        torch.Size([1, 8, 8, 8])
    """

    def __init__(
        self,
        num_features: int,                    # channels of the normalised input
        cond_dims: int | Sequence[int],       # channels of each conditional map
        num_filters: int | Sequence[int] = 128,  # hidden channels per map (0: no hidden conv)
        kernel_size: int = 3,                 # kernel of the modulation convs
        weight_norm: str = "",                # weight norm of the modulation convs
        separate_projection: bool = False,    # separate gamma / beta convs
        norm: str = "sync_batch",             # the normalisation applied first
        norm_params: dict | None = None,      # its keyword arguments (default affine=False)
        bias_only: bool = False,              # only add beta
        interpolation: str = "nearest",       # how maps are resized to the input
    ):
        super().__init__()
        cond_dims = list(cond_dims) if isinstance(cond_dims, (list, tuple)) else [cond_dims]
        filters = list(num_filters) if isinstance(num_filters, (list, tuple)) else [num_filters] * len(cond_dims)
        if len(filters) < len(cond_dims):
            raise ValueError(f"num_filters needs {len(cond_dims)} entries, found {len(filters)}")
        pad = kernel_size // 2
        self.separate_projection, self.bias_only, self.interpolation = separate_projection, bias_only, interpolation
        self.mlps, self.gammas, self.betas = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for cond_ch, hidden in zip(cond_dims, filters):
            layers: list[nn.Module] = []
            if hidden > 0:
                layers.append(ConvBlock(cond_ch, hidden, kernel_size, padding=pad, weight_norm=weight_norm,
                                        activation="relu"))
            ch = hidden if hidden > 0 else cond_ch
            if separate_projection:
                self.mlps.append(nn.Sequential(*layers))
                self.gammas.append(ConvBlock(ch, num_features, kernel_size, padding=pad, weight_norm=weight_norm))
                self.betas.append(ConvBlock(ch, num_features, kernel_size, padding=pad, weight_norm=weight_norm))
            else:
                layers.append(ConvBlock(ch, 2 * num_features, kernel_size, padding=pad, weight_norm=weight_norm))
                self.mlps.append(nn.Sequential(*layers))
        self.norm = make_norm(norm, num_features, 2, **(norm_params if norm_params is not None else {"affine": False}))
        self.conditional = True

    def forward(self, x: torch.Tensor, *cond_maps: torch.Tensor | None, **_: Any) -> torch.Tensor:
        out = self.norm(x) if self.norm is not None else x
        for i, cond in enumerate(cond_maps):
            if cond is None:
                continue
            cond = (resize_nearest(cond, x.shape[2:]) if self.interpolation == "nearest"
                    else F.interpolate(cond, size=x.shape[2:], mode=self.interpolation))
            if self.separate_projection:
                hidden = self.mlps[i](cond)
                gamma, beta = self.gammas[i](hidden), self.betas[i](hidden)
            else:
                gamma, beta = self.mlps[i](cond).chunk(2, dim=1)
            out = out + beta if self.bias_only else out * (1 + gamma) + beta
        return out


class ResBlock(nn.Module):
    """Residual block: two conv blocks on the residual branch and an identity or learned shortcut.

    ``order`` has 5 or 6 letters: the first three are the first conv block's, the rest the second's
    (``"pre_act"`` means ``"NACNAC"``). The hidden width is ``min(in, out)`` (``out`` with
    ``hidden_equals_out``). The shortcut is learned when ``learn_shortcut`` (default: ``in != out``):
    a 1x1 conv block with the same normalisation when ``skip_norm`` and the same activation when
    ``skip_activation``. With an identity shortcut and ``in < out`` a conv adds the missing channels;
    with ``in > out`` the first ``out`` channels are kept.

    Conditional inputs are passed to every block; with ``separate_cond=True`` the forward takes one
    conditional input per block (block 0, block 1, shortcut).

    Example:
        >>> ResBlock(8, 8, norm="instance", activation="relu", order="CNACN")(torch.zeros(1, 8, 8, 8)).shape
        torch.Size([1, 8, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,                 # input channels
        out_channels: int,                # output channels
        kernel_size: int = 3,             # kernel of the branch convs
        padding: int = 1,                 # their padding
        bias: bool | Sequence[bool] = True,  # bias of (block 0, block 1, shortcut)
        padding_mode: str = "zeros",      # padding mode of all convs
        weight_norm: str = "none",        # weight norm of all convs
        norm: str = "none",               # normalisation kind
        norm_params: dict | None = None,  # its keyword arguments
        activation: str = "leakyrelu",    # activation of the branch
        order: str = "CNACNA",            # operations of the two branch blocks
        learn_shortcut: bool | None = None,  # learned shortcut (default: in != out)
        hidden_equals_out: bool = False,  # hidden width = out (else min(in, out))
        skip_norm: bool = True,           # learned shortcut has the normalisation
        skip_activation: bool = False,    # learned shortcut has the activation
        skip_weight_norm: bool = True,    # learned shortcut has the weight norm
        output_scale: float = 1.0,        # the sum is multiplied by this
    ):
        super().__init__()
        order = "NACNAC" if order == "pre_act" else order
        if len(order) not in (5, 6):
            raise ValueError(f"a residual block's order has 5 or 6 letters, found {order!r}")
        biases = [bias] * 3 if isinstance(bias, bool) else list(bias)
        self.in_channels, self.out_channels, self.output_scale = in_channels, out_channels, output_scale
        self.learn_shortcut = (in_channels != out_channels) if learn_shortcut is None else learn_shortcut
        hidden = out_channels if hidden_equals_out else min(in_channels, out_channels)
        common = dict(padding_mode=padding_mode, weight_norm=weight_norm, norm=norm, norm_params=norm_params,
                      activation=activation)
        self.conv_0 = ConvBlock(in_channels, hidden, kernel_size, padding=padding, bias=biases[0],
                                order=order[:3], **common)
        self.conv_1 = ConvBlock(hidden, out_channels, kernel_size, padding=padding, bias=biases[1],
                                order=order[3:], **common)
        self.shortcut: ConvBlock | None = None
        if self.learn_shortcut or in_channels < out_channels:
            skip_out = out_channels if self.learn_shortcut else out_channels - in_channels
            self.shortcut = ConvBlock(
                in_channels, skip_out, 1, bias=biases[2], padding_mode=padding_mode,
                weight_norm=weight_norm if skip_weight_norm else "none",
                norm=norm if skip_norm else "none", norm_params=norm_params if skip_norm else None,
                activation=activation if skip_activation else "none", order=order[:3])
        self.conditional = self.conv_0.conditional or self.conv_1.conditional

    def branch(self, x: torch.Tensor, *cond: Any, separate_cond: bool = False) -> torch.Tensor:
        if separate_cond:
            return self.conv_1(self.conv_0(x, cond[0]), cond[1])
        return self.conv_1(self.conv_0(x, *cond), *cond)

    def skip(self, x: torch.Tensor, *cond: Any, separate_cond: bool = False) -> torch.Tensor:
        if self.shortcut is not None:
            s = self.shortcut(x, cond[2]) if separate_cond else self.shortcut(x, *cond)
            return s if self.learn_shortcut else torch.cat((x, s), dim=1)
        if self.in_channels > self.out_channels:
            return x[:, : self.out_channels]
        return x

    def forward(self, x: torch.Tensor, *cond: Any, separate_cond: bool = False) -> torch.Tensor:
        out = self.skip(x, *cond, separate_cond=separate_cond) + self.branch(x, *cond, separate_cond=separate_cond)
        return out if self.output_scale == 1 else out * self.output_scale

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, learn_shortcut={self.learn_shortcut}"


class UpResBlock(ResBlock):
    """Residual block that doubles the resolution (nearest) between its first and second conv.

    The shortcut is up-sampled first, then (if learned) convolved. With a pre-activation first block
    (``NAC``) the normalisation and activation run before the up-sampling, the conv after it.

    Example:
        >>> UpResBlock(8, 4, kernel_size=5, padding=2, activation="relu")(torch.zeros(1, 8, 8, 8)).shape
        torch.Size([1, 4, 16, 16])
    """

    def __init__(self, *args: Any, scale_factor: int = 2, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.scale_factor = scale_factor

    def up(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale_factor, mode="nearest")

    def forward(self, x: torch.Tensor, *cond: Any, separate_cond: bool = False) -> torch.Tensor:
        skip = self.up(x)
        if self.learn_shortcut:
            skip = self.shortcut(skip, *cond)
        if self.conv_0.order.startswith("NA"):
            dx = self.conv_0.run_from_conv(self.up(self.conv_0.run_until_conv(x, *cond)), *cond)
        else:
            dx = self.up(self.conv_0(x, *cond))
        out = skip + self.conv_1(dx, *cond)
        return out if self.output_scale == 1 else out * self.output_scale


class DownResBlock(ResBlock):
    """Residual block followed by pooling (average by default) on both paths.

    Example:
        >>> DownResBlock(4, 8, activation="relu")(torch.zeros(1, 4, 8, 8)).shape
        torch.Size([1, 8, 4, 4])
    """

    def __init__(self, *args: Any, down_factor: int = 2, pooling: type[nn.Module] = nn.AvgPool2d, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.pool = pooling(down_factor)

    def forward(self, x: torch.Tensor, *cond: Any, separate_cond: bool = False) -> torch.Tensor:
        dx = self.pool(self.branch(x, *cond))
        skip = self.shortcut(x, *cond) if self.learn_shortcut else x
        out = self.pool(skip) + dx
        return out if self.output_scale == 1 else out * self.output_scale


class PositionalGrid(nn.Module):
    """A fixed 2-channel (row, column) coordinate grid in [-1, 1], resized bicubically on demand.

    SPADE's generator concatenates it to its lowest-resolution label input. The grid has
    ``size`` x ``size`` samples (not a buffer: it is rebuilt, never stored in a checkpoint).
    """

    def __init__(self, size: int = 16):
        super().__init__()
        step = 2.0 / (size - 1)
        axis = torch.arange(-1, 1 + 0.1, step)[:size]
        rows, cols = torch.meshgrid(axis, axis, indexing="ij")
        self._grid = torch.stack((rows, cols)).unsqueeze(0)

    def forward(self, batch: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        grid = self._grid.to(device=like.device, dtype=like.dtype)
        grid = F.interpolate(grid, size=(height, width), mode="bicubic")
        return grid.expand(batch, 2, height, width)


def _norm_blocks(module: nn.Module):
    for m in module.modules():
        if isinstance(m, _Block) and m.weight_norm not in ("none", ""):
            yield m


def apply_weight_norms(module: nn.Module) -> nn.Module:
    """Wrap every block marked ``spectral`` / ``weight`` with torch's parametrisation (for training)."""
    from torch.nn.utils import parametrizations, parametrize

    for block in _norm_blocks(module):
        if parametrize.is_parametrized(block.conv):
            continue
        if block.weight_norm == "spectral":
            dim = 1 if isinstance(block.conv, nn.modules.conv._ConvTransposeNd) else 0
            parametrizations.spectral_norm(block.conv, dim=dim)
        elif block.weight_norm == "weight":
            parametrizations.weight_norm(block.conv)
        else:
            raise ValueError(f"unknown weight norm {block.weight_norm!r}")
    return module


def load_plain_weights(module: nn.Module, state: dict) -> tuple[list[str], list[str]]:
    """Load a plain state dict (a model file's: ``conv.weight``) into ``module`` whose blocks may carry
    weight-norm parametrisations: each such weight is assigned through its parametrisation (spectral
    norm keeps it as the original, weight norm splits it into gain and direction). Returns the
    (missing, unexpected) keys, as ``load_state_dict(strict=False)`` does, named as in the plain file."""
    from torch.nn.utils import parametrize

    state = dict(state)
    inner, missing = [], []
    with torch.no_grad():
        for name, m in module.named_modules(remove_duplicate=False):  # a shared module under each name
            if parametrize.is_parametrized(m, "weight"):
                key = f"{name}.weight" if name else "weight"
                inner.append(f"{name}.parametrizations." if name else "parametrizations.")
                if key in state:
                    m.weight = state.pop(key).to(m.parametrizations.weight.original.dtype)
                else:
                    missing.append(key)
    result = module.load_state_dict(state, strict=False)
    missing += [k for k in result.missing_keys if not k.startswith(tuple(inner))]
    return missing, list(result.unexpected_keys)


def fold_weight_norms(module: nn.Module) -> nn.Module:
    """Replace weight-norm parametrisations by the plain weights they currently compute (for inference)."""
    from torch.nn.utils import parametrize

    for m in module.modules():
        if parametrize.is_parametrized(m):
            for name in list(m.parametrizations.keys()):
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)
    return module
