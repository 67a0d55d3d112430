"""Unprojection, the coloured-point world and guidance rendering, on scenes with known geometry."""

import numpy as np
import pytest
import torch

from vidsynth.errors import VidsynthError
from vidsynth.geometry.camera import Camera, Intrinsics
from vidsynth.geometry.guidance import GuidanceConfig, GuidanceRenderer, WorldGuidance, zbuffer
from vidsynth.geometry.projection import project_points, unproject_depth
from vidsynth.geometry.world import PointWorld, WorldConfig

from .scenes import camera, render_box, render_plane


def _guidance_rgb(g):
    rgb = ((g[0, :3] + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return rgb, g[0, 3].numpy() > 0.5


def _street_view(index=20, width=512, height=256):
    from vidsynth.streams.synthetic.street import StreetConfig, StreetWorld

    world = StreetWorld(StreetConfig(width=width, height=height, path="loop"))
    f = world.frame(index)
    return world, f


@pytest.mark.parametrize("scene", ["plane", "box", "street"])
def test_same_camera_reprojection_is_exact(scene):
    if scene == "street":
        _, f = _street_view(width=128, height=64)
        cam, depth, rgb = f["camera"], f["depth"], f["image"]
    else:
        cam = camera(64, 48, position=(0.3, -0.2, 0.0), yaw_deg=10)
        depth, rgb = (render_plane(cam, (0, 0.3, 1.0), 5.0) if scene == "plane" else render_box(cam))
    pts, valid = unproject_depth(depth, cam.intrinsics, cam.pose)
    assert bool(valid.any())
    uv, z = project_points(pts.reshape(-1, 3)[valid.reshape(-1)], cam.intrinsics, cam.pose)
    vv, uu = np.nonzero(valid.numpy())
    err = np.hypot(uv[:, 0].numpy() - uu, uv[:, 1].numpy() - vv)
    assert err.max() < 1.0 and err.mean() < 0.01
    np.testing.assert_allclose(z.numpy(), depth[vv, uu], rtol=1e-4)
    # through the world and the z-buffer: every valid pixel comes back with its exact colour
    wg = WorldGuidance(WorldConfig(voxel_size=0.001, capacity=1 << 20))
    wg.guidance(depth, cam)
    wg.update(rgb)
    g_rgb, mask = _guidance_rgb(wg.guidance(depth, cam))
    m = valid.numpy()
    assert mask[m].mean() > 0.98 and not mask[~m].any()
    assert np.array_equal(g_rgb[mask], rgb[mask])


@pytest.mark.parametrize("scene", ["plane", "box", "street"])
def test_moved_camera_matches_the_scenes_own_rendering(scene):
    if scene == "street":
        world, f = _street_view(20)
        cam0, depth0, rgb0 = f["camera"], f["depth"], f["image"]
        f1 = world.frame(22)
        cam1, depth1, rgb1 = f1["camera"], f1["depth"], f1["image"]
    else:
        render = (lambda c: render_plane(c, (0, 0.3, 1.0), 5.0)) if scene == "plane" else render_box
        # at this size the 1-pixel ambiguity along silhouettes stays a small share of the pixels
        cam0 = camera(160, 120)
        cam1 = camera(160, 120, position=(0.4, -0.1, 0.3), yaw_deg=-6)
        (depth0, rgb0), (depth1, rgb1) = render(cam0), render(cam1)
    wg = WorldGuidance(WorldConfig(voxel_size=0.002, capacity=1 << 20))
    wg.guidance(depth0, cam0)
    wg.update(rgb0)
    g_rgb, mask = _guidance_rgb(wg.renderer.render_world(wg.world, cam1))
    both = mask & (depth1 > 0)
    assert both.mean() > 0.4
    err = np.abs(g_rgb[both].astype(float) - rgb1[both]).mean()
    assert err <= 2.0, f"mean colour error {err:.2f}/255"


def test_first_colour_sticks_and_uncoloured_points_take_the_next():
    w = PointWorld(voxel_size=0.1, capacity=1000)
    pts = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [2.0, 0.0, 1.0]])
    red = torch.tensor([[255, 0, 0]] * 3, dtype=torch.uint8)
    green = torch.tensor([[0, 255, 0]] * 3, dtype=torch.uint8)
    assert w.add(pts[:2], red[:2]) == 2
    assert w.add(pts[2:], None) == 1  # geometry only
    assert w.add(pts + 0.02, green) == 0  # the same voxels
    xyz, rgb = w.coloured_points()
    got = {tuple(np.round(p, 3)): tuple(c) for p, c in zip(xyz.tolist(), rgb.tolist())}
    assert got == {(0.0, 0.0, 1.0): (255, 0, 0), (1.0, 0.0, 1.0): (255, 0, 0), (2.0, 0.0, 1.0): (0, 255, 0)}
    # within one batch the first point of a voxel wins too
    w2 = PointWorld(voxel_size=1.0, capacity=10)
    w2.add(torch.tensor([[0.1, 0.1, 0.1], [0.2, 0.2, 0.2]]), torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.uint8))
    assert w2.coloured_points()[1].tolist() == [[1, 2, 3]]
    assert w2.coloured_points()[0].tolist() == [[pytest.approx(0.1), pytest.approx(0.1), pytest.approx(0.1)]]


def test_capacity_bound_evicts_least_recently_seen():
    g = torch.Generator().manual_seed(0)
    w = PointWorld(voxel_size=0.01, capacity=3000, evict_fraction=0.1)
    keep = torch.rand(500, 3, generator=g) * 10
    col = torch.full((500, 3), 7, dtype=torch.uint8)
    sizes = []
    for i in range(12):
        fresh = torch.rand(800, 3, generator=g) * 10 + 20 * (i + 1)
        w.add(keep, col)  # seen every frame: must survive
        w.add(fresh, col[:1].expand(800, 3))
        sizes.append(len(w))
        assert len(w) <= 3000
    assert max(sizes) <= 3000 and w.evicted > 0
    assert bool((w.lookup(keep) >= 0).all())
    assert bool((w.lookup(fresh) >= 0).all())  # the newest batch is there
    assert w.slots <= 3000


def test_hash_table_agrees_with_a_python_set():
    rng = np.random.default_rng(1)
    w = PointWorld(voxel_size=1.0, capacity=5000, evict_fraction=0.2)
    alive: dict[tuple, int] = {}
    for step in range(30):
        pts = rng.integers(-40, 40, size=(400, 3)).astype(np.float32) + 0.5
        w.add(torch.from_numpy(pts), torch.zeros(400, 3, dtype=torch.uint8))
        for p in map(tuple, np.floor(pts).astype(int).tolist()):
            alive[p] = step
    cells = list(alive)
    keys = np.array(cells, dtype=np.float32) + 0.5
    found = (w.lookup(torch.from_numpy(keys)) >= 0).numpy()
    # everything seen in the last frames is present; nothing is present twice
    last = np.array([alive[c] for c in cells]) >= 28
    assert found[last].all()
    assert found.sum() == len(w) <= 5000
    xyz, _ = w.coloured_points()
    assert len(np.unique(np.floor(xyz.numpy()), axis=0)) == len(xyz)


def test_state_dict_round_trip_and_ply(tmp_path):
    cam = camera(48, 32)
    depth, rgb = render_box(cam)
    wg = WorldGuidance(WorldConfig(voxel_size=0.01, capacity=1 << 16))
    wg.guidance(depth, cam)
    wg.update(rgb)
    g1 = wg.guidance(depth, cam)
    other = WorldGuidance(WorldConfig(voxel_size=0.5, capacity=10))
    other.load_state_dict(wg.state_dict())
    assert other.world.config.voxel_size == 0.01
    assert torch.equal(other.guidance(depth, cam), g1)
    o3d = pytest.importorskip("open3d")
    n = wg.world.to_ply(str(tmp_path / "world.ply"))
    pc = o3d.io.read_point_cloud(str(tmp_path / "world.ply"))
    assert n == len(pc.points) == len(wg.world)
    xyz, cols = wg.world.coloured_points()
    np.testing.assert_allclose(np.asarray(pc.colors)[:5] * 255, cols[:5].numpy(), atol=0.01)
    with pytest.raises(VidsynthError, match="folder"):
        wg.world.to_ply(str(tmp_path / "missing" / "w.ply"))


def test_zbuffer_keeps_the_nearest_and_splats():
    uv = torch.tensor([[2.0, 2.0], [2.2, 1.9], [5.0, 5.0]])
    z = torch.tensor([3.0, 1.0, 2.0])
    idx = zbuffer(uv, z, 8, 8).reshape(8, 8)
    assert idx[2, 2] == 1 and idx[5, 5] == 2 and int((idx >= 0).sum()) == 2
    idx3 = zbuffer(uv, z, 8, 8, splat=3).reshape(8, 8)
    assert int((idx3 >= 0).sum()) == 18 and idx3[1, 1] == 1 and idx3[6, 6] == 2
    K = Intrinsics.from_fov(8, 8, 90.0)
    g = GuidanceRenderer(GuidanceConfig(splat=1)).render(
        torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, -2.0]]), torch.tensor([[255, 255, 255], [0, 0, 0]], dtype=torch.uint8), K)
    assert g.shape == (1, 4, 8, 8) and float(g[0, 3].sum()) == 1.0  # the point behind the camera is not drawn
    assert float(g[0, :3][g[0, 3:].expand(3, -1, -1) == 0].max()) == -1.0


def test_world_guidance_at_another_resolution_and_errors():
    cam = camera(64, 48)
    depth, rgb = render_plane(cam, (0, 0, 1.0), 4.0)
    wg = WorldGuidance(WorldConfig(voxel_size=0.005, capacity=1 << 16))
    g = wg.guidance(depth, cam, size=(24, 32))
    assert g.shape == (1, 4, 24, 32) and float(g[0, 3].sum()) == 0 and float(g[0, :3].max()) == -1.0
    small = torch.from_numpy(rgb[::2, ::2].astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    assert wg.update(small) == 24 * 32
    g = wg.guidance(depth, cam, size=(24, 32))
    rgb_g, mask = _guidance_rgb(g)
    assert mask.mean() > 0.95
    assert np.abs(rgb_g[mask].astype(int) - rgb[::2, ::2][mask]).max() <= 1
    with pytest.raises(VidsynthError, match="depth map"):
        wg.guidance(depth[:10], cam)
    wg.reset()
    with pytest.raises(VidsynthError, match="guidance"):
        wg.update(rgb)


def test_world_render_in_place_equals_rendering_its_points():
    # the world is drawn from its own column-wise storage; after evictions (holes in the slots) and
    # with uncoloured points it must equal rendering the coloured points it reports
    from vidsynth.geometry.projection import unproject_valid_rows

    cam = camera(48, 32)
    depth, rgb = render_box(cam)
    rows, pix = unproject_valid_rows(depth, cam.intrinsics, cam.pose)
    pts, valid = unproject_depth(depth, cam.intrinsics, cam.pose)
    assert torch.equal(pix, torch.nonzero(valid.reshape(-1)).squeeze(1))
    torch.testing.assert_close(rows.T, pts.reshape(-1, 3)[valid.reshape(-1)], rtol=0, atol=1e-5)
    n = rows.shape[1]
    colours = torch.from_numpy(rgb.reshape(-1, 3))[pix]
    w = PointWorld(voxel_size=0.001, capacity=n * 3 // 4, evict_fraction=0.2)
    w.add(rows.T[: n // 2], colours[: n // 2])
    w.add(rows.T[n // 2: 2 * n // 3], None)  # geometry only: not drawn
    w.add(rows.T[2 * n // 3:], colours[2 * n // 3:])  # evicts the oldest
    assert w.evicted > 0
    r = GuidanceRenderer()
    xyz, cols = w.coloured_points()
    g_world = r.render_world(w, cam)
    assert torch.equal(g_world, r.render(xyz, cols, cam.intrinsics, cam.pose))
    assert 0 < float(g_world[0, 3].sum()) < depth.size
