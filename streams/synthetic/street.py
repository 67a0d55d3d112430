"""A procedural street world: a city grid rendered along a camera path by vectorised ray casting.

Every pixel gets a Cityscapes label id, an RGB colour, a metric depth and an exact optical flow; every
frame gets its intrinsics and camera pose. Nothing is downloaded, everything is deterministic per seed.

The world (x east, y north, z up, metres) is an infinite grid of square blocks: roads run along
x = k·B and y = k·B (B = ``block_size``), with sidewalks on either side; each block holds building
boxes (or a small park with trees), parked cars (boxes) along the kerbs, poles and street trees
(trunk boxes with sphere crowns) on the sidewalks. A block's contents are a function of its grid
index and the seed only, so any place looks the same each time it is seen. Textures are functions of
the label and the world position (road grain and lane marks, sidewalk tiles, building tones and
window grids, leaf noise), lit by one fixed sun (view-independent), so the label→colour relation is
learnable and a revisited place has the same colours. Objects farther than ``max_distance`` are not
drawn.

Per frame (see :meth:`StreetWorld.frame`):

- ``image``: H×W×3 uint8 RGB.
- ``labels``: H×W uint8 Cityscapes ids: road 7, sidewalk 8, building 11, pole 17, vegetation 21,
  terrain 22, sky 23, car 26.
- ``depth``: H×W float32 z-depth in metres (OpenCV camera: x right, y down, z forward); 0 on sky.
- ``flow``: H×W×2 float32 backward flow (current → previous): pixel (u, v) of frame t shows the
  surface point that frame t-1 shows at (u + flow[v,u,0], v + flow[v,u,1]). Warping frame t-1 by
  sampling it at p + flow(p) predicts frame t (vid2vid's convention). It is exact: computed from the
  geometry, not estimated. Sky pixels move with the rotation only (points at infinity). Frame 0 of a
  stream has zero flow.
- ``flow_valid``: H×W uint8, 1 where the point was visible in frame t-1 (in front of the camera, inside
  the image, not occluded); the flow is exact everywhere, but only there is the warp a prediction.
- ``camera``: :class:`vidsynth.geometry.camera.Camera` (intrinsics + 4×4 camera-to-world pose).

Camera paths (``StreetConfig.path``): ``straight`` (east along one road), ``loop`` (counter-clockwise
around ``loop_blocks``×``loop_blocks`` blocks in the right-hand lane; it is periodic, so frames past
one lap revisit every place from the same viewpoints), ``out_and_back`` (east ``leg_length`` metres,
a U-turn, back west in the other lane, around again: places are revisited from the opposite
direction).

>>> world = StreetWorld(StreetConfig(width=32, height=32, path="loop"))
>>> f = world.frame(5)
>>> f["image"].shape, f["labels"].dtype, f["flow"].shape
((32, 32, 3), dtype('uint8'), (32, 32, 2))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Iterator

import numpy as np

from vidsynth.errors import VidsynthError
from vidsynth.geometry.camera import Camera, Intrinsics, pose_from_heading

from ..base import Source, StreamInfo
from ..frame import Frame

# Cityscapes label ids used by the world
ROAD, SIDEWALK, BUILDING, POLE, VEGETATION, TERRAIN, SKY, CAR = 7, 8, 11, 17, 21, 22, 23, 26
LABEL_NAMES = {ROAD: "road", SIDEWALK: "sidewalk", BUILDING: "building", POLE: "pole",
               VEGETATION: "vegetation", TERRAIN: "terrain", SKY: "sky", CAR: "car"}

ROAD_HALF_WIDTH = 5.0  # metres from a road's centre line to the kerb
SIDEWALK_WIDTH = 3.0
LANE_OFFSET = 1.75     # the camera drives this far right of the centre line

# surface materials (what a ray hit); labels and textures follow from them
_SKY, _GROUND, _BUILDING, _CAR, _POLE, _TRUNK, _CROWN = range(7)
_MATERIAL_LABEL = np.array([SKY, ROAD, BUILDING, CAR, POLE, VEGETATION, VEGETATION], dtype=np.uint8)

_BUILDING_TONES = np.array([[0.72, 0.66, 0.56], [0.62, 0.40, 0.32], [0.60, 0.60, 0.62], [0.78, 0.74, 0.66]])
_CAR_TONES = np.array([[0.70, 0.12, 0.10], [0.15, 0.25, 0.60], [0.85, 0.85, 0.85], [0.12, 0.12, 0.14],
                       [0.55, 0.57, 0.60]])
_SUN = np.array([0.5, 0.3, 0.8]) / np.linalg.norm([0.5, 0.3, 0.8])
_PATHS = ("straight", "loop", "out_and_back")


@dataclass
class StreetConfig:
    """What to render: image size, field of view, camera path, speed, seed.

    >>> StreetConfig(width=128, height=64, path="straight").frames_or_default()
    400
    """

    width: int = 64               # image width in pixels
    height: int = 64              # image height in pixels
    hfov_deg: float = 90.0        # horizontal field of view
    path: str = "loop"            # "straight", "loop" or "out_and_back"
    frames: int | None = None     # stream length; None = the path's natural length (one lap; 200 m straight)
    speed: float = 0.5            # metres per frame (0.5 m at 15 fps is 27 km/h)
    fps: int = 15                 # nominal frame rate of the stream
    seed: int = 0                 # the city's layout and colours
    camera_height: float = 1.6    # metres above the road
    block_size: float = 40.0      # distance between parallel roads (metres)
    loop_blocks: int = 1          # the loop goes around this many blocks in x and in y
    leg_length: float = 60.0      # out_and_back: metres driven before the U-turn
    max_distance: float = 150.0   # nothing farther than this is drawn
    start: float = 0.0            # metres along the path at frame 0

    def validate(self) -> None:
        if self.path not in _PATHS:
            raise VidsynthError(f"street world: expected path to be one of {_PATHS}, found {self.path!r}; "
                                "pick one of those")
        if self.width < 2 or self.height < 2 or self.width > 8192 or self.height > 8192:
            raise VidsynthError(f"street world: expected an image size between 2 and 8192 pixels, found "
                                f"{self.width}x{self.height}; pick another size")
        if not 1.0 <= self.hfov_deg <= 170.0:
            raise VidsynthError(f"street world: expected hfov_deg in [1, 170], found {self.hfov_deg}")
        if self.frames is not None and self.frames < 1:
            raise VidsynthError(f"street world: expected frames >= 1 or None, found {self.frames}")
        if self.speed <= 0 or self.block_size < 20 or self.loop_blocks < 1:
            raise VidsynthError("street world: expected speed > 0, block_size >= 20 and loop_blocks >= 1, found "
                                f"{self.speed}, {self.block_size}, {self.loop_blocks}")

    def frames_or_default(self) -> int:
        if self.frames is not None:
            return int(self.frames)
        return max(1, int(math.floor(_build_path(self).length / self.speed)))


# ---------------------------------------------------------------------------------------------- paths
class _Path:
    """A path in the ground plane made of lines and counter-clockwise arcs; closed paths repeat."""

    def __init__(self, segments: list[tuple], closed: bool):
        self.segments = segments
        self.lengths = [self._length(s) for s in segments]
        self.length = float(sum(self.lengths))
        self.closed = closed

    @staticmethod
    def _length(seg) -> float:
        if seg[0] == "line":
            return float(np.hypot(seg[2][0] - seg[1][0], seg[2][1] - seg[1][1]))
        _, _, r, a0, a1 = seg
        return r * (a1 - a0)

    def at(self, s: float) -> tuple[np.ndarray, float]:
        """Ground position (x, y) and heading (radians) at arc length ``s``."""
        if self.closed:
            s = s % self.length
        for seg, n in zip(self.segments, self.lengths):
            if s <= n or seg is self.segments[-1]:
                if seg[0] == "line":
                    p0, p1 = np.asarray(seg[1], float), np.asarray(seg[2], float)
                    d = (p1 - p0) / n
                    return p0 + d * s, math.atan2(d[1], d[0])
                _, c, r, a0, _ = seg
                a = a0 + s / r
                return np.array([c[0] + r * math.cos(a), c[1] + r * math.sin(a)]), a + math.pi / 2
            s -= n
        raise AssertionError("unreachable")


def _build_path(cfg: StreetConfig) -> _Path:
    lane = LANE_OFFSET
    if cfg.path == "straight":
        return _Path([("line", (5.0, -lane), (5.0 + 200.0, -lane))], closed=False)
    if cfg.path == "out_and_back":
        x0, x1 = 5.0, 5.0 + cfg.leg_length
        return _Path([("line", (x0, -lane), (x1, -lane)), ("arc", (x1, 0.0), lane, -math.pi / 2, math.pi / 2),
                      ("line", (x1, lane), (x0, lane)), ("arc", (x0, 0.0), lane, math.pi / 2, 1.5 * math.pi)],
                     closed=True)
    # loop: a rounded rectangle in the outer right-hand lane around the blocks [0, n)², counter-clockwise
    r = 4.0
    x0 = y0 = -lane
    x1 = y1 = cfg.loop_blocks * cfg.block_size + lane
    h = math.pi / 2
    return _Path([("line", (x0 + r, y0), (x1 - r, y0)), ("arc", (x1 - r, y0 + r), r, -h, 0.0),
                  ("line", (x1, y0 + r), (x1, y1 - r)), ("arc", (x1 - r, y1 - r), r, 0.0, h),
                  ("line", (x1 - r, y1), (x0 + r, y1)), ("arc", (x0 + r, y1 - r), r, h, 2 * h),
                  ("line", (x0, y1 - r), (x0, y0 + r)), ("arc", (x0 + r, y0 + r), r, 2 * h, 3 * h)], closed=True)


# ------------------------------------------------------------------------------------------ textures
def _hash01(ix, iy, iz, seed: int) -> np.ndarray:
    """A deterministic pseudo-random value in [0, 1) per integer cell (a small integer hash)."""
    h = (np.asarray(ix, np.int64).astype(np.uint64) * np.uint64(0x9E3779B1)
         ^ np.asarray(iy, np.int64).astype(np.uint64) * np.uint64(0x85EBCA77)
         ^ np.asarray(iz, np.int64).astype(np.uint64) * np.uint64(0xC2B2AE3D)
         ^ np.uint64(seed * 0x27D4EB2F + 0x165667B1))
    h = h & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x2C1B3C6D)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(12)
    h = (h * np.uint64(0x297A2D39)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(15)
    return (h.astype(np.float64) / 4294967296.0).astype(np.float32)


def _value_noise(coords: list[np.ndarray], seed: int) -> np.ndarray:
    """Smooth noise in [0, 1): hashed lattice values blended with smoothstep weights (2 or 3 axes,
    lattice spacing 1). Smooth textures look the same when sampled at slightly different points."""
    base = [np.floor(c) for c in coords]
    frac = [c - b for c, b in zip(coords, base)]
    w = [f * f * (3.0 - 2.0 * f) for f in frac]
    out = np.zeros(coords[0].shape, np.float64)
    for corner in np.ndindex(*([2] * len(coords))):
        weight = np.ones(coords[0].shape, np.float64)
        idx = []
        for a, c in enumerate(corner):
            weight = weight * (w[a] if c else 1.0 - w[a])
            idx.append(base[a] + c)
        while len(idx) < 3:
            idx.append(np.zeros_like(idx[0]))
        out += weight * _hash01(idx[0], idx[1], idx[2], seed)
    return out.astype(np.float32)


def _inside(x: np.ndarray, lo: float, hi: float, soft: float = 0.06) -> np.ndarray:
    """1 inside [lo, hi], 0 outside, with linear ramps ``soft`` metres wide (soft-edged patterns)."""
    return (np.clip((x - lo) / soft + 0.5, 0.0, 1.0) * np.clip((hi - x) / soft + 0.5, 0.0, 1.0)).astype(np.float32)


# ---------------------------------------------------------------------------------------------- world
@dataclass
class _Objects:
    """Boxes (axis-aligned) and spheres with their material and base colour."""

    box_min: np.ndarray     # [B,3]
    box_max: np.ndarray     # [B,3]
    box_material: np.ndarray  # [B] int
    box_tone: np.ndarray    # [B,3]
    sph_center: np.ndarray  # [S,3]
    sph_radius: np.ndarray  # [S]
    sph_tone: np.ndarray    # [S,3]

    @staticmethod
    def concat(parts: list["_Objects"]) -> "_Objects":
        return _Objects(*[np.concatenate([getattr(p, f) for p in parts]) for f in _Objects.__dataclass_fields__])


class StreetWorld:
    """The street world along one camera path: poses per frame and a renderer for any camera.

    >>> world = StreetWorld(StreetConfig(width=48, height=32, path="straight"))
    >>> view = world.render(world.camera(0))
    >>> sorted(set(view["labels"].ravel().tolist()) & {7, 23})
    [7, 23]
    """

    def __init__(self, config: StreetConfig | None = None):
        self.config = config or StreetConfig()
        self.config.validate()
        self.intrinsics = Intrinsics.from_fov(self.config.width, self.config.height, self.config.hfov_deg)
        self.path = _build_path(self.config)
        self._blocks: dict[tuple[int, int], _Objects] = {}
        self._near_cache: tuple[tuple[int, int], _Objects] | None = None
        self._rays_cache: dict[Intrinsics, np.ndarray] = {}

    def __len__(self) -> int:
        return self.config.frames_or_default()

    # -- cameras
    def pose(self, index: int) -> np.ndarray:
        """Camera-to-world 4×4 pose of frame ``index`` (any index, also past the stream's length)."""
        xy, heading = self.path.at(self.config.start + index * self.config.speed)
        return pose_from_heading([xy[0], xy[1], self.config.camera_height], heading)

    def camera(self, index: int) -> Camera:
        return Camera(self.intrinsics, self.pose(index))

    # -- content
    def _block(self, i: int, j: int) -> _Objects:
        """The objects of block (i, j): the square between roads x = iB, (i+1)B and y = jB, (j+1)B."""
        key = (i, j)
        if key in self._blocks:
            return self._blocks[key]
        cfg = self.config
        B = cfg.block_size
        rng = np.random.default_rng([cfg.seed, i + (1 << 20), j + (1 << 20)])
        boxes: list[tuple] = []  # (min, max, material, tone)
        spheres: list[tuple] = []  # (centre, radius, tone)
        inset = ROAD_HALF_WIDTH + SIDEWALK_WIDTH
        lo_x, hi_x, lo_y, hi_y = i * B + inset, (i + 1) * B - inset, j * B + inset, (j + 1) * B - inset
        leaf = np.array([0.20, 0.42, 0.16])
        if rng.random() < 0.15:  # a park: lawn and a few trees
            for _ in range(rng.integers(2, 5)):
                c = [rng.uniform(lo_x + 3, hi_x - 3), rng.uniform(lo_y + 3, hi_y - 3)]
                r = rng.uniform(2.0, 3.2)
                boxes.append(([c[0] - 0.2, c[1] - 0.2, 0.0], [c[0] + 0.2, c[1] + 0.2, 2.0 + r], _TRUNK, [0.35, 0.25, 0.15]))
                spheres.append(([c[0], c[1], 2.0 + r], r, leaf * rng.uniform(0.9, 1.1)))
        else:  # up to four buildings on lots split at random
            sx = rng.uniform(0.4, 0.6) * (hi_x - lo_x) + lo_x
            sy = rng.uniform(0.4, 0.6) * (hi_y - lo_y) + lo_y
            for x_a, x_b in ((lo_x, sx), (sx, hi_x)):
                for y_a, y_b in ((lo_y, sy), (sy, hi_y)):
                    if rng.random() < 0.1:
                        continue
                    height = rng.uniform(6.0, 24.0)
                    tone = _BUILDING_TONES[rng.integers(len(_BUILDING_TONES))] * rng.uniform(0.93, 1.07)
                    boxes.append(([x_a, y_a, 0.0], [x_b, y_b, height], _BUILDING, tone))
        # the four kerbs of this block: (fixed axis, fixed coordinate, side sign into the block)
        for axis, base, sign in ((1, j * B, 1.0), (1, (j + 1) * B, -1.0), (0, i * B, 1.0), (0, (i + 1) * B, -1.0)):
            along_lo = (i * B if axis == 1 else j * B) + 10.0
            along_hi = along_lo + B - 20.0
            pos = along_lo + rng.uniform(0.0, 3.0)
            while pos + 4.4 < along_hi:  # parked cars at the kerb, on the road
                length = rng.uniform(3.8, 4.6)
                if rng.random() < 0.6:
                    mid = base + sign * (ROAD_HALF_WIDTH - 1.0)
                    a0, a1 = (pos, pos + length)
                    tone = _CAR_TONES[rng.integers(len(_CAR_TONES))]
                    boxes.append(_along(axis, a0, a1, mid - 0.9, mid + 0.9, 0.0, 1.5, _CAR, tone))
                pos += length + rng.uniform(0.6, 3.0)
            pos = along_lo + rng.uniform(0.0, 4.0)
            pole_mid = base + sign * (ROAD_HALF_WIDTH + 0.5)
            tree_mid = base + sign * (ROAD_HALF_WIDTH + 1.6)
            while pos < along_hi:  # a pole, then a street tree half-way to the next pole
                boxes.append(_along(axis, pos - 0.1, pos + 0.1, pole_mid - 0.1, pole_mid + 0.1, 0.0, 6.0, _POLE,
                                    [0.45, 0.45, 0.48]))
                t = pos + 6.0
                if t < along_hi and rng.random() < 0.7:
                    boxes.append(_along(axis, t - 0.15, t + 0.15, tree_mid - 0.15, tree_mid + 0.15, 0.0, 3.0, _TRUNK,
                                        [0.35, 0.25, 0.15]))
                    r = rng.uniform(1.3, 1.8)
                    c = [t, tree_mid] if axis == 1 else [tree_mid, t]
                    spheres.append(([c[0], c[1], 3.0 + r * 0.7], r, leaf * rng.uniform(0.85, 1.15)))
                pos += 12.0
        objs = _Objects(
            np.array([b[0] for b in boxes], np.float64).reshape(-1, 3), np.array([b[1] for b in boxes], np.float64).reshape(-1, 3),
            np.array([b[2] for b in boxes], np.int64), np.array([b[3] for b in boxes], np.float64).reshape(-1, 3),
            np.array([s[0] for s in spheres], np.float64).reshape(-1, 3), np.array([s[1] for s in spheres], np.float64),
            np.array([s[2] for s in spheres], np.float64).reshape(-1, 3))
        self._blocks[key] = objs
        return objs

    def _objects_near(self, center: np.ndarray) -> _Objects:
        B = self.config.block_size
        key = (int(math.floor(center[0] / B)), int(math.floor(center[1] / B)))
        if self._near_cache is not None and self._near_cache[0] == key:
            return self._near_cache[1]
        n = int(math.ceil(self.config.max_distance / B))
        objs = _Objects.concat([self._block(key[0] + a, key[1] + b)
                                for a in range(-n, n + 1) for b in range(-n, n + 1)])
        self._near_cache = (key, objs)
        return objs

    def _camera_rays(self, K: Intrinsics) -> np.ndarray:
        """Per-pixel ray directions in camera coordinates with z = 1 (so a ray's parameter is its depth)."""
        if K not in self._rays_cache:
            u = (np.arange(K.width) - K.cx) / K.fx
            v = (np.arange(K.height) - K.cy) / K.fy
            uu, vv = np.meshgrid(u, v)
            self._rays_cache = {K: np.stack([uu, vv, np.ones_like(uu)], -1)}
        return self._rays_cache[K]

    # -- rendering
    def render(self, camera: Camera) -> dict:
        """Ray-cast one view: ``image`` (uint8 RGB), ``labels``, ``depth`` (0 on sky), ``points``
        (H×W×3 float64 world points; on sky the unit view direction) and ``sky`` (bool mask)."""
        K = camera.intrinsics
        pose = np.asarray(camera.pose, np.float64)
        R, o = pose[:3, :3], pose[:3, 3]
        H, W = K.height, K.width
        dirs_cam = self._camera_rays(K).reshape(-1, 3)
        d = (dirs_cam @ R.T).astype(np.float32)  # world directions, depth-parametrised
        n_rays = d.shape[0]
        far = np.float32(self.config.max_distance)

        # the ground plane z = 0
        with np.errstate(divide="ignore", invalid="ignore"):
            t_best = np.where(d[:, 2] < -1e-6, -o[2] / d[:, 2], np.inf).astype(np.float32)
        t_best[t_best > far] = np.inf
        material = np.where(np.isfinite(t_best), _GROUND, _SKY).astype(np.int64)
        obj_index = np.full(n_rays, -1, np.int64)
        face_axis = np.full(n_rays, 2, np.int64)

        objs = self._objects_near(o)
        boxes, spheres = self._visible(objs, R, o, K)
        tile = 32
        for ty in range(0, H, tile):
            for tx in range(0, W, tile):
                rows = np.arange(ty, min(ty + tile, H))
                cols = np.arange(tx, min(tx + tile, W))
                pix = (rows[:, None] * W + cols[None, :]).ravel()
                dt = d[pix]
                for rects, is_box in ((boxes, True), (spheres, False)):
                    sel = rects[(rects[:, 1] >= tx - 1) & (rects[:, 0] <= tx + tile) & (rects[:, 3] >= ty - 1)
                                & (rects[:, 2] <= ty + tile)]
                    # nearest first, in chunks: once every pixel of the tile has a hit nearer than the
                    # next object's nearest possible depth, nothing behind it can show
                    for c0 in range(0, len(sel), 48):
                        t_tile = t_best[pix].max()
                        chunk = sel[c0:c0 + 48]
                        chunk = chunk[chunk[:, 5] < t_tile]
                        if len(chunk) == 0:
                            break
                        idx = chunk[:, 4].astype(np.int64)
                        if is_box:
                            t, k, ax = _hit_boxes(dt, o, objs.box_min[idx], objs.box_max[idx])
                        else:
                            t, k = _hit_spheres(dt, o, objs.sph_center[idx], objs.sph_radius[idx])
                        closer = t < t_best[pix]
                        p = pix[closer]
                        t_best[p] = t[closer]
                        obj_index[p] = idx[k[closer]]
                        if is_box:
                            material[p] = objs.box_material[idx[k[closer]]]
                            face_axis[p] = ax[closer]
                        else:
                            material[p] = _CROWN

        sky = material == _SKY
        t64 = np.where(sky, 0.0, t_best).astype(np.float64)
        d64 = dirs_cam @ R.T
        points = o + d64 * t64[:, None]
        view_dir = d64 / np.linalg.norm(d64, axis=1, keepdims=True)
        points[sky] = view_dir[sky]
        rgb, labels = self._shade(points, view_dir, material, obj_index, face_axis, d64, objs)
        return {"image": rgb.reshape(H, W, 3), "labels": labels.reshape(H, W),
                "depth": t64.astype(np.float32).reshape(H, W), "points": points.reshape(H, W, 3),
                "sky": sky.reshape(H, W)}

    def _visible(self, objs: _Objects, R: np.ndarray, o: np.ndarray, K: Intrinsics):
        """Screen rectangles [umin, umax, vmin, vmax, index] of boxes and spheres that may be visible."""
        near = 0.05
        def rects(lo, hi):
            if len(lo) == 0:
                return np.zeros((0, 6))
            corners = np.stack([np.where(np.array(m, bool), hi, lo) for m in np.ndindex(2, 2, 2)], 1)  # [N,8,3]
            cam = (corners - o) @ R  # camera coordinates (R^T (p - o), row-vector form)
            nearest = np.clip(o, lo, hi)
            dist = np.linalg.norm(nearest - o, axis=1)
            z = cam[..., 2]
            keep = (z.max(1) > near) & (dist < self.config.max_distance)
            straddle = z.min(1) <= near
            zc = np.maximum(z, near)
            u = K.fx * cam[..., 0] / zc + K.cx
            v = K.fy * cam[..., 1] / zc + K.cy
            # [umin, umax, vmin, vmax, index, nearest possible depth], sorted nearest first
            r = np.stack([u.min(1), u.max(1), v.min(1), v.max(1), np.arange(len(lo)), np.maximum(z.min(1), 0)], 1)
            r[straddle, :4] = [-1e9, 1e9, -1e9, 1e9]
            keep &= (r[:, 1] >= -1) & (r[:, 0] <= K.width) & (r[:, 3] >= -1) & (r[:, 2] <= K.height)
            r = r[keep]
            return r[np.argsort(r[:, 5], kind="stable")]
        boxes = rects(objs.box_min, objs.box_max)
        rad = objs.sph_radius[:, None]
        spheres = rects(objs.sph_center - rad, objs.sph_center + rad)
        return boxes, spheres

    def _shade(self, points, view_dir, material, obj_index, face_axis, d, objs):
        n = len(material)
        rgb = np.zeros((n, 3), np.float32)
        labels = _MATERIAL_LABEL[material].copy()
        normal = np.zeros((n, 3), np.float32)
        seed = self.config.seed
        B = self.config.block_size
        x, y, z = points[:, 0], points[:, 1], points[:, 2]

        # sky: a gradient over elevation (directions only, so it is the same wherever you stand)
        m = material == _SKY
        e = np.clip(view_dir[m, 2] * 2.5, 0.0, 1.0)[:, None]
        rgb[m] = (1 - e) * np.array([0.78, 0.86, 0.95]) + e * np.array([0.38, 0.58, 0.88])

        # ground: road, sidewalk or lawn by the distance to the nearest road centre line
        m = np.flatnonzero(material == _GROUND)
        if len(m):
            gx, gy = x[m], y[m]
            dx = np.abs(gx - B * np.round(gx / B))
            dy = np.abs(gy - B * np.round(gy / B))
            dmin = np.minimum(dx, dy)
            grain = _value_noise([gx * 1.5, gy * 1.5], seed)[:, None]
            col = np.empty((len(m), 3), np.float32)
            lab = np.full(len(m), TERRAIN, np.uint8)
            road = dmin < ROAD_HALF_WIDTH
            walk = ~road & (dmin < ROAD_HALF_WIDTH + SIDEWALK_WIDTH)
            lawn = ~road & ~walk
            lab[road], lab[walk] = ROAD, SIDEWALK
            # dashed centre lines, not inside crossings
            along = np.where(dx < dy, gy, gx)
            dash = (_inside(dmin, -0.1, 0.1) * _inside(np.mod(along, 6.0), 0.0, 3.0)
                    * (np.maximum(dx, dy) >= ROAD_HALF_WIDTH + 0.5))[:, None]
            asphalt = np.array([0.31, 0.31, 0.33]) + (grain - 0.5) * 0.08
            col[road] = (asphalt * (1 - dash) + np.array([0.86, 0.86, 0.80]) * dash)[road]
            joint = np.maximum(_inside(np.mod(gx + 0.5, 1.0), 0.47, 0.53, 0.04),
                               _inside(np.mod(gy + 0.5, 1.0), 0.47, 0.53, 0.04))[:, None]
            slab = (np.array([0.63, 0.61, 0.57]) + (grain - 0.5) * 0.05) * (1.0 - 0.18 * joint)
            col[walk] = slab[walk]
            col[lawn] = (np.array([0.30, 0.45, 0.20]) + (grain - 0.5) * 0.12)[lawn]
            rgb[m] = col
            labels[m] = lab
            normal[m] = [0, 0, 1]

        # boxes: buildings with windows, cars with glass, poles, trunks
        m = np.flatnonzero((material >= _BUILDING) & (material <= _TRUNK))
        if len(m):
            k = obj_index[m]
            ax = face_axis[m]
            sgn = -np.sign(d[m, ax])
            nrm = np.zeros((len(m), 3), np.float32)
            nrm[np.arange(len(m)), ax] = sgn
            normal[m] = nrm
            col = objs.box_tone[k].astype(np.float32)
            mat = material[m]
            px, py, pz = x[m], y[m], z[m]
            u = np.where(ax == 0, py, px)  # the horizontal coordinate along a wall
            wall = ax != 2
            building_wall = ((mat == _BUILDING) & wall).astype(np.float32)
            win = (building_wall * _inside(pz, 1.0, 1e9) * _inside(np.mod(pz, 3.0), 1.0, 2.2)
                   * _inside(np.mod(u, 2.5), 0.6, 1.9))[:, None]
            col = col * (1 - win) + (0.5 * col + np.array([0.12, 0.15, 0.20], np.float32)) * win
            roof = (mat == _BUILDING) & ~wall
            col[roof] *= 0.7
            glass = (((mat == _CAR) & wall) * _inside(pz, 1.0, 1.4))[:, None]
            col = col * (1 - glass) + np.array([0.14, 0.16, 0.20], np.float32) * glass
            rgb[m] = col

        # tree crowns: spheres with leaf noise
        m = np.flatnonzero(material == _CROWN)
        if len(m):
            k = obj_index[m]
            p = points[m]
            nrm = p - objs.sph_center[k]
            normal[m] = nrm / np.linalg.norm(nrm, axis=1, keepdims=True)
            noise = _value_noise([p[:, 0] * 2.5, p[:, 1] * 2.5, p[:, 2] * 2.5], seed + 1)
            rgb[m] = objs.sph_tone[k] * (0.8 + 0.4 * noise[:, None])

        lit = material != _SKY
        shade = 0.62 + 0.38 * np.clip(normal[lit] @ _SUN.astype(np.float32), 0.0, 1.0)
        rgb[lit] *= shade[:, None]
        return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), labels

    # -- frames with flow
    def frame(self, index: int, previous: dict | None = None) -> dict:
        """Everything about frame ``index``: image, labels, depth, camera and the exact backward flow to
        frame ``index - 1`` (zero flow for ``index == 0``). ``previous`` is that frame's dict when the
        caller has it (saves rendering it again for the occlusion test)."""
        cam = self.camera(index)
        view = self.render(cam)
        H, W = view["depth"].shape
        flow = np.zeros((H, W, 2), np.float32)
        valid = np.zeros((H, W), np.uint8)
        if index > 0:
            prev_cam = self.camera(index - 1)
            if previous is None:
                previous = self.render(prev_cam)
            flow, valid = backward_flow(view, cam, prev_cam, previous["depth"])
        out = dict(view)
        out.update(flow=flow, flow_valid=valid, camera=cam)
        return out


def backward_flow(view: dict, camera: Camera, prev_camera: Camera, prev_depth: np.ndarray | None = None):
    """Exact flow from ``view`` (rendered in ``camera``) back to ``prev_camera``, and where it is valid.

    Surface pixels map their world point, sky pixels their direction (a point at infinity), into the
    previous camera. Valid: in front of it, inside its image and (given its depth) not occluded there.
    """
    K = camera.intrinsics
    H, W = K.height, K.width
    Kp = prev_camera.intrinsics
    pts = view["points"].reshape(-1, 3)
    sky = view["sky"].ravel()
    Rp, tp = np.asarray(prev_camera.pose)[:3, :3], np.asarray(prev_camera.pose)[:3, 3]
    cam = np.where(sky[:, None], pts @ Rp, (pts - tp) @ Rp)
    z = cam[:, 2]
    front = z > 1e-6
    zs = np.where(front, z, 1.0)
    u = Kp.fx * cam[:, 0] / zs + Kp.cx
    v = Kp.fy * cam[:, 1] / zs + Kp.cy
    uu, vv = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    flow = np.stack([u - uu.ravel(), v - vv.ravel()], 1)
    inside = front & (u > -0.5) & (u < Kp.width - 0.5) & (v > -0.5) & (v < Kp.height - 0.5)
    valid = inside.copy()
    if prev_depth is not None:
        ui = np.clip(np.round(u), 0, Kp.width - 1).astype(np.int64)
        vi = np.clip(np.round(v), 0, Kp.height - 1).astype(np.int64)
        dprev = prev_depth[vi, ui].astype(np.float64)
        seen = np.where(sky, dprev == 0, np.abs(dprev - z) <= 0.03 * np.maximum(z, 1.0))
        valid &= seen
    flow[~front] = 0.0
    return flow.reshape(H, W, 2).astype(np.float32), valid.reshape(H, W).astype(np.uint8)


def _along(axis, a0, a1, c0, c1, z0, z1, material, tone):
    """A box given along a kerb: ``axis`` is the axis the kerb's fixed coordinate runs on (1: y fixed)."""
    if axis == 1:
        return ([a0, c0, z0], [a1, c1, z1], material, tone)
    return ([c0, a0, z0], [c1, a1, z1], material, tone)


def _hit_boxes(d: np.ndarray, o: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Nearest hit of rays (shared origin ``o``, directions ``d`` [P,3]) with boxes [B,3]: t, box, axis."""
    inv = 1.0 / np.where(np.abs(d) < 1e-12, np.float32(1e-12), d)
    lo = (lo - o).astype(np.float32)
    hi = (hi - o).astype(np.float32)
    near, far, axis = None, None, None
    for a in range(3):  # slab by slab on [P,B] arrays (cheaper than reducing a trailing axis of 3)
        t1 = inv[:, a, None] * lo[None, :, a]
        t2 = inv[:, a, None] * hi[None, :, a]
        tn, tf = np.minimum(t1, t2), np.maximum(t1, t2)
        if near is None:
            near, far, axis = tn, tf, np.zeros(tn.shape, np.int8)
        else:
            axis[tn > near] = a
            near = np.maximum(near, tn)
            far = np.minimum(far, tf)
    t = np.where((far >= near) & (near > 0.05), near, np.float32(np.inf))
    k = t.argmin(1)
    rows = np.arange(len(d))
    return t[rows, k], k, axis[rows, k].astype(np.int64)


def _hit_spheres(d: np.ndarray, o: np.ndarray, c: np.ndarray, r: np.ndarray):
    """Nearest hit of rays with spheres: t, sphere."""
    oc = (o - c).astype(np.float32)  # [S,3]
    a = (d * d).sum(1)[:, None]
    b = d @ oc.T  # [P,S]
    cc = ((oc * oc).sum(1) - (r * r).astype(np.float32))[None]
    disc = b * b - a * cc
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(np.maximum(disc, 0))) / a
    t = np.where((disc >= 0) & (t > 0.05), t, np.float32(np.inf))
    k = t.argmin(1)
    return t[np.arange(len(d)), k], k


# --------------------------------------------------------------------------------------------- source
class StreetSource(Source):
    """The street world as a stream source: frames with image = RGB and conditions ``labels``,
    ``depth``, ``flow`` (backward, exact), ``flow_valid`` and ``camera`` (see the module docstring).

    >>> src = StreetSource(StreetConfig(width=32, height=32, frames=3))
    >>> info = src.open()
    >>> [f.index for f in src], sorted(next(iter(src)).conditions)
    ([0, 1, 2], ['camera', 'depth', 'flow', 'flow_valid', 'labels'])
    """

    def __init__(self, config: StreetConfig | None = None, **overrides):
        config = config or StreetConfig()
        self.config = replace(config, **overrides) if overrides else config
        self.world = StreetWorld(self.config)
        self._start = 0

    def open(self) -> StreamInfo:
        cfg = self.config
        rate = Fraction(cfg.fps)
        return StreamInfo(width=cfg.width, height=cfg.height, rate=rate, time_base=1 / rate,
                          frame_count=len(self.world), live=False,
                          extra={"intrinsics": self.world.intrinsics, "labels": dict(LABEL_NAMES)})

    def seek(self, index: int) -> None:
        if not 0 <= index <= len(self.world):
            raise VidsynthError(f"street world: expected a seek index in [0, {len(self.world)}], found {index}")
        self._start = index

    def __iter__(self) -> Iterator[Frame]:
        tb = Fraction(1, self.config.fps)
        previous = None
        start = self._start
        for index in range(start, len(self.world)):
            f = self.world.frame(index, previous)
            previous = f
            yield Frame(index=index, pts=index, time_base=tb, image=f["image"],
                        conditions={"labels": f["labels"], "depth": f["depth"], "flow": f["flow"],
                                    "flow_valid": f["flow_valid"], "camera": f["camera"]},
                        discontinuity=index == start, duration=1)


from . import config_factory, register_synthetic  # noqa: E402  (the registry imports nothing of ours)

register_synthetic("street", config_factory("street", StreetConfig, StreetSource))
