"""FFmpeg's manners for sources: a frame range (-ss/-t/-frames) and real-time pacing (-re) of a file."""

import time

import pytest

from vidsynth.engine import FunctionStage, Pipeline
from vidsynth.errors import VidsynthError
from vidsynth.streams.null import NullSink
from vidsynth.streams.synthetic.clip import SyntheticClip, read_stamp
from vidsynth.streams.timing import FrameRange, RealtimePacer, check_range, shape_source


def stamps(source):
    source.open()
    return [read_stamp(f.image) for f in source]


def test_start_and_duration_keep_the_frames_of_that_span_numbered_from_zero():
    source = FrameRange(SyntheticClip(n_frames=90, fps=30), start=1.0, duration=0.5)
    assert source.open().frame_count == 15
    frames = list(source)
    assert [read_stamp(f.image) for f in frames] == list(range(30, 45))
    assert [f.index for f in frames] == list(range(15))
    assert frames[0].discontinuity and not frames[1].discontinuity
    assert frames[0].time == pytest.approx(1.0)  # timestamps kept: the sink shifts them (and the audio) to 0


def test_frames_counts_from_the_start_and_a_seek_counts_in_the_range():
    assert stamps(FrameRange(SyntheticClip(n_frames=90), frames=7)) == list(range(7))
    source = FrameRange(SyntheticClip(n_frames=90), start=2.0, frames=10)
    source.seek(4)  # a resume of an output that holds 4 frames of the range
    assert stamps(source) == list(range(64, 70))


def test_variable_frame_rate_range_follows_timestamps_not_counts():
    clip = SyntheticClip(n_frames=60, fps=30, vfr=True, seed=3)
    clip.open()
    times = [f.time for f in clip]
    kept = list(FrameRange(SyntheticClip(n_frames=60, fps=30, vfr=True, seed=3), start=0.5, duration=0.4))
    expected = [i for i, t in enumerate(times) if 0.5 - 1e-9 <= t - times[0] < 0.9 - 1e-9]
    assert [read_stamp(f.image) for f in kept] == expected


def test_bad_ranges_and_a_start_past_the_end_are_clear_errors():
    for kwargs, words in (({"start": -1}, "--start"), ({"duration": 0}, "--duration"), ({"frames": 0}, "--frames")):
        with pytest.raises(VidsynthError, match=words):
            check_range(**kwargs)
    with pytest.raises(VidsynthError, match="found none: the input has 0.97 s"):
        list(FrameRange(SyntheticClip(n_frames=30, fps=30), start=5))


def test_pacer_waits_for_each_frame_time():
    now = [100.0]
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        now[0] += seconds

    paced = RealtimePacer(SyntheticClip(n_frames=10, fps=20), clock=lambda: now[0], sleep=sleep)
    assert paced.open().live
    assert len(list(paced)) == 10
    assert sum(waits) == pytest.approx(9 / 20) and len(waits) == 9


def test_a_file_in_a_live_run_is_paced_and_not_dropped():
    """Live mode with a file standing in for a camera: paced, a stage faster than the camera drops nothing;
    read as fast as it decodes, most frames would be dropped as stale."""

    def run(realtime):
        slow = FunctionStage(lambda f: (time.sleep(0.005), f)[1], name="slow")
        source = shape_source(SyntheticClip(n_frames=24, fps=20), realtime=realtime, live=True)
        return Pipeline(source, [slow], NullSink(), mode="live", progress=False).run()

    paced, unpaced = run(None), run(False)
    # paced: the stage (5 ms) keeps up with a 20 fps camera; one late wake-up on a loaded machine is allowed
    assert paced.dropped <= 1 and paced.frames_out >= 23
    assert unpaced.dropped >= 10 and unpaced.frames_out <= 14
    assert isinstance(shape_source(SyntheticClip(), live=True), RealtimePacer)
    assert not isinstance(shape_source(SyntheticClip(), live=False), RealtimePacer)
