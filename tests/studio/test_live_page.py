"""The Live view in headless Chromium: a job on a synthetic source shows input | condition | output, its
figures update, a recording writes an MP4 with the frames asked for, and stop stops the job."""

import time
import urllib.request

import numpy as np

from vidsynth.engine.studio import browser as page

SOURCE = "synthetic:street?width=64&height=64&frames=100000"


def _set_field(driver, name, value):
    driver.execute_script("const e = document.getElementById('field-' + arguments[0]); if (e) e.value = arguments[1];",
                          name, value)


def _panel_seq(driver, panel):
    return int(driver.execute_script(f"return Number(document.getElementById('panel-{panel}').dataset.seq)"))


def _figures(driver):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#live-figures tbody tr')).map("
        "r => Array.from(r.cells).map(c => c.textContent))")


def _jpeg(studio, panel):
    import cv2

    url = studio.url.split("?")[0] + f"api/live/frame/{panel}.jpg?token={studio.token}"
    with urllib.request.urlopen(url) as r:
        return cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_COLOR)


def test_live_view_runs_a_job_shows_figures_records_and_stops(studio, driver):
    driver.get(studio.url)
    page.wait_ready(driver)
    options = driver.execute_script("return Array.from(document.getElementById('live-job').options).map(o => o.value)")
    assert "render" in options and "studio" not in options
    driver.execute_script("const s = document.getElementById('live-job'); s.value = 'render';"
                          "s.dispatchEvent(new Event('change'));")
    _set_field(driver, "model", "demo:spade")
    _set_field(driver, "input", SOURCE)
    _set_field(driver, "model_size", "64x64")
    driver.find_element("id", "live-start").click()

    page.wait_for(driver, "document.getElementById('live-state').textContent === 'running' && "
                  "Number(document.getElementById('panel-output').dataset.seq) > 0 && "
                  "document.getElementById('panel-output').naturalWidth > 0", 60, "the live view's first frame")
    seq = _panel_seq(driver, "output")
    page.wait_for(driver, f"Number(document.getElementById('panel-output').dataset.seq) > {seq}", 20,
                  "the live view's next frame")

    # input | condition | output: three different pictures of the same frame size
    pictures = {p: _jpeg(studio, p) for p in ("input", "condition", "output")}
    assert {p.shape for p in pictures.values()} == {(64, 64, 3)}
    assert np.abs(pictures["input"].astype(int) - pictures["condition"].astype(int)).mean() > 5
    assert np.abs(pictures["output"].astype(int) - pictures["condition"].astype(int)).mean() > 5

    # per-stage figures, and they move
    rows = _figures(driver)
    names = [r[0] for r in rows]
    assert names[0] == "source" and names[-1] == "sink" and any(n.startswith("generate") for n in names), names
    frames_before = {r[0]: int(r[1]) for r in rows}
    page.wait_for(driver, "(() => { const rows = Array.from(document.querySelectorAll('#live-figures tbody tr'));"
                  f" const sink = rows.find(r => r.cells[0].textContent === 'sink');"
                  f" return sink && Number(sink.cells[1].textContent) > {frames_before['sink']} &&"
                  " Number(sink.cells[2].textContent) > 0; })()", 20, "the figures updating")
    summary = driver.find_element("id", "live-summary").text
    assert "device cpu" in summary and "end-to-end p50" in summary

    # record 6 frames: the progress bar fills and the link gives an MP4 of 6 frames
    driver.execute_script("document.getElementById('record-frames').value = 6")
    driver.find_element("id", "record-start").click()
    page.wait_for(driver, "document.getElementById('record-link')", 40, "the recording")
    assert driver.execute_script("const p = document.getElementById('record-progress'); return [p.value, p.max]") == [6, 6]
    href = driver.execute_script("return document.getElementById('record-link').href")
    import av, io

    with urllib.request.urlopen(href) as r:
        data = r.read()
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 6 and frames[0].shape == (64, 64, 3)

    driver.find_element("id", "live-stop").click()
    page.wait_for(driver, "document.getElementById('live-state').textContent === 'stopped'", 20, "the job stopping")
    assert not studio.live.running
    stopped_at = studio.live.sink.sequence
    time.sleep(0.5)
    assert studio.live.sink.sequence == stopped_at  # nothing runs after stop
    assert driver.find_element("id", "live-start").is_enabled()
