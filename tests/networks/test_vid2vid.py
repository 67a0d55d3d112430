"""vid2vid: the streaming step, its state, reset, pose labels, the imaginaire config reader."""

import pytest
import torch

from vidsynth.networks.registry import build_model, config_to_dict, model_class
from vidsynth.networks.vid2vid import PoseLabelConfig, Vid2VidConfig, Vid2VidGenerator, push_frame, valid_pose_labels


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=5)).eval()


def labels(n=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 5, (n, 1, 32, 64), generator=g)
    return [torch.nn.functional.one_hot(i[0], 5).permute(2, 0, 1).float()[None] for i in ids]


@torch.no_grad()
def test_step_loop_shapes_and_state_growth(model):
    state = model.initial_state()
    seen = []
    for t, label in enumerate(labels(4)):
        out, state = model.step({"label": label}, state)
        assert out["image"].shape == (1, 3, 32, 64)
        assert float(out["image"].abs().max()) <= 1
        seen.append((state["prev_images"].shape[1], "flow" in out))
        assert sorted(state) == ["prev_images", "prev_labels"]  # named tensors only
        assert all(isinstance(v, torch.Tensor) for v in list(out.values()) + list(state.values()))
    # history grows to num_frames_G - 1 = 2; the flow path starts once 2 previous frames exist
    assert seen == [(1, False), (2, False), (2, True), (2, True)]
    assert out["flow"].shape == (1, 2, 32, 64) and out["occlusion_mask"].shape == (1, 1, 32, 64)
    assert out["warped_image"].shape == (1, 3, 32, 64)


@torch.no_grad()
def test_step_matches_forward_with_explicit_history(model):
    ls = labels(3)
    state = model.initial_state()
    outs = []
    for label in ls:
        out, state = model.step({"label": label}, state)
        outs.append(out["image"])
    direct = model(ls[2], torch.stack(ls[:2], 1), torch.stack(outs[:2], 1))
    assert torch.equal(direct["image"], outs[2])
    # the state holds the generated frames, not some other tensor
    assert torch.equal(state["prev_images"][:, -1], outs[2])
    assert torch.equal(state["prev_labels"][:, -1], ls[2])


@torch.no_grad()
def test_reset_restarts_the_stream(model):
    ls = labels(3)
    state = model.initial_state()
    first, state = model.step({"label": ls[0]}, state)
    for label in ls[1:]:
        _, state = model.step({"label": label}, state)
    state = model.reset(state)
    assert state["prev_images"].shape[1] == 0 and state["prev_labels"].shape[1] == 0
    again, _ = model.step({"label": ls[0]}, state)
    assert torch.equal(again["image"], first["image"])
    # without the reset the same label gives a different frame (the history matters)
    _, s2 = model.step({"label": ls[0]}, None)
    later, _ = model.step({"label": ls[0]}, s2)
    assert not torch.equal(later["image"], first["image"])


def test_wrong_label_channels(model):
    with pytest.raises(ValueError, match=r"\[N, 5, H, W\]"):
        model.step({"label": torch.zeros(1, 4, 32, 64)}, None)


@torch.no_grad()
def test_pose_model_starts_from_its_trained_constant():
    """imaginaire's pose models start frame 0 from an all-zero code: the start is the trained fc bias,
    whatever the code layer's weights are (the shipped pose model, trained here)."""
    import os

    from vidsynth.networks.model_file import load_model

    path = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "data", "models", "vid2vid_pose_64.safetensors")
    model = load_model(path).eval()
    cfg = model.config
    assert not cfg.use_segmap_as_input
    sh, sw = cfg.bottleneck_size
    starts = []
    hook = model.fc.register_forward_hook(lambda _m, _i, out: starts.append(out.detach().clone()))
    torch.manual_seed(0)
    label = torch.rand(1, cfg.label_channels, *cfg.output_size) * 2 - 1
    first, state = model.step({"label": label}, None)
    bias = model.fc.state_dict()["linear.bias"] if "linear.bias" in model.fc.state_dict() else next(
        v for k, v in model.fc.state_dict().items() if k.endswith("bias"))
    assert bias.abs().max() > 0.01  # trained, not an initial zero
    torch.testing.assert_close(starts[0].view(-1), bias.view(-1), rtol=0, atol=0)  # the constant, exactly
    # the code layer's weights do not reach frame 0 (the code is zero); its bias does
    for _k, value in model.fc.state_dict().items():
        if value.dim() > 1:
            value.add_(torch.randn_like(value))
    again, _ = model.step({"label": label}, None)
    torch.testing.assert_close(again["image"], first["image"], rtol=0, atol=0)
    bias.add_(torch.randn_like(bias))  # a uniform shift would be normalised away: change its pattern
    moved, _ = model.step({"label": label}, None)
    assert (moved["image"] - first["image"]).abs().mean() > 1e-3
    hook.remove()
    out, state = model.step({"label": label}, state)
    assert state["prev_labels"].shape[1] == 2 and out["image"].shape == (1, 3, *cfg.output_size)


def test_valid_pose_labels_removes_face_parts():
    lab = torch.zeros(1, 6, 2, 2)
    part = torch.tensor([[23.0, 5.0], [24.0, 0.0]]) / 24 * 2 - 1  # DensePose part ids in [-1, 1]
    lab[0, 2] = part
    lab[0, 0] = 0.5
    lab[0, 3:] = 0.25
    out = valid_pose_labels(lab, PoseLabelConfig(remove_face_labels=True))
    assert out[0, 0, 0, 0] == -1 and out[0, 0, 1, 0] == -1  # face pixels painted as background
    assert out[0, 0, 0, 1] == 0.5 and torch.equal(out[0, 3:], lab[0, 3:])
    assert valid_pose_labels(lab, PoseLabelConfig(pose_type="open")).shape[1] == 3
    assert valid_pose_labels(lab, None) is lab


def test_push_frame_keeps_newest():
    h = torch.zeros(1, 0, 1, 5, 5)  # an empty history's size does not matter: the first frame replaces it
    for i in range(4):
        h = push_frame(h, torch.full((1, 1, 2, 2), float(i)), keep=2)
    assert h.shape == (1, 2, 1, 2, 2) and h[0, :, 0, 0, 0].tolist() == [2.0, 3.0]
    assert push_frame(h, torch.zeros(1, 1, 2, 2), keep=0).shape == (1, 0, 1, 2, 2)


def test_registry_and_imaginaire_config():
    assert model_class("vid2vid") is Vid2VidGenerator
    cfg = Vid2VidConfig.tiny(label_channels=5)
    rebuilt = build_model("vid2vid", config_to_dict(cfg))
    assert rebuilt.config == cfg
    yaml_like = {
        "gen": {"num_filters": 8, "max_num_filters": 128, "use_segmap_as_input": True,
                "activation_norm_params": {"activation_norm_type": "instance", "num_filters": 0, "kernel_size": 1},
                "flow": {"num_filters": 8, "num_downsamples": 5, "activation_norm_type": "instance",
                         "flow_output_multiplier": 40,
                         "multi_spade_combine": {"num_layers": 3, "embed": {"arch": "unet", "num_filters": 8}}},
                "embed": {"num_filters": 8, "max_num_filters": 128}},
        "data": {"num_frames_G": 3, "input_types": [{"images": {"num_channels": 3}}, {"seg_maps": {"num_channels": 1}}],
                 "input_labels": ["seg_maps"], "input_image": ["images"], "one_hot_num_classes": {"seg_maps": 35},
                 "val": {"augmentations": {"resize_h_w": "128, 256"}}},
    }
    cfg = Vid2VidConfig.from_imaginaire(yaml_like)
    assert (cfg.label_channels, cfg.output_size, cfg.bottleneck_size) == (35, (128, 256), (1, 2))
    assert cfg.flow.flow_multiplier == 40 and cfg.warp_embed.arch == "unet" and cfg.spade_norm == "instance"


def test_skipped_frames_scales():
    from vidsynth.networks.vid2vid import skipped_frames

    hist, clips = None, None
    for t in range(9):
        hist, clips = skipped_frames(hist, torch.full((1, 1, 1, 1), float(t)), scales=2, frames_d=3)
    # scale 0: the last 3 frames; scale 1: 3 frames 3 apart ending with the newest
    assert clips[0][0, :, 0, 0, 0].tolist() == [6.0, 7.0, 8.0]
    assert clips[1][0, :, 0, 0, 0].tolist() == [2.0, 5.0, 8.0]
    assert hist.shape[1] == 6  # only what the coarsest scale needs


def test_video_discriminator_gradients():
    from vidsynth.networks.discriminators import MultiScalePatchConfig
    from vidsynth.networks.vid2vid import VideoDiscriminator, VideoDiscriminatorConfig

    torch.manual_seed(0)
    patch = MultiScalePatchConfig(num_filters=4, max_num_filters=8, num_layers=2, norm="instance")
    d = VideoDiscriminator(VideoDiscriminatorConfig(label_channels=1, few_shot=True, image=patch, temporal=patch,
                                                    temporal_scales=1, num_frames_D=2))
    fake = torch.rand(1, 3, 32, 32, requires_grad=True)
    hist = (None, None)
    out, hist = d(torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32), fake.detach(), hist,
                  torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32))
    assert "temporal_0" not in out  # one frame is not a clip yet
    out, hist = d(torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32), fake, hist,
                  torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32))
    (real_scores, _), (fake_scores, _) = out["temporal_0"]
    loss = sum(s.mean() for s in fake_scores) + sum(s.mean() for s in out["image"][1][0])
    loss.backward()
    assert fake.grad is not None and float(fake.grad.abs().sum()) > 0


def test_impossible_sizes_are_clear_errors(model):
    from vidsynth.errors import VidsynthError

    with pytest.raises(VidsynthError, match="multiples of 16"):
        model.step({"label": torch.zeros(1, 5, 40, 64)}, None)
    pose = Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=5, use_segmap_as_input=False, style_dims=4))
    with pytest.raises(VidsynthError, match="32x64 only"):
        pose.step({"label": torch.zeros(1, 5, 64, 64)}, None)


@torch.no_grad()
def test_mask_blend_variant_without_spade_combine():
    torch.manual_seed(0)
    model = Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=5, spade_combine=False)).eval()
    assert not hasattr(model, "img_prev_embedding")
    state = None
    for label in labels(3):
        out, state = model.step({"label": label}, state)
    # the output is the hallucinated frame blended with the warped one by the occlusion mask
    assert "warped_image" in out and out["image"].shape == (1, 3, 32, 64)


def test_mismatched_embedding_widths_are_a_config_error():
    from vidsynth.errors import VidsynthError
    from vidsynth.networks.vid2vid import EmbedConfig

    cfg = Vid2VidConfig.tiny()
    cfg.warp_embed = EmbedConfig(num_filters=cfg.embed.num_filters * 2, num_downsamples=2, arch="unet")
    with pytest.raises(VidsynthError, match="warp_embed gives"):
        Vid2VidGenerator(cfg)
