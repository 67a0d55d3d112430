"""Region edits of a real photograph and of a clip: only the edited region's dilation changes."""

import base64
import io
import json
import time
import urllib.request

import numpy as np
import pytest

from vidsynth.engine.studio import browser as page
from vidsynth.engine.studio.canvas import DEFAULT_RADIUS, LabelRenderer, blend_weights, edit_picture
from vidsynth.engine.studio.edit import ClassRemapEdit
from vidsynth.engine.studio.jobs import resolve_model
from vidsynth.errors import VidsynthError

SKY, BUILDING, ROAD, VEGETATION, PERSON, CAR = 23, 11, 7, 21, 24, 26


def _astronaut_labels():
    """A label map painted by hand over skimage's astronaut (512×512): wall, the astronaut, a flag."""
    labels = np.full((512, 512), BUILDING, np.uint8)
    yy, xx = np.mgrid[:512, :512]
    labels[(xx - 230) ** 2 / 150**2 + (yy - 300) ** 2 / 260**2 <= 1] = PERSON
    labels[20:200, 330:500] = VEGETATION  # the flag's corner, as a painter would mark it
    return labels


def _post(studio, path, body, content_type="application/json"):
    data = json.dumps(body).encode() if content_type == "application/json" else body
    request = urllib.request.Request(studio.url.split("?")[0] + "api/" + path, data=data,
                                     headers={"X-Studio-Token": studio.token, "Content-Type": content_type})
    with urllib.request.urlopen(request) as r:
        return json.loads(r.read())


def _get(studio, path):
    request = urllib.request.Request(studio.url.split("?")[0] + "api/" + path, headers={"X-Studio-Token": studio.token})
    with urllib.request.urlopen(request) as r:
        return r.read()


def _decode_png_url(url):
    import cv2

    data = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_editing_a_real_photograph_keeps_everything_outside_the_edit(studio):
    import cv2
    from skimage import data

    photo = data.astronaut()
    ok, png = cv2.imencode(".png", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    upload = _post(studio, "upload?kind=image", png.tobytes(), "image/png")
    assert (upload["width"], upload["height"]) == (512, 512)

    original = _astronaut_labels()
    edited = original.copy()
    edited[380:500, 20:160] = CAR  # repaint a region
    edited[edited == VEGETATION] = SKY  # relabel a class
    result = _post(studio, "edit/photo", {
        "photo": upload["id"], "model": "demo:spade", "seed": 3,
        "original": base64.b64encode(original.tobytes()).decode(), "edited": base64.b64encode(edited.tobytes()).decode()})
    out = _decode_png_url(result["image"])
    assert out.shape == photo.shape

    changed = edited != original
    outside = blend_weights(changed, DEFAULT_RADIUS, 1) == 0
    assert outside.mean() > 0.7
    assert np.abs(out.astype(int) - photo.astype(int))[outside].max() <= 1, "pixels outside the edit moved"
    assert np.abs(out.astype(int) - photo.astype(int))[changed].mean() > 10, "the edited region was not re-rendered"
    x0, y0, x1, y1 = result["changed"]
    assert (x0, y0, x1, y1) == (20, 20, 500, 500)
    saved = cv2.cvtColor(cv2.imdecode(np.frombuffer(_get(studio, f"files/{result['file']}"), np.uint8),
                                      cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert (saved == out).all()


def test_the_paste_back_is_feathered_and_an_unchanged_map_is_the_photo():
    from skimage import data

    renderer = LabelRenderer(resolve_model("demo:spade"))
    photo = np.ascontiguousarray(data.coffee()[:384, :512])
    labels = np.full(photo.shape[:2], ROAD, np.uint8)
    same, changed = edit_picture(renderer, photo, labels, labels.copy())
    assert not changed.any() and (same == photo).all()

    edited = labels.copy()
    edited[100:200, 100:300] = VEGETATION
    out, changed = edit_picture(renderer, photo, labels, edited)
    w = blend_weights(changed)
    ring = (w > 0) & (w < 1)
    assert ring.any()
    rendered = renderer.render(edited)
    # in the feathered ring the result lies between the photo and the new rendering
    lo = np.minimum(photo, rendered).astype(int) - 1
    hi = np.maximum(photo, rendered).astype(int) + 1
    assert ((out[ring] >= lo[ring]) & (out[ring] <= hi[ring])).all()
    assert (out[changed] == rendered[changed]).all()
    assert (out[w == 0] == photo[w == 0]).all()

    with pytest.raises(VidsynthError, match="class id 200"):
        renderer.render(np.full((64, 64), 200, np.uint8))
    with pytest.raises(VidsynthError, match="paint the labels at the picture's size"):
        edit_picture(renderer, photo, labels[:10], edited[:10])


def test_a_class_remap_changes_every_frame_only_where_the_class_was():
    from vidsynth.streams import open_source

    stage = ClassRemapEdit(LabelRenderer(resolve_model("demo:spade")), {CAR: VEGETATION})
    source = open_source("synthetic:street?width=64&height=64&frames=3")
    source.open()
    for frame in source:
        before, labels = frame.image.copy(), frame.conditions["labels"].copy()
        out = stage.process(frame)
        cars = labels == CAR
        assert cars.any()
        outside = blend_weights(cars, DEFAULT_RADIUS, 1) == 0
        assert (out.image[outside] == before[outside]).all()
        assert (out.conditions["labels"][cars] == VEGETATION).all()
        assert np.abs(out.image.astype(int) - before.astype(int))[cars].mean() > 5
    with pytest.raises(VidsynthError, match="outside the model's classes"):
        ClassRemapEdit(stage.renderer, {CAR: 99})


def test_a_clip_edit_runs_through_the_offline_pipeline_to_mp4(studio):
    import av

    state = _post(studio, "edit/video", {"video": "synthetic:street?width=64&height=64&frames=5", "labels": None,
                                         "remap": {str(CAR): VEGETATION}, "model": "demo:spade"})
    assert state["total"] == 5
    deadline = time.monotonic() + 60
    while not state["done"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
        state = json.loads(_get(studio, "edit/video/status"))
    assert state["error"] is None and state["frames"] == 5
    with av.open(io.BytesIO(_get(studio, f"files/{state['file']}"))) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5


def test_the_edit_view_in_the_browser(studio, driver, tmp_path):
    """Load a photo through the page, paint its labels, relabel a class, render: only that region changes."""
    import cv2
    from skimage import data

    photo = np.ascontiguousarray(data.coffee()[:256, :320])
    path = tmp_path / "coffee.png"
    cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    driver.get(studio.url)
    page.wait_ready(driver)
    driver.find_element("id", "tab-edit").click()
    driver.find_element("id", "edit-photo").send_keys(str(path))
    page.wait_for(driver, "studio.edit.photo && studio.edit.painter.canvas.width === 320", 20, "the photo upload")
    driver.execute_script("studio.edit.painter.current = 7; studio.edit.painter.labels.fill(7); studio.edit.painter.redraw()")
    page.pick_class(driver, "edit-palette", BUILDING)
    driver.execute_script("studio.edit.painter.radius = () => 12")
    page.paint_stroke(driver, "edit-canvas", [(60, 60), (120, 80), (160, 100)])
    driver.find_element("id", "edit-mark").click()
    original = page.labels(driver, "edit")
    driver.execute_script("document.getElementById('relabel-from').value = '11';"
                          "document.getElementById('relabel-to').value = '21';")
    driver.find_element("id", "edit-relabel").click()
    edited = page.labels(driver, "edit")
    assert ((edited != original) == (original == BUILDING)).all() and (original == BUILDING).sum() > 500
    driver.find_element("id", "edit-render").click()
    page.wait_for(driver, "Number(document.getElementById('edit-output').dataset.renders) >= 1", 30, "the edit")
    out = page.image(driver, "edit-output")
    outside = blend_weights(edited != original, DEFAULT_RADIUS, 1) == 0
    assert np.abs(out.astype(int) - photo.astype(int))[outside].max() <= 1
    assert np.abs(out.astype(int) - photo.astype(int))[edited != original].mean() > 10


def test_a_clip_and_its_label_video_uploaded_from_disk(studio, tmp_path):
    """The usual case: a video file and its id-coded label video (FFV1), both uploaded; cars become vegetation."""
    import av

    from vidsynth.streams import open_sink, open_source
    from vidsynth.streams.frame import Frame

    source = open_source("synthetic:street?width=64&height=64&frames=6")
    info = source.open()
    clip, label_video = open_sink(str(tmp_path / "clip.mp4")), open_sink(str(tmp_path / "labels.mkv"))
    clip.open(info)
    label_video.open(info)
    labels = []
    for frame in source:
        clip.write(frame)
        ids = frame.conditions["labels"].astype(np.uint8)
        labels.append(ids)
        label_video.write(Frame(frame.index, frame.pts, frame.time_base, np.repeat(ids[..., None], 3, 2)))
    clip.close()
    label_video.close()

    ids = [_post(studio, "upload?kind=video", open(tmp_path / name, "rb").read(), "video/mp4")["id"]
           for name in ("clip.mp4", "labels.mkv")]
    state = _post(studio, "edit/video", {"video": ids[0], "labels": ids[1], "remap": {str(CAR): VEGETATION},
                                         "model": "demo:spade"})
    deadline = time.monotonic() + 60
    while not state["done"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
        state = json.loads(_get(studio, "edit/video/status"))
    assert state["error"] is None and state["frames"] == 6
    with av.open(io.BytesIO(_get(studio, f"files/{state['file']}"))) as container:
        edited = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(tmp_path / "clip.mp4")) as container:
        original = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(edited) == len(original) == 6
    for before, after, ids in zip(original, edited, labels):
        cars = ids == CAR
        far = blend_weights(cars, DEFAULT_RADIUS + 4, 1) == 0  # H.264 blocks spread a little further
        diff = np.abs(after.astype(int) - before.astype(int))
        assert diff[far].mean() < 2.0 and diff[cars].mean() > 5
