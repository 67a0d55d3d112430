"""Presets: short functions that wire the jobs of vidsynth into a :class:`Pipeline`.

The CLI is a thin layer over these; a script can call them too and ``.run()`` the result.

>>> from vidsynth.engine.presets import extract
>>> # extract("dance.mp4", what="pose", output="pose.mp4").run()
"""

from __future__ import annotations

import json
import math
import os
import re
from fractions import Fraction
from typing import Iterator

import numpy as np

from vidsynth.errors import VidsynthError
from vidsynth.streams.base import Source, StreamInfo
from vidsynth.streams.frame import Frame

from .pipeline import Pipeline
from .stage import Stage

WHATS = ("pose", "face", "mask", "flow", "labels")
PREVIEWS = ("window", "http")


# -- small stages the presets need ----------------------------------------------------------------


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


class PhotoPanClip(Source):
    """A short clip made from one photograph by a slow camera move (pan and zoom), with no download.

    The demo needs footage of a real person that the project can make itself: scikit-image ships a
    photograph of one (``skimage.data.astronaut()``). When scikit-image is missing, the stamped
    synthetic clip stands in (it has motion for the flow panel, no person for the pose panel).

    >>> clip = PhotoPanClip(n_frames=3, size=64)
    >>> clip.open().frame_count
    3
    """

    def __init__(self, n_frames: int = 60, size: int = 256, fps: int = 30):
        self.n_frames, self.size, self.rate = int(n_frames), int(size), Fraction(fps)
        self._photo = None
        self._info: StreamInfo | None = None
        self._start = 0

    def open(self) -> StreamInfo:
        try:
            from skimage import data
        except ImportError:
            self._photo = None
        else:
            self._photo = np.ascontiguousarray(data.astronaut())
        self._info = StreamInfo(self.size, self.size, self.rate, 1 / self.rate, frame_count=self.n_frames,
                                extra={"content": "skimage astronaut photo" if self._photo is not None else "synthetic clip"})
        return self._info

    def seek(self, index: int) -> None:
        self._start = max(0, int(index))

    def render(self, index: int) -> np.ndarray:
        import cv2

        if self._photo is None:
            from vidsynth.streams.synthetic.clip import SyntheticClip

            return SyntheticClip(n_frames=self.n_frames, width=self.size, height=self.size).render(index)
        h, w = self._photo.shape[:2]
        t = index / max(1, self.n_frames - 1)
        side = min(h, w) * (0.95 - 0.2 * t)  # zoom in slowly
        cx = w / 2 + 0.08 * w * math.sin(2 * math.pi * t)  # sway left and right
        cy = h / 2 + 0.03 * h * t
        x0 = int(np.clip(cx - side / 2, 0, w - side))
        y0 = int(np.clip(cy - side / 2, 0, h - side))
        crop = self._photo[y0 : y0 + int(side), x0 : x0 + int(side)]
        return cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA)

    def __iter__(self) -> Iterator[Frame]:
        if self._info is None:
            self.open()
        for index in range(self._start, self.n_frames):
            yield Frame(index=index, pts=index, time_base=1 / self.rate, image=self.render(index), duration=1,
                        discontinuity=index == self._start)


# -- parsing the options users type ------------------------------------------------------------------


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"640x480"`` → ``(640, 480)``; None stays None.

    >>> parse_size("64x48")
    (64, 48)
    """
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[x×X]\s*(\d+)\s*", str(text))
    if not match or int(match[1]) < 2 or int(match[2]) < 2:
        raise VidsynthError(f"expected a size as WIDTHxHEIGHT (e.g. 640x480), found {text!r}")
    width, height = int(match[1]), int(match[2])
    if width % 2 or height % 2:
        raise VidsynthError(f"expected an even width and height (H.264 with 4:2:0 needs them), found {width}x{height}")
    return width, height


def parse_remap(text: str | None) -> dict[int, int] | None:
    """Label id remapping from ``"7:0,8:1"`` or a JSON file/object ``{"7": 0}``.

    >>> parse_remap("7:0, 8:1")
    {7: 0, 8: 1}
    """
    if text is None:
        return None
    raw = text
    if os.path.isfile(text):
        with open(text) as f:
            raw = f.read()
    try:
        if raw.strip().startswith("{"):
            pairs = json.loads(raw).items()
        else:
            pairs = [item.split(":") for item in raw.split(",") if item.strip()]
        return {int(k): int(v) for k, v in pairs}
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise VidsynthError(
            f"expected --remap as FROM:TO pairs ('7:0,8:1') or a JSON object/file ({{\"7\": 0}}), found {text!r} ({exc})"
        ) from None


# -- the presets ---------------------------------------------------------------------------------------


def extraction_stages(what: str, palette: str | None = None, remap: dict | None = None,
                      label_mode: str = "id") -> list[Stage]:
    """The extractor and the drawing stage for ``what`` (pose, face, mask, flow, labels).

    For labels, ``label_mode`` says how the input codes them: ``"id"`` (pixel values are class ids) or
    ``"color"`` (pixels are palette colours).
    """
    if what not in WHATS:
        raise VidsynthError(f"expected --what to be one of {', '.join(WHATS)}, found {what!r}")
    if what == "pose":
        from .draw import DrawPose
        from .extract import PoseExtractor

        return [PoseExtractor(), DrawPose()]
    if what == "face":
        from .draw import DrawFace
        from .extract import FaceExtractor

        return [FaceExtractor(), DrawFace()]
    if what == "mask":
        from .draw import DrawMask
        from .extract import PersonMaskExtractor

        return [PersonMaskExtractor(), DrawMask()]
    if what == "flow":
        from .draw import DrawFlow
        from .extract import FlowExtractor

        return [FlowExtractor(), DrawFlow()]
    from .draw import DrawLabels
    from .extract.labels import LabelDecoder

    if label_mode not in ("id", "color"):
        raise VidsynthError(f"expected --label-mode 'id' or 'color', found {label_mode!r}")
    decoder = LabelDecoder(palette=palette or "cityscapes", remap=remap, mode=label_mode)
    return [decoder, DrawLabels(palette=palette or "cityscapes")]


def looks_live(spec) -> bool:
    """Cameras and network streams are live; files, folders and synthetic worlds are not.

    >>> looks_live("camera:0"), looks_live("dance.mp4")
    (True, False)
    """
    text = str(spec)
    return text == "camera" or text.startswith("camera:") or "://" in text


def open_input(spec, size, fps):
    """Open the input; a camera captures at ``size``/``fps`` itself, other inputs are resized by a stage."""
    from vidsynth.streams import open_source

    text = str(spec)
    if text == "camera" or text.startswith("camera:"):
        options = {}
        if size is not None:
            options.update(width=size[0], height=size[1])
        if fps is not None:
            options["fps"] = fps
        return open_source(spec, **options), False
    if fps is not None:
        raise VidsynthError(f"--fps sets a camera's capture rate; {text!r} is not a camera, so drop --fps")
    return open_source(spec), size is not None


def output_sinks(output: str | None, preview: str | None, resume: bool = False) -> list:
    """The sinks of a job: the ``output`` file or URL (continued with ``resume``) and the live ``preview``."""
    from vidsynth.streams import open_sink

    if preview is not None and preview not in PREVIEWS:
        raise VidsynthError(f"expected --preview to be 'window' or 'http', found {preview!r}")
    sinks = [open_sink(output, resume=True) if resume else open_sink(output)] if output else []
    return sinks + ([open_sink(preview)] if preview else [])


def extract(
    input: str,
    what: str | None = "pose",
    output: str | None = None,
    preview: str | None = None,
    palette: str | None = None,
    remap: str | dict | None = None,
    label_mode: str = "id",
    sidecars: str | None = None,
    dataset_out: str | None = None,
    size: str | tuple | None = None,
    fps: float | None = None,
    metrics: str | None = None,
    seed: int | None = None,
    resume: bool = False,
    mode: str = "auto",
    progress: bool = True,
    stop_event=None,
    smooth: bool | None = None,
) -> Pipeline:
    """Extract conditioning from a video, camera or stream and write it as video, sidecars or a dataset.

    ``what`` picks the conditioning (pose, face, mask, flow, labels); ``output`` is a file or URL;
    ``preview`` shows it live (``"window"`` or ``"http"``); ``sidecars`` writes keypoint JSON per frame;
    ``dataset_out`` writes imaginaire's raw training layout. At least one of them is needed.
    ``smooth`` filters pose and face landmarks over time (One Euro); by default only live input is smoothed.

    >>> # extract("dance.mp4", what="pose", output="pose.mp4").run()
    """
    if what is not None and what not in WHATS:
        raise VidsynthError(f"expected --what to be one of {', '.join(WHATS)}, found {what!r}")
    if not (output or preview or sidecars or dataset_out):
        raise VidsynthError(
            "nothing to write: pass --output FILE_OR_URL, --preview, --sidecars DIR or --dataset-out DIR"
        )
    if resume and not output:
        raise VidsynthError("--resume continues an --output file; pass --output")
    if resume and os.path.splitext(str(output))[1].lower() not in (".mp4", ".mov", ".m4v"):
        raise VidsynthError(
            f"--resume continues an .mp4 output (written in closed segments); found {output!r}; "
            "write to an .mp4 or run without --resume"
        )
    size = parse_size(size) if isinstance(size, str) or size is None else tuple(size)
    remap = parse_remap(remap) if isinstance(remap, str) or remap is None else remap
    if palette is not None and what != "labels":
        raise VidsynthError(f"--palette colours label maps; it needs --what labels, found --what {what}")
    if palette is not None:
        from .extract.labels import load_palette

        load_palette(palette)  # a palette that does not parse fails now, before the input is opened
    if fps is not None and not (0 < float(fps) <= 1000):
        raise VidsynthError(f"expected --fps between 0 and 1000, found {fps}")

    stages = _extract_stages(input, what, palette, remap, label_mode, sidecars, dataset_out, bool(output or preview))
    live = mode == "live" or (mode == "auto" and looks_live(input))
    if what in ("pose", "face") and (smooth if smooth is not None else live):
        from .extract.smoothing import LandmarkSmoother

        stages.insert(1, LandmarkSmoother(keys=(what,)))  # right after the extractor: jitter-free maps and sidecars
    source, resize = open_input(input, size, fps)
    if resize:
        stages.insert(0, Resize(*size))
    return Pipeline(source, stages, output_sinks(output, preview, resume) or None, mode=mode, metrics_path=metrics, progress=progress,
                    resume=resume, stop_event=stop_event, seed=seed)


# what --what extracts -> the condition key it leaves on the frame
CONDITION_KEYS = {"pose": "pose", "face": "face", "mask": "person_mask", "flow": "flow", "labels": "labels"}


def sequence_name(spec: str) -> str:
    """A folder name for the sequence an input gives: the file's stem, ``camera0``, the URL's host...

    >>> sequence_name("clips/dance 01.mp4")
    'dance_01'
    """
    text = str(spec).rstrip("/")
    if "://" in text:
        text = text.split("://", 1)[1].split("/", 1)[0]
    elif text.startswith(("camera", "synthetic:")):
        text = text.split("?", 1)[0].replace(":", "")
    else:
        text = os.path.splitext(os.path.basename(text))[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "seq0000"


def _extract_stages(input, what, palette, remap, label_mode, sidecars, dataset_out, draw_output) -> list[Stage]:
    """Extractors, then the writers of sidecars and datasets (they see the original image), then drawing."""
    from .dataset_writer import DatasetWriter

    draw = None
    if what is not None:
        *extractors, draw = extraction_stages(what, palette=palette, remap=remap, label_mode=label_mode)
        keys = [CONDITION_KEYS[what]]
    elif dataset_out:
        extractors = [s for w in ("pose", "face", "mask", "flow") for s in extraction_stages(w)[:-1]]
        keys = ["pose", "face", "person_mask", "flow"]
    else:
        raise VidsynthError("expected --what (pose, face, mask, flow or labels); found none")
    if draw_output and draw is None:
        raise VidsynthError("--output and --preview show one conditioning: add --what (pose, face, mask, flow, labels)")
    if sidecars and what is None:
        raise VidsynthError("--sidecars writes the conditioning --what names; add --what")
    sequence = sequence_name(input)
    stages = list(extractors)
    if sidecars:
        stages.append(DatasetWriter(root=sidecars, sequence=sequence, what=tuple(keys)))
    if dataset_out:
        stages.append(DatasetWriter(root=dataset_out, sequence=sequence, what=("image", *keys)))
    if draw_output:
        stages.append(draw)
    return stages


def demo(output: str = "out/demo.mp4", frames: int = 60, size: int = 256, metrics: str | None = None,
         progress: bool = True, seed: int | None = 0) -> Pipeline:
    """The built-in demo: a clip the project makes itself, its pose and optical flow, side by side.

    Writes ``output`` (H.264 MP4): input | OpenPose-style pose map | flow colour wheel.

    >>> # demo("out/demo.mp4").run()
    """
    from vidsynth.streams.mp4 import Mp4Sink

    from .draw import DrawFlow, DrawPose
    from .extract import FlowExtractor, PoseExtractor

    if frames < 2:
        raise VidsynthError(f"expected at least 2 demo frames, found {frames}")
    if size < 64 or size % 2:
        raise VidsynthError(f"expected an even demo size of at least 64 px, found {size}")
    stages = [
        PoseExtractor(),
        FlowExtractor(preset="fast"),
        DrawPose(target="condition"),
        DrawFlow(target="condition"),
        SideBySide(["pose_map", "flow_map"]),
    ]
    return Pipeline(PhotoPanClip(n_frames=frames, size=size), stages, Mp4Sink(output), mode="offline",
                    metrics_path=metrics, progress=progress, seed=seed)
