"""Every shipped config parses into typed dataclasses and into valid network configs; bad configs are named."""

import pytest

from vidsynth.errors import VidsynthError
from vidsynth.networks.registry import config_from_dict, model_class
from vidsynth.training.config import config_from_dict as train_config, load_config, shipped_configs
from vidsynth.training.models import generator_config, trainer_family


@pytest.mark.parametrize("name", shipped_configs())
def test_shipped_config_is_valid(name):
    cfg = load_config(name)
    assert trainer_family(cfg.model) in (cfg.data.type, "few_shot_videos")
    gen_cfg = config_from_dict(model_class(cfg.model).config_cls, generator_config(cfg))
    if hasattr(gen_cfg, "label_channels"):
        from vidsynth.training.datasets import LabelEncoder

        assert gen_cfg.label_channels == LabelEncoder(cfg.data).channels


def test_every_model_has_a_full_and_a_tiny_config():
    names = set(shipped_configs())
    for model in ("spade", "pix2pixhd", "unit", "munit", "funit", "coco_funit", "wc_vid2vid"):
        assert {model, model + "_tiny"} <= names
    for model in ("vid2vid", "fs_vid2vid"):
        assert {f"{model}_street" if model == "vid2vid" else f"{model}_face", f"{model}_pose"} <= names


def test_bad_configs_say_what_is_wrong(tmp_path):
    with pytest.raises(VidsynthError, match="unknown config key.*trainer.*expected"):
        train_config({"model": "spade", "trainer": {"max_iters": 3}})
    with pytest.raises(VidsynthError, match="gan_mode"):
        train_config({"model": "spade", "trainer": {"gan_mode": "wgan"}})
    with pytest.raises(VidsynthError, match="trainer.init.type must be one of none, normal, xavier.*'glorot'"):
        train_config({"model": "spade", "trainer": {"init": {"type": "glorot"}}})
    with pytest.raises(VidsynthError, match="'model:'"):
        train_config({"data": {}})
    with pytest.raises(VidsynthError, match="frames_per_backward must be ≥ 0.*found -1"):
        train_config({"model": "vid2vid", "trainer": {"video": {"frames_per_backward": -1}}})
    with pytest.raises(VidsynthError, match="previous_noise must be ≥ 0.*found -0.1"):
        train_config({"model": "vid2vid", "trainer": {"video": {"previous_noise": -0.1}}})
    with pytest.raises(VidsynthError, match="previous_noise_grid must be ≥ 0.*found -2"):
        train_config({"model": "vid2vid", "trainer": {"video": {"previous_noise_grid": -2}}})
    with pytest.raises(VidsynthError, match="does not exist.*spade_tiny"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(VidsynthError, match="not valid YAML"):
        load_config(str(bad))
