"""Label maps from label videos or PNGs: decoded by id or by colour palette, then optionally remapped.

Palettes are JSON files::

    {"name": "mine", "num_classes": 3, "ignore_id": 255,
     "classes": [{"id": 0, "name": "road", "color": [128, 64, 128]}, ...],
     "remap": {"7": 0, "8": 1}}            # optional: id -> id after decoding

or simply a JSON list of ``[r, g, b]`` (the id is the position). ``cityscapes`` (35 ids, imaginaire's
layout) and ``cocostuff`` (COCO-Stuff 182 + 1) are built in (``vidsynth/engine/data``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidsynth.errors import VidsynthError
from vidsynth.streams.frame import Frame

from ..stage import Stage

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
BUILTIN_PALETTES = ("cityscapes", "cocostuff")


@dataclass
class Palette:
    """Colours (N×3 uint8, row = id), names, the ignore id, and an optional id remapping."""

    colors: np.ndarray
    names: list[str] = field(default_factory=list)
    ignore_id: int = 255
    remap: dict[int, int] = field(default_factory=dict)
    name: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.colors)


def _palette_error(source, what: str) -> VidsynthError:
    return VidsynthError(
        f"palette {source}: {what}; expected JSON like "
        '{"classes": [{"id": 0, "name": "road", "color": [128, 64, 128]}, ...]} or a list of [r, g, b]'
    )


def parse_palette(data, source: str = "<palette>") -> Palette:
    """Build a :class:`Palette` from parsed JSON (see the module docstring for the format)."""
    names: list[str] = []
    remap: dict[int, int] = {}
    ignore_id = 255
    name = source
    if isinstance(data, list):
        entries = [{"id": i, "color": c} for i, c in enumerate(data)]
    elif isinstance(data, dict) and isinstance(data.get("classes"), list):
        entries = data["classes"]
        ignore_id = data.get("ignore_id", 255)
        name = data.get("name", source)
        try:
            remap = {int(k): int(v) for k, v in (data.get("remap") or {}).items()}
        except (TypeError, ValueError, AttributeError):
            raise _palette_error(source, "'remap' must map ids to ids, e.g. {\"7\": 0}") from None
    else:
        raise _palette_error(source, f"found {type(data).__name__} without a 'classes' list")
    if not entries:
        raise _palette_error(source, "it has no classes")
    try:
        ids = [int(e["id"]) for e in entries]
        colors = [[int(v) for v in e["color"]] for e in entries]
    except (KeyError, TypeError, ValueError):
        raise _palette_error(source, "every class needs an integer 'id' and a 'color' [r, g, b]") from None
    if any(len(c) != 3 or min(c) < 0 or max(c) > 255 for c in colors):
        raise _palette_error(source, "colours must be three integers 0..255")
    if min(ids) < 0 or len(set(ids)) != len(ids):
        raise _palette_error(source, "ids must be distinct and non-negative")
    table = np.zeros((max(ids) + 1, 3), np.uint8)
    names = [""] * len(table)
    for e, i, c in zip(entries, ids, colors):
        table[i] = c
        names[i] = str(e.get("name", i)) if isinstance(e, dict) else str(i)
    return Palette(colors=table, names=names, ignore_id=int(ignore_id), remap=remap, name=name)


def load_palette(palette: str | Path) -> Palette:
    """A built-in palette by name (``cityscapes``, ``cocostuff``) or a JSON file's."""
    text_name = str(palette)
    path = DATA_DIR / f"{text_name}.json" if text_name in BUILTIN_PALETTES else Path(text_name)
    if not path.is_file():
        raise VidsynthError(f"palette '{palette}' is neither a built-in ({', '.join(BUILTIN_PALETTES)}) "
                            f"nor an existing JSON file; pass one of those")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _palette_error(path, f"it does not parse as JSON ({exc})") from None
    return parse_palette(data, str(path))


def load_remap(remap) -> dict[int, int]:
    """An id remapping from a dict or a JSON file ``{"src": dst, ...}``."""
    if remap is None:
        return {}
    if isinstance(remap, dict):
        return {int(k): int(v) for k, v in remap.items()}
    path = Path(remap)
    try:
        data = json.loads(path.read_text())
        return {int(k): int(v) for k, v in data.items()}
    except FileNotFoundError:
        raise VidsynthError(f"remap file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError, ValueError) as exc:
        raise VidsynthError(f"remap file {path} must be a JSON object of id -> id, e.g. {{\"7\": 0}} ({exc})") from None


def apply_remap(labels: np.ndarray, remap: dict[int, int]) -> np.ndarray:
    """Replace ids through ``remap``; ids not in it stay as they are.

    >>> apply_remap(np.array([[7, 8, 9]]), {7: 0, 8: 1}).tolist()
    [[0, 1, 9]]
    """
    if not remap:
        return labels
    size = max(int(labels.max()) + 1, max(remap) + 1)
    lut = np.arange(size, dtype=np.int64)
    for k, v in remap.items():
        lut[k] = v
    return lut[labels]


def decode_label_ids(image: np.ndarray) -> np.ndarray:
    """An id-coded label picture (H×W, or H×W×C with equal channels) -> H×W int32 ids."""
    a = np.asarray(image)
    if a.ndim == 3:
        if not (a == a[:, :, :1]).all():
            raise VidsynthError("an id-coded label map must have equal channels (grey); this one is in colour: "
                                "decode it by palette (mode 'color') instead")
        a = a[:, :, 0]
    if a.ndim != 2:
        raise VidsynthError(f"a label map must be H×W (or H×W×3 grey), found shape {a.shape}")
    return a.astype(np.int32)


def decode_label_colors(image: np.ndarray, palette: Palette, tolerance: int = 0) -> np.ndarray:
    """An H×W×3 RGB label picture -> H×W int32 ids by palette colour.

    A colour shared by several ids decodes to the smallest. With ``tolerance > 0`` a pixel takes the
    nearest palette colour within that per-channel distance (for slightly lossy video); any other
    colour is an error naming it.
    """
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] < 3:
        raise VidsynthError(f"colour decoding needs an H×W×3 RGB label picture, found shape {a.shape}")
    rgb = a[:, :, :3].astype(np.int64)
    keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    pal = palette.colors.astype(np.int64)
    pal_keys = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
    # first id per colour: sort stably by key, keep the first of each run
    order = np.argsort(pal_keys, kind="stable")
    sorted_keys, first = np.unique(pal_keys[order], return_index=True)
    ids_for_key = order[first]
    pos = np.clip(np.searchsorted(sorted_keys, keys), 0, len(sorted_keys) - 1)
    found = sorted_keys[pos] == keys
    out = ids_for_key[pos].astype(np.int32)
    if not found.all():
        missing = ~found
        if tolerance > 0:
            colours = rgb[missing]
            uniq = sorted_keys
            ucol = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], 1)
            dist = np.abs(colours[:, None, :] - ucol[None]).max(2)
            nearest = dist.argmin(1)
            ok = dist[np.arange(len(nearest)), nearest] <= tolerance
            fixed = ids_for_key[nearest]
            out[missing] = fixed
            if ok.all():
                return out
            bad = colours[~ok][0]
        else:
            bad = rgb[missing][0]
        count = int(missing.sum())
        raise VidsynthError(
            f"label colour {tuple(int(v) for v in bad)} is not in palette '{palette.name}' ({count} pixels do not "
            f"match); use the palette the labels were made with, a lossless label video (PNG/FFV1), or a tolerance"
        )
    return out


@dataclass
class LabelDecoderConfig:
    palette: str = "cityscapes"        # built-in name or JSON path (colours, names, optional remap)
    mode: str = "id"                   # 'id': pixel values are ids; 'color': look colours up in the palette
    remap: dict | str | None = None    # extra id -> id table (dict or JSON path), applied after the palette's
    tolerance: int = 0                 # colour mode: accept colours this close to a palette colour
    source: str | None = None          # condition holding the label picture; None: the frame's image
    key: str = "labels"

    def __post_init__(self):
        if self.mode not in ("id", "color"):
            raise VidsynthError(f"label decoding mode is 'id' or 'color', found '{self.mode}'")


class LabelDecoder(Stage):
    """Writes ``frame.conditions['labels']``: H×W int32 ids decoded from the frame (a label video/PNG).

    >>> stage = LabelDecoder(mode="color", palette="cityscapes")  # doctest: +SKIP
    """

    def __init__(self, config: LabelDecoderConfig | None = None, **overrides):
        self.config = config or LabelDecoderConfig(**overrides)
        self.palette = load_palette(self.config.palette)
        self.remap = dict(self.palette.remap)
        self.remap.update(load_remap(self.config.remap))
        self.counters: dict[str, int] = {"out_of_palette_pixels": 0}
        self._warned = False

    def decode(self, picture: np.ndarray) -> np.ndarray:
        if self.config.mode == "id":
            ids = decode_label_ids(picture)
        else:
            ids = decode_label_colors(picture, self.palette, self.config.tolerance)
        return apply_remap(ids, self.remap).astype(np.int32)

    def _check_ids(self, ids: np.ndarray, index: int) -> None:
        """Count pixels whose id the palette does not have (drawn black, read as no class); warn once."""
        outside = ((ids >= self.palette.num_classes) & (ids != self.palette.ignore_id)) | (ids < 0)
        n = int(np.count_nonzero(outside))
        if not n:
            return
        self.counters["out_of_palette_pixels"] += n
        if self._warned:
            return
        self._warned = True
        found, counts = np.unique(ids[outside], return_counts=True)
        listed = ", ".join(f"{int(i)} ({int(c)} pixels)" for i, c in list(zip(found, counts))[:10])
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        log.warning("frame %d has label ids outside the palette '%s' (ids 0-%d, ignore id %d): %s%s; they are drawn "
                    "black and read as no class. Use the palette the labels were made with (--palette) or map them "
                    "(--remap FROM:TO); the run's metrics count every such pixel", index, self.palette.name,
                    self.palette.num_classes - 1, self.palette.ignore_id, listed, more)

    def process(self, frame: Frame) -> Frame:
        c = self.config
        picture = frame.image if c.source is None else frame.conditions.get(c.source)
        if picture is None:
            raise VidsynthError(f"{self.name} found no label picture in frame {frame.index} "
                                f"({'image' if c.source is None else repr(c.source)} is missing)")
        frame.conditions[c.key] = self.decode(picture)
        self._check_ids(frame.conditions[c.key], frame.index)
        return frame
