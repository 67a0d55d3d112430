"""Camera poses from depth (and RGB) when no cameras file is given: frame-to-frame odometry with Open3D.

Depth only: multi-scale point-to-plane ICP of each frame against a local map (the previous frames'
points in world coordinates, voxel-merged, within ``map_radius`` of the camera), starting from a
constant-velocity guess. Frame-to-frame ICP fails on streets: two depth maps from the same pixel grid
of a corridor (road, facades) are identical in camera coordinates whatever the forward motion, so
plain frame-to-frame ICP snaps to "no motion"; a map built from differently sampled frames does not
have that false minimum. With RGB: Open3D's RGB-D odometry (hybrid photometric + geometric
term), falling back to ICP on a frame where it fails. Poses chain the relative motions; the first
camera is the world origin (or ``first_pose``). Conventions as in camera.py (OpenCV axes, 4×4
camera-to-world, metres).

>>> import numpy as np
>>> from vidsynth.geometry.camera import Intrinsics
>>> K = Intrinsics.from_fov(32, 24, 90.0)
>>> depth = np.full((24, 32), 5.0, np.float32)
>>> estimate_poses([depth, depth], K).shape
(2, 4, 4)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vidsynth.errors import VidsynthError, require

from .camera import Intrinsics, validate_pose
from .depth_io import check_depth
from .projection import unproject_depth


@dataclass
class OdometryConfig:
    """ICP / RGB-D odometry settings (metres)."""

    voxel_sizes: tuple[float, ...] = (0.3, 0.1)  # coarse to fine ICP levels
    max_distance: tuple[float, ...] = (1.2, 0.3)  # correspondence distance per level
    iterations: tuple[int, ...] = (30, 20)  # ICP iterations per level
    max_depth: float = 40.0          # farther depth is ignored (noisy, and sky-like)
    map_voxel: float = 0.08          # the local map keeps one point per voxel of this size
    map_radius: float = 40.0         # and only points this close to the camera
    normal_neighbours: int = 30
    use_rgb: bool = True             # use RGB-D odometry when colours are given
    fitness_floor: float = 0.3       # ICP fitness below this on the finest level is reported as a weak frame


@dataclass
class OdometryResult:
    poses: np.ndarray                       # [N,4,4] camera-to-world
    fitness: list[float] = field(default_factory=list)  # per frame pair (ICP overlap ratio; 1 for RGB-D success)
    weak: list[int] = field(default_factory=list)       # frames whose registration looked unreliable


def _cloud(o3d, depth: np.ndarray, K: Intrinsics, cfg: OdometryConfig):
    pts, valid = unproject_depth(depth, K)
    valid &= pts[..., 2] < cfg.max_depth
    xyz = pts[valid].numpy().astype(np.float64)
    pc = o3d.geometry.PointCloud()
    pc.points = o3d.utility.Vector3dVector(xyz)
    return pc


def _pyramid(o3d, pc, cfg: OdometryConfig):
    levels = []
    for v in cfg.voxel_sizes:
        down = pc.voxel_down_sample(v)
        if len(down.points) < 10:
            levels.append(down)
            continue
        down.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=3.0 * v, max_nn=cfg.normal_neighbours))
        levels.append(down)
    return levels


def icp_step(o3d, source, target_levels, init: np.ndarray, cfg: OdometryConfig):
    """Point-to-plane ICP, coarse to fine: the transform that maps the source cloud onto the target
    levels (each a down-sampled cloud with normals), starting from ``init``; and the final fitness."""
    reg = o3d.pipelines.registration
    T = init.copy()
    fitness = 0.0
    for tgt, v, dist, it in zip(target_levels, cfg.voxel_sizes, cfg.max_distance, cfg.iterations):
        src = source.voxel_down_sample(v)
        if len(src.points) < 10 or len(tgt.points) < 10:
            continue
        res = reg.registration_icp(src, tgt, dist, T, reg.TransformationEstimationPointToPlane(),
                                   reg.ICPConvergenceCriteria(max_iteration=it))
        T, fitness = np.asarray(res.transformation), float(res.fitness)
    return T, fitness


class _LocalMap:
    """The last frames' points in world coordinates, voxel-merged and cropped around the camera."""

    def __init__(self, o3d, cfg: OdometryConfig):
        self.o3d, self.cfg = o3d, cfg
        self.cloud = None

    def add(self, camera_cloud, pose: np.ndarray) -> None:
        c = self.o3d.geometry.PointCloud(camera_cloud)
        c.transform(pose)
        merged = c if self.cloud is None else self.cloud + c
        merged = merged.voxel_down_sample(self.cfg.map_voxel)
        pts = np.asarray(merged.points)
        keep = np.flatnonzero(np.linalg.norm(pts - pose[:3, 3], axis=1) < self.cfg.map_radius)
        self.cloud = merged.select_by_index(keep)

    def levels(self):
        return _pyramid(self.o3d, self.cloud, self.cfg)


class Odometry:
    """Streaming odometry: feed depth maps (and RGB) one at a time, get each camera-to-world pose.

    Each frame is registered by point-to-plane ICP against a local map of the previous frames (frame
    to frame ICP cannot see forward motion along a street corridor); with RGB, RGB-D odometry gives
    the starting guess. :func:`estimate_poses` is this over a whole sequence.

    Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

        odo = Odometry(K); poses = [odo.update(d) for d in depths]
    """

    def __init__(self, intrinsics: Intrinsics, config: OdometryConfig | None = None, first_pose=None):
        self.o3d = require("open3d", "estimating camera poses from depth")
        self.K, self.cfg = intrinsics, config or OdometryConfig()
        self.first_pose = np.eye(4) if first_pose is None else validate_pose(first_pose, "first pose")
        K = intrinsics
        self.pinhole = self.o3d.camera.PinholeCameraIntrinsic(K.width, K.height, K.fx, K.fy, K.cx, K.cy)
        self.reset()

    def reset(self) -> None:
        """Start over (a new stream): the next frame gets ``first_pose``."""
        self.local = _LocalMap(self.o3d, self.cfg)
        self.pose, self.velocity, self.prev_rgbd = None, np.eye(4), None
        self.count, self.fitness, self.weak = 0, [], []

    def update(self, depth, rgb=None) -> np.ndarray:
        """The pose of the camera that saw ``depth`` (H×W metres, 0 = none), given all earlier frames."""
        o3d, cfg, K, i = self.o3d, self.cfg, self.K, self.count
        depth = check_depth(depth, f"odometry depth {i}", (K.width, K.height))
        rgbd = _rgbd(o3d, rgb, depth, cfg) if rgb is not None and cfg.use_rgb else None
        cloud = _cloud(o3d, depth, K, cfg)
        if self.pose is None:
            self.pose = self.first_pose
        else:
            guess = self.velocity
            if rgbd is not None and self.prev_rgbd is not None:
                option = o3d.pipelines.odometry.OdometryOption()
                option.depth_max = cfg.max_depth
                ok, trans, _ = o3d.pipelines.odometry.compute_rgbd_odometry(
                    rgbd, self.prev_rgbd, self.pinhole, self.velocity,
                    o3d.pipelines.odometry.RGBDOdometryJacobianFromHybridTerm(), option)
                if ok:
                    guess = np.asarray(trans)
            T_world, fit = icp_step(o3d, cloud, self.local.levels(), self.pose @ guess, cfg)
            if fit < cfg.fitness_floor:
                self.weak.append(i)
            self.fitness.append(fit)
            self.velocity = np.linalg.inv(self.pose) @ T_world
            self.pose = T_world
        self.local.add(cloud, self.pose)
        self.prev_rgbd = rgbd
        self.count += 1
        return self.pose


def estimate_poses(depths, intrinsics: Intrinsics, rgbs=None, config: OdometryConfig | None = None,
                   first_pose=None, return_details: bool = False):
    """Camera-to-world poses [N,4,4] for a sequence of depth maps (H×W metres, 0 = none).

    ``rgbs``: optional H×W×3 uint8 frames (RGB-D odometry gives the initial guess that map ICP
    refines). ``first_pose``: the first camera's pose (identity by default). With
    ``return_details`` returns an :class:`OdometryResult`.
    """
    depths = list(depths)
    if not depths:
        raise VidsynthError("odometry: expected at least one depth map, found none; give the depth input")
    if rgbs is not None:
        rgbs = list(rgbs)
        if len(rgbs) != len(depths):
            raise VidsynthError(f"odometry: expected one RGB frame per depth map ({len(depths)}), found {len(rgbs)}; "
                                "give matching sequences")
    odometry = Odometry(intrinsics, config, first_pose)
    out = np.stack([odometry.update(d, None if rgbs is None else rgbs[i]) for i, d in enumerate(depths)])
    if return_details:
        return OdometryResult(out, odometry.fitness, odometry.weak)
    return out


def _rgbd(o3d, rgb, depth: np.ndarray, cfg: OdometryConfig):
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[:2] != depth.shape:
        raise VidsynthError(f"odometry: expected H×W×3 uint8 RGB frames of the depth's size {depth.shape}, found "
                            f"{rgb.dtype} {rgb.shape}; resize the frames or the depth")
    color = o3d.geometry.Image(np.ascontiguousarray(rgb))
    d = o3d.geometry.Image(np.ascontiguousarray(depth.astype(np.float32)))
    return o3d.geometry.RGBDImage.create_from_color_and_depth(color, d, depth_scale=1.0, depth_trunc=cfg.max_depth,
                                                             convert_rgb_to_intensity=True)


def trajectory_drift(estimated: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(end-point position error, path length) after aligning both trajectories at their first pose."""
    est = np.asarray(estimated)
    tru = np.asarray(truth)
    align = tru[0] @ np.linalg.inv(est[0])
    est = align @ est
    length = float(np.linalg.norm(np.diff(tru[:, :3, 3], axis=0), axis=1).sum())
    err = float(np.linalg.norm(est[-1, :3, 3] - tru[-1, :3, 3]))
    return err, length
