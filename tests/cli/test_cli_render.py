"""``vidsynth render`` and ``vidsynth convert`` are thin layers over the render jobs."""

import torch

from vidsynth.cli import main
from vidsynth.streams.video_file import VideoFileSource


def test_render_a_tiny_translation_model_from_the_command_line(tmp_path, capsys):
    from vidsynth.networks.model_file import save_model
    from vidsynth.networks.registry import build_model

    torch.manual_seed(0)
    save_model(build_model("unit", {"num_filters": 8, "max_num_filters": 16, "num_res_blocks": 1}),
               tmp_path / "unit.safetensors")
    out = tmp_path / "t.mp4"
    code = main(["render", "--model", str(tmp_path / "unit.safetensors"), "--input",
                 "synthetic:clip?n_frames=5&width=64&height=48", "--output", str(out), "--model-size", "32x32",
                 "--no-progress", "--seed", "1"])
    assert code == 0, capsys.readouterr().err
    source = VideoFileSource(out)
    info = source.open()
    assert (info.width, info.height) == (64, 48) and sum(1 for _ in source) == 5


def test_render_and_convert_errors_are_one_line(tmp_path, capsys):
    for argv in (
        ["render", "--model", str(tmp_path / "none.safetensors"), "--input", "synthetic:clip", "-o", "x.mp4"],
        ["render", "--model", str(tmp_path / "m.pt"), "--input", "synthetic:clip", "-o", "x.mp4"],
        ["convert", str(tmp_path / "none.pt"), "--config", "x.yaml", "--out", str(tmp_path / "m.safetensors")],
    ):
        assert main(argv) == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("vidsynth: error: "), lines
