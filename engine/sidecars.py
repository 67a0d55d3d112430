"""Keypoint and label files next to the frames: OpenPose JSON, dlib-68 JSON, PNG masks and label maps.

- OpenPose JSON: ``{"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [x, y, c, ...],
  "face_keypoints_2d": [...], "hand_left_keypoints_2d": [...], "hand_right_keypoints_2d": [...], ...}]}``
  (the file OpenPose writes and imaginaire's ``poses-openpose`` folders hold). A frame without a person
  is written with an empty ``people`` list.
- dlib-68 JSON: a list of 68 ``[x, y]`` pairs (imaginaire's ``landmarks-dlib68``); no face: ``[]``.
- Masks and label maps: single-channel PNG, 8-bit, or 16-bit when ids exceed 255 (lossless).
- Flow: ``.npy`` float32 H×W×2 (lossless).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from vidsynth.errors import VidsynthError, require

from .extract.keypoints import FaceLandmarks, PoseKeypoints


def _atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _flat(a: np.ndarray) -> list[float]:
    # float32 -> Python float is exact and JSON keeps all digits, so a file read back gives the same
    # keypoints bit for bit (and so the same drawn network inputs).
    return [float(v) for v in np.asarray(a, np.float32).reshape(-1)]


def openpose_dict(people: list[PoseKeypoints]) -> dict:
    """OpenPose's JSON structure for a list of people (empty records are left out)."""
    out = []
    for p in people:
        if p.is_empty:
            continue
        out.append({
            "person_id": [-1],
            "pose_keypoints_2d": _flat(p.body),
            "face_keypoints_2d": _flat(p.face),
            "hand_left_keypoints_2d": _flat(p.hand_left),
            "hand_right_keypoints_2d": _flat(p.hand_right),
            "pose_keypoints_3d": [], "face_keypoints_3d": [],
            "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": [],
        })
    return {"version": 1.3, "people": out}


def write_openpose_json(path, people: PoseKeypoints | list[PoseKeypoints]) -> None:
    """Write one frame's people as an OpenPose JSON file.

    >>> write_openpose_json("/tmp/f.json", PoseKeypoints.empty())  # doctest: +SKIP
    """
    if isinstance(people, PoseKeypoints):
        people = [people]
    _atomic_write_text(Path(path), json.dumps(openpose_dict(people)))


def _part(person: dict, key: str, n: int, path) -> np.ndarray:
    values = person.get(key) or []
    if len(values) == 0:
        return np.zeros((n, 3), np.float32)
    if len(values) != n * 3:
        raise VidsynthError(f"{path}: '{key}' should hold {n * 3} numbers (x, y, confidence × {n}), "
                            f"found {len(values)}; is this OpenPose BODY_25 output?")
    return np.asarray(values, np.float32).reshape(n, 3)


def _load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise VidsynthError(f"keypoint file {path} does not exist; check the path") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VidsynthError(f"{path} is not valid JSON ({exc}); expected a keypoint file") from None


def read_openpose_people(path) -> list[PoseKeypoints]:
    """All people in an OpenPose JSON file (possibly none)."""
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise VidsynthError(f"{path}: expected OpenPose JSON with a 'people' list, found {type(data).__name__}")
    return [
        PoseKeypoints(
            body=_part(p, "pose_keypoints_2d", 25, path),
            face=_part(p, "face_keypoints_2d", 70, path),
            hand_left=_part(p, "hand_left_keypoints_2d", 21, path),
            hand_right=_part(p, "hand_right_keypoints_2d", 21, path),
        )
        for p in data["people"]
    ]


def tallest_person(people: list[PoseKeypoints]) -> PoseKeypoints:
    """The person whose confident body points span the most rows (imaginaire keeps only this one)."""
    best, best_len = PoseKeypoints.empty(), 0.0
    for p in people:
        y = p.body[p.body[:, 2] > 0.01, 1]
        if y.size and (y.max() - y.min()) > best_len:
            best, best_len = p, float(y.max() - y.min())
    return best


def read_openpose_json(path) -> PoseKeypoints:
    """The tallest person of an OpenPose JSON file; an empty record when there is none."""
    return tallest_person(read_openpose_people(path))


def write_dlib68_json(path, landmarks: FaceLandmarks) -> None:
    """Write 68 ``[x, y]`` pairs (``[]`` when no face was found)."""
    pairs = [] if landmarks.is_empty else [[float(x), float(y)] for x, y in landmarks.xy]
    _atomic_write_text(Path(path), json.dumps(pairs))


def read_dlib68_json(path) -> FaceLandmarks:
    """Read a dlib-68 JSON list of ``[x, y]`` pairs; ``[]`` gives an empty record."""
    data = _load_json(path)
    if data == []:
        return FaceLandmarks.empty()
    a = np.asarray(data, np.float32) if isinstance(data, list) else None
    if a is None or a.shape != (68, 2):
        shape = None if a is None else a.shape
        raise VidsynthError(f"{path}: expected a JSON list of 68 [x, y] pairs, found {shape or type(data).__name__}")
    return FaceLandmarks(np.concatenate([a, np.ones((68, 1), np.float32)], 1))


def write_png(path, array: np.ndarray) -> None:
    """Write an H×W mask or label map losslessly (uint8, or uint16 when values exceed 255)."""
    cv2 = require("cv2", "writing PNG files")
    a = np.asarray(array)
    if a.ndim != 2:
        raise VidsynthError(f"a mask or label map is H×W, found shape {a.shape}")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    if a.min() < 0 or a.max() > 65535:
        raise VidsynthError(f"label ids must lie in 0..65535 to be stored as PNG, found {a.min()}..{a.max()}")
    a = a.astype(np.uint8 if a.max() <= 255 else np.uint16)
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    if not cv2.imwrite(str(tmp), a):
        raise VidsynthError(f"could not write {path}; check the folder exists and is writable")
    os.replace(tmp, path)


def read_png(path) -> np.ndarray:
    """Read a single-channel PNG as it was stored (uint8 or uint16); a colour PNG keeps its channels (RGB)."""
    cv2 = require("cv2", "reading PNG files")
    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if a is None:
        raise VidsynthError(f"could not read {path} as an image; check the file exists and is a PNG")
    if a.ndim == 3:
        a = a[:, :, 2::-1] if a.shape[2] >= 3 else a[:, :, 0]
    return np.ascontiguousarray(a)


def write_flow(path, flow: np.ndarray, dtype=np.float32) -> None:
    """Store flow as ``.npy`` (H×W×2, dx then dy): float32 is lossless, float16 half the size."""
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.npy")
    np.save(tmp, np.asarray(flow, dtype))
    os.replace(tmp, path)


def read_flow(path) -> np.ndarray:
    try:
        a = np.load(path)
    except (OSError, ValueError) as exc:
        raise VidsynthError(f"could not read flow from {path} ({exc}); expected a .npy H×W×2 array") from None
    if a.ndim != 3 or a.shape[2] != 2:
        raise VidsynthError(f"{path}: flow must be H×W×2, found shape {a.shape}")
    return a.astype(np.float32)
