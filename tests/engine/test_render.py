"""`render` end to end: model files in, videos out, for label, image, pose/face and world-consistent models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidsynth.engine.render import convert, load_generator, render
from vidsynth.errors import VidsynthError
from vidsynth.networks.fs_vid2vid import FewShotVid2VidConfig, FewShotVid2VidGenerator
from vidsynth.networks.model_file import save_model
from vidsynth.networks.registry import build_model
from vidsynth.networks.vid2vid import Vid2VidConfig, Vid2VidGenerator
from vidsynth.networks.wc_vid2vid import WCVid2VidConfig, WCVid2VidGenerator


def decoded(path):
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_street_vid2vid_renders_the_synthetic_street(tmp_path):
    torch.manual_seed(0)
    model = Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=35, output_size=(32, 64)))
    save_model(model, tmp_path / "street.safetensors")
    out = tmp_path / "street.mp4"
    report = render(str(tmp_path / "street.safetensors"), "synthetic:street?frames=5&width=96&height=48",
                    output=str(out), progress=False).run()
    frames = decoded(out)
    assert report.frames_out == 5 and len(frames) == 5 and frames[0].shape == (48, 96, 3)
    assert np.std(frames[-1]) > 0


def test_wc_vid2vid_renders_with_its_world(tmp_path):
    torch.manual_seed(0)
    model = WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=35))
    save_model(model, tmp_path / "wc.safetensors")
    pipeline = render(str(tmp_path / "wc.safetensors"), "synthetic:street?frames=4&width=64&height=32",
                      output=str(tmp_path / "wc.mp4"), progress=False)
    pipeline.run()
    stage = pipeline.stages[-1]
    assert stage.counters["generated"] == 4 and 0 < stage.counters["guidance_coverage"] <= 1
    assert len(decoded(tmp_path / "wc.mp4")) == 4


def test_translation_model_on_a_clip(tmp_path):
    model = build_model("unit", {"num_filters": 8, "max_num_filters": 16, "num_res_blocks": 1})
    save_model(model, tmp_path / "unit.safetensors")
    render(str(tmp_path / "unit.safetensors"), "synthetic:clip?n_frames=6&width=64&height=48",
           output=str(tmp_path / "t.mp4"), model_size="32x32", progress=False).run()
    assert len(decoded(tmp_path / "t.mp4")) == 6


def test_talking_head_from_a_reference_photo(tmp_path):
    """fs-vid2vid face: landmarks extracted from a real photo (the reference) and from a moving driver."""
    skimage = pytest.importorskip("skimage.data")
    import cv2

    from vidsynth.engine.pipeline import Pipeline
    from vidsynth.streams.synthetic.photo_pan import PhotoPanClip
    from vidsynth.streams import open_sink

    photo = skimage.astronaut()
    cv2.imwrite(str(tmp_path / "me.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    Pipeline(PhotoPanClip(n_frames=4, size=192), [], open_sink(str(tmp_path / "driver.mp4")), progress=False).run()
    torch.manual_seed(0)
    model = FewShotVid2VidGenerator(FewShotVid2VidConfig.tiny(label_channels=1))
    save_model(model, tmp_path / "face.safetensors")
    pipeline = render(str(tmp_path / "face.safetensors"), str(tmp_path / "driver.mp4"),
                      reference=str(tmp_path / "me.png"), output=str(tmp_path / "head.mp4"),
                      output_size="model", progress=False)
    pipeline.run()
    stage = pipeline.stages[-1]
    assert stage.counters == {"generated": 4, "missing_subject": 0}
    assert stage._reference_encoding is not None
    assert [f.shape for f in decoded(tmp_path / "head.mp4")] == [(64, 64, 3)] * 4
    # a driver with no face from the start: frames pass through at the model's size, counted
    pipeline = render(str(tmp_path / "face.safetensors"), "synthetic:clip?n_frames=3&width=96&height=48",
                      reference=str(tmp_path / "me.png"), output=str(tmp_path / "none.mp4"),
                      output_size="model", progress=False)
    pipeline.run()
    assert pipeline.stages[-1].counters["missing_subject"] == 3
    assert [f.shape for f in decoded(tmp_path / "none.mp4")] == [(64, 64, 3)] * 3


def test_user_errors(tmp_path):
    (tmp_path / "ckpt.pt").write_bytes(b"x")
    with pytest.raises(VidsynthError, match="convert it first"):
        load_generator(str(tmp_path / "ckpt.pt"))
    with pytest.raises(VidsynthError, match="does not exist"):
        load_generator(str(tmp_path / "nope.safetensors"))
    model = build_model("unit", {"num_filters": 8, "max_num_filters": 16, "num_res_blocks": 1})
    save_model(model, tmp_path / "unit.safetensors")
    with pytest.raises(VidsynthError, match="--reference is for models that need reference pictures"):
        render(str(tmp_path / "unit.safetensors"), "synthetic:clip", output=str(tmp_path / "o.mp4"),
               reference=str(tmp_path / "ckpt.pt"))
    with pytest.raises(VidsynthError, match="does not exist"):
        convert(str(tmp_path / "missing.pt"), str(tmp_path / "c.yaml"), str(tmp_path / "m.safetensors"))


def test_world_export_writes_the_rendered_world(tmp_path):
    from vidsynth.engine.generate.world import export_world

    torch.manual_seed(0)
    save_model(WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=35)), tmp_path / "wc.safetensors")
    render(str(tmp_path / "wc.safetensors"), "synthetic:street?frames=3&width=64&height=32",
           output=str(tmp_path / "wc.mp4"), progress=False).run()
    assert (tmp_path / "wc.world.pt").exists()
    n = export_world(str(tmp_path / "wc.world.pt"), str(tmp_path / "world.ply"))
    import open3d as o3d

    cloud = o3d.io.read_point_cloud(str(tmp_path / "world.ply"))
    assert n > 100 and len(cloud.points) == n and cloud.has_colors()
    with pytest.raises(VidsynthError, match="does not exist"):
        export_world(str(tmp_path / "none.pt"), str(tmp_path / "w.ply"))


@pytest.mark.parametrize("with_cameras", [True, False])
def test_wc_vid2vid_from_label_folder_depth_and_cameras(tmp_path, with_cameras):
    """The user's path: label maps + a 16-bit depth folder + a cameras file (or odometry without one)."""
    import cv2

    from vidsynth.geometry.camera import write_cameras
    from vidsynth.geometry.depth_io import write_depth_png_folder
    from vidsynth.streams.synthetic.street import StreetConfig, StreetSource

    src = StreetSource(StreetConfig(width=64, height=32, frames=4))
    src.open()
    frames = list(src)
    (tmp_path / "labels").mkdir()
    for f in frames:
        cv2.imwrite(str(tmp_path / "labels" / f"{f.index:04d}.png"), f.conditions["labels"].astype(np.uint8))
    write_depth_png_folder(str(tmp_path / "depth"), [f.conditions["depth"] for f in frames], scale=0.001)
    cameras = None
    if with_cameras:
        cameras = str(tmp_path / "cameras.json")
        write_cameras(cameras, frames[0].conditions["camera"].intrinsics,
                      [f.conditions["camera"].pose for f in frames])
    torch.manual_seed(0)
    save_model(WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=35)), tmp_path / "wc.safetensors")
    pipeline = render(str(tmp_path / "wc.safetensors"), str(tmp_path / "labels"), output=str(tmp_path / "o.mp4"),
                      depth=str(tmp_path / "depth"), depth_scale=0.001, cameras=cameras, progress=False)
    pipeline.run()
    assert pipeline.stages[-1].counters["generated"] == 4
    assert pipeline.stages[-1].counters["guidance_coverage"] > 0.2  # later frames see earlier ones


def test_image_model_on_onnx_runtime_matches_eager(tmp_path):
    pytest.importorskip("onnxruntime")
    model = build_model("unit", {"num_filters": 8, "max_num_filters": 16, "num_res_blocks": 1})
    save_model(model, tmp_path / "unit.safetensors")
    outs = {}
    for backend in ("eager", "onnx"):
        out = tmp_path / f"{backend}"
        render(str(tmp_path / "unit.safetensors"), "synthetic:clip?n_frames=3&width=64&height=48",
               output=str(out) + "/", model_size="32x32", backend=backend, progress=False).run()
        outs[backend] = [np.asarray(__import__("cv2").imread(str(p))) for p in sorted(out.glob("*.png"))]
    assert len(outs["onnx"]) == 3
    for a, b in zip(outs["eager"], outs["onnx"]):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


@pytest.mark.parametrize("name", ["street", "dance"])
def test_synthesis_demo_wiring(tmp_path, name):
    """The demo's pipeline on a random tiny model: generated | condition | truth, scaled up."""
    from vidsynth.engine.jobs.demo import Options, synthesis_panel
    from vidsynth.networks.vid2vid import PoseLabelConfig

    torch.manual_seed(0)
    if name == "street":
        cfg = Vid2VidConfig.tiny(label_channels=35, output_size=(32, 32))
    else:
        cfg = Vid2VidConfig.tiny(label_channels=27, output_size=(32, 32), use_segmap_as_input=False,
                                 pose=PoseLabelConfig(), style_dims=8)
    save_model(Vid2VidGenerator(cfg), tmp_path / "m.safetensors")
    world, condition = {"street": ("synthetic:street", "labels"), "dance": ("synthetic:puppet", "pose")}[name]
    panel = synthesis_panel(str(tmp_path / "m.safetensors"), world, condition, scale=2)
    panel(Options(frames=3, progress=False), str(tmp_path / "d.mp4")).run()
    frames = decoded(tmp_path / "d.mp4")
    assert len(frames) == 3 and frames[0].shape == (64, 192, 3)


# -- the rendered frames are the model's: an identity or constant generator fails these ------------------

STREET_MODEL = "demo:street"  # the shipped vid2vid street model, trained on the synthetic street


def _street_labels_and_truth(folder, n=6, width=128, height=64):
    """The synthetic street as a folder of label-id PNGs (what a user renders) and its true pictures."""
    import cv2

    from vidsynth.streams import open_source

    source = open_source(f"synthetic:street?frames={n}&width={width}&height={height}")
    source.open()
    truth = []
    folder.mkdir()
    for frame in source:
        cv2.imwrite(str(folder / f"{frame.index:04d}.png"), frame.conditions["labels"].astype(np.uint8))
        truth.append(frame.image.astype(np.float64))
    source.close()
    return truth


def test_rendered_street_frames_come_from_the_model_not_the_input(tmp_path):
    """Labels in, street out: the trained model's frames are close to the world's true pictures, much closer
    than the input labels (an identity generator), the mean picture (a constant generator) or the same
    network with untrained weights."""
    from vidsynth.engine.jobs.models import resolve_model

    truth = _street_labels_and_truth(tmp_path / "labels")
    trained = decoded(_render_street(tmp_path, resolve_model(STREET_MODEL), "trained.mp4"))
    untrained_model = load_generator(resolve_model(STREET_MODEL))
    torch.manual_seed(1)
    for p in untrained_model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    save_model(untrained_model, tmp_path / "untrained.safetensors")
    untrained = decoded(_render_street(tmp_path, str(tmp_path / "untrained.safetensors"), "untrained.mp4"))

    def error(frames):
        return float(np.mean([np.abs(a.astype(np.float64) - t).mean() for a, t in zip(frames, truth)]))

    labels_as_image = [np.repeat(cv2_read(p)[:, :, None], 3, 2) for p in sorted((tmp_path / "labels").iterdir())]
    mean_picture = [np.broadcast_to(t.mean(axis=(0, 1)), t.shape) for t in truth]
    got = error(trained)
    assert len(trained) == len(truth) == 6 and trained[0].shape == truth[0].shape
    assert got < 0.6 * error(labels_as_image), (got, error(labels_as_image))
    assert got < 0.6 * error(mean_picture), (got, error(mean_picture))
    assert got < 0.6 * error(untrained), (got, error(untrained))
    assert np.mean([f.std() for f in trained]) > 20  # a picture, not a flat colour


def cv2_read(path):
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def _render_street(tmp_path, model, name):
    out = tmp_path / name
    render(model, str(tmp_path / "labels"), output=str(out), progress=False).run()
    return out
