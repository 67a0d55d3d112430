"""One Euro smoothing of landmark tracks and global pose normalisation."""

from fractions import Fraction

import numpy as np

from vidsynth.engine.extract import (
    LandmarkSmoother,
    OneEuroFilter,
    PoseKeypoints,
    PoseNormalizer,
    body_stats,
    normalize_pose,
)
from vidsynth.streams.frame import Frame


def test_one_euro_reduces_jitter_and_keeps_up():
    rng = np.random.default_rng(1)
    t = np.arange(300) / 30.0
    truth = np.stack([100 + 40 * np.sin(0.5 * t), 80 + 0 * t], 1)            # slow motion in x, still in y
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.01)
    out = np.array([f(noisy[i:i + 1], t[i])[0] for i in range(len(t))])
    raw_err = np.abs(noisy - truth)[30:].mean()
    err = np.abs(out - truth)[30:].mean()
    assert err < 0.6 * raw_err
    # frame-to-frame jitter drops a lot
    assert np.abs(np.diff(out[30:, 1])).mean() < 0.3 * np.abs(np.diff(noisy[30:, 1])).mean()


def test_one_euro_reset_and_missing_points():
    f = OneEuroFilter(min_cutoff=0.5)
    f(np.array([[0.0, 0.0], [5.0, 5.0]]), 0.0)
    moved = f(np.array([[100.0, 100.0], [5.0, 5.0]]), 1 / 30)
    assert moved[0, 0] < 50                      # heavily smoothed jump
    f.reset()
    assert f(np.array([[100.0, 100.0], [5.0, 5.0]]), 2 / 30)[0, 0] == 100.0   # fresh start after reset
    # a point that goes missing forgets its state: it comes back exactly where it is seen
    f(np.array([[100.0, 100.0], [0.0, 0.0]]), 3 / 30, valid=np.array([True, False]))
    back = f(np.array([[100.0, 100.0], [60.0, 60.0]]), 4 / 30)
    assert back[1].tolist() == [60.0, 60.0]


def test_smoother_stage_resets_on_discontinuity():
    stage = LandmarkSmoother(min_cutoff=0.5, beta=0.0)

    def frame(i, x, disc=False):
        body = np.zeros((25, 3), np.float32)
        body[1] = (x, 50, 1.0)
        return Frame(i, i, Fraction(1, 30), None, conditions={"pose": PoseKeypoints(body=body)}, discontinuity=disc)

    stage(frame(0, 10))
    smoothed = stage(frame(1, 110)).conditions["pose"].body[1, 0]
    assert 10 < smoothed < 60
    after_cut = stage(frame(2, 300, disc=True)).conditions["pose"].body[1, 0]
    assert after_cut == 300
    empty = stage(Frame(3, 3, Fraction(1, 30), None, conditions={"pose": PoseKeypoints.empty()}))
    assert empty.conditions["pose"].is_empty


def standing(x, ankle_y, height):
    body = np.zeros((25, 3), np.float32)
    body[0] = (x, ankle_y - height, 1)        # nose at the top
    body[1] = (x, ankle_y - 0.85 * height, 1)
    body[8] = (x, ankle_y - 0.5 * height, 1)
    body[11] = (x - 10, ankle_y, 1)
    body[14] = (x + 10, ankle_y, 1)
    return PoseKeypoints(body=body)


def test_global_pose_normalisation():
    # source: small person walking from far (ankle row 200, 100 px tall) to near (row 400, 200 px)
    src = [standing(320, 200 + 20 * i, 100 + 10 * i) for i in range(11)]
    # target: filmed higher and bigger (far: row 300, 150 px; near: row 460, 300 px), centred at x=500
    tgt = [standing(500, 300 + 16 * i, 150 + 15 * i) for i in range(11)]
    s, t = body_stats(src, percentile=0), body_stats(tgt, percentile=0)
    far = normalize_pose(src[0], s, t)
    assert abs(far.body[11, 1] - 300) < 2 and abs((far.body[11, 1] - far.body[0, 1]) - 150) < 2
    near = normalize_pose(src[-1], s, t)
    assert abs(near.body[14, 1] - 460) < 2 and abs((near.body[14, 1] - near.body[0, 1]) - 300) < 2
    assert abs(near.body[1, 0] - 500) < 1e-3
    assert near.body[2, 2] == 0 and near.body[2, 0] == 0                       # missing stays missing
    stage = PoseNormalizer(target=t, source=s)
    f = stage(Frame(0, 0, Fraction(1, 30), None, conditions={"pose": src[5]}))
    assert abs(f.conditions["pose"].body[11, 1] - 380) < 2
