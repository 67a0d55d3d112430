"""Drawing: OpenPose colours at limb midpoints, one-hot channels, face edges, flow wheel, labels, stages."""

from fractions import Fraction

import numpy as np
import pytest

from vidsynth.engine.draw import (
    BODY25_LIMB_COLORS,
    BODY25_LIMBS,
    HAND_COLORS,
    DrawFace,
    DrawFlow,
    DrawPose,
    colorize_labels,
    draw_face_edges,
    draw_openpose,
    fit_curve,
    flow_to_color,
)
from vidsynth.engine.extract import FaceLandmarks, PoseKeypoints
from vidsynth.errors import VidsynthError
from vidsynth.streams.frame import Frame


def body_with(points: dict[int, tuple[float, float]]) -> PoseKeypoints:
    body = np.zeros((25, 3), np.float32)
    for i, (x, y) in points.items():
        body[i] = (x, y, 0.9)
    return PoseKeypoints(body=body)


def test_limb_midpoints_have_openpose_colours():
    # two separate limbs: trunk neck (1) -> mid-hip (8), right forearm elbow (3) -> wrist (4)
    pose = body_with({1: (50, 30), 8: (50, 90), 3: (20, 30), 4: (20, 70)})
    img = draw_openpose(pose, (120, 100), 3)
    trunk, forearm = BODY25_LIMBS.index((1, 8)), BODY25_LIMBS.index((3, 4))
    assert tuple(img[60, 50]) == BODY25_LIMB_COLORS[trunk] == (153, 0, 0)
    assert tuple(img[50, 20]) == BODY25_LIMB_COLORS[forearm] == (153, 153, 0)
    assert tuple(img[5, 90]) == (0, 0, 0)
    # the 27-channel label: one channel per limb, 255 on the limb, nothing else lit at its midpoint
    onehot = draw_openpose(pose, (120, 100), 27)
    assert onehot[60, 50, trunk] == 255 and onehot[60, 50].sum() == 255
    assert onehot[50, 20, forearm] == 255 and onehot[50, 20].sum() == 255
    assert {k for k in range(27) if onehot[:, :, k].any()} == {trunk, forearm}


def test_touching_limbs_blend_their_colours():
    # a limb drawn over pixels already painted takes the mean colour (imaginaire's colour convention):
    # the shoulder starts inside the trunk's neck joint, so its stroke is darkened but keeps its hue
    pose = body_with({1: (50, 30), 8: (50, 90), 2: (20, 30)})
    img = draw_openpose(pose, (120, 100), 3).astype(int)
    shoulder = BODY25_LIMB_COLORS[BODY25_LIMBS.index((1, 2))]       # (153, 51, 0)
    r, g, b = img[30, 35]
    assert 0 < r < shoulder[0] and b == 0 and abs(g / r - 51 / 153) < 0.05
    onehot = draw_openpose(pose, (120, 100), 27)
    assert onehot[30, 35, BODY25_LIMBS.index((1, 2))] == 255    # one-hot channels never blend


def test_missing_point_breaks_its_limbs_only():
    pose = body_with({1: (50, 30), 8: (50, 90)})
    pose.body[8, 2] = 0.005   # below OpenPose's 0.01 threshold
    assert not draw_openpose(pose, (120, 100), 27).any()


def test_hands_and_face_channels():
    hand = np.zeros((21, 3), np.float32)
    for i in range(21):
        finger, joint = (i - 1) // 4, (i - 1) % 4
        hand[i] = (50 + 10 * finger, 40 - 8 * joint, 1.0) if i else (70, 60, 1.0)
    face = np.zeros((70, 3), np.float32)
    face[:17] = np.stack([np.linspace(20, 80, 17), 20 + 10 * np.sin(np.linspace(0, np.pi, 17)), np.ones(17)], 1)
    pose = PoseKeypoints(hand_left=hand, face=face)
    onehot = draw_openpose(pose, (100, 100), 27)
    lit = {k for k in range(27) if onehot[:, :, k].any()}
    assert lit == {24, 26}
    colour = draw_openpose(pose, (100, 100), 3)
    # the thumb's first segment: wrist (70, 60) -> (50, 40); at its middle, the thumb colour
    assert tuple(colour[50, 60]) == HAND_COLORS[0]


def test_fit_curve_is_a_line_through_two_points():
    cx, cy = fit_curve([10.0, 20.0], [5.0, 25.0])   # steeper in y: parametrised along y
    assert cy.min() == 5 and cy.max() == 25 and len(cy) == 20
    assert np.all(np.abs(cx - (10 + (cy - 5) / 2)) <= 1)


def test_face_edge_map():
    t = np.linspace(0, np.pi, 17)
    pts = np.zeros((68, 2))
    pts[:17] = np.stack([64 - 40 * np.cos(t), 60 + 40 * np.sin(t)], 1)          # jaw
    pts[17:27] = np.stack([np.r_[np.linspace(35, 58, 5), np.linspace(70, 93, 5)], np.full(10, 45)], 1)
    pts[27:36] = np.stack([np.r_[np.full(4, 64), np.linspace(56, 72, 5)], np.r_[np.linspace(50, 75, 4), np.full(5, 80)]], 1)
    eye = np.array([[0, 0], [4, -3], [8, -3], [12, 0], [8, 3], [4, 3]], float)
    pts[36:42], pts[42:48] = eye + (40, 58), eye + (76, 58)
    pts[48:60] = np.stack([64 + 16 * np.cos(np.linspace(np.pi, -np.pi, 13)[:-1]),
                           92 + 6 * np.sin(np.linspace(np.pi, -np.pi, 13)[:-1])], 1)
    pts[60:68] = np.stack([64 + 10 * np.cos(np.linspace(np.pi, -np.pi, 9)[:-1]),
                           92 + 2 * np.sin(np.linspace(np.pi, -np.pi, 9)[:-1])], 1)
    edges = draw_face_edges(pts, (128, 128), add_upper_face=True)
    assert set(np.unique(edges)) == {0, 255}
    assert edges[45, 45] == 255 or edges[44:47, 44:47].any()   # right brow
    assert edges[60:76, 63:66].any()                            # nose bridge 28 -> 31
    no_upper = draw_face_edges(pts, (128, 128), add_upper_face=False)
    # the upper face adds a contour above the jaw line's ends (rows above 60), between the ears
    assert edges[:40].sum() > 0 and no_upper[:40].sum() == 0


def test_flow_colour_wheel():
    f = np.zeros((4, 4, 2), np.float32)
    f[0, 0] = (1, 0)     # rightwards
    f[0, 1] = (-1, 0)    # leftwards
    f[0, 2] = (0, 1)     # downwards
    img = flow_to_color(f)
    assert tuple(img[1, 1]) == (255, 255, 255)
    assert img[0, 0, 0] > 200 and img[0, 0, 2] < 60           # rightwards: red (Middlebury)
    assert img[0, 1, 2] > 200 and img[0, 1, 0] < 60           # leftwards: cyan/blue
    assert not np.array_equal(img[0, 0], img[0, 2])
    with pytest.raises(VidsynthError):
        flow_to_color(np.zeros((4, 4)))


def test_colorize_labels():
    pal = np.array([[0, 0, 0], [10, 20, 30], [200, 100, 0]], np.uint8)
    out = colorize_labels(np.array([[2, 1], [0, 7]]), pal)
    assert out[0, 0].tolist() == [200, 100, 0] and out[0, 1].tolist() == [10, 20, 30]
    assert out[1, 1].tolist() == [0, 0, 0]


def frame_with(conditions, image=None):
    image = np.zeros((60, 80, 3), np.uint8) if image is None else image
    return Frame(index=3, pts=3, time_base=Fraction(1, 30), image=image, conditions=conditions)


def test_draw_stages_targets():
    pose = body_with({1: (40, 10), 8: (40, 50)})
    f = DrawPose()(frame_with({"pose": pose}))
    assert f.image.shape == (60, 80, 3) and tuple(f.image[30, 40]) == (153, 0, 0)
    original = np.full((60, 80, 3), 7, np.uint8)
    g = DrawPose(target="condition")(frame_with({"pose": pose}, original))
    assert g.image is original and tuple(g.conditions["pose_map"][30, 40]) == (153, 0, 0)
    empty_face = DrawFace()(frame_with({"face": FaceLandmarks.empty()}))
    assert not empty_face.image.any()
    flow = DrawFlow(target="condition")(frame_with({"flow": np.zeros((60, 80, 2), np.float32)}))
    assert flow.conditions["flow_map"].shape == (60, 80, 3)
    with pytest.raises(VidsynthError, match="'pose'"):
        DrawPose()(frame_with({}))
    with pytest.raises(VidsynthError):
        DrawPose(target="nowhere")
