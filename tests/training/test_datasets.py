"""Datasets read imaginaire's raw layout as it is, augment consistently, and name the bad file."""

import os
import shutil

import cv2
import numpy as np
import pytest
import torch

from standins import write_paired_folder

from vidsynth.errors import VidsynthError
from vidsynth.training.config import DataConfig
from vidsynth.training.datasets import Augment, build_dataset

RAW = "/work/imaginaire/dataset/unit_test/raw"
needs_raw = pytest.mark.skipif(not os.path.isdir(RAW), reason="imaginaire's unit-test data is not on this machine")


def _cfg(**kw):
    base = dict(crop_size=[32, 32], resize_short=40, random_scale=0.2)
    base.update(kw)
    return DataConfig(**base)


@needs_raw
def test_raw_spade_and_pix2pixhd_layouts():
    ds = build_dataset(f"{RAW}/spade", _cfg(type="paired_images", num_classes=183, use_dont_care=True,
                                             extra_labels=["edge_maps"]))
    item = ds[0]
    assert item["images"].shape == (3, 32, 32) and item["label"].shape == (183 + 1 + 1, 32, 32)
    assert item["images"].min() >= -1 and item["images"].max() <= 1
    assert torch.all(item["label"][:184].sum(0) == 1)  # one-hot (with the don't-care channel)
    ds = build_dataset(f"{RAW}/pix2pixHD", _cfg(type="paired_images", num_classes=35, instance_maps=True))
    item = ds[0]
    assert item["label"].shape == (36, 32, 32)
    assert set(torch.unique(item["label"][35]).tolist()) <= {0.0, 1.0} and item["label"][35].sum() > 0


@needs_raw
def test_raw_video_layouts_pose_face_street():
    street = build_dataset(f"{RAW}/vid2vid/street", _cfg(type="paired_videos", num_classes=35, sequence_length=3))
    item = street[0]
    assert item["images"].shape == (3, 3, 32, 32) and item["label"].shape == (3, 35, 32, 32)
    pose = build_dataset(f"{RAW}/vid2vid/pose", _cfg(type="paired_videos", label_type="poses-openpose",
                                                      sequence_length=2, resize_short=64, crop_size=[64, 64]))
    item = pose[0]
    assert item["label"].shape == (2, 27, 64, 64) and item["label"].sum() > 0  # the body was drawn
    face = build_dataset(f"{RAW}/fs_vid2vid/face", _cfg(type="few_shot_videos", label_type="landmarks-dlib68",
                                                         sequence_length=2, num_references=2, resize_short=64,
                                                         crop_size=[64, 64], random_scale=0.0, flip=False))
    item = face[1]
    assert item["ref_images"].shape == (2, 3, 64, 64) and item["label"].shape == (2, 1, 64, 64)
    assert item["label"].sum() > 0


@needs_raw
def test_raw_unpaired_and_few_shot_layouts():
    ds = build_dataset(f"{RAW}/munit", _cfg(type="unpaired_images", label_type="none"))
    item = ds[0]
    assert item["images_a"].shape == item["images_b"].shape == (3, 32, 32)
    ds = build_dataset(f"{RAW}/funit", _cfg(type="few_shot_images", label_type="none"))
    assert len(ds) == 3
    item = ds[0]
    assert item["labels_content"] != item["labels_style"] and item["images_style"].shape == (3, 32, 32)


def test_augmentation_is_per_example_repeatable_and_shared_across_a_sequence(tmp_path):
    write_paired_folder(str(tmp_path), n=6, size=24, sequences=2)
    # no resampling (so colours stay exact): random crop and flip only
    cfg = _cfg(type="paired_videos", num_classes=4, sequence_length=3, crop_size=[16, 16], resize_short=24,
               random_scale=0.0)
    ds = build_dataset(str(tmp_path), cfg, seed=5)
    a, b = ds[1], ds[1]
    assert torch.equal(a["images"], b["images"])
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["images"], a["images"])  # another epoch, another crop
    # labels and images went through the same crop/flip: every pixel's colour is its class's colour
    item = ds[0]
    ids = item["label"].argmax(1)
    for c in ids.unique():
        colours = item["images"].permute(0, 2, 3, 1)[ids == c]
        assert colours.std(0).max() < 1e-6


def test_keypoints_follow_the_crop_and_flip():
    aug = Augment(h=20, w=40, top=2, left=5, ch=16, cw=16, flip=True)
    pts = np.array([[10.0, 5.0, 1.0], [0.0, 0.0, 0.0]])
    out = aug.points(pts, (10, 20))
    assert out[0, 0] == pytest.approx(16 - 1 - (10 * 2 - 5)) and out[0, 1] == pytest.approx(5 * 2 - 2)
    assert np.all(out[1] == 0)  # a missing point stays missing


# --- bad data: each names the file or folder ------------------------------------------------------------


def test_empty_folder(tmp_path):
    os.makedirs(tmp_path / "images")
    os.makedirs(tmp_path / "seg_maps")
    with pytest.raises(VidsynthError, match=r"images is empty"):
        build_dataset(str(tmp_path), _cfg(num_classes=4))


def test_missing_label_folder(tmp_path):
    write_paired_folder(str(tmp_path), n=3)
    shutil.rmtree(tmp_path / "seg_maps")
    with pytest.raises(VidsynthError, match="seg_maps does not exist"):
        build_dataset(str(tmp_path), _cfg(num_classes=4))


def test_images_and_labels_of_different_counts(tmp_path):
    write_paired_folder(str(tmp_path), n=4)
    os.remove(tmp_path / "seg_maps" / "00002.png")
    with pytest.raises(VidsynthError, match=r"seg_maps.* has 3 files but .*images.* has 4.*00002"):
        build_dataset(str(tmp_path), _cfg(num_classes=4))


def test_label_id_above_class_count(tmp_path):
    write_paired_folder(str(tmp_path), n=3, num_classes=4)
    ids = np.zeros((20, 20), np.uint8)
    ids[3, 3] = 7
    cv2.imwrite(str(tmp_path / "seg_maps" / "00001.png"), ids)
    ds = build_dataset(str(tmp_path), _cfg(num_classes=4))
    ds[0]
    with pytest.raises(VidsynthError, match=r"seg_maps/00001.png has class id 7 but the config has 4 classes"):
        ds[1]


def test_corrupt_image(tmp_path):
    write_paired_folder(str(tmp_path), n=3)
    with open(tmp_path / "images" / "00002.png", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n this is not a picture")
    ds = build_dataset(str(tmp_path), _cfg(num_classes=4))
    with pytest.raises(VidsynthError, match=r"images/00002.png cannot be decoded"):
        ds[2]


def test_corrupt_keypoint_json(tmp_path):
    os.makedirs(tmp_path / "images" / "s")
    os.makedirs(tmp_path / "poses-openpose" / "s")
    for i in range(2):
        cv2.imwrite(str(tmp_path / "images" / "s" / f"{i}.png"), np.zeros((20, 20, 3), np.uint8))
        (tmp_path / "poses-openpose" / "s" / f"{i}.json").write_text("{not json")
    ds = build_dataset(str(tmp_path), _cfg(type="paired_videos", label_type="poses-openpose", sequence_length=2,
                                           crop_size=[16, 16]))
    with pytest.raises(VidsynthError, match=r"poses-openpose/s/0.json is not valid JSON"):
        ds[0]


def test_reads_what_vidsynth_extract_writes(tmp_path):
    """The engine's DatasetWriter layout: flow-dis/, and [] landmark files for frames without a face."""
    import json

    for i in range(3):
        (tmp_path / "images" / "s").mkdir(parents=True, exist_ok=True)
        (tmp_path / "landmarks-dlib68" / "s").mkdir(parents=True, exist_ok=True)
        (tmp_path / "flow-dis" / "s").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "images" / "s" / f"{i:06d}.jpg"), np.full((40, 40, 3), 100, np.uint8))
        pts = [] if i == 1 else [[10 + j % 20, 10 + j // 4] for j in range(68)]
        (tmp_path / "landmarks-dlib68" / "s" / f"{i:06d}.json").write_text(json.dumps(pts))
        np.save(tmp_path / "flow-dis" / "s" / f"{i:06d}.npy", np.full((40, 40, 2), 1.0, np.float32))
    ds = build_dataset(str(tmp_path), _cfg(type="paired_videos", label_type="landmarks-dlib68", sequence_length=3,
                                           crop_size=[40, 40], resize_short=0, random_scale=0.0, flip=False),
                       train=False)
    item = ds[0]
    assert item["flow"].shape == (3, 2, 40, 40) and float(item["flow"].mean()) == 1.0
    assert item["label"][0].sum() > 0 and item["label"][1].sum() == 0  # the faceless frame: an empty map
