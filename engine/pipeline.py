"""The runtime: a source, a chain of stages and a sink, each on its own worker thread.

Workers hand frames to each other through channels. Offline (files), a channel is a bounded FIFO
queue: nothing is lost, order is kept, and a slow stage holds the faster ones back (backpressure).
Live (cameras, streams), a channel is a slot of size one where a newer frame replaces a stale one
(latest-frame-wins), so a slow stage drops frames instead of queueing them and latency stays bounded.

Every blocking wait has a timeout and looks at a stop event, so Ctrl-C, an error in any worker, a dead
source (a watchdog) or an external ``stop_event`` end the run without hanging; the sink is closed in
every case, so what was written stays playable.

>>> from vidsynth.engine.pipeline import Pipeline
>>> from vidsynth.streams import SyntheticClip
>>> report = Pipeline(SyntheticClip(n_frames=3, width=64, height=48), [lambda f: f], progress=False).run()
>>> report.frames_out, report.stopped
(3, 'end')
"""

from __future__ import annotations

import collections
import random
import signal
import sys
import threading
import time
import traceback
from typing import Callable, Iterable

from vidsynth.errors import Interrupted, VidsynthError, user_os_error
from vidsynth.streams.base import Sink, Source, StreamInfo
from vidsynth.streams.frame import Frame

from .metrics import LatencyWindow, RunReport, StageMetrics, check_metrics_path, peak_rss_mb, rss_mb
from .stage import FunctionStage, Stage
from .threads import ThreadBudget, apply_threads, plan_threads

# How often a blocked worker looks at the stop event; small enough that Ctrl-C feels instant.
POLL_S = 0.05


class PipelineError(VidsynthError):
    """A worker failed; ``stage`` names it and ``frame_index`` is the frame it was working on (or None)."""

    def __init__(self, message: str, stage: str | None = None, frame_index: int | None = None):
        super().__init__(message)
        self.stage = stage
        self.frame_index = frame_index


class Channel:
    """The hand-over between two workers.

    ``latest=False``: a FIFO of at most ``bound`` frames; ``put`` waits while it is full.
    ``latest=True``: a slot of one frame; ``put`` replaces a frame the consumer has not taken yet and
    counts it as dropped on the consumer's metrics. ``close()`` ends the stream: ``get`` returns None
    once the channel is empty. A set ``stop`` event makes every wait return at once.
    """

    def __init__(self, bound: int, latest: bool, stop: threading.Event, consumer: StageMetrics):
        self.bound = 1 if latest else max(1, bound)
        self.latest = latest
        self._stop = stop
        self._consumer = consumer
        self._items: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        consumer.queue_bound = self.bound

    def put(self, frame: Frame) -> bool:
        """Hand over a frame; False when the channel was closed or the run stopped (the frame is not taken)."""
        with self._cond:
            while True:
                if self._closed or self._stop.is_set():
                    return False
                if self.latest:
                    if self._items:
                        self._items.popleft()
                        self._consumer.add_drop()
                    break
                if len(self._items) < self.bound:
                    break
                self._cond.wait(POLL_S)
            self._items.append(frame)
            self._consumer.queue_max = max(self._consumer.queue_max, len(self._items))
            self._cond.notify_all()
            return True

    def get(self) -> Frame | None:
        """The next frame, or None at the end of the stream or when the run stopped."""
        with self._cond:
            while True:
                if self._stop.is_set():
                    return None
                if self._items:
                    frame = self._items.popleft()
                    self._cond.notify_all()
                    return frame
                if self._closed:
                    return None
                self._cond.wait(POLL_S)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._items)


class _Worker(threading.Thread):
    """A daemon thread with a ``done`` event: waiting on an Event survives Ctrl-C, while in Python 3.11
    a ``Thread.join`` interrupted by KeyboardInterrupt wrongly marks the thread as finished."""

    def __init__(self, target, *args, name: str):
        super().__init__(name=name, daemon=True)
        self._target_fn, self._args = target, args
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self._target_fn(*self._args)
        finally:
            self.done.set()

    def wait(self, timeout: float) -> bool:
        """True once the worker finished."""
        return self.done.wait(timeout)


class ProcessStage(Stage):
    """Run a stage in a process of its own, so it has its own GIL.

    Threads overlap native work (decoding, encoding, torch) well, but two stages that both run Python
    (MediaPipe calls back into Python for every output; drawing is numpy and Python) take turns on one
    GIL and slow each other down. In a child process they do not. Frames travel through a pipe
    (pickled; about a millisecond for a 640×480 frame). The child builds the stage itself from
    ``factory(*args, **kwargs)`` (a class or a module-level function: it must pickle), ignores Ctrl-C
    (the parent stops it) and exits when the parent's end of the pipe closes, even after a SIGKILL.

    >>> from vidsynth.engine.extract import PoseExtractor
    >>> stage = ProcessStage(PoseExtractor)  # doctest: +SKIP
    """

    def __init__(self, factory, *args, start_timeout_s: float = 120.0, **kwargs):
        self.factory, self.args, self.kwargs = factory, args, kwargs
        self.start_timeout_s = start_timeout_s
        self._name = getattr(factory, "__name__", "stage")
        self._conn = None
        self._process = None
        self.warmup_frames = int(getattr(factory, "warmup_frames", 0) or 0)
        self.threads = int(getattr(factory, "threads", 1) or 1)
        self._threads_granted = 1

    @property
    def name(self) -> str:
        return self._name

    def configure_threads(self, n: int) -> None:
        self._threads_granted = int(n)

    def open(self) -> None:
        if self._process is not None:
            return
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # forking a process that runs threads is unsafe
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve_stage, args=(child, self.factory, self.args, self.kwargs, self._threads_granted),
            name=f"vidsynth-{self._name}", daemon=True,
        )
        self._process.start()
        child.close()
        reply = self._receive(self.start_timeout_s, "start")
        if reply[0] == "ready":
            self._name = reply[1]
        else:
            self._raise(reply, None)

    def __call__(self, frame: Frame) -> Frame | None:
        return self.process(frame)  # the child's stage resets itself on a discontinuity

    @property
    def resumable(self) -> bool:
        f = self.factory
        return bool(getattr(f, "state_attrs", ())) or (
            isinstance(f, type) and issubclass(f, Stage) and f.snapshot is not Stage.snapshot)

    def snapshot(self) -> dict:
        """The child's stage's snapshot (it travels through the pipe)."""
        if self._process is None:
            self.open()
        self._conn.send(("snapshot", None))
        reply = self._receive(None, "snapshot")
        if reply[0] == "state":
            return reply[1]
        self._raise(reply, None)

    def restore(self, state: dict) -> None:
        if self._process is None:
            self.open()
        self._conn.send(("restore", state))
        reply = self._receive(None, "restore")
        if reply[0] != "restored":
            self._raise(reply, None)

    def process(self, frame: Frame) -> Frame | None:
        if self._process is None:
            self.open()
        self._conn.send(("frame", frame))
        reply = self._receive(None, f"frame {frame.index}")
        if reply[0] == "frame":
            return reply[1]
        self._raise(reply, frame.index)

    def _receive(self, timeout: float | None, what: str):
        """The child's next message; a child that died or stays silent past ``timeout`` is an error."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._conn.poll(POLL_S * 2):
            if not self._process.is_alive():
                raise VidsynthError(
                    f"the process running {self._name} ended (exit code {self._process.exitcode}) during {what}; "
                    "it may have run out of memory"
                )
            if deadline is not None and time.monotonic() > deadline:
                raise VidsynthError(f"the process running {self._name} did not {what} within {timeout:g} s")
        try:
            return self._conn.recv()
        except EOFError:
            raise VidsynthError(f"the process running {self._name} closed its pipe during {what}") from None

    def _raise(self, reply, index):
        message, user = reply[1], reply[2] if len(reply) > 2 else False
        if user:
            raise VidsynthError(message)
        raise RuntimeError(f"{message} (in the process running {self._name}, frame {index})")

    def close(self) -> None:
        if self._process is None:
            return
        try:
            self._conn.send(("close", None))
        except (OSError, BrokenPipeError):
            pass
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._conn.close()
        self._process = self._conn = None


def _serve_stage(conn, factory, args, kwargs, threads: int) -> None:
    """The child's loop: build the stage, then process frames until told to close or the parent is gone."""
    import signal

    # Ctrl-C (and a SIGTERM sent to the process group) reach the child too; the parent decides when it ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stage = None
    try:
        from .threads import apply_threads, configure_environment, plan_threads

        configure_environment(threads)
        stage = factory(*args, **kwargs)
        apply_threads(plan_threads([stage], cores=threads), stages=[stage])
        stage.open()
        conn.send(("ready", stage.name))
        while True:
            try:
                kind, frame = conn.recv()
            except (EOFError, OSError):
                return  # the parent is gone
            if kind == "close":
                return
            try:
                if kind == "snapshot":
                    conn.send(("state", stage.snapshot()))
                elif kind == "restore":
                    stage.restore(frame)
                    conn.send(("restored", None))
                else:
                    conn.send(("frame", stage(frame)))
            except VidsynthError as exc:
                conn.send(("error", str(exc), True))
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}", False))
    except VidsynthError as exc:
        _send_quietly(conn, ("error", str(exc), True))
    except Exception as exc:
        _send_quietly(conn, ("error", f"{type(exc).__name__}: {exc}", False))
    finally:
        if stage is not None:
            try:
                stage.close()
            except Exception:
                pass
        conn.close()


def _send_quietly(conn, message) -> None:
    try:
        conn.send(message)
    except (OSError, BrokenPipeError):
        pass


class FanOutSink(Sink):
    """Write every frame to several sinks (a recording and a preview); closes all of them."""

    def __init__(self, sinks: list[Sink]):
        self.sinks = list(sinks)

    def open(self, info: StreamInfo) -> None:
        for sink in self.sinks:
            sink.open(info)

    def write(self, frame: Frame) -> None:
        for sink in self.sinks:
            sink.write(frame)

    def close(self) -> None:
        errors = []
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # close the others anyway, then report the first failure
                errors.append(exc)
        if errors:
            raise errors[0]

    def resume_point(self) -> int:
        points = [s.resume_point() for s in self.sinks if callable(getattr(s, "resume_point", None))]
        if not points:
            raise VidsynthError("--resume needs an output file that can be resumed (an .mp4); none of the outputs can")
        return min(points)


class _DiscardSink(Sink):
    def write(self, frame: Frame) -> None:
        pass


def seed_everything(seed: int) -> None:
    """Make Python's, numpy's and torch's random numbers repeatable (``--seed``)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


class Pipeline:
    """source → stages → sink, each on its own worker thread with bounded channels.

    ``mode``: ``"offline"`` (lossless, ordered, backpressure), ``"live"`` (latest-frame-wins) or
    ``"auto"`` (live when the source says its stream is live). ``queue_size`` bounds each offline
    channel. ``metrics_path`` writes the run's :class:`RunReport` as JSON. ``resume`` continues an
    interrupted render: the sink says how many frames it already holds, the source is sought there
    minus the warm-up frames the stateful stages need (``Stage.warmup_frames``); warm-up frames are
    processed but not written. A stage that can snapshot its state (``Stage.resumable``) saves it beside
    the output every ``snapshot_every`` frames (:mod:`vidsynth.engine.resume`), and a resume restores
    the newest snapshot instead of re-running from the start; the record also holds what made the output
    (input, stages, models, ``recipe_options``) and a resume of anything else is refused. ``stop_event`` ends the run gracefully when set (the frames in flight
    are finished and written). ``watchdog_s``: a source that gives no frame for this long is an error.
    ``clock`` returns monotonic nanoseconds (replaceable to test latency with a simulated clock).

    Sources and sinks may be given as specs (``"dance.mp4"``, ``"camera:0"``), stages as plain
    ``frame -> frame`` functions, and the sink as a list (all of them are written).

    With files and extractors (not run here: it needs a clip and MediaPipe)::

        report = Pipeline("dance.mp4", [PoseExtractor(), DrawPose()], "pose.mp4").run()
        print(report.summary())
    """

    def __init__(
        self,
        source: Source | str,
        stages: Iterable[Stage | Callable] = (),
        sink: Sink | str | list | None = None,
        mode: str = "auto",
        queue_size: int = 4,
        metrics_path: str | None = None,
        progress: bool = True,
        resume: bool = False,
        stop_event: threading.Event | None = None,
        seed: int | None = None,
        watchdog_s: float = 15.0,
        threads: ThreadBudget | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
        drain_timeout_s: float = 10.0,
        snapshot_every: int = 30,
        recipe_options: dict | None = None,
    ):
        if mode not in ("auto", "offline", "live"):
            raise VidsynthError(f"pipeline mode must be 'auto', 'offline' or 'live'; found {mode!r}")
        self.source = _as_source(source)
        self.stages = [s if isinstance(s, Stage) else FunctionStage(s) for s in stages]
        self.sink = _as_sink(sink)
        self.mode = mode
        self.queue_size = queue_size
        if metrics_path:
            check_metrics_path(metrics_path)
        self.metrics_path = metrics_path
        self.progress = progress
        self.resume = resume
        self.stop_event = stop_event or threading.Event()
        self.seed = seed
        self.watchdog_s = watchdog_s
        self.threads = threads
        self.clock = clock
        self.drain_timeout_s = drain_timeout_s
        self.snapshot_every = max(1, int(snapshot_every))
        self.recipe_options = dict(recipe_options or {})
        self.report: RunReport | None = None
        self.stage_names = _unique_names(self.stages)

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> RunReport:
        """Run to the end of the source (or a stop); returns the report, raises one VidsynthError on failure."""
        if self.seed is not None:
            seed_everything(self.seed)
        rss_start = rss_mb()
        info = _call_user(lambda: self.source.open(), "open the input", type(self.source).__name__)
        live = self.mode == "live" or (self.mode == "auto" and bool(info.live))
        budget = self.threads or plan_threads(self.stages)
        apply_threads(budget, sink=self.sink, stages=self.stages, source=self.source)

        write_from, seek_to = 0, 0
        self._record = None if live else self._resume_record()
        self._restore: dict[int, dict] = {}
        self._restore_index: int | None = None
        try:
            recipe = self._recipe() if self._record is not None else None
            if self.resume:
                if self._record is not None:
                    self._record.check(recipe)  # another input, --what or model: refused before anything is written
                write_from, seek_to = self._resume_point()
            _call_user(lambda: self.sink.open(info), "open the output", type(self.sink).__name__)
            if self._record is not None and (not self.resume or self._record.read_recipe() is None):
                self._record.start(recipe)  # a fresh output (also a --resume with nothing written yet)
            if seek_to > 0:
                self._seek(seek_to)
        except BaseException:
            self.source.close()
            raise

        self._hard_stop = threading.Event()
        self._errors: list[PipelineError] = []
        self._error_lock = threading.Lock()
        self._source_waiting_since: float | None = None
        self._live = live
        names = ["source"] + self.stage_names + ["sink"]
        kinds = ["source"] + ["stage"] * len(self.stages) + ["sink"]
        self._metrics = [StageMetrics(n, k) for n, k in zip(names, kinds)]
        self._e2e = LatencyWindow()
        self._channels = [
            Channel(self.queue_size, live, self._hard_stop, self._metrics[i + 1]) for i in range(len(self.stages) + 1)
        ]
        total = info.frame_count - write_from if info.frame_count and not live else None
        self._bar = _progress_bar(total, self.progress, live)

        workers = [_Worker(self._read, seek_to, name="vidsynth-source")]
        for i, stage in enumerate(self.stages):
            workers.append(_Worker(self._stage_worker, i, stage, name=f"vidsynth-{self.stage_names[i]}"))
        workers.append(_Worker(self._write, write_from, name="vidsynth-sink"))

        started = time.perf_counter()
        rss_samples = [rss_start]
        stopped = "end"
        interrupt: KeyboardInterrupt | None = None
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(budget.switch_interval_s)
        try:
            for w in workers:
                w.start()
            stopped = self._supervise(workers, rss_samples)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM raised as vidsynth.errors.Interrupted
            stopped = "interrupt"
            interrupt = exc
            self._graceful_stop()
            try:
                workers[-1].wait(self.drain_timeout_s)
            except KeyboardInterrupt:  # a second Ctrl-C: stop now, still close the sink
                pass
        finally:
            self._hard_stop.set()
            for ch in self._channels:
                ch.close()
            if not workers[-1].wait(5.0):
                self._fail("sink", None, VidsynthError(
                    f"the output {type(self.sink).__name__} did not finish closing within 5 s (a stalled stream?); "
                    "what was written before may be incomplete"))
            deadline = time.monotonic() + 1.0
            for w in workers[:-1]:
                w.wait(max(0.0, deadline - time.monotonic()))
            if workers[0].done.is_set():  # closing under a reader stuck inside a decoder could crash it
                try:
                    self.source.close()
                except Exception:
                    pass
            self._bar.close()
            sys.setswitchinterval(switch_interval)
        wall = time.perf_counter() - started
        self.report = self._build_report(live, wall, rss_samples, budget, write_from, stopped)
        if self.metrics_path:
            self.report.to_json(self.metrics_path)
        if self._record is not None and stopped == "end" and not self._errors:
            self._record.finish()
        if self._errors:
            raise self._errors[0]
        if stopped == "interrupt":
            raise Interrupted(getattr(interrupt, "signum", signal.SIGINT), "the output written so far was closed")
        return self.report

    def _supervise(self, workers, rss_samples) -> str:
        """Wait for the workers; watch the source, the stop event and memory. Returns why the run ended."""
        stopped = "end"
        next_rss = time.monotonic() + 1.0
        # The sink is the last worker to finish: it ends when every worker before it closed its output.
        while not workers[-1].wait(POLL_S):
            now = time.monotonic()
            if now >= next_rss:
                rss_samples.append(rss_mb())
                next_rss = now + 1.0
            if self._errors:
                self._hard_stop.set()
            if stopped == "end" and (self.stop_event.is_set() or self._sink_asked_to_stop()):
                stopped = "stop"
                self._graceful_stop()
                deadline = now + self.drain_timeout_s
            if stopped == "stop" and now > deadline:
                self._hard_stop.set()
            waiting = self._source_waiting_since
            if waiting is not None and now - waiting > self.watchdog_s and not self._hard_stop.is_set():
                self._fail("source", None, VidsynthError(
                    f"no frame from the input {type(self.source).__name__} for {self.watchdog_s:g} s "
                    f"(after {self._metrics[0].frames_out} frames): the camera or stream stopped sending; "
                    "check the device or URL, or raise the timeout"))
                self._hard_stop.set()
        rss_samples.append(rss_mb())
        return stopped

    def _sink_asked_to_stop(self) -> bool:
        """A preview window whose user pressed q/Esc says so through ``stop_requested``."""
        sinks = getattr(self.sink, "sinks", None) or [self.sink]
        return any(getattr(s, "stop_requested", False) for s in sinks)

    def _graceful_stop(self) -> None:
        """Read no more frames; the frames already read still flow through and are written."""
        self._channels[0].close()

    # -- workers ---------------------------------------------------------------------------------

    def _read(self, seek_to: int) -> None:
        metrics, out = self._metrics[0], self._channels[0]
        first = True
        # A file's first frame after a seek may take long to decode to; only live input is watched from
        # the start (a camera that opens and never sends is a hang to catch).
        watch = self._live
        next_index = seek_to
        try:
            iterator = iter(self.source)
            while not self._hard_stop.is_set():
                self._source_waiting_since = time.monotonic() if watch else None
                t0 = time.perf_counter()
                try:
                    frame = next(iterator)
                except StopIteration:
                    break
                finally:
                    self._source_waiting_since = None
                watch = True
                next_index = frame.index + 1
                if frame.index < seek_to:
                    continue  # a source that cannot seek: skip to the resume point by reading
                if first and seek_to > 0:
                    # stateful stages re-warm from here, unless their snapshot was restored
                    frame.discontinuity = self._restore_index is None
                first = False
                metrics.latency.add((time.perf_counter() - t0) * 1e3)
                metrics.frames_in += 1
                if not out.put(frame):
                    break
                metrics.frames_out += 1
        except Exception as exc:  # it failed reading the frame after the last one it gave
            self._fail("source", next_index, exc)
        finally:
            out.close()

    def _stage_worker(self, i: int, stage: Stage) -> None:
        name, metrics = self.stage_names[i], self._metrics[i + 1]
        inp, out = self._channels[i], self._channels[i + 1]
        frame = None
        record = self._record if stage.resumable else None
        try:
            stage.open()
            restored_at = None
            if i in self._restore:
                stage.restore(self._restore.pop(i))
                restored_at = self._restore_index
            while True:
                frame = inp.get()
                if frame is None:
                    break
                metrics.frames_in += 1
                if record is not None and frame.index % self.snapshot_every == 0 and frame.index not in (0, restored_at):
                    record.save_state(frame.index, i, stage.snapshot())  # the state before this frame
                t0 = time.perf_counter()
                result = stage(frame)
                metrics.latency.add((time.perf_counter() - t0) * 1e3)
                if result is None:
                    metrics.filtered += 1
                    continue
                if not out.put(result):
                    break
                metrics.frames_out += 1
            frame = None
        except BaseException as exc:
            self._fail(name, None if frame is None else frame.index, exc)
        finally:
            out.close()
            try:
                stage.close()
            except Exception as exc:
                self._fail(name, None, exc)

    def _write(self, write_from: int) -> None:
        metrics, inp = self._metrics[-1], self._channels[-1]
        frame = None
        try:
            while True:
                frame = inp.get()
                if frame is None:
                    break
                metrics.frames_in += 1
                if frame.index < write_from:
                    continue  # a warm-up frame of a resumed render: the sink already holds it
                t0 = time.perf_counter()
                self.sink.write(frame)
                if self._record is not None and frame.index % self.snapshot_every == 0:
                    # the closed segments lag the written frames by at most a segment (and the encoder's delay)
                    self._record.prune(frame.index - self._snapshot_lag())
                done = self.clock()
                metrics.latency.add((time.perf_counter() - t0) * 1e3)
                if frame.capture_ns is not None:
                    self._e2e.add((done - frame.capture_ns) / 1e6)
                metrics.frames_out += 1
                self._bar.update(1)
            frame = None
        except BaseException as exc:
            self._fail("sink", None if frame is None else frame.index, exc)
        finally:
            try:
                self.sink.close()
            except BaseException as exc:
                self._fail("sink", None, exc)

    # -- helpers ---------------------------------------------------------------------------------

    def _fail(self, worker: str, index: int | None, exc: BaseException) -> None:
        """Record the first failure as one PipelineError and stop every worker."""
        if isinstance(exc, PipelineError):
            error = exc
        elif isinstance(exc, VidsynthError):
            error = PipelineError(str(exc), worker, index)  # the user's error keeps its own message
            error.__cause__ = exc
        elif user_os_error(exc) is not None:  # a full or read-only disk, a permission: the user's to fix
            error = PipelineError(str(user_os_error(exc)), worker, index)
            error.__cause__ = exc
        else:
            where = f"stage '{worker}'" if worker not in ("source", "sink") else f"the {worker} ({self._io_name(worker)})"
            at = f" on frame {index}" if index is not None else ""
            error = PipelineError(
                f"{where} failed{at}: {type(exc).__name__}: {exc}. This is a bug or an unsupported input; "
                "run with --debug (or see the exception's __cause__) for the traceback",
                worker,
                index,
            )
            error.__cause__ = exc
            error.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        with self._error_lock:
            self._errors.append(error)
        self._hard_stop.set()

    def _io_name(self, worker: str) -> str:
        return type(self.source).__name__ if worker == "source" else type(self.sink).__name__

    def _resume_point(self) -> tuple[int, int]:
        point = getattr(self.sink, "resume_point", None)
        if not callable(point):
            raise VidsynthError(
                f"--resume needs an output that can be resumed (an .mp4 file); found {type(self.sink).__name__}; "
                "write to an .mp4 or run without --resume"
            )
        write_from = int(_call_user(point, "read the resume point of the output", type(self.sink).__name__))
        warmup = sum(int(getattr(s, "warmup_frames", 0) or 0) for s in self.stages if not s.resumable)
        start = max(0, write_from - warmup)
        snapshotting = [i for i, s in enumerate(self.stages) if s.resumable]
        if snapshotting and self._record is not None and write_from > 0:
            # the newest snapshot at or before the start; none: re-run from the first frame (slow, exact)
            points = [p for p in self._record.snapshot_points(snapshotting) if p <= start]
            start = points[-1] if points else 0
            if start > 0:
                self._restore = {i: self._record.load_state(start, i) for i in snapshotting}
                self._restore_index = start
        return write_from, start

    def _resume_record(self):
        """The resume record of the one output file that can be resumed (None when there is none)."""
        from .resume import ResumeRecord

        leaves = getattr(self.sink, "sinks", None) or [self.sink]
        files = [s for s in leaves if callable(getattr(s, "resume_point", None)) and getattr(s, "path", None)]
        return ResumeRecord(files[0].path) if len(files) == 1 else None

    def _recipe(self) -> dict:
        from .resume import source_identity, stage_identity

        return {"input": source_identity(self.source), "stages": [stage_identity(s) for s in self.stages],
                "options": self.recipe_options}

    def _snapshot_lag(self) -> int:
        leaves = getattr(self.sink, "sinks", None) or [self.sink]
        gop = max([int(getattr(s, "gop", 0) or 0) for s in leaves] + [120])
        return 2 * gop + 2 * self.snapshot_every + 64

    def _seek(self, index: int) -> None:
        try:
            self.source.seek(index)
        except NotImplementedError:
            pass  # the reader skips frames before ``index`` instead

    def live_figures(self) -> dict:
        """The figures of a run in progress (each worker's counters and latency, end-to-end latency), for
        live displays such as the studio; ``{}`` before the run starts. Safe to call from any thread."""
        metrics = getattr(self, "_metrics", None)
        if not metrics:
            return {}
        return {"live": self._live, "workers": {m.name: m.as_dict() for m in metrics},
                "end_to_end_ms": self._e2e.summary()}

    def _stage_reports(self) -> dict:
        """Each worker's metrics, plus the counters a stage keeps itself (``Stage.counters``)."""
        reports = {m.name: m.as_dict() for m in self._metrics}
        for name, stage in zip(self.stage_names, self.stages):
            counters = getattr(stage, "counters", None)
            if isinstance(counters, dict) and counters:
                reports[name]["counters"] = dict(counters)
        return reports

    def _build_report(self, live, wall, rss_samples, budget, write_from, stopped) -> RunReport:
        out = self._metrics[-1].frames_out
        return RunReport(
            mode="live" if live else "offline",
            frames_in=self._metrics[0].frames_out,
            frames_out=out,
            dropped=sum(m.dropped for m in self._metrics),
            wall_s=round(wall, 4),
            fps=round(out / wall, 3) if wall > 0 else 0.0,
            end_to_end_ms=self._e2e.summary(),
            stages=self._stage_reports(),
            rss_mb={
                "start": round(rss_samples[0], 1),
                "end": round(rss_samples[-1], 1),
                "peak": round(max(max(rss_samples), peak_rss_mb() if len(rss_samples) < 3 else 0), 1),
                "samples": [round(x, 1) for x in rss_samples[-600:]],
            },
            threads=budget.as_dict(),
            resumed_from=write_from,
            stopped=stopped,
        )


def _call_user(fn, what: str, who: str):
    """Run an open/seek call; a non-VidsynthError becomes one naming what could not be done."""
    try:
        return fn()
    except VidsynthError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        err = VidsynthError(f"could not {what} ({who}): {type(exc).__name__}: {exc}")
        err.__cause__ = exc
        raise err from exc


def _unique_names(stages) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for stage in stages:
        base = stage.name
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return names


def _as_source(source):
    if isinstance(source, str):
        from vidsynth.streams import open_source

        return open_source(source)
    return source


def _as_sink(sink):
    if sink is None:
        return _DiscardSink()
    if isinstance(sink, str):
        from vidsynth.streams import open_sink

        return open_sink(sink)
    if isinstance(sink, (list, tuple)):
        sinks = [_as_sink(s) for s in sink]
        return sinks[0] if len(sinks) == 1 else FanOutSink(sinks)
    return sink


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total, enabled: bool, live: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="frame",
        desc="live" if live else "render",
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5,
        leave=True,
    )
