"""DIS optical flow: direction convention, sub-pixel accuracy on a known shift, reset on discontinuity."""

from fractions import Fraction

import numpy as np
import pytest

from vidsynth.engine.extract import FlowExtractor, backward_flow
from vidsynth.errors import VidsynthError
from vidsynth.streams.frame import Frame

cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")


def shifted(image, dx, dy):
    """``out[y, x] = image[y - dy, x - dx]``: the content moves by (dx, dy)."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


@pytest.fixture(scope="module")
def texture():
    return cv2.resize(skdata.astronaut(), (160, 160), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("dx,dy", [(3.0, -2.0), (1.5, 2.5)])
def test_recovers_a_known_shift(texture, dx, dy):
    current = shifted(texture, dx, dy)
    flow = backward_flow(current, texture)
    inner = flow[20:-20, 20:-20].reshape(-1, 2)
    # current[y, x] = previous[y - dy, x - dx]: the flow points back by the shift
    med = np.median(inner, 0)
    assert abs(med[0] + dx) < 0.5 and abs(med[1] + dy) < 0.5
    # and warping the previous frame with it reproduces the current frame
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    warped = cv2.remap(texture, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR)
    err = np.abs(warped.astype(float) - current.astype(float))[20:-20, 20:-20].mean()
    base = np.abs(texture.astype(float) - current.astype(float))[20:-20, 20:-20].mean()
    assert err < 0.35 * base


def test_stage_resets_on_discontinuity(texture):
    stage = FlowExtractor(preset="fast")
    frames = [Frame(i, i, Fraction(1, 30), img, discontinuity=(i == 2))
              for i, img in enumerate([texture, shifted(texture, 2, 0), shifted(texture, 4, 0)])]
    flows = [stage(f).conditions["flow"] for f in frames]
    assert all(f.shape == (160, 160, 2) and f.dtype == np.float32 for f in flows)
    assert not flows[0].any()
    assert abs(np.median(flows[1][20:-20, 20:-20, 0]) + 2) < 0.5
    assert not flows[2].any()   # after the discontinuity there is no previous frame


def test_bad_preset():
    with pytest.raises(VidsynthError, match="preset"):
        FlowExtractor(preset="slowest")
