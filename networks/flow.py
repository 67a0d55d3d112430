"""Flow warping with ``grid_sample`` and the flow / occlusion-mask heads of the video generators.

No CUDA extension is involved: imaginaire's ``resample2d`` op is replaced by ``grid_sample``
(bilinear, border padding, ``align_corners=True``), which is what its generators call at inference.

A flow map is ``[N, 2, H, W]`` in pixels, channel 0 the x (column) offset and channel 1 the y (row)
offset, and it points from the output pixel to where it is read: ``out[y, x] = img[y + fy, x + fx]``.

>>> img = torch.arange(16.0).view(1, 1, 4, 4)
>>> flow = torch.zeros(1, 2, 4, 4); flow[:, 0] = 1.0      # read one pixel to the right
>>> warp(img, flow)[0, 0, 0, :3]
tensor([1., 2., 3.])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvBlock, ResBlock

__all__ = ["warp", "FlowWarp", "base_grid", "FlowNetConfig", "TemporalFlowHead", "PairFlowHead"]


def base_grid(batch: int, height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """The identity sampling grid ``[N, 2, H, W]`` in grid_sample's normalised [-1, 1] coordinates.

    >>> base_grid(1, 2, 3)[0, 0, 0]
    tensor([-1.,  0.,  1.])
    """
    xs = torch.linspace(-1.0, 1.0, width, device=device, dtype=dtype).view(1, 1, 1, width)
    ys = torch.linspace(-1.0, 1.0, height, device=device, dtype=dtype).view(1, 1, height, 1)
    return torch.cat([xs.expand(batch, 1, height, width), ys.expand(batch, 1, height, width)], dim=1)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Resample ``image`` [N,C,H,W] at ``pixel + flow`` (flow [N,2,H,W] in pixels), bilinear, border.

    The pixel-to-normalised conversion divides by ``(size - 1) / 2`` and adds the offset to a
    linspace grid, in this order, so the result is bit-identical to imaginaire's ``resample``.

    >>> warp(torch.ones(1, 3, 8, 8), torch.zeros(1, 2, 8, 8)).shape
    torch.Size([1, 3, 8, 8])
    """
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be [N, 2, H, W], got {tuple(flow.shape)}")
    if image.shape[0] != flow.shape[0] or image.shape[2:] != flow.shape[2:]:
        raise ValueError(f"image {tuple(image.shape)} and flow {tuple(flow.shape)} differ in batch or size")
    n, _, h, w = image.shape
    grid = base_grid(n, h, w, device=flow.device, dtype=flow.dtype)
    offset = torch.cat([flow[:, 0:1] / ((w - 1.0) / 2.0), flow[:, 1:2] / ((h - 1.0) / 2.0)], dim=1)
    sample_at = (grid + offset).permute(0, 2, 3, 1)
    return F.grid_sample(image, sample_at, mode="bilinear", padding_mode="border", align_corners=True)


class FlowWarp(nn.Module):
    """Module form of :func:`warp` (no parameters), for use inside ``nn.Sequential`` and export.

    >>> FlowWarp()(torch.ones(1, 3, 8, 8), torch.zeros(1, 2, 8, 8)).shape
    torch.Size([1, 3, 8, 8])
    """

    def forward(self, image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return warp(image, flow)


@dataclass
class FlowNetConfig:
    """Shape of a flow / occlusion-mask head (imaginaire's ``gen.flow`` section).

    >>> FlowNetConfig(num_filters=8, num_downsamples=2).channels(2)
    32
    """

    num_filters: int = 32              # channels after the first conv
    max_num_filters: int = 1024        # cap on channels
    num_downsamples: int = 3           # stride-2 convs (the map is up-sampled back as many times)
    num_res_blocks: int = 6            # residual blocks at the lowest resolution
    kernel_size: int = 3               # conv kernel
    norm: str = "instance"             # normalisation of every conv block
    weight_norm: str = "spectral"      # weight norm (training only)
    flow_multiplier: float = 20.0      # the flow conv's output is scaled by this (pixels)
    separate_mask_decoder: bool = False  # the mask gets its own up-sampling path (fs-vid2vid's sep_up_mask)

    def channels(self, level: int) -> int:
        return min(self.max_num_filters, self.num_filters * 2 ** level)


class _FlowHeadBase(nn.Module):
    """Shared decoder: residual blocks, nearest up-sampling convs, a flow conv and a sigmoid mask conv."""

    def _build_decoder(self, cfg: FlowNetConfig, res_order: str) -> None:
        k, pad = cfg.kernel_size, cfg.kernel_size // 2
        ch = cfg.channels(cfg.num_downsamples)
        self.res_flow = nn.Sequential(*[
            ResBlock(ch, ch, k, padding=pad, weight_norm=cfg.weight_norm, norm=cfg.norm, order=res_order)
            for _ in range(cfg.num_res_blocks)])
        self.up_flow = self._up_path(cfg)
        if cfg.separate_mask_decoder:
            self.up_mask = self._up_path(cfg)
        self.conv_flow = nn.Sequential(ConvBlock(cfg.num_filters, 2, k, padding=pad))
        self.conv_mask = nn.Sequential(ConvBlock(cfg.num_filters, 1, k, padding=pad, activation="sigmoid"))
        self.flow_multiplier = cfg.flow_multiplier
        self.separate_mask_decoder = cfg.separate_mask_decoder

    @staticmethod
    def _up_path(cfg: FlowNetConfig) -> nn.Sequential:
        k, pad = cfg.kernel_size, cfg.kernel_size // 2
        layers: list[nn.Module] = []
        for i in reversed(range(cfg.num_downsamples)):
            layers += [nn.Upsample(scale_factor=2),
                       ConvBlock(cfg.channels(i + 1), cfg.channels(i), k, padding=pad, weight_norm=cfg.weight_norm,
                                 norm=cfg.norm, activation="leakyrelu")]
        return nn.Sequential(*layers)

    def _decode(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        res = self.res_flow(features)
        flow_feat = self.up_flow(res)
        flow = self.conv_flow(flow_feat) * self.flow_multiplier
        mask = self.conv_mask(self.up_mask(res) if self.separate_mask_decoder else flow_feat)
        return flow, mask


def _down_path(in_channels: int, cfg: FlowNetConfig) -> nn.Sequential:
    k, pad = cfg.kernel_size, cfg.kernel_size // 2
    common = dict(padding=pad, weight_norm=cfg.weight_norm, norm=cfg.norm, activation="leakyrelu")
    layers = [ConvBlock(in_channels, cfg.num_filters, k, **common)]
    layers += [ConvBlock(cfg.channels(i), cfg.channels(i + 1), k, stride=2, **common)
               for i in range(cfg.num_downsamples)]
    return nn.Sequential(*layers)


class TemporalFlowHead(_FlowHeadBase):
    """vid2vid's flow head: labels and previous frames are encoded separately, summed, decoded.

    Input: the current and previous labels concatenated ``[N, label_ch * num_frames, H, W]`` and the
    previous frames ``[N, image_ch * (num_frames - 1), H, W]``. Output: ``flow`` [N,2,H,W] (pixels,
    warps the last previous frame to the current one) and ``mask`` [N,1,H,W] in (0, 1).

    >>> head = TemporalFlowHead(FlowNetConfig(num_filters=4, num_downsamples=2, num_res_blocks=1), 3, 3, 3)
    >>> flow, mask = head(torch.zeros(1, 9, 16, 16), torch.zeros(1, 6, 16, 16))
    >>> flow.shape, mask.shape
    (torch.Size([1, 2, 16, 16]), torch.Size([1, 1, 16, 16]))
    """

    def __init__(self, cfg: FlowNetConfig, label_channels: int, image_channels: int, num_frames: int):
        super().__init__()
        self.down_lbl = _down_path(label_channels * num_frames, cfg)
        self.down_img = _down_path(image_channels * (num_frames - 1), cfg)
        self._build_decoder(cfg, res_order="CNACN")

    def forward(self, labels: torch.Tensor, prev_images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._decode(self.down_lbl(labels) + self.down_img(prev_images))


class PairFlowHead(_FlowHeadBase):
    """Few-shot vid2vid's flow head: one encoder over ``[label, other labels, other images]``.

    Used both to warp a reference image to the current frame (``num_frames=2``: one reference
    label and image) and the previous frames (``num_frames=num_frames_G``).

    >>> head = PairFlowHead(FlowNetConfig(num_filters=4, num_downsamples=2, num_res_blocks=1), 1, 3, 2)
    >>> head(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16), torch.zeros(1, 3, 16, 16))[0].shape
    torch.Size([1, 2, 16, 16])
    """

    def __init__(self, cfg: FlowNetConfig, label_channels: int, image_channels: int, num_frames: int):
        super().__init__()
        in_ch = label_channels * num_frames + image_channels * (num_frames - 1)
        self.down_flow = _down_path(in_ch, cfg)
        self._build_decoder(cfg, res_order="NACNAC")

    def forward(self, label: torch.Tensor, other_labels: torch.Tensor,
                other_images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._decode(self.down_flow(torch.cat([label, other_labels, other_images], dim=1)))
