"""Generator stages: fitting, per-frame image models, stepping video models, fs-vid2vid references, wc world."""

from __future__ import annotations

import importlib.util
import os
from fractions import Fraction

import numpy as np
import pytest
import torch

from vidsynth.engine.extract.keypoints import FaceLandmarks
from vidsynth.engine.generate import VideoGenerator, generator_stage
from vidsynth.engine.generate.image import model_size
from vidsynth.engine.tensors import image_to_tensor, tensor_to_image
from vidsynth.errors import VidsynthError
from vidsynth.networks.fs_vid2vid import FewShotVid2VidConfig, FewShotVid2VidGenerator
from vidsynth.networks.vid2vid import Vid2VidConfig, Vid2VidGenerator
from vidsynth.networks.wc_vid2vid import WCVid2VidConfig, WCVid2VidGenerator
from vidsynth.streams.frame import Frame

_FIX = os.path.join(os.path.dirname(__file__), "..", "networks", "fixtures", "make_fixtures.py")
_spec = importlib.util.spec_from_file_location("make_fixtures", _FIX)
make_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fixtures)


def frame(i, image=None, **conditions):
    image = image if image is not None else np.zeros((48, 80, 3), np.uint8)
    return Frame(index=i, pts=i, time_base=Fraction(1, 30), image=image, conditions=conditions)


def picture(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", ["unit", "munit", "funit", "coco_funit"])
def test_translation_stage_equals_the_model_on_the_fitted_frame(name):
    torch.manual_seed(0)
    model = make_fixtures.build_tiny(name).eval()
    img = picture(24, 40)
    examples = [picture(16, 16, s) for s in (1, 2)]
    stage = generator_stage(model, size=(16, 32), examples=examples, seed=3)
    out = stage.process(frame(0, img)).image
    assert out.shape == img.shape
    # the same computation by hand: resize to the model size, generate, resize back
    p = stage._placement
    x = p.crop(image_to_tensor(img))
    if name == "unit":
        y = model.generate(x)
    elif name == "munit":
        y = model.generate(x, style=model.random_style(1, torch.Generator().manual_seed(3)))
    else:
        ex = torch.cat([torch.nn.functional.interpolate(image_to_tensor(e), size=(16, 32), mode="bilinear",
                                                        align_corners=False, antialias=True) for e in examples])
        y = model.generate(x, examples=ex)
    expected = tensor_to_image(p.paste(y, torch.zeros(1, 3, 24, 40)))
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1
    # the style is fixed for the stream: the same frame gives the same picture
    assert np.array_equal(stage.process(frame(1, img)).image, out)


@pytest.mark.parametrize("name", ["pix2pixhd", "spade"])
def test_segmentation_stage_reads_labels_and_refuses_unknown_classes(name):
    model = make_fixtures.build_tiny(name).eval()
    n = model.config.label.num_classes
    labels = np.random.default_rng(0).integers(0, n, (40, 56))
    stage = generator_stage(model, size=(32, 32) if name == "spade" else (16, 16))
    out = stage.process(frame(0, np.zeros((40, 56, 3), np.uint8), labels=labels)).image
    assert out.shape == (40, 56, 3) and out.std() > 0
    with pytest.raises(VidsynthError, match="class id"):
        stage.process(frame(1, labels=np.full((40, 56), n + 3)))
    with pytest.raises(VidsynthError, match="no 'labels' condition"):
        stage.process(frame(2))


def test_image_model_size_keeps_aspect_and_multiple():
    model = make_fixtures.build_tiny("unit")
    h, w = model_size(model, (720, 1280))
    assert h == 256 and w % 4 == 0 and abs(w / h - 1280 / 720) < 0.02
    with pytest.raises(VidsynthError, match="multiples"):
        model_size(model, (720, 1280), (30, 30))


def test_vid2vid_stage_steps_and_resets_on_discontinuity():
    torch.manual_seed(0)
    model = Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=4, output_size=(32, 64))).eval()
    stage = VideoGenerator(model)
    labels = [np.random.default_rng(t).integers(0, 4, (48, 96)) for t in range(4)]
    outs = [stage.process(frame(t, np.zeros((48, 96, 3), np.uint8), labels=labels[t])).image for t in range(4)]
    assert stage._state["prev_images"].shape[1] == model.config.num_frames_G - 1
    assert not np.array_equal(outs[0], outs[1])
    # a discontinuity starts over: the same labels give frame 0's picture again
    again = stage(Frame(4, 4, Fraction(1, 30), np.zeros((48, 96, 3), np.uint8), {"labels": labels[0]},
                        discontinuity=True)).image
    assert np.array_equal(again, outs[0])


def _face(cx, cy, r=12.0):
    t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    pts = np.stack([cx + r * np.cos(t), cy + r * 1.2 * np.sin(t), np.ones(68)], 1)
    return FaceLandmarks(pts.astype(np.float32))


def test_fs_vid2vid_encodes_references_once_per_stream_and_holds_without_a_face():
    torch.manual_seed(0)
    model = FewShotVid2VidGenerator(FewShotVid2VidConfig.tiny(label_channels=1)).eval()
    calls = {"n": 0}
    encode = model.encode_references

    def counting(*a, **k):
        calls["n"] += 1
        return encode(*a, **k)

    model.encode_references = counting
    refs = [frame(0, picture(90, 70), face=_face(35, 45)), frame(0, picture(50, 60, 1), face=_face(30, 25, 8))]
    stage = VideoGenerator(model,
                           references=refs[:1])
    outs = [stage.process(frame(t, picture(64, 96, t), face=_face(40 + t, 30))).image for t in range(5)]
    assert calls["n"] == 1                       # once per stream, not once per frame
    assert all(o.shape == (64, 96, 3) for o in outs)
    held = stage.process(frame(5, picture(64, 96, 9), face=FaceLandmarks.empty())).image
    assert np.array_equal(held, outs[-1]) and stage.counters["missing_subject"] == 1
    stage.reset()                                # a scene cut keeps the encoded references
    stage.process(frame(6, picture(64, 96), face=_face(40, 30)))
    assert calls["n"] == 1
    with pytest.raises(VidsynthError, match="reference"):
        VideoGenerator(model)


def test_wc_vid2vid_guidance_grows_from_its_own_world():
    from vidsynth.geometry.camera import Camera, Intrinsics

    torch.manual_seed(0)
    model = WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=4)).eval()
    stage = generator_stage(model)
    h, w = model.config.output_size
    cam = Camera(Intrinsics.from_fov(w, h, 90.0), np.eye(4))
    depth = np.full((h, w), 5.0, np.float32)
    labels = np.random.default_rng(0).integers(0, 4, (h, w))
    coverage = []
    for t in range(3):
        f = frame(t, np.zeros((h, w, 3), np.uint8), labels=labels, depth=depth, camera=cam)
        g = stage._guidance(f)
        coverage.append(float(g[:, 3].mean()))
        stage.process(f)
    assert coverage[0] == 0.0 and coverage[1] > 0.9   # a still camera sees what it generated
    with pytest.raises(VidsynthError, match="depth"):
        stage.process(frame(3, np.zeros((h, w, 3), np.uint8), labels=labels))


def test_wc_vid2vid_reads_imaginaire_style_unprojections():
    torch.manual_seed(0)
    model = WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=4)).eval()
    stage = generator_stage(model)
    h, w = model.config.output_size
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    ids = (rows * w + cols).reshape(-1)
    mapping = {f"w{w}xh{h}": np.stack([rows.reshape(-1), cols.reshape(-1), ids], 1)}
    labels = np.random.default_rng(0).integers(0, 4, (h, w))
    first = frame(0, np.zeros((h, w, 3), np.uint8), labels=labels, unprojection=mapping)
    assert float(stage._guidance(first)[:, 3].mean()) == 0.0
    stage.process(first)
    again = frame(1, np.zeros((h, w, 3), np.uint8), labels=labels, unprojection=mapping)
    assert float(stage._guidance(again)[:, 3].mean()) == 1.0   # every point coloured by frame 0
    with pytest.raises(VidsynthError, match="w8xh4"):
        stage._guidance(frame(2, unprojection={"w8xh4": mapping[f"w{w}xh{h}"]}))
