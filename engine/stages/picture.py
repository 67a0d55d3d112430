"""Stages that lay out a frame's picture: scale it, keep a copy, put drawn conditions beside it."""

from __future__ import annotations

import numpy as np

from vidsynth.errors import VidsynthError
from vidsynth.streams.frame import Frame

from ..stage import Stage


class Resize(Stage):
    """Scale every frame's image to ``width``×``height`` (area filter when shrinking).

    >>> Resize(64, 48).size
    (64, 48)
    """

    def __init__(self, width: int, height: int):
        self.size = (int(width), int(height))

    def process(self, frame: Frame) -> Frame:
        import cv2

        image = frame.image
        if image.shape[1] == self.size[0] and image.shape[0] == self.size[1]:
            return frame
        shrink = image.shape[1] > self.size[0]
        resized = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return frame.with_image(resized)


class SideBySide(Stage):
    """Put the frame's image and some of its drawn conditions (``conditions[key]``, H×W×3) in one row.

    Draw stages with ``target="condition"`` leave their picture under ``<key>_map``; this stage lays
    them out left to right after the input, which is what ``vidsynth demo`` shows.

    >>> SideBySide(["pose_map", "flow_map"]).keys
    ['pose_map', 'flow_map']
    """

    def __init__(self, keys: list[str]):
        self.keys = list(keys)

    def process(self, frame: Frame) -> Frame:
        panels = [np.asarray(frame.image)]
        height, width = panels[0].shape[:2]
        for key in self.keys:
            panel = frame.conditions.get(key)
            if panel is None:
                raise VidsynthError(
                    f"SideBySide expected the drawn condition '{key}' on frame {frame.index}, found "
                    f"{sorted(frame.conditions) or 'none'}; draw it with target='condition' first"
                )
            panel = np.asarray(panel)
            if panel.ndim == 2:
                panel = np.repeat(panel[:, :, None], 3, axis=2)
            if panel.shape[:2] != (height, width):
                import cv2

                panel = cv2.resize(panel, (width, height), interpolation=cv2.INTER_NEAREST)
            panels.append(panel.astype(np.uint8, copy=False))
        return frame.with_image(np.ascontiguousarray(np.concatenate(panels, axis=1)))


class KeepImage(Stage):
    """Copy the frame's picture into ``conditions[key]`` before a later stage replaces it."""

    def __init__(self, key: str = "real"):
        self.key = key

    def process(self, frame):
        frame.conditions[self.key] = frame.image
        return frame
