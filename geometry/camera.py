"""Pinhole cameras and camera-to-world poses, and the JSON cameras file.

Conventions (also in docs/geometry.md):

- Camera axes are OpenCV's: x to the right of the image, y down the image, z forward (the optical
  axis). A point in front of the camera has z > 0.
- Pixel (u, v) = (column, row); the centre of the top-left pixel is (0, 0), so a pixel covers
  [u - 0.5, u + 0.5). Projection: u = fx·x/z + cx, v = fy·y/z + cy.
- Depth is the z coordinate in the camera (distance along the optical axis, not along the ray), in
  metres. 0 means "no surface here" (sky, a hole in the sensor).
- A pose is a 4×4 camera-to-world matrix [[R, t], [0, 0, 0, 1]]: a camera point p_c maps to the world
  point R·p_c + t; t is the camera centre in the world; R's columns are the camera axes in the world.
  The world frame is whatever the poses say; the synthetic street world uses x east, y north, z up.

Cameras file (JSON)::

    {"intrinsics": {"fx": 500.0, "fy": 500.0, "cx": 319.5, "cy": 239.5,
                    "width": 640, "height": 480},
     "units": "m",                                # optional: "m" (default), "cm" or "mm"
     "frames": [{"index": 0, "pose": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]},
                {"index": 1, "R": [[1,0,0],[0,1,0],[0,0,1]], "t": [0, 0, 0.5]}]}

>>> K = Intrinsics.from_fov(64, 64, 90.0)
>>> round(K.fx, 3)
32.0
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from vidsynth.errors import VidsynthError

_UNIT_SCALE = {"m": 1.0, "cm": 0.01, "mm": 0.001}


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera: focal lengths and principal point in pixels, and the image size.

    >>> K = Intrinsics(fx=100, fy=100, cx=31.5, cy=31.5, width=64, height=64)
    >>> K.matrix()[0, 2]
    31.5
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> "Intrinsics":
        """Square pixels, principal point at the image centre, the given horizontal field of view."""
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, int(width), int(height))

    @classmethod
    def from_matrix(cls, K, width: int, height: int) -> "Intrinsics":
        K = np.asarray(K, dtype=np.float64)
        return cls(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), int(width), int(height))

    def matrix(self) -> np.ndarray:
        """The 3×3 K matrix (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, width: int, height: int) -> "Intrinsics":
        """The same camera seen at another resolution (the image is resized, not cropped)."""
        sx, sy = width / self.width, height / self.height
        # pixel centres sit at integers, so the principal point scales about -0.5
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
                          int(width), int(height))

    def to_dict(self) -> dict:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy, "width": self.width, "height": self.height}


@dataclass
class Camera:
    """One view: intrinsics plus a 4×4 camera-to-world pose (float64).

    >>> cam = Camera(Intrinsics.from_fov(64, 48, 90.0), np.eye(4))
    >>> cam.center.tolist()
    [0.0, 0.0, 0.0]
    """

    intrinsics: Intrinsics
    pose: np.ndarray = field(default_factory=lambda: np.eye(4))

    @property
    def center(self) -> np.ndarray:
        return np.asarray(self.pose)[:3, 3].copy()

    def world_to_camera(self) -> np.ndarray:
        return invert_pose(self.pose)

    def to_dict(self) -> dict:
        return {"intrinsics": self.intrinsics.to_dict(), "pose": np.asarray(self.pose).tolist()}


def invert_pose(pose) -> np.ndarray:
    """The inverse of a rigid 4×4 transform (world-to-camera from camera-to-world and back)."""
    pose = np.asarray(pose, dtype=np.float64)
    R, t = pose[:3, :3], pose[:3, 3]
    out = np.eye(4)
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ t
    return out


def pose_from_heading(position, heading_rad: float, pitch_rad: float = 0.0) -> np.ndarray:
    """A camera-to-world pose for a z-up world: the camera at ``position`` looking along ``heading``
    (radians, 0 = +x, counter-clockwise seen from above), tilted up by ``pitch``; image up is world up.

    >>> P = pose_from_heading([0, 0, 1.5], 0.0)
    >>> P[:3, 2].round(6).tolist()  # the optical axis points along +x
    [1.0, 0.0, 0.0]
    """
    ch, sh = math.cos(heading_rad), math.sin(heading_rad)
    cp, sp = math.cos(pitch_rad), math.sin(pitch_rad)
    forward = np.array([ch * cp, sh * cp, sp])
    right = np.array([sh, -ch, 0.0])  # forward × up, normalised (forward is never vertical here)
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = right, down, forward
    pose[:3, 3] = np.asarray(position, dtype=np.float64)
    return pose
