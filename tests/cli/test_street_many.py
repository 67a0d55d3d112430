"""``vidsynth street --inputs ... --output-dir ...``: many label videos, shared among torchrun's processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from vidsynth.engine.jobs import shard, street
from vidsynth.errors import VidsynthError

N_CLIPS, N_FRAMES = 6, 8
PYTHON = sys.executable
TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")


def write_label_clips(folder, n=N_CLIPS, frames=N_FRAMES):
    """``n`` folders of label-id PNGs: the synthetic street from different places and cities."""
    import cv2

    from vidsynth.streams import open_source

    folder.mkdir()
    for k in range(n):
        clip = folder / f"clip{k}"
        clip.mkdir()
        source = open_source(f"synthetic:street?frames={frames}&width=64&height=64&seed={k % 3}&start={7.0 * k}")
        source.open()
        for frame in source:
            cv2.imwrite(str(clip / f"{frame.index:04d}.png"), frame.conditions["labels"].astype(np.uint8))
        source.close()
    return folder


def frames_of(path):
    from vidsynth.streams import open_source

    return np.stack([f.image for f in open_source(str(path))])


def env():
    e = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        e.pop(key, None)
    return e


def street_args(inputs, out):
    return ["street", "--model", "demo:street", "--inputs", str(inputs), "--output-dir", str(out), "--no-progress"]


def test_shares_are_disjoint_and_cover_everything():
    items = list(range(11))
    shares = [shard.share(items, r, 3) for r in range(3)]
    assert sorted(sum(shares, [])) == items
    assert shard.rank_and_world({}) == (0, 1)
    with pytest.raises(VidsynthError, match="RANK"):
        shard.rank_and_world({"RANK": "2", "WORLD_SIZE": "2"})


def test_input_lists_and_clashing_names(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "0.png").write_bytes(b"")
    (tmp_path / "b.mkv").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("# two inputs\nb.mkv\n\na\n")
    assert shard.list_inputs(str(tmp_path / "notes.txt")) == [str(tmp_path / "a"), str(tmp_path / "b.mkv")]
    (tmp_path / "a.mkv").write_bytes(b"")
    with pytest.raises(VidsynthError, match="both write"):
        shard.plan([str(tmp_path / "a"), str(tmp_path / "a.mkv")], str(tmp_path / "out"))
    with pytest.raises(VidsynthError, match="does not exist"):
        shard.list_inputs(str(tmp_path / "nothing"))
    with pytest.raises(VidsynthError, match="exclude each other"):
        street.run(street.Options(model="demo:street", input="x", inputs=str(tmp_path), output_dir="o"))
    with pytest.raises(VidsynthError, match="reads pose"):
        street.run(street.Options(model="demo:dance", inputs=str(tmp_path / "notes.txt"), output_dir=str(tmp_path / "o")))


def test_torchrun_renders_each_once_like_one_process_and_a_killed_rank_resumes(tmp_path):
    """Six label clips. One process renders them all (the reference). Then rank 1 of 2 runs alone and is
    killed (SIGKILL) once its first output is finished; then torchrun runs both ranks over the same folder:
    rank 0 renders its three, rank 1 skips its finished one (not rewritten) and does the rest. Every output
    is frame-identical to the one-process render, and every input was rendered exactly once."""
    inputs = write_label_clips(tmp_path / "labels")
    reference = tmp_path / "reference"
    subprocess.run([PYTHON, "-m", "vidsynth.cli", *street_args(inputs, reference)], env=env(), check=True,
                   capture_output=True, timeout=300)
    names = sorted(p for p in os.listdir(reference) if p.endswith(".mp4") and not p.startswith("."))
    assert names == [f"clip{k}.mp4" for k in range(N_CLIPS)]

    out = tmp_path / "out"
    first_of_rank1 = out / "clip1.mp4"
    alone = subprocess.Popen([PYTHON, "-m", "vidsynth.cli", *street_args(inputs, out)],
                             env=dict(env(), RANK="1", WORLD_SIZE="2"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not first_of_rank1.exists() and alone.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    alone.send_signal(signal.SIGKILL)
    alone.communicate(timeout=60)
    assert first_of_rank1.exists(), "rank 1 never finished its first output"
    assert not (out / "clip5.mp4").exists()  # killed midway through its share
    stamp = first_of_rank1.stat().st_mtime_ns

    result = subprocess.run([TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "vidsynth.cli",
                             *street_args(inputs, out)], env=env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if "vidsynth street: rank" in line]
    assert len(lines) == 2, result.stderr[-3000:]
    rank0 = next(line for line in lines if "rank 0 of 2" in line)
    rank1 = next(line for line in lines if "rank 1 of 2" in line)
    assert "3 rendered, 0 resumed, 0 already finished, of its 3" in rank0
    assert "1 already finished, of its 3" in rank1
    done = [int(word) for line in lines for word, after in zip(line.split(), line.split()[1:])
            if after.strip(",") in ("rendered", "resumed")]
    assert sum(done) == N_CLIPS - 1  # every input once: 5 now, the killed rank's finished one before
    assert first_of_rank1.stat().st_mtime_ns == stamp  # not redone
    assert sorted(p for p in os.listdir(out) if p.endswith(".mp4") and not p.startswith(".")) == names
    for name in names:
        np.testing.assert_array_equal(frames_of(out / name), frames_of(reference / name), err_msg=name)
        assert len(frames_of(out / name)) == N_FRAMES
