"""The package as a whole: importing it is cheap, and every docstring example still runs."""

import doctest
import importlib
import pkgutil
import subprocess
import sys

import pytest

import vidsynth

PACKAGES = ["vidsynth.engine", "vidsynth.networks", "vidsynth.geometry", "vidsynth.streams", "vidsynth.training"]


def _modules():
    names = ["vidsynth.errors", "vidsynth.cli"]
    for pkg in PACKAGES:
        module = importlib.import_module(pkg)
        names.append(pkg)
        names += [m.name for m in pkgutil.walk_packages(module.__path__, prefix=pkg + ".")]
    return sorted(set(names))


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"


def test_import_is_cheap():
    """`import vidsynth` and `import vidsynth.engine` load no heavy optional package."""
    code = ("import sys, vidsynth, vidsynth.engine, vidsynth.streams; "
            "print(sorted(m for m in ('mediapipe', 'open3d', 'av', 'onnxruntime', 'tensorrt', 'tensorboard') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    from vidsynth.engine import Frame, Pipeline, Stage

    assert (vidsynth.Pipeline, vidsynth.Stage, vidsynth.Frame) == (Pipeline, Stage, Frame)


def test_no_docstring_example_is_commented_out():
    """An example is run (``>>> code``) or shown as a literal block; ``>>> # code`` pretends to be checked."""
    pretending = []
    for name in _modules():
        with open(importlib.import_module(name).__file__, encoding="utf-8") as f:
            source = f.read()
        pretending += [f"{name}: {line.strip()}" for line in source.splitlines() if line.strip().startswith(">>> # ")]
    assert pretending == []
