"""Shared layers: block orders, residual shortcuts, SPADE/AdaIN conditioning, weight-norm apply/fold."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidsynth.networks.layers import (AdaptiveNorm, ConvBlock, DownResBlock, LinearBlock, ResBlock,
                                      SpatiallyAdaptiveNorm, UpResBlock, apply_weight_norms, fold_weight_norms)


def test_block_order_is_respected():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 6, 6)
    cna = ConvBlock(2, 3, 3, padding=1, activation="relu", order="CNA")
    assert (cna(x) >= 0).all()
    anc = ConvBlock(2, 3, 3, padding=1, activation="relu", order="ANC")
    anc.load_state_dict(cna.state_dict())
    assert torch.allclose(anc(x), cna.conv(torch.relu(x)))
    with pytest.raises(ValueError, match="order"):
        ConvBlock(2, 3, order="CNAC")


@pytest.mark.parametrize("cin,cout,learn,channels", [(4, 4, None, 4), (4, 6, None, 6), (4, 6, False, 6),
                                                      (6, 4, False, 4)])
def test_res_block_shortcuts(cin, cout, learn, channels):
    block = ResBlock(cin, cout, norm="instance", activation="relu", learn_shortcut=learn)
    x = torch.randn(2, cin, 8, 8)
    assert block(x).shape == (2, channels, 8, 8)
    if cin == cout and learn is None:
        assert block.shortcut is None
        assert torch.allclose(block(x), x + block.branch(x))
    if cin > cout:
        assert torch.allclose(block(x), x[:, :cout] + block.branch(x))


def test_up_and_down_res_blocks():
    x = torch.randn(1, 4, 8, 8)
    assert UpResBlock(4, 2, 5, padding=2, norm="instance")(x).shape == (1, 2, 16, 16)
    up = UpResBlock(4, 2, order="NACNAC", norm="instance")
    assert up(x).shape == (1, 2, 16, 16)
    assert DownResBlock(4, 6)(x).shape == (1, 6, 4, 4)


def test_spade_modulation_follows_the_label_map():
    torch.manual_seed(0)
    spade = SpatiallyAdaptiveNorm(3, cond_dims=2, num_filters=4, norm="instance")
    x = torch.randn(1, 3, 8, 8)
    label = torch.zeros(1, 2, 16, 16)
    label[:, 0, :, :8] = 1
    label[:, 1, :, 8:] = 1
    out = spade(x, label)
    assert out.shape == x.shape
    assert not torch.allclose(out, spade(x, label.flip(3)))
    assert torch.allclose(spade(x, None), nn.functional.instance_norm(x))  # a None map is skipped


def test_adaptive_norm_is_affine_in_the_normalised_input():
    torch.manual_seed(0)
    ada = AdaptiveNorm(3, cond_dims=5)
    x, y = torch.randn(2, 3, 4, 4), torch.randn(2, 5)
    gamma, beta = ada.fc(y).chunk(2, 1)
    expected = nn.functional.instance_norm(x) * (1 + gamma[..., None, None]) + beta[..., None, None]
    assert torch.allclose(ada(x, y), expected, atol=1e-6)


def test_conditional_blocks_pass_the_condition():
    block = ConvBlock(3, 3, 3, padding=1, norm="adaptive", norm_params={"cond_dims": 4}, order="NAC")
    assert block.conditional
    assert block(torch.randn(1, 3, 5, 5), torch.randn(1, 4)).shape == (1, 3, 5, 5)
    assert LinearBlock(4, 2, norm="instance", norm_params={"affine": False}).norm is not None


def test_apply_then_fold_weight_norms_keeps_the_function():
    torch.manual_seed(0)
    model = nn.Sequential(ConvBlock(3, 4, 3, padding=1, weight_norm="spectral", activation="relu"),
                          ConvBlock(4, 4, 3, padding=1, weight_norm="weight"), LinearBlock(2, 2))
    apply_weight_norms(model)
    assert hasattr(model[0].conv, "parametrizations") and hasattr(model[1].conv, "parametrizations")
    x = torch.randn(1, 3, 6, 6)
    model.train()
    for _ in range(5):
        model[1](model[0](x))  # spectral-norm power iterations
    model.eval()
    with torch.no_grad():
        before = model[1](model[0](x))
    fold_weight_norms(model)
    assert set(model.state_dict()) == {"0.conv.weight", "0.conv.bias", "1.conv.weight", "1.conv.bias",
                                       "2.conv.weight", "2.conv.bias"}
    with torch.no_grad():
        assert torch.allclose(model[1](model[0](x)), before, atol=1e-6)
    sigma = torch.linalg.matrix_norm(model[0].conv.weight.detach().reshape(4, -1), ord=2)
    assert abs(float(sigma) - 1.0) < 0.05
