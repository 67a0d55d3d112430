"""The six image generators: build from tiny configs, shapes, seeded regression fixtures, determinism, errors."""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

from vidsynth.errors import VidsynthError
from vidsynth.networks.model_file import load_model
from vidsynth.networks.registry import build_model

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
_spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(FIXTURES, "make_fixtures.py"))
make_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fixtures)
MODELS = list(make_fixtures.TINY_CONFIGS)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


@pytest.mark.parametrize("name", MODELS)
def test_fixture_outputs_unchanged(name):
    """Our saved tiny model, re-run on its saved inputs, reproduces its saved outputs."""
    model = load_model(os.path.join(FIXTURES, f"{name}.safetensors"))
    saved = torch.load(os.path.join(FIXTURES, f"{name}_io.pt"), weights_only=True)
    outputs = make_fixtures.run_model(name, model, saved["inputs"])
    assert set(outputs) == set(saved["outputs"])
    for key, ref in saved["outputs"].items():
        assert outputs[key].shape == ref.shape, key
        assert rel_err(outputs[key], ref) < 1e-5, (name, key)


@pytest.mark.parametrize("name", MODELS)
def test_seeded_build_matches_fixture_weights(name):
    """Building with the same seed gives the same weights as the committed fixture (init is seeded)."""
    model = make_fixtures.build_tiny(name)
    stored = load_model(os.path.join(FIXTURES, f"{name}.safetensors")).state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, stored[key]), key


@pytest.mark.parametrize("name", MODELS)
def test_forward_shapes_and_determinism(name):
    model = make_fixtures.build_tiny(name)
    inputs = make_fixtures.make_inputs(name)
    first = make_fixtures.run_model(name, model, inputs)
    second = make_fixtures.run_model(name, model, inputs)
    for key, value in first.items():
        assert torch.equal(value, second[key]), key
        assert torch.isfinite(value).all()
    image = next(v for k, v in first.items() if v.dim() == 4 and v.shape[1] == 3)
    side = 32 if name == "spade" else 16
    assert image.shape[-2:] == (side, side)


def test_images_depend_on_inputs_and_style():
    """Sanity that the tiny models really compute: different labels / styles change the output."""
    spade = make_fixtures.build_tiny("spade")
    inputs = make_fixtures.make_inputs("spade")
    a = spade.generate(inputs["label_ids"], z=inputs["z"])
    b = spade.generate(inputs["label_ids"], z=-inputs["z"])
    c = spade.generate(torch.zeros_like(inputs["label_ids"]), z=inputs["z"])
    assert not torch.allclose(a, b) and not torch.allclose(a, c)
    munit = make_fixtures.build_tiny("munit")
    x = make_fixtures.make_inputs("munit")["images"]
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    r1, r1b = munit.generate(x, generator=g1), munit.generate(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(r1, r1b)
    assert not torch.allclose(r1, munit.generate(x, generator=g2))


def test_funit_class_code_is_mean_of_examples():
    model = make_fixtures.build_tiny("funit")
    ex = make_fixtures.make_inputs("funit")["examples"]
    code = model.encode_class(ex)
    each = torch.cat([model.encode_class(ex[i:i + 1]) for i in range(len(ex))])
    assert torch.allclose(code, each.mean(0, keepdim=True), atol=1e-6)


def test_coco_funit_training_outputs_match_generate():
    model = make_fixtures.build_tiny("coco_funit")
    inputs = make_fixtures.make_inputs("coco_funit")
    style = inputs["examples"][:1]
    with torch.inference_mode():
        out = model.training_outputs(inputs["images"], style)
        assert torch.allclose(out["images_trans"], model.generate(inputs["images"], examples=style), atol=1e-6)


def test_pix2pixhd_feature_encoder_and_sampling():
    cfg = dict(make_fixtures.TINY_CONFIGS["pix2pixhd"], feature_channels=2, encoder_filters=2,
               encoder_downsamples=1, num_clusters=3)
    torch.manual_seed(0)
    model = build_model("pix2pixhd", cfg).eval()
    inputs = make_fixtures.make_inputs("pix2pixhd")
    inst = inputs["instance_map"].unsqueeze(1)
    feats = model.encode_features(torch.rand(1, 3, 16, 16), inst)
    for inst_id in torch.unique(inst):  # constant within an instance
        region = feats[0, :, inst[0, 0] == inst_id]
        assert torch.allclose(region, region[:, :1].expand_as(region), atol=1e-6)
    with torch.no_grad():
        for i in range(model.config.label.channels):
            getattr(model.encoder, f"cluster_{i}").copy_(torch.randn(3, 2))
    s1 = model.generate(inputs["label_ids"], inputs["instance_map"], generator=torch.Generator().manual_seed(0))
    s2 = model.generate(inputs["label_ids"], inputs["instance_map"], generator=torch.Generator().manual_seed(5))
    assert s1.shape == (1, 3, 16, 16) and not torch.allclose(s1, s2)


def test_label_map_with_too_many_classes_is_a_clear_error():
    model = make_fixtures.build_tiny("spade")
    ids = make_fixtures.make_inputs("spade")["label_ids"].clone()
    ids[0, 5, 5] = 9
    with pytest.raises(VidsynthError, match=r"class id\(s\) \[9\].*5 classes"):
        model.generate(ids, z=torch.zeros(1, 4))


@pytest.mark.parametrize("name,shape", [("unit", (1, 3, 18, 16)), ("pix2pixhd", (1, 12, 20))])
def test_bad_input_size_is_a_clear_error(name, shape):
    model = make_fixtures.build_tiny(name)
    with pytest.raises(VidsynthError, match="multiple of"):
        if name == "unit":
            model.generate(torch.zeros(shape))
        else:
            model.generate(torch.zeros(shape, dtype=torch.long))


def test_multimodal_models_require_a_style():
    with pytest.raises(VidsynthError, match="style code"):
        make_fixtures.build_tiny("spade")(torch.zeros(1, 7, 32, 32))
    with pytest.raises(VidsynthError, match="example images"):
        make_fixtures.build_tiny("funit").generate(torch.zeros(1, 3, 16, 16))


def test_unknown_model_and_bad_config_fields():
    with pytest.raises(VidsynthError, match="unknown model 'nope'"):
        build_model("nope")
    with pytest.raises(VidsynthError, match="unknown UNITConfig field"):
        build_model("unit", {"num_filterz": 3})
