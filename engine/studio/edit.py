"""Semantic edits of real clips: the same class remap applied to every frame, written through the offline
pipeline, each frame changed only where its labels changed (see :func:`~.canvas.edit_picture`).

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    remap_video("street.mp4", "street_labels.mkv", {26: 7}, "spade_street_128", "out/edited.mp4").run()
"""

from __future__ import annotations

import numpy as np

from vidsynth.errors import VidsynthError

from ..stage import Stage
from .canvas import DEFAULT_FEATHER, DEFAULT_RADIUS, LabelRenderer, edit_picture


class PairedLabels(Stage):
    """Puts the label map of the same frame index from a label video or folder into ``conditions['labels']``."""

    def __init__(self, labels: str, palette: str = "cityscapes", label_mode: str = "id"):
        from ..extract.labels import LabelDecoder

        self.spec = labels
        self.decoder = LabelDecoder(palette=palette, mode=label_mode)
        self._source = None
        self._frames = None
        self._next = None

    def open(self) -> None:
        from vidsynth.streams import open_source

        self._source = open_source(self.spec)
        self._source.open()
        self._frames = iter(self._source)

    def process(self, frame):
        while self._next is None or self._next.index < frame.index:
            self._next = next(self._frames, None)
            if self._next is None:
                raise VidsynthError(f"the label video {self.spec!r} ends before frame {frame.index}; give one label "
                                    "map per frame of the clip")
        ids = self.decoder.decode(self._next.image)
        if ids.shape != frame.image.shape[:2]:
            import cv2

            ids = cv2.resize(ids.astype(np.uint8), frame.image.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        frame.conditions["labels"] = ids.astype(np.int32)
        return frame

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None


class ClassRemapEdit(Stage):
    """Relabels classes (``{from: to}``) and re-renders each frame only where its labels changed."""

    threads = 2

    def __init__(self, renderer: LabelRenderer, remap: dict[int, int], seed: int = 0, radius: int = DEFAULT_RADIUS,
                 feather: int = DEFAULT_FEATHER):
        bad = [k for pair in remap.items() for k in pair if not 0 <= int(k) < renderer.num_classes]
        if bad:
            raise VidsynthError(f"class id(s) {sorted(set(bad))} are outside the model's classes 0..{renderer.num_classes - 1}")
        self.renderer, self.seed, self.radius, self.feather = renderer, seed, radius, feather
        self.lookup = np.arange(256, dtype=np.int32)
        for a, b in remap.items():
            self.lookup[int(a)] = int(b)

    def process(self, frame):
        if "labels" not in frame.conditions:
            raise VidsynthError(f"frame {frame.index} carries no label map; give the clip's label video (an id-coded "
                                "video or folder of label PNGs)")
        labels = np.asarray(frame.conditions["labels"])
        edited = self.lookup[np.clip(labels, 0, 255)]
        image, _ = edit_picture(self.renderer, np.asarray(frame.image), labels, edited, self.seed, self.radius,
                                self.feather)
        frame.image = image
        frame.conditions["labels"] = edited
        return frame


def remap_video(video: str, labels: str | None, remap: dict[int, int], model: str, output: str, seed: int = 0,
                device: str = "cpu", progress: bool = False, stop_event=None):
    """The offline pipeline that applies a class remap to every frame of ``video`` (labels from ``labels``, or
    carried by the source itself, as the synthetic street does) and writes ``output``."""
    from vidsynth.streams import open_sink, open_source

    from ..pipeline import Pipeline

    if not remap:
        raise VidsynthError("the class remap is empty; give at least one FROM:TO pair")
    renderer = LabelRenderer(model, device)
    source = open_source(video)
    stages: list[Stage] = [PairedLabels(labels)] if labels else []
    stages.append(ClassRemapEdit(renderer, remap, seed))
    return Pipeline(source, stages, open_sink(output), mode="offline", progress=progress, stop_event=stop_event,
                    seed=seed)
