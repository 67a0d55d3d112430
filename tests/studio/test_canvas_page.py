"""The canvas in headless Chromium: strokes made of synthesised pointer events change the rendered picture
where they were painted and nowhere else; the fill tool and undo work."""

import numpy as np

from vidsynth.engine.studio import browser as page
from vidsynth.engine.studio.canvas import DEFAULT_RADIUS, blend_weights

CAR, VEGETATION, ROAD = 26, 21, 7  # Cityscapes ids the shipped SPADE knows


def _open_canvas(driver, studio):
    driver.get(studio.url)
    page.wait_ready(driver)
    driver.find_element("id", "tab-canvas").click()
    page.wait_renders(driver, "canvas-output", 1)  # the first, whole-picture rendering
    return page.settle(driver)


def _outside(changed: np.ndarray) -> np.ndarray:
    """Pixels beyond the paste-back's reach around the changed labels."""
    return blend_weights(changed, DEFAULT_RADIUS, 1) == 0


def test_a_stroke_changes_the_picture_where_painted_and_only_there(studio, driver):
    n = _open_canvas(driver, studio)
    labels0, picture0 = page.labels(driver), page.image(driver, "canvas-output")
    assert labels0.shape == (128, 128) and (labels0 == ROAD).all()
    assert picture0.shape == (128, 128, 3) and picture0.std() > 0

    page.pick_class(driver, "palette", CAR)
    driver.execute_script("document.getElementById('brush-size').value = 9")  # an odd size: a radius of 4.5
    page.paint_stroke(driver, "label-canvas", [(20, 40), (40, 42), (60, 44)])
    page.wait_renders(driver, "canvas-output", n + 1)
    n = page.settle(driver)
    labels1, picture1 = page.labels(driver), page.image(driver, "canvas-output")

    painted = labels1 != labels0
    assert painted.sum() > 200 and (labels1[painted] == CAR).all()
    ys, xs = np.nonzero(painted)
    assert xs.min() >= 14 and xs.max() <= 66 and ys.min() >= 33 and ys.max() <= 51  # the stroke's own pixels
    outside = _outside(painted)
    assert (picture1[outside] == picture0[outside]).all(), "pixels away from the stroke changed"
    inside = np.abs(picture1.astype(int) - picture0.astype(int)).sum(-1)[painted]
    assert inside.mean() > 10, "the painted region did not change"

    # fill: the car stroke becomes vegetation, nothing else
    driver.find_element("id", "tool-fill").click()
    page.pick_class(driver, "palette", VEGETATION)
    page.paint_stroke(driver, "label-canvas", [(40, 42)])
    page.wait_renders(driver, "canvas-output", n + 1)
    n = page.settle(driver)
    labels2, picture2 = page.labels(driver), page.image(driver, "canvas-output")
    assert ((labels2 == VEGETATION) == painted).all()
    assert (picture2[outside] == picture0[outside]).all()

    # undo twice: the road comes back, and the picture with it
    driver.find_element("id", "canvas-undo").click()
    driver.find_element("id", "canvas-undo").click()
    page.wait_renders(driver, "canvas-output", n + 1)
    page.settle(driver)
    labels3, picture3 = page.labels(driver), page.image(driver, "canvas-output")
    assert (labels3 == labels0).all()
    assert (picture3[outside] == picture0[outside]).all()
    assert np.abs(picture3.astype(int) - picture0.astype(int))[painted].mean() < 2.0
    driver.find_element("id", "tool-brush").click()
