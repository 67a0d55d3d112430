"""Bad input to the ``vidsynth`` command: one clear line on stderr, a non-zero exit, within seconds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from vidsynth.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HANG = 60  # seconds; a bad input must fail long before this (it is a hang guard, not a speed test)


def _write_clip(path, n=20, fragmented=False):
    """A small H.264 MP4 written directly with PyAV (moov at the end unless fragmented)."""
    import av
    import numpy as np

    options = {"movflags": "frag_keyframe+empty_moov"} if fragmented else {}
    with av.open(str(path), "w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(n):
            image = np.full((48, 64, 3), (k * 10) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _zero_frame_video(path):
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()  # header and index with no frames


@pytest.fixture
def bad_inputs(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    whole = tmp_path / "whole.mp4"
    _write_clip(whole, n=30)
    truncated = tmp_path / "truncated.mp4"
    data = whole.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    zero = tmp_path / "zero.mp4"
    _zero_frame_video(zero)
    palette = tmp_path / "palette.json"
    palette.write_text('{"colors": [[0, 0, 0], [255, 0')
    return {"text": text, "whole": whole, "truncated": truncated, "zero": zero, "palette": palette}


def _run_main(capsys, argv):
    t0 = time.monotonic()
    code = main(argv)
    elapsed = time.monotonic() - t0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    return code, lines, elapsed


CASES = {
    "missing file": (lambda p: ["--input", str(p["text"].parent / "missing.mp4")], "no such file"),
    "text named .mp4": (lambda p: ["--input", str(p["text"])], "FFmpeg"),
    "truncated video": (lambda p: ["--input", str(p["truncated"])], str("truncated")),
    "zero-frame video": (lambda p: ["--input", str(p["zero"])], "zero frames"),
    "camera 99": (lambda p: ["--input", "camera:99"], "camera"),
    "unreachable URL": (lambda p: ["--input", "rtsp://127.0.0.1:9/x"], "rtsp://127.0.0.1:9/x"),
    "unknown --what": (lambda p: ["--input", str(p["whole"]), "--what", "aura"], "--what"),
    "palette that does not parse": (
        lambda p: ["--input", str(p["whole"]), "--what", "labels", "--palette", str(p["palette"])], "JSON"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_line_and_exit_2(case, bad_inputs, capsys, tmp_path):
    args, needle = CASES[case]
    argv = ["extract", *args(bad_inputs), "--output", str(tmp_path / "out.mp4"), "--no-progress"]
    if "--what" not in argv:
        argv += ["--what", "flow"]
    code, lines, elapsed = _run_main(capsys, argv)
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("vidsynth: error: ")
    assert needle.lower() in lines[0].lower(), lines[0]
    assert elapsed < HANG


def test_truncated_video_keeps_what_was_read_playable(bad_inputs, tmp_path, capsys):
    """A fragmented file cut mid-way: frames before the cut are rendered, then one error line."""
    from vidsynth.streams.video_file import VideoFileSource

    whole = tmp_path / "frag.mp4"
    _write_clip(whole, n=60, fragmented=True)
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    out = tmp_path / "out.mp4"
    code = main(["extract", "--input", str(cut), "--what", "flow", "--output", str(out), "--no-progress"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    if code != 0:  # strict decoding reports the cut; what came before it was written and closed
        assert code == 2 and len(err) == 1 and err[0].startswith("vidsynth: error: ")
    src = VideoFileSource(out)
    src.open()
    assert 0 < sum(1 for _ in src) < 60


def test_nothing_to_write_and_bad_options_are_one_line(capsys, bad_inputs):
    for argv in (
        ["extract", "--input", str(bad_inputs["whole"])],
        ["extract", "--input", str(bad_inputs["whole"]), "--output", "x.mp4", "--size", "abc"],
        ["extract", "--input", str(bad_inputs["whole"]), "--output", "x.mp4", "--fps", "25"],
        ["extract", "--output", "x.mp4"],
        ["render"],
    ):
        code, lines, _ = _run_main(capsys, argv)
        assert code == 2 and len(lines) == 1 and lines[0].startswith("vidsynth: error: "), (argv, lines)


def _console_script():
    here = os.path.join(os.path.dirname(sys.executable), "vidsynth")
    return here if os.path.exists(here) else shutil.which("vidsynth")


@pytest.mark.parametrize("launcher", ["module", "console script"])
def test_subprocess_prints_no_traceback(launcher, bad_inputs, tmp_path):
    if launcher == "module":
        cmd = [sys.executable, "-m", "vidsynth.cli"]
    else:
        script = _console_script()
        if script is None:
            pytest.skip("the vidsynth console script is not installed (pip install -e .)")
        cmd = [script]
    env = {**os.environ, "PYTHONPATH": ROOT}
    for args in (["--input", str(bad_inputs["text"])], ["--input", str(bad_inputs["zero"])]):
        proc = subprocess.run([*cmd, "extract", *args, "--output", str(tmp_path / "o.mp4")],
                              capture_output=True, text=True, timeout=HANG, env=env, cwd=ROOT)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("vidsynth: error: "), proc.stderr


def test_info_lists_packages_and_what_is_missing(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for word in ("torch", "mediapipe", "av", "backends:", "devices: cpu", "missing:", "thread budget:"):
        assert word in out


def test_help_and_version(capsys):
    assert main(["--version"]) == 0
    assert "vidsynth" in capsys.readouterr().out
    assert main(["extract", "--help"]) == 0
    assert "--what" in capsys.readouterr().out
    assert main([]) == 2


def test_a_stalled_stream_is_an_error_not_a_hang(tmp_path, capsys):
    """A server that accepts the connection and then sends nothing."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        code, lines, elapsed = _run_main(capsys, ["extract", "--input", f"http://127.0.0.1:{port}/live.ts", "--what",
                                                  "flow", "--output", str(tmp_path / "o.mp4"), "--input-timeout", "3"])
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("vidsynth: error: "), lines
    assert elapsed < HANG


# -- errors the user caused read as user errors (not "internal error", not "a bug") ------------------------

STREET_MODEL = os.path.join(ROOT, "engine", "data", "models", "vid2vid_street_128.safetensors")


def _only_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("vidsynth: error: "), lines[0]
    assert "internal error" not in lines[0] and "bug" not in lines[0]
    return lines[0]


@pytest.mark.parametrize("device, says", [("potato", "expected --device to be cpu, cuda or cuda:N"),
                                          ("cuda", "asks for a CUDA GPU"), ("cuda:7", "cuda:7")])
def test_a_device_this_machine_lacks_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch, device, says):
    import torch

    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 7:
        pytest.skip("this machine has the GPU asked for")

    def loaded(*_a, **_k):
        raise AssertionError("the model was loaded before --device was checked")

    monkeypatch.setattr("vidsynth.engine.render.load_generator", loaded)
    code = main(["render", "--model", STREET_MODEL, "--input", "synthetic:street", "--output",
                 str(tmp_path / "out.mp4"), "--device", device, "--no-progress"])
    assert code == 2
    assert says in _only_line(capsys.readouterr().err)
    assert not (tmp_path / "out.mp4").exists()


def test_metrics_naming_a_directory_is_refused_before_the_run(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "figures"
    folder.mkdir()

    def ran(*_a, **_k):
        raise AssertionError("the pipeline ran before --metrics was checked")

    monkeypatch.setattr("vidsynth.engine.pipeline.Pipeline.run", ran)
    code = main(["extract", "--input", "synthetic:clip?n_frames=5&width=64&height=48", "--what", "flow",
                 "--output", str(tmp_path / "flow.mp4"), "--metrics", str(folder), "--no-progress"])
    assert code == 2
    assert "expected --metrics to name a JSON file, found the directory" in _only_line(capsys.readouterr().err)
    assert os.listdir(folder) == [] and not (tmp_path / "flow.mp4").exists()


@pytest.mark.parametrize("errno_name, says", [("ENOSPC", "the disk is full"), ("EROFS", "read-only"),
                                              ("EACCES", "permission denied")])
def test_a_full_or_read_only_disk_is_a_user_error(tmp_path, capsys, monkeypatch, errno_name, says):
    """The disk fills (or turns read-only) mid-run: one line naming the cause and what to do, exit 2."""
    import errno

    from vidsynth.streams.mp4 import Mp4Sink

    write = Mp4Sink.write
    written = []

    def failing(self, frame):
        if len(written) == 3:
            raise OSError(getattr(errno, errno_name), os.strerror(getattr(errno, errno_name)), str(tmp_path / "o.mp4"))
        written.append(frame.index)
        return write(self, frame)

    monkeypatch.setattr(Mp4Sink, "write", failing)
    code = main(["extract", "--input", "synthetic:clip?n_frames=20&width=64&height=48", "--what", "flow",
                 "--output", str(tmp_path / "o.mp4"), "--no-progress"])
    assert code == 2
    line = _only_line(capsys.readouterr().err)
    assert says in line and "o.mp4" in line


def test_a_port_in_use_suggests_an_option_the_parser_accepts(tmp_path):
    import socket

    from vidsynth.cli import build_parser
    from vidsynth.errors import VidsynthError
    from vidsynth.streams import open_sink

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        sink = open_sink(f"http:{port}")
        with pytest.raises(VidsynthError) as caught:
            sink.open(None)
    message = str(caught.value)
    assert str(port) in message and "--output http:PORT" in message and "--preview http" in message
    # both suggestions parse
    build_parser().parse_args(["extract", "-i", "x.mp4", "--output", f"http:{port + 1}"])
    build_parser().parse_args(["extract", "-i", "x.mp4", "--preview", "http"])


def test_label_ids_outside_the_palette_are_warned_once_with_ids_and_counts(caplog):
    import logging
    from fractions import Fraction

    import numpy as np

    from vidsynth.engine.extract.labels import LabelDecoder
    from vidsynth.streams.frame import Frame

    decoder = LabelDecoder(palette="cityscapes")  # ids 0-34, 255 ignored
    picture = np.zeros((8, 8, 3), np.uint8)
    picture[0, :3] = 40
    picture[1, :1] = 200
    picture[2, :5] = 255  # the ignore id is not out of the palette
    with caplog.at_level(logging.WARNING, logger="vidsynth"):
        for k in range(3):
            decoder.process(Frame(k, k, Fraction(1, 30), image=picture.copy()))
    warnings = [r.getMessage() for r in caplog.records if "outside the palette" in r.getMessage()]
    assert len(warnings) == 1
    assert "40 (3 pixels)" in warnings[0] and "200 (1 pixels)" in warnings[0] and "255" not in warnings[0].split(":")[1]
    assert decoder.counters["out_of_palette_pixels"] == 3 * 4
