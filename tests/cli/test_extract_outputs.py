"""``vidsynth extract`` writing keypoint sidecars and a training folder in imaginaire's raw layout."""

import json

import pytest

from vidsynth.cli import main
from vidsynth.engine import Pipeline
from vidsynth.engine.jobs.extract import sequence_name
from vidsynth.streams.synthetic.photo_pan import PhotoPanClip
from vidsynth.streams.mp4 import Mp4Sink

from videos import read_video


@pytest.fixture(scope="module")
def person_clip(tmp_path_factory):
    """Six frames of a real photograph of a person (scikit-image's astronaut), panned, as H.264."""
    path = tmp_path_factory.mktemp("clip") / "astronaut.mp4"
    Pipeline(PhotoPanClip(n_frames=6, size=128), [], Mp4Sink(path), progress=False).run()
    return path


def test_dataset_out_writes_the_raw_layout(person_clip, tmp_path):
    root = tmp_path / "data"
    assert main(["extract", "--input", str(person_clip), "--dataset-out", str(root), "--no-progress"]) == 0
    seq = "astronaut"
    for folder, ext in (("images", "jpg"), ("poses-openpose", "json"), ("landmarks-dlib68", "json"),
                        ("person_masks", "png")):
        files = sorted((root / folder / seq).glob(f"*.{ext}"))
        assert [f.stem for f in files] == [f"{k:06d}" for k in range(6)], folder
    assert not (root / "flow-dis").exists()  # no model of these reads flow: written only when asked
    pose = json.loads((root / "poses-openpose" / seq / "000005.json").read_text())
    body = pose["people"][0]["pose_keypoints_2d"]
    assert len(body) == 25 * 3 and sum(c > 0 for c in body[2::3]) >= 5  # the astronaut's upper body is found


def test_sidecars_and_a_pose_video_together(person_clip, tmp_path):
    out, side = tmp_path / "pose.mp4", tmp_path / "keypoints"
    assert main(["extract", "--input", str(person_clip), "--what", "pose", "--output", str(out),
                 "--sidecars", str(side), "--no-progress"]) == 0
    assert out.stat().st_size > 0
    files = sorted((side / "poses-openpose" / "astronaut").glob("*.json"))
    assert len(files) == 6
    assert not (side / "images").exists()  # sidecars are keypoints only


def test_sequence_names():
    assert sequence_name("camera:0") == "camera0"
    assert sequence_name("rtsp://cam.local:554/live") == "cam.local_554"
    assert sequence_name("synthetic:clip?n_frames=3") == "syntheticclip"


def test_frames_without_a_person_give_empty_pose_maps(tmp_path):
    out = tmp_path / "nobody.mp4"
    assert main(["extract", "--input", "synthetic:clip?n_frames=4&width=96&height=64", "--what", "pose",
                 "--output", str(out), "--no-progress"]) == 0
    frames = read_video(out)
    assert len(frames) == 4 and all(int(f.image.max()) < 20 for f in frames)  # black: nobody to draw


def test_landmarks_are_smoothed_for_live_input_only_by_default():
    from vidsynth.engine.jobs.extract import Options, build

    spec = "synthetic:clip?n_frames=2&width=64&height=48"

    def names(**kw):
        return [s.name for s in build(Options(input=spec, output="null", progress=False, **kw)).stages]

    assert names(what="pose") == ["PoseExtractor", "DrawPose"]
    assert names(what="pose", mode="live") == ["PoseExtractor", "LandmarkSmoother", "DrawPose"]
    assert names(what="face", smooth=True) == ["FaceExtractor", "LandmarkSmoother", "DrawFace"]
    assert names(what="pose", mode="live", smooth=False) == ["PoseExtractor", "DrawPose"]
    assert names(what="flow", smooth=True) == ["FlowExtractor", "DrawFlow"]


def test_the_python_api_is_as_short_as_the_command(person_clip, tmp_path):
    from vidsynth.engine.draw import DrawPose
    from vidsynth.engine.extract import PoseExtractor
    from vidsynth.streams import open_sink, open_source

    out = tmp_path / "pose.mp4"
    report = Pipeline(open_source(str(person_clip)), [PoseExtractor(), DrawPose()], open_sink(str(out)),
                      progress=False).run()
    assert report.frames_out == 6 and "PoseExtractor" in report.summary()
    last = read_video(out)[-1].image
    assert (last.max(axis=2) > 60).mean() > 0.002  # a skeleton on black


def test_dataset_out_keeps_an_image_folders_names_and_writes_flow_compactly_when_asked(tmp_path):
    import cv2
    import numpy as np

    from vidsynth.engine.sidecars import read_flow

    folder = tmp_path / "shoot"
    folder.mkdir()
    names = ["IMG_0007", "IMG_0010", "IMG_0100"]
    for k, name in enumerate(names):
        image = np.zeros((48, 64, 3), np.uint8)
        image[10:30, 5 + 6 * k:25 + 6 * k] = 255  # a square moving right: the flow has something to find
        cv2.imwrite(str(folder / f"{name}.png"), image)
    root = tmp_path / "data"
    assert main(["extract", "--input", str(folder), "--what", "flow", "--dataset-out", str(root), "--no-progress"]) == 0
    seq = sequence_name(str(folder))
    for sub, ext in (("images", "jpg"), ("flow-dis", "npy")):
        assert sorted(p.stem for p in (root / sub / seq).glob(f"*.{ext}")) == names, sub
    stored = np.load(root / "flow-dis" / seq / "IMG_0100.npy")
    assert stored.dtype == np.float16 and stored.shape == (48, 64, 2)  # half the bytes of float32
    flow = read_flow(root / "flow-dis" / seq / "IMG_0100.npy")
    assert flow.dtype == np.float32 and np.abs(flow).max() > 1.0
