"""Seeded regression of the three tiny video models against fixtures/video_models.pt.

The fixture is written by fixtures/make_video_fixtures.py; a difference means the architecture or the
step logic changed. Re-run the script only for an intended change.
"""

import importlib.util
import os

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("make_video_fixtures",
                                              os.path.join(HERE, "fixtures", "make_video_fixtures.py"))
make = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make)


@pytest.fixture(scope="module")
def fixtures():
    return torch.load(os.path.join(HERE, "fixtures", "video_models.pt"), weights_only=True)


@pytest.mark.parametrize("name", ["vid2vid", "fs_vid2vid", "wc_vid2vid"])
def test_matches_fixture(name, fixtures):
    got, want = make.run(name), fixtures[name]
    assert got["images"].shape == want["images"].shape
    assert float(want["images"].std()) > 1e-3  # the fixture is not a constant image
    torch.testing.assert_close(got["images"], want["images"], rtol=1e-4, atol=1e-5)
    for g, w in zip(got["flows"], want["flows"]):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)
    assert any(f.numel() for f in want["flows"])  # the flow path was exercised
