"""wc-vid2vid's guidance while training: the colours generated so far, seen again through each pixel's 3D point.

Inference keeps one world per stream (:mod:`vidsynth.geometry.guidance`, and
:mod:`vidsynth.geometry.imaginaire_unprojection` for imaginaire's files). Training does the same for a batch of
sequences at once, from the dataset's per-pixel point ids (``points``: B,T,H,W, numbered 0..n-1 per
example, -1 where no point). The rules are inference's:

- before frame t, each pixel whose point already has a colour shows it (mask 1), every other pixel is
  -1 (mask 0);
- after frame t, each point without a colour takes the generated frame's colour at its first pixel
  (raster order), stored as 8 bits the way inference stores it; a colour never changes afterwards.

>>> import torch
>>> points = torch.tensor([[[[0, 1]], [[1, -1]]]])  # one sequence of 2 frames of 1x2 pixels
>>> g = SequenceGuidance(points)
>>> g.guidance(0)[0, 3].tolist()  # nothing generated yet
[[0.0, 0.0]]
>>> g.update(0, torch.tensor([[[[1.0, -1.0]], [[1.0, -1.0]], [[1.0, -1.0]]]]))
>>> g.guidance(1)[0, :, 0].tolist()  # point 1 was generated black; the second pixel has no point
[[-1.0, -1.0], [-1.0, -1.0], [-1.0, -1.0], [1.0, 0.0]]
"""

from __future__ import annotations

import torch

from .losses import wide


def quantise(image: torch.Tensor) -> torch.Tensor:
    """A generated image in [-1, 1] as inference stores it in the world (8 bits, truncated), back in [-1, 1]."""
    return torch.floor(((wide(image.detach()) + 1.0) * 127.5).clamp(0.0, 255.0)) / 127.5 - 1.0


class SequenceGuidance:
    """The point colours of a batch of sequences being generated: ``guidance(t)`` before frame t,
    ``update(t, image)`` after it."""

    def __init__(self, points: torch.Tensor):
        if points.dim() != 4:
            raise ValueError(f"points: expected a (B, T, H, W) id map, found {tuple(points.shape)}")
        B, T, H, W = points.shape
        self.size = (H, W)
        self.points = points.reshape(B, T, H * W)
        n = max(int(points.max()) + 1, 1) if points.numel() else 1
        self.colours = torch.zeros(B, n, 3, device=points.device)
        self.seen = torch.zeros(B, n, dtype=torch.bool, device=points.device)

    def guidance(self, t: int) -> torch.Tensor:
        """[B, 4, H, W]: RGB in [-1, 1] where the pixel's point has a colour, -1 elsewhere; the mask last."""
        ids = self.points[:, t]
        index = ids.clamp_min(0)
        shown = (ids >= 0) & torch.gather(self.seen, 1, index)
        rgb = torch.gather(self.colours, 1, index[..., None].expand(-1, -1, 3))
        rgb = torch.where(shown[..., None], rgb, torch.full_like(rgb, -1.0))
        B, (H, W) = ids.shape[0], self.size
        return torch.cat([rgb.transpose(1, 2), shown[:, None].to(rgb.dtype)], 1).reshape(B, 4, H, W)

    def update(self, t: int, image: torch.Tensor) -> None:
        """Colour the points of frame t that have none yet from ``image`` [B, 3, H, W] (generated, in [-1, 1])."""
        ids = self.points[:, t]
        B, n = self.seen.shape
        pixels = ids.shape[1]
        first = torch.full((B, n + 1), pixels, dtype=torch.int64, device=ids.device)  # slot n: no point
        position = torch.arange(pixels, device=ids.device).expand(B, pixels)
        first.scatter_reduce_(1, torch.where(ids >= 0, ids, n), position, reduce="amin")
        first = first[:, :n]
        new = (first < pixels) & ~self.seen
        q = quantise(image).reshape(B, 3, pixels).to(self.colours.device)
        taken = torch.gather(q, 2, first.clamp_max(pixels - 1)[:, None].expand(-1, 3, -1)).transpose(1, 2)
        self.colours = torch.where(new[..., None], taken, self.colours)
        self.seen |= new
