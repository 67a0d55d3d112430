"""Conversions between pipeline images (H×W×3 uint8 RGB numpy) and network tensors ([N,3,H,W] in [-1, 1])."""

from __future__ import annotations

import numpy as np
import torch


def image_to_tensor(image: np.ndarray, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """uint8 H×W×3 → [1,3,H,W] in [-1, 1].

    >>> image_to_tensor(np.full((2, 2, 3), 255, np.uint8)).max().item()
    1.0
    """
    t = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    return (t.permute(2, 0, 1).unsqueeze(0).to(dtype) / 127.5 - 1.0)


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """[1,3,H,W] (or [3,H,W]) in [-1, 1] → uint8 H×W×3, rounded to nearest and clamped.

    >>> tensor_to_image(torch.zeros(1, 3, 1, 1))[0, 0].tolist()
    [128, 128, 128]
    """
    if x.dim() == 4:
        x = x[0]
    x = ((x.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 0).cpu().numpy()
