"""Image folders: a sorted folder of PNG/JPEG frames as a source, and a lossless PNG folder as a sink."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from vidsynth.errors import VidsynthError, require

from .base import Sink, Source, StreamInfo
from .convert import as_fraction, as_numpy
from .frame import Frame
from .outputs import claim_output, refuse_input_as_output, release_output

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def natural_key(name: str) -> list:
    """Sort key that puts frame2 before frame10.

    >>> sorted(["f10.png", "f2.png"], key=natural_key)
    ['f2.png', 'f10.png']
    """
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _read_image(cv2, path: Path, raw: bool) -> np.ndarray:
    data = np.fromfile(str(path), dtype=np.uint8)  # np.fromfile + imdecode: paths with any characters
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED if raw else cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise VidsynthError(f"expected a readable image at {path}, found data OpenCV cannot decode; replace or remove it")
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
        image = cv2.cvtColor(image, code)
    return image


class ImageFolderSource(Source):
    """Frames from the images of a folder, in natural sort order, at ``fps`` frames per second.

    Images are read as H×W×3 uint8 RGB; with ``raw=True`` they come back as stored (grey, 16-bit,
    palette indices of a label PNG), which label maps and depth need.

    >>> src = ImageFolderSource("frames/", fps=25)  # doctest: +SKIP
    """

    def __init__(self, folder: str | os.PathLike, fps: float = 30, raw: bool = False):
        self.folder = Path(folder)
        self.rate = as_fraction(fps)
        self.raw = raw
        self.files: list[Path] = []
        self._start = 0

    def open(self) -> StreamInfo:
        self._cv2 = require("cv2", "reading image folders")
        if not self.folder.is_dir():
            raise VidsynthError(f"expected a folder of images at {self.folder}, found no such folder; check the path")
        self.files = sorted(
            (p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=lambda p: natural_key(p.name),
        )
        if not self.files:
            raise VidsynthError(
                f"expected images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {self.folder}, found none; check the folder"
            )
        if self.rate <= 0:
            raise VidsynthError(f"expected a positive frame rate for {self.folder}, found {self.rate}")
        first = _read_image(self._cv2, self.files[0], self.raw)
        return StreamInfo(
            width=first.shape[1],
            height=first.shape[0],
            rate=self.rate,
            time_base=1 / self.rate,
            frame_count=len(self.files),
            extra={"path": str(self.folder), "dtype": str(first.dtype)},
        )

    def seek(self, index: int) -> None:
        self._start = max(0, int(index))

    def __iter__(self) -> Iterator[Frame]:
        if not self.files:
            self.open()
        for index in range(self._start, len(self.files)):
            yield Frame(
                index=index,
                pts=index,
                time_base=1 / self.rate,
                image=_read_image(self._cv2, self.files[index], self.raw),
                duration=1,
                discontinuity=index == self._start,
                name=self.files[index].stem,
            )


class ImageFolderSink(Sink):
    """Write each frame as a lossless image ``<folder>/<index:06d>.png`` (16-bit and grey kept).

    ``ext='jpg'`` writes JPEG (lossy, ``quality``) for training folders in imaginaire's layout.

    >>> sink = ImageFolderSink("out_frames/")  # doctest: +SKIP
    """

    def __init__(self, folder: str | os.PathLike, ext: str = "png", quality: int = 95, pattern: str = "{index:06d}"):
        self.folder = Path(folder)
        self.ext = ext.lower().lstrip(".")
        self.quality = int(quality)
        self.pattern = pattern
        self.frames_written = 0
        if self.ext not in {"png", "jpg", "jpeg", "bmp", "tif", "tiff"}:
            raise VidsynthError(f"expected an image extension (png, jpg, bmp, tif) for {self.folder}, found '{ext}'")

    def open(self, info: StreamInfo | None = None) -> None:
        self._cv2 = require("cv2", "writing image folders")
        refuse_input_as_output(self.folder, info)
        claim_output(self.folder)  # one writer per folder; released when the sink closes
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            release_output(self.folder)
            raise VidsynthError(f"cannot create the output folder {self.folder}: {exc}; pick a writable path") from None

    def write(self, frame: Frame) -> None:
        cv2 = self._cv2
        image = as_numpy(frame.image)
        if image.dtype == np.bool_:
            image = image.astype(np.uint8) * 255
        if image.dtype not in (np.uint8, np.uint16):
            raise VidsynthError(
                f"expected uint8 or uint16 images for {self.folder}, found {image.dtype} at frame {frame.index}; "
                "scale and convert the image before this sink"
            )
        if image.ndim == 3 and image.shape[2] == 3:
            image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
        elif image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGBA2BGRA)
        params = [cv2.IMWRITE_JPEG_QUALITY, self.quality] if self.ext in ("jpg", "jpeg") else []
        path = self.folder / f"{self.pattern.format(index=frame.index)}.{self.ext}"
        ok, data = cv2.imencode(f".{self.ext}", image, params)
        if not ok:
            raise VidsynthError(f"could not encode frame {frame.index} as .{self.ext}; use png for 16-bit or grey frames")
        temp = path.with_name(path.name + ".tmp")
        data.tofile(str(temp))
        os.replace(temp, path)  # a crash never leaves half an image under the final name
        self.frames_written += 1

    def close(self) -> None:
        release_output(self.folder)
