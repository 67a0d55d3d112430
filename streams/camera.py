"""A live camera through OpenCV, read on its own thread so a dead camera never hangs the pipeline."""

from __future__ import annotations

import logging
import threading
import time
from fractions import Fraction
from typing import Iterator

from vidsynth.errors import VidsynthError, require

from .base import Source, StreamInfo
from .frame import Frame

log = logging.getLogger(__name__)

MICROSECONDS = Fraction(1, 1_000_000)


class CameraSource(Source):
    """Frames from an OpenCV camera (an index such as 0, or a device path), newest frame first.

    A reader thread grabs continuously and keeps only the latest frame, stamped with
    ``capture_ns`` at grab time; pts count microseconds since the first frame, so recordings stay in
    sync when frames are dropped. A camera that does not open fails within ``open_timeout`` seconds; one
    that stops delivering ends iteration with an error after ``read_timeout`` seconds.

    >>> with CameraSource(0, width=640, height=480) as cam:  # doctest: +SKIP
    ...     frame = next(iter(cam))
    """

    def __init__(
        self,
        index: int | str = 0,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        open_timeout: float = 5.0,
        read_timeout: float = 2.0,
    ):
        self.index = int(index) if isinstance(index, str) and index.isdigit() else index
        self.width, self.height, self.fps = width, height, fps
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self._capture = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._fresh = threading.Condition()
        self._latest = None  # (sequence, capture_ns, rgb image)
        self._failed: str | None = None
        self._t0: int | None = None

    def open(self) -> StreamInfo:
        cv2 = require("cv2", "reading cameras")
        result: dict = {}

        def connect():  # VideoCapture() can block for a long time on a broken device
            try:
                level = cv2.getLogLevel()
                cv2.setLogLevel(0)  # silent: a missing camera is reported by our error, not OpenCV's warnings
                try:
                    capture = cv2.VideoCapture(self.index)
                finally:
                    cv2.setLogLevel(level)
                if capture.isOpened():
                    if self.width:
                        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
                    if self.height:
                        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
                    if self.fps:
                        capture.set(cv2.CAP_PROP_FPS, self.fps)
                result["capture"] = capture
            except Exception as exc:  # OpenCV raises cv2.error for odd device strings
                result["error"] = str(exc)

        opener = threading.Thread(target=connect, name=f"camera-open-{self.index}", daemon=True)
        opener.start()
        opener.join(self.open_timeout)
        capture = result.get("capture")
        if opener.is_alive() or capture is None or not capture.isOpened():
            why = "it did not answer in time" if opener.is_alive() else result.get("error", "OpenCV could not open it")
            raise VidsynthError(
                f"expected a camera at index {self.index!r}, found none ({why}); list cameras with "
                "`ls /dev/video*` (Linux) and pass camera:N, or use a video file instead"
            )
        self._capture = capture
        self._stop.clear()
        self._thread = threading.Thread(target=self._read_loop, name=f"camera-{self.index}", daemon=True)
        self._thread.start()
        first = self._wait_frame(-1)
        fps = capture.get(cv2.CAP_PROP_FPS) or self.fps or 30
        rate = Fraction(fps).limit_denominator(1001)
        return StreamInfo(
            width=first[2].shape[1],
            height=first[2].shape[0],
            rate=rate,
            time_base=MICROSECONDS,
            live=True,
            extra={"camera": self.index},
        )

    def _read_loop(self) -> None:
        cv2 = require("cv2")
        sequence = 0
        while not self._stop.is_set():
            ok = self._capture.grab()
            captured = time.monotonic_ns()
            if not ok:
                self._fail("the camera stopped delivering frames")
                return
            ok, bgr = self._capture.retrieve()
            if not ok or bgr is None:
                self._fail("the camera delivered an unreadable frame")
                return
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            with self._fresh:
                self._latest = (sequence, captured, rgb)
                self._fresh.notify_all()
            sequence += 1

    def _fail(self, why: str) -> None:
        with self._fresh:
            self._failed = why
            self._fresh.notify_all()

    def _wait_frame(self, after: int):
        deadline = time.monotonic() + self.read_timeout
        with self._fresh:
            while (self._latest is None or self._latest[0] <= after) and self._failed is None:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    break
                self._fresh.wait(min(left, 0.1))
            if self._latest is not None and self._latest[0] > after:
                return self._latest
        why = self._failed or f"no frame arrived within {self.read_timeout:g} s"
        raise VidsynthError(f"camera {self.index!r} failed: {why}; check the cable or whether another program uses it")

    def __iter__(self) -> Iterator[Frame]:
        if self._capture is None:
            self.open()
        last = -1
        index = 0
        while not self._stop.is_set():
            sequence, captured, image = self._wait_frame(last)
            last = sequence
            if self._t0 is None:
                self._t0 = captured
            yield Frame(
                index=index,
                pts=(captured - self._t0) // 1000,
                time_base=MICROSECONDS,
                image=image,
                capture_ns=captured,
                discontinuity=index == 0,
            )
            index += 1

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.read_timeout + 1)
            self._thread = None
        if self._capture is not None:
            self._capture.release()
            self._capture = None
