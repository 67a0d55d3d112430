"""Job metadata in model files: written, read back with the model, replaced, and absent in old files."""

from __future__ import annotations

import pytest
import torch

from vidsynth.errors import VidsynthError
from vidsynth.networks.model_file import JobMetadata, attach_job, load_model, read_job, save_model
from vidsynth.networks.registry import build_model

_UNIT = {"num_filters": 2, "max_num_filters": 4, "num_res_blocks": 1}


def _job() -> JobMetadata:
    g = torch.Generator().manual_seed(1)
    return JobMetadata("talk", {"crop": {"margin": 1.6, "size": [64, 64]}, "fps": 25.0},
                       {"neutral_landmarks": torch.rand(68, 2, generator=g) * 64,
                        "background": torch.randint(0, 255, (48, 80, 3), generator=g, dtype=torch.uint8)})


def test_job_metadata_round_trips_beside_the_model(tmp_path):
    torch.manual_seed(0)
    model = build_model("unit", _UNIT)
    path = tmp_path / "m.safetensors"
    job = _job()
    save_model(model, path, job=job)
    back = read_job(path)
    assert back.job == "talk" and back.info == job.info
    assert set(back.tensors) == {"neutral_landmarks", "background"}
    assert torch.equal(back.tensors["neutral_landmarks"], job.tensors["neutral_landmarks"])
    assert back.tensors["background"].dtype == torch.uint8
    assert torch.equal(back.tensors["background"], job.tensors["background"])
    loaded = load_model(path)  # the job tensors are not taken for weights
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_old_files_have_no_job_and_attach_adds_one(tmp_path):
    model = build_model("unit", _UNIT)
    path = tmp_path / "m.safetensors"
    save_model(model, path, metadata={"source": "old"})
    assert read_job(path) is None
    attach_job(path, _job())
    assert read_job(path).job == "talk"
    attach_job(path, JobMetadata("dance", {"height": 1.0}, {"scale": torch.ones(2)}))
    again = read_job(path)
    assert again.job == "dance" and set(again.tensors) == {"scale"}  # replaced, not merged
    loaded = load_model(path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_bad_job_metadata_is_a_user_error(tmp_path):
    model = build_model("unit", _UNIT)
    with pytest.raises(VidsynthError, match="job"):
        save_model(model, tmp_path / "m.safetensors", job=JobMetadata("not a name"))
    with pytest.raises(VidsynthError, match="JSON"):
        save_model(model, tmp_path / "m.safetensors", job=JobMetadata("talk", {"x": object()}))
