"""The pipeline runtime with small in-test sources, stages and sinks: order, backpressure, errors, stops."""

from __future__ import annotations

import json
import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from vidsynth.engine import FunctionStage, Pipeline, PipelineError, Stage
from vidsynth.errors import VidsynthError
from vidsynth.streams.base import Sink, Source, StreamInfo
from vidsynth.streams.frame import Frame

TB = Fraction(1, 30)


class CountingSource(Source):
    """``n`` tiny frames whose pixels hold their index; counts what was produced and where it was sought."""

    def __init__(self, n=20, live=False, size=8):
        self.n, self.live, self.size = n, live, size
        self.produced = 0
        self.sought = None
        self.closed = False

    def open(self):
        return StreamInfo(self.size, self.size, Fraction(30), TB, frame_count=self.n, live=self.live)

    def seek(self, index):
        self.sought = index

    def __iter__(self):
        for k in range(self.sought or 0, self.n):
            self.produced += 1
            image = np.full((self.size, self.size, 3), k % 256, np.uint8)
            yield Frame(index=k, pts=2 * k, time_base=TB, image=image)

    def close(self):
        self.closed = True


class ListSink(Sink):
    def __init__(self, gate: threading.Event | None = None):
        self.frames: list[Frame] = []
        self.opened = self.closed = False
        self.gate = gate

    def open(self, info):
        self.opened = True

    def write(self, frame):
        if self.gate is not None:
            assert self.gate.wait(10)
        self.frames.append(frame)

    def close(self):
        self.closed = True


def test_offline_keeps_every_frame_in_order_through_uneven_stages():
    rng = np.random.default_rng(0)
    delays = rng.uniform(0, 0.002, size=(3, 60))

    def jitter(row):
        def fn(frame):
            time.sleep(delays[row, frame.index])
            return frame.with_image(frame.image + 1)
        return FunctionStage(fn, name=f"add{row}")

    source, sink = CountingSource(60), ListSink()
    report = Pipeline(source, [jitter(0), jitter(1), jitter(2)], sink, queue_size=2, progress=False).run()
    assert [f.index for f in sink.frames] == list(range(60))
    assert [f.pts for f in sink.frames] == [2 * k for k in range(60)]
    assert all(int(f.image[0, 0, 0]) == (f.index % 256) + 3 for f in sink.frames)
    assert report.frames_in == report.frames_out == 60 and report.dropped == 0
    assert report.mode == "offline"
    assert sink.opened and sink.closed and source.closed
    for name in ("add0", "add1", "add2", "sink"):
        assert report.stages[name]["queue_max"] <= 2
        assert report.stages[name]["latency_ms"]["count"] == 60


def test_offline_backpressure_holds_the_reader_back():
    gate = threading.Event()
    source, sink = CountingSource(100), ListSink(gate=gate)
    pipeline = Pipeline(source, [lambda f: f], sink, queue_size=2, progress=False)
    runner = threading.Thread(target=pipeline.run)
    runner.start()
    # sink holds frame 0, channel 1 holds 2, the stage holds 1 waiting to put, channel 0 holds 2,
    # the reader holds 1 waiting to put: the source can be at most 7 frames ahead.
    deadline = time.monotonic() + 5
    while source.produced < 7 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert source.produced == 7
    gate.set()
    runner.join(10)
    assert not runner.is_alive()
    assert [f.index for f in sink.frames] == list(range(100))


class Boom(Stage):
    def __init__(self, at, exc):
        self.at, self.exc = at, exc
        self.closed = False

    def process(self, frame):
        if frame.index == self.at:
            raise self.exc
        return frame

    def close(self):
        self.closed = True


def test_a_failing_stage_stops_the_run_with_one_error_naming_stage_and_frame():
    sink, boom = ListSink(), Boom(5, ZeroDivisionError("division by zero"))
    with pytest.raises(PipelineError) as info:
        Pipeline(CountingSource(50), [lambda f: f, boom], sink, progress=False).run()
    err = info.value
    assert isinstance(err, VidsynthError)
    assert err.stage == "Boom" and err.frame_index == 5
    assert "stage 'Boom'" in str(err) and "frame 5" in str(err) and "ZeroDivisionError" in str(err)
    assert sink.closed and boom.closed
    assert [f.index for f in sink.frames] == list(range(len(sink.frames)))
    assert len(sink.frames) <= 5


def test_a_user_error_in_a_stage_keeps_its_own_message():
    with pytest.raises(VidsynthError, match="^expected 19 labels, found 34; pass --remap$"):
        Pipeline(CountingSource(10), [Boom(2, VidsynthError("expected 19 labels, found 34; pass --remap"))],
                 ListSink(), progress=False).run()


def test_a_failing_source_or_sink_is_named():
    class BadSource(CountingSource):
        def __iter__(self):
            yield from list(super().__iter__())[:3]
            raise OSError("device unplugged")

    class BadSink(ListSink):
        def write(self, frame):
            if frame.index == 4:
                raise RuntimeError("disk full")
            super().write(frame)

    with pytest.raises(PipelineError, match=r"the source \(BadSource\) failed on frame 3: OSError"):
        Pipeline(BadSource(10), [], ListSink(), progress=False).run()
    sink = BadSink()
    with pytest.raises(PipelineError, match=r"the sink \(BadSink\) failed on frame 4: RuntimeError: disk full"):
        Pipeline(CountingSource(10), [], sink, progress=False).run()
    assert sink.closed


def test_open_errors_are_reported_before_any_thread_starts():
    class Unopenable(CountingSource):
        def open(self):
            raise FileNotFoundError("nope.mp4")

    with pytest.raises(VidsynthError, match="could not open the input"):
        Pipeline(Unopenable(), [], ListSink(), progress=False).run()


def test_stop_event_ends_cleanly_and_writes_every_frame_read():
    stop = threading.Event()

    def stopper(frame):
        if frame.index == 10:
            stop.set()
        time.sleep(0.001)
        return frame

    source, sink = CountingSource(10_000), ListSink()
    report = Pipeline(source, [stopper], sink, stop_event=stop, progress=False).run()
    assert report.stopped == "stop"
    assert sink.closed and source.closed
    assert 10 < report.frames_out < 10_000
    assert report.frames_out == report.frames_in  # graceful: frames in flight are finished and written
    assert [f.index for f in sink.frames] == list(range(report.frames_out))


def test_ctrl_c_stops_cleanly_closes_the_sink_and_raises_keyboardinterrupt():
    import _thread

    def interrupt(frame):
        if frame.index == 10:
            _thread.interrupt_main()
        time.sleep(0.001)
        return frame

    source, sink = CountingSource(10_000), ListSink()
    pipeline = Pipeline(source, [interrupt], sink, progress=False)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run()
    assert sink.closed
    assert pipeline.report.stopped == "interrupt"
    assert pipeline.report.frames_out == pipeline.report.frames_in < 10_000


def test_watchdog_turns_a_silent_source_into_an_error():
    release = threading.Event()

    class StalledSource(CountingSource):
        def __iter__(self):
            yield from list(super().__iter__())[:2]
            release.wait(30)  # a camera that stopped sending

    sink = ListSink()
    t0 = time.monotonic()
    try:
        with pytest.raises(PipelineError, match="no frame from the input StalledSource for 0.3 s"):
            Pipeline(StalledSource(10), [], sink, watchdog_s=0.3, progress=False).run()
    finally:
        release.set()
    assert time.monotonic() - t0 < 5
    assert sink.closed and len(sink.frames) == 2


def test_resume_seeks_before_the_resume_point_warms_up_and_writes_only_new_frames():
    class ResumableSink(ListSink):
        def resume_point(self):
            return 10

    class Warm(Stage):
        warmup_frames = 3

        def __init__(self):
            self.seen, self.resets = [], 0

        def reset(self):
            self.resets += 1

        def process(self, frame):
            self.seen.append(frame.index)
            return frame

    source, sink, warm = CountingSource(20), ResumableSink(), Warm()
    report = Pipeline(source, [warm], sink, resume=True, progress=False).run()
    assert source.sought == 7
    assert warm.seen == list(range(7, 20)) and warm.resets == 1
    assert [f.index for f in sink.frames] == list(range(10, 20))
    assert report.resumed_from == 10


def test_resume_into_a_sink_that_cannot_resume_is_a_user_error():
    with pytest.raises(VidsynthError, match="--resume needs an output that can be resumed"):
        Pipeline(CountingSource(3), [], ListSink(), resume=True, progress=False).run()


def test_metrics_json_has_the_figures(tmp_path):
    path = tmp_path / "m" / "metrics.json"
    Pipeline(CountingSource(12), [FunctionStage(lambda f: f, name="identity")], ListSink(),
             metrics_path=str(path), progress=False).run()
    data = json.loads(path.read_text())
    assert data["frames_in"] == data["frames_out"] == 12
    assert set(data["stages"]) == {"source", "identity", "sink"}
    lat = data["stages"]["identity"]["latency_ms"]
    assert lat["count"] == 12 and lat["p50"] <= lat["p95"]
    assert data["end_to_end_ms"]["count"] == 12
    assert data["rss_mb"]["start"] > 0 and data["threads"]["cores"] >= 1
    assert "summary" in data["threads"]


def test_filtered_frames_are_counted_not_written():
    sink = ListSink()
    report = Pipeline(CountingSource(10), [lambda f: f if f.index % 2 else None], sink, progress=False).run()
    assert [f.index for f in sink.frames] == [1, 3, 5, 7, 9]
    assert report.stages["<lambda>"]["filtered"] == 5


def test_list_of_sinks_writes_to_each_and_duplicate_stage_names_are_told_apart():
    a, b = ListSink(), ListSink()
    s = FunctionStage(lambda f: f, name="same")
    report = Pipeline(CountingSource(4), [s, FunctionStage(lambda f: f, name="same")], [a, b], progress=False).run()
    assert len(a.frames) == len(b.frames) == 4 and a.closed and b.closed
    assert "same" in report.stages and "same#2" in report.stages


def test_seed_makes_randomness_repeatable():
    import random

    import torch

    def draw(_):
        return (random.random(), float(np.random.rand()), float(torch.rand(1)))

    from vidsynth.engine import seed_everything

    seed_everything(7)
    first = draw(None)
    seed_everything(7)
    assert draw(None) == first


def test_watchdog_catches_a_live_source_that_never_sends_but_lets_a_file_seek_slowly():
    release = threading.Event()

    class SilentCamera(CountingSource):
        def __iter__(self):
            release.wait(30)
            yield from ()

    try:
        with pytest.raises(PipelineError, match="no frame from the input SilentCamera"):
            Pipeline(SilentCamera(5, live=True), [], ListSink(), watchdog_s=0.3, progress=False).run()
    finally:
        release.set()

    class SlowSeekFile(CountingSource):
        def __iter__(self):
            time.sleep(0.6)  # decoding up to a far resume point
            yield from super().__iter__()

    sink = ListSink()
    Pipeline(SlowSeekFile(5), [], sink, watchdog_s=0.3, progress=False).run()
    assert len(sink.frames) == 5
