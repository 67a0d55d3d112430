"""Depth inputs: a folder of 16-bit PNGs, a folder of NPY/EXR maps, or a lossless 16-bit video.

Depth is returned as H×W float32 metres (z-depth, 0 = no surface). Stored integers become metres by
a stated ``scale`` (metres per unit: 0.001 for millimetre PNGs, as Kinect/RealSense write them);
16-bit sources have no default scale because a wrong guess silently breaks the geometry. NPY/EXR
maps hold floats already in metres unless a scale is given.

A lossless depth video is FFV1 with the gray16le pixel format (mkv/avi); :func:`write_depth_video`
writes one. Lossy video cannot carry depth (it blurs edges and quantises to 8 bits), so 8-bit inputs
are refused.

>>> import numpy as np, tempfile, os
>>> d = tempfile.mkdtemp()
>>> np.save(os.path.join(d, "000.npy"), np.full((4, 6), 2.5, np.float32))
>>> reader = DepthReader(d)
>>> len(reader), reader[0].shape, float(reader[0][0, 0])
(1, (4, 6), 2.5)
"""

from __future__ import annotations

import os
from typing import Iterator

import numpy as np

from vidsynth.errors import VidsynthError, require

_IMAGE_EXT = (".png",)
_FLOAT_EXT = (".npy", ".exr")
_VIDEO_EXT = (".mkv", ".avi", ".mov", ".nut")


def check_depth(depth: np.ndarray, where: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """One depth map as H×W float32 metres, or :class:`VidsynthError` (wrong shape, all zeros, negative, NaN)."""
    d = np.asarray(depth)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[..., 0]
    if d.ndim != 2:
        raise VidsynthError(f"{where}: expected a single-channel H×W depth map, found shape {d.shape}; "
                            "store depth as one channel (16-bit PNG, NPY or EXR)")
    if size is not None and (d.shape[1], d.shape[0]) != (size[0], size[1]):
        raise VidsynthError(f"{where}: expected {size[0]}x{size[1]} (width x height) like the other frames, found "
                            f"{d.shape[1]}x{d.shape[0]}; give every depth map the same size")
    d = d.astype(np.float32)
    finite = np.isfinite(d)
    if (d[finite] < 0).any():
        raise VidsynthError(f"{where}: expected depths >= 0 metres, found a minimum of {float(d[finite].min()):.4g}; "
                            "this is not a metric depth map (disparity or inverse depth?)")
    d[~finite] = 0.0  # inf/NaN mean "no measurement", like 0
    if not (d > 0).any():
        raise VidsynthError(f"{where}: expected a depth map with some surface, found all zeros; the file is empty "
                            "or the wrong channel/scale was written")
    return d


class DepthReader:
    """Depth maps from a folder (16-bit PNG, NPY, EXR) or a lossless 16-bit video, in frame order.

    ``scale`` = metres per stored unit (required for 16-bit PNG and video). ``expected_count``
    checks there is one map per frame. Maps are checked as they are read (:func:`check_depth`).
    """

    def __init__(self, path: str, scale: float | None = None, expected_count: int | None = None):
        self.path = path
        self.scale = scale
        if scale is not None and not (np.isfinite(scale) and scale > 0):
            raise VidsynthError(f"depth {path}: expected a scale > 0 (metres per unit), found {scale}")
        if os.path.isdir(path):
            names = sorted(os.listdir(path))
            files = [n for n in names if n.lower().endswith(_IMAGE_EXT + _FLOAT_EXT)]
            if not files:
                raise VidsynthError(f"depth folder {path}: expected .png (16-bit), .npy or .exr files, found "
                                    f"{len(names)} other entries; point --depth at the depth maps")
            kinds = {os.path.splitext(n)[1].lower() for n in files}
            if len(kinds) > 1:
                raise VidsynthError(f"depth folder {path}: expected one kind of file, found {sorted(kinds)}; "
                                    "keep one format per folder")
            self.kind = kinds.pop()
            self.files = [os.path.join(path, n) for n in files]
            if self.kind == ".png" and scale is None:
                raise VidsynthError(f"depth folder {path}: 16-bit PNGs need a stated scale (metres per unit), found "
                                    "none; pass --depth-scale 0.001 for millimetres")
            self._count = len(self.files)
        elif os.path.isfile(path) and path.lower().endswith(_VIDEO_EXT):
            if scale is None:
                raise VidsynthError(f"depth video {path}: expected a stated scale (metres per unit), found none; "
                                    "pass --depth-scale 0.001 for millimetres")
            self.kind = "video"
            self.files = [path]
            self._count = self._video_count()
        else:
            raise VidsynthError(f"depth: expected a folder of depth maps or a lossless video ({', '.join(_VIDEO_EXT)}), "
                                f"found {path!r}; check the path")
        if expected_count is not None and self._count != expected_count:
            raise VidsynthError(f"depth {path}: expected {expected_count} depth maps (one per frame), found "
                                f"{self._count}; give one per frame or trim the input")
        self._size: tuple[int, int] | None = None
        self._video_cache: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return self._count

    def _checked(self, raw: np.ndarray, where: str) -> np.ndarray:
        d = check_depth(raw, where, self._size)
        if self._size is None:
            self._size = (d.shape[1], d.shape[0])
        return d

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < self._count:
            raise IndexError(i)
        if self.kind == "video":
            if self._video_cache is None:
                self._video_cache = list(self._decode_video())
            return self._checked(self._video_cache[i], f"depth video {self.path} frame {i}")
        f = self.files[i]
        return self._checked(self._read_file(f), f"depth map {f}")

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.kind == "video":
            for i, raw in enumerate(self._decode_video()):
                yield self._checked(raw, f"depth video {self.path} frame {i}")
            return
        for i in range(self._count):
            yield self[i]

    def _read_file(self, f: str) -> np.ndarray:
        if self.kind == ".npy":
            try:
                d = np.load(f, allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise VidsynthError(f"depth map {f}: expected a NumPy array file, found unreadable data ({exc})") from None
            return d.astype(np.float32) * np.float32(self.scale or 1.0)
        cv2 = require("cv2", "reading depth images")
        if self.kind == ".exr":
            os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
        d = cv2.imread(f, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
        if d is None:
            raise VidsynthError(f"depth map {f}: expected a readable image, found a corrupt or unsupported file"
                                + ("; OpenEXR needs OPENCV_IO_ENABLE_OPENEXR=1 set before start" if self.kind == ".exr" else ""))
        if self.kind == ".png":
            if d.dtype != np.uint16:
                raise VidsynthError(f"depth map {f}: expected a 16-bit PNG, found {d.dtype} "
                                    f"({'8-bit' if d.dtype == np.uint8 else 'other'}); 8 bits cannot hold metric depth: "
                                    "write 16-bit PNGs (e.g. millimetres)")
            return d.astype(np.float32) * np.float32(self.scale)
        return d.astype(np.float32) * np.float32(self.scale or 1.0)

    def _open_video(self):
        av = require("av", "reading depth videos")
        try:
            return av.open(self.path)
        except Exception as exc:  # PyAV raises several error types for unreadable files
            raise VidsynthError(f"depth video {self.path}: expected a readable lossless video, found an error ({exc})") from None

    def _video_count(self) -> int:
        with self._open_video() as c:
            stream = c.streams.video[0]
            fmt = stream.codec_context.pix_fmt or ""
            if "16" not in fmt:
                raise VidsynthError(f"depth video {self.path}: expected 16-bit gray (FFV1 gray16le), found pixel format "
                                    f"{fmt!r}; lossy or 8-bit video cannot carry depth: write it with write_depth_video")
            return sum(1 for _ in c.decode(stream))

    def _decode_video(self) -> Iterator[np.ndarray]:
        with self._open_video() as c:
            for frame in c.decode(c.streams.video[0]):
                arr = frame.to_ndarray(format="gray16le")
                yield arr.astype(np.float32) * np.float32(self.scale)


def write_depth_png_folder(folder: str, depths, scale: float = 0.001) -> None:
    """Write depth maps (metres) as 16-bit PNGs of ``round(depth / scale)`` (clipped to 65535)."""
    cv2 = require("cv2", "writing depth images")
    os.makedirs(folder, exist_ok=True)
    for i, d in enumerate(depths):
        q = np.clip(np.round(np.asarray(d, np.float64) / scale), 0, 65535).astype(np.uint16)
        cv2.imwrite(os.path.join(folder, f"{i:06d}.png"), q)


def write_depth_video(path: str, depths, scale: float = 0.001, rate: int = 30) -> None:
    """Write depth maps (metres) as a lossless FFV1 gray16le video of ``round(depth / scale)``."""
    av = require("av", "writing depth videos")
    depths = list(depths)
    H, W = np.asarray(depths[0]).shape
    with av.open(path, "w") as c:
        s = c.add_stream("ffv1", rate=rate)
        s.width, s.height, s.pix_fmt = W, H, "gray16le"
        for d in depths:
            q = np.clip(np.round(np.asarray(d, np.float64) / scale), 0, 65535).astype(np.uint16)
            for packet in s.encode(av.VideoFrame.from_ndarray(q, format="gray16le")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
