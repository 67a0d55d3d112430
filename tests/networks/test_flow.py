"""Flow warping and the flow / occlusion heads."""

import pytest
import torch

from vidsynth.networks.flow import FlowNetConfig, FlowWarp, PairFlowHead, TemporalFlowHead, base_grid, warp


def test_zero_flow_is_identity():
    img = torch.rand(2, 3, 9, 13)
    assert torch.allclose(warp(img, torch.zeros(2, 2, 9, 13)), img, atol=1e-6)


@pytest.mark.parametrize("dx,dy", [(1, 0), (0, 2), (-3, 1), (2, -2)])
def test_integer_shift_equals_roll(dx, dy):
    img = torch.rand(1, 3, 16, 20)
    flow = torch.zeros(1, 2, 16, 20)
    flow[:, 0], flow[:, 1] = dx, dy
    out = warp(img, flow)
    # out[y, x] = img[y + dy, x + dx]  ==  roll by (-dy, -dx), away from the clamped border
    rolled = torch.roll(img, shifts=(-dy, -dx), dims=(2, 3))
    ys = slice(max(0, -dy), 16 - max(0, dy))
    xs = slice(max(0, -dx), 20 - max(0, dx))
    assert torch.allclose(out[..., ys, xs], rolled[..., ys, xs], atol=1e-5)


def test_border_padding_repeats_edge():
    img = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 1, 4, 5).contiguous()
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 0] = 10.0  # far past the right edge
    assert torch.allclose(warp(img, flow), torch.full_like(img, 4.0))


def test_half_pixel_shift_interpolates():
    img = torch.tensor([[0.0, 2.0, 4.0, 6.0]]).view(1, 1, 1, 4).expand(1, 1, 3, 4).contiguous()
    flow = torch.zeros(1, 2, 3, 4)
    flow[:, 0] = 0.5
    assert torch.allclose(warp(img, flow)[0, 0, 1, :3], torch.tensor([1.0, 3.0, 5.0]), atol=1e-5)


def test_module_and_errors():
    assert FlowWarp()(torch.ones(1, 3, 4, 4), torch.zeros(1, 2, 4, 4)).shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match=r"\[N, 2, H, W\]"):
        warp(torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="differ"):
        warp(torch.ones(1, 3, 4, 4), torch.zeros(1, 2, 5, 4))
    grid = base_grid(1, 3, 5)
    assert grid[0, 0, 0, 0] == -1 and grid[0, 0, 0, -1] == 1 and grid[0, 1, -1, 0] == 1


def test_flow_heads_shapes_and_mask_range():
    torch.manual_seed(0)
    cfg = FlowNetConfig(num_filters=4, max_num_filters=8, num_downsamples=2, num_res_blocks=1, flow_multiplier=5)
    with torch.no_grad():
        flow, mask = TemporalFlowHead(cfg, 3, 3, 3)(torch.rand(2, 9, 16, 24), torch.rand(2, 6, 16, 24))
    assert flow.shape == (2, 2, 16, 24) and mask.shape == (2, 1, 16, 24)
    assert float(mask.min()) > 0 and float(mask.max()) < 1
    head = PairFlowHead(FlowNetConfig(num_filters=4, num_downsamples=2, num_res_blocks=1, separate_mask_decoder=True),
                        1, 3, 2)
    flow, mask = head(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), torch.rand(1, 3, 16, 16))
    assert flow.shape == (1, 2, 16, 16) and hasattr(head, "up_mask")
