"""The studio's Live view: one job's pipeline running in the background, watched and recorded.

:class:`LiveSession` builds the pipeline through the job's own ``build()`` (the same one the CLI and the
Python API use), taps its input (so the page shows input | condition | output), adds a
:class:`StudioSink` beside the job's own output, and runs it on a thread. The page polls
:meth:`LiveSession.status` for per-stage figures (fps, latency p50/p95, drops) and fetches the newest
panels as JPEG. A recording writes the output frames to an MP4 in the studio's folder.

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    session = LiveSession(job, {"model": "spade_street_128", "input": "synthetic:street"}, "/tmp/studio")
    session.start(); session.status()["figures"]
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time

import numpy as np

from vidsynth.errors import VidsynthError
from vidsynth.streams.base import Sink, Source, StreamInfo
from vidsynth.streams.frame import Frame

INPUT_KEY = "studio_input"
PANELS = ("input", "condition", "output")


class TappedSource(Source):
    """A source that keeps each frame's picture as it came in (``conditions['studio_input']``)."""

    def __init__(self, source: Source):
        self.inner = source

    def open(self) -> StreamInfo:
        return self.inner.open()

    def __iter__(self):
        for frame in self.inner:
            frame.conditions[INPUT_KEY] = frame.image
            yield frame

    def seek(self, index: int) -> None:
        self.inner.seek(index)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name):  # what a job's source offers beyond the interface (pacing, sizes)
        return getattr(self.inner, name)


def condition_picture(frame: Frame, palette: str = "cityscapes") -> np.ndarray | None:
    """The frame's conditioning as a picture: a map a stage drew, else labels, pose or face drawn here."""
    from vidsynth.engine import draw

    maps = [k for k in frame.conditions if k.endswith("_map")]
    if maps:
        return np.asarray(frame.conditions[maps[0]])
    source = frame.conditions.get(INPUT_KEY, frame.image)
    h, w = np.asarray(source).shape[:2]
    if "labels" in frame.conditions:
        from vidsynth.engine.extract.labels import load_palette

        return draw.colorize_labels(frame.conditions["labels"], load_palette(palette).colors)
    if "pose" in frame.conditions:
        return draw.draw_openpose(frame.conditions["pose"], (h, w), 3)
    face = frame.conditions.get("face")
    if face is not None and not face.is_empty:
        return np.repeat(draw.draw_face_edges(face.xy, (h, w))[:, :, None], 3, 2)
    for key in ("person_mask", "flow", "depth"):
        if key in frame.conditions:
            value = np.asarray(frame.conditions[key])
            if key == "flow":
                return draw.flow_to_color(value)
            value = value.astype(np.float32)
            value = (255 * (value - value.min()) / max(1e-6, float(np.ptp(value)))).astype(np.uint8)
            return np.repeat(value[..., None], 3, 2) if value.ndim == 2 else value
    return None


class StudioSink(Sink):
    """Keeps the newest frame for the page and writes the frames to a recording while one is asked for."""

    def __init__(self):
        self.info: StreamInfo | None = None
        self.latest: Frame | None = None
        self.sequence = 0
        self._lock = threading.Lock()
        self._recorder = None
        self.recording: dict | None = None  # path, frames written, frames wanted, done, error

    def open(self, info: StreamInfo) -> None:
        self.info = info

    def write(self, frame: Frame) -> None:
        self.latest = frame
        self.sequence += 1
        with self._lock:
            if self._recorder is not None:
                self._record(frame)

    def _record(self, frame: Frame) -> None:
        rec = self.recording
        try:
            if rec["first_pts"] is None:
                rec["first_pts"] = frame.pts
            # the recording starts at time 0 whenever in the stream it began
            self._recorder.write(dataclasses.replace(frame, pts=frame.pts - rec["first_pts"], index=rec["frames"]))
            rec["frames"] += 1
            if rec["wanted"] and rec["frames"] >= rec["wanted"]:
                self._finish()
        except Exception as exc:  # a failed recording must not stop the live view
            rec["error"] = f"{type(exc).__name__}: {exc}" if not isinstance(exc, VidsynthError) else str(exc)
            self._finish()

    def start_recording(self, path: str, frames: int | None = None) -> dict:
        from vidsynth.streams import open_sink

        with self._lock:
            if self._recorder is not None:
                raise VidsynthError("a recording is already running; stop it first")
            if self.info is None:
                raise VidsynthError("nothing to record yet: start the live view first")
            recorder = open_sink(path)
            recorder.open(dataclasses.replace(self.info, frame_count=None, audio=None, live=False))
            self._recorder = recorder
            self.recording = {"path": path, "name": os.path.basename(path), "frames": 0, "wanted": frames or 0,
                              "first_pts": None, "done": False, "error": None, "started": time.time()}
            return self.public_recording()

    def stop_recording(self) -> dict | None:
        with self._lock:
            if self._recorder is not None:
                self._finish()
            return self.public_recording()

    def _finish(self) -> None:
        recorder, self._recorder = self._recorder, None
        try:
            recorder.close()
        except Exception as exc:
            self.recording["error"] = str(exc)
        self.recording["done"] = True

    def public_recording(self) -> dict | None:
        if self.recording is None:
            return None
        return {k: v for k, v in self.recording.items() if k not in ("path", "first_pts")}

    def close(self) -> None:
        with self._lock:
            if self._recorder is not None:
                self._finish()


class LiveSession:
    """One job's pipeline running for the page; start once, stop once."""

    def __init__(self, job, values: dict, workdir: str, palette: str = "cityscapes"):
        from .jobs import make_options

        self.job, self.workdir, self.palette = job, workdir, palette
        self.options = make_options(job, values)
        self.device = str(getattr(self.options, "device", "cpu"))
        self.pipeline = None
        self.sink = StudioSink()
        self.error: str | None = None
        self.state = "idle"
        self._thread: threading.Thread | None = None
        self._rates: dict[str, tuple[float, int, float]] = {}  # worker -> (time, frames_out, fps)
        self._jpegs: dict[str, tuple[int, bytes]] = {}
        self._jpeg_lock = threading.Lock()

    def start(self) -> None:
        """Build the pipeline (errors in the options or inputs raise here) and run it on a thread."""
        from vidsynth.engine.pipeline import FanOutSink

        self.state = "starting"
        pipeline = self.job.build(self.options)
        pipeline.source = TappedSource(pipeline.source)
        pipeline.sink = FanOutSink([pipeline.sink, self.sink])
        pipeline.progress = False
        self.pipeline = pipeline
        self._thread = threading.Thread(target=self._run, name="vidsynth-studio-live", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.state = "running"
        try:
            self.pipeline.run()
            self.state = "stopped" if self.pipeline.stop_event.is_set() else "ended"
        except VidsynthError as exc:
            self.error, self.state = str(exc), "failed"
        except Exception as exc:  # shown on the page; the studio keeps serving
            self.error, self.state = f"{type(exc).__name__}: {exc}", "failed"

    def stop(self, timeout: float = 15.0) -> None:
        if self.pipeline is not None:
            self.pipeline.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def figures(self) -> dict:
        """Per worker: frames, fps over the last poll interval, latency p50/p95 (ms), drops; end-to-end latency."""
        snap = self.pipeline.live_figures() if self.pipeline is not None else {}
        now = time.monotonic()
        workers = []
        for name, w in snap.get("workers", {}).items():
            t0, n0, fps = self._rates.get(name, (now, 0, 0.0))
            if now - t0 >= 0.5:
                fps = (w["frames_out"] - n0) / (now - t0)
                self._rates[name] = (now, w["frames_out"], fps)
            elif name not in self._rates:
                self._rates[name] = (now, w["frames_out"], 0.0)
            lat = w["latency_ms"]
            workers.append({"name": name, "kind": w["kind"], "frames": w["frames_out"], "fps": round(fps, 2),
                            "p50_ms": lat["p50"], "p95_ms": lat["p95"], "dropped": w["dropped"]})
        return {"workers": workers, "end_to_end_ms": snap.get("end_to_end_ms", {}), "device": self.device,
                "mode": "live" if snap.get("live") else "offline"}

    def status(self) -> dict:
        return {"job": self.job.name, "state": self.state, "error": self.error, "frames": self.sink.sequence,
                "figures": self.figures(), "recording": self.sink.public_recording()}

    def panel_jpeg(self, panel: str, quality: int = 80) -> bytes | None:
        """The newest frame's panel (input, condition, output) as JPEG; None before the first frame."""
        import cv2

        if panel not in PANELS:
            raise VidsynthError(f"unknown panel {panel!r}; expected one of {', '.join(PANELS)}")
        frame, sequence = self.sink.latest, self.sink.sequence
        if frame is None:
            return None
        with self._jpeg_lock:
            cached = self._jpegs.get(panel)
            if cached and cached[0] == sequence:
                return cached[1]
            if panel == "output":
                picture = frame.image
            elif panel == "input":
                picture = frame.conditions.get(INPUT_KEY)
            else:
                picture = condition_picture(frame, self.palette)
            if picture is None or not hasattr(picture, "shape"):
                picture = np.zeros((64, 64, 3), np.uint8)  # this job has no such panel: a black tile
            picture = np.ascontiguousarray(np.asarray(picture, np.uint8))
            if picture.ndim == 2:
                picture = np.repeat(picture[..., None], 3, 2)
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
            self._jpegs[panel] = (sequence, data.tobytes())
            return self._jpegs[panel][1]
