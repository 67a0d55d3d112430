"""The engine reads what a model says about itself, never its name.

- every registered model describes itself, and the description matches how it is called;
- nothing in ``engine/`` or ``vidsynth/`` compares against a model's name or branches on ``model_name``;
- an eleventh model class, registered by a test-only module, renders through ``vidsynth render``.
"""

from __future__ import annotations

import ast
import os
import sys

import cv2
import numpy as np
import pytest
import torch

from vidsynth.cli import main
from vidsynth.networks.registry import available_models, build_model, describe_model
from vidsynth.networks.spec import KINDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILTIN = ("pix2pixhd", "spade", "unit", "munit", "funit", "coco_funit", "vid2vid", "fs_vid2vid", "wc_vid2vid")


def _spellings(name: str) -> set[str]:
    return {name, name.replace("_", "-"), name.replace("_", ""), name.upper()}


def _name_uses(path: str, names: set[str]) -> list[str]:
    """Lines of ``path`` whose code (not docstrings, not f-string text) names a model or reads model_name."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    in_fstring = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FormattedValue):
            in_fstring.update(id(n) for n in ast.walk(node.value))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if node.value.lower() in names:
                found.append(f"{path}:{node.lineno}: the string {node.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr == "model_name" and id(node) not in in_fstring:
            found.append(f"{path}:{node.lineno}: reads .model_name outside a message")
    return found


def test_no_model_name_in_the_engine_or_the_command():
    names = {s.lower() for n in available_models() for s in _spellings(n)}
    assert set(BUILTIN) <= names
    found = []
    for top in ("engine", "vidsynth"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            found += [line for f in sorted(files) if f.endswith(".py")
                      for line in _name_uses(os.path.join(folder, f), names)]
    assert not found, "the engine must read a model's describe(), not its name:\n" + "\n".join(found)


def test_the_name_check_finds_a_name_switch(tmp_path):
    """The check above would see the kind of code it forbids."""
    code = tmp_path / "switch.py"
    code.write_text('"""doc: spade is fine here."""\n'
                    'def pick(model):\n'
                    '    """Nor here: fs-vid2vid."""\n'
                    '    if model.model_name in ("spade", "unit"):\n'
                    '        return f"{model.model_name}"\n')
    found = _name_uses(str(code), {s for n in BUILTIN for s in _spellings(n)})
    assert len(found) == 3 and "'spade'" in found[1] and "model_name" in found[0], found


TINY = {
    "pix2pixhd": {"num_filters": 4, "num_downsamples": 1, "num_res_blocks": 1, "num_enhancers": 0},
    "spade": {"num_filters": 4, "spade_filters": 8, "style_dims": 8, "style_encoder_filters": 4},
    "unit": {"num_filters": 8, "max_num_filters": 16, "num_res_blocks": 1},
    "munit": {"num_filters": 8, "max_num_filters": 16, "num_res_blocks": 1, "latent_dim": 4, "num_filters_mlp": 8},
    "funit": {"num_filters": 4, "num_filters_mlp": 8, "style_dims": 8},
    "coco_funit": {"num_filters": 4, "num_filters_mlp": 8, "style_dims": 8, "usb_dims": 8},
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_an_image_model_is_called_as_its_description_says(name):
    """The per-frame entry takes the condition its description names, at a multiple of its size multiple,
    and gives a picture of the same size; a style comes exactly when the description says so."""
    model = build_model(name, TINY[name]).eval()
    spec = describe_model(model)
    assert spec.kind == "image" and not spec.is_video and spec.outputs == ("image",)
    m = spec.size_multiple
    h, w = m * max(2, 32 // m), m * max(3, 48 // m)  # style encoders need a few pixels after their downsamplings
    if spec.reads == "labels":
        x = torch.randint(0, 5, (1, h, w))
        assert spec.main.channels == model.config.label.channels
    else:
        x = torch.rand(1, 3, h, w) * 2 - 1
    gen = torch.Generator().manual_seed(0)
    examples = torch.rand(2, 3, h, w) * 2 - 1 if spec.examples else None
    with torch.inference_mode():
        style = model.stream_style(None, examples, gen, True)
        assert (style is not None) == (spec.style or spec.examples)
        out = model.translator(True)(**model.translate_inputs(x, style, gen))
    assert out.shape == (1, 3, h, w)


def test_video_models_describe_what_step_takes():
    from vidsynth.networks.fs_vid2vid import FewShotVid2VidConfig, FewShotVid2VidGenerator
    from vidsynth.networks.vid2vid import PoseLabelConfig, Vid2VidConfig, Vid2VidGenerator
    from vidsynth.networks.wc_vid2vid import WCVid2VidConfig, WCVid2VidGenerator

    street = describe_model(Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=35, output_size=(32, 64))))
    assert (street.kind, street.reads, street.main.channels, street.size) == ("video", "labels", 35, (32, 64))
    pose = describe_model(Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=30, use_segmap_as_input=False,
                                                              pose=PoseLabelConfig(), style_dims=8)))
    assert (pose.reads, pose.main.also_reads) == ("pose", ("person_mask",))
    face = describe_model(FewShotVid2VidGenerator(FewShotVid2VidConfig.tiny(label_channels=1)))
    assert (face.kind, face.reads, face.references) == ("few_shot_video", "face", True)
    world = describe_model(WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=35)))
    assert world.kind == "world_consistent" and world.condition("guidance").optional
    assert {s.kind for s in (street, face, world)} | {"image"} == set(KINDS)


def test_an_eleventh_model_renders_through_the_cli_with_no_engine_change(tmp_path, capfd):
    """A model class the engine has never seen (tests/engine/toy_model.py) renders a clip, frame for frame
    what the network gives on that frame."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("toy_model", os.path.join(os.path.dirname(__file__), "toy_model.py"))
    toy_model = sys.modules.setdefault("toy_model", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(toy_model)  # registers the model, as a plug-in module would
    NAME = toy_model.NAME
    from vidsynth.networks.model_file import save_model
    from vidsynth.streams.synthetic import synthetic_source
    from vidsynth.engine.tensors import image_to_tensor, tensor_to_image

    assert NAME in available_models() and NAME not in BUILTIN
    torch.manual_seed(0)
    model = build_model(NAME)
    save_model(model, tmp_path / "toy.safetensors")
    out = tmp_path / "frames"
    clip = "synthetic:clip?n_frames=4&width=64&height=32"
    assert main(["render", "--model", str(tmp_path / "toy.safetensors"), "--input", clip, "--output", f"{out}/",
                 "--no-progress"]) == 0, capfd.readouterr().err
    written = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(out.glob("*.png"))]
    assert len(written) == 4
    for frame, got in zip(synthetic_source("clip", n_frames=4, width=64, height=32), written):
        with torch.inference_mode():
            expected = tensor_to_image(model.eval()(image_to_tensor(frame.image)))
        assert got.shape == expected.shape == (32, 64, 3)
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
        assert np.abs(got.astype(int) - frame.image.astype(int)).mean() > 2  # the network changed the picture
