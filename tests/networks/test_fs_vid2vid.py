"""Few-shot vid2vid: per-stream reference work, the step loop, several references, reference fitting."""

import pytest
import torch

from vidsynth.errors import VidsynthError
from vidsynth.networks.fs_vid2vid import FewShotVid2VidConfig, FewShotVid2VidGenerator
from vidsynth.networks.vid2vid import PoseLabelConfig


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return FewShotVid2VidGenerator(FewShotVid2VidConfig.tiny(label_channels=1)).eval()


def frames(n, channels=1, seed=0, size=(64, 64)):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(1, channels, *size, generator=g) for _ in range(n)]


def count_calls(module):
    calls = []
    handle = module.register_forward_hook(lambda *_: calls.append(1))
    return calls, handle


@torch.no_grad()
def test_reference_work_runs_once_per_stream(model):
    wg = model.weight_generator
    enc_calls, h1 = count_calls(wg.ref_img_first)
    gen_calls, h2 = count_calls(wg.fc_spade_0_0)
    flow_calls, h3 = count_calls(model.flow_network_ref)
    emb_calls, h4 = count_calls(wg.label_embedding)
    try:
        ref_img, ref_lbl = torch.rand(1, 1, 3, 64, 64), torch.rand(1, 1, 1, 64, 64)
        state = model.initial_state(model.encode_references(ref_img, ref_lbl))
        for label in frames(5):
            out, state = model.step({"label": label}, state)
        assert len(enc_calls) == 1 and len(gen_calls) == 1  # reference encoding + weight generation: once
        # per-frame work: the target label embedding and the reference flow (+ the shared temporal flow)
        assert len(emb_calls) == 5 and len(flow_calls) == 5 + 4
        # a new stream (new references) encodes again, once
        state = model.initial_state(model.encode_references(ref_img, ref_lbl))
        for label in frames(3):
            out, state = model.step({"label": label}, state)
        assert len(enc_calls) == 2 and len(gen_calls) == 2
    finally:
        for h in (h1, h2, h3, h4):
            h.remove()


@torch.no_grad()
def test_cached_references_equal_per_frame_encoding(model):
    ref_img, ref_lbl = torch.rand(1, 1, 3, 64, 64), torch.rand(1, 1, 1, 64, 64)
    state = model.initial_state(model.encode_references(ref_img, ref_lbl))
    prev_l = prev_i = None
    for label in frames(3, seed=3):
        out, state = model.step({"label": label}, state)
        direct = model(label, ref_lbl, ref_img, prev_l, prev_i)  # re-encodes the references (training path)
        assert torch.equal(out["image"], direct["image"])
        prev_l, prev_i = label[:, None], out["image"][:, None]


@torch.no_grad()
def test_outputs_and_state(model):
    state = model.initial_state(model.encode_references(torch.rand(1, 1, 3, 64, 64), torch.rand(1, 1, 1, 64, 64)))
    out, state = model.step({"label": frames(1)[0]}, state)
    assert out["image"].shape == (1, 3, 64, 64)
    assert out["reference_flow"].shape == (1, 2, 64, 64) and "flow" not in out  # no previous frame yet
    assert out["reference_warped_image"].shape == (1, 3, 64, 64)
    out, state = model.step({"label": frames(1, seed=1)[0]}, state)
    assert out["flow"].shape == (1, 2, 64, 64) and out["occlusion_mask"].shape == (1, 1, 64, 64)
    assert state["prev_images"].shape == (1, 1, 3, 64, 64)  # num_frames_G - 1 = 1 kept
    assert all(isinstance(v, torch.Tensor) for v in list(out.values()) + list(state.values()))
    # the references' part: the images, the decoder input and the generated weights, computed once
    refs = {k: v for k, v in state.items() if not k.startswith("prev_")}
    assert {"ref_images", "ref_labels", "ref_features", "weights.norm.0.0.weight"} <= set(refs)
    state = model.reset(state)
    assert all(state[k] is v for k, v in refs.items()) and state["prev_images"].shape[1] == 0


def test_step_without_references_is_a_clear_error(model):
    with pytest.raises(VidsynthError, match="encode_references"):
        model.step({"label": frames(1)[0]}, model.initial_state())


@torch.no_grad()
def test_mixed_size_references_are_fitted(model):
    imgs = [torch.rand(3, 80, 60), torch.rand(1, 3, 64, 64)]
    lbls = [torch.rand(1, 80, 60), torch.rand(1, 1, 64, 64)]
    images, labels = model.prepare_references(imgs, lbls)
    assert images.shape == (1, 2, 3, 64, 64) and labels.shape == (1, 2, 1, 64, 64)
    # one reference of another size: resized to the model size and usable
    refs = model.encode_references([torch.rand(3, 100, 70)], [torch.rand(1, 100, 70)])
    out, _ = model.step({"label": frames(1)[0]}, model.initial_state(refs))
    assert out["image"].shape == (1, 3, 64, 64)


def test_reference_errors(model):
    with pytest.raises(VidsynthError, match="1 channels"):
        model.encode_references(torch.rand(1, 1, 3, 64, 64), torch.rand(1, 1, 2, 64, 64))
    with pytest.raises(VidsynthError, match="one label map per image"):
        model.prepare_references(torch.rand(1, 2, 3, 64, 64), torch.rand(1, 1, 1, 64, 64))
    with pytest.raises(VidsynthError, match="no references"):
        model.encode_references([], [])
    with pytest.raises(VidsynthError, match="attention module"):  # a K=1 model given 2 references
        model.encode_references(torch.rand(1, 2, 3, 64, 64), torch.rand(1, 2, 1, 64, 64))


@torch.no_grad()
def test_several_references_attention_per_frame():
    torch.manual_seed(0)
    model = FewShotVid2VidGenerator(FewShotVid2VidConfig.tiny(label_channels=1, few_shot_K=2)).eval()
    wg = model.weight_generator
    enc_calls, h1 = count_calls(wg.ref_img_first)
    key_calls, h2 = count_calls(wg.attention_module.atn_key_first)
    query_calls, h3 = count_calls(wg.attention_module.atn_query_first)
    try:
        state = model.initial_state(model.encode_references(torch.rand(1, 2, 3, 64, 64), torch.rand(1, 2, 1, 64, 64)))
        for label in frames(4):
            out, state = model.step({"label": label}, state)
            assert out["reference_index"].shape == (1,) and 0 <= int(out["reference_index"]) < 2
        # per-reference features and attention keys once; the query (current label) per frame
        assert (len(enc_calls), len(key_calls), len(query_calls)) == (1, 1, 4)
    finally:
        for h in (h1, h2, h3):
            h.remove()


@torch.no_grad()
def test_pose_model_and_imaginaire_eps():
    torch.manual_seed(0)
    cfg = FewShotVid2VidConfig.tiny(label_channels=6, pose=PoseLabelConfig(remove_face_labels=True))
    model = FewShotVid2VidGenerator(cfg).eval()
    refs = model.encode_references(torch.rand(1, 1, 3, 64, 64), torch.rand(1, 1, 6, 64, 64) * 2 - 1)
    out, _ = model.step({"label": torch.rand(1, 6, 64, 64) * 2 - 1}, model.initial_state(refs))
    assert out["image"].shape == (1, 3, 64, 64)
    model.adapt_to_imaginaire_layout("ema")
    assert model.weight_generator.ref_label_first.norm.eps == 1e-5
    assert model.weight_generator.ref_img_first.norm.eps == 1e-5  # untouched (default)
    model.adapt_to_imaginaire_layout("training")
    assert model.weight_generator.ref_label_down_0.norm.eps == 0.1
    # the shared flow head is one module (stored once in imaginaire's layout, twice in the state dict)
    assert model.flow_network_temp is model.flow_network_ref


@torch.no_grad()
def test_model_file_round_trip_keeps_the_tied_flow_head(tmp_path, model):
    from vidsynth.networks.model_file import load_model, save_model

    cfg = FewShotVid2VidConfig.tiny(label_channels=6, pose=PoseLabelConfig(remove_face_labels=True))
    torch.manual_seed(0)
    original = FewShotVid2VidGenerator(cfg).eval()
    save_model(original, tmp_path / "fs.safetensors")
    loaded = load_model(tmp_path / "fs.safetensors")
    assert loaded.config == cfg and loaded.flow_network_temp is loaded.flow_network_ref
    refs = (torch.rand(1, 1, 3, 64, 64), torch.rand(1, 1, 6, 64, 64))
    label = torch.rand(1, 6, 64, 64)
    a, _ = original.step({"label": label}, original.initial_state(original.encode_references(*refs)))
    b, _ = loaded.step({"label": label}, loaded.initial_state(loaded.encode_references(*refs)))
    assert torch.equal(a["image"], b["image"])


def test_label_and_reference_sizes_must_agree(model):
    refs = model.encode_references(torch.rand(1, 1, 3, 64, 64), torch.rand(1, 1, 1, 64, 64))
    with pytest.raises(VidsynthError, match="fit both"):
        model.step({"label": torch.rand(1, 1, 32, 32)}, model.initial_state(refs))


@pytest.mark.parametrize("mode,hyper_conv", [("concat", False), ("none", True)])
@torch.no_grad()
def test_other_reference_label_modes_and_hyper_convs(mode, hyper_conv):
    from dataclasses import replace

    cfg = FewShotVid2VidConfig.tiny(label_channels=1)
    cfg = replace(cfg, hyper=replace(cfg.hyper, ref_label_mode=mode, hyper_conv=hyper_conv))
    torch.manual_seed(0)
    m = FewShotVid2VidGenerator(cfg).eval()
    refs = m.encode_references(torch.rand(1, 1, 3, 64, 64), torch.rand(1, 1, 1, 64, 64))
    from vidsynth.networks.fs_vid2vid import GeneratedWeights

    assert len(GeneratedWeights.from_tensors(refs).conv) == (cfg.num_hyper_layers if hyper_conv else 0)
    state = m.initial_state(refs)
    for _ in range(2):
        out, state = m.step({"label": torch.rand(1, 1, 64, 64)}, state)
    assert out["image"].shape == (1, 3, 64, 64) and float(out["image"].std()) > 1e-3
