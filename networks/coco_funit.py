"""COCO-FUNIT: few-shot translation with a content-conditioned style encoder (Saito et al., ECCV 2020).

FUNIT's architecture, but the class code that drives the decoder is computed *with* the content: the
style code (concatenated with a learned "universal style bias") and the content's pooled code each go
through an MLP and are multiplied, which keeps the content's pose from leaking through the style.

Example:
    >>> import torch
    >>> model = COCOFUNIT(COCOFUNITConfig(num_filters=4, num_filters_mlp=8, style_dims=8, usb_dims=16)).eval()
    >>> model.generate(torch.zeros(1, 3, 32, 32), examples=torch.zeros(2, 3, 32, 32)).shape
    torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

from .funit import FUNIT, FUNITConfig, _Translator
from .munit import StyleMLP
from .registry import register_model

__all__ = ["COCOFUNITConfig", "COCOFUNIT"]


@dataclass
class COCOFUNITConfig(FUNITConfig):
    """COCO-FUNIT hyper-parameters: FUNIT's plus the universal style bias length."""

    usb_dims: int = 1024               # length of the learned universal style bias

    @classmethod
    def from_imaginaire(cls, cfg: Mapping) -> "COCOFUNITConfig":
        gen = cfg["gen"]
        return cls(usb_dims=gen.get("usb_dims", 1024), **cls._common(gen))


class _COCOTranslator(_Translator):
    def __init__(self, cfg: COCOFUNITConfig):
        super().__init__(cfg)
        self.usb = nn.Parameter(torch.randn(1, cfg.usb_dims))
        self.mlp_content = StyleMLP(self.content_encoder.output_dim, cfg.style_dims, cfg.num_filters_mlp, 2)
        self.mlp_style = StyleMLP(cfg.style_dims + cfg.usb_dims, cfg.style_dims, cfg.num_filters_mlp, 2)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        content_code = self.mlp_content(content.mean(3).mean(2))
        n = style.shape[0]
        style_code = self.mlp_style(torch.cat((style.reshape(n, -1), self.usb.expand(n, -1)), 1))
        return self.decoder(content, self.mlp(style_code * content_code))


@register_model("coco_funit", COCOFUNITConfig)
class COCOFUNIT(FUNIT):
    """The COCO-FUNIT generator; same API as :class:`FUNIT`."""

    translator_cls = _COCOTranslator
