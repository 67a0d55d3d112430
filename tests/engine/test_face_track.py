"""The stable face crop (no jitter, no zoom with speech, little lag) and relative retargeting."""

from fractions import Fraction

import numpy as np
import pytest

from vidsynth.engine.extract.face_track import FaceFromArrays, FaceTracker, StableFaceBox, rigid_frame
from vidsynth.engine.fitting import keypoint_bbox
from vidsynth.engine.retarget import RelativeRetarget, retarget_relative
from vidsynth.streams.frame import Frame
from vidsynth.streams.synthetic.face import FaceConfig, FaceWorld


def _track(faces, fps=25.0, size=256):
    box = StableFaceBox()
    out = []
    for i, f in enumerate(faces):
        p = box.update(f, i / fps, (size, size), (256, 256))
        x0, y0, x1, y1 = p.box
        out.append(((x0 + x1) / 2, (y0 + y1) / 2, y1 - y0))
    return np.array(out, float)


def _hf(track):
    """Frame-to-frame second differences: what jitter is made of (a smooth motion has almost none)."""
    return np.abs(np.diff(track, 2, axis=0)).mean(0)


def test_a_talking_head_with_noisy_landmarks_gives_a_steady_crop():
    world = FaceWorld(FaceConfig(width=256, height=256, motion=0.3, seed=4))
    rng = np.random.default_rng(0)
    faces = []
    for i in range(120):
        f = world.frame(i)["face"].copy()
        f[:, :2] += rng.normal(0, 1.0, (68, 2))  # a detector's noise
        faces.append(f)
    stable = _track(faces)
    raw = []
    for f in faces:
        x0, y0, x1, y1 = keypoint_bbox(f)
        raw.append(((x0 + x1) / 2, (y0 + y1) / 2, (y1 - y0) * 1.4))
    raw = np.array(raw)
    # the crop is at least 2.5x steadier than the landmark box in centre and 10x in size (no zoom pumping
    # with the mouth: the raw box's height follows the jaw)
    assert (_hf(stable)[:2] * 2.5 < _hf(raw)[:2]).all()
    assert _hf(stable)[2] * 10 < _hf(raw)[2]
    assert stable[:, 2].std() < 0.02 * stable[:, 2].mean()


def test_a_deliberate_move_is_followed_within_two_frames_and_an_approach_zooms():
    world = FaceWorld(FaceConfig(width=256, height=256, motion=0, step_at=30, step=0.2, frames=60))
    tr = _track([world.frame(i)["face"] for i in range(60)])
    covered = (tr[30:, 0] - tr[29, 0]) / (tr[-1, 0] - tr[29, 0])
    assert covered[2] >= 0.9
    near = FaceWorld(FaceConfig(width=256, height=256, motion=0, approach=0.4, frames=200))
    tr = _track([near.frame(i)["face"] for i in range(200)])
    assert tr[50, 2] > 1.25 * tr[0, 2]  # the face grew 40 % by frame 50: the crop follows it


def test_the_tracker_stage_holds_the_crop_and_counts_missing_faces():
    world = FaceWorld(FaceConfig(width=128, height=128, motion=0))
    tracker = FaceTracker((64, 64))
    to_landmarks = FaceFromArrays()
    crops = []
    for i in range(6):
        f = world.frame(i)
        conditions = {} if i == 3 else {"face": f["face"]}
        frame = to_landmarks(Frame(index=i, pts=i, time_base=Fraction(1, 25), image=f["image"], conditions=conditions))
        frame = tracker(frame)
        crops.append(frame.conditions["face_crop"].box)
    assert tracker.counters == {"frames": 6, "no_face": 1, "face_too_small": 0}
    assert crops[3] == crops[2]  # held
    centre, size = rigid_frame(world.frame(0)["face"])
    x0, y0, x1, y1 = crops[0]
    assert x0 < centre[0] < x1 and y0 < centre[1] < y1 and (y1 - y0) > 4 * size


def _mouth_ratio(p):
    return np.linalg.norm(p[66, :2] - p[62, :2]) / np.linalg.norm(p[64, :2] - p[60, :2])


def _eye_closure(p, neutral):
    gap = lambda q: np.linalg.norm(q[[40, 41], :2].mean(0) - q[[37, 38], :2].mean(0))  # noqa: E731
    return gap(p) / gap(neutral)


def test_relative_retargeting_moves_the_target_with_the_drivers_expression_and_keeps_its_shape():
    target_world = FaceWorld(FaceConfig(width=256, height=256, identity=1, motion=0))
    # a driver whose face is wider and placed elsewhere, larger in its frame
    driver_world = FaceWorld(FaceConfig(width=320, height=240, identity=4, motion=0, seed=7, face_size=0.55))
    driver_world.neutral = driver_world.neutral.copy()
    driver_world.neutral[:17, 0] *= 1.3  # a 30 % wider jaw
    mouth = driver_world.neutral[48:68]
    mouth[:, 0] *= 1.4  # a wider mouth, and eyes open wider
    for eye in (slice(36, 42), slice(42, 48)):
        lids = driver_world.neutral[eye]
        lids[:, 1] = lids[:, 1].mean() + (lids[:, 1] - lids[:, 1].mean()) * 1.6
    target = target_world.landmarks_3d({**target_world.expression(0), "jaw": 0, "blink": 0, "wide": 0, "brow": 0})
    target_neutral = np.concatenate([target_world.project(target, target_world.expression(0))[0], np.ones((68, 1))], 1)

    def driver_points(jaw, blink):
        e = {**driver_world.expression(0), "jaw": jaw, "blink": blink, "wide": 0, "brow": 0, "x": 0.3}
        return np.concatenate([driver_world.project(driver_world.landmarks_3d(e), e)[0], np.ones((68, 1))], 1)

    driver_neutral = driver_points(0, 0)
    spoken = driver_points(0.9, 0.5)
    out = retarget_relative(spoken, driver_neutral, target_neutral)
    # the expression: the same mouth-opening ratio and eye closure as the driver's
    opened = _mouth_ratio(out) - _mouth_ratio(target_neutral)
    assert opened == pytest.approx(_mouth_ratio(spoken) - _mouth_ratio(driver_neutral), rel=0.05)
    assert _eye_closure(out, target_neutral) == pytest.approx(_eye_closure(spoken, driver_neutral), abs=0.05)
    assert _mouth_ratio(spoken) > 0.3  # it did open
    # the shape and place stay the target's: rigid points where the target's are, its face width
    rigid = [36, 39, 42, 45, 27, 30, 33]
    assert np.abs(out[rigid, :2] - target_neutral[rigid, :2]).max() < 0.5
    width = lambda p: p[16, 0] - p[0, 0]  # noqa: E731
    assert width(out) == pytest.approx(width(target_neutral), rel=0.03)
    assert width(spoken) / (spoken[45, 0] - spoken[36, 0]) > 1.2 * width(out) / (out[45, 0] - out[36, 0])
    # absolute landmarks would have put the driver's face elsewhere
    assert np.abs(spoken[:, :2] - target_neutral[:, :2]).mean() > 20


def test_the_retarget_stage_takes_the_first_face_as_the_drivers_neutral():
    target = FaceWorld(FaceConfig(width=128, height=128, identity=1, motion=0)).frame(0)["face"]
    driver = FaceWorld(FaceConfig(width=160, height=128, identity=3, motion=0, seed=2))
    stage = RelativeRetarget(target)
    first = Frame(index=0, pts=0, time_base=Fraction(1, 25), image=None,
                  conditions={"face": driver.frame(0)["face"]})
    out = stage(first).conditions["face"].points
    assert np.abs(out[:, :2] - target[:, :2]).max() < 1e-3  # the neutral maps onto the target's neutral
    later = Frame(index=1, pts=1, time_base=Fraction(1, 25), image=None, conditions={"face": driver.frame(40)["face"]})
    moved = stage(later).conditions["face"].points
    assert np.abs(moved[:, :2] - target[:, :2]).max() > 0.5
