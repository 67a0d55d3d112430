"""The canvas with other label-to-image models: SPADE's style from a picture or from a seed, pix2pixHD,
and the model's own palette; a video model is refused with a clear message."""

import base64
import json
import os
import urllib.error
import urllib.request

import numpy as np

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "networks", "fixtures")
SPADE = os.path.join(FIXTURES, "spade.safetensors")  # 5 classes, a style encoder
PIX2PIXHD = os.path.join(FIXTURES, "pix2pixhd.safetensors")


def _call(studio, path, body=None, content_type="application/json"):
    data = None if body is None else json.dumps(body).encode() if content_type == "application/json" else body
    request = urllib.request.Request(studio.url.split("?")[0] + "api/" + path, data=data,
                                     headers={"X-Studio-Token": studio.token, "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _render(studio, model, labels, **extra):
    h, w = labels.shape
    status, body = _call(studio, "canvas/render", {"model": model, "width": w, "height": h, "canvas": model,
                                                   "labels": base64.b64encode(labels.tobytes()).decode(), **extra})
    assert status == 200, body
    import cv2

    data = np.frombuffer(base64.b64decode(body["image"].split(",", 1)[1]), np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR), body


def test_spade_style_from_a_seed_or_a_picture(studio):
    import cv2

    labels = np.zeros((64, 64), np.uint8)
    labels[20:44, 10:50] = 3
    seed0, body = _render(studio, SPADE, labels, seed=0)
    assert body["style_encoder"] and body["full"]
    again, _ = _render(studio, SPADE, labels, seed=0)
    assert (again == seed0).all()  # same labels, same style: the same picture
    seed1, _ = _render(studio, SPADE, labels, seed=1)
    assert np.abs(seed1.astype(int) - seed0).mean() > 1  # another random style

    picture = np.random.default_rng(1).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", picture)
    status, upload = _call(studio, "upload?kind=image", png.tobytes(), "image/png")
    assert status == 200
    styled, _ = _render(studio, SPADE, labels, seed=0, style=upload["id"])
    assert np.abs(styled.astype(int) - seed0).mean() > 1  # the style encoded from the picture

    status, palette = _call(studio, "palette?name=model&model=" + urllib.request.quote(SPADE))
    assert status == 200 and len(palette["colors"]) == 5 and len({tuple(c) for c in palette["colors"]}) == 5


def test_pix2pixhd_paints_and_a_video_model_is_refused(studio):
    labels = np.zeros((32, 32), np.uint8)
    labels[8:24, 8:24] = 2
    picture, body = _render(studio, PIX2PIXHD, labels)
    assert picture.shape == (32, 32, 3) and not body["style_encoder"]
    status, body = _call(studio, "canvas/render", {"model": "demo:street", "width": 32, "height": 32,
                                                   "labels": base64.b64encode(labels.tobytes()).decode()})
    assert status == 400 and "label-to-image model" in body["error"]
    status, body = _call(studio, "canvas/render", {"model": PIX2PIXHD, "width": 32, "height": 32,
                                                   "labels": base64.b64encode(np.full(1024, 9, np.uint8).tobytes()).decode()})
    assert status == 400 and "class id 9" in body["error"]
