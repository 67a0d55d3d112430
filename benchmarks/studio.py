"""Canvas latency: from the end of a stroke to the updated picture on the page, driving the studio in
headless Chromium with synthesised pointer events.

Each stroke paints a short line of a random class somewhere on the canvas; the page timestamps the
stroke's last event and the moment the new picture has loaded (``studio.lastLatencyMs``: the debounce,
the request, the render with the region paste-back, the PNG and its decoding). Beside it, the same model's
bare rendering of a whole label map (no page, no server) on the same machine, as the floor.

    python benchmarks/studio.py                      # CPU, the shipped SPADE, 128x128
    python benchmarks/studio.py --device cuda --size 256
    python benchmarks/studio.py --screenshots docs/studio   # also the docs' screenshots of each view
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np


def _bare_render_ms(model: str, device: str, size: int, runs: int) -> list[float]:
    from vidsynth.engine.studio.canvas import LabelRenderer
    from vidsynth.engine.studio.jobs import resolve_model

    renderer = LabelRenderer(resolve_model(model), device)
    rng = np.random.default_rng(0)
    labels = np.full((size, size), 7, np.uint8)
    renderer.render(labels)  # warm-up
    times = []
    for _ in range(runs):
        y, x = rng.integers(0, size - 16, 2)
        labels[y:y + 16, x:x + 16] = rng.choice([11, 21, 23, 26])
        t0 = time.perf_counter()
        renderer.render(labels)
        if device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def _strokes(driver, page, size: int, count: int, seed: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    latencies, server = [], []
    n = page.settle(driver)
    for _ in range(count):
        page.pick_class(driver, "palette", int(rng.choice([11, 21, 23, 26])))
        x, y = rng.integers(size // 8, size - size // 8, 2)
        dx, dy = rng.integers(-size // 6, size // 6, 2)
        page.paint_stroke(driver, "label-canvas", [(int(x), int(y)), (int(x + dx / 2), int(y + dy / 2)),
                                                   (int(x + dx), int(y + dy))])
        page.wait_renders(driver, "canvas-output", n + 1, timeout=120)
        n = page.settle(driver, timeout=120)
        latencies.append(float(driver.execute_script("return studio.lastLatencyMs")))
        server.append(float(driver.execute_script("return studio.lastServerMs")))
    return latencies, server


def _screenshot(driver, path: str, width: int = 880) -> None:
    """A small PNG of the page: scaled down and reduced to 128 colours (Pillow, which scikit-image brings)."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(128, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"wrote {path} ({os.path.getsize(path) // 1024} KiB)", file=sys.stderr)


def _screenshots(driver, page, studio, folder: str, model: str) -> None:
    """The three views with something on them: a live job, a painted canvas, an edited photograph."""
    import cv2
    from skimage import data

    os.makedirs(folder, exist_ok=True)
    driver.find_element("id", "canvas-street").click()  # a street to start from, then a tree and a car
    n = page.settle(driver, timeout=120)
    size = int(driver.execute_script("return studio.canvas.painter.canvas.width"))
    driver.execute_script("document.getElementById('brush-size').value = arguments[0]", size // 6)
    for class_id, stroke in ((21, [(0.12, 0.3), (0.14, 0.42), (0.1, 0.48)]), (26, [(0.38, 0.8), (0.5, 0.8)])):
        page.pick_class(driver, "palette", class_id)
        page.paint_stroke(driver, "label-canvas", [(int(x * size), int(y * size)) for x, y in stroke])
        page.wait_renders(driver, "canvas-output", n + 1, timeout=120)
        n = page.settle(driver, timeout=120)
    _screenshot(driver, os.path.join(folder, "canvas.png"))

    driver.find_element("id", "tab-live").click()
    driver.execute_script("const s = document.getElementById('live-job'); s.value = 'render';"
                          "s.dispatchEvent(new Event('change'));")
    for name, value in (("model", "demo:street"), ("input", "synthetic:street?width=128&height=128&frames=100000")):
        driver.execute_script("document.getElementById('field-' + arguments[0]).value = arguments[1]", name, value)
    driver.find_element("id", "live-start").click()
    page.wait_for(driver, "Number(document.getElementById('panel-output').dataset.seq) > 20", 120, "the live view")
    time.sleep(1.0)
    _screenshot(driver, os.path.join(folder, "live.png"))
    driver.find_element("id", "live-stop").click()

    photo = data.astronaut()[::2, ::2].copy()
    path = os.path.join(tempfile.mkdtemp(), "astronaut.png")
    cv2.imwrite(path, cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    driver.find_element("id", "tab-edit").click()
    driver.find_element("id", "edit-photo").send_keys(path)
    page.wait_for(driver, "studio.edit.photo", 30, "the photo upload")
    driver.execute_script("""
        const p = studio.edit.painter, w = p.canvas.width, h = p.canvas.height;
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
            const inside = ((x - 115) / 75) ** 2 + ((y - 150) / 130) ** 2 <= 1;
            p.labels[y * w + x] = inside ? 24 : (y < 100 && x > 165 ? 21 : 11);
        }
        p.redraw();
        document.getElementById('edit-mark').click();
        document.getElementById('relabel-from').value = '21'; document.getElementById('relabel-to').value = '23';
        document.getElementById('edit-relabel').click();
        document.getElementById('edit-render').click();""")
    page.wait_for(driver, "Number(document.getElementById('edit-output').dataset.renders) >= 1", 60, "the edit")
    _screenshot(driver, os.path.join(folder, "edit.png"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (where the studio runs the model)")
    parser.add_argument("--model", default="demo:spade", help="a SPADE or pix2pixHD model (name or file)")
    parser.add_argument("--size", type=int, default=128, help="canvas side in pixels (128 or 256)")
    parser.add_argument("--strokes", type=int, default=30, help="how many strokes to time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--screenshots", metavar="DIR", help="also save a screenshot of each view there")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args(argv)

    from vidsynth.engine.jobs.studio import Options, build
    from vidsynth.engine.studio import browser as page

    studio = build(Options(port=0, device=args.device))  # checks the device before anything starts
    studio.start()
    driver = page.open_browser()
    try:
        driver.get(studio.url)
        page.wait_ready(driver)
        driver.find_element("id", "tab-canvas").click()
        driver.execute_script("const m = document.getElementById('canvas-model');"
                              "if (![...m.options].some(o => o.value === arguments[0])) m.add(new Option(arguments[0], arguments[0]));"
                              "m.value = arguments[0];"
                              "const s = document.getElementById('canvas-size'); s.value = arguments[1];"
                              "s.dispatchEvent(new Event('change'));", args.model, str(args.size))
        page.wait_for(driver, f"studio.canvas.painter.canvas.width === {args.size}", 30, "the canvas size")
        page.wait_renders(driver, "canvas-output", 1, timeout=120)
        page.settle(driver, timeout=120)
        _strokes(driver, page, args.size, 3, args.seed + 1)  # warm-up
        latencies, server = _strokes(driver, page, args.size, args.strokes, args.seed)
        if args.screenshots:
            _screenshots(driver, page, studio, args.screenshots, args.model)
    finally:
        driver.quit()
        studio.close()
    bare = _bare_render_ms(args.model, args.device, args.size, args.strokes)
    result = {
        "device": args.device, "model": args.model, "size": args.size, "strokes": args.strokes,
        "stroke_to_picture_ms": {"median": round(float(np.median(latencies)), 1),
                                 "p95": round(float(np.percentile(latencies, 95)), 1)},
        "server_render_ms_median": round(float(np.median(server)), 1),
        "bare_render_ms_median": round(float(np.median(bare)), 1),
        "debounce_ms": 40,
    }
    result["stroke_to_picture_over_bare"] = round(result["stroke_to_picture_ms"]["median"] / result["bare_render_ms_median"], 2)
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    from vidsynth.errors import VidsynthError

    try:
        sys.exit(main())
    except VidsynthError as exc:
        print(f"benchmarks/studio: error: {exc}", file=sys.stderr)
        sys.exit(2)
