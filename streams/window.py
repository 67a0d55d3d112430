"""A desktop preview window (OpenCV ``imshow``)."""

from __future__ import annotations

import os
import sys

from vidsynth.errors import VidsynthError, require

from .base import Sink, StreamInfo
from .convert import as_rgb8
from .frame import Frame


def has_display() -> bool:
    """Whether a window can be shown: always on Windows/macOS, on Linux when X11 or Wayland is there."""
    if sys.platform.startswith(("win", "darwin")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class WindowSink(Sink):
    """Show frames in a window; pressing ``q`` or Esc sets :attr:`stop_requested` for the pipeline.

    >>> sink = WindowSink("pose")  # doctest: +SKIP
    """

    def __init__(self, title: str = "vidsynth"):
        self.title = title
        self.stop_requested = False
        self.frames_written = 0
        self._cv2 = None

    def open(self, info: StreamInfo | None = None) -> None:
        if not has_display():
            raise VidsynthError(
                "expected a display for the preview window, found none (no DISPLAY or WAYLAND_DISPLAY); "
                "use the browser preview instead: --preview http"
            )
        cv2 = require("cv2", "the preview window")
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise VidsynthError(
                f"could not open a preview window ({str(exc).strip().splitlines()[-1]}); use --preview http instead"
            ) from None
        self._cv2 = cv2

    def write(self, frame: Frame) -> None:
        cv2 = self._cv2
        if cv2 is None:
            self.open()
            cv2 = self._cv2
        cv2.imshow(self.title, cv2.cvtColor(as_rgb8(frame.image, "preview"), cv2.COLOR_RGB2BGR))
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.stop_requested = True
        self.frames_written += 1

    def close(self) -> None:
        if self._cv2 is not None:
            try:
                self._cv2.destroyWindow(self.title)
                self._cv2.waitKey(1)
            except self._cv2.error:
                pass
            self._cv2 = None
