"""Cameras files and depth inputs: round trips and one clear error per kind of mistake."""

import json

import numpy as np
import pytest

from vidsynth.errors import VidsynthError
from vidsynth.geometry.camera import Intrinsics, pose_from_heading, read_cameras, write_cameras
from vidsynth.geometry.depth_io import DepthReader, write_depth_png_folder, write_depth_video

K = Intrinsics(fx=50.0, fy=50.0, cx=31.5, cy=23.5, width=64, height=48)


def _write(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def _poses(n=3):
    return [pose_from_heading([0.5 * i, 0.0, 1.6], 0.1 * i) for i in range(n)]


def test_cameras_round_trip_and_R_t_form(tmp_path):
    p = str(tmp_path / "cams.json")
    write_cameras(p, K, _poses())
    track = read_cameras(p, expected_count=3)
    assert track.intrinsics == K and track.indices == [0, 1, 2]
    np.testing.assert_allclose(track.poses, np.stack(_poses()), atol=1e-12)
    frames = [{"index": i, "R": P[:3, :3].tolist(), "t": (P[:3, 3] * 100).tolist()} for i, P in enumerate(_poses())]
    p2 = _write(tmp_path / "rt.json", {"intrinsics": {"K": K.matrix().tolist(), "width": 64, "height": 48},
                                       "units": "cm", "frames": frames})
    np.testing.assert_allclose(read_cameras(p2).poses, np.stack(_poses()), atol=1e-9)
    # intrinsics rescale to the frames' size when only the resolution differs
    assert read_cameras(p, size=(128, 96)).intrinsics.fx == pytest.approx(100.0)


@pytest.mark.parametrize("case, match", [
    ("count", "expected 4 frames"),
    ("not_rotation", "RᵀR"),
    ("reflection", "det"),
    ("shape", "4x4"),
    ("units", "units"),
    ("mm_as_m", "cm or mm"),
    ("order", "count up"),
    ("intrinsics", "fx, fy, cx, cy"),
    ("missing", "expected a JSON file"),
    ("json", "valid JSON"),
])
def test_cameras_errors(tmp_path, case, match):
    good = {"intrinsics": K.to_dict(), "frames": [{"index": i, "pose": P.tolist()} for i, P in enumerate(_poses())]}
    data = json.loads(json.dumps(good))
    count = None
    if case == "count":
        count = 4
    elif case == "not_rotation":
        data["frames"][1]["pose"][0][0] = 2.0
    elif case == "reflection":
        P = np.array(data["frames"][2]["pose"])
        P[:3, 0] *= -1
        data["frames"][2]["pose"] = P.tolist()
    elif case == "shape":
        data["frames"][0]["pose"] = data["frames"][0]["pose"][:3]
    elif case == "units":
        data["units"] = "feet"
    elif case == "mm_as_m":
        for f in data["frames"]:
            f["pose"] = (np.array(f["pose"]) * [1, 1, 1, 1000]).tolist()
            f["pose"][3] = [0, 0, 0, 1]
    elif case == "order":
        data["frames"][1]["index"] = 5
    elif case == "intrinsics":
        del data["intrinsics"]["fx"]
    path = tmp_path / "c.json"
    if case == "missing":
        p = str(tmp_path / "nope.json")
    elif case == "json":
        path.write_text("{not json")
        p = str(path)
    else:
        p = _write(path, data)
    with pytest.raises(VidsynthError, match=match) as err:
        read_cameras(p, expected_count=count)
    assert "expected" in str(err.value) and "found" in str(err.value)


def test_depth_png_npy_and_video_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    depths = [rng.uniform(0.5, 30.0, (12, 16)).astype(np.float32) for _ in range(3)]
    depths[1][0, :4] = 0.0  # holes stay holes
    write_depth_png_folder(str(tmp_path / "png"), depths, scale=0.001)
    got = list(DepthReader(str(tmp_path / "png"), scale=0.001, expected_count=3))
    for a, b in zip(got, depths):
        assert np.abs(a - b).max() <= 0.0005 + 1e-6
    assert np.all(got[1][0, :4] == 0)
    (tmp_path / "npy").mkdir()
    for i, d in enumerate(depths):
        np.save(tmp_path / "npy" / f"{i:03d}.npy", d)
    assert all(np.array_equal(a, b) for a, b in zip(DepthReader(str(tmp_path / "npy")), depths))
    write_depth_video(str(tmp_path / "d.mkv"), depths, scale=0.001)
    vid = DepthReader(str(tmp_path / "d.mkv"), scale=0.001, expected_count=3)
    assert len(vid) == 3
    for a, b in zip(vid, depths):
        assert np.abs(a - b).max() <= 0.0005 + 1e-6
    assert np.abs(vid[2] - depths[2]).max() <= 0.0005 + 1e-6


def test_depth_errors(tmp_path):
    import cv2

    (tmp_path / "zeros").mkdir()
    np.save(tmp_path / "zeros" / "0.npy", np.zeros((8, 8), np.float32))
    with pytest.raises(VidsynthError, match="all zeros"):
        DepthReader(str(tmp_path / "zeros"))[0]
    with pytest.raises(VidsynthError, match="expected 2 depth maps"):
        DepthReader(str(tmp_path / "zeros"), expected_count=2)
    (tmp_path / "mixed").mkdir()
    np.save(tmp_path / "mixed" / "0.npy", np.ones((8, 8), np.float32))
    np.save(tmp_path / "mixed" / "1.npy", np.ones((8, 9), np.float32))
    with pytest.raises(VidsynthError, match="same size"):
        list(DepthReader(str(tmp_path / "mixed")))
    (tmp_path / "rgb").mkdir()
    np.save(tmp_path / "rgb" / "0.npy", np.ones((8, 8, 3), np.float32))
    with pytest.raises(VidsynthError, match="single-channel"):
        DepthReader(str(tmp_path / "rgb"))[0]
    (tmp_path / "neg").mkdir()
    np.save(tmp_path / "neg" / "0.npy", -np.ones((8, 8), np.float32))
    with pytest.raises(VidsynthError, match=">= 0"):
        DepthReader(str(tmp_path / "neg"))[0]
    (tmp_path / "png8").mkdir()
    cv2.imwrite(str(tmp_path / "png8" / "0.png"), np.full((8, 8), 9, np.uint8))
    with pytest.raises(VidsynthError, match="16-bit"):
        DepthReader(str(tmp_path / "png8"), scale=0.001)[0]
    with pytest.raises(VidsynthError, match="scale"):
        DepthReader(str(tmp_path / "png8"))
    with pytest.raises(VidsynthError, match="check the path"):
        DepthReader(str(tmp_path / "none"))
