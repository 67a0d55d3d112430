"""Keypoint records in the layouts imaginaire's data uses, and the tables that map MediaPipe onto them.

Coordinates are pixels of the frame the keypoints were found in: column ``x``, row ``y``, then a
confidence; a confidence of 0 means the point is missing (its ``x, y`` are then 0 as well).

- :class:`PoseKeypoints`: OpenPose's BODY_25 body, 70 face points (dlib's 68 + two pupils) and two
  21-point hands, the layout of imaginaire's ``poses-openpose`` JSON files.
- :class:`FaceLandmarks`: dlib's 68 points, the layout of ``landmarks-dlib68`` files.

The mapping tables are plain data so that they can be checked and reused without MediaPipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..stage import Stage

# OpenPose BODY_25 names, in index order.
BODY25_NAMES = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)

# For each BODY_25 point, the MediaPipe Pose landmarks (33-point model) averaged to make it.
# Left/right are the subject's in both layouts. MediaPipe has no small toe: the foot index (the tip of
# the foot) stands in for both toes, so the small-toe limb is drawn with zero length.
MEDIAPIPE_TO_BODY25: tuple[tuple[int, ...], ...] = (
    (0,),        # Nose
    (11, 12),    # Neck = mid-shoulders
    (12,),       # RShoulder
    (14,),       # RElbow
    (16,),       # RWrist
    (11,),       # LShoulder
    (13,),       # LElbow
    (15,),       # LWrist
    (23, 24),    # MidHip = mid-hips
    (24,),       # RHip
    (26,),       # RKnee
    (28,),       # RAnkle
    (23,),       # LHip
    (25,),       # LKnee
    (27,),       # LAnkle
    (5,),        # REye (MediaPipe right_eye centre)
    (2,),        # LEye
    (8,),        # REar
    (7,),        # LEar
    (31,),       # LBigToe  <- left_foot_index
    (31,),       # LSmallToe <- left_foot_index (no small toe in MediaPipe)
    (29,),       # LHeel
    (32,),       # RBigToe
    (32,),       # RSmallToe
    (30,),       # RHeel
)

# For each dlib-68 point, the MediaPipe Face Mesh vertex (468-point topology) at the same place.
# dlib numbers the jaw from the subject's right ear (image left) to the left ear, the brows and eyes
# right before left, and the lips from the right mouth corner clockwise in the image.
MEDIAPIPE_MESH_TO_DLIB68: tuple[int, ...] = (
    # jaw 0-16
    234, 93, 132, 58, 172, 136, 150, 149, 152, 378, 379, 365, 397, 288, 361, 323, 454,
    # right brow 17-21, left brow 22-26
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # nose bridge 27-30, nostrils 31-35
    168, 197, 5, 4, 98, 97, 2, 326, 327,
    # right eye 36-41 (outer corner first), left eye 42-47 (inner corner first)
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    # outer lips 48-59
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    # inner lips 60-67
    78, 82, 13, 312, 308, 317, 14, 87,
)

# dlib-68 eye contours: OpenPose's face points 68 and 69 are the right and left pupils.
DLIB_RIGHT_EYE = tuple(range(36, 42))
DLIB_LEFT_EYE = tuple(range(42, 48))
# MediaPipe's refined mesh (478 points) adds iris centres at these indices.
MEDIAPIPE_IRIS_CENTRES = (468, 473)


def _zeros(n: int) -> np.ndarray:
    return np.zeros((n, 3), np.float32)


def _checked(a, n: int, what: str) -> np.ndarray:
    a = np.asarray(a, np.float32)
    if a.shape != (n, 3):
        raise ValueError(f"{what} must be an ({n}, 3) array of x, y, confidence; got shape {a.shape}")
    return a


def _mapped(points: np.ndarray, scale: tuple[float, float], offset: tuple[float, float]) -> np.ndarray:
    """(N, 3) points with x, y mapped by ``(p - offset) * scale``; missing points (confidence 0) stay at 0."""
    out = points.copy()
    valid = points[:, 2] > 0
    out[:, 0] = np.where(valid, (points[:, 0] - offset[0]) * scale[0], 0)
    out[:, 1] = np.where(valid, (points[:, 1] - offset[1]) * scale[1], 0)
    return out


def _crop_resize_map(box: tuple[int, int, int, int], size: tuple[int, int]):
    """(scale, offset) that take points into ``image[y0:y1, x0:x1]`` resized to ``size = (H, W)``."""
    y0, y1, x0, x1 = box
    h, w = size
    return (w / float(x1 - x0), h / float(y1 - y0)), (x0, y0)


@dataclass
class PoseKeypoints:
    """One person in OpenPose's layout: BODY_25, 70 face points, left and right 21-point hands.

    Each array is (N, 3): x, y in pixels and a confidence in [0, 1]; 0 confidence = missing.

    >>> p = PoseKeypoints.empty()
    >>> p.body.shape, p.is_empty
    ((25, 3), True)
    """

    body: np.ndarray = field(default_factory=lambda: _zeros(25))
    hand_left: np.ndarray = field(default_factory=lambda: _zeros(21))
    hand_right: np.ndarray = field(default_factory=lambda: _zeros(21))
    face: np.ndarray = field(default_factory=lambda: _zeros(70))

    def __post_init__(self):
        self.body = _checked(self.body, 25, "body")
        self.hand_left = _checked(self.hand_left, 21, "hand_left")
        self.hand_right = _checked(self.hand_right, 21, "hand_right")
        self.face = _checked(self.face, 70, "face")

    @classmethod
    def empty(cls) -> "PoseKeypoints":
        """A record with every point missing (what a frame without a person gets)."""
        return cls()

    @property
    def is_empty(self) -> bool:
        return not any((a[:, 2] > 0).any() for a in (self.body, self.hand_left, self.hand_right, self.face))

    def to_array(self) -> np.ndarray:
        """(137, 3) in imaginaire's order: body 25, face 70, left hand 21, right hand 21."""
        return np.concatenate([self.body, self.face, self.hand_left, self.hand_right], 0)

    @classmethod
    def from_array(cls, a: np.ndarray) -> "PoseKeypoints":
        """Inverse of :meth:`to_array`."""
        a = np.asarray(a, np.float32).reshape(137, 3)
        return cls(body=a[:25], face=a[25:95], hand_left=a[95:116], hand_right=a[116:137])

    def transformed(self, scale: tuple[float, float], offset: tuple[float, float]) -> "PoseKeypoints":
        """Points mapped by ``x' = (x - offset_x) * scale_x`` (same for y); missing points stay (0, 0, 0).

        A crop ``(y0, y1, x0, x1)`` resized to ``(H, W)`` is ``scale=(W/(x1-x0), H/(y1-y0)), offset=(x0, y0)``.
        """
        return PoseKeypoints(*(_mapped(a, scale, offset)
                               for a in (self.body, self.hand_left, self.hand_right, self.face)))

    def crop_resize(self, box: tuple[int, int, int, int], size: tuple[int, int]) -> "PoseKeypoints":
        """Points in the frame of ``image[y0:y1, x0:x1]`` resized to ``size = (H, W)``."""
        return self.transformed(*_crop_resize_map(box, size))


@dataclass
class FaceLandmarks:
    """dlib's 68 face landmarks: (68, 3) x, y in pixels and a confidence (0 = missing).

    >>> FaceLandmarks.empty().is_empty
    True
    """

    points: np.ndarray = field(default_factory=lambda: _zeros(68))

    def __post_init__(self):
        self.points = _checked(self.points, 68, "points")

    @classmethod
    def empty(cls) -> "FaceLandmarks":
        return cls()

    @property
    def is_empty(self) -> bool:
        return not (self.points[:, 2] > 0).any()

    @property
    def xy(self) -> np.ndarray:
        """(68, 2) float32 pixel coordinates."""
        return self.points[:, :2]

    def transformed(self, scale: tuple[float, float], offset: tuple[float, float]) -> "FaceLandmarks":
        """Points mapped by ``(p - offset) * scale``; see :meth:`PoseKeypoints.transformed`."""
        return FaceLandmarks(_mapped(self.points, scale, offset))

    def crop_resize(self, box: tuple[int, int, int, int], size: tuple[int, int]) -> "FaceLandmarks":
        """Points in the frame of ``image[y0:y1, x0:x1]`` resized to ``size = (H, W)``."""
        return self.transformed(*_crop_resize_map(box, size))


# --------------------------------------------------------------------------------------------------
# Mapping MediaPipe output (normalised x, y in [0, 1]) to pixels in the OpenPose / dlib layouts.
# --------------------------------------------------------------------------------------------------

def body25_from_mediapipe(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """(33, 3) MediaPipe pose landmarks (x, y normalised; visibility) -> (25, 3) BODY_25 in pixels.

    A point made from several landmarks takes their mean position and their lowest visibility.

    >>> lm = np.tile([[0.5, 0.5, 1.0]], (33, 1))
    >>> body25_from_mediapipe(lm, 100, 50)[1].tolist()
    [50.0, 25.0, 1.0]
    """
    lm = np.asarray(landmarks, np.float64)
    out = np.zeros((25, 3), np.float32)
    for i, src in enumerate(MEDIAPIPE_TO_BODY25):
        pts = lm[list(src)]
        out[i, 0] = pts[:, 0].mean() * width
        out[i, 1] = pts[:, 1].mean() * height
        out[i, 2] = np.clip(pts[:, 2].min(), 0.0, 1.0)
    out[out[:, 2] <= 0] = 0
    return out


def hand21_from_mediapipe(landmarks: np.ndarray | None, width: int, height: int) -> np.ndarray:
    """(21, 2+) MediaPipe hand landmarks -> (21, 3) in pixels (the two layouts share their order)."""
    out = np.zeros((21, 3), np.float32)
    if landmarks is None:
        return out
    lm = np.asarray(landmarks, np.float64)
    out[:, 0] = lm[:, 0] * width
    out[:, 1] = lm[:, 1] * height
    out[:, 2] = 1.0
    return out


def dlib68_from_mesh(mesh: np.ndarray | None, width: int, height: int) -> np.ndarray:
    """(468 or 478, 2+) MediaPipe Face Mesh landmarks -> (68, 3) dlib layout in pixels."""
    out = np.zeros((68, 3), np.float32)
    if mesh is None:
        return out
    m = np.asarray(mesh, np.float64)
    idx = list(MEDIAPIPE_MESH_TO_DLIB68)
    out[:, 0] = m[idx, 0] * width
    out[:, 1] = m[idx, 1] * height
    out[:, 2] = 1.0
    return out


def openpose_face70_from_mesh(mesh: np.ndarray | None, width: int, height: int) -> np.ndarray:
    """(468 or 478, 2+) Face Mesh -> OpenPose's 70 face points: dlib's 68 then right and left pupils.

    Pupils come from the refined mesh's iris centres when present, else the mean of each eye contour.
    """
    out = np.zeros((70, 3), np.float32)
    if mesh is None:
        return out
    d = dlib68_from_mesh(mesh, width, height)
    out[:68] = d
    m = np.asarray(mesh, np.float64)
    for k, eye in ((68, DLIB_RIGHT_EYE), (69, DLIB_LEFT_EYE)):
        centre = d[list(eye), :2].mean(0)
        if m.shape[0] >= 478:
            # pick whichever iris centre lies nearest this eye (robust to the mesh's side convention)
            irises = np.array([[m[i, 0] * width, m[i, 1] * height] for i in MEDIAPIPE_IRIS_CENTRES])
            centre = irises[np.argmin(np.linalg.norm(irises - centre, axis=1))]
        out[k] = (centre[0], centre[1], 1.0)
    return out


class PoseFromArrays(Stage):
    """Turn a plain-array pose (``{'body': (25,3), ...}``, what synthetic sources such as the puppet
    give, since streams do not import the engine) into a :class:`PoseKeypoints`."""

    def process(self, frame):
        pose = frame.conditions.get("pose")
        if isinstance(pose, dict):
            frame.conditions["pose"] = PoseKeypoints(**pose)
        return frame
