"""The synthetic puppet: deterministic, smooth, keypoints on the drawn body, a Source, readable as training data."""

import numpy as np
import pytest

from vidsynth.errors import VidsynthError
from vidsynth.streams.synthetic import synthetic_source
from vidsynth.streams.synthetic.puppet import NECK, NOSE, PuppetConfig, PuppetSource, PuppetWorld


def test_deterministic_per_seed_and_frame():
    a = PuppetWorld(PuppetConfig(width=64, height=64, seed=3)).frame(10)
    b = PuppetWorld(PuppetConfig(width=64, height=64, seed=3)).frame(10)
    c = PuppetWorld(PuppetConfig(width=64, height=64, seed=4)).frame(10)
    assert np.array_equal(a["image"], b["image"])
    assert all(np.array_equal(a["pose"][k], b["pose"][k]) for k in a["pose"])
    assert not np.allclose(a["pose"]["body"], c["pose"]["body"])


def test_keypoint_layout_and_they_sit_on_the_body():
    f = PuppetWorld(PuppetConfig(width=128, height=128, seed=1)).frame(7)
    shapes = {k: v.shape for k, v in f["pose"].items()}
    assert shapes == {"body": (25, 3), "hand_left": (21, 3), "hand_right": (21, 3), "face": (70, 3)}
    body = f["pose"]["body"]
    assert (body[:, 2] == 1).all()  # the whole figure is in the frame
    mask = f["person_mask"]
    # every body joint lies on the drawn figure (within a pixel)
    for x, y, _ in body:
        x, y = int(round(x)), int(round(y))
        assert mask[max(0, y - 1):y + 2, max(0, x - 1):x + 2].max() == 255
    assert body[NOSE, 1] < body[NECK, 1]  # head above the neck
    # the puppet's right side is on the image's left (it faces the camera)
    assert body[2, 0] < body[5, 0]
    # the image differs from the background where the mask is set
    assert f["image"][mask > 0].std() > 10


def test_motion_is_smooth_and_it_dances():
    world = PuppetWorld(PuppetConfig(width=128, height=128, seed=2))
    poses = np.stack([world.frame(i)["pose"]["body"][:, :2] for i in range(0, 60)])
    steps = np.linalg.norm(np.diff(poses, axis=0), axis=2)
    assert steps.max() < 6.0                        # pixels per frame at 30 fps: no jumps
    assert np.ptp(poses[:, 4], axis=0).max() > 10   # the right wrist really moves


def test_source_interface_and_registry():
    src = synthetic_source("puppet", width=32, height=32, n_frames=4)
    info = src.open()
    frames = list(src)
    assert (info.width, info.height, info.frame_count) == (32, 32, 4)
    assert [f.index for f in frames] == [0, 1, 2, 3] and frames[0].discontinuity
    src.seek(2)
    again = list(src)
    assert [f.index for f in again] == [2, 3] and np.array_equal(again[0].image, frames[2].image)
    with pytest.raises(VidsynthError):
        PuppetSource(PuppetConfig(width=4, height=4))
    with pytest.raises(VidsynthError, match="options"):
        synthetic_source("puppet", colour="red")


def test_written_dataset_reads_back_as_pose_training_data(tmp_path):
    from vidsynth.training.config import DataConfig
    from vidsynth.training.datasets import build_dataset
    from vidsynth.training.synthetic_data import write_puppet_dataset

    write_puppet_dataset(str(tmp_path), sequences=1, frames=3, size=64)
    ds = build_dataset(str(tmp_path), DataConfig(type="paired_videos", label_type="poses-openpose", sequence_length=3,
                                                 crop_size=[64, 64], flip=False), train=False)
    item = ds[0]
    assert item["label"].shape == (3, 27, 64, 64) and item["images"].shape == (3, 3, 64, 64)
    # the drawn limbs land on the puppet: most pose pixels are person pixels
    mask = PuppetWorld(PuppetConfig(width=64, height=64, seed=0, frames=3)).frame(0)["person_mask"]
    drawn = item["label"][0, :24].amax(0).numpy() > 0
    assert drawn.sum() > 30 and (mask[drawn] > 0).mean() > 0.8


def test_background_seed_gives_dances_one_backdrop():
    a = PuppetWorld(PuppetConfig(width=32, height=32, seed=1, background_seed=9)).frame(0)
    b = PuppetWorld(PuppetConfig(width=32, height=32, seed=2, background_seed=9)).frame(0)
    c = PuppetWorld(PuppetConfig(width=32, height=32, seed=2)).frame(0)
    import cv2

    near = cv2.dilate(np.maximum(a["person_mask"], b["person_mask"]), np.ones((5, 5), np.uint8))
    both = near == 0  # away from either figure (anti-aliased edges spill a pixel past the mask)
    assert np.array_equal(a["image"][both], b["image"][both])
    assert not np.array_equal(a["image"][both], c["image"][both])
