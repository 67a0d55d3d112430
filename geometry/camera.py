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


# ------------------------------------------------------------------------------------- cameras file
@dataclass
class CameraTrack:
    """What a cameras file holds: one intrinsics and a camera-to-world pose per frame (metres)."""

    intrinsics: Intrinsics
    poses: np.ndarray  # [N,4,4] float64
    indices: list[int]

    def __len__(self) -> int:
        return len(self.poses)

    def camera(self, i: int) -> Camera:
        return Camera(self.intrinsics, self.poses[i])


def _bad(path: str, what: str, found, todo: str) -> VidsynthError:
    return VidsynthError(f"cameras file {path}: expected {what}, found {found}; {todo}")


def validate_pose(pose, where: str = "pose", tol: float = 1e-4) -> np.ndarray:
    """A 4×4 camera-to-world matrix as float64, or :class:`VidsynthError` saying what is wrong with it.

    >>> validate_pose(np.eye(4)).shape
    (4, 4)
    """
    try:
        P = np.asarray(pose, dtype=np.float64)
    except (TypeError, ValueError):
        raise VidsynthError(f"{where}: expected a 4x4 matrix of numbers, found {pose!r:.80}; write it as "
                            "[[r00,r01,r02,tx],[r10,r11,r12,ty],[r20,r21,r22,tz],[0,0,0,1]]") from None
    if P.shape != (4, 4):
        raise VidsynthError(f"{where}: expected a 4x4 camera-to-world matrix, found shape {P.shape}; give 4 rows "
                            "of 4 numbers (or 'R' 3x3 and 't' 3)")
    if not np.isfinite(P).all():
        raise VidsynthError(f"{where}: expected finite numbers, found NaN or inf; fix the pose")
    if np.abs(P[3] - [0, 0, 0, 1]).max() > tol:
        raise VidsynthError(f"{where}: expected the last row [0, 0, 0, 1], found {P[3].tolist()}; this is not a "
                            "rigid transform (a projection matrix?)")
    R = P[:3, :3]
    ortho = np.abs(R.T @ R - np.eye(3)).max()
    if ortho > tol:
        raise VidsynthError(f"{where}: expected a rotation (RᵀR = I), found |RᵀR - I| = {ortho:.3g}; the 3x3 part "
                            "holds scale or shear: orthonormalise it or store scale in the translation units")
    det = float(np.linalg.det(R))
    if abs(det - 1.0) > tol:
        raise VidsynthError(f"{where}: expected a rotation with det(R) = 1, found det(R) = {det:.4g} (a reflection); "
                            "flip one camera axis: conventions are OpenCV's x right, y down, z forward")
    return P


def _frame_pose(path: str, k: int, frame) -> np.ndarray:
    where = f"cameras file {path}: frame {k}"
    if not isinstance(frame, dict):
        raise _bad(path, f"frame {k} to be an object with 'index' and 'pose' (or 'R' and 't')", type(frame).__name__,
                   "see docs/geometry.md for the format")
    if "pose" in frame:
        return validate_pose(frame["pose"], where)
    if "R" in frame and "t" in frame:
        try:
            R = np.asarray(frame["R"], np.float64)
            t = np.asarray(frame["t"], np.float64)
        except (TypeError, ValueError):
            raise _bad(path, f"numbers in frame {k}'s R and t", "something else", "fix that frame") from None
        if R.shape != (3, 3) or t.shape not in ((3,), (3, 1)):
            raise _bad(path, f"R 3x3 and t of 3 numbers in frame {k}", f"R {R.shape}, t {t.shape}", "fix that frame")
        P = np.eye(4)
        P[:3, :3], P[:3, 3] = R, t.reshape(3)
        return validate_pose(P, where)
    raise _bad(path, f"'pose' (4x4) or 'R' and 't' in frame {k}", sorted(frame), "add the camera-to-world pose")


def _intrinsics(path: str, data) -> Intrinsics:
    if not isinstance(data, dict):
        raise _bad(path, "an 'intrinsics' object {fx, fy, cx, cy, width, height}", type(data).__name__,
                   "add it (see docs/geometry.md)")
    d = dict(data)
    if "K" in d:
        K = np.asarray(d.pop("K"), np.float64)
        if K.shape != (3, 3):
            raise _bad(path, "intrinsics K as a 3x3 matrix", f"shape {K.shape}", "give [[fx,0,cx],[0,fy,cy],[0,0,1]]")
        d.update(fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2])
    missing = [k for k in ("fx", "fy", "cx", "cy", "width", "height") if k not in d]
    if missing:
        raise _bad(path, "intrinsics fx, fy, cx, cy (pixels) and width, height", f"{missing} missing", "add them")
    try:
        K = Intrinsics(float(d["fx"]), float(d["fy"]), float(d["cx"]), float(d["cy"]), int(d["width"]), int(d["height"]))
    except (TypeError, ValueError):
        raise _bad(path, "numbers in intrinsics", data, "fix the intrinsics") from None
    if not (K.fx > 0 and K.fy > 0 and K.width > 0 and K.height > 0):
        raise _bad(path, "fx, fy, width and height > 0", K.to_dict(), "fix the intrinsics")
    if not (-K.width <= K.cx <= 2 * K.width and -K.height <= K.cy <= 2 * K.height):
        raise _bad(path, f"a principal point near the {K.width}x{K.height} image", (K.cx, K.cy),
                   "cx, cy are in pixels (not normalised): multiply normalised values by width and height")
    return K


def read_cameras(path: str, expected_count: int | None = None, size: tuple[int, int] | None = None) -> CameraTrack:
    """Read and check a cameras file (format in the module docstring).

    ``expected_count`` = the number of frames the cameras are for; ``size`` = (width, height) of the
    depth/label frames, to which the intrinsics are rescaled if they differ only by a scale factor.
    Everything wrong (missing file, bad JSON, wrong count or order, a pose that is not a rotation,
    unknown units, bad shapes) raises :class:`VidsynthError` saying what was expected and found.
    """
    if not os.path.isfile(path):
        raise VidsynthError(f"cameras file: expected a JSON file at {path!r}, found none; check the path "
                            "(or leave --cameras out to estimate poses from depth)")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad(path, "valid JSON", f"a parse error ({exc})", "fix the file") from None
    if not isinstance(data, dict) or "frames" not in data or "intrinsics" not in data:
        raise _bad(path, "an object with 'intrinsics' and 'frames'",
                   sorted(data) if isinstance(data, dict) else type(data).__name__, "see docs/geometry.md")
    K = _intrinsics(path, data["intrinsics"])
    units = data.get("units", "m")
    if units not in _UNIT_SCALE:
        raise _bad(path, f"units one of {sorted(_UNIT_SCALE)}", repr(units), "state the translation units")
    frames = data["frames"]
    if not isinstance(frames, list) or not frames:
        raise _bad(path, "a non-empty list of frames", type(frames).__name__ if not isinstance(frames, list) else "[]",
                   "add one entry per frame")
    indices, poses = [], []
    for k, frame in enumerate(frames):
        pose = _frame_pose(path, k, frame)
        idx = frame.get("index", k)
        if not isinstance(idx, int) or isinstance(idx, bool):
            raise _bad(path, f"an integer index in frame {k}", repr(idx), "fix that frame")
        pose[:3, 3] *= _UNIT_SCALE[units]
        indices.append(idx)
        poses.append(pose)
    if indices != list(range(indices[0], indices[0] + len(indices))):
        raise _bad(path, "frame indices that count up by one without gaps or repeats",
                   f"{indices[:8]}{'...' if len(indices) > 8 else ''}", "sort the frames and give one per frame")
    if expected_count is not None and len(poses) != expected_count:
        raise _bad(path, f"{expected_count} frames (one per input frame)", f"{len(poses)}",
                   "give a pose for every frame, or trim the input to the frames that have one")
    P = np.stack(poses)
    if len(P) > 1:
        step = float(np.median(np.linalg.norm(np.diff(P[:, :3, 3], axis=0), axis=1)))
        if step > 100.0:
            raise _bad(path, "camera centres a few metres apart at most between frames",
                       f"a median step of {step:.4g} m", "the translations look like cm or mm: set \"units\"")
    if size is not None and (size[0], size[1]) != (K.width, K.height):
        if abs(size[0] / K.width - size[1] / K.height) > 0.01 * size[0] / K.width:
            raise _bad(path, f"intrinsics for {size[0]}x{size[1]} frames (or the same aspect ratio)",
                       f"{K.width}x{K.height}", "give the intrinsics of the frames you render")
        K = K.scaled(size[0], size[1])
    return CameraTrack(K, P, indices)


def write_cameras(path: str, intrinsics: Intrinsics, poses, start_index: int = 0) -> None:
    """Write a cameras file (atomically) that :func:`read_cameras` reads back."""
    frames = [{"index": start_index + i, "pose": validate_pose(p, f"pose {i}").tolist()} for i, p in enumerate(poses)]
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"intrinsics": intrinsics.to_dict(), "units": "m", "frames": frames}, fh)
    os.replace(tmp, path)
