"""Sources (file, folder, camera, URL, synthetic worlds) and sinks (file, folder, window, browser, URL, null).

``open_source(spec)`` and ``open_sink(spec)`` turn what a user types into the right class:

=========================  =====================================================
source spec                 class
=========================  =====================================================
``clip.mp4`` (any video)    :class:`VideoFileSource`
``frames/`` (a folder)      :class:`ImageFolderSource`
``camera:0``                :class:`CameraSource` (``camera:/dev/video2`` too)
``rtsp://`` ``http(s)://``  :class:`UrlSource` (also ``udp://``, ``rtmp://``, ``tcp://``, ``srt://``)
``synthetic:clip``          :class:`SyntheticClip`; other names from :func:`register_synthetic`;
                            options as ``synthetic:clip?n_frames=90&vfr=1``
=========================  =====================================================

=========================  =====================================================
sink spec                   class
=========================  =====================================================
``out.mp4`` / ``.mov``      :class:`Mp4Sink` (H.264, fragmented, resumable)
``out.mkv`` / ``.avi``      :class:`LosslessVideoSink` (FFV1)
``frames/`` or no suffix    :class:`ImageFolderSink` (PNG)
``window``                  :class:`WindowSink`
``http`` / ``http:8080``    :class:`BrowserPreviewSink` on 127.0.0.1
``rtmp://`` ``udp://``      :class:`UrlSink` (also ``tcp://``, ``srt://``, ``rtsp://``)
``null``                    :class:`NullSink`
=========================  =====================================================
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from urllib.parse import parse_qsl

from vidsynth.errors import VidsynthError

from .base import Sink, Source, StreamInfo
from .frame import Frame
from .synthetic import register_synthetic, synthetic_source

# public name -> module, imported on first use so `import vidsynth.streams` stays light
_LAZY = {
    "VideoFileSource": "video_file",
    "ImageFolderSource": "folder",
    "ImageFolderSink": "folder",
    "CameraSource": "camera",
    "UrlSource": "url",
    "UrlSink": "url",
    "SyntheticClip": "synthetic.clip",
    "read_stamp": "synthetic.clip",
    "Mp4Sink": "mp4",
    "LosslessVideoSink": "lossless",
    "WindowSink": "window",
    "BrowserPreviewSink": "browser",
    "NullSink": "null",
}

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v"}
LOSSLESS_SUFFIXES = {".mkv", ".avi"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _parse_value(text: str):
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _build(cls_name: str, spec: str, *args, **options):
    cls = __getattr__(cls_name)
    try:
        return cls(*args, **options)
    except TypeError as exc:
        raise VidsynthError(f"{cls_name} for {spec!r} does not take the options {sorted(options)} ({exc})") from None


def open_source(spec: str | os.PathLike, **options) -> Source:
    """The source a spec names (see the table above); ``options`` go to its constructor.

    >>> open_source("synthetic:clip?n_frames=5").open().frame_count
    5
    """
    from .url import is_url

    text = str(spec)
    if text.startswith("synthetic:"):
        name, _, query = text[len("synthetic:") :].partition("?")
        options = {**{k: _parse_value(v) for k, v in parse_qsl(query)}, **options}
        return synthetic_source(name, **options)
    if text == "camera" or text.startswith("camera:"):
        device = text.partition(":")[2] or "0"
        return _build("CameraSource", text, int(device) if device.isdigit() else device, **options)
    if is_url(text):
        return _build("UrlSource", text, text, **options)
    path = Path(text).expanduser()
    if path.is_dir():
        return _build("ImageFolderSource", text, path, **options)
    if not path.exists():
        raise VidsynthError(
            f"expected an input: a video file, an image folder, camera:N, a URL (rtsp://, http://, udp://, rtmp://) "
            f"or synthetic:NAME; found {text!r}, which is none of these (no such file); check the path"
        )
    return _build("VideoFileSource", text, path, **options)


def open_sink(spec: str | os.PathLike, **options) -> Sink:
    """The sink a spec names (see the table above); ``options`` go to its constructor.

    >>> type(open_sink("null")).__name__
    'NullSink'
    """
    from .url import SINK_FORMATS

    text = str(spec)
    lowered = text.lower()
    if lowered == "null":
        return _build("NullSink", text, **options)
    if lowered == "window":
        return _build("WindowSink", text, **options)
    if lowered == "http" or (lowered.startswith("http:") and lowered[5:].isdigit()):
        port = int(lowered[5:]) if lowered.startswith("http:") else options.pop("port", 0)
        return _build("BrowserPreviewSink", text, port=port, **options)
    scheme, sep, _ = text.partition("://")
    if sep:
        if scheme.lower() in SINK_FORMATS:
            return _build("UrlSink", text, text, **options)
        raise VidsynthError(
            f"expected an output URL starting with {', '.join(s + '://' for s in SINK_FORMATS)}, found {text!r}"
        )
    path = Path(text).expanduser()
    suffix = path.suffix.lower()
    if text.endswith(("/", os.sep)) or path.is_dir() or not suffix:
        return _build("ImageFolderSink", text, path, **options)
    if suffix in VIDEO_SUFFIXES:
        return _build("Mp4Sink", text, path, **options)
    if suffix in LOSSLESS_SUFFIXES:
        if options.pop("lossless", True) is False:
            raise VidsynthError(f"{suffix} outputs are written losslessly (FFV1); for H.264 write an .mp4 instead")
        return _build("LosslessVideoSink", text, path, **options)
    raise VidsynthError(
        f"expected an output: a .mp4/.mov file, a lossless .mkv/.avi, a folder/, window, http[:PORT], "
        f"rtmp:// or udp:// URL, or null; found {text!r}"
    )


__all__ = [
    "Frame",
    "Source",
    "Sink",
    "StreamInfo",
    "open_source",
    "open_sink",
    "register_synthetic",
    "synthetic_source",
    *_LAZY,
]
