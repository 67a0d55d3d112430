"""Conditioning encoders: one-hot labels, instance edges, pose and face labels; parity with imaginaire's inputs."""

import glob
import json
import os

import numpy as np
import pytest
import torch

from vidsynth.engine.conditioning import (
    densepose_standin,
    face_label,
    fs_vid2vid_pose_label,
    pose_label,
)
from vidsynth.engine.extract import FaceLandmarks, PoseKeypoints
from vidsynth.engine.sidecars import read_dlib68_json, read_openpose_json
from vidsynth.networks.labels import LabelLayout

IMAGINAIRE = os.environ.get("VIDSYNTH_IMAGINAIRE", "/work/imaginaire")
REF = os.environ.get("VIDSYNTH_IMAGINAIRE_REF", "/work/ref")
RAW = os.path.join(IMAGINAIRE, "dataset", "unit_test", "raw")


def test_pose_label_range_and_shape():
    body = np.zeros((25, 3), np.float32)
    body[1], body[8] = (10, 5, 1), (10, 25, 1)
    lab = pose_label(PoseKeypoints(body=body), (32, 20))
    assert lab.shape == (27, 32, 20) and lab.dtype == torch.float32
    assert set(lab.unique().tolist()) == {0.0, 1.0} and lab[5, 15, 10] == 1
    assert pose_label(PoseKeypoints(body=body), (32, 20), channels=3).shape == (3, 32, 20)


def test_densepose_standin_and_fs_vid2vid_pose_label():
    mask = np.zeros((16, 8), np.uint8)
    mask[4:12, 2:6] = 255
    with pytest.warns(UserWarning, match="DensePose"):
        dp = densepose_standin(mask)
    assert dp.shape == (3, 16, 8) and dp[2, 8, 4] * 255 == pytest.approx(2) and dp[:, 0, 0].eq(0).all()
    six = fs_vid2vid_pose_label(dp, PoseKeypoints.empty(), (16, 8))
    assert six.shape == (6, 16, 8) and six.min() >= -1 and six.max() <= 1
    assert six[2, 8, 4] == pytest.approx(2 / 24 * 2 - 1, abs=1e-6) and six[3:, 0, 0].eq(-1).all()


def test_empty_face_gives_empty_map():
    assert not face_label(FaceLandmarks.empty(), (32, 32)).any()


def _ref(case):
    path = os.path.join(REF, case, "io.pt")
    if not os.path.exists(path) or not os.path.isdir(RAW):
        pytest.skip(f"imaginaire reference output {path} or raw data {RAW} not present")
    pytest.importorskip("scipy")   # imaginaire's curves were fitted with SciPy; exact parity needs it
    return torch.load(path, weights_only=True)


def test_vid2vid_pose_label_matches_imaginaire():
    """Re-encode the raw OpenPose files the reference harness used (centre square crop, 512×512)."""
    cv2 = pytest.importorskip("cv2")
    ref = _ref("vid2vid_pose")
    ims = sorted(glob.glob(f"{RAW}/vid2vid/pose/images/001_001/*.jpg"))
    jss = sorted(glob.glob(f"{RAW}/vid2vid/pose/poses-openpose/001_001/*.json"))
    h0, w0 = cv2.imread(ims[0]).shape[:2]
    s = min(h0, w0)
    y0, x0 = (h0 - s) // 2, (w0 - s) // 2
    for t, call in enumerate(ref["calls"]):
        pose = read_openpose_json(jss[t]).crop_resize((y0, y0 + s, x0, x0 + s), (512, 512))
        assert torch.equal(pose_label(pose, (512, 512), 27), call["inputs"]["label"][0])


def test_fs_vid2vid_face_label_matches_imaginaire():
    """Re-encode the raw dlib-68 files with the harness's face crop (128×128, add_upper_face)."""
    cv2 = pytest.importorskip("cv2")
    ref = _ref("fs_vid2vid_face")
    seq = "ZzTpJYDc62E_4_ZzTpJYDc62E_4"
    ims = sorted(glob.glob(f"{RAW}/fs_vid2vid/face/images/{seq}/*.jpg"))
    lms = sorted(glob.glob(f"{RAW}/fs_vid2vid/face/landmarks-dlib68/{seq}/*.json"))
    n = len(ref["calls"])
    kps = np.stack([read_dlib68_json(f).xy for f in lms[:n]])
    h0, w0 = cv2.imread(ims[0]).shape[:2]
    lo, hi = kps.reshape(-1, 2).min(0), kps.reshape(-1, 2).max(0)
    cx, cy = (lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2 - 0.1 * (hi[1] - lo[1])
    side = 1.6 * max(hi[0] - lo[0], hi[1] - lo[1])
    y0, x0 = int(max(0, cy - side / 2)), int(max(0, cx - side / 2))
    y1, x1 = int(min(h0, y0 + side)), int(min(w0, x0 + side))
    for t, call in enumerate(ref["calls"]):
        # the harness scales as (p - p0) * size / extent in float32; same arithmetic here
        k = kps[t].copy()
        k[:, 0] = (k[:, 0] - x0) * 128 / float(x1 - x0)
        k[:, 1] = (k[:, 1] - y0) * 128 / float(y1 - y0)
        assert torch.equal(face_label(k, (128, 128)), call["inputs"]["label"][0])


def _read_nearest(path, h, w):
    cv2 = pytest.importorskip("cv2")
    from vidsynth.engine.sidecars import read_png

    return cv2.resize(read_png(path), (w, h), interpolation=cv2.INTER_NEAREST)


def test_pix2pixhd_and_spade_labels_match_imaginaire():
    ref = _ref("pix2pixHD")["calls"][0]["inputs"]["label"][0]
    seg = _read_nearest(f"{RAW}/pix2pixHD/seg_maps/001.png", 128, 256)
    inst = _read_nearest(f"{RAW}/pix2pixHD/instance_maps/001.png", 128, 256)
    layout = LabelLayout(num_classes=35, instance_edges=True)
    ids = torch.from_numpy(seg.astype(np.int64))[None]
    assert torch.equal(layout.encode(ids, instance_map=torch.from_numpy(inst.astype(np.int64))[None])[0], ref)
    ref = _ref("spade")["calls"][0]["inputs"]["label"][0]
    seg = _read_nearest(f"{RAW}/spade/seg_maps/000000581781.png", 128, 128)
    edge = _read_nearest(f"{RAW}/spade/edge_maps/000000581781.png", 128, 128)
    layout = LabelLayout(num_classes=183, dont_care=True, instance_edges=True)
    ours = layout.encode(torch.from_numpy(seg.astype(np.int64))[None],
                         edge_map=torch.from_numpy(edge / 255.0).float()[None])[0]
    assert torch.equal(ours, ref)


def test_fs_vid2vid_pose_label_matches_imaginaire():
    """DensePose PNG + OpenPose colour drawing (face removed), person crop as the harness made it, 256×128."""
    cv2 = pytest.importorskip("cv2")
    ref = _ref("fs_vid2vid_pose")
    n, (h, w) = len(ref["calls"]), (256, 128)
    ims = sorted(glob.glob(f"{RAW}/vid2vid/pose/images/001_001/*.jpg"))[:n + 1]
    dps = sorted(glob.glob(f"{RAW}/vid2vid/pose/pose_maps-densepose/001_001/*.png"))[:n + 1]
    jss = sorted(glob.glob(f"{RAW}/vid2vid/pose/poses-openpose/001_001/*.json"))[:n + 1]
    h0, w0 = cv2.imread(ims[0]).shape[:2]
    fg = np.zeros((h0, w0), bool)
    for f in dps:
        fg |= cv2.imread(f, cv2.IMREAD_UNCHANGED)[:, :, 0] > 0
    ys, xs = np.nonzero(fg)
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    ch = min(h0, 1.1 * max(ys.max() - ys.min(), (xs.max() - xs.min()) * h / w))
    cw = ch * w / h
    y0, x0 = int(np.clip(cy - ch / 2, 0, h0 - ch)), int(np.clip(cx - cw / 2, 0, w0 - cw))
    crop = (y0, int(y0 + ch), x0, int(x0 + cw))

    def encode(i):
        dp = _read_nearest(dps[i], h0, w0)[crop[0]:crop[1], crop[2]:crop[3]]
        dp = cv2.resize(np.ascontiguousarray(dp), (w, h), interpolation=cv2.INTER_NEAREST)
        dp = torch.from_numpy(dp.transpose(2, 0, 1).astype(np.float32)) / 255.0
        return fs_vid2vid_pose_label(dp, read_openpose_json(jss[i]).crop_resize(crop, (h, w)), (h, w))

    for t, call in enumerate(ref["calls"]):
        assert torch.equal(encode(t), call["inputs"]["label"][0])
    assert torch.equal(encode(n), ref["calls"][0]["inputs"]["ref_labels"][0, 0])
