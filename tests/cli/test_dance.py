"""``vidsynth dance``: checks before anything loads, and a real multi-person clip rendered into the target's frame."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from vidsynth.engine.jobs import dance
from vidsynth.engine.jobs.dance import Options, build, closing_note, read_target
from vidsynth.errors import VidsynthError

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
TARGET_HW = (120, 160)  # the target's frame: deliberately not the driver's size (576x768)


def tiny_dancer(path, with_job=True):
    """A tiny pose vid2vid (random weights) saved with the dance metadata a trained dancer carries."""
    from vidsynth.engine.extract.normalize import BodyStats
    from vidsynth.networks.model_file import JobMetadata, save_model
    from vidsynth.networks.vid2vid import Vid2VidConfig, Vid2VidGenerator

    torch.manual_seed(0)
    net = Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=27, output_size=(64, 48), use_segmap_as_input=False))
    background = np.zeros((*TARGET_HW, 3), np.uint8)
    background[:, :, 1] = 90  # a green scene: where the output is not the dancer, it is this
    job = JobMetadata("dance", {"frame_size": [TARGET_HW[1], TARGET_HW[0]], "crop": {"width": 48, "height": 64},
                                "body_stats": BodyStats(90.0, 110.0, 50.0, 60.0, 80.0).as_dict()},
                      {"background": torch.from_numpy(background)})
    save_model(net, path, job=job if with_job else None)
    return str(path)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The first 12 frames of vtest.avi (several people walking, 768x576) as an MP4."""
    if not os.path.isfile(VTEST):
        pytest.fail(f"real multi-person clip {VTEST} missing: `make setup` installs Debian's opencv-doc, which ships it")
    import cv2

    path = str(tmp_path_factory.mktemp("dance") / "people.mp4")
    capture = cv2.VideoCapture(VTEST)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 10, (768, 576))
    for _ in range(12):
        ok, frame = capture.read()
        assert ok
        writer.write(frame)
    writer.release()
    return path


def test_checks_come_before_any_model_loads(tmp_path, monkeypatch):
    model = tiny_dancer(tmp_path / "dancer.safetensors")
    clip_path = tmp_path / "x.mp4"
    clip_path.write_bytes(b"")

    def no_load(*a, **k):
        raise AssertionError("the model loaded before the options were checked")

    monkeypatch.setattr("vidsynth.engine.render.load_generator", no_load)
    cases = [
        (dict(model=model, input=str(clip_path)), "nothing to write"),
        (dict(model=model, input=str(tmp_path / "missing.mp4"), output="o.mp4"), "does not exist"),
        (dict(model="demo:street", input=str(clip_path), output="o.mp4"), "does not read poses"),
        (dict(model=model, input=str(clip_path), output="o.mp4", calibrate=True), "--calibrate is for live"),
        (dict(model=model, input=str(clip_path), output="o.mp4", reference=str(clip_path)), "few-shot"),
        (dict(model=model, input=str(clip_path), output="o.mp4", person=-1), "--person"),
        (dict(model=model, input=str(clip_path), record="o.avi"), "--record writes an .mp4"),
        (dict(model="demo:nope", input=str(clip_path), output="o.mp4"), "unknown model name"),
    ]
    for kwargs, message in cases:
        with pytest.raises(VidsynthError, match=message):
            build(Options(**kwargs))


def test_model_metadata_is_read_and_checked(tmp_path):
    target = read_target(tiny_dancer(tmp_path / "d.safetensors"))
    assert target.frame_hw == TARGET_HW and target.crop_wh == (48, 64) and target.stats.near_height == 60
    assert read_target(tiny_dancer(tmp_path / "plain.safetensors", with_job=False)) is None


def test_real_clip_renders_the_targets_full_frame(clip, tmp_path):
    """A real clip with several people drives the dancer: the output has the target's frame size (not the
    driver's), one frame per input frame, the target's background outside the body crop, and the person
    chooser's counters reach the closing note."""
    from vidsynth.streams import open_source

    out = str(tmp_path / "out.mp4")
    model = tiny_dancer(tmp_path / "dancer.safetensors")
    pipeline = build(Options(model=model, input=clip, output=out, progress=False))
    report = pipeline.run()
    info = open_source(out).open()
    assert (info.height, info.width) == TARGET_HW
    assert report.frames_out == 12
    frames = [f.image for f in open_source(out)]
    corner = np.stack([f[:8, :8] for f in frames]).astype(float)   # far from the dancer: the background
    assert np.abs(corner - [0, 90, 0]).max() < 12
    counters = next(s["counters"] for s in report.stages.values() if "counters" in s and "posed" in s["counters"])
    assert counters["frames"] == 12 and counters["posed"] >= 9
    note = closing_note(report)
    assert note is None or "of 12 frames" in note


def test_plain_pose_model_renders_at_the_drivers_size(clip, tmp_path):
    from vidsynth.streams import open_source

    out = str(tmp_path / "demo.mp4")
    report = build(Options(model="demo:dance", input=clip, output=out, progress=False)).run()
    info = open_source(out).open()
    assert (info.height, info.width) == (576, 768) and report.frames_out == 12


def test_job_is_registered_for_the_cli():
    from vidsynth.engine.jobs import JOB_MODULES

    assert dance.COMMAND["name"] == "dance"
    assert "dance" in JOB_MODULES
