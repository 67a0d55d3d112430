"""Loss values on hand-checkable inputs, and that each pushes its network the right way."""

import pytest
import torch

from vidsynth.errors import VidsynthError
from vidsynth.training import losses as L


def test_gan_losses_known_values():
    pos, neg = torch.full((2, 1, 3, 3), 2.0), torch.full((2, 1, 3, 3), -0.5)
    # hinge: relu(1 - real) + relu(1 + fake); generator: -mean(fake)
    assert float(L.discriminator_loss(pos, neg, "hinge")) == pytest.approx(0.0 + 0.5)
    assert float(L.generator_loss(neg, "hinge")) == pytest.approx(0.5)
    # least squares: 0.5 (real - 1)^2 + 0.5 fake^2
    assert float(L.discriminator_loss(pos, neg, "least_square")) == pytest.approx(0.5 * 1 + 0.5 * 0.25)
    # non-saturating: softplus(-real) + softplus(fake)
    sp = torch.nn.functional.softplus
    assert float(L.discriminator_loss(pos, neg, "non_saturated")) == pytest.approx(float(sp(torch.tensor(-2.0)) + sp(torch.tensor(-0.5))))
    assert float(L.generator_loss(neg, "non_saturated")) == pytest.approx(float(sp(torch.tensor(0.5))))
    with pytest.raises(VidsynthError, match="GAN mode"):
        L.generator_loss(neg, "wgan")


def test_gan_loss_averages_scales_not_pixels():
    fine, coarse = torch.zeros(1, 1, 8, 8), torch.full((1, 1, 2, 2), 4.0)
    out = [[fine], [coarse]]
    assert float(L.generator_loss(out, "hinge")) == pytest.approx((0.0 - 4.0) / 2)


@pytest.mark.parametrize("mode", L.GAN_MODES)
def test_gradients_point_the_right_way(mode):
    logit = torch.full((4, 1, 2, 2), 0.5, requires_grad=True)
    L.generator_loss(logit, mode).backward()
    assert (logit.grad < 0).all()  # the generator wants higher scores
    real = torch.full((4, 1, 2, 2), 0.5, requires_grad=True)
    fake = torch.full((4, 1, 2, 2), 0.5, requires_grad=True)
    L.discriminator_loss(real, fake, mode).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()


def test_feature_matching_uses_features_only_and_detaches_real():
    real_f = torch.ones(1, 2, 4, 4, requires_grad=True)
    fake_f = torch.zeros(1, 2, 4, 4, requires_grad=True)
    real = [[real_f, torch.full((1, 1, 4, 4), 100.0)]]
    fake = [[fake_f, torch.zeros(1, 1, 4, 4)]]
    loss = L.feature_matching_loss(fake, real)
    assert float(loss.detach()) == pytest.approx(1.0)  # the logits (100 vs 0) are not features
    loss.backward()
    assert real_f.grad is None and fake_f.grad is not None


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    assert float(L.kl_loss(torch.zeros(3, 8), torch.zeros(3, 8))) == pytest.approx(0.0)
    assert float(L.kl_loss(torch.ones(3, 8), torch.zeros(3, 8))) == pytest.approx(0.5 * 8)


def test_flow_warp_and_temporal_losses_use_the_flow():
    img = torch.rand(1, 3, 16, 16)
    shifted = torch.roll(img, shifts=-2, dims=3)  # shifted(x) = img(x + 2)
    flow = torch.zeros(1, 2, 16, 16)
    flow[:, 0] = 2.0
    inner = (slice(None), slice(None), slice(None), slice(0, 13))  # away from the wrapped border
    assert float((L.warp(img, flow) - shifted)[inner].abs().max()) < 1e-5
    assert float(L.flow_warp_loss(img, shifted, flow)) < float(L.flow_warp_loss(img, shifted, torch.zeros_like(flow)))
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., :13] = 1
    assert float(L.temporal_loss(img, shifted, flow, mask)) < 1e-5
    assert float(L.flow_l1_loss(flow, torch.zeros_like(flow))) == pytest.approx(1.0)


def test_masked_l1_weighs_each_example_alike_so_a_split_batch_gives_the_same_loss():
    # what DDP relies on: the mean of the halves' losses is the whole batch's loss, however unevenly masked
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(4, 3, 8, 8, generator=g), torch.rand(4, 3, 8, 8, generator=g)
    mask = torch.zeros(4, 1, 8, 8)
    mask[0, :, :2], mask[1], mask[2, :, :, :5], mask[3, :, 3, 3] = 1, 1, 1, 1
    whole = L.masked_l1(a, b, mask)
    halves = (L.masked_l1(a[:2], b[:2], mask[:2]) + L.masked_l1(a[2:], b[2:], mask[2:])) / 2
    assert float(whole) == pytest.approx(float(halves), rel=1e-6)
    # and each example is averaged over its own masked pixels
    one = [float(((a[i] - b[i]).abs() * mask[i]).sum() / (3 * mask[i].sum())) for i in range(4)]
    assert float(whole) == pytest.approx(sum(one) / 4, rel=1e-6)
    assert float(L.masked_l1(a, b, torch.zeros(4, 1, 8, 8))) == 0.0  # nothing valid: no loss, no NaN


def test_perceptual_with_builtin_and_user_torchscript_network(tmp_path):
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    loss = L.PerceptualLoss(L.load_feature_network("builtin"), weights=[1, 1, 1])
    assert float(loss(a, a)) == 0.0 and float(loss(a, b)) > 0
    net = torch.jit.script(L.SmallFeatureNet(channels=(4, 8)))
    path = str(tmp_path / "features.pt")
    net.save(path)
    user = L.PerceptualLoss(L.load_feature_network(path), weights=[0.5, 1.0])
    out = a.clone().requires_grad_(True)
    user(out, b).backward()
    assert out.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in user.network.parameters())
    with pytest.raises(VidsynthError, match="does not exist"):
        L.load_feature_network(str(tmp_path / "missing.pt"))
    with pytest.raises(VidsynthError, match="layer weights"):
        L.PerceptualLoss(L.SmallFeatureNet(), weights=[1.0])(a, b)
