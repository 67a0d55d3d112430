"""The procedural street world: labels, depth, exact flow, cameras, determinism, revisits."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from vidsynth.errors import VidsynthError
from vidsynth.streams.synthetic.street import (CAR, ROAD, SKY, StreetConfig, StreetSource, StreetWorld,
                                               LABEL_NAMES)


def _warp(prev, flow, interpolation=cv2.INTER_LINEAR):
    H, W = flow.shape[:2]
    uu, vv = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    return cv2.remap(prev, uu + flow[..., 0], vv + flow[..., 1], interpolation)


def test_labels_depth_and_sky_are_consistent():
    world = StreetWorld(StreetConfig(width=96, height=48, path="straight"))
    f = world.frame(10)
    labels, depth = f["labels"], f["depth"]
    assert set(np.unique(labels)) <= set(LABEL_NAMES)
    assert {ROAD, SKY, CAR} <= set(np.unique(labels).tolist())
    assert np.all((depth == 0) == (labels == SKY))
    # road pixels unproject onto the ground plane z = 0 (x right, y down, z forward, depth = z)
    K, pose = f["camera"].intrinsics, f["camera"].pose
    v, u = np.nonzero(labels == ROAD)
    z = depth[v, u].astype(np.float64)
    cam = np.stack([(u - K.cx) / K.fx * z, (v - K.cy) / K.fy * z, z], 1)
    world_pts = cam @ pose[:3, :3].T + pose[:3, 3]
    assert np.abs(world_pts[:, 2]).max() < 1e-3 * max(1.0, z.max())


def test_rendering_is_deterministic_and_seeded():
    a = StreetWorld(StreetConfig(width=64, height=32, seed=3)).frame(7)["image"]
    b_world = StreetWorld(StreetConfig(width=64, height=32, seed=3))
    b_world.frame(40)  # other views rendered first must not change anything
    b = b_world.frame(7)["image"]
    c = StreetWorld(StreetConfig(width=64, height=32, seed=4)).frame(7)["image"]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_loop_revisits_the_same_view():
    cfg = StreetConfig(width=64, height=32, path="loop")
    world = StreetWorld(cfg)
    lap = world.path.length
    again = StreetWorld(replace(cfg, start=lap))
    np.testing.assert_allclose(world.pose(12), again.pose(12), atol=1e-9)
    assert np.array_equal(world.frame(12)["image"], again.frame(12)["image"])
    # the loop closes: a lap of frames ends near where it started
    n = len(world)
    assert np.linalg.norm(world.pose(n)[:3, 3] - world.pose(0)[:3, 3]) < 2 * cfg.speed


def test_exact_backward_flow_warps_the_previous_frame():
    src = StreetSource(StreetConfig(width=96, height=48, frames=12, path="out_and_back"))
    src.open()
    frames = list(src)
    assert np.all(frames[0].conditions["flow"] == 0)
    agree, warp_err, still_err = [], [], []
    for prev, cur in zip(frames, frames[1:]):
        flow, valid = cur.conditions["flow"], cur.conditions["flow_valid"] > 0
        assert valid.mean() > 0.8
        lab = _warp(prev.conditions["labels"], flow, cv2.INTER_NEAREST)
        agree.append((lab == cur.conditions["labels"])[valid].mean())
        warped = _warp(prev.image, flow).astype(float)
        warp_err.append(np.abs(warped - cur.image)[valid].mean())
        still_err.append(np.abs(prev.image.astype(float) - cur.image)[valid].mean())
    assert np.mean(agree) > 0.97
    assert np.mean(warp_err) < 0.6 * np.mean(still_err)


def test_source_frames_cameras_and_seek():
    src = StreetSource(StreetConfig(width=32, height=32, frames=5))
    info = src.open()
    assert (info.width, info.height, info.frame_count) == (32, 32, 5)
    frames = list(src)
    assert [f.index for f in frames] == list(range(5))
    assert frames[0].discontinuity and not frames[1].discontinuity
    f = frames[3]
    assert f.image.shape == (32, 32, 3) and f.image.dtype == np.uint8
    assert f.conditions["depth"].dtype == np.float32 and f.conditions["flow"].shape == (32, 32, 2)
    pose = f.conditions["camera"].pose
    np.testing.assert_allclose(pose[:3, :3].T @ pose[:3, :3], np.eye(3), atol=1e-9)
    src.seek(3)
    again = list(src)
    assert again[0].index == 3 and again[0].discontinuity
    assert np.array_equal(again[0].image, f.image)
    np.testing.assert_allclose(again[0].conditions["flow"], f.conditions["flow"], atol=1e-5)


def test_registered_as_synthetic_street_and_bad_options():
    from vidsynth.streams.synthetic import synthetic_source

    src = synthetic_source("street", width=32, height=16, n_frames=2)
    src.open()
    assert len(list(src)) == 2
    with pytest.raises(VidsynthError, match="path"):
        StreetWorld(StreetConfig(path="spiral"))
    with pytest.raises(VidsynthError, match="options"):
        synthetic_source("street", colour="red")
