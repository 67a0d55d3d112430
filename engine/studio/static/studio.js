// vidsynth studio: the page. Plain JavaScript, no libraries, nothing from the internet.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const studio = { state: null, palettes: {}, renders: 0 };
window.studio = studio;  // for the tests and the benchmark

function say(text) { $("message").textContent = text || ""; }

async function api(path, body, contentType) {
  const options = { headers: { "X-Studio-Token": TOKEN } };
  if (body !== undefined) {
    options.method = "POST";
    if (contentType) { options.headers["Content-Type"] = contentType; options.body = body; }
    else { options.headers["Content-Type"] = "application/json"; options.body = JSON.stringify(body); }
  }
  const response = await fetch("/api/" + path, options);
  const type = response.headers.get("Content-Type") || "";
  const value = type.startsWith("application/json") ? await response.json() : await response.blob();
  if (!response.ok) throw new Error((value && value.error) || response.statusText);
  return value;
}

async function upload(file, kind) {
  return api("upload?kind=" + kind, file, file.type || (kind === "image" ? "image/png" : "video/mp4"));
}

function bytesToBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

// -- tabs -----------------------------------------------------------------------------------------------

for (const tab of document.querySelectorAll("nav .tab")) {
  tab.addEventListener("click", () => {
    for (const t of document.querySelectorAll("nav .tab")) t.classList.toggle("active", t === tab);
    for (const v of document.querySelectorAll(".view")) v.classList.toggle("active", v.id === "view-" + tab.dataset.view);
  });
}

// -- a label map painted with pointer events (canvas view and edit view) -------------------------------

class LabelPainter {
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onChange = onChange;
    this.colors = [[0, 0, 0]];
    this.current = 0;
    this.tool = () => "brush";
    this.radius = () => 4;
    this.undoStack = [];
    this.last = null;
    this.resize(canvas.width, canvas.height, 0);
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
  }
  resize(width, height, fill) {
    this.canvas.width = width; this.canvas.height = height;
    this.labels = new Uint8Array(width * height).fill(fill || 0);
    this.undoStack = [];
    this.redraw();
  }
  setLabels(labels) { this.labels = labels; this.redraw(); }
  snapshot() { this.undoStack.push(this.labels.slice()); if (this.undoStack.length > 50) this.undoStack.shift(); }
  undo() {
    if (!this.undoStack.length) return false;
    this.labels = this.undoStack.pop(); this.redraw(); this.onChange(); return true;
  }
  point(e) {
    const r = this.canvas.getBoundingClientRect();
    // the canvas is drawn "contain" in its box: map through the drawn area
    const scale = Math.min(r.width / this.canvas.width, r.height / this.canvas.height);
    const ox = (r.width - this.canvas.width * scale) / 2, oy = (r.height - this.canvas.height * scale) / 2;
    return [Math.floor((e.clientX - r.left - ox) / scale), Math.floor((e.clientY - r.top - oy) / scale)];
  }
  down(e) {
    e.preventDefault();
    if (this.canvas.setPointerCapture && e.pointerId !== undefined) {
      try { this.canvas.setPointerCapture(e.pointerId); } catch (err) { /* synthetic pointers have no capture */ }
    }
    const [x, y] = this.point(e);
    this.snapshot();
    if (this.tool() === "fill") { this.fill(x, y); this.last = null; }
    else { this.stamp(x, y); this.last = [x, y]; }
    this.redraw(); this.onChange();
  }
  move(e) {
    if (!this.last) return;
    const [x, y] = this.point(e);
    const [x0, y0] = this.last;
    const steps = Math.max(1, Math.ceil(Math.hypot(x - x0, y - y0) / Math.max(1, this.radius() / 2)));
    for (let i = 1; i <= steps; i++) this.stamp(Math.round(x0 + (x - x0) * i / steps), Math.round(y0 + (y - y0) * i / steps));
    this.last = [x, y];
    this.redraw(); this.onChange();
  }
  up(e) { if (this.last) { this.last = null; this.onChange(true); } }
  stamp(cx, cy) {
    const r = Math.max(0, Math.round(this.radius())), w = this.canvas.width, h = this.canvas.height;
    for (let y = Math.max(0, cy - r); y <= Math.min(h - 1, cy + r); y++)
      for (let x = Math.max(0, cx - r); x <= Math.min(w - 1, cx + r); x++)
        if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) this.labels[y * w + x] = this.current;
  }
  fill(x, y) {
    const w = this.canvas.width, h = this.canvas.height;
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    const target = this.labels[y * w + x];
    if (target === this.current) return;
    const stack = [y * w + x];
    while (stack.length) {
      const i = stack.pop();
      if (this.labels[i] !== target) continue;
      this.labels[i] = this.current;
      const px = i % w;
      if (px > 0) stack.push(i - 1);
      if (px < w - 1) stack.push(i + 1);
      if (i >= w) stack.push(i - w);
      if (i < w * (h - 1)) stack.push(i + w);
    }
  }
  relabel(from, to) {
    this.snapshot();
    for (let i = 0; i < this.labels.length; i++) if (this.labels[i] === from) this.labels[i] = to;
    this.redraw(); this.onChange(true);
  }
  redraw() {
    const w = this.canvas.width, h = this.canvas.height;
    const image = this.ctx.createImageData(w, h);
    for (let i = 0; i < w * h; i++) {
      const c = this.colors[this.labels[i]] || [0, 0, 0];
      image.data[4 * i] = c[0]; image.data[4 * i + 1] = c[1]; image.data[4 * i + 2] = c[2]; image.data[4 * i + 3] = 255;
    }
    this.ctx.putImageData(image, 0, 0);
  }
}

function paletteButtons(container, palette, painter, onPick) {
  container.innerHTML = "";
  palette.colors.forEach((c, i) => {
    const b = document.createElement("button");
    b.textContent = i + " " + (palette.names[i] || "");
    b.title = b.textContent;
    b.dataset.class = i;
    b.style.background = `rgb(${c[0]},${c[1]},${c[2]})`;
    b.style.color = c[0] * 0.3 + c[1] * 0.59 + c[2] * 0.11 > 128 ? "#000" : "#fff";
    b.addEventListener("click", () => {
      painter.current = i;
      for (const o of container.children) o.classList.toggle("active", o === b);
      if (onPick) onPick(i, palette.names[i] || "");
    });
    container.appendChild(b);
  });
  const first = container.querySelector(`[data-class="${painter.current}"]`) || container.firstChild;
  if (first) first.click();
}

// -- Live ---------------------------------------------------------------------------------------------

function jobFields() { return (studio.state.jobs.find((j) => j.name === $("live-job").value) || { fields: [] }).fields; }

function buildLiveForm() {
  const form = $("live-form");
  form.innerHTML = "";
  const more = document.createElement("details");
  more.innerHTML = "<summary>more options</summary>";
  const moreBox = document.createElement("div");
  more.appendChild(moreBox);
  for (const f of jobFields()) {
    const label = document.createElement("label");
    label.title = f.help;
    label.append(f.name.replace(/_/g, " ") + (f.required ? " *" : "") + " ");
    let input;
    if (f.choices) {
      input = document.createElement("select");
      for (const c of f.choices) input.add(new Option(c, c, false, c === f.default));
    } else if (f.type === "bool") {
      input = document.createElement("input"); input.type = "checkbox"; input.checked = !!f.default;
    } else if (f.kind === "upload") {
      input = document.createElement("input"); input.type = "file"; input.accept = "image/png,image/jpeg";
      input.addEventListener("change", async () => {
        try { const u = await upload(input.files[0], "image"); input.dataset.value = "upload:" + u.id; say(""); }
        catch (err) { input.value = ""; delete input.dataset.value; say(err.message); }
      });
    } else {
      input = document.createElement("input");
      input.value = f.default === null || f.default === undefined ? "" : f.default;
      const list = f.kind === "source" ? studio.state.sources : f.kind === "model" ? studio.state.models.map((m) => m.spec === m.path ? m.name : m.spec) : null;
      if (list) {
        const id = "list-" + f.name;
        const dl = document.createElement("datalist"); dl.id = id;
        for (const v of list) dl.appendChild(new Option(v, v));
        form.appendChild(dl);
        input.setAttribute("list", id);
        if (!input.value && list.length) input.value = list[0];
      }
    }
    input.name = f.name; input.id = "field-" + f.name; input.dataset.kind = f.kind;
    label.appendChild(input);
    if (f.kind === "source") {  // or a clip from this computer, uploaded to the studio's folder
      const file = document.createElement("input");
      file.type = "file"; file.accept = "video/*"; file.id = "upload-" + f.name; file.title = "upload a video";
      file.addEventListener("change", async () => {
        try { input.value = "upload:" + (await upload(file.files[0], "video")).id; say(""); }
        catch (err) { file.value = ""; say(err.message); }
      });
      label.appendChild(file);
    }
    // the options that say what runs on what stay in view; tuning goes under "more options"
    (f.required || f.kind !== "value" || ["device", "calibrate"].includes(f.name) ? form : moreBox).appendChild(label);
  }
  if (moreBox.children.length) form.appendChild(more);
  $("live-calibrate").hidden = !$("field-calibrate");
}

function liveValues() {
  const values = {};
  for (const input of $("live-form").querySelectorAll("input, select")) {
    if (input.type === "checkbox") values[input.name] = input.checked;
    else if (input.type === "file") { if (input.dataset.value) values[input.name] = input.dataset.value; }
    else if (input.value !== "") values[input.name] = input.value;
  }
  return values;
}

let livePolling = null;

async function liveStart() {
  $("live-error").textContent = "";
  try {
    await api("live/start", { job: $("live-job").value, values: liveValues() });
    pollLive();
  } catch (err) { $("live-error").textContent = err.message; }
}

async function refreshPanel(panel) {
  const img = $("panel-" + panel);
  const response = await fetch(`/api/live/frame/${panel}.jpg`, { headers: { "X-Studio-Token": TOKEN } });
  if (!response.ok) return;
  const seq = response.headers.get("X-Frame-Sequence") || "0";
  const url = URL.createObjectURL(await response.blob());
  const old = img.src;
  img.src = url;
  img.dataset.seq = seq;
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
}

function showFigures(figures) {
  const body = $("live-figures").tBodies[0];
  body.innerHTML = "";
  if (!figures) return;
  for (const w of figures.workers) {
    const row = body.insertRow();
    for (const v of [w.name, w.frames, w.fps.toFixed(1), w.p50_ms ?? "", w.p95_ms ?? "", w.dropped]) row.insertCell().textContent = v;
  }
  const e2e = figures.end_to_end_ms || {};
  $("live-summary").textContent = `device ${figures.device}, ${figures.mode}` +
    (e2e.count ? `, end-to-end p50 ${e2e.p50} ms, p95 ${e2e.p95} ms` : "");
}

function showRecording(rec) {
  const running = rec && !rec.done;
  $("record-stop").disabled = !running;
  if (!rec) { $("record-status").textContent = ""; return; }
  $("record-progress").max = rec.wanted || Math.max(1, rec.frames);
  $("record-progress").value = rec.frames;
  const status = $("record-status");
  if (rec.error) status.textContent = "recording failed: " + rec.error;
  else if (rec.done) {
    status.innerHTML = "";
    const a = document.createElement("a");
    a.href = `/api/files/${rec.name}?token=${encodeURIComponent(TOKEN)}`; a.textContent = `${rec.name} (${rec.frames} frames)`;
    a.id = "record-link"; a.download = rec.name;
    status.appendChild(a);
  } else status.textContent = `recording ${rec.frames}` + (rec.wanted ? ` / ${rec.wanted}` : "") + " frames";
}

async function pollLive() {
  clearTimeout(livePolling);
  let status;
  try { status = await api("live/status"); } catch (err) { livePolling = setTimeout(pollLive, 1000); return; }
  $("live-state").textContent = status.state;
  const running = status.state === "running" || status.state === "starting";
  $("live-start").disabled = running; $("live-stop").disabled = !running; $("record-start").disabled = !running;
  $("live-error").textContent = status.error || "";
  showFigures(status.figures);
  showRecording(status.recording);
  if (status.frames > 0 && String(status.frames) !== $("panel-output").dataset.seq)
    await Promise.all(["input", "condition", "output"].map(refreshPanel));
  if (running || (status.recording && !status.recording.done)) livePolling = setTimeout(pollLive, 100);
}

$("live-job").addEventListener("change", buildLiveForm);
$("live-calibrate").addEventListener("click", async () => {
  // a job that normalises the performer's body (dance) measures it again: restart with calibration on
  $("field-calibrate").checked = true;
  if ($("live-state").textContent === "running") {
    try { await api("live/stop", {}); } catch (err) { say(err.message); }
  }
  await liveStart();
});
$("live-start").addEventListener("click", liveStart);
$("live-stop").addEventListener("click", async () => {
  try { await api("live/stop", {}); } catch (err) { say(err.message); }
  pollLive();
});
$("record-start").addEventListener("click", async () => {
  try { showRecording(await api("live/record", { frames: Number($("record-frames").value) || 0 })); pollLive(); }
  catch (err) { say(err.message); }
});
$("record-stop").addEventListener("click", async () => {
  try { showRecording(await api("live/record/stop", {})); } catch (err) { say(err.message); }
});

// -- Canvas -------------------------------------------------------------------------------------------

const DEBOUNCE_MS = 40;
const canvas = {
  painter: new LabelPainter($("label-canvas"), (final) => scheduleRender()),
  timer: null, busy: false, again: false, changedAt: 0, renderedFor: 0, style: null,
};
canvas.painter.tool = () => ($("tool-fill").checked ? "fill" : "brush");
canvas.painter.radius = () => Number($("brush-size").value) / 2;
studio.canvas = canvas;

function scheduleRender() {
  canvas.changedAt = performance.now();
  clearTimeout(canvas.timer);
  canvas.timer = setTimeout(renderCanvas, DEBOUNCE_MS);
}

async function renderCanvas() {
  if (canvas.busy) { canvas.again = true; return; }
  canvas.busy = true; canvas.again = false;
  const p = canvas.painter;
  const requested = canvas.changedAt;
  try {
    const result = await api("canvas/render", {
      model: $("canvas-model").value, width: p.canvas.width, height: p.canvas.height,
      labels: bytesToBase64(p.labels), seed: Number($("style-seed").value) || 0, style: canvas.style, canvas: "canvas",
    });
    const img = $("canvas-output");
    await new Promise((resolve) => { img.onload = resolve; img.onerror = resolve; img.src = result.image; });
    $("canvas-export").href = result.image;
    studio.renders += 1;
    canvas.renderedFor = requested;
    img.dataset.renders = studio.renders;
    studio.lastLatencyMs = performance.now() - requested;
    studio.lastServerMs = result.ms;
    $("canvas-status").textContent = `rendered in ${result.ms} ms (stroke to picture ${studio.lastLatencyMs.toFixed(0)} ms)` +
      (result.full ? ", whole picture" : "");
    say("");
  } catch (err) { say(err.message); }
  canvas.busy = false;
  if (canvas.again) renderCanvas();
}

async function loadPalette(select, model, container, painter, onPick) {
  const name = select.value;
  const key = name === "model" ? "model:" + model : name;
  if (!studio.palettes[key]) {
    studio.palettes[key] = await api(`palette?name=${encodeURIComponent(name)}&model=${encodeURIComponent(model)}`);
  }
  const palette = studio.palettes[key];
  painter.colors = palette.colors;
  paletteButtons(container, palette, painter, onPick);
  painter.redraw();
  return palette;
}

function canvasModel() { return studio.state.models.find((m) => (m.spec === m.path ? m.name : m.spec) === $("canvas-model").value); }

function streetScene(painter) {
  // a street to start from, in Cityscapes ids: sky, buildings either side, sidewalks, the road
  const w = painter.canvas.width, h = painter.canvas.height, L = painter.labels;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const u = x / w, v = y / h, spread = Math.max(0, v - 0.5) * 0.9;
    let id = 23;
    if (v > 0.5 && Math.abs(u - 0.5) < 0.12 + spread) id = 7;
    else if (v > 0.5 && Math.abs(u - 0.5) < 0.2 + spread * 1.3) id = 8;
    else if ((u < 0.3 || u > 0.7) && v > 0.12) id = 11;
    else if (v > 0.5) id = 11;
    L[y * w + x] = id;
  }
}

async function resetCanvas() {
  const size = Number($("canvas-size").value);
  const base = 7;  // a road to paint on (Cityscapes "road"; any class id of the model works)
  const model = canvasModel();
  const fill = model && model.num_classes && base >= model.num_classes ? 0 : base;
  canvas.painter.resize(size, size, fill);
  if ($("canvas-street").checked && (!model || !model.num_classes || model.num_classes > 23)) streetScene(canvas.painter);
  $("style-label").hidden = !(model && model.style_encoder);
  await loadPalette($("canvas-palette"), $("canvas-model").value, $("palette"), canvas.painter,
    (i, name) => { $("class-name").textContent = `${i} ${name}`; });
  scheduleRender();
}

$("canvas-model").addEventListener("change", resetCanvas);
$("model-file-use").addEventListener("click", async () => {
  const path = $("model-file").value.trim();
  if (!path) return;
  for (const sel of [$("canvas-model"), $("edit-model")]) {
    if (![...sel.options].some((o) => o.value === path)) sel.add(new Option(path, path));
    sel.value = path;
  }
  studio.palettes = Object.fromEntries(Object.entries(studio.palettes).filter(([k]) => !k.startsWith("model:")));
  try { await resetCanvas(); await editPalette(); } catch (err) { say(err.message); }
});
$("canvas-size").addEventListener("change", resetCanvas);
$("canvas-street").addEventListener("change", () => { canvas.painter.snapshot(); resetCanvas(); });
$("canvas-palette").addEventListener("change", () =>
  loadPalette($("canvas-palette"), $("canvas-model").value, $("palette"), canvas.painter,
    (i, name) => { $("class-name").textContent = `${i} ${name}`; }).catch((err) => say(err.message)));
$("canvas-undo").addEventListener("click", () => canvas.painter.undo());
$("style-random").addEventListener("click", () => { $("style-seed").value = Math.floor(Math.random() * 1e6); canvas.style = null; scheduleRender(); });
$("style-seed").addEventListener("change", scheduleRender);
$("style-image").addEventListener("change", async () => {
  try { canvas.style = (await upload($("style-image").files[0], "image")).id; scheduleRender(); }
  catch (err) { $("style-image").value = ""; say(err.message); }
});
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "z") {
    if ($("view-canvas").classList.contains("active")) canvas.painter.undo();
    else if ($("view-edit").classList.contains("active")) edit.painter.undo();
  }
});

// -- Edit ---------------------------------------------------------------------------------------------

const edit = { painter: new LabelPainter($("edit-canvas"), () => {}), photo: null, original: null };
edit.painter.radius = () => Number($("edit-brush").value) / 2;
edit.painter.tool = () => ($("edit-tool-fill").checked ? "fill" : "brush");
studio.edit = edit;

async function editPalette() {
  const palette = await loadPalette({ value: "model" }, $("edit-model").value, $("edit-palette"), edit.painter);
  for (const sel of [$("relabel-from"), $("relabel-to")]) {
    sel.innerHTML = "";
    palette.names.forEach((n, i) => sel.add(new Option(`${i} ${n}`, i)));
  }
}

$("edit-model").addEventListener("change", () => editPalette().catch((err) => say(err.message)));
$("edit-photo").addEventListener("change", async () => {
  const file = $("edit-photo").files[0];
  try {
    const u = await upload(file, "image");
    edit.photo = u;
    $("edit-photo-view").src = URL.createObjectURL(file);
    edit.painter.resize(u.width, u.height, 0);
    edit.original = null;
    say("paint the photo's classes, press 'Labels describe the photo', then change regions and render");
  } catch (err) { $("edit-photo").value = ""; say(err.message); }
});
$("edit-labels").addEventListener("change", async () => {
  const file = $("edit-labels").files[0];
  const bitmap = await createImageBitmap(file);
  const c = document.createElement("canvas"); c.width = edit.painter.canvas.width; c.height = edit.painter.canvas.height;
  const ctx = c.getContext("2d"); ctx.imageSmoothingEnabled = false; ctx.drawImage(bitmap, 0, 0, c.width, c.height);
  const data = ctx.getImageData(0, 0, c.width, c.height).data;
  const labels = new Uint8Array(c.width * c.height);
  for (let i = 0; i < labels.length; i++) labels[i] = data[4 * i];
  edit.painter.setLabels(labels);
  edit.original = labels.slice();
});
$("edit-mark").addEventListener("click", () => { edit.original = edit.painter.labels.slice(); say("labels kept as the photo's; now change regions"); });
$("edit-relabel").addEventListener("click", () => edit.painter.relabel(Number($("relabel-from").value), Number($("relabel-to").value)));
$("edit-undo").addEventListener("click", () => edit.painter.undo());
$("edit-render").addEventListener("click", async () => {
  if (!edit.photo) { say("load a photo first"); return; }
  if (!edit.original) { say("press 'Labels describe the photo' before changing regions"); return; }
  try {
    const result = await api("edit/photo", {
      photo: edit.photo.id, model: $("edit-model").value, original: bytesToBase64(edit.original),
      edited: bytesToBase64(edit.painter.labels), seed: Number($("style-seed").value) || 0,
    });
    $("edit-output").src = result.image;
    $("edit-output").dataset.renders = Number($("edit-output").dataset.renders) + 1;
    $("edit-download").href = `/api/files/${result.file}?token=${encodeURIComponent(TOKEN)}`;
    $("edit-download").hidden = false;
    $("edit-status").textContent = `edited in ${result.ms} ms` + (result.changed ? `, region ${result.changed.join(",")}` : ", nothing changed");
  } catch (err) { say(err.message); }
});

$("clip-render").addEventListener("click", async () => {
  try {
    const video = $("clip-video").files[0] ? (await upload($("clip-video").files[0], "video")).id : $("clip-source").value;
    const labels = $("clip-labels").files[0] ? (await upload($("clip-labels").files[0], "video")).id : null;
    const remap = {};
    for (const pair of $("clip-remap").value.split(",")) {
      const [a, b] = pair.split(":").map((s) => s.trim());
      if (a !== undefined && b !== undefined && a !== "") remap[a] = Number(b);
    }
    await api("edit/video", { video, labels, remap, model: $("edit-model").value });
    pollClip();
  } catch (err) { $("clip-status").textContent = err.message; }
});

async function pollClip() {
  const s = await api("edit/video/status");
  $("clip-progress").max = s.total || Math.max(1, s.frames);
  $("clip-progress").value = s.frames;
  if (s.error) { $("clip-status").textContent = s.error; return; }
  if (s.done) {
    $("clip-status").innerHTML = `<a id="clip-link" href="/api/files/${s.file}?token=${encodeURIComponent(TOKEN)}" download>${s.file}</a>`;
    return;
  }
  $("clip-status").textContent = `${s.frames}` + (s.total ? ` / ${s.total}` : "") + " frames";
  setTimeout(pollClip, 300);
}

// -- start --------------------------------------------------------------------------------------------

async function init() {
  if (!TOKEN) say("open the URL vidsynth studio printed: it carries the access token (?token=...)");
  try { studio.state = await api("state"); } catch (err) { say(err.message); return; }
  for (const j of studio.state.jobs) $("live-job").add(new Option(j.name, j.name));
  buildLiveForm();
  const canvasModels = studio.state.models.filter((m) => m.canvas);
  for (const sel of [$("canvas-model"), $("edit-model")])
    for (const m of canvasModels) sel.add(new Option(m.name, m.spec === m.path ? m.name : m.spec));
  for (const p of studio.state.palettes) $("canvas-palette").add(new Option(p, p, false, p === "model"));
  $("canvas-palette").value = "model";
  if (canvasModels.length) { await resetCanvas(); await editPalette(); }
  if (studio.state.live) pollLive();
  studio.ready = true;
  document.body.dataset.ready = "1";
}

init();
