import numpy as np
import pytest
import torch

from vidsynth.engine.fitting import Placement, SubjectCrop, keypoint_bbox
from vidsynth.engine.tensors import image_to_tensor, tensor_to_image
from vidsynth.errors import VidsynthError


@pytest.mark.parametrize("mode", ["resize", "crop", "letterbox"])
@pytest.mark.parametrize("src", [(48, 80), (80, 48), (64, 64)])
def test_round_trip_keeps_the_visible_content(mode, src):
    """Crop to the model size and paste back: inside the box the picture is the input again."""
    h, w = src
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    x = torch.stack([xx / w, yy / h, (xx + yy) / (w + h)])[None].float()
    p = Placement.for_mode(mode, (h, w), (32, 32))
    y = p.crop(x)
    assert y.shape == (1, 3, 32, 32)
    back = p.paste(y, torch.zeros_like(x))
    x0, y0, x1, y1 = p.box
    sl = (..., slice(max(y0, 0), min(y1, h)), slice(max(x0, 0), min(x1, w)))
    # a smooth ramp survives down- and up-sampling to within a few per cent
    assert (back[sl] - x[sl]).abs().mean() < 0.03


def test_boxes_by_mode():
    assert Placement.for_mode("resize", (90, 160), (64, 64)).box == (0, 0, 160, 90)
    assert Placement.for_mode("crop", (90, 160), (64, 64)).box == (35, 0, 125, 90)
    assert Placement.for_mode("letterbox", (90, 160), (64, 64)).box == (0, -35, 160, 125)
    with pytest.raises(VidsynthError, match="fit mode"):
        Placement.for_mode("squash", (90, 160), (64, 64))


def test_nearest_crop_keeps_label_ids_exact():
    labels = torch.randint(0, 35, (1, 1, 40, 60))
    y = Placement.for_mode("letterbox", (40, 60), (60, 60)).crop(labels, nearest=True, pad_value=0)
    assert set(y.unique().tolist()) <= set(labels.unique().tolist()) | {0}


def test_keypoints_follow_the_crop():
    p = Placement.for_mode("crop", (100, 200), (50, 50))
    assert np.allclose(p.points_to_model(np.array([[50.0, 0.0], [150.0, 100.0]])), [[0, 0], [50, 50]])


def test_subject_crop_is_stable_and_holds():
    crop = SubjectCrop(dst_hw=(64, 32), margin=1.2, smoothing=0.5, deadband=0.05)
    first = crop.update((90, 40, 110, 160), src_hw=(200, 200))
    jitter = crop.update((91, 41, 111, 161), src_hw=(200, 200))   # under the deadband: no move
    assert jitter == first
    held = crop.update(None, src_hw=(200, 200))                    # nobody found: hold the last box
    assert held == first
    moved = crop.update((140, 40, 160, 160), src_hw=(200, 200))    # a real move: eases toward it
    assert first.box[0] < moved.box[0] < 140
    crop.reset()
    assert crop.update(None, src_hw=(200, 200)) == Placement.for_mode("letterbox", (200, 200), (64, 32))


def test_keypoint_bbox_ignores_missing_points():
    pts = np.array([[10, 20, 0.9], [30, 5, 0.8], [500, 500, 0.0]])
    assert keypoint_bbox(pts) == (10, 5, 30, 20)
    assert keypoint_bbox(np.zeros((25, 3))) is None


def test_image_tensor_round_trip_is_exact():
    img = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    assert np.array_equal(tensor_to_image(image_to_tensor(img)), img)
