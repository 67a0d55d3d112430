"""vidsynth model files: round trips, tied tensors, atomic writes, and the errors a user can cause."""

from __future__ import annotations

import json
import os

import pytest
import torch
from torch import nn

from vidsynth.errors import VidsynthError
from vidsynth.networks.model_file import FORMAT_VERSION, load_model, read_model_info, save_model
from vidsynth.networks.registry import build_model, register_model


@pytest.mark.parametrize("name,config", [
    ("unit", {"num_filters": 2, "max_num_filters": 4, "num_res_blocks": 1}),
    ("spade", {"label": {"num_classes": 3, "dont_care": False, "instance_edges": False}, "num_filters": 1,
               "spade_filters": 2, "style_dims": None, "spade_norm": "batch", "output_size": 512}),
])
def test_round_trip_rebuilds_config_and_weights(tmp_path, name, config):
    torch.manual_seed(0)
    model = build_model(name, config)
    path = tmp_path / f"{name}.safetensors"
    save_model(model, path, metadata={"source": "test"})
    info = read_model_info(path)
    assert info["model"] == name and info["format_version"] == FORMAT_VERSION and info["source"] == "test"
    loaded = load_model(path)
    assert loaded.config == model.config and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.safetensors"]  # no temp file left behind


@pytest.fixture(scope="module")
def tied_model_cls():
    from dataclasses import dataclass

    @dataclass
    class TiedConfig:
        width: int = 3

    @register_model("test_tied", TiedConfig)
    class Tied(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.flow_ref = nn.Linear(config.width, config.width)
            self.flow_temp = self.flow_ref  # the same module under two names

    return Tied


def test_tied_modules_are_stored_once(tmp_path, tied_model_cls):
    model = tied_model_cls(tied_model_cls.config_cls(width=4))
    path = tmp_path / "tied.safetensors"
    save_model(model, path)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        assert sorted(fh.keys()) == ["flow_ref.bias", "flow_ref.weight"]
    assert read_model_info(path)["tied"] == {"flow_temp.bias": "flow_ref.bias", "flow_temp.weight": "flow_ref.weight"}
    loaded = load_model(path)
    assert loaded.flow_temp is loaded.flow_ref
    assert torch.equal(loaded.flow_ref.weight, model.flow_ref.weight)


def test_errors_a_user_can_cause(tmp_path):
    with pytest.raises(VidsynthError, match="not found"):
        load_model(tmp_path / "missing.safetensors")
    junk = tmp_path / "ckpt.pt"
    junk.write_bytes(b"\x80\x02junk")
    with pytest.raises(VidsynthError, match="convert it first"):
        load_model(junk)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign), metadata={"format": "pt"})
    with pytest.raises(VidsynthError, match="not a vidsynth model file"):
        load_model(foreign)
    model = build_model("unit", {"num_filters": 2, "max_num_filters": 4, "num_res_blocks": 1})
    future = tmp_path / "future.safetensors"
    save_model(model, future, metadata={})
    from safetensors import safe_open

    with safe_open(str(future), framework="pt") as fh:
        meta = dict(fh.metadata())
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    save_file(tensors, str(future), metadata=dict(meta, format_version=str(FORMAT_VERSION + 1)))
    with pytest.raises(VidsynthError, match="upgrade vidsynth"):
        load_model(future)
    wrong = tmp_path / "wrong.safetensors"
    cfg = json.loads(meta["config"])
    cfg["num_res_blocks"] = 2
    save_file(tensors, str(wrong), metadata=dict(meta, config=json.dumps(cfg)))
    with pytest.raises(VidsynthError, match=r"missing key\(s\)"):
        load_model(wrong)
    with pytest.raises(VidsynthError, match="not a registered vidsynth model"):
        save_model(nn.Linear(2, 2), tmp_path / "x.safetensors")
    with pytest.raises(VidsynthError, match="does not exist"):
        save_model(model, tmp_path / "no" / "dir.safetensors")
