"""Sidecar files and the dataset writer: formats, errors, and a bit-exact round trip of network inputs."""

import json
from fractions import Fraction

import numpy as np
import pytest
import torch

from vidsynth.engine.conditioning import face_label, pose_label
from vidsynth.engine.dataset_writer import DatasetWriter, dataset_path
from vidsynth.engine.extract import FaceLandmarks, PoseKeypoints
from vidsynth.engine.sidecars import (
    read_dlib68_json,
    read_flow,
    read_openpose_json,
    read_openpose_people,
    read_png,
    write_openpose_json,
    write_png,
)
from vidsynth.errors import VidsynthError
from vidsynth.streams.frame import Frame


def random_pose(rng, h=120, w=90):
    arrays = []
    for n in (25, 21, 21, 70):
        a = np.zeros((n, 3), np.float32)
        a[:, 0] = rng.uniform(0, w, n)
        a[:, 1] = rng.uniform(0, h, n)
        a[:, 2] = rng.uniform(0.2, 1.0, n)
        a[rng.random(n) < 0.2] = 0
        arrays.append(a)
    return PoseKeypoints(*arrays)


def test_openpose_json_format(tmp_path):
    p = random_pose(np.random.default_rng(0))
    path = tmp_path / "f.json"
    write_openpose_json(path, p)
    data = json.loads(path.read_text())
    person = data["people"][0]
    assert data["version"] == 1.3 and len(person["pose_keypoints_2d"]) == 75
    assert len(person["face_keypoints_2d"]) == 210 and len(person["hand_right_keypoints_2d"]) == 63
    back = read_openpose_json(path)
    assert np.array_equal(back.to_array(), p.to_array())
    write_openpose_json(path, PoseKeypoints.empty())
    assert json.loads(path.read_text())["people"] == [] and read_openpose_json(path).is_empty


def test_openpose_keeps_the_tallest_person(tmp_path):
    small, tall = PoseKeypoints.empty(), PoseKeypoints.empty()
    small.body[[0, 11]] = [[10, 10, 1], [10, 40, 1]]
    tall.body[[0, 11]] = [[50, 5, 1], [50, 95, 1]]
    path = tmp_path / "two.json"
    write_openpose_json(path, [small, tall])
    assert len(read_openpose_people(path)) == 2
    assert read_openpose_json(path).body[11, 1] == 95


def test_bad_sidecars(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(VidsynthError, match="not valid JSON"):
        read_openpose_json(bad)
    bad.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1, 2, 3]}]}))
    with pytest.raises(VidsynthError, match="75 numbers"):
        read_openpose_json(bad)
    bad.write_text(json.dumps([[1, 2]] * 5))
    with pytest.raises(VidsynthError, match="68"):
        read_dlib68_json(bad)
    with pytest.raises(VidsynthError, match="does not exist"):
        read_dlib68_json(tmp_path / "missing.json")


def test_png_lossless(tmp_path):
    ids = np.random.default_rng(0).integers(0, 183, (20, 30))
    write_png(tmp_path / "a.png", ids)
    assert np.array_equal(read_png(tmp_path / "a.png"), ids)
    big = np.array([[0, 1000], [65535, 7]])
    write_png(tmp_path / "b.png", big)
    back = read_png(tmp_path / "b.png")
    assert back.dtype == np.uint16 and np.array_equal(back, big)


def test_dataset_writer_round_trip_gives_the_same_network_inputs(tmp_path):
    rng = np.random.default_rng(3)
    frames = []
    for i in range(3):
        image = rng.integers(0, 255, (120, 90, 3), dtype=np.uint8)
        face = np.concatenate([rng.uniform(20, 80, (68, 2)), np.ones((68, 1))], 1).astype(np.float32)
        conditions = {
            "pose": random_pose(rng) if i != 1 else PoseKeypoints.empty(),
            "face": FaceLandmarks(face) if i != 2 else FaceLandmarks.empty(),
            "person_mask": (rng.random((120, 90)) > 0.5).astype(np.uint8) * 255,
            "labels": rng.integers(0, 35, (120, 90)).astype(np.int32),
            "flow": rng.normal(0, 3, (120, 90, 2)).astype(np.float32),
        }
        frames.append(Frame(i, i, Fraction(1, 30), image, conditions))
    writer = DatasetWriter(root=str(tmp_path), sequence="clip")
    for f in frames:
        assert writer(f) is f
    crop, size = (10, 110, 0, 90), (64, 48)
    for f in frames:
        path = lambda kind: dataset_path(tmp_path, kind, "clip", f.index)  # noqa: E731
        c = f.conditions
        pose = read_openpose_json(path("pose"))
        assert torch.equal(pose_label(pose.crop_resize(crop, size), size),
                           pose_label(c["pose"].crop_resize(crop, size), size))
        face = read_dlib68_json(path("face"))
        assert torch.equal(face_label(face.crop_resize(crop, size), size),
                           face_label(c["face"].crop_resize(crop, size), size))
        assert np.array_equal(read_png(path("person_mask")), c["person_mask"])
        assert np.array_equal(read_png(path("labels")), c["labels"])
        # flow is stored as float16 (half the bytes): within its precision, 2^-11 relative
        assert np.load(path("flow")).dtype == np.float16
        np.testing.assert_allclose(read_flow(path("flow")), c["flow"], rtol=2 ** -11, atol=1e-6)
        assert path("image").exists()
    assert sorted(p.name for p in (tmp_path / "images" / "clip").iterdir()) == ["000000.jpg", "000001.jpg", "000002.jpg"]


def test_dataset_writer_rejects_unknown_kinds():
    with pytest.raises(VidsynthError, match="cannot write"):
        DatasetWriter(what=("image", "depth"))
