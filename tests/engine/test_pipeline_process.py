"""ProcessStage: a stage in a process of its own (its own GIL), driven like any other stage."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest

from vidsynth.engine import Pipeline, PipelineError, Stage
from vidsynth.engine.pipeline import ProcessStage
from vidsynth.errors import VidsynthError
from vidsynth.streams.base import Sink, Source, StreamInfo
from vidsynth.streams.frame import Frame

TB = Fraction(1, 30)


class Frames(Source):
    def __init__(self, n):
        self.n = n

    def open(self):
        return StreamInfo(8, 8, Fraction(30), TB, frame_count=self.n)

    def __iter__(self):
        for k in range(self.n):
            yield Frame(index=k, pts=k, time_base=TB, image=np.full((8, 8, 3), k, np.uint8), discontinuity=k == 0)


class Collect(Sink):
    def __init__(self):
        self.frames = []

    def write(self, frame):
        self.frames.append(frame)


class WhereAmI(Stage):
    """Records the process it runs in and counts its resets (state that lives in the child)."""

    warmup_frames = 2

    def __init__(self, fail_at=None, user_error=False):
        self.fail_at, self.user_error = fail_at, user_error
        self.resets = 0

    def reset(self):
        self.resets += 1

    def process(self, frame):
        if frame.index == self.fail_at:
            if self.user_error:
                raise VidsynthError("expected a label picture, found a photo; pass --label-mode color")
            raise ValueError("bad pixel")
        frame.conditions["pid"] = os.getpid()
        frame.conditions["resets"] = self.resets
        return frame.with_image(frame.image + 1)


def test_a_process_stage_keeps_order_and_runs_elsewhere():
    sink = Collect()
    stage = ProcessStage(WhereAmI)
    assert stage.warmup_frames == 2  # taken from the class, for resume
    report = Pipeline(Frames(12), [stage], sink, progress=False).run()
    assert [f.index for f in sink.frames] == list(range(12))
    assert all(int(f.image[0, 0, 0]) == f.index + 1 for f in sink.frames)
    pids = {f.conditions["pid"] for f in sink.frames}
    assert len(pids) == 1 and os.getpid() not in pids
    assert sink.frames[-1].conditions["resets"] == 1  # the child's stage reset on the first frame's flag
    assert report.stages["WhereAmI"]["frames_out"] == 12
    assert stage._process is None  # closed: the child is gone


def test_errors_in_the_child_name_the_stage_and_frame():
    with pytest.raises(PipelineError, match=r"stage 'WhereAmI' failed on frame 3: RuntimeError: ValueError: bad pixel"):
        Pipeline(Frames(8), [ProcessStage(WhereAmI, fail_at=3)], Collect(), progress=False).run()
    with pytest.raises(VidsynthError, match="^expected a label picture, found a photo; pass --label-mode color$"):
        Pipeline(Frames(8), [ProcessStage(WhereAmI, fail_at=2, user_error=True)], Collect(), progress=False).run()
