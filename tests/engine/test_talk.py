"""`vidsynth talk`: the target's background with the generated face pasted (feathered) where the target's
face is (relative) or where the driver's is (absolute); the errors a user can cause; no-face counts."""

import numpy as np
import pytest
import torch

from vidsynth.engine.extract.face_track import FaceCropConvention, rigid_frame
from vidsynth.engine.jobs.talk import Options, build, closing_note
from vidsynth.engine.talking_head import feather_mask, feathered_paste
from vidsynth.engine.fitting import Placement
from vidsynth.errors import VidsynthError
from vidsynth.networks.model_file import JobMetadata, save_model
from vidsynth.networks.registry import build_model
from vidsynth.networks.vid2vid import Vid2VidConfig
from vidsynth.streams.synthetic.face import FaceConfig, FaceWorld


@pytest.fixture(scope="module")
def talk_model(tmp_path_factory):
    torch.manual_seed(0)
    cfg = Vid2VidConfig.tiny(output_size=(32, 32), label_channels=1, num_frames_G=2, weight_norm="none")
    model = build_model("vid2vid", cfg)
    world = FaceWorld(FaceConfig(width=96, height=80, identity=1, motion=0))
    background = np.full((80, 96, 3), 200, np.uint8)  # a plain backdrop: the paste must show against it
    background[:, :10] = 20
    job = JobMetadata("talk", {"crop": FaceCropConvention().to_dict(), "size": [32, 32]},
                      {"neutral_landmarks": torch.from_numpy(world.frame(0)["face"]),
                       "background": torch.from_numpy(background)})
    path = tmp_path_factory.mktemp("talk") / "me.safetensors"
    save_model(model, path, job=job)
    return str(path), background, world.frame(0)["face"]


def _frames(path):
    import av

    with av.open(path) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_relative_output_is_the_targets_frame_with_the_face_pasted_at_the_targets_face(tmp_path, talk_model):
    path, background, neutral = talk_model
    out = str(tmp_path / "talk.mp4")
    pipeline = build(Options(model=path, driver="synthetic:face?frames=6&width=128&height=96&identity=4", output=out,
                             progress=False))
    pipeline.run()
    frames = _frames(out)
    assert len(frames) == 6 and frames[0].shape == background.shape
    centre, size = rigid_frame(neutral)
    box = FaceCropConvention().placement(centre, size, background.shape[:2], (32, 32)).box
    x0, y0, x1, y1 = box
    f = frames[3].astype(int)
    outside = np.ones(background.shape[:2], bool)
    outside[max(0, y0 - 2):y1 + 2, max(0, x0 - 2):x1 + 2] = False
    assert np.abs(f[outside] - background[outside]).mean() < 4  # the target's background, untouched (H.264)
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    assert np.abs(f[cy - 4:cy + 4, cx - 4:cx + 4] - 200).mean() > 10  # the generated face is there


def test_absolute_output_follows_the_drivers_face_at_the_drivers_size(tmp_path, talk_model):
    path, _, _ = talk_model
    out = str(tmp_path / "abs.mp4")
    build(Options(model=path, driver="synthetic:face?frames=4&width=128&height=96&identity=4", output=out,
                  retarget="absolute", progress=False)).run()
    frames = _frames(out)
    assert frames[0].shape == (96, 128, 3)


def test_feathered_paste_blends_only_inside_the_box():
    canvas = torch.zeros(1, 3, 40, 60)
    generated = torch.ones(1, 3, 16, 16)
    p = Placement((20, 10, 36, 26), (40, 60), (16, 16))
    out = feathered_paste(generated, canvas, p, feather=0.25)
    assert out[0, :, 18, 28].min() == 1.0  # the middle: all generated
    assert 0 < float(out[0, 0, 10, 28]) < 0.5  # the edge: feathered
    assert out[0, :, :10].abs().max() == 0 and out[0, :, :, :20].abs().max() == 0
    m = feather_mask((16, 16), 0.25)
    assert torch.allclose(m, m.flip(-1)) and torch.allclose(m, m.flip(-2))


def test_user_errors(tmp_path, talk_model):
    path, _, _ = talk_model
    plain = tmp_path / "plain.safetensors"
    save_model(build_model("vid2vid", Vid2VidConfig.tiny(output_size=(32, 32), label_channels=1)), plain)
    with pytest.raises(VidsynthError, match="not a talking-head model"):
        build(Options(model=str(plain), driver="synthetic:face", output=str(tmp_path / "o.mp4")))
    with pytest.raises(VidsynthError, match="driver"):
        build(Options(model=path, driver=str(tmp_path / "none.mp4"), output=str(tmp_path / "o.mp4")))
    with pytest.raises(VidsynthError, match="--output"):
        build(Options(model=path, driver="synthetic:face"))
    with pytest.raises(VidsynthError, match="unknown model name"):
        build(Options(model="demo:nothing", driver="synthetic:face", output=str(tmp_path / "o.mp4")))


def test_faces_too_small_are_counted_in_the_metrics(tmp_path, talk_model):
    path, _, _ = talk_model
    pipeline = build(Options(model=path, driver="synthetic:face?frames=5&width=128&height=96&face_size=0.05",
                             output=str(tmp_path / "small.mp4"), progress=False))
    report = pipeline.run()
    note, fraction = closing_note(report)
    assert fraction == 1.0 and "5 too small" in note


def _face_clip_with_audio(path, fmt: str, codec: str, frames: int = 12, fps: int = 25, rate: int = 48000):
    """synthetic:face frames (H.264) with a tone in ``codec``: what a phone's talking clip holds."""
    import av

    world = FaceWorld(FaceConfig(width=128, height=96, identity=4, fps=fps))
    frame_size = 1536 if codec == "ac3" else 1024
    with av.open(str(path), "w", format=fmt) as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = 128, 96
        audio = container.add_stream(codec, rate=rate)
        audio.layout = "stereo"
        audio.format = "fltp"
        for i in range(frames):
            vframe = av.VideoFrame.from_ndarray(world.frame(i)["image"], format="rgb24")
            vframe.pts = i
            container.mux(video.encode(vframe))
        container.mux(video.encode(None))
        t = np.arange(frames * rate // fps) / rate
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(tone) - frame_size + 1, frame_size):
            chunk = tone[start:start + frame_size]
            aframe = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
            aframe.sample_rate, aframe.pts = rate, start
            container.mux(audio.encode(aframe))
        container.mux(audio.encode(None))


@pytest.mark.parametrize("fmt, codec, suffix", [("matroska", "ac3", "mkv"), ("mp4", "aac", "mp4")])
def test_a_driver_clip_with_audio_gives_a_full_frame_mp4_with_the_audio(tmp_path, talk_model, fmt, codec, suffix):
    import av

    path, background, _ = talk_model
    driver = tmp_path / f"driver.{suffix}"
    _face_clip_with_audio(driver, fmt, codec)
    out = tmp_path / "talk.mp4"
    report = build(Options(model=path, driver=str(driver), output=str(out), progress=False)).run()
    with av.open(str(out)) as c:
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        audio_s = sum(f.samples for f in c.decode(audio=0)) / c.streams.audio[0].rate
    frames = _frames(str(out))
    assert len(frames) == 12 and frames[0].shape == background.shape
    assert audio_s > 0.3
    note, _ = closing_note(report)
    assert note is None  # MediaPipe found the drawn face in every frame


def test_the_demo_talking_head_has_the_targets_face_and_the_drivers_mouth(tmp_path):
    """`vidsynth demo --only talk`: the shipped model, driven by another synthetic person, draws the target
    (its skin, not the driver's) and opens its mouth when the driver does."""
    import av

    from vidsynth.cli import main
    from vidsynth.engine.jobs.models import shipped_path
    from vidsynth.networks.model_file import read_job

    out = tmp_path / "demo.mp4"
    assert main(["demo", "--output", str(out), "--frames", "24", "--no-progress", "--only", "talk"]) == 0
    with av.open(str(tmp_path / "demo_talk.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24").astype(float) for f in c.decode(video=0)]
    assert len(frames) == 24 and frames[0].shape == (256, 768, 3)
    neutral = read_job(shipped_path("demo:talk")).tensors["neutral_landmarks"].numpy()
    driver = FaceWorld(FaceConfig(width=256, height=256, identity=3, background=3, seed=3))
    x, y = np.round(neutral[30, :2]).astype(int)  # the target's nose tip: a cheek patch beside it
    cheek = lambda f: f[y - 20:y - 10, x - 25:x - 15].reshape(-1, 3).mean(0)  # noqa: E731
    generated, driven = cheek(frames[10][:, :256]), cheek(frames[10][:, 256:512])
    target_skin = np.array(FaceWorld(FaceConfig(identity=0)).skin)
    assert np.abs(generated - target_skin).mean() < 0.5 * np.abs(driven - target_skin).mean()
    mx, my = np.round(neutral[60:68, :2].mean(0)).astype(int)
    mouth = [f[my - 3:my + 4, mx - 6:mx + 7, :].mean() for f in frames]
    opening = [np.linalg.norm(p[66, :2] - p[62, :2]) / np.linalg.norm(p[64, :2] - p[60, :2])
               for p in (driver.frame(i)["face"] for i in range(24))]
    assert abs(np.corrcoef(opening, mouth)[0, 1]) > 0.6


def test_a_few_shot_model_pastes_into_the_reference_photo(tmp_path):
    import cv2

    from vidsynth.networks.fs_vid2vid import FewShotVid2VidConfig

    torch.manual_seed(0)
    model = build_model("fs_vid2vid", FewShotVid2VidConfig.tiny(label_channels=1, num_frames_G=2))
    path = tmp_path / "fs.safetensors"
    save_model(model, path)
    photo = FaceWorld(FaceConfig(width=192, height=160, identity=5, background=4, motion=0)).frame(0)["image"]
    reference = tmp_path / "me.png"
    cv2.imwrite(str(reference), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    out = tmp_path / "fs.mp4"
    with pytest.raises(VidsynthError, match="--reference"):
        build(Options(model=str(path), driver="synthetic:face", output=str(out)))
    build(Options(model=str(path), driver="synthetic:face?frames=4&width=128&height=96&identity=2", output=str(out),
                  reference=str(reference), progress=False)).run()
    frames = _frames(str(out))
    assert len(frames) == 4 and frames[0].shape == photo.shape
    assert np.abs(frames[2][:, :12].astype(int) - photo[:, :12]).mean() < 4  # the photo around the face
    x, y = np.round(FaceWorld(FaceConfig(width=192, height=160, identity=5, motion=0)).frame(0)["face"][30, :2]).astype(int)
    assert np.abs(frames[2][y - 5:y + 5, x - 5:x + 5].astype(int) - photo[y - 5:y + 5, x - 5:x + 5]).mean() > 10
    with pytest.raises(VidsynthError, match="drop --reference"):
        build(Options(model=talk_model_path(tmp_path), driver="synthetic:face", output=str(out),
                      reference=str(reference)))


def talk_model_path(tmp_path) -> str:
    cfg = Vid2VidConfig.tiny(output_size=(32, 32), label_channels=1)
    world = FaceWorld(FaceConfig(width=64, height=64, motion=0))
    path = tmp_path / "personal.safetensors"
    save_model(build_model("vid2vid", cfg), path, job=JobMetadata("talk", {}, {
        "neutral_landmarks": torch.from_numpy(world.frame(0)["face"]),
        "background": torch.zeros(64, 64, 3, dtype=torch.uint8)}))
    return str(path)
