"""Live mode, latest-frame-wins, in simulated time.

A camera at 30 fps feeds a stage that needs 100 ms a frame. Time is a counter the test advances, and
the camera and the stage move only when the test lets them, so every drop and every latency is known
exactly: no sleeps, no timing assertions.
"""

from __future__ import annotations

import threading
from fractions import Fraction

import numpy as np

from vidsynth.engine import Pipeline, Stage
from vidsynth.streams.base import Sink, Source, StreamInfo
from vidsynth.streams.frame import Frame

TB = Fraction(1, 30)
FRAME_NS = 33_333_333  # one frame at 30 fps, in simulated nanoseconds
WAIT = 10  # seconds a step of the test may take before it is a hang


class SimulatedClock:
    def __init__(self):
        self.now = 0

    def __call__(self) -> int:
        return self.now


class Progress:
    """A value the test waits on: how far a worker got."""

    def __init__(self, initial=-1):
        self.value = initial
        self._cond = threading.Condition()

    def set(self, value):
        with self._cond:
            self.value = value
            self._cond.notify_all()

    def wait_for(self, value):
        with self._cond:
            assert self._cond.wait_for(lambda: self.value >= value, WAIT), f"stuck before {value}"


class SimulatedCamera(Source):
    """Frame k is captured (stamped with the simulated time) when the test calls ``tick()``."""

    def __init__(self, clock, n):
        self.clock, self.n = clock, n
        self.ticks = threading.Semaphore(0)
        self.asked = Progress()  # the reader asked for frame k: frames before k are handed over

    def open(self):
        return StreamInfo(8, 8, Fraction(30), TB, live=True)

    def __iter__(self):
        for k in range(self.n):
            self.asked.set(k)
            assert self.ticks.acquire(timeout=WAIT)
            image = np.full((8, 8, 3), k, np.uint8)
            yield Frame(index=k, pts=k, time_base=TB, image=image, capture_ns=self.clock())
        self.asked.set(self.n)

    def tick(self):
        self.ticks.release()


class SimulatedSlowStage(Stage):
    """Takes as long as the test says: ``finish()`` ends the frame in progress."""

    def __init__(self):
        self.started = Progress()
        self.go = threading.Semaphore(0)
        self.seen = []

    def process(self, frame):
        self.seen.append(frame.index)
        self.started.set(frame.index)
        assert self.go.acquire(timeout=WAIT)
        return frame

    def finish(self):
        self.go.release()


class RecordingSink(Sink):
    def __init__(self):
        self.indices = []
        self.written = Progress()
        self.closed = False

    def write(self, frame):
        self.indices.append(frame.index)
        self.written.set(frame.index)

    def close(self):
        self.closed = True


def test_live_latest_frame_wins_drops_stale_frames_and_queues_never_grow():
    clock = SimulatedClock()
    n = 30
    camera, stage, sink = SimulatedCamera(clock, n), SimulatedSlowStage(), RecordingSink()
    pipeline = Pipeline(camera, [stage], sink, mode="auto", progress=False, clock=clock)
    result = {}
    runner = threading.Thread(target=lambda: result.setdefault("report", pipeline.run()))
    runner.start()

    # The camera delivers a frame every 33.3 ms; the stage needs 3 frame times (100 ms) per frame.
    for k in range(n):
        clock.now = k * FRAME_NS
        camera.tick()
        camera.asked.wait_for(k + 1)  # frame k is in the stage's slot (or taken by the stage)
        if k > 0 and k % 3 == 0:
            stage.finish()  # the frame started 3 ticks ago is done now
            sink.written.wait_for(k - 3)
        if k % 3 == 0:
            stage.started.wait_for(k)  # a free stage takes the newest frame at once
    clock.now = (n + 1) * FRAME_NS
    stage.finish()  # frame 27
    sink.written.wait_for(n - 3)
    stage.finish()  # frame 29, the last one still in the slot when the camera ended
    runner.join(WAIT)
    assert not runner.is_alive()
    report = result["report"]

    processed = list(range(0, n, 3)) + [n - 1]
    assert stage.seen == processed
    assert sink.indices == processed
    assert sink.closed
    assert report.mode == "live"
    # 2 of every 3 frames were replaced in the stage's slot before it could take them, plus frame 28.
    stage_stats = report.stages["SimulatedSlowStage"]
    assert stage_stats["dropped"] == n - len(processed) == 19
    assert report.dropped == 19 and report.frames_in == n and report.frames_out == len(processed)
    # Queues never grow: every hand-over held at most one frame.
    for name in ("SimulatedSlowStage", "sink"):
        assert report.stages[name]["queue_bound"] == 1
        assert report.stages[name]["queue_max"] <= 1
    # End-to-end latency in simulated time: a frame captured at tick k is written at tick k + 3
    # (100 ms), except the last two, which wait for the end of the run.
    e2e = report.end_to_end_ms
    assert e2e["count"] == len(processed)
    assert e2e["p50"] == round(3 * FRAME_NS / 1e6, 3)


def test_offline_mode_on_the_same_camera_keeps_every_frame():
    clock = SimulatedClock()
    n = 9
    camera, sink = SimulatedCamera(clock, n), RecordingSink()
    for _ in range(n):
        camera.tick()
    report = Pipeline(camera, [], sink, mode="offline", progress=False, clock=clock).run()
    assert sink.indices == list(range(n)) and report.dropped == 0 and report.mode == "offline"
