"""Sources (file, folder, camera, URL, synthetic worlds) and sinks (file, folder, window, browser, URL, null)."""

from .base import Sink, Source, StreamInfo
from .frame import Frame

__all__ = ["Frame", "Source", "Sink", "StreamInfo"]
