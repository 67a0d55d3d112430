"""Training folders from the street world: more than one city."""

import os

import numpy as np

from vidsynth.training.datasets import read_image
from vidsynth.training.synthetic_data import main, write_street_dataset


def _frames(root, seq):
    folder = os.path.join(root, "images", seq)
    return np.stack([read_image(os.path.join(folder, n)) for n in sorted(os.listdir(folder))])


def test_street_dataset_numbers_the_sequences_city_by_city(tmp_path, capsys):
    one = write_street_dataset(str(tmp_path / "one"), starts=[0.0, 20.0], frames=2, size=16)
    assert main(["street", str(tmp_path / "two"), "--sequences", "2", "--spacing", "20", "--frames", "2",
                 "--size", "16", "--cities", "2"]) == 0
    assert "wrote 4 street sequences" in capsys.readouterr().out
    two = str(tmp_path / "two")
    assert sorted(os.listdir(os.path.join(two, "images"))) == ["seq000", "seq001", "seq002", "seq003"]
    # the first city's sequences are the one-city folder's; the second city is another place
    for seq in ("seq000", "seq001"):
        np.testing.assert_array_equal(_frames(two, seq), _frames(one, seq))
    assert np.abs(_frames(two, "seq002").astype(int) - _frames(two, "seq000")).mean() > 5
    assert len(os.listdir(os.path.join(two, "flow", "seq003"))) == 2
