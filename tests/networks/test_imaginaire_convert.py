"""The imaginaire checkpoint converter on synthetic imaginaire-layout checkpoints (no imaginaire needed)."""

from __future__ import annotations

import copy
import importlib.util
import os
import textwrap

import pytest
import torch
from torch import nn

from vidsynth.errors import VidsynthError
from vidsynth.networks.imaginaire import (config_from_imaginaire, convert_imaginaire, convert_state,
                                          fold_weight_norm_keys, imaginaire_state_dict, load_converted_state,
                                          read_imaginaire_yaml)
from vidsynth.networks.layers import ResBlock, _Block
from vidsynth.networks.registry import build_model

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
_spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(FIXTURES, "make_fixtures.py"))
make_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fixtures)

_BLOCK_PARTS = {"conv": "conv", "norm": "norm", "act": "nonlinearity"}
_RES_PARTS = {"conv_0": "conv_block_0", "conv_1": "conv_block_1", "shortcut": "conv_block_s"}


def imaginaire_key(model: nn.Module, key: str) -> str:
    """Our key -> imaginaire's (blocks keep their layers in a ModuleDict called 'layers')."""
    parts, out = key.split("."), []
    for i, part in enumerate(parts):
        parent = model.get_submodule(".".join(parts[:i])) if i else model
        if isinstance(parent, _Block) and part in _BLOCK_PARTS:
            out += ["layers", _BLOCK_PARTS[part]]
        elif isinstance(parent, ResBlock) and part in _RES_PARTS:
            out.append(_RES_PARTS[part])
        else:
            out.append(part)
    return ".".join(out)


def imaginaire_training_state(model: nn.Module, scale: float = 3.0, iters: int = 3):
    """imaginaire's training layout of ``model``: spectral-normalised convs as weight_orig/_u/_v.

    Returns (imaginaire state, the plain weights torch's spectral_norm computes in eval mode).
    """
    state, expected = {}, {}
    for key, value in model.state_dict().items():
        state[imaginaire_key(model, key)] = value.clone()
        expected[key] = value.clone()
    torch.manual_seed(3)
    for name, block in model.named_modules():
        if isinstance(block, _Block) and block.weight_norm == "spectral":
            conv = copy.deepcopy(block.conv)
            with torch.no_grad():
                conv.weight.mul_(scale)
            conv = torch.nn.utils.spectral_norm(conv)
            conv.train()
            probe = torch.zeros(1, conv.in_channels, 4, 4) if isinstance(conv, nn.Conv2d) else torch.zeros(1, conv.in_features)
            for _ in range(iters):
                conv(probe)  # power iterations, as training forwards do
            conv.eval()
            conv(probe)
            base = imaginaire_key(model, f"{name}.conv.weight")[: -len("weight")]
            del state[base + "weight"]
            for leaf in ("weight_orig", "weight_u", "weight_v"):
                state[base + leaf] = getattr(conv, leaf).detach().clone()
            expected[f"{name}.conv.weight"] = conv.weight.detach().clone()
    return state, expected


@pytest.fixture(scope="module")
def p2p():
    return make_fixtures.build_tiny("pix2pixhd")


def test_keys_round_trip_and_spectral_folding_equals_torch(p2p):
    raw, expected = imaginaire_training_state(p2p)
    assert any(k.endswith("layers.conv.weight_orig") for k in raw)
    state, layout = convert_state(p2p, {"net_G": {"module." + k: v for k, v in raw.items()}})
    assert layout == "training"
    assert set(state) == set(expected)
    for key, value in expected.items():
        assert torch.allclose(state[key], value, rtol=1e-6, atol=1e-7), key


@pytest.mark.parametrize("layout", ["module", "module.module", "bare"])
def test_training_layouts_convert(p2p, layout):
    raw, expected = imaginaire_training_state(p2p)
    if layout == "bare":
        ckpt = raw
    else:
        ckpt = {"net_G": {f"{layout}.{k}": v for k, v in raw.items()}, "current_iteration": 7}
    target = build_model("pix2pixhd", make_fixtures.TINY_CONFIGS["pix2pixhd"]).eval()
    state, used = convert_state(target, ckpt, ema=False)
    load_converted_state(target, state)
    ref = build_model("pix2pixhd", make_fixtures.TINY_CONFIGS["pix2pixhd"]).eval()
    ref.load_state_dict(expected)
    inputs = make_fixtures.make_inputs("pix2pixhd")
    out = make_fixtures.run_model("pix2pixhd", target, inputs)["images"]
    assert torch.allclose(out, make_fixtures.run_model("pix2pixhd", ref, inputs)["images"], atol=1e-6)


def test_ema_layout_is_preferred_and_training_is_selectable(p2p):
    raw, expected = imaginaire_training_state(p2p)
    ema = {imaginaire_key(p2p, k): v * 0.5 for k, v in p2p.state_dict().items()}
    net_g = {"module.module." + k: v for k, v in raw.items()}
    net_g.update({"module.averaged_model." + k: v for k, v in ema.items()})
    net_g["module.num_updates_tracked"] = torch.tensor(100)
    state, used = convert_state(p2p, {"net_G": net_g}, ema=True)
    assert used == "ema"
    for key, value in p2p.state_dict().items():
        assert torch.equal(state[key], value * 0.5), key
    state, used = convert_state(p2p, {"net_G": net_g}, ema=False)
    assert used == "training"
    key = next(k for k in expected if k.endswith("conv.weight"))
    assert torch.allclose(state[key], expected[key], rtol=1e-6, atol=1e-7)


def test_weight_norm_folding_equals_torch():
    conv = torch.nn.utils.weight_norm(nn.Conv2d(3, 4, 3))
    with torch.no_grad():
        conv.weight_g.mul_(2.0)
    conv(torch.zeros(1, 3, 5, 5))
    folded = fold_weight_norm_keys({"c.weight_g": conv.weight_g, "c.weight_v": conv.weight_v, "c.bias": conv.bias})
    assert set(folded) == {"c.weight", "c.bias"}
    assert torch.allclose(folded["c.weight"], conv.weight, atol=1e-7)


YAMLS = {
    "unit": """
        gen:
          type: imaginaire.generators.unit
          num_filters: 2
          max_num_filters: 4
          num_res_blocks: 1
          num_downsamples_content: 2
          content_norm_type: instance
          decoder_norm_type: instance
          weight_norm_type: none
          pre_act: True
        trainer:
          model_average_config:
            enabled: True
    """,
    "funit": """
        gen:
          type: imaginaire.generators.funit
          num_filters: 2
          num_filters_mlp: 8
          style_dims: 4
          num_res_blocks: 1
          num_downsamples_style: 3
    """,
    "pix2pixhd": """
        gen:
          type: imaginaire.generators.pix2pixHD
          global_generator: {num_filters: 32, num_downsamples: 4, num_res_blocks: 9}
          local_enhancer: {num_enhancers: 0, num_res_blocks: 3}
          weight_norm_type: spectral
          activation_norm_type: instance
          padding_mode: reflect
        data:
          input_types:
            - images: {ext: jpg, num_channels: 3, normalize: True}
            - seg_maps: {ext: png, num_channels: 1, is_mask: True, normalize: False}
            - instance_maps: {ext: png, num_channels: 1, is_mask: True, normalize: False}
          input_labels: [seg_maps, instance_maps]
          input_image: [images]
          one_hot_num_classes: {seg_maps: 35}
          use_dont_care: False
    """,
    "spade": """
        gen:
          type: imaginaire.generators.spade
          style_dims: 256
          num_filters: 64
          weight_norm_type: spectral
          global_adaptive_norm_type: instance
          activation_norm_params: {num_filters: 64, kernel_size: 5, weight_norm_type: none,
                                   activation_norm_type: instance}
          style_enc: {num_filters: 32, kernel_size: 3}
        data:
          input_types:
            - images: {ext: jpg, num_channels: 3, normalize: True}
            - seg_maps: {ext: png, num_channels: 1, is_mask: True, normalize: False}
            - edge_maps: {ext: png, num_channels: 1, normalize: False}
          input_labels: [seg_maps, edge_maps]
          input_image: [images]
          one_hot_num_classes: {seg_maps: 183}
          use_dont_care: True
          train:
            augmentations: {resize_smallest_side: 256, random_crop_h_w: "512, 512"}
    """,
}


def write_yaml(tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(YAMLS[name]))
    return str(path)


def test_yaml_configs_read_into_our_dataclasses(tmp_path):
    name, cfg = config_from_imaginaire(write_yaml(tmp_path, "pix2pixhd"))
    assert name == "pix2pixhd" and cfg.label.channels == 36 and cfg.label.instance_edges
    assert (cfg.num_filters, cfg.num_enhancers, cfg.weight_norm) == (32, 0, "spectral")
    name, cfg = config_from_imaginaire(write_yaml(tmp_path, "spade"))
    assert name == "spade" and cfg.label.channels == 185 and cfg.output_size == 512
    assert (cfg.spade_filters, cfg.spade_kernel_size, cfg.spade_norm, cfg.style_dims) == (64, 5, "instance", 256)
    assert cfg.spade_weight_norm == "none" and cfg.style_encoder_filters == 32
    name, cfg = config_from_imaginaire(write_yaml(tmp_path, "unit"))
    assert name == "unit" and cfg.pre_activation and cfg.num_filters == 2


def test_convert_imaginaire_end_to_end(tmp_path):
    torch.manual_seed(0)
    source = build_model("unit", config_from_imaginaire(write_yaml(tmp_path, "unit"))[1]).eval()
    raw = {imaginaire_key(source, k): v for k, v in source.state_dict().items()}
    ckpt = {"net_G": {**{"module.module." + k: v for k, v in raw.items()},
                      **{"module.averaged_model." + k: v for k, v in raw.items()},
                      "module.num_updates_tracked": torch.tensor(3)},
            "net_D": {}, "current_epoch": 1}
    pt = tmp_path / "ckpt.pt"
    torch.save(ckpt, pt)
    model = convert_imaginaire(pt, write_yaml(tmp_path, "unit"))
    assert not model.training
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert torch.equal(model.generate(x), source.generate(x))


# imaginaire's own generators' checkpoint layouts (net_G as its trainer saves it: key, shape, dtype), recorded
# with the reference harness from imaginaire's unit-test configs (fixtures/record_imaginaire_layouts.py)
LAYOUTS = os.path.join(FIXTURES, "imaginaire_layouts.json")


def _recorded(case):
    import json

    return json.load(open(LAYOUTS))[case]


def _checkpoint_of(layout, device="meta", seed=0):
    """A checkpoint with imaginaire's recorded keys and shapes (meta tensors: the layout without the bytes)."""
    dtypes = {"float32": torch.float32, "int64": torch.int64, "float16": torch.float16}
    g = torch.Generator().manual_seed(seed)
    net_g = {}
    for key, shape, dtype in layout["net_G"]:
        if device == "meta":
            net_g[key] = torch.empty(shape, dtype=dtypes[dtype], device="meta")
        elif dtypes[dtype].is_floating_point:
            net_g[key] = torch.randn(shape, generator=g) * 0.05
        else:
            net_g[key] = torch.zeros(shape, dtype=dtypes[dtype])
    return {"net_G": net_g}


def _yaml_of(tmp_path, case, layout):
    import yaml

    path = tmp_path / f"{case}.yaml"
    path.write_text(yaml.safe_dump(layout["settings"]))
    return str(path)


@pytest.mark.parametrize("case", ["pix2pixHD", "spade", "unit", "munit", "funit", "coco_funit"])
def test_imaginaires_recorded_checkpoint_layouts_convert_to_ours(tmp_path, case):
    """Every tensor of imaginaire's real net_G (its keys, its `module.` wrappers, its EMA copy, its spectral-norm
    u/v) lands on exactly one of our model's tensors, with the same shape; nothing is missing or left over."""
    layout = _recorded(case)
    name, cfg = config_from_imaginaire(_yaml_of(tmp_path, case, layout))
    with torch.device("meta"):  # the unit-test configs are large; the layout needs no weights
        model = build_model(name, cfg)
    state, used = convert_state(model, _checkpoint_of(layout), ema=True)
    assert used == ("ema" if "ModelAverage" in layout["wrapper"] else "training")
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    converted = {k: tuple(v.shape) for k, v in state.items()}
    assert sorted(set(ours) - set(converted)) == [] and sorted(set(converted) - set(ours)) == []
    assert {k: s for k, s in converted.items() if ours[k] != s} == {}
    assert sum(v.numel() for v in model.parameters()) == layout["params"]  # imaginaire's own parameter count


def test_a_recorded_unit_checkpoint_converts_end_to_end(tmp_path):
    """A .pt in imaginaire's recorded UNIT layout (EMA copy inside) becomes a model whose weights are the
    checkpoint's EMA tensors: each of ours is one of theirs, each used once."""
    layout = _recorded("unit")
    ckpt = _checkpoint_of(layout, device="cpu")
    pt = tmp_path / "unit.pt"
    torch.save(ckpt, pt)
    model = convert_imaginaire(pt, _yaml_of(tmp_path, "unit", layout))
    ema = {k: v for k, v in ckpt["net_G"].items() if ".averaged_model." in f".{k}" and v.is_floating_point()}
    by_bytes = {v.numpy().tobytes(): k for k, v in ema.items()}
    used = [by_bytes.get(v.detach().numpy().tobytes()) for v in model.state_dict().values() if v.numel() > 1]
    assert None not in used and len(set(used)) == len(used)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.isfinite(model.generate(x)).all()


def test_wrong_model_checkpoint_is_a_clear_error(tmp_path):
    unit = make_fixtures.build_tiny("unit")
    pt = tmp_path / "unit.pt"
    torch.save({"net_G": {"module." + imaginaire_key(unit, k): v for k, v in unit.state_dict().items()}}, pt)
    with pytest.raises(VidsynthError, match=r"does not fit a funit model.*different model"):
        convert_imaginaire(pt, write_yaml(tmp_path, "funit"))


def test_missing_and_extra_keys_are_named_and_counted(tmp_path):
    funit = make_fixtures.build_tiny("funit")
    net_g = {"module." + imaginaire_key(funit, k): v for k, v in funit.state_dict().items()}
    dropped = sorted(net_g)[:2]
    for k in dropped:
        del net_g[k]
    net_g["module.generator.extra_head.weight"] = torch.zeros(2)
    pt = tmp_path / "funit.pt"
    torch.save({"net_G": net_g}, pt)
    with pytest.raises(VidsynthError) as err:
        convert_imaginaire(pt, write_yaml(tmp_path, "funit"))
    msg = str(err.value)
    assert "2 missing key(s)" in msg and "1 unexpected key(s): generator.extra_head.weight" in msg
    for k in dropped:
        assert k[len("module."):].replace("layers.", "") in msg


def test_shape_mismatch_is_a_clear_error():
    model = make_fixtures.build_tiny("funit")
    state = dict(model.state_dict())
    key = next(k for k in state if k.endswith("conv.weight"))
    state[key] = torch.zeros(1, 1, 1, 1)
    with pytest.raises(VidsynthError, match=r"1 tensor\(s\) whose shape differs.*" + key.replace(".", r"\.")):
        load_converted_state(model, state)


def test_unreadable_inputs_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(VidsynthError, match="could not read"):
        convert_imaginaire(junk, write_yaml(tmp_path, "unit"))
    with pytest.raises(VidsynthError, match="not found"):
        convert_imaginaire(tmp_path / "none.pt", write_yaml(tmp_path, "unit"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {}\n")
    with pytest.raises(VidsynthError, match="no 'gen:' section"):
        read_imaginaire_yaml(bad)
    other = tmp_path / "other.yaml"
    other.write_text("gen: {type: imaginaire.generators.gancraft}\n")
    with pytest.raises(VidsynthError, match="not supported"):
        config_from_imaginaire(other)
    with pytest.raises(VidsynthError, match="no tensors"):
        imaginaire_state_dict({"net_G": {}})


# -- parity with imaginaire on every run: its generators' weights, inputs and outputs at unit-test size,
# recorded with the reference harness (fixtures/record_imaginaire_parity.py); numbers only

PARITY = os.path.join(FIXTURES, "imaginaire_parity.pt")


def _ours(name, model, inputs, outputs):
    """Our model's outputs for imaginaire's forward on the same inputs (its output names)."""
    if name == "pix2pixhd":
        return {"fake_images": model(inputs["label"])}
    if name == "spade":
        mu, logvar = model.encode_style(inputs["images"])
        return {"fake_images": model(inputs["label"], outputs["z_used"]), "mu": mu, "logvar": logvar}
    if name == "unit":
        return model.training_outputs(inputs["images_a"], inputs["images_b"])
    if name == "munit":
        return model.training_outputs(inputs["images_a"], inputs["images_b"],
                                      style_a_rand=outputs["style_a_rand"], style_b_rand=outputs["style_b_rand"])
    return model.training_outputs(inputs["images_content"], inputs["images_style"])


@pytest.mark.parametrize("case", ["pix2pixHD", "spade", "unit", "munit", "funit"])
def test_converted_imaginaire_generators_give_imaginaires_outputs(tmp_path, case):
    recorded = torch.load(PARITY, weights_only=True)[case]
    yaml_path = tmp_path / f"{case}.yaml"
    yaml_path.write_text(recorded["settings"])
    name, cfg = config_from_imaginaire(str(yaml_path))
    model = build_model(name, cfg)
    state, used = convert_state(model, recorded["weights"], ema=False)  # the bare generator, as trained
    load_converted_state(model, state)
    model.eval()
    inputs = {k: v.float() if v.dtype == torch.bool else v for k, v in recorded["inputs"].items()}
    with torch.inference_mode():
        ours = _ours(name, model, inputs, recorded["outputs"])
    compared = 0
    for key, theirs in recorded["outputs"].items():
        if key not in ours or key == "z_used":
            continue
        scale = max(theirs.abs().max().item(), 1e-6)
        err = (ours[key].double() - theirs.double()).abs().max().item() / scale
        assert ours[key].shape == theirs.shape and err < 1e-4, (key, err)
        compared += 1
    assert compared >= 1 and theirs.abs().max() > 0
