"""Guidance images for wc-vid2vid: the world's coloured points seen from the next camera.

:class:`GuidanceRenderer` projects coloured points into a camera with a z-buffer built from one
``scatter_reduce(amin)`` over packed (depth, point index) int64 keys (positive float32 depths order
like their bit patterns, so the smallest key is the nearest point), and returns the generator's
guidance: an [N,4,H,W] float32 tensor, RGB in [-1,1] where a point was seen and -1 elsewhere, and a
{0,1} mask as the fourth channel. ``splat`` > 1 draws each point as a splat×splat square (the z-test
still keeps the nearest), which closes the holes between points when the camera moves closer.

:class:`WorldGuidance` closes wc-vid2vid's loop for one stream: ``guidance(depth, camera, size)``
before the generator runs, ``update(image)`` after it produced the frame.

>>> import torch
>>> from vidsynth.geometry.camera import Intrinsics
>>> K = Intrinsics.from_fov(8, 8, 90.0)
>>> g = GuidanceRenderer().render(torch.tensor([[0.0, 0.0, 2.0]]), torch.tensor([[255, 0, 0]], dtype=torch.uint8), K)
>>> g.shape, float(g[0, 3].sum())
(torch.Size([1, 4, 8, 8]), 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vidsynth.errors import VidsynthError

from .camera import Camera, Intrinsics
from .projection import as_tensor, unproject_valid_rows
from .world import PointWorld, WorldConfig, pack_colours

_NO_HIT = torch.iinfo(torch.int64).max
_LOW32 = 0xFFFFFFFF
# above every packed key of a finite positive depth (float32 bits <= 0x7F7FFFFF in the high half)
_EMPTY_HIGH = 0x7FFFFFFF << 32


@dataclass
class GuidanceConfig:
    """How points become a guidance image."""

    splat: int = 1          # each point covers splat×splat pixels (odd sizes centre on the point)
    near: float = 0.05      # metres: nearer points are ignored
    far: float = float("inf")  # metres: farther points are ignored


def _nearest_per_pixel(pix: torch.Tensor, z: torch.Tensor, ids: torch.Tensor, pixels: int, empty_id: int,
                       ws: "_Workspace | None" = None) -> torch.Tensor:
    """One ``scatter_reduce(amin)`` z-test: for flat pixel indices ``pix`` of points with depths ``z``
    (> 0) and ids ``ids`` (< 2^32), the id of the nearest point per pixel (``empty_id`` where none).

    The key packs the float32 depth bits (high half; positive floats order like their bits) and the
    id (low half, breaks ties towards the smaller id), so the smallest key is the nearest point.
    """
    if ws is None:
        packed = z.to(torch.float32).view(torch.int32).to(torch.int64)
        buf = torch.empty(pixels, dtype=torch.int64, device=pix.device)
    else:
        packed = ws.get("packed", (z.shape[0],), torch.int64, pix.device).copy_(z.view(torch.int32))
        buf = ws.get("buf", (pixels,), torch.int64, pix.device)
    packed.bitwise_left_shift_(32).bitwise_or_(ids)
    buf.fill_(_EMPTY_HIGH | empty_id)
    buf.scatter_reduce_(0, pix, packed, reduce="amin")
    return buf.bitwise_and_(_LOW32)


class _Workspace:
    """Scratch tensors kept between renders. Fresh multi-megabyte tensors cost a page fault per 4 KiB
    on first touch (about a millisecond per 4 MB on the machine we measure on), more than the
    arithmetic done in them; reused ones are already mapped."""

    def __init__(self):
        self._held: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple, dtype: torch.dtype, device) -> torch.Tensor:
        count = 1
        for d in shape:
            count *= d
        t = self._held.get(name)
        if t is None or t.dtype != dtype or t.device != torch.device(device) or t.numel() < count:
            t = torch.empty(max(count, 1), dtype=dtype, device=device)
            self._held[name] = t
        return t[:count].view(shape)

    def clear(self) -> None:
        self._held.clear()


def zbuffer(uv: torch.Tensor, z: torch.Tensor, height: int, width: int, splat: int = 1) -> torch.Tensor:
    """Index of the nearest point per pixel (-1 where none) for points at sub-pixel ``uv`` and depth ``z``
    (all > 0). Returns a flat [H·W] int64 tensor."""
    n = uv.shape[0]
    if n >= 1 << 31:
        raise VidsynthError(f"guidance: expected fewer than 2^31 points, found {n}; lower the world capacity")
    u = torch.round(uv[:, 0]).to(torch.int64)
    v = torch.round(uv[:, 1]).to(torch.int64)
    ids = torch.arange(n, device=uv.device)
    if splat > 1:
        lo = -((splat - 1) // 2)
        offs = torch.arange(lo, lo + splat, device=uv.device)
        du, dv = torch.meshgrid(offs, offs, indexing="xy")
        u = (u[:, None] + du.reshape(1, -1)).reshape(-1)
        v = (v[:, None] + dv.reshape(1, -1)).reshape(-1)
        ids = ids[:, None].expand(n, splat * splat).reshape(-1)
        z = z[:, None].expand(n, splat * splat).reshape(-1)
    inside = torch.nonzero((u >= 0) & (u < width) & (v >= 0) & (v < height)).squeeze(1)
    pix = v[inside] * width + u[inside]
    index = _nearest_per_pixel(pix, z[inside], ids[inside], height * width, n)
    return index.masked_fill_(index == n, -1)


def _guidance_from_ids(ids: torch.Tensor, packed: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Per-pixel point ids (``len(packed)`` = none) + packed colours (world.pack_colours) → [1,4,H,W]."""
    m = packed.shape[0]
    valid = ids != m
    out = torch.empty(1, 4, height, width, dtype=torch.float32, device=ids.device)
    if m == 0:
        out[0, :3] = -1.0
        out[0, 3] = 0.0
        return out
    rgba = packed.index_select(0, ids.clamp_(max=m - 1))
    rgba.masked_fill_(~valid, 0)  # black is exactly -1 after the [-1,1] scaling
    rgb = out[0, :3].view(3, height * width)
    rgb.copy_(rgba.view(torch.uint8).view(-1, 4)[:, :3].T)
    rgb.div_(127.5).sub_(1.0)
    out[0, 3].view(-1).copy_(valid)
    return out


def to_guidance(index: torch.Tensor, colours: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Per-pixel point index (-1 = none) + uint8 colours → [1,4,H,W] guidance (RGB in [-1,1], mask)."""
    ids = torch.where(index >= 0, index, torch.full_like(index, colours.shape[0]))
    return _guidance_from_ids(ids, pack_colours(colours), height, width)


class GuidanceRenderer:
    """Coloured points → guidance image and mask in one camera (z-buffered, optional splats).

    >>> r = GuidanceRenderer(GuidanceConfig(splat=3))
    """

    def __init__(self, config: GuidanceConfig | None = None, **overrides):
        cfg = config or GuidanceConfig()
        if overrides:
            cfg = GuidanceConfig(**{**cfg.__dict__, **overrides})
        if cfg.splat < 1:
            raise VidsynthError(f"guidance: expected splat >= 1 pixels, found {cfg.splat}")
        self.config = cfg
        self._workspace = _Workspace()

    def render(self, points: torch.Tensor, colours: torch.Tensor, K: Intrinsics, pose=None,
               size: tuple[int, int] | None = None) -> torch.Tensor:
        """Project world ``points`` [M,3] with uint8 ``colours`` [M,3] into the camera (K, 4×4
        camera-to-world ``pose``; None = identity) → [1,4,H,W]. ``size`` = (height, width) of the
        generator; the intrinsics are rescaled to it."""
        if size is not None and (size[0], size[1]) != (K.height, K.width):
            K = K.scaled(size[1], size[0])
        pts = as_tensor(points, torch.float32)
        cols = as_tensor(colours, torch.uint8, pts.device)
        return self.render_rows(pts.T, pack_colours(cols), None, K, pose)

    def render_rows(self, rows: torch.Tensor, packed: torch.Tensor, drawable: torch.Tensor | None, K: Intrinsics,
                    pose=None) -> torch.Tensor:
        """:meth:`render` for [3,M] points, [M] packed colours (``world.pack_colours``) and an optional
        [M] mask of the points to draw (what :meth:`PointWorld.drawable` returns), at K's size."""
        H, W = K.height, K.width
        m = rows.shape[1]
        if m >= 1 << 31:
            raise VidsynthError(f"guidance: expected fewer than 2^31 points, found {m}; lower the world capacity")
        ws = self._workspace
        dev = rows.device
        # camera coordinates as three contiguous rows (R^T p - R^T t): [N,3] arithmetic with its
        # inner size of 3 is several times slower on CPU than one matrix product and row operations
        cam = ws.get("cam", (3, m), torch.float32, dev)
        if pose is None:
            cam.copy_(rows)
        else:
            P = as_tensor(pose, torch.float32, dev)
            Rt = P[:3, :3].T
            torch.mm(Rt, rows, out=cam)
            cam.sub_((Rt @ P[:3, 3])[:, None])
        x, y, z = cam[0], cam[1], cam[2]
        u = x.mul_(K.fx).div_(z).add_(K.cx).round_()
        v = y.mul_(K.fy).div_(z).add_(K.cy).round_()
        # cull before scattering: only points in front of the camera and on (or, with splats, near) the image
        r = (self.config.splat - 1) // 2
        r_hi = self.config.splat - 1 - r
        keep, test = ws.get("keep", (m,), torch.bool, dev), ws.get("test", (m,), torch.bool, dev)
        torch.gt(z, self.config.near, out=keep)
        for t, op, bound in ((z, torch.lt, self.config.far), (u, torch.ge, -r_hi), (u, torch.le, W - 1 + r),
                             (v, torch.ge, -r_hi), (v, torch.le, H - 1 + r)):
            keep.logical_and_(op(t, bound, out=test))
        if drawable is not None:
            keep.logical_and_(drawable)
        sel = torch.nonzero(keep, out=ws.get("sel", (0,), torch.int64, dev)).squeeze(1)
        n = sel.shape[0]
        if self.config.splat == 1:
            us = torch.index_select(u, 0, sel, out=ws.get("us", (n,), torch.float32, dev))
            vs = torch.index_select(v, 0, sel, out=ws.get("vs", (n,), torch.float32, dev))
            pix = ws.get("pix", (n,), torch.int64, dev)
            if H * W < 1 << 24:  # the flat index is exact in float32
                pix.copy_(vs.mul_(W).add_(us))
            else:
                pix.copy_(vs).mul_(W).add_(us.to(torch.int64))
            zs = torch.index_select(z, 0, sel, out=ws.get("zs", (n,), torch.float32, dev))
            ids = _nearest_per_pixel(pix, zs, sel, H * W, m, ws)
        else:
            uv = torch.stack([u.index_select(0, sel), v.index_select(0, sel)], 1)
            index = zbuffer(uv, z.index_select(0, sel), H, W, self.config.splat)
            ids = torch.where(index >= 0, sel[index.clamp(min=0)], torch.full_like(index, m))
        return _guidance_from_ids(ids, packed, H, W)

    def render_world(self, world: PointWorld, camera: Camera, size: tuple[int, int] | None = None) -> torch.Tensor:
        K = camera.intrinsics
        if size is not None and (size[0], size[1]) != (K.height, K.width):
            K = K.scaled(size[1], size[0])
        rows, packed, drawable = world.drawable()
        return self.render_rows(rows, packed, drawable, K, camera.pose)


def _image_to_uint8(image) -> torch.Tensor:
    """H×W×3 uint8 (numpy/tensor) or [1,3,H,W]/[3,H,W] float in [-1,1] → H×W×3 uint8 tensor."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise VidsynthError(f"world guidance: expected an H×W×3 uint8 image, found {image.dtype} {image.shape}")
        return torch.from_numpy(np.ascontiguousarray(image))
    t = image.detach().cpu()
    if t.dtype == torch.uint8 and t.ndim == 3 and t.shape[2] == 3:
        return t
    if t.ndim == 4:
        t = t[0]
    if t.ndim != 3 or t.shape[0] != 3:
        raise VidsynthError(f"world guidance: expected a [1,3,H,W] image tensor in [-1,1], found {tuple(image.shape)}")
    return ((t.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(1, 2, 0).contiguous()


class WorldGuidance:
    """wc-vid2vid's world for one stream: guidance before each generated frame, colours after it.

    >>> import numpy as np
    >>> from vidsynth.geometry.camera import Camera, Intrinsics
    >>> wg = WorldGuidance(WorldConfig(voxel_size=0.05, capacity=10_000))
    >>> cam = Camera(Intrinsics.from_fov(16, 16, 90.0), np.eye(4))
    >>> g = wg.guidance(np.full((16, 16), 3.0, np.float32), cam, size=(16, 16))
    >>> float(g[0, 3].sum())  # nothing generated yet: nothing to show
    0.0
    >>> wg.update(np.full((16, 16, 3), 200, np.uint8))
    256
    >>> float(wg.guidance(np.full((16, 16), 3.0, np.float32), cam, size=(16, 16))[0, 3].mean())
    1.0
    """

    def __init__(self, world: PointWorld | WorldConfig | None = None, renderer: GuidanceRenderer | None = None):
        self.world = world if isinstance(world, PointWorld) else PointWorld(world)
        self.renderer = renderer or GuidanceRenderer()
        self._pending: tuple | None = None  # (depth, camera) of the frame being generated

    def reset(self) -> None:
        """A new stream (a discontinuity): forget the world."""
        self.world.clear()
        self._pending = None

    def guidance(self, depth, camera: Camera, size: tuple[int, int] | None = None) -> torch.Tensor:
        """[1,4,H,W] guidance for the frame with this ``depth`` (H×W metres, sized like the camera's
        intrinsics) and ``camera``; remembers both for :meth:`update`. ``size`` = generator (H, W)."""
        K = camera.intrinsics
        d = as_tensor(depth, torch.float32)
        if d.ndim != 2 or tuple(d.shape) != (K.height, K.width):
            raise VidsynthError(f"world guidance: expected a depth map of {K.height}x{K.width} (the camera's size), "
                                f"found {tuple(d.shape)}; pass depth and intrinsics of the same resolution")
        self._pending = (d, camera)
        return self.renderer.render_world(self.world, camera, size)

    def update(self, image) -> int:
        """Add the generated frame's colours at its depth's points (first colour sticks). ``image`` is
        H×W×3 uint8 or a [1,3,H,W] tensor in [-1,1] at the generator's size. Returns new points."""
        if self._pending is None:
            raise VidsynthError("world guidance: update() came before guidance(); call guidance(depth, camera) "
                                "for each frame first")
        depth, camera = self._pending
        self._pending = None
        rgb = _image_to_uint8(image)
        H, W = rgb.shape[:2]
        K = camera.intrinsics
        if (H, W) != tuple(depth.shape):
            # depth resampled to the generated image (nearest: no blending across depth edges)
            depth = F.interpolate(depth[None, None], size=(H, W), mode="nearest")[0, 0]
            K = K.scaled(W, H)
        rows, pix = unproject_valid_rows(depth, K, camera.pose)
        packed = pack_colours(rgb.reshape(-1, 3)).index_select(0, pix)
        return self.world.add_rows(rows, packed)

    def state_dict(self) -> dict:
        return {"world": self.world.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.world.load_state_dict(state["world"])
        self._pending = None
