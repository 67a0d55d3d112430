"""Drive the studio's page in headless Chromium (the tests, the canvas benchmark, the docs' screenshots).

Uses Debian's ``chromium`` and ``chromium-driver`` through Selenium; ``make setup`` installs both.
Strokes are synthesised pointer events in the label map's own pixel coordinates, dispatched on the
canvas the way a mouse or pen would send them.

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    driver = open_browser(); driver.get(studio.url); wait_ready(driver)
    paint_stroke(driver, "label-canvas", [(10, 10), (60, 10)]); wait_renders(driver, "canvas-output", 1)
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time

import numpy as np

from vidsynth.errors import VidsynthError

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")
_BROWSERS = ("chromium", "chromium-browser", "google-chrome")
_MISSING = ("the studio's browser tests and benchmark need headless Chromium, its driver and Selenium: {what} "
            "is missing; `make setup` installs them (apt-get install chromium chromium-driver; pip install selenium)")


def find_chromium() -> tuple[str, str]:
    """(browser, driver) executables, or an error saying how to install them."""
    browser = next((p for p in (shutil.which(b) for b in _BROWSERS) if p), None)
    if browser is None:
        raise VidsynthError(_MISSING.format(what="chromium"))
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    if driver is None:
        raise VidsynthError(_MISSING.format(what="chromedriver (Debian's chromium-driver)"))
    return browser, driver


def open_browser(width: int = 1360, height: int = 900):
    """A headless Chromium under Selenium with a fresh profile (``driver.quit()`` ends it)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise VidsynthError(_MISSING.format(what="the Python package selenium")) from None
    browser, driver = find_chromium()
    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='vidsynth-chromium-')}")
    options.add_argument(f"--window-size={width},{height}")
    options.binary_location = browser
    return webdriver.Chrome(service=Service(driver), options=options)


def wait_for(driver, script: str, timeout: float = 20.0, what: str = "the page"):
    """Poll a JavaScript expression until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        if time.monotonic() > deadline:
            message = driver.execute_script("return document.getElementById('message').textContent")
            raise TimeoutError(f"{what}: `{script}` stayed false for {timeout:g} s (page says: {message!r})")
        time.sleep(0.03)


def wait_ready(driver, timeout: float = 30.0) -> None:
    wait_for(driver, "document.body.dataset.ready === '1'", timeout, "the studio page loading")


def renders(driver, image_id: str) -> int:
    return int(driver.execute_script(f"return document.getElementById('{image_id}').dataset.renders"))


def wait_renders(driver, image_id: str, count: int, timeout: float = 30.0) -> None:
    """Wait until ``image_id`` has been rendered ``count`` times and the canvas has nothing left to render."""
    wait_for(driver, f"Number(document.getElementById('{image_id}').dataset.renders) >= {count} && "
             "!studio.canvas.busy && !studio.canvas.again", timeout, f"{image_id} rendering")


def settle(driver, image_id: str = "canvas-output", timeout: float = 30.0) -> int:
    """Wait until every change painted so far is on screen (no render pending); returns the render count."""
    wait_for(driver, "!studio.canvas.busy && !studio.canvas.again && "
             "studio.canvas.renderedFor === studio.canvas.changedAt", timeout, "the canvas settling")
    return renders(driver, image_id)


def paint_stroke(driver, canvas_id: str, points: list[tuple[float, float]]) -> None:
    """Pointer down at the first point, moves through the rest, up at the last (label-map pixels)."""
    driver.execute_script("""
        const canvas = document.getElementById(arguments[0]), points = arguments[1];
        const r = canvas.getBoundingClientRect();
        const scale = Math.min(r.width / canvas.width, r.height / canvas.height);
        const ox = (r.width - canvas.width * scale) / 2, oy = (r.height - canvas.height * scale) / 2;
        const at = ([x, y]) => ({clientX: r.left + ox + (x + 0.5) * scale, clientY: r.top + oy + (y + 0.5) * scale});
        const send = (type, p, buttons) => canvas.dispatchEvent(new PointerEvent(type, {
            ...at(p), bubbles: true, cancelable: true, pointerId: 1, pointerType: "mouse", isPrimary: true,
            button: 0, buttons}));
        send("pointerdown", points[0], 1);
        for (const p of points.slice(1)) send("pointermove", p, 1);
        send("pointerup", points[points.length - 1], 0);
    """, canvas_id, [list(p) for p in points])


def labels(driver, painter: str = "canvas") -> np.ndarray:
    """The label map a painter holds (``canvas`` or ``edit``), as H×W uint8."""
    data, w, h = driver.execute_script(
        f"const p = studio.{painter}.painter; let s = ''; for (let i = 0; i < p.labels.length; i += 0x8000) "
        "s += String.fromCharCode.apply(null, p.labels.subarray(i, i + 0x8000)); "
        "return [btoa(s), p.canvas.width, p.canvas.height];")
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(h, w).copy()


def image(driver, image_id: str) -> np.ndarray:
    """The picture an ``<img>`` shows (a data: URL), as H×W×3 uint8 RGB."""
    import cv2

    src = driver.execute_script(f"return document.getElementById('{image_id}').src")
    if not src.startswith("data:image/png;base64,"):
        raise AssertionError(f"{image_id} shows {src[:40]!r}, not a PNG data URL")
    data = np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def pick_class(driver, container: str, class_id: int) -> None:
    driver.execute_script(f"document.querySelector('#{container} [data-class=\"{class_id}\"]').click()")
