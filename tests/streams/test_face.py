"""The synthetic talking head: deterministic, landmarks on the drawn face, speech that moves the mouth
and eyes, several identities and backgrounds, a Source found by name."""

import numpy as np
import pytest

from vidsynth.errors import VidsynthError
from vidsynth.streams import open_source
from vidsynth.streams.synthetic.face import FaceConfig, FaceWorld


def _mouth_open(face: np.ndarray) -> float:
    """Inner-lip gap over mouth width (dlib 62/66 over 60/64)."""
    return float(np.linalg.norm(face[66, :2] - face[62, :2]) / np.linalg.norm(face[64, :2] - face[60, :2]))


def _eye_open(face: np.ndarray) -> float:
    return float(np.linalg.norm(face[[40, 41], :2].mean(0) - face[[37, 38], :2].mean(0)))


def test_deterministic_and_seeded():
    a = FaceWorld(FaceConfig(width=96, height=96, seed=1)).frame(9)
    b = FaceWorld(FaceConfig(width=96, height=96, seed=1)).frame(9)
    c = FaceWorld(FaceConfig(width=96, height=96, seed=2)).frame(9)
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["face"], b["face"])
    assert not np.allclose(a["face"], c["face"])


def test_landmarks_sit_on_the_drawn_face():
    world = FaceWorld(FaceConfig(width=128, height=128, seed=0, identity=1))
    background = world.background().astype(int)
    for i in (0, 13, 31):
        f = world.frame(i)
        face, mask = f["face"], f["face_mask"]
        assert face.shape == (68, 3) and (face[:, 2] == 1).all()
        for x, y in np.round(face[:, :2]).astype(int):
            assert mask[max(0, y - 1):y + 2, max(0, x - 1):x + 2].max() == 255
        # the face region is drawn over the backdrop; outside the head the backdrop is untouched
        changed = np.abs(f["image"].astype(int) - background).sum(2) > 0
        assert changed[mask > 0].mean() > 0.9
        assert changed[(mask == 0)].mean() < 0.35  # the shoulders are not in the head mask
        # jaw order: point 0 on the image's left, the chin (8) lowest of the jaw
        assert face[0, 0] < face[16, 0] and face[8, 1] == face[:17, 1].max()


def test_speech_opens_the_mouth_and_blinks_close_the_eyes():
    world = FaceWorld(FaceConfig(width=128, height=128, seed=3, motion=0.0))
    frames = [world.frame(i) for i in range(0, 150)]
    opens = np.array([_mouth_open(f["face"]) for f in frames])
    eyes = np.array([_eye_open(f["face"]) for f in frames])
    jaw = np.array([world.expression(i)["jaw"] for i in range(150)])
    assert opens.max() > 0.3 and opens.min() < 0.15  # it speaks and pauses
    assert np.corrcoef(opens, jaw)[0, 1] > 0.9
    assert eyes.min() < 0.3 * eyes.max()  # at least one blink in six seconds
    # an open mouth shows its dark inside at the inner lips' centre
    k = int(np.argmax(opens))
    cx, cy = np.round(frames[k]["face"][60:68, :2].mean(0)).astype(int)
    assert frames[k]["image"][cy, cx].mean() < 110
    # the mouth moves in syllables: frame-to-frame change, not a slow drift
    assert np.abs(np.diff(opens)).mean() > 0.02


def test_identities_and_backgrounds_differ():
    a = FaceWorld(FaceConfig(width=96, height=96, identity=0, motion=0))
    b = FaceWorld(FaceConfig(width=96, height=96, identity=1, motion=0))
    c = FaceWorld(FaceConfig(width=96, height=96, identity=0, background=2, motion=0))
    fa, fb = a.frame(0)["face"][:, :2], b.frame(0)["face"][:, :2]
    width = lambda f: f[16, 0] - f[0, 0]  # noqa: E731
    assert abs(width(fa) - width(fb)) > 1.0 or not np.allclose(fa, fb, atol=1.0)
    assert np.abs(a.frame(0)["image"].astype(int) - b.frame(0)["image"].astype(int)).mean() > 5
    assert np.array_equal(a.frame(0)["face"], c.frame(0)["face"])  # the backdrop does not move the face
    assert np.abs(a.background().astype(int) - c.background().astype(int)).mean() > 5


def test_a_source_by_name_with_options_and_errors():
    src = open_source("synthetic:face?n_frames=4&width=48&height=40&identity=2")
    info = src.open()
    frames = list(src)
    assert (info.width, info.height, len(frames)) == (48, 40, 4)
    assert frames[0].image.shape == (40, 48, 3) and frames[0].conditions["face"].shape == (68, 3)
    with pytest.raises(VidsynthError, match="face_size"):
        FaceWorld(FaceConfig(face_size=2.0))
    with pytest.raises(VidsynthError, match="expected options"):
        open_source("synthetic:face?colour=3")


def test_deliberate_move_and_approach():
    still = FaceWorld(FaceConfig(width=128, height=128, motion=0, step_at=10, step=0.2))
    x = [still.frame(i)["face"][30, 0] for i in (9, 10)]
    assert x[1] - x[0] == pytest.approx(0.2 * 128, abs=1.0)
    near = FaceWorld(FaceConfig(width=128, height=128, motion=0, approach=0.3, frames=100))
    size = lambda f: f[16, 0] - f[0, 0]  # noqa: E731
    assert size(near.frame(25)["face"]) > 1.2 * size(near.frame(0)["face"])
