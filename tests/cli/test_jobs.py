"""The job layer: one subcommand per job module, typed options from argparse, shipped models by name, and
the render refusing what the model's description says it does not take."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from vidsynth.cli import build_parser, main
from vidsynth.engine.jobs import JOB_MODULES, load_job
from vidsynth.engine.jobs.models import SHIPPED, resolve_model
from vidsynth.engine.jobs.options import RunOptions, from_args, option
from vidsynth.errors import VidsynthError


def _err(capfd) -> str:
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def test_every_job_module_is_a_subcommand_with_its_options():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in JOB_MODULES:
        job = load_job(name)
        assert job.COMMAND["name"] in sub.choices
        assert callable(job.build) and hasattr(job, "Options")


def test_argparse_builds_the_typed_options():
    job = load_job("render")
    parser = build_parser()
    args = parser.parse_args(["render", "-m", "demo:street", "-i", "in.mp4", "--preview", "--live", "--b2a",
                              "--hfov", "75", "--precision", "bf16"])
    options = from_args(job.Options, args)
    assert (options.model, options.input, options.preview, options.mode) == ("demo:street", "in.mp4", "window", "live")
    assert options.a2b is False and options.hfov == 75.0 and options.precision == "bf16"
    extract = from_args(load_job("extract").Options, parser.parse_args(["extract", "-i", "x.mp4", "--no-smooth"]))
    assert extract.smooth is False and extract.what is None
    assert from_args(load_job("extract").Options, parser.parse_args(["extract", "-i", "x.mp4"])).smooth is None


def test_options_are_checked_when_built():
    with pytest.raises(VidsynthError, match="mode to be auto, live or offline"):
        load_job("extract").Options(input="x.mp4", mode="fast")
    with pytest.raises(VidsynthError, match="input-timeout above 0"):
        load_job("render").Options(model="m", input="x.mp4", input_timeout=0)


def test_shipped_models_by_name():
    for name, (file, _) in SHIPPED.items():
        if name != "demo:talk":  # the talking head ships with its job
            assert resolve_model(name).endswith(file)
    assert resolve_model("some/model.safetensors") == "some/model.safetensors"
    with pytest.raises(VidsynthError, match="unknown model name 'demo:nope'.*demo:street"):
        resolve_model("demo:nope")


def test_an_unknown_model_name_is_one_line_and_exit_2(tmp_path, capfd):
    assert main(["render", "-m", "demo:nope", "-i", "synthetic:street", "-o", str(tmp_path / "o.mp4")]) == 2
    line = _err(capfd)
    assert line.startswith("vidsynth: error: unknown model name 'demo:nope'") and "demo:street" in line


def test_info_lists_the_shipped_models_with_what_they_read(capfd):
    assert main(["info", "--json"]) == 0
    models = json.loads(capfd.readouterr().out)["models"]
    assert models["demo:street"]["kind"] == "video" and models["demo:street"]["reads"] == "labels"
    assert models["demo:spade"]["kind"] == "image" and models["demo:dance"]["reads"] == "pose"


def test_a_shipped_model_renders_by_name(tmp_path, capfd):
    out = tmp_path / "frames"
    assert main(["render", "-m", "demo:spade", "-i", "synthetic:street?frames=2&width=128&height=128",
                 "-o", f"{out}/", "--no-progress"]) == 0, _err(capfd)
    assert len(list(out.glob("*.png"))) == 2


@pytest.fixture
def toy_job(monkeypatch):
    """A job module the CLI has never seen: one file's worth of Options, COMMAND and build."""
    module = types.ModuleType("vidsynth.engine.jobs.brighten")

    @dataclass(kw_only=True)
    class Options(RunOptions):
        input: str = option(help="input", flags=("--input", "-i"))
        output: str = option(help="output", flags=("--output", "-o"))
        amount: int = option(40, help="how much brighter")

    def build(options):
        from vidsynth.engine import FunctionStage, Pipeline

        def brighten(frame):
            return frame.with_image(np.clip(frame.image.astype(int) + options.amount, 0, 255).astype(np.uint8))

        return Pipeline(options.input, [FunctionStage(brighten)], options.output, progress=options.progress)

    module.Options, module.build = Options, build
    module.COMMAND = {"name": "brighten", "help": "brighten a video", "description": "Brighten every frame."}
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr("vidsynth.engine.jobs.JOB_MODULES", [*JOB_MODULES, "brighten"])
    return module


def test_a_new_job_module_is_a_command_with_no_cli_change(toy_job, tmp_path, capfd):
    import cv2

    out = tmp_path / "bright"
    spec = "synthetic:clip?n_frames=3&width=32&height=24"
    assert main(["brighten", "-i", spec, "-o", f"{out}/", "--amount", "50", "--no-progress"]) == 0, _err(capfd)
    from vidsynth.streams.synthetic import synthetic_source

    frames = [f.image.astype(int) for f in synthetic_source("clip", n_frames=3, width=32, height=24)]
    written = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB).astype(int) for p in sorted(out.glob("*.png"))]
    assert len(written) == 3
    for a, b in zip(frames, written):
        assert np.array_equal(np.clip(a + 50, 0, 255), b)
    assert main(["brighten", "-i", spec, "-o", f"{out}/", "--amount", "lots"]) == 2
    assert "--amount: invalid int value" in _err(capfd)


def test_a_job_that_fails_to_import_leaves_the_other_commands_working(monkeypatch, capfd):
    monkeypatch.setattr("vidsynth.engine.jobs.JOB_MODULES", [*JOB_MODULES, "no_such_job"])
    assert main(["info", "--json"]) == 0
    capfd.readouterr()
    assert main(["no_such_job"]) == 2
    assert "the no_such_job job could not be loaded" in _err(capfd)


# -- the render refuses what the model's description says it does not take --------------------------------


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    from vidsynth.networks.model_file import save_model
    from vidsynth.networks.registry import build_model

    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    files = {}
    for name, config in {"unit": {"num_filters": 8, "max_num_filters": 16, "num_res_blocks": 1},
                         "funit": {"num_filters": 4, "num_filters_mlp": 8, "style_dims": 8},
                         "spade": {"num_filters": 4, "spade_filters": 8}}.items():
        files[name] = str(folder / f"{name}.safetensors")
        save_model(build_model(name, config), files[name])
    return files


@pytest.mark.parametrize("model, extra, said", [
    ("unit", ["--style", "look.jpg"], "--style is for models with a style code; this unit model has none"),
    ("spade", ["--b2a"], "--b2a is for models that translate between two domains"),
    ("unit", ["--depth", "depth/"], "--depth is for world-consistent models"),
    ("spade", ["--reference", "me.jpg"], "--reference is for models that need reference pictures"),
    ("funit", [], "translates into a class shown by a few example pictures: give them with --examples"),
    ("unit", ["--examples", "dogs/"], "--examples is for models that translate into a class"),
])
def test_the_render_refuses_what_the_model_does_not_take(model_files, model, extra, said, tmp_path, capfd):
    code = main(["render", "-m", model_files[model], "-i", "synthetic:clip?n_frames=2", "-o", str(tmp_path / "o.mp4"),
                 *extra])
    assert code == 2
    line = _err(capfd)
    assert line.startswith("vidsynth: error: ") and said in line, line
    assert not (tmp_path / "o.mp4").exists()


def test_the_shipped_talking_head_renders_a_synthetic_face_through_render(tmp_path, capfd):
    """A one-channel video model reads face landmarks (its description says so); the synthetic face
    carries them, so the render needs no MediaPipe."""
    out = tmp_path / "talk"
    assert main(["render", "-m", "demo:talk", "-i", "synthetic:face?frames=3&width=256&height=256",
                 "-o", f"{out}/", "--no-progress"]) == 0, _err(capfd)
    import cv2

    frames = [cv2.imread(str(p)) for p in sorted(out.glob("*.png"))]
    assert len(frames) == 3 and frames[0].shape == (256, 256, 3)
    assert frames[-1].std() > 20  # a face was generated, not a blank frame
