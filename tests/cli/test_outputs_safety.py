"""Nothing the user has is destroyed, from the command line: an output naming an input is refused and the
input kept byte for byte; an existing output is refused without -y in under a second, before any model or
MediaPipe graph loads; -y replaces it; a second writer is refused by name; every run ends with a line
saying what it wrote, also when stderr is not a terminal."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from vidsynth.cli import main

from videos import read_video

ROOT = Path(__file__).resolve().parents[2]
CLIP = "synthetic:clip?n_frames=12&width=64&height=48"


def one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("vidsynth: error: "), lines
    return lines[0]


@pytest.fixture
def clip_file(tmp_path):
    path = tmp_path / "dance.mp4"
    assert main(["extract", "-i", CLIP, "--what", "flow", "-o", str(path), "--no-progress"]) == 0
    return path


@pytest.fixture
def tiny_model(tmp_path):
    from vidsynth.networks.model_file import save_model
    from vidsynth.networks.registry import build_model

    torch.manual_seed(0)
    path = tmp_path / "unit.safetensors"
    save_model(build_model("unit", {"num_filters": 8, "max_num_filters": 16, "num_res_blocks": 1}), path)
    return path


def test_an_output_naming_the_input_is_refused_and_the_input_kept(tmp_path, clip_file, tiny_model, capsys):
    capsys.readouterr()
    before = clip_file.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(clip_file)
    for argv in (
        ["extract", "-i", str(clip_file), "--what", "flow", "-o", str(clip_file), "-y"],
        ["extract", "-i", str(link), "--what", "flow", "-o", str(clip_file), "-y"],
        ["render", "--model", str(tiny_model), "-i", str(clip_file), "-o", str(clip_file), "-y", "--model-size", "32x32"],
        ["render", "--model", str(tiny_model), "-i", str(clip_file), "-o", str(tiny_model), "-y"],
    ):
        assert main([*argv, "--no-progress"]) == 2
        assert "it is the input" in one_error_line(capsys)
    assert clip_file.read_bytes() == before and tiny_model.exists()

    frames = tmp_path / "frames"
    assert main(["extract", "-i", str(clip_file), "--what", "flow", "-o", str(frames) + "/", "--no-progress"]) == 0
    listing = sorted(os.listdir(frames))
    capsys.readouterr()
    for out in (frames, frames / "flow.mp4"):
        assert main(["extract", "-i", str(frames), "--what", "flow", "-o", str(out), "-y", "--no-progress"]) == 2
        assert "input" in one_error_line(capsys)
    assert sorted(os.listdir(frames)) == listing


SUBPROCESS = textwrap.dedent(
    """
    import sys, time
    from vidsynth.cli import main
    started = time.perf_counter()
    code = main(sys.argv[1:])
    print(code, round(time.perf_counter() - started, 3), "mediapipe" in sys.modules,
          "vidsynth.networks.unit" in sys.modules, flush=True)
    """
)


def run_cli(*argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", SUBPROCESS, *argv], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    code, seconds, mediapipe, model = done.stdout.split()
    return int(code), float(seconds), mediapipe == "True", model == "True", done.stderr


def test_an_existing_output_is_refused_in_under_a_second_before_anything_loads(tmp_path, clip_file, tiny_model):
    out = tmp_path / "pose.mp4"
    out.write_bytes(b"the user's own file")
    code, seconds, mediapipe, _, err = run_cli("extract", "-i", str(clip_file), "--what", "pose", "-o", str(out))
    assert code == 2 and seconds < 1.0 and not mediapipe, err
    assert f"the output {out} already exists" in err and "-y/--overwrite" in err
    code, _, _, model, err = run_cli("render", "--model", str(tiny_model), "-i", str(clip_file), "-o", str(out))
    assert code == 2 and not model and "already exists" in err, err
    assert out.read_bytes() == b"the user's own file"


def test_overwrite_replaces_the_output_and_leaves_no_temporary_file(tmp_path, clip_file, capsys):
    out = tmp_path / "flow.mp4"
    out.write_bytes(b"old")
    assert main(["extract", "-i", str(clip_file), "--what", "flow", "-o", str(out), "-y", "--no-progress"]) == 0
    assert len(read_video(out)) == 12
    names = [p.name for p in tmp_path.iterdir()]
    assert not [n for n in names if ".partial." in n or n.endswith(".lock")], names  # no temporary file, no lock


HOLDER = textwrap.dedent(
    """
    import sys, time
    from vidsynth.streams.outputs import claim_output
    claim_output(sys.argv[1])
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_a_second_writer_is_refused_with_the_name_of_the_output(tmp_path, capsys):
    out = tmp_path / "shared.mp4"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "locked"
        capsys.readouterr()
        started = time.monotonic()
        assert main(["extract", "-i", CLIP, "--what", "flow", "-o", str(out), "--no-progress"]) == 2
        line = one_error_line(capsys)
        assert f"{out} is being written by another process (pid {holder.pid}" in line
        assert time.monotonic() - started < 1.0 and not out.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        holder.stdout.close()


def test_every_run_ends_with_a_line_saying_what_it_wrote(tmp_path, capfd):
    out = tmp_path / "flow.mp4"
    capfd.readouterr()
    assert main(["extract", "-i", CLIP, "--what", "flow", "-o", str(out), "--no-progress", "--frames", "5"]) == 0
    last = [line for line in capfd.readouterr().err.splitlines() if line.strip()][-1]
    assert last.startswith(f"vidsynth: wrote {out}: 5 frames, 0.17 s") and "0 dropped" in last and "fps" in last
    assert len(read_video(out)) == 5
