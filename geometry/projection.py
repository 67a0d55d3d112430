"""Pinhole projection both ways: depth maps to 3D points, 3D points to pixels (vectorised torch;
conventions in camera.py). imaginaire's precomputed pixel → point files are
:mod:`vidsynth.geometry.imaginaire_unprojection`.

>>> import torch
>>> from vidsynth.geometry.camera import Intrinsics
>>> K = Intrinsics.from_fov(4, 4, 90.0)
>>> pts, valid = unproject_depth(torch.full((4, 4), 2.0), K)
>>> pts.shape, bool(valid.all()), float(pts[..., 2].mean())
(torch.Size([4, 4, 3]), True, 2.0)
"""

from __future__ import annotations

import numpy as np
import torch

from .camera import Intrinsics


def as_tensor(x, dtype=torch.float32, device=None) -> torch.Tensor:
    """numpy or tensor → tensor of ``dtype`` on ``device`` (no copy when it already is one)."""
    if isinstance(x, torch.Tensor):
        return x.to(dtype=dtype, device=device if device is not None else x.device)
    a = np.asarray(x)
    if not a.flags.writeable:  # e.g. a decoded frame: torch would warn, and must not write into it anyway
        a = a.copy()
    return torch.as_tensor(a, dtype=dtype, device=device)


def camera_rays(K: Intrinsics, dtype=torch.float32, device=None) -> torch.Tensor:
    """H×W×3 ray directions in camera coordinates with z = 1, so that point = ray · depth."""
    u = (torch.arange(K.width, dtype=torch.float64, device=device) - K.cx) / K.fx
    v = (torch.arange(K.height, dtype=torch.float64, device=device) - K.cy) / K.fy
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return torch.stack([uu, vv, torch.ones_like(uu)], -1).to(dtype)


def unproject_depth(depth, K: Intrinsics, pose=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth (H×W, metres, z-depth; 0/NaN/inf = no surface) → H×W×3 points and an H×W validity mask.

    With ``pose`` (4×4 camera-to-world) the points are in the world, otherwise in the camera. The
    depth's size must match the intrinsics (use ``Intrinsics.scaled`` after resizing a depth map).
    """
    d = as_tensor(depth, dtype)
    if d.shape != (K.height, K.width):
        raise ValueError(f"depth is {tuple(d.shape)}, intrinsics are for {K.height}x{K.width}")
    valid = torch.isfinite(d) & (d > 0)
    d = torch.where(valid, d, torch.zeros((), dtype=dtype, device=d.device))
    pts = camera_rays(K, dtype, d.device) * d[..., None]
    if pose is not None:
        P = as_tensor(pose, dtype, d.device)
        pts = pts @ P[:3, :3].T + P[:3, 3]
    return pts, valid


def project_points(points, K: Intrinsics, pose=None) -> tuple[torch.Tensor, torch.Tensor]:
    """World points [P,3] → sub-pixel coordinates [P,2] (u, v) and camera depths [P] in camera ``pose``.

    Points behind the camera get depth ≤ 0; the caller decides what is visible.
    """
    p = as_tensor(points, points.dtype if isinstance(points, torch.Tensor) else torch.float32)
    if pose is not None:
        P = as_tensor(pose, p.dtype, p.device)
        p = (p - P[:3, 3]) @ P[:3, :3]  # R^T (p - t), written for row vectors
    z = p[:, 2]
    zs = torch.where(z.abs() > 1e-9, z, torch.full_like(z, 1e-9))
    uv = torch.stack([K.fx * p[:, 0] / zs + K.cx, K.fy * p[:, 1] / zs + K.cy], 1)
    return uv, z


def unproject_valid_rows(depth, K: Intrinsics, pose=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The valid pixels of a depth map as [3,n] float32 points (x, y, z rows; world if ``pose``) and
    their flat pixel indices [n] (row-major). The same points as :func:`unproject_depth`, laid out for
    the world's column-wise storage and computed without [H·W,3] temporaries.

    >>> import torch
    >>> from vidsynth.geometry.camera import Intrinsics
    >>> rows, pix = unproject_valid_rows(torch.tensor([[2.0, 0.0], [1.0, 1.0]]), Intrinsics.from_fov(2, 2, 90.0))
    >>> rows.shape, pix.tolist()
    (torch.Size([3, 3]), [0, 2, 3])
    """
    d = as_tensor(depth, torch.float32)
    if d.shape != (K.height, K.width):
        raise ValueError(f"depth is {tuple(d.shape)}, intrinsics are for {K.height}x{K.width}")
    flat = d.reshape(-1)
    pix = torch.nonzero(torch.isfinite(flat) & (flat > 0)).squeeze(1)
    z = flat.index_select(0, pix)
    # the same float32 ray values as camera_rays (computed in float64, then rounded)
    ru = ((torch.arange(K.width, dtype=torch.float64, device=d.device) - K.cx) / K.fx).to(torch.float32)
    rv = ((torch.arange(K.height, dtype=torch.float64, device=d.device) - K.cy) / K.fy).to(torch.float32)
    cam = torch.empty(3, pix.shape[0], dtype=torch.float32, device=d.device)
    torch.mul(ru.index_select(0, pix % K.width), z, out=cam[0])
    torch.mul(rv.index_select(0, torch.div(pix, K.width, rounding_mode="floor")), z, out=cam[1])
    cam[2] = z
    if pose is None:
        return cam, pix
    P = as_tensor(pose, torch.float32, d.device)
    world = torch.mm(P[:3, :3], cam)
    world.add_(P[:3, 3:4])
    return world, pix
