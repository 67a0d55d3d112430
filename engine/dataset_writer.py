"""Write one sequence of frames and their conditions as a training folder in imaginaire's raw layout.

For a sequence ``<seq>`` under ``root``: files are named as the source named its frames (an image
folder's ``IMG_0042.jpg`` gives ``IMG_0042.*`` in every folder), else by frame index (``%06d``)::

    images/<seq>/000000.jpg              the frame (JPEG, quality configurable)
    poses-openpose/<seq>/000000.json     conditions['pose'] as OpenPose JSON (BODY_25 + face 70 + hands)
    landmarks-dlib68/<seq>/000000.json   conditions['face'] as a list of 68 [x, y] ([] when no face)
    person_masks/<seq>/000000.png        conditions['person_mask'], 8-bit 0/255 PNG (ours: imaginaire's
                                         human_instance_maps hold instance ids, not a mask)
    seg_maps/<seq>/000000.png            conditions['labels'], ids as 8- or 16-bit PNG (lossless)
    flow-dis/<seq>/000000.npy            conditions['flow'], float16 H×W×2 (half the bytes of float32; a
                                         hundredth of a pixel at 20 px), from this frame to the previous;
                                         written only when flow is asked for (``--what flow``)

Keypoints are written with full float32 precision, so reading them back (:mod:`vidsynth.engine.sidecars`)
gives bit-identical network inputs to extracting on the fly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidsynth.errors import VidsynthError, require
from vidsynth.streams.frame import Frame

from .stage import Stage
from .sidecars import write_dlib68_json, write_flow, write_openpose_json, write_png

# a file stem that stays inside its folder and reads the same on every file system
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@ -]{0,200}$")

# condition key -> (folder, extension)
FOLDERS = {
    "image": ("images", "jpg"),
    "pose": ("poses-openpose", "json"),
    "face": ("landmarks-dlib68", "json"),
    "person_mask": ("person_masks", "png"),
    "labels": ("seg_maps", "png"),
    "flow": ("flow-dis", "npy"),
}


@dataclass
class DatasetWriterConfig:
    root: str = "dataset"                          # training folder
    sequence: str = "seq0000"                      # sub-folder name of this sequence in every type folder
    what: tuple[str, ...] = field(default=("image", "pose", "face", "person_mask", "labels", "flow"))
    jpeg_quality: int = 95
    name_format: str = "{:06d}"                    # file stem from the frame index

    def __post_init__(self):
        unknown = [w for w in self.what if w not in FOLDERS]
        if unknown:
            raise VidsynthError(f"dataset writer cannot write {unknown}; choose from {', '.join(FOLDERS)}")


def dataset_path(root, kind: str, sequence: str, index: int, name_format: str = "{:06d}") -> Path:
    """Where the writer puts condition ``kind`` of frame ``index``."""
    folder, ext = FOLDERS[kind]
    return Path(root) / folder / sequence / f"{name_format.format(index)}.{ext}"


class DatasetWriter(Stage):
    """Pass-through stage that writes each frame and its conditions (those present) to the folder."""

    def __init__(self, config: DatasetWriterConfig | None = None, **overrides):
        self.config = config or DatasetWriterConfig(**overrides)
        self.written = 0

    def open(self) -> None:
        c = self.config
        for kind in c.what:
            folder = Path(c.root) / FOLDERS[kind][0] / c.sequence
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise VidsynthError(f"cannot create {folder} ({exc}); choose a writable --dataset-out") from None

    def _path(self, kind: str, frame: Frame) -> Path:
        c = self.config
        if frame.name and _SAFE_NAME.match(frame.name):  # the source's own name links back to the user's file
            folder, ext = FOLDERS[kind]
            return Path(c.root) / folder / c.sequence / f"{frame.name}.{ext}"
        return dataset_path(c.root, kind, c.sequence, frame.index, c.name_format)

    def process(self, frame: Frame) -> Frame:
        if self.written == 0:
            self.open()
        c = self.config
        for kind in c.what:
            if kind == "image":
                self._write_jpeg(self._path(kind, frame), frame.image)
                continue
            value = frame.conditions.get(kind)
            if value is None:
                continue
            path = self._path(kind, frame)
            if kind == "pose":
                write_openpose_json(path, value)
            elif kind == "face":
                write_dlib68_json(path, value)
            elif kind == "flow":
                write_flow(path, value, np.float16)
            else:
                write_png(path, np.asarray(value))
        self.written += 1
        return frame

    def _write_jpeg(self, path: Path, image) -> None:
        cv2 = require("cv2", "writing JPEG frames")
        if not isinstance(image, np.ndarray) or image.ndim != 3:
            raise VidsynthError(f"dataset writer expected an H×W×3 RGB image, found {type(image).__name__}")
        tmp = path.with_name(path.stem + ".tmp.jpg")
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(image[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, int(self.config.jpeg_quality)]):
            raise VidsynthError(f"could not write {path}; check the folder is writable")
        tmp.replace(path)
