"""Label decoding by id and by palette colour, remapping, palette files and their errors."""

import json
from fractions import Fraction

import numpy as np
import pytest

from vidsynth.engine.draw import DrawLabels, colorize_labels
from vidsynth.engine.extract import LabelDecoder, load_palette
from vidsynth.engine.extract.labels import apply_remap, decode_label_colors
from vidsynth.errors import VidsynthError
from vidsynth.streams.frame import Frame


def frame(image):
    return Frame(index=0, pts=0, time_base=Fraction(1, 25), image=image)


def test_builtin_palettes():
    city = load_palette("cityscapes")
    assert city.num_classes == 35 and city.colors[7].tolist() == [128, 64, 128] and city.names[26] == "car"
    coco = load_palette("cocostuff")
    assert coco.num_classes == 183 and coco.names[0] == "person" and coco.names[181] == "wood"
    assert len({tuple(c) for c in coco.colors}) == 183   # every COCO-Stuff colour decodes unambiguously


def test_colour_round_trip_and_shared_colours():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 183, (24, 32))
    coco = load_palette("cocostuff")
    assert np.array_equal(decode_label_colors(colorize_labels(ids, coco.colors), coco), ids)
    # Cityscapes ids 0-4 share black, 17/18 share grey: they decode to the first id
    city = load_palette("cityscapes")
    ids = np.array([[7, 26, 3, 18]])
    assert decode_label_colors(colorize_labels(ids, city.colors), city).tolist() == [[7, 26, 0, 17]]


def test_decoder_stage_by_id_with_remap(tmp_path):
    remap = tmp_path / "remap.json"
    remap.write_text(json.dumps({"7": 0, "26": 1}))
    grey = np.repeat(np.array([[7, 26], [11, 7]], np.uint8)[:, :, None], 3, 2)
    out = LabelDecoder(mode="id", remap=str(remap))(frame(grey)).conditions["labels"]
    assert out.dtype == np.int32 and out.tolist() == [[0, 1], [11, 0]]
    assert apply_remap(np.array([3]), {}).tolist() == [3]


def test_decoder_stage_by_colour_then_recolour():
    city = load_palette("cityscapes")
    ids = np.array([[7, 8], [23, 26]])
    f = LabelDecoder(mode="color", palette="cityscapes")(frame(colorize_labels(ids, city.colors)))
    assert f.conditions["labels"].tolist() == ids.tolist()
    g = DrawLabels(palette="cityscapes")(f)
    assert g.image[1, 1].tolist() == [0, 0, 142]


def test_colour_not_in_palette_is_a_clear_error():
    img = np.zeros((4, 4, 3), np.uint8)
    img[1, 1] = (1, 2, 3)
    with pytest.raises(VidsynthError, match=r"\(1, 2, 3\).*palette"):
        LabelDecoder(mode="color")(frame(img))
    # a little compression noise is accepted with a tolerance
    out = LabelDecoder(mode="color", tolerance=4)(frame(img)).conditions["labels"]
    assert out[1, 1] == 0


def test_custom_palette_file(tmp_path):
    p = tmp_path / "mine.json"
    p.write_text(json.dumps({"name": "mine", "classes": [{"id": 0, "name": "a", "color": [0, 0, 0]},
                                                         {"id": 2, "name": "b", "color": [255, 0, 0]}],
                             "remap": {"2": 1}}))
    img = np.zeros((2, 2, 3), np.uint8)
    img[0, 0] = (255, 0, 0)
    assert LabelDecoder(mode="color", palette=str(p))(frame(img)).conditions["labels"].tolist() == [[1, 0], [0, 0]]
    lst = tmp_path / "list.json"
    lst.write_text(json.dumps([[0, 0, 0], [9, 9, 9]]))
    assert load_palette(str(lst)).colors[1].tolist() == [9, 9, 9]


@pytest.mark.parametrize("text,match", [
    ("{not json", "does not parse"),
    ('{"classes": []}', "no classes"),
    ('{"classes": [{"id": 0}]}', "color"),
    ('{"classes": [{"id": 0, "color": [300, 0, 0]}]}', "0..255"),
    ('{"colours": 1}', "classes"),
])
def test_bad_palette_files(tmp_path, text, match):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(VidsynthError, match=match):
        load_palette(str(p))


def test_missing_palette_and_bad_mode():
    with pytest.raises(VidsynthError, match="built-in"):
        load_palette("/nonexistent/palette.json")
    with pytest.raises(VidsynthError, match="mode"):
        LabelDecoder(mode="rgb")
    with pytest.raises(VidsynthError, match="colour"):
        LabelDecoder(mode="id")(frame(np.dstack([np.zeros((2, 2)), np.ones((2, 2)), np.zeros((2, 2))]).astype(np.uint8)))
