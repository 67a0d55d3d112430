"""Footage as cameras write it, through the command line: AC3 audio with a corrupt packet becomes an MP4 with
every frame and AAC audio (extract and render); a corrupt video packet costs that frame only (--strict
stops); a frame range keeps the audio in step."""

import av
import pytest
import torch

from vidsynth.cli import main

from footage import FPS, N_FRAMES, corrupt_audio_packets, corrupt_video_packet, write_clip_with_audio
from videos import read_video


@pytest.fixture
def camera_clip(tmp_path):
    path = tmp_path / "camera.mkv"
    write_clip_with_audio(path, "matroska", "ac3")
    corrupt_audio_packets(path, [4])
    return path


def audio_of(path):
    with av.open(str(path)) as container:
        codec = container.streams.audio[0].codec_context.name
        seconds = sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].rate
    return codec, seconds


def test_extract_and_render_write_every_frame_and_the_audio(tmp_path, camera_clip, capfd):
    from vidsynth.networks.model_file import save_model
    from vidsynth.networks.registry import build_model

    torch.manual_seed(0)
    model = tmp_path / "unit.safetensors"
    save_model(build_model("unit", {"num_filters": 8, "max_num_filters": 16, "num_res_blocks": 1}), model)
    for argv in (
        ["extract", "-i", str(camera_clip), "--what", "flow", "-o", str(tmp_path / "flow.mp4")],
        ["render", "--model", str(model), "-i", str(camera_clip), "-o", str(tmp_path / "render.mp4"),
         "--model-size", "32x32"],
    ):
        assert main([*argv, "--no-progress"]) == 0, capfd.readouterr().err
        out = argv[argv.index("-o") + 1]
        assert len(read_video(out)) == N_FRAMES
        codec, seconds = audio_of(out)
        assert codec == "aac" and seconds == pytest.approx(N_FRAMES / FPS, abs=0.012)
        err = capfd.readouterr().err
        assert "skipped 1 packet" in err and "audio re-encoded to AAC (1 corrupt packet(s) skipped)" in err


def test_a_frame_range_keeps_the_audio_in_step(tmp_path, camera_clip):
    out = tmp_path / "part.mp4"
    assert main(["extract", "-i", str(camera_clip), "--what", "flow", "-o", str(out), "--start", "0.5",
                 "--duration", "0.5", "--no-progress"]) == 0
    frames = read_video(out)
    assert len(frames) == 15 and frames[0].time == 0
    codec, seconds = audio_of(out)
    assert seconds == pytest.approx(0.5, abs=0.045)  # whole packets: at most one past the cut
    with av.open(str(out)) as container:
        first_audio = next(p for p in container.demux(audio=0) if p.size)
        assert float(first_audio.pts * first_audio.time_base) == pytest.approx(0, abs=0.03)


def test_a_corrupt_video_packet_costs_one_frame_and_strict_stops(tmp_path, capfd):
    clip = tmp_path / "camera.mp4"
    write_clip_with_audio(clip, "mp4", "aac")
    seconds = corrupt_video_packet(clip, 12)
    out = tmp_path / "flow.mp4"
    assert main(["extract", "-i", str(clip), "--what", "flow", "-o", str(out), "--no-progress"]) == 0
    assert len(read_video(out)) == N_FRAMES - 1
    err = capfd.readouterr().err
    assert f"frame {round(seconds * FPS)} (at {seconds:.2f} s) could not be decoded" in err
    assert "1 lost to corrupt packets" in err.splitlines()[-1]
    assert main(["extract", "-i", str(clip), "--what", "flow", "-o", str(out), "-y", "--strict",
                 "--no-progress"]) == 2
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert lines[-1].startswith("vidsynth: error: ") and "could not be decoded" in lines[-1] and "--strict" in lines[-1]
