"""How segmentation models expect their label input: one-hot classes, don't-care, instance edges.

imaginaire's paired models (pix2pixHD, SPADE, vid2vid) take a float label tensor made of the one-hot
segmentation (``num_classes`` channels), optionally a "don't care" channel (id 255), and optionally a
channel of instance-boundary edges. :class:`LabelLayout` records which, and :meth:`LabelLayout.encode`
builds that tensor from integer maps, refusing ids the model has no channel for.

Example:
    >>> import torch
    >>> layout = LabelLayout(num_classes=4, instance_edges=True)
    >>> ids = torch.tensor([[[0, 1], [2, 3]]])
    >>> layout.encode(ids, instance_map=ids).shape
    torch.Size([1, 5, 2, 2])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vidsynth.errors import VidsynthError

DONT_CARE_ID = 255


def instance_edges(instance_map: torch.Tensor) -> torch.Tensor:
    """1 where a pixel's instance id differs from a 4-neighbour's, else 0 ([N,1,H,W] float)."""
    t = instance_map
    edge = torch.zeros(t.shape, dtype=torch.bool, device=t.device)
    dx = t[..., :, 1:] != t[..., :, :-1]
    dy = t[..., 1:, :] != t[..., :-1, :]
    edge[..., :, 1:] |= dx
    edge[..., :, :-1] |= dx
    edge[..., 1:, :] |= dy
    edge[..., :-1, :] |= dy
    return edge.float()


@dataclass
class LabelLayout:
    """The channels of a segmentation model's label input, in order."""

    num_classes: int = 35          # one-hot segmentation classes (ids 0 .. num_classes-1)
    dont_care: bool = False        # one more channel for id 255 (else 255 pixels are all-zero)
    instance_edges: bool = False   # one more channel: edges of the instance map (or an edge map)

    @property
    def channels(self) -> int:
        return self.num_classes + int(self.dont_care) + int(self.instance_edges)

    def encode(self, label_ids: torch.Tensor, instance_map: torch.Tensor | None = None,
               edge_map: torch.Tensor | None = None) -> torch.Tensor:
        """Integer label maps [N,H,W] or [N,1,H,W] -> float input [N, channels, H, W].

        The edge channel comes from ``edge_map`` (values in [0,1]) if given, else from the instance
        boundaries of ``instance_map``, else from the label map's own boundaries.
        """
        ids = label_ids if label_ids.dim() == 4 else label_ids.unsqueeze(1)
        if ids.dim() != 4 or ids.shape[1] != 1:
            raise VidsynthError(f"label maps must be [N,H,W] or [N,1,H,W] integers, found shape {list(label_ids.shape)}")
        ids = ids.long()
        valid = (ids < self.num_classes) | (ids == DONT_CARE_ID)
        if bool((ids < 0).any()) or not bool(valid.all()):
            bad = torch.unique(ids[~valid | (ids < 0)]).tolist()[:10]
            raise VidsynthError(
                f"the label map has class id(s) {bad} but the model has {self.num_classes} classes "
                f"(ids 0..{self.num_classes - 1}, and {DONT_CARE_ID} for don't-care); remap the labels "
                "(e.g. with an id mapping JSON) or use a model trained on this label set"
            )
        n, _, h, w = ids.shape
        onehot = torch.zeros(n, self.num_classes + 1, h, w, device=ids.device)
        onehot.scatter_(1, ids.clamp(max=self.num_classes), 1.0)
        parts = [onehot if self.dont_care else onehot[:, : self.num_classes]]
        if self.instance_edges:
            if edge_map is not None:
                edges = edge_map.float().reshape(n, 1, h, w)
            else:
                edges = instance_edges(instance_map.reshape(n, 1, h, w) if instance_map is not None else ids)
            parts.append(edges.to(onehot.device))
        return torch.cat(parts, dim=1)
