"""Odometry from depth alone on the street world: small drift against the true poses."""

import numpy as np
import pytest

from vidsynth.errors import VidsynthError

pytest.importorskip("open3d")

from vidsynth.geometry.odometry import estimate_poses, trajectory_drift  # noqa: E402
from vidsynth.streams.synthetic.street import StreetConfig, StreetWorld  # noqa: E402


def test_depth_only_odometry_drift_is_small_on_a_street():
    world = StreetWorld(StreetConfig(width=64, height=32, path="straight"))
    n = 16
    depths = [world.render(world.camera(i))["depth"] for i in range(n)]
    truth = np.stack([world.pose(i) for i in range(n)])
    poses = estimate_poses(depths, world.intrinsics, first_pose=truth[0])
    assert poses.shape == (n, 4, 4)
    err, length = trajectory_drift(poses, truth)
    assert length == pytest.approx(7.5)
    assert err / length < 0.02, f"drift {100 * err / length:.2f}% of the path"
    R = poses[-1, :3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-6)


def test_odometry_input_errors():
    world = StreetWorld(StreetConfig(width=32, height=16))
    d = world.render(world.camera(0))["depth"]
    with pytest.raises(VidsynthError, match="all zeros"):
        estimate_poses([d, np.zeros_like(d)], world.intrinsics)
    with pytest.raises(VidsynthError, match="RGB"):
        estimate_poses([d, d], world.intrinsics, rgbs=[np.zeros((16, 32, 3), np.uint8)])
    with pytest.raises(VidsynthError, match="32x16"):
        estimate_poses([d, d[:8]], world.intrinsics)
