"""Everybody Dance Now's global pose normalisation: a source dancer lands on the target's ankle line and height."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from vidsynth.engine.extract.keypoints import PoseKeypoints
from vidsynth.engine.extract.normalize import BodyStats, PoseNormalizer, body_stats
from vidsynth.errors import VidsynthError
from vidsynth.streams.frame import Frame


def person(x, ankle_y, height):
    """A standing body: nose at the top, neck, shoulders, hips, knees, ankles (BODY_25 indices)."""
    body = np.zeros((25, 3), np.float32)
    for index, dx, up in ((0, 0, 1.0), (1, 0, 0.82), (2, -0.12, 0.8), (5, 0.12, 0.8), (8, 0, 0.5),
                          (9, -0.06, 0.5), (12, 0.06, 0.5), (10, -0.06, 0.27), (13, 0.06, 0.27),
                          (11, -0.06, 0.0), (14, 0.06, 0.0)):
        body[index] = (x + dx * height, ankle_y - up * height, 1.0)
    return PoseKeypoints(body=body)


def ankle_and_height(pose):
    b = pose.body
    ankle = max(b[11, 1], b[14, 1])
    return ankle, ankle - b[0, 1], (b[8, 0])


def test_twice_as_tall_and_offset_sideways_lands_on_the_target():
    """Target: walks from row 300 (120 px tall) to row 420 (180 px) around column 200. Source: twice the
    target's height (far: 240 px, near: 300 px, so the scale changes with depth), 400 px to the side,
    ankles 150 rows lower. Every source frame lands on
    the target's ankle line and height at the same relative depth, within 5 %, centred on the target."""
    target = [person(200 + 5 * np.sin(i), 300 + 12 * i, 120 + 6 * i) for i in range(11)]
    source = [person(600 + 5 * np.sin(i), 450 + 24 * i, 240 + 6 * i) for i in range(11)]
    stage = PoseNormalizer(body_stats(target), calibration_frames=11)
    out = []
    for i, pose in enumerate(source):  # the source's statistics come from its own frames, as in a render
        frame = stage(Frame(index=i, pts=i, time_base=Fraction(1, 30), image=None, conditions={"pose": pose}))
        out.append(frame.conditions["pose"])
    assert stage.calibrated
    # after calibration, run the clip again: every frame against the settled statistics
    for i, pose in enumerate(source):
        moved = stage(Frame(index=i, pts=i, time_base=Fraction(1, 30), image=None,
                            conditions={"pose": pose})).conditions["pose"]
        ankle, height, hip_x = ankle_and_height(moved)
        want_ankle, want_height = 300 + 12 * i, 120 + 6 * i
        assert abs(ankle - want_ankle) <= 0.05 * want_height, (i, ankle, want_ankle)
        assert abs(height - want_height) <= 0.05 * want_height, (i, height, want_height)
        assert abs(hip_x - 200) <= 0.05 * want_height + 5, (i, hip_x)


def test_calibration_freezes_the_source_statistics():
    target = body_stats([person(200, 300 + 12 * i, 120 + 6 * i) for i in range(11)])
    stage = PoseNormalizer(target, calibration_frames=5)
    near = person(600, 690, 360)
    for i in range(5):
        stage(Frame(index=i, pts=i, time_base=Fraction(1, 30), image=None,
                    conditions={"pose": person(600, 450 + 60 * i, 240 + 30 * i)}))
    before = stage(Frame(index=5, pts=5, time_base=Fraction(1, 30), image=None,
                         conditions={"pose": near})).conditions["pose"].body.copy()
    for i in range(20):  # a long stretch standing far away must not move the calibrated scale
        stage(Frame(index=6 + i, pts=6 + i, time_base=Fraction(1, 30), image=None,
                    conditions={"pose": person(600, 450, 240)}))
    after = stage(Frame(index=30, pts=30, time_base=Fraction(1, 30), image=None,
                        conditions={"pose": near})).conditions["pose"].body
    np.testing.assert_allclose(after, before)
    stage.reset()
    assert not stage.calibrated


def test_stats_round_trip_and_bad_values():
    stats = BodyStats(200.0, 300.0, 100.0, 150.0, 320.0)
    assert BodyStats.from_dict(stats.as_dict()) == stats
    assert stats.scaled(0.5, 2.0) == BodyStats(400.0, 600.0, 200.0, 300.0, 160.0)
    with pytest.raises(VidsynthError, match="near_height"):
        BodyStats.from_dict({"far_ankle": 1})
    with pytest.raises(VidsynthError, match="positive"):
        BodyStats.from_dict({**stats.as_dict(), "far_height": 0})


def test_stats_from_few_far_apart_rows():
    """Two far-apart ankle rows put the 5th percentile more than a band away from both (a real crash)."""
    stats = body_stats([person(100, 100, 50), person(100, 300, 80), person(100, 300, 80)])
    assert stats.far_height == 50 and stats.near_height == 80
