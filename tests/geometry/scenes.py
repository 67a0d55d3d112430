"""Tiny analytic scenes with known geometry for the geometry tests: a textured plane and a textured box.

Each renders depth and colour for any camera by exact ray casting; the texture is a smooth function of
the world position, so a point seen from two cameras has the same colour.
"""

import numpy as np

from vidsynth.geometry.camera import Camera, Intrinsics


def texture(p: np.ndarray) -> np.ndarray:
    """A smooth colour per world point [N,3] → [N,3] uint8."""
    r = 128 + 90 * np.sin(0.9 * p[:, 0] + 0.2 * p[:, 2])
    g = 128 + 90 * np.cos(0.7 * p[:, 1] - 0.3 * p[:, 0])
    b = 128 + 60 * np.sin(0.5 * (p[:, 0] + p[:, 1] + p[:, 2]))
    return np.clip(np.stack([r, g, b], 1) + 0.5, 0, 255).astype(np.uint8)


def _rays(camera: Camera):
    K = camera.intrinsics
    uu, vv = np.meshgrid(np.arange(K.width, dtype=np.float64), np.arange(K.height, dtype=np.float64))
    d_cam = np.stack([(uu - K.cx) / K.fx, (vv - K.cy) / K.fy, np.ones_like(uu)], -1).reshape(-1, 3)
    R, o = camera.pose[:3, :3], camera.pose[:3, 3]
    return d_cam @ R.T, o


def render_plane(camera: Camera, normal=(0.0, 0.0, 1.0), offset=0.0):
    """The plane n·x = offset: depth (0 where missed) and colour (0 where missed)."""
    d, o = _rays(camera)
    n = np.asarray(normal, float)
    denom = d @ n
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (offset - o @ n) / denom
    hit = np.isfinite(t) & (t > 0.05)
    return _finish(camera, d, o, np.where(hit, t, 0.0), hit)


def render_box(camera: Camera, lo=(-1.0, -1.0, 4.0), hi=(1.0, 1.0, 6.0), floor=True):
    """An axis-aligned box (and, by default, the plane y = 1.5 below it in an OpenCV-like y-down world)."""
    d, o = _rays(camera)
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / np.where(np.abs(d) < 1e-12, 1e-12, d)
        t1, t2 = (lo - o) * inv, (hi - o) * inv
    tn, tf = np.minimum(t1, t2).max(1), np.maximum(t1, t2).min(1)
    box = (tf >= tn) & (tn > 0.05)
    t = np.where(box, tn, np.inf)
    if floor:
        with np.errstate(divide="ignore", invalid="ignore"):
            tp = (1.5 - o[1]) / d[:, 1]
        tp = np.where(np.isfinite(tp) & (tp > 0.05) & (tp < 40), tp, np.inf)
        t = np.minimum(t, tp)
    hit = np.isfinite(t)
    return _finish(camera, d, o, np.where(hit, t, 0.0), hit)


def _finish(camera, d, o, t, hit):
    K = camera.intrinsics
    pts = o + d * t[:, None]
    col = np.where(hit[:, None], texture(pts), 0).astype(np.uint8)
    return t.reshape(K.height, K.width).astype(np.float32), col.reshape(K.height, K.width, 3)


def camera(width=64, height=48, position=(0.0, 0.0, 0.0), yaw_deg=0.0) -> Camera:
    """A camera at ``position`` looking along +z, turned by ``yaw_deg`` about the y (down) axis."""
    a = np.radians(yaw_deg)
    pose = np.eye(4)
    pose[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    pose[:3, 3] = position
    return Camera(Intrinsics.from_fov(width, height, 70.0), pose)
