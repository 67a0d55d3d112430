"""`vidsynth train --job talk`: the target's face crops and landmarks, a model file carrying what the talk
job needs, previews, a time budget, resume, and the errors a user can cause."""

import json
import os

import numpy as np
import pytest

from vidsynth.errors import VidsynthError
from vidsynth.networks.model_file import load_model, read_job
from vidsynth.training.jobs import train_job

TARGET = "synthetic:face?frames=12&width=64&height=64&identity=2&background=1"


def test_talk_job_extracts_trains_and_writes_a_model_with_job_metadata(tmp_path):
    out = str(tmp_path / "me.safetensors")
    result = train_job("talk", TARGET, out, max_iter=2, size=32, preview_minutes=0, progress=False)
    assert result["iteration"] == 2 and result["frames"] == 12
    run = tmp_path / "me.run"
    # the training data: stable face crops at the model size, landmarks in crop pixels on the face
    images = sorted(os.listdir(run / "data" / "images" / "target"))
    assert len(images) == 12
    marks = np.array(json.load(open(run / "data" / "landmarks-dlib68" / "target" / "000000.json")))
    assert marks.shape == (68, 2) and (marks > 0).all() and (marks < 32).all()
    centre = marks[[36, 39, 42, 45, 27, 30, 33]].mean(0)
    assert np.abs(centre - 16).max() < 5  # the crop is centred on the face
    job = read_job(out)
    assert job.job == "talk" and job.info["size"] == [32, 32] and job.info["crop"]["margin"] > 1
    assert tuple(job.tensors["background"].shape) == (64, 64, 3)
    neutral = job.tensors["neutral_landmarks"].numpy()
    assert neutral.shape == (68, 3)
    # the neutral is the frame with the most closed mouth: no more open than the clip's median frame
    from vidsynth.streams.synthetic.face import FaceConfig, FaceWorld

    world = FaceWorld(FaceConfig(width=64, height=64, identity=2, background=1))
    gaps = [np.linalg.norm(world.frame(i)["face"][66, :2] - world.frame(i)["face"][62, :2]) for i in range(12)]
    assert np.linalg.norm(neutral[66, :2] - neutral[62, :2]) <= np.median(gaps) + 1e-3
    assert tuple(load_model(out).config.output_size) == (32, 32)
    assert any(p.suffix == ".png" for p in (run / "previews").iterdir())
    # resume continues the same run
    again = train_job("talk", TARGET, out, max_iter=3, size=32, resume=True, preview_minutes=60, progress=False)
    assert again["iteration"] == 3


def test_talk_job_stops_at_its_time_budget(tmp_path):
    out = str(tmp_path / "me.safetensors")
    result = train_job("talk", TARGET, out, minutes=0.001, size=32, progress=False, preview_minutes=60)
    assert 1 <= result["iteration"] <= 3 and read_job(out).job == "talk"


def test_user_errors(tmp_path):
    with pytest.raises(VidsynthError, match="unknown training job"):
        train_job("sing", TARGET, str(tmp_path / "x.safetensors"))
    with pytest.raises(VidsynthError, match="does not exist"):
        train_job("talk", str(tmp_path / "missing.mp4"), str(tmp_path / "x.safetensors"))
    with pytest.raises(VidsynthError, match="folder"):
        train_job("talk", TARGET, str(tmp_path / "no" / "x.safetensors"))
    with pytest.raises(VidsynthError, match="shows a face in 0 frames"):
        train_job("talk", "synthetic:clip?n_frames=10&width=64&height=48", str(tmp_path / "x.safetensors"), size=32,
                  max_iter=1)
