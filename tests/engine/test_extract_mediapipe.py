"""MediaPipe extractors on a real photograph (skimage's astronaut) and on a frame without a person."""

from fractions import Fraction

import numpy as np
import pytest

from vidsynth.engine.draw import draw_openpose
from vidsynth.engine.extract import (
    MEDIAPIPE_MESH_TO_DLIB68,
    MEDIAPIPE_TO_BODY25,
    FaceExtractor,
    PersonMaskExtractor,
    PoseExtractor,
)
from vidsynth.errors import VidsynthError
from vidsynth.streams.frame import Frame

pytest.importorskip("mediapipe")
skdata = pytest.importorskip("skimage.data")


def frame(image, index=0, discontinuity=False):
    return Frame(index=index, pts=index, time_base=Fraction(1, 30), image=image, discontinuity=discontinuity)


@pytest.fixture(scope="module")
def astronaut():
    return skdata.astronaut()  # 512×512 RGB photo of Eileen Collins, face and upper body visible


@pytest.fixture(scope="module")
def pose_stage():
    s = PoseExtractor(static_image_mode=True)
    s.open()
    yield s
    s.close()


@pytest.fixture(scope="module")
def face_stage():
    s = FaceExtractor(static_image_mode=True)
    s.open()
    yield s
    s.close()


def test_mapping_tables_are_complete():
    assert len(MEDIAPIPE_TO_BODY25) == 25
    assert all(0 <= i < 33 for src in MEDIAPIPE_TO_BODY25 for i in src)
    # every MediaPipe body landmark that has an OpenPose counterpart is used
    used = {i for src in MEDIAPIPE_TO_BODY25 for i in src}
    assert {0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32} <= used
    assert len(MEDIAPIPE_MESH_TO_DLIB68) == 68
    assert len(set(MEDIAPIPE_MESH_TO_DLIB68)) == 68
    assert all(0 <= i < 468 for i in MEDIAPIPE_MESH_TO_DLIB68)


def test_pose_on_a_real_photograph(pose_stage, astronaut):
    f = pose_stage(frame(astronaut))
    pose = f.conditions["pose"]
    body = pose.body
    nose, neck, rsho, lsho = body[0], body[1], body[2], body[5]
    assert min(nose[2], neck[2], rsho[2], lsho[2]) > 0.5
    # the astronaut faces the camera: her right shoulder is on the image's left
    assert rsho[0] < neck[0] < lsho[0]
    assert abs(neck[1] - (rsho[1] + lsho[1]) / 2) < 1e-3 and abs(neck[0] - (rsho[0] + lsho[0]) / 2) < 1e-3
    # head above shoulders, inside the image; shoulders about 150-250 px apart in this 512 px photo
    assert 60 < nose[1] < neck[1] - 60 and 150 < nose[0] < 300
    assert 120 < lsho[0] - rsho[0] < 260
    # eyes either side of the nose
    assert body[15, 0] < nose[0] < body[16, 0]
    # the face part of the record (70 points) lies around the nose
    face = pose.face
    assert (face[:, 2] > 0).all()
    assert np.all(np.abs(face[:, :2] - nose[:2]) < 110)
    drawing = draw_openpose(pose, astronaut.shape[:2], 3)
    assert drawing.any()


def test_face_on_a_real_photograph(face_stage, pose_stage, astronaut):
    f = face_stage(frame(astronaut))
    lm = f.conditions["face"]
    assert not lm.is_empty
    xy = lm.xy
    nose = pose_stage(frame(astronaut)).conditions["pose"].body[0, :2]
    # all 68 points inside the face region around the nose
    assert np.all(np.abs(xy - nose) < 100)
    # dlib layout: right eye (36-41) left of left eye (42-47) in the image, eyes above the mouth,
    # the chin (8) the lowest jaw point, jaw ends (0, 16) on either side
    assert xy[36:42, 0].mean() < xy[27:31, 0].mean() < xy[42:48, 0].mean()
    assert xy[36:48, 1].max() < xy[48:68, 1].min()
    assert xy[8, 1] == xy[0:17, 1].max()
    assert xy[0, 0] < xy[8, 0] < xy[16, 0]
    # inter-ocular distance plausible for a 512 px portrait
    assert 40 < np.linalg.norm(xy[45] - xy[36]) < 120


def test_no_person_gives_empty_records(pose_stage, face_stage):
    grey = np.full((96, 128, 3), 128, np.uint8)
    f = face_stage(pose_stage(frame(grey)))
    assert f.conditions["pose"].is_empty
    assert f.conditions["face"].is_empty
    assert not draw_openpose(f.conditions["pose"], grey.shape[:2], 27).any()


def test_person_mask_covers_the_person(astronaut):
    s = PersonMaskExtractor()
    f = s(frame(astronaut))
    s.close()
    m = f.conditions["person_mask"]
    assert m.shape == astronaut.shape[:2] and m.dtype == np.uint8
    assert set(np.unique(m)) <= {0, 255}
    assert m[128, 222] == 255 and m[250, 200] == 255   # face, chest
    assert m[20, 480] == 0                              # background top right
    assert 0.2 < (m > 0).mean() < 0.8


def test_wrong_image_is_a_clear_error(pose_stage):
    with pytest.raises(VidsynthError, match="uint8"):
        pose_stage(frame(np.zeros((8, 8), np.float32)))


def test_model_that_would_need_a_download_is_refused():
    from pathlib import Path

    import mediapipe

    if (Path(mediapipe.__file__).parent / "modules/pose_landmark/pose_landmark_heavy.tflite").exists():
        pytest.skip("the heavy pose model is installed here")
    with pytest.raises(VidsynthError, match="model_complexity"):
        PoseExtractor(model_complexity=2).open()
