"""Every shipped tiny config trains the real networks for two iterations and exports a loadable model file."""

import os
import shutil

import numpy as np
import pytest
import torch

from vidsynth.networks.model_file import load_model
from vidsynth.training import checkpoint as ckpt
from vidsynth.training import run
from vidsynth.training.config import load_config, shipped_configs
from vidsynth.training.synthetic_data import write_puppet_dataset, write_street_dataset

FACE = "/work/imaginaire/dataset/unit_test/raw/fs_vid2vid/face"
SIZE = 32


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    street = write_street_dataset(str(root / "street"), starts=[0.0, 30.0], frames=3, size=SIZE, unprojections=True)
    puppet = write_puppet_dataset(str(root / "puppet"), sequences=2, frames=3, size=SIZE)
    unpaired = root / "unpaired"
    few_shot = root / "few_shot"
    for i, seq in enumerate(["seq000", "seq001"]):
        for name in sorted(os.listdir(os.path.join(street, "images", seq))):
            for dst, src in ((unpaired / "images_a", street), (unpaired / "images_b", puppet)):
                os.makedirs(dst, exist_ok=True)
                shutil.copy(os.path.join(src, "images", seq, name), dst / f"{seq}_{name}")
            for cls, src in ((f"street{i}", street), (f"puppet{i}", puppet)):
                os.makedirs(few_shot / "images_content" / cls, exist_ok=True)
                shutil.copy(os.path.join(src, "images", seq, name), few_shot / "images_content" / cls / name)
    return {"street": street, "puppet": puppet, "unpaired": str(unpaired), "few_shot": str(few_shot), "face": FACE}


DATA_FOR = {
    "spade_tiny": "street", "pix2pixhd_tiny": "street", "vid2vid_street_tiny": "street", "wc_vid2vid_tiny": "street",
    "vid2vid_pose_tiny": "puppet", "fs_vid2vid_pose_tiny": "puppet", "fs_vid2vid_face_tiny": "face",
    "unit_tiny": "unpaired", "munit_tiny": "unpaired", "funit_tiny": "few_shot", "coco_funit_tiny": "few_shot",
}


def test_every_model_has_a_tiny_config():
    names = shipped_configs()
    for model in ("spade", "pix2pixhd", "unit", "munit", "funit", "coco_funit", "vid2vid", "fs_vid2vid", "wc_vid2vid"):
        assert any(n.startswith(model) and n.endswith("_tiny") for n in names), model
    assert set(DATA_FOR) == {n for n in names if n.endswith("_tiny")}


@pytest.mark.parametrize("name", sorted(DATA_FOR))
def test_tiny_config_trains_and_exports(name, datasets, tmp_path):
    data = datasets[DATA_FOR[name]]
    if not os.path.isdir(data):
        pytest.skip(f"{data} is not on this machine")
    cfg = load_config(name)
    cfg.data.crop_size = [SIZE, SIZE] if DATA_FOR[name] != "face" else [64, 64]
    if "output_size" in cfg.generator and cfg.model.endswith("vid2vid"):
        cfg.generator["output_size"] = list(cfg.data.crop_size)
    cfg.data.batch_size = 1 if DATA_FOR[name] in ("face",) else 2
    cfg.data.sequence_length = min(cfg.data.sequence_length, 3)
    cfg.trainer.checkpoint_every = 1
    cfg.trainer.keep_checkpoints = 0
    out = str(tmp_path / "run")
    result = run(cfg, data, out, progress=False, max_iter=2)
    assert result["iteration"] == 2
    assert all(np.isfinite(v) for v in result["losses"].values()), result["losses"]
    first = torch.load(os.path.join(out, "checkpoints", "iter_00000001.pt"), weights_only=True)["generator"]
    last = ckpt.load_checkpoint(out)["generator"]
    assert any(not torch.equal(first[k], last[k]) for k in first)  # the second step moved the weights
    net = load_model(result["model_file"])
    assert net.model_name == cfg.model


def test_exported_model_file_equals_the_trained_average(datasets, tmp_path):
    """The model file holds the EMA generator: rebuilt from the file alone it computes what training had."""
    from vidsynth.training.models import build_networks

    cfg = load_config("spade_tiny")
    cfg.data.crop_size = [SIZE, SIZE]
    cfg.data.batch_size = 2
    out = str(tmp_path / "run")
    result = run(cfg, datasets["street"], out, progress=False, max_iter=2)
    trained, _ = build_networks(cfg)
    trained.load_state_dict(ckpt.load_checkpoint(out)["generator_ema"])
    loaded = load_model(result["model_file"])
    label = torch.zeros(1, 35, SIZE, SIZE)
    label[:, 7, SIZE // 2:] = 1
    label[:, 23, :SIZE // 2] = 1
    with torch.no_grad():
        a, b = trained.eval()(label), loaded(label)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_imaginaire_initialisation(tmp_path):
    """trainer.init draws plain weights anew and zeroes biases; spectral-normed weights keep their start
    (imaginaire's init never reaches them either); 'none' changes nothing."""
    from vidsynth.training.config import InitConfig
    from vidsynth.training.models import build_networks, initialise_weights

    cfg = load_config("spade_tiny")
    cfg.data.crop_size = [SIZE, SIZE]
    torch.manual_seed(0)
    G, D = build_networks(cfg)
    before_G, before_D = {k: v.clone() for k, v in G.state_dict().items()}, {k: v.clone() for k, v in D.state_dict().items()}
    initialise_weights(G, InitConfig("none"))
    assert all(torch.equal(before_G[k], v) for k, v in G.state_dict().items())

    initialise_weights(G, InitConfig("xavier", 0.02))
    initialise_weights(D, InitConfig("xavier", 0.02))
    convs = [m for m in G.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(not m.bias.detach().any() for m in convs if m.bias is not None)
    big = max(convs, key=lambda m: m.weight.numel())
    fan_in, fan_out = big.weight[0].numel(), big.weight.shape[0] * big.weight[0, 0].numel()
    expected = 0.02 * (2.0 / (fan_in + fan_out)) ** 0.5
    assert abs(float(big.weight.detach().std()) / expected - 1) < 0.1
    # the discriminator's spectral-normed convolutions keep their weights, not their biases
    originals = [k for k in before_D if k.endswith("parametrizations.weight.original")]
    assert originals and all(torch.equal(D.state_dict()[k], before_D[k]) for k in originals)
    assert all(float(v.abs().sum()) == 0 for k, v in D.state_dict().items() if k.endswith(".bias"))


def test_generator_weight_norms_train_and_fold_into_the_model_file(datasets, tmp_path):
    """A generator whose config marks spectral norm trains with it (the checkpoint holds the
    parametrisation), its model file holds plain weights that compute what the trained average computes,
    and --init reads that file back into a spectral-normed generator."""
    from vidsynth.networks.layers import apply_weight_norms
    from vidsynth.training.models import build_networks

    cfg = load_config("spade_tiny")
    cfg.generator["weight_norm"] = "spectral"
    cfg.data.crop_size = [SIZE, SIZE]
    cfg.data.batch_size = 2
    out = str(tmp_path / "run")
    result = run(cfg, datasets["street"], out, progress=False, max_iter=2)
    state = ckpt.load_checkpoint(out)["generator_ema"]
    assert sum(k.endswith(".parametrizations.weight.original") for k in state) > 10
    trained, _ = build_networks(cfg)
    apply_weight_norms(trained).load_state_dict(state)
    loaded = load_model(result["model_file"])
    assert not any("parametrizations" in k for k in loaded.state_dict())
    label = torch.zeros(1, 35, SIZE, SIZE)
    label[:, 7, SIZE // 2:] = 1
    label[:, 23, :SIZE // 2] = 1
    with torch.no_grad():
        torch.testing.assert_close(trained.eval()(label), loaded(label), rtol=1e-5, atol=1e-5)
    again = run(cfg, datasets["street"], str(tmp_path / "again"), progress=False, max_iter=1, init=result["model_file"])
    assert again["iteration"] == 1

    cfg.trainer.generator_weight_norms = False  # the plain weights train: no parametrisation in the checkpoint
    run(cfg, datasets["street"], str(tmp_path / "plain"), progress=False, max_iter=1)
    assert not any("parametrizations" in k for k in ckpt.load_checkpoint(str(tmp_path / "plain"))["generator"])
