"""imaginaire's unprojection files: reading them, and guidance coverage equal to imaginaire's own run."""

import os
import pickle

import numpy as np
import pytest

from vidsynth.errors import VidsynthError
from vidsynth.geometry.imaginaire_unprojection import (UnprojectionGuidance, read_unprojection, read_unprojection_folder,
                                            resolution_of)

DATA = "/work/imaginaire/dataset/unit_test/raw/wc_vid2vid/cityscapes/unprojections/seq0000"


@pytest.mark.skipif(not os.path.isdir(DATA), reason="imaginaire's unit-test data is not materialised here")
def test_imaginaire_unit_data_gives_imaginaires_coverage():
    frames = read_unprojection_folder(DATA, expected_count=10)
    first = frames[0]["w1024xh512"]
    assert first.shape == (128206, 3)  # the counts NOTES.md recorded for frame 0
    assert first[:, 2].min() == 55 and first[:, 0].min() == 7 and first[:, 0].max() == 466
    H, W = resolution_of("w1024xh512")
    g = UnprojectionGuidance()
    rng = np.random.default_rng(0)
    coverage = []
    for t in range(4):
        mapping = frames[t]["w1024xh512"]
        guide = g.guidance(mapping, H, W)
        coverage.append(float(guide[0, 3].mean()))
        fake = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)  # a generated frame
        g.update(fake, mapping)
        if t == 0:
            # the same frame again: every mapped pixel shows exactly the colour it gave
            again = g.guidance(mapping, H, W)
            rgb = ((again[0, :3] + 1) * 127.5).round().permute(1, 2, 0).numpy().astype(np.uint8)
            i, j = mapping[:, 0], mapping[:, 1]
            assert np.array_equal(rgb[i, j], fake[i, j])
    # imaginaire's unit run: 0%, 19.5%, 23.5%, 26.7% of the 512x1024 guidance covered at t = 0..3
    np.testing.assert_allclose(coverage, [0.0, 0.195, 0.235, 0.267], atol=0.0015)


def test_first_colour_sticks_and_bad_files(tmp_path):
    g = UnprojectionGuidance(capacity=4)
    m = np.array([[0, 0, 10], [0, 1, 11]])
    assert g.update(np.full((1, 2, 3), 9, np.uint8), m) == 2
    assert g.update(np.full((1, 2, 3), 200, np.uint8), m[::-1] * [1, 1, 1]) == 0
    assert g.guidance(np.array([[0, 1, 10]]), 1, 2)[0, 0, 0, 1] == pytest.approx(9 / 127.5 - 1)
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"w4xh2": [0, 1, 5, 1, 3, 6]}))
    assert read_unprojection(str(path))["w4xh2"].tolist() == [[0, 1, 5], [1, 3, 6]]
    path.write_bytes(pickle.dumps({"w4xh2": [0, 9, 5]}))
    with pytest.raises(VidsynthError, match="inside 4x2"):
        read_unprojection(str(path))
    path.write_bytes(pickle.dumps({"big": [0, 1]}))
    with pytest.raises(VidsynthError, match="w1024xh512"):
        read_unprojection(str(path))
    path.write_bytes(pickle.dumps(np.zeros(3)))  # a class inside: refused, not executed
    with pytest.raises(VidsynthError, match="unreadable"):
        read_unprojection(str(path))
    with pytest.raises(VidsynthError, match="resolution"):
        g.update(np.zeros((1, 1, 3), np.uint8), m)


def test_generated_tensors_colour_points_as_imaginaire_does():
    """A [1,3,H,W] output in [-1, 1] becomes uint8 by truncation (imaginaire's tensor2im); a frame's dict
    of resolutions is read at the requested size."""
    import torch

    g = UnprojectionGuidance()
    frame = {"w5xh4": np.array([[0, 0, 3], [1, 2, 8]]), "w10xh8": np.zeros((0, 3), np.int64)}
    assert g.update(torch.full((1, 3, 4, 5), 0.5), frame) == 2
    out = g.guidance(frame, 4, 5)
    assert torch.allclose(out[0, :3, 0, 0], torch.full((3,), int(1.5 / 2 * 255) / 127.5 - 1)) and g.num_points == 2
    with pytest.raises(VidsynthError, match="w7xh3"):
        g.guidance(frame, 3, 7)
