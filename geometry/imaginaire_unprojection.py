"""imaginaire's precomputed unprojection files (pixel → SfM point id) and guidance rendered from them.

(Projecting depth maps and points with a camera is :mod:`vidsynth.geometry.projection`.)

One ``.pkl`` per frame holds a dict keyed by resolution (``"w1024xh512"``, ``"w512xh256"``, ...), each
value a flat list ``[i0, j0, p0, i1, j1, p1, ...]``: row i and column j of a pixel at that resolution
and the id p of the 3D point seen there (each point at most once per frame). These are read with a
restricted unpickler that only builds dicts, lists, strings and numbers, so a file cannot run code.

:class:`UnprojectionGuidance` keeps a colour per point id with the same rule as the online world:
the first colour a point gets sticks. ``guidance(mapping, H, W)`` → [1,4,H,W] (RGB in [-1,1], -1 where
unseen; mask {0,1}); ``update(image, mapping)`` colours the points not coloured yet.

>>> g = UnprojectionGuidance()
>>> m = np.array([[0, 0, 7], [1, 2, 9]])
>>> float(g.guidance(m, 2, 3)[0, 3].sum())
0.0
>>> g.update(np.full((2, 3, 3), 255, np.uint8), m)
2
>>> float(g.guidance(m, 2, 3)[0, 3].sum())
2.0
"""

from __future__ import annotations

import io
import os
import pickle
import re

import numpy as np
import torch

from vidsynth.errors import VidsynthError

from .guidance import to_guidance

_RES = re.compile(r"^w(\d+)xh(\d+)$")


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):  # no classes, no functions: plain containers only
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


def read_unprojection(path: str) -> dict[str, np.ndarray]:
    """One frame's file → {resolution key: int64 [n,3] array of (row, column, point id)}."""
    try:
        with open(path, "rb") as fh:
            data = _SafeUnpickler(io.BytesIO(fh.read())).load()
    except FileNotFoundError:
        raise VidsynthError(f"unprojection file: expected {path!r}, found none; check the path") from None
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise VidsynthError(f"unprojection file {path}: expected a pickled dict of int lists (imaginaire's format), "
                            f"found unreadable data ({exc})") from None
    if not isinstance(data, dict):
        raise VidsynthError(f"unprojection file {path}: expected a dict keyed by resolution, found {type(data).__name__}")
    out = {}
    for key, flat in data.items():
        m = _RES.match(str(key))
        arr = np.asarray(flat, dtype=np.int64)
        if m is None or arr.ndim != 1 or arr.size % 3:
            raise VidsynthError(f"unprojection file {path}: expected keys like 'w1024xh512' holding flat "
                                f"[i, j, point, ...] lists, found {key!r} with {arr.size} values")
        arr = arr.reshape(-1, 3)
        W, H = int(m.group(1)), int(m.group(2))
        if arr.size and (arr[:, 0].min() < 0 or arr[:, 0].max() >= H or arr[:, 1].min() < 0 or arr[:, 1].max() >= W
                         or arr[:, 2].min() < 0):
            raise VidsynthError(f"unprojection file {path}: expected pixels inside {W}x{H} and point ids >= 0 for "
                                f"{key}, found rows {arr[:, 0].min()}..{arr[:, 0].max()}, columns "
                                f"{arr[:, 1].min()}..{arr[:, 1].max()}")
        out[str(key)] = arr
    return out


def read_unprojection_folder(folder: str, expected_count: int | None = None) -> list[dict[str, np.ndarray]]:
    """All frames of a sequence folder (``*.pkl`` in name order)."""
    if not os.path.isdir(folder):
        raise VidsynthError(f"unprojections: expected a folder of .pkl files at {folder!r}, found none")
    files = sorted(f for f in os.listdir(folder) if f.endswith(".pkl"))
    if expected_count is not None and len(files) != expected_count:
        raise VidsynthError(f"unprojections {folder}: expected {expected_count} .pkl files (one per frame), found "
                            f"{len(files)}; give one per frame")
    return [read_unprojection(os.path.join(folder, f)) for f in files]


def resolution_of(key: str) -> tuple[int, int]:
    """'w1024xh512' → (height, width)."""
    m = _RES.match(key)
    if m is None:
        raise VidsynthError(f"unprojection: expected a resolution key like 'w1024xh512', found {key!r}")
    return int(m.group(2)), int(m.group(1))


class UnprojectionGuidance:
    """Guidance from point-id maps with first-colour-sticks colours per point id (imaginaire's rule).

    A mapping is an int [n,3] array of (row, column, point id), or a frame's whole dict of them keyed by
    resolution (the entry for the requested size is used).
    """

    def __init__(self, capacity: int = 1 << 16):
        self.colours = torch.zeros(capacity, 3, dtype=torch.uint8)
        self.seen = torch.zeros(capacity, dtype=torch.bool)

    def reset(self) -> None:
        self.colours.zero_()
        self.seen.zero_()

    @property
    def num_points(self) -> int:
        """How many points have a colour."""
        return int(self.seen.sum())

    def _ensure(self, max_id: int) -> None:
        if max_id >= self.colours.shape[0]:
            n = max(max_id + 1, 2 * self.colours.shape[0])
            self.colours = torch.cat([self.colours, torch.zeros(n - self.colours.shape[0], 3, dtype=torch.uint8)])
            self.seen = torch.cat([self.seen, torch.zeros(n - self.seen.shape[0], dtype=torch.bool)])

    @staticmethod
    def _select(mapping, height: int, width: int) -> torch.Tensor:
        if isinstance(mapping, dict):
            key = f"w{width}xh{height}"
            if key not in mapping:
                raise VidsynthError(f"unprojection: expected an entry {key!r} for a {width}x{height} frame, found "
                                    f"{sorted(mapping)}; render at one of those sizes")
            mapping = mapping[key]
        return torch.as_tensor(np.asarray(mapping), dtype=torch.int64).reshape(-1, 3)

    def guidance(self, mapping, height: int, width: int) -> torch.Tensor:
        """[1,4,H,W] guidance: each mapped pixel shows its point's colour if the point has one."""
        m = self._select(mapping, height, width)
        if m.numel():
            self._ensure(int(m[:, 2].max()))
        index = torch.full((height * width,), -1, dtype=torch.int64)
        known = self.seen[m[:, 2]] if m.numel() else torch.zeros(0, dtype=torch.bool)
        mk = m[known]
        index[mk[:, 0] * width + mk[:, 1]] = mk[:, 2]
        return to_guidance(index, self.colours, height, width)

    def update(self, image, mapping) -> int:
        """Colour the points of ``mapping`` that have no colour yet from ``image`` at the mapping's size:
        H×W×3 uint8, or a generated [1,3,H,W] tensor in [-1, 1] (converted to uint8 by truncation, as
        imaginaire does, so its own test data gives its own guidance). Returns how many points took a colour."""
        if isinstance(image, torch.Tensor) and image.dim() == 4:
            image = ((image[0].detach().permute(1, 2, 0).float().cpu() + 1) / 2.0 * 255.0).clamp(0, 255)
            image = image.to(torch.uint8)
        img = torch.as_tensor(np.asarray(image))
        if img.dtype != torch.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise VidsynthError(f"unprojection guidance: expected an H×W×3 uint8 image, found {img.dtype} {tuple(img.shape)}")
        m = self._select(mapping, img.shape[0], img.shape[1])
        if m.numel() == 0:
            return 0
        if int(m[:, 0].max()) >= img.shape[0] or int(m[:, 1].max()) >= img.shape[1]:
            raise VidsynthError(f"unprojection guidance: expected an image at the mapping's resolution, found "
                                f"{img.shape[1]}x{img.shape[0]}; resize the generated frame to it")
        self._ensure(int(m[:, 2].max()))
        new = m[~self.seen[m[:, 2]]]
        if new.shape[0]:  # a point several pixels see takes the colour of its first entry
            _, slot = torch.unique(new[:, 2], return_inverse=True)
            first = torch.full((int(slot.max()) + 1,), new.shape[0], dtype=torch.int64)
            new = new[first.scatter_reduce_(0, slot, torch.arange(new.shape[0]), reduce="amin")]
        self.colours[new[:, 2]] = img[new[:, 0], new[:, 1]]
        self.seen[new[:, 2]] = True
        return int(new.shape[0])
