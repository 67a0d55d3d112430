"""Training datasets read from folders: imaginaire's raw layout, and what ``vidsynth extract --dataset-out`` writes.

A data root holds one folder per data type, each with the same files (by name) — flat for image
datasets, one sub-folder per sequence for video datasets::

    root/images/<seq>/000000.jpg          RGB frames
    root/seg_maps/<seq>/000000.png        label ids (one channel)
    root/instance_maps/<seq>/000000.png   instance ids (8 or 16 bit)
    root/poses-openpose/<seq>/000000.json OpenPose JSON (BODY_25 + hands + 70 face points)
    root/landmarks-dlib68/<seq>/000000.json   68 [x, y] points
    root/flow/<seq>/000000.npy            optional backward flow (H, W, 2) from frame t to t-1, pixels
                                          (a third channel: 1 where it is valid); or flow-dis/ (extract's)
    root/unprojections/<seq>/000000.pkl   wc-vid2vid: imaginaire's pixel → 3D point id file (optional;
                                          read as a per-pixel point-id map, ``points``)

Unpaired data uses ``images_a/`` and ``images_b/``; few-shot data ``images_content/<class>/`` (and
optionally ``images_style/<class>/``). Keypoints and labels become network inputs through the
engine's conditioning code, the same code inference runs. Each example's augmentation (resize, random
scale, crop, flip) is drawn from a generator seeded by (seed, epoch, index): the same example gets the
same crop in any process, so resumed and distributed runs read exactly the same data.

Bad data stops with a :class:`VidsynthError` naming the file or folder.

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    ds = PairedImages("data/street", DataConfig(num_classes=35)); ds[0]["label"].shape
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from vidsynth.errors import VidsynthError

from .config import DataConfig

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
LABEL_FOLDERS = ("seg_maps", "poses-openpose", "landmarks-dlib68")


# --- reading files ----------------------------------------------------------------------------------


def read_image(path: str) -> np.ndarray:
    """An RGB uint8 H×W×3 image; a file that does not decode is an error naming it."""
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise VidsynthError(f"the image {path} cannot be decoded (corrupt, truncated or not an image); "
                            "replace or delete it")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_id_map(path: str) -> np.ndarray:
    """A one-channel integer map (labels, instances); a colour PNG's first channel is taken as ids."""
    import cv2

    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise VidsynthError(f"the label map {path} cannot be decoded (corrupt, truncated or not an image); "
                            "replace or delete it")
    if img.ndim == 3:
        img = img[..., 2] if img.shape[2] >= 3 else img[..., 0]  # OpenCV is BGR: channel 2 is R
    return img.astype(np.int64)


def read_openpose(path: str) -> dict[str, np.ndarray]:
    """The tallest person of an OpenPose JSON file (as imaginaire and the engine keep) as {'body': (25,3),
    'hand_left': (21,3), 'hand_right': (21,3), 'face': (70,3)} — zeros when nobody is there. Read with the
    engine's sidecar reader, the one inference uses."""
    from vidsynth.engine.sidecars import read_openpose_json

    pose = read_openpose_json(path)
    return {"body": pose.body, "hand_left": pose.hand_left, "hand_right": pose.hand_right, "face": pose.face}


def read_dlib68(path: str) -> np.ndarray:
    """68 face landmarks (68, 2) in pixels from a ``landmarks-dlib68`` JSON file."""
    try:
        with open(path) as f:
            pts = np.asarray(json.load(f), np.float32)
    except (OSError, ValueError) as exc:
        raise VidsynthError(f"the landmark file {path} cannot be read as JSON ({exc}); fix or delete it") from None
    if pts.size == 0:  # no face in this frame (`vidsynth extract` writes []): an empty edge map
        return np.zeros((0, 2), np.float32)
    if pts.ndim != 2 or pts.shape[0] != 68 or pts.shape[1] < 2:
        raise VidsynthError(f"the landmark file {path} must hold 68 [x, y] points; found shape {list(pts.shape)}")
    return pts[:, :2]


def read_flow(path: str) -> np.ndarray:
    if path.endswith(".npy"):
        flow = np.load(path)
    else:  # Middlebury .flo
        with open(path, "rb") as f:
            if np.frombuffer(f.read(4), np.float32)[0] != 202021.25:
                raise VidsynthError(f"the flow file {path} is not a .flo file; write (H, W, 2) .npy or .flo files")
            w, h = np.frombuffer(f.read(8), np.int32)
            flow = np.frombuffer(f.read(), np.float32).reshape(h, w, 2)
    if flow.ndim != 3 or flow.shape[2] not in (2, 3):
        raise VidsynthError(f"the flow file {path} must hold an (H, W, 2) array (or (H, W, 3) with a validity "
                            f"channel); found {list(flow.shape)}")
    return flow.astype(np.float32)


# --- folder scanning ----------------------------------------------------------------------------------


def _file_kind(folder: str) -> tuple[tuple[str, ...], str]:
    """The file endings a data folder holds, and what a message calls them."""
    if folder.startswith(("poses", "landmarks")):
        return (".json",), "JSON"
    if folder.startswith("flow"):
        return (".npy", ".flo"), ".npy or .flo"
    if folder == "unprojections":
        return (".pkl",), ".pkl"
    return IMAGE_EXTS, "image"


def scan(root: str, folder: str, sequences: bool) -> dict[str, dict[str, str]]:
    """{sequence: {file stem: path}} of one data-type folder; a flat folder is the one sequence ''."""
    base = os.path.join(root, folder)
    if not os.path.isdir(base):
        found = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))) if os.path.isdir(root) else []
        raise VidsynthError(
            f"the data folder {base} does not exist; the data root {root} must hold '{folder}/' "
            f"(found: {', '.join(found) or 'nothing'}); see imaginaire's raw layout or `vidsynth extract --dataset-out`"
        )
    out: dict[str, dict[str, str]] = {}
    entries = sorted(os.listdir(base))
    subdirs = [e for e in entries if os.path.isdir(os.path.join(base, e))]
    exts, kind = _file_kind(folder)
    files = [e for e in entries if os.path.isfile(os.path.join(base, e)) and e.lower().endswith(exts)]
    if sequences or (subdirs and not files):
        for d in subdirs:
            names = sorted(f for f in os.listdir(os.path.join(base, d)) if f.lower().endswith(exts))
            if names:
                out[d] = {os.path.splitext(f)[0]: os.path.join(base, d, f) for f in names}
        if files:
            out[""] = {os.path.splitext(f)[0]: os.path.join(base, f) for f in files}
    elif files:
        out[""] = {os.path.splitext(f)[0]: os.path.join(base, f) for f in files}
    if not out:
        raise VidsynthError(f"the data folder {base} is empty: expected {'sequence folders of ' if sequences else ''}"
                            f"{kind} files; add data or fix --data")
    return out


def pair_folders(root: str, folders: list[str], sequences: bool) -> list[tuple[str, list[str], dict[str, list[str]]]]:
    """[(sequence, stems, {folder: paths})] with every folder holding the same files."""
    scans = {f: scan(root, f, sequences) for f in folders}
    first = folders[0]
    result = []
    for seq in sorted(scans[first]):
        stems = sorted(scans[first][seq])
        paths = {}
        for f in folders:
            other = scans[f].get(seq)
            where = os.path.join(root, f, seq)
            if other is None:
                raise VidsynthError(f"{where} is missing: every data folder needs the sequence {seq!r} that "
                                    f"{os.path.join(root, first, seq)} has")
            if len(other) != len(stems) or set(other) != set(stems):
                missing = sorted(set(stems) - set(other))[:3]
                extra = sorted(set(other) - set(stems))[:3]
                raise VidsynthError(
                    f"{where} has {len(other)} files but {os.path.join(root, first, seq)} has {len(stems)}: the "
                    f"folders must hold the same frames (missing in {f}: {missing}, not in {first}: {extra}); "
                    "add or remove files so that they match"
                )
            paths[f] = [other[s] for s in stems]
        result.append((seq, stems, paths))
    return result


# --- augmentation ---------------------------------------------------------------------------------------


@dataclass
class Augment:
    """One draw of the paper's augmentation: scale to (h, w), crop (top, left, ch, cw), maybe flip."""

    h: int
    w: int
    top: int
    left: int
    ch: int
    cw: int
    flip: bool

    @staticmethod
    def draw(shape: tuple[int, int], cfg: DataConfig, rng: np.random.Generator | None) -> "Augment":
        h0, w0 = shape
        ch, cw = cfg.crop_size
        s = cfg.resize_short / min(h0, w0) if cfg.resize_short else 1.0
        s = max(s, ch / h0, cw / w0)  # never smaller than the crop
        if rng is not None and cfg.random_scale > 0:
            s *= 1.0 + rng.uniform(0, cfg.random_scale)
        h, w = max(ch, int(round(h0 * s))), max(cw, int(round(w0 * s)))
        if rng is None:  # evaluation: centre crop, no flip
            return Augment(h, w, (h - ch) // 2, (w - cw) // 2, ch, cw, False)
        top = int(rng.integers(0, h - ch + 1))
        left = int(rng.integers(0, w - cw + 1))
        flip = bool(cfg.flip and rng.random() < 0.5)
        return Augment(h, w, top, left, ch, cw, flip)

    def image(self, img: np.ndarray, nearest: bool = False) -> np.ndarray:
        import cv2

        if img.shape[:2] != (self.h, self.w):
            if nearest:  # ids: pick source pixels (exact for any integer type)
                rows = np.minimum(((np.arange(self.h) + 0.5) * img.shape[0] / self.h).astype(np.int64), img.shape[0] - 1)
                cols = np.minimum(((np.arange(self.w) + 0.5) * img.shape[1] / self.w).astype(np.int64), img.shape[1] - 1)
                img = img[rows][:, cols]
            else:
                shrink = self.h < img.shape[0]
                img = cv2.resize(img, (self.w, self.h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        img = img[self.top:self.top + self.ch, self.left:self.left + self.cw]
        if self.flip:
            img = img[:, ::-1]
        return np.ascontiguousarray(img)

    def points(self, xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Map pixel coordinates (…, 2+) of an image of ``shape`` through this augmentation; missing points
        (all zero) stay zero."""
        out = np.array(xy, np.float32, copy=True)
        missing = ~np.any(out[..., :2] != 0, axis=-1)
        sx, sy = self.w / shape[1], self.h / shape[0]
        out[..., 0] = out[..., 0] * sx - self.left
        out[..., 1] = out[..., 1] * sy - self.top
        if self.flip:
            out[..., 0] = self.cw - 1 - out[..., 0]
        out[missing] = 0
        return out

    def flow(self, flow: np.ndarray) -> np.ndarray:
        sx, sy = self.w / flow.shape[1], self.h / flow.shape[0]
        f = self.image(flow).copy()
        f[..., 0] *= -sx if self.flip else sx
        f[..., 1] *= sy
        if f.shape[-1] > 2:  # the validity channel stays 0/1
            f[..., 2] = f[..., 2] > 0.5
        return np.ascontiguousarray(f)


def read_point_map(path: str, sizes: list[tuple[int, int]]) -> np.ndarray:
    """One unprojection file as an int64 map of point ids (-1 where no point), at its entry for the first
    of ``sizes`` (H, W) it has, else at its largest entry (the augmentation then resizes the map)."""
    from vidsynth.geometry.imaginaire_unprojection import read_unprojection, resolution_of

    entries = read_unprojection(path)
    if not entries:
        raise VidsynthError(f"the unprojection file {path} holds no resolution entry; expected keys like "
                            f"'w{sizes[0][1]}xh{sizes[0][0]}'; rewrite it or delete the unprojections/ folder")
    key = next((f"w{w}xh{h}" for h, w in sizes if f"w{w}xh{h}" in entries), None)
    if key is None:
        key = max(entries, key=lambda k: resolution_of(k)[0] * resolution_of(k)[1])
    h, w = resolution_of(key)
    mapping = entries[key]
    points = np.full((h, w), -1, np.int64)
    points[mapping[:, 0], mapping[:, 1]] = mapping[:, 2]
    return points


def compact_point_ids(points: torch.Tensor) -> torch.Tensor:
    """Renumber the point ids of one example (-1 = none) as 0..n-1 in increasing order, so a trainer can
    keep a colour per point in an n-row table whatever ids the data uses."""
    valid = points >= 0
    out = torch.full_like(points, -1)
    if valid.any():
        out[valid] = torch.unique(points[valid], return_inverse=True)[1]
    return out


def example_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


def image_to_tensor(img: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 → (3, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div(127.5).sub(1.0)


# --- conditioning ------------------------------------------------------------------------------------


class LabelEncoder:
    """Turns one frame's raw conditioning (label ids, keypoints, landmarks) into the network's label
    tensor, with the engine's conditioning code (the code inference runs)."""

    def __init__(self, cfg: DataConfig):
        self.cfg = cfg
        from vidsynth.networks.labels import LabelLayout

        self.layout = LabelLayout(num_classes=cfg.num_classes, dont_care=cfg.use_dont_care,
                                  instance_edges=cfg.instance_maps)

    @property
    def channels(self) -> int:
        t = self.cfg.label_type
        base = {"seg_maps": self.layout.channels, "poses-openpose": 27, "landmarks-dlib68": 1, "none": 0}[t]
        return base + len(self.cfg.extra_labels)

    def check_ids(self, ids: np.ndarray, path: str) -> None:
        n = self.cfg.num_classes
        bad = (ids >= n) & (ids != (self.cfg.dont_care_id if self.cfg.dont_care_id is not None else -1))
        if (ids < 0).any() or bad.any():
            found = int(ids[bad].max()) if bad.any() else int(ids.min())
            raise VidsynthError(
                f"the label map {path} has class id {found} but the config has {n} classes (ids 0..{n - 1}"
                f"{', ' + str(self.cfg.dont_care_id) + ' for dont-care' if self.cfg.dont_care_id is not None else ''}); "
                "raise data.num_classes or remap the labels"
            )

    def seg(self, ids: np.ndarray, instance: np.ndarray | None) -> torch.Tensor:
        ids_t = torch.from_numpy(ids).long()[None]
        inst_t = torch.from_numpy(instance.astype(np.int64))[None] if instance is not None else None
        return self.layout.encode(ids_t, instance_map=inst_t)[0]

    def pose(self, keypoints: dict[str, np.ndarray], size: tuple[int, int]) -> torch.Tensor:
        from vidsynth.engine.conditioning import pose_label
        from vidsynth.engine.extract.keypoints import PoseKeypoints

        pose = PoseKeypoints(**{k: np.asarray(v, np.float32) for k, v in keypoints.items()})
        return pose_label(pose, size, channels=27)

    def face(self, points: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
        from vidsynth.engine.conditioning import face_label

        if len(points) == 0:
            return torch.zeros(1, *size)
        return face_label(points, size)


# --- the datasets ---------------------------------------------------------------------------------------


class _FolderDataset(Dataset):
    """Shared reading of one frame (image + conditioning) with an augmentation."""

    sequences = False

    def __init__(self, root: str, cfg: DataConfig, seed: int = 0, train: bool = True):
        if not os.path.isdir(root):
            raise VidsynthError(f"the data root {root} does not exist or is not a folder; give --data a folder in "
                                "imaginaire's raw layout or one written by `vidsynth extract --dataset-out`")
        self.root, self.cfg, self.seed, self.train, self.epoch = root, cfg, seed, train, 0
        self.encoder = LabelEncoder(cfg)
        self.label_folders = []
        if cfg.label_type != "none":
            self.label_folders.append(cfg.label_type)
        if cfg.instance_maps:
            self.label_folders.append("instance_maps")
        self.label_folders += list(cfg.extra_labels)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def rng(self, index: int) -> np.random.Generator | None:
        return example_rng(self.seed, self.epoch, index) if self.train else None

    def load_frame(self, paths: dict[str, str], aug: Augment | None, rng) -> tuple[dict, Augment]:
        """Read and augment one frame: {'images': (3,H,W), 'label': (C,H,W), ('flow': (2,H,W))}."""
        img = read_image(paths["images"]) if "images" in paths else None
        shape = img.shape[:2] if img is not None else None
        raw = {}
        for f in self.label_folders:
            p = paths[f]
            if f == "poses-openpose":
                raw[f] = read_openpose(p)
            elif f == "landmarks-dlib68":
                raw[f] = read_dlib68(p)
            elif f == "seg_maps":
                raw[f] = read_id_map(p)
                self.encoder.check_ids(raw[f], p)
                shape = shape or raw[f].shape[:2]
            else:
                raw[f] = read_id_map(p)
                shape = shape or raw[f].shape[:2]
            if f in ("seg_maps", "instance_maps") and img is not None and raw[f].shape[:2] != img.shape[:2]:
                raise VidsynthError(f"the label map {p} is {raw[f].shape[1]}x{raw[f].shape[0]} but its image "
                                    f"{paths['images']} is {img.shape[1]}x{img.shape[0]}; they must be the same size")
        if shape is None:
            raise VidsynthError(f"cannot tell the frame size of {list(paths.values())[0]}: the data needs images/")
        if aug is None:
            aug = Augment.draw(shape, self.cfg, rng)
        out = {}
        if img is not None:
            out["images"] = image_to_tensor(aug.image(img))
        size = (aug.ch, aug.cw)
        parts = []
        t = self.cfg.label_type
        if t == "seg_maps":
            inst = aug.image(raw["instance_maps"], nearest=True) if self.cfg.instance_maps else None
            parts.append(self.encoder.seg(aug.image(raw["seg_maps"], nearest=True), inst))
            if inst is not None:
                out["instance_ids"] = torch.from_numpy(inst.astype(np.int64))[None]
        elif t == "poses-openpose":
            kp = {k: aug.points(v, shape) for k, v in raw[t].items()}
            parts.append(self.encoder.pose(kp, size))
        elif t == "landmarks-dlib68":
            parts.append(self.encoder.face(aug.points(raw[t], shape), size))
        for f in self.cfg.extra_labels:
            extra = aug.image(raw[f].astype(np.float32), nearest=True)
            parts.append(torch.from_numpy(extra / max(float(extra.max()), 1.0)).float()[None])
        if parts:
            out["label"] = torch.cat(parts, 0)
        if "flow" in paths:
            out["flow"] = torch.from_numpy(aug.flow(read_flow(paths["flow"]))).permute(2, 0, 1)
        if "unprojections" in paths:
            # the entry at the size the frame is scaled to (before the crop) needs no resampling
            points = read_point_map(paths["unprojections"], [(aug.h, aug.w), shape])
            out["points"] = torch.from_numpy(aug.image(points, nearest=True))
        return out, aug


class PairedImages(_FolderDataset):
    """Label map → image pairs (pix2pixHD, SPADE): ``images/`` with ``seg_maps/`` (+ ``instance_maps/``,
    extra label folders) or keypoint folders. Sequence sub-folders are read as plain frames."""

    def __init__(self, root: str, cfg: DataConfig, seed: int = 0, train: bool = True):
        super().__init__(root, cfg, seed, train)
        groups = pair_folders(root, ["images"] + self.label_folders, sequences=False)
        self.items = [{f: ps[i] for f, ps in paths.items()} for _, stems, paths in groups for i in range(len(stems))]
        if not self.items:
            raise VidsynthError(f"no training frames found under {root}/images")

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        out, _ = self.load_frame(self.items[index], None, self.rng(index))
        return out


class UnpairedImages(_FolderDataset):
    """Two unpaired domains (UNIT, MUNIT): ``images_a/`` and ``images_b/``. Example i pairs a's i-th image
    with a b image drawn by the example's generator, so epochs differ but stay repeatable."""

    def __init__(self, root: str, cfg: DataConfig, seed: int = 0, train: bool = True):
        super().__init__(root, cfg, seed, train)
        self.a = [p for s in scan(root, "images_a", False).values() for p in s.values()]
        self.b = [p for s in scan(root, "images_b", False).values() for p in s.values()]

    def __len__(self):
        return max(len(self.a), len(self.b))

    def __getitem__(self, index: int) -> dict:
        rng = self.rng(index)
        pa = self.a[index % len(self.a)]
        pb = self.b[int(rng.integers(len(self.b))) if rng is not None else index % len(self.b)]
        out = {}
        for key, p, r in (("images_a", pa, rng), ("images_b", pb, rng)):
            img = read_image(p)
            out[key] = image_to_tensor(Augment.draw(img.shape[:2], self.cfg, r).image(img))
        return out


class FewShotImages(_FolderDataset):
    """Class-conditional few-shot translation (FUNIT, COCO-FUNIT): ``images_content/<class>/`` (and
    ``images_style/<class>/`` when present, else the same folders). An example is a content image with
    its class id and ``num_references`` style images of another class."""

    def __init__(self, root: str, cfg: DataConfig, seed: int = 0, train: bool = True):
        super().__init__(root, cfg, seed, train)
        content = scan(root, "images_content", True)
        style_dir = os.path.join(root, "images_style")
        if os.path.isdir(os.path.join(style_dir, "images_content")):
            style = scan(style_dir, "images_content", True)  # imaginaire nests the style classes one level deeper
        elif os.path.isdir(style_dir):
            style = scan(root, "images_style", True)
        else:
            style = content
        self.classes = sorted(content)
        if len(self.classes) < 2:
            raise VidsynthError(f"few-shot data needs at least 2 class folders under {root}/images_content; "
                                f"found {len(self.classes)}")
        self.content = [(ci, p) for ci, c in enumerate(self.classes) for p in content[c].values()]
        self.style = {ci: list(style.get(c, content[c]).values()) for ci, c in enumerate(self.classes)}

    def __len__(self):
        return len(self.content)

    def _img(self, path, rng):
        img = read_image(path)
        return image_to_tensor(Augment.draw(img.shape[:2], self.cfg, rng).image(img))

    def __getitem__(self, index: int) -> dict:
        rng = self.rng(index) or np.random.default_rng([self.seed, index])
        ci, path = self.content[index]
        others = [c for c in range(len(self.classes)) if c != ci]
        si = others[int(rng.integers(len(others)))]
        styles = [self._img(self.style[si][int(rng.integers(len(self.style[si])))], rng)
                  for _ in range(max(1, self.cfg.num_references))]
        return {"images_content": self._img(path, rng), "labels_content": torch.tensor(ci),
                "images_style": torch.stack(styles) if len(styles) > 1 else styles[0], "labels_style": torch.tensor(si)}


class PairedVideos(_FolderDataset):
    """Sequences of conditioning + frames (vid2vid, wc-vid2vid): one sub-folder per sequence in every
    data folder. An example is ``num_frames`` consecutive frames (the trainer raises it during
    progressive training up to ``data.sequence_length``), augmented identically.

    ``with_unprojections`` (wc-vid2vid): when the root has ``unprojections/``, examples also hold
    ``points`` (T, H, W): each pixel's 3D point, numbered 0..n-1 within the example, -1 where none."""

    sequences = True

    def __init__(self, root: str, cfg: DataConfig, seed: int = 0, train: bool = True, with_flow: bool | None = None,
                 with_unprojections: bool = False):
        super().__init__(root, cfg, seed, train)
        folders = ["images"] + self.label_folders
        if with_unprojections and os.path.isdir(os.path.join(root, "unprojections")):
            folders.append("unprojections")
        # ground-truth flow: 'flow/' (exact, e.g. the synthetic worlds) or 'flow-dis/' (`vidsynth extract`'s)
        flow_dir = next((f for f in ("flow", "flow-dis") if os.path.isdir(os.path.join(root, f))), None)
        if with_flow is not False and flow_dir:
            folders.append(flow_dir)
        self.seqs = pair_folders(root, folders, sequences=True)
        if flow_dir and flow_dir in folders:
            for _, _, paths in self.seqs:
                paths["flow"] = paths.pop(flow_dir)
        self.num_frames = cfg.sequence_length
        self.max_frames = cfg.sequence_length
        self.windows = [(si, start) for si, (_, stems, _) in enumerate(self.seqs)
                        for start in range(0, len(stems) - self.max_frames + 1)]
        if not self.windows:
            longest = max(len(s) for _, s, _ in self.seqs)
            raise VidsynthError(f"no sequence under {root}/images has {self.max_frames} frames (the longest has "
                                f"{longest}); lower data.sequence_length or add longer sequences")

    def __len__(self):
        return len(self.windows)

    def frames(self, si: int, indices: list[int], rng) -> dict:
        _, _, paths = self.seqs[si]
        aug = None
        frames = []
        for i in indices:
            item, aug = self.load_frame({f: ps[i] for f, ps in paths.items()}, aug, rng)
            frames.append(item)
        out = {k: torch.stack([f[k] for f in frames]) for k in frames[0]}
        if "points" in out:
            out["points"] = compact_point_ids(out["points"])
        return out

    def __getitem__(self, index: int) -> dict:
        si, start = self.windows[index]
        return self.frames(si, list(range(start, start + self.num_frames)), self.rng(index))


class FewShotVideos(PairedVideos):
    """fs-vid2vid: a driving window of a sequence plus ``num_references`` reference frames of the same
    sequence (its subject's appearance), as ``ref_label``/``ref_images`` (K, C, H, W)."""

    def __getitem__(self, index: int) -> dict:
        si, start = self.windows[index]
        rng = self.rng(index) or np.random.default_rng([self.seed, index])
        n = len(self.seqs[si][1])
        refs = sorted(int(i) for i in rng.integers(0, n, size=max(1, self.cfg.num_references)))
        data = self.frames(si, refs + list(range(start, start + self.num_frames)), rng)
        k = len(refs)
        out = {key: v[k:] for key, v in data.items()}
        out["ref_images"] = data["images"][:k]
        if "label" in data:
            out["ref_label"] = data["label"][:k]
        return out


DATASETS = {
    "paired_images": PairedImages,
    "unpaired_images": UnpairedImages,
    "few_shot_images": FewShotImages,
    "paired_videos": PairedVideos,
    "few_shot_videos": FewShotVideos,
}


def build_dataset(root: str, cfg: DataConfig, seed: int = 0, train: bool = True, **options) -> Dataset:
    """The dataset ``cfg.type`` names, read from ``root`` (or ``root/train`` when the data types live there,
    as in imaginaire's train/val split). ``options`` go to its constructor (``with_unprojections``)."""
    split = os.path.join(root, "train" if train else "val")
    if os.path.isdir(split) and not any(os.path.isdir(os.path.join(root, d)) for d in
                                        ("images", "images_a", "images_content")):
        root = split
    if cfg.type not in DATASETS:
        raise VidsynthError(f"data.type must be one of {', '.join(DATASETS)}; found {cfg.type!r}")
    if cfg.label_type not in LABEL_FOLDERS + ("none",):
        raise VidsynthError(f"data.label_type must be one of {', '.join(LABEL_FOLDERS + ('none',))}; found {cfg.label_type!r}")
    return DATASETS[cfg.type](root, cfg, seed=seed, train=train, **options)
