"""wc-vid2vid: guidance input, its checks, first-colour-sticks guidance from unprojections, first frames."""


import pytest
import torch

from vidsynth.errors import VidsynthError
from vidsynth.networks.labels import LabelLayout
from vidsynth.networks.spade import SPADEConfig
from vidsynth.networks.wc_vid2vid import WCVid2VidConfig, WCVid2VidGenerator


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=4)).eval()


def labels(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(1, 4, 32, 64, generator=g) for _ in range(n)]


@torch.no_grad()
def test_guidance_used_once_flow_is_active(model):
    g = torch.Generator().manual_seed(5)
    guidance = torch.cat([torch.rand(1, 3, 32, 64, generator=g) * 2 - 1, torch.ones(1, 1, 32, 64)], 1)
    s_with = s_without = None
    for t, label in enumerate(labels(3)):
        a, s_with = model.step({"label": label, "guidance": guidance}, s_with)
        b, s_without = model.step({"label": label}, s_without)
        # like imaginaire: guidance enters the network only with the flow path (t >= num_frames_G - 1)
        assert torch.equal(a["image"], b["image"]) == (t < 2)


@pytest.mark.parametrize("shape", [(1, 3, 32, 64), (1, 4, 16, 32), (2, 4, 32, 64), (4, 32, 64)])
def test_guidance_of_wrong_shape(model, shape):
    with pytest.raises(VidsynthError, match=r"\[1, 4, 32, 64\]"):
        model.step({"label": labels(1)[0], "guidance": torch.zeros(shape)}, None)


def test_guidance_every_block_vs_flow_blocks_only():
    full = WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=4))
    flow_only = WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=4, guidance_only_with_flow=True))
    top = full.config.num_layers
    assert len(full.get_submodule(f"up_{top}.conv_0.norm").mlps) == 2  # label + guidance
    assert len(flow_only.get_submodule(f"up_{top}.conv_0.norm").mlps) == 1
    assert len(flow_only.get_submodule("up_0.conv_0.norm").mlps) == 3  # label + warped frame + guidance


@torch.no_grad()
def test_single_image_model_makes_first_frames():
    torch.manual_seed(0)
    spade = SPADEConfig(label=LabelLayout(num_classes=4, dont_care=False, instance_edges=False), num_filters=4,
                        spade_filters=8, style_dims=8, style_encoder_filters=4, spade_norm="instance",
                        global_adaptive_norm="instance")
    model = WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=4, single_image=spade)).eval()
    z = torch.randn(1, 8)
    state = model.initial_state(single_image_z=z)
    assert torch.equal(state["single_image_z"], z)  # the stream's style code is state, a named tensor
    sources = []
    for label in labels(3):
        out, state = model.step({"label": label, "guidance": torch.zeros(1, 4, 32, 64)}, state)
        single = model.single_image_model.spade_generator(label, z)
        sources.append("single_image" if torch.equal(out["image"], single) else "video")
        assert out["image"].shape == (1, 3, 32, 64) and ("flow" in out) == (sources[-1] == "video")
    assert sources == ["single_image", "single_image", "video"]
    assert model.initial_state()["single_image_z"].shape == (1, 8)  # drawn when not given


def test_conditions_spec(model):
    assert model.conditions_spec() == {"label": (4, 32, 64), "guidance": (4, 32, 64)}
