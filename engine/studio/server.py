"""The studio's web server: the page's files and a small JSON API over the live session, canvas and edits.

Safety, because a local web server is reachable by every page the user's browser opens:

- it binds 127.0.0.1 unless told otherwise;
- every request's ``Host`` must be the address it serves (a DNS-rebinding page has another name);
- every ``/api/`` request carries the token printed with the URL (header ``X-Studio-Token`` or, for
  pictures, ``?token=``); a request that changes anything must also come from the page itself: an
  ``Origin`` other than the studio's own, or ``Sec-Fetch-Site: cross-site``, is refused;
- uploads are limited in size and must decode as a picture (or a video, for clip edits); they are
  stored under new random names in the studio's folder, and files are only ever served from the
  package's ``static/`` folder or by name from the studio's folder;
- connections are capped; a request that fails gets a JSON error and nothing else changes (a running
  job keeps running).

>>> studio = Studio(StudioConfig(port=0))  # doctest: +SKIP
>>> studio.start(); print(studio.url)  # doctest: +SKIP
http://127.0.0.1:40113/?token=...
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import mimetypes
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from vidsynth.errors import VidsynthError

log = logging.getLogger(__name__)

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_UPLOADS = 64  # uploads kept at once (decoded pictures stay in memory for the edits)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")  # a file name in the studio's folder: no separators


@dataclass
class StudioConfig:
    """Options of :class:`Studio`."""

    host: str = "127.0.0.1"           # address to bind; anything but loopback exposes the studio to the network
    port: int = 0                     # 0: a free port
    workdir: str | None = None        # the studio's folder (uploads, recordings, exports); default: a new temp folder
    device: str = "cpu"               # where the canvas and edits run their models
    max_upload_mb: float = 32.0       # the largest upload accepted
    max_connections: int = 32         # simultaneous connections; more are answered 503
    max_pixels: int = 4096 * 4096     # the largest picture accepted
    token: str | None = None          # the access token (default: a new random one)
    palette: str = "cityscapes"       # the palette the Live view draws label maps with


class HttpError(Exception):
    """An error answered with ``status`` and a JSON ``{"error": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, handler, studio: "Studio"):
        import socket

        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.studio = studio
        self.slots = threading.BoundedSemaphore(studio.config.max_connections)
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:  # over the cap: a short answer on this thread, no worker started
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client that went away is not worth a traceback
        log.exception("studio connection from %s failed", client_address[0])

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class Studio:
    """The studio: an HTTP server plus the state it serves (one live session, canvases, uploads, edits)."""

    def __init__(self, config: StudioConfig | None = None):
        self.config = config or StudioConfig()
        self.token = self.config.token or secrets.token_urlsafe(18)
        self.workdir = os.path.abspath(self.config.workdir or tempfile.mkdtemp(prefix="vidsynth-studio-"))
        os.makedirs(os.path.join(self.workdir, "uploads"), exist_ok=True)
        self.live = None
        self.uploads: dict[str, dict] = {}
        self.canvases: dict[str, object] = {}
        self.renderers: dict[tuple, object] = {}
        self.video_edit: dict | None = None
        self._lock = threading.Lock()  # live session start/stop
        self._renderer_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> str:
        """Bind and serve on a background thread; returns the URL (with the token)."""
        try:
            self._server = _Server((self.config.host, int(self.config.port)), _Handler, self)
        except OSError as exc:
            raise VidsynthError(f"the studio could not listen on {self.config.host}:{self.config.port}: {exc.strerror}; "
                                "pick another --port") from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="vidsynth-studio", daemon=True)
        self._thread.start()
        return self.url

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return host, port

    @property
    def url(self) -> str:
        host, port = self.address
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # every address: this machine's own works
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/?token={self.token}"

    def allowed_hosts(self) -> set[str]:
        """The ``Host`` header values this server answers to."""
        _, port = self.address
        names = {self.config.host}
        if self.config.host in LOOPBACK or self.config.host in ("0.0.0.0", "::"):
            names |= {"127.0.0.1", "localhost", "[::1]"}
        if self.config.host in ("0.0.0.0", "::"):
            import socket

            names |= {socket.gethostname()}
            try:
                names |= set(socket.gethostbyname_ex(socket.gethostname())[2])
            except OSError:
                pass
        return {f"{n}:{port}" for n in names}

    def run(self) -> None:
        """Serve until Ctrl-C (the CLI's ``vidsynth studio``); starts the server unless :meth:`start` did."""
        if self._server is None:
            self.start()
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.close()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
        if self.video_edit is not None and self.video_edit.get("stop"):
            self.video_edit["stop"].set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- helpers the handlers use ----------------------------------------------------------------

    def renderer(self, model: str):
        from .canvas import LabelRenderer
        from .jobs import resolve_model

        path = resolve_model(model)
        key = (path, self.config.device)
        with self._renderer_lock:
            if key not in self.renderers:
                self.renderers[key] = LabelRenderer(path, self.config.device)
            return self.renderers[key]

    def upload(self, upload_id: str, kinds=("image",)) -> dict:
        entry = self.uploads.get(str(upload_id))
        if entry is None or entry["kind"] not in kinds:
            raise HttpError(404, f"no uploaded {' or '.join(kinds)} with id {upload_id!r}; upload it first")
        return entry

    def file_path(self, name: str) -> str:
        """A file of the studio's folder by its bare name (recordings, exports); nothing else is reachable."""
        if not _NAME.match(name) or ".." in name:
            raise HttpError(400, f"bad file name {name!r}: expected a bare name such as recording-1.mp4")
        path = os.path.realpath(os.path.join(self.workdir, name))
        if os.path.dirname(path) != os.path.realpath(self.workdir) or not os.path.isfile(path):
            raise HttpError(404, f"the studio has no file {name!r}")
        return path

    def new_name(self, prefix: str, ext: str) -> str:
        return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}{ext}"


# -- request handling ------------------------------------------------------------------------------------


def _b64_labels(text: str, width: int, height: int) -> np.ndarray:
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise HttpError(400, "labels must be base64 of width×height bytes (one class id per pixel)") from None
    if len(raw) != width * height:
        raise HttpError(400, f"labels hold {len(raw)} bytes but {width}x{height} needs {width * height}")
    return np.frombuffer(raw, np.uint8).reshape(height, width).copy()


def _png_data_url(image: np.ndarray) -> str:
    import cv2

    ok, data = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode("ascii")


def _bbox(mask: np.ndarray | None) -> list[int] | None:
    if mask is None or not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def _int(body: dict, key: str, default: int | None = None, low: int = 0, high: int = 1 << 16) -> int:
    value = body.get(key, default)
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise HttpError(400, f"{key} must be an integer, found {value!r}") from None
    if not low <= value <= high:
        raise HttpError(400, f"{key} must be between {low} and {high}, found {value}")
    return value


def _palette(name: str, num_classes: int | None = None) -> dict:
    """A palette for the page: ``cityscapes``, ``cocostuff``, or ``model`` (the model's classes, named by the
    built-in palette of the same size when there is one)."""
    from vidsynth.engine.extract.labels import BUILTIN_PALETTES, load_palette

    if name in BUILTIN_PALETTES:
        p = load_palette(name)
        names = list(p.names) + [f"class {i}" for i in range(len(p.names), p.num_classes)]
        return {"name": name, "colors": p.colors[:, :3].astype(int).tolist(), "names": names}
    if name != "model" or not num_classes:
        raise HttpError(400, f"unknown palette {name!r}; expected cityscapes, cocostuff or model")
    for builtin in BUILTIN_PALETTES:
        p = load_palette(builtin)
        if p.num_classes == num_classes:
            return {**_palette(builtin), "name": "model"}
    import colorsys

    colors = [[int(255 * c) for c in colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.65, 0.9)] for i in range(num_classes)]
    return {"name": "model", "colors": colors, "names": [f"class {i}" for i in range(num_classes)]}


class _Handler(BaseHTTPRequestHandler):
    server_version = "vidsynth-studio"
    protocol_version = "HTTP/1.1"
    timeout = 30  # a client that stops sending mid-request frees its connection

    @property
    def studio(self) -> Studio:
        return self.server.studio

    def log_message(self, format, *args):  # requests are not worth a line each on the terminal
        log.debug("%s " + format, self.address_string(), *args)

    # -- dispatch --------------------------------------------------------------------------------

    def do_GET(self):
        self._handle("GET")

    def do_HEAD(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("POST")

    def _handle(self, method: str) -> None:
        try:
            self._check_host()
            url = urlsplit(self.path)
            path = unquote(url.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if not path.startswith("/api/"):
                if method != "GET":
                    raise HttpError(405, "only the API accepts requests that change things")
                return self._static(path)
            self._check_token(query)
            if method == "POST" or self.command in ("PUT", "DELETE"):
                self._check_origin()
            route = getattr(self, f"_{method.lower()}_" + path[len("/api/"):].replace("/", "_").replace(".", "_"), None)
            if route is None:
                match = re.fullmatch(r"/api/live/frame/(input|condition|output)\.jpg", path)
                if method == "GET" and match:
                    return self._live_frame(match.group(1))
                match = re.fullmatch(r"/api/files/([^/]+)", path)
                if method == "GET" and match:
                    return self._file(match.group(1))
                raise HttpError(404, f"no such API endpoint: {method} {path}")
            result = route(query) if method == "GET" else route(query, self._body())
            if result is not None:
                self._json(200, result)
        except HttpError as exc:
            self._error(exc.status, str(exc))
        except VidsynthError as exc:
            self._error(400, " ".join(str(exc).split()))
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug in one request must not take the studio (or its job) down
            log.exception("studio request %s failed", self.path)
            self._error(500, f"internal error: {type(exc).__name__}: {exc}")

    # -- checks ----------------------------------------------------------------------------------

    def _check_host(self) -> None:
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in {h.lower() for h in self.studio.allowed_hosts()}:
            raise HttpError(421, f"this studio answers to {sorted(self.studio.allowed_hosts())[0]}, not to Host {host!r}")

    def _check_token(self, query: dict) -> None:
        given = self.headers.get("X-Studio-Token") or query.get("token") or ""
        if not secrets.compare_digest(given.encode(), self.studio.token.encode()):
            raise HttpError(403, "missing or wrong studio token: open the URL vidsynth studio printed (it ends in ?token=...)")

    def _check_origin(self) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower() not in {f"http://{h}".lower() for h in self.studio.allowed_hosts()}:
            raise HttpError(403, f"requests that change things must come from the studio's own page, not from {origin}")
        if (self.headers.get("Sec-Fetch-Site") or "").lower() == "cross-site":
            raise HttpError(403, "requests that change things must come from the studio's own page")

    def _body(self) -> bytes | dict:
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True
                raise HttpError(411, "send the request with a Content-Length")
            return {}
        try:
            length = int(length)
        except ValueError:
            raise HttpError(400, "bad Content-Length") from None
        limit = int(self.studio.config.max_upload_mb * 2**20)
        if length < 0 or length > limit:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            raise HttpError(413, f"the request is {length / 2**20:.1f} MiB; the studio accepts at most "
                            f"{self.studio.config.max_upload_mb:g} MiB")
        data = self.rfile.read(length)
        if len(data) != length:
            self.close_connection = True
            raise HttpError(400, "the request body ended early")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/json" or (data[:1] == b"{" and not ctype.startswith(("image/", "video/"))):
            try:
                body = json.loads(data or b"{}")
            except ValueError:
                raise HttpError(400, "the request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise HttpError(400, "expected a JSON object")
            return body
        return data

    # -- responses -------------------------------------------------------------------------------

    def _send(self, status: int, data: bytes, ctype: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; "
                         "connect-src 'self'; frame-ancestors 'none'")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, status: int, value) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        try:
            self._json(status, {"error": message})
        except (ConnectionError, OSError):
            self.close_connection = True

    def _static(self, path: str) -> None:
        name = "index.html" if path in ("/", "/index.html") else path[len("/static/"):] if path.startswith("/static/") else None
        if name is None:
            raise HttpError(404, f"no such page: {path}")
        root = os.path.realpath(STATIC_DIR)
        full = os.path.realpath(os.path.join(root, name))
        if os.path.commonpath([root, full]) != root or not os.path.isfile(full):
            raise HttpError(404, f"no such file: {path}")
        with open(full, "rb") as f:
            data = f.read()
        ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        self._send(200, data, ctype)

    def _file(self, name: str) -> None:
        path = self.studio.file_path(name)
        with open(path, "rb") as f:
            data = f.read()
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        self._send(200, data, ctype, {"Content-Disposition": f'attachment; filename="{name}"'})

    # -- the API: state --------------------------------------------------------------------------

    def _get_state(self, query):
        from .jobs import SOURCE_PRESETS, available_jobs, describe_fields, shipped_models

        from vidsynth.engine.extract.labels import BUILTIN_PALETTES

        jobs = [{"name": j.name, "help": j.COMMAND.get("help", ""), "fields": describe_fields(j.Options)}
                for j in available_jobs().values()]
        live = self.studio.live.status() if self.studio.live is not None else None
        return {"jobs": jobs, "models": shipped_models(), "sources": list(SOURCE_PRESETS),
                "palettes": list(BUILTIN_PALETTES) + ["model"], "live": live, "device": self.studio.config.device,
                "max_upload_mb": self.studio.config.max_upload_mb}

    def _get_palette(self, query):
        num = None
        if query.get("name") == "model":
            num = self.studio.renderer(query.get("model", "")).num_classes
        return _palette(query.get("name", "cityscapes"), num)

    # -- the API: live ---------------------------------------------------------------------------

    def _post_live_start(self, query, body):
        from .jobs import available_jobs
        from .live import LiveSession

        if not isinstance(body, dict):
            raise HttpError(400, "expected a JSON object {job, values}")
        jobs = available_jobs()
        job = jobs.get(str(body.get("job")))
        if job is None:
            raise HttpError(400, f"unknown job {body.get('job')!r}; expected one of {', '.join(jobs)}")
        values = dict(body.get("values") or {})
        for name, value in list(values.items()):
            if isinstance(value, str) and value.startswith("upload:"):  # a reference photo the page uploaded
                values[name] = self.studio.upload(value[len("upload:"):], ("image", "video"))["path"]
        with self.studio._lock:
            if self.studio.live is not None and self.studio.live.running:
                raise HttpError(409, "a live job is already running; stop it first")
            session = LiveSession(job, values, self.studio.workdir, self.studio.config.palette)
            session.start()
            self.studio.live = session
        return session.status()

    def _post_live_stop(self, query, body):
        with self.studio._lock:
            session = self.studio.live
            if session is None:
                raise HttpError(409, "no live job to stop")
            session.stop()
        return session.status()

    def _get_live_status(self, query):
        session = self.studio.live
        return session.status() if session is not None else {"state": "idle", "frames": 0, "figures": None,
                                                              "recording": None, "error": None}

    def _live_frame(self, panel: str) -> None:
        session = self.studio.live
        data = session.panel_jpeg(panel) if session is not None else None
        if data is None:
            raise HttpError(404, "no frame yet: start a live job")
        self._send(200, data, "image/jpeg", {"X-Frame-Sequence": str(session.sink.sequence)})

    def _post_live_record(self, query, body):
        session = self.studio.live
        if session is None or not session.running:
            raise HttpError(409, "start a live job before recording")
        frames = _int(body if isinstance(body, dict) else {}, "frames", 0, 0, 10**7)
        path = os.path.join(self.studio.workdir, self.studio.new_name("recording", ".mp4"))
        return session.sink.start_recording(path, frames or None)

    def _post_live_record_stop(self, query, body):
        session = self.studio.live
        if session is None:
            raise HttpError(409, "no live job")
        return session.sink.stop_recording()

    # -- the API: uploads ------------------------------------------------------------------------

    def _post_upload(self, query, body):
        if not isinstance(body, bytes) or not body:
            raise HttpError(400, "send the file's bytes as the request body (Content-Type image/png, image/jpeg or video/mp4)")
        kind = query.get("kind", "image")
        if kind == "image":
            return self._store_image(body)
        if kind == "video":
            return self._store_video(body)
        raise HttpError(400, f"unknown upload kind {kind!r}; expected image or video")

    def _store_image(self, data: bytes) -> dict:
        import cv2

        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype and not ctype.startswith("image/"):
            raise HttpError(415, f"expected a picture (image/png or image/jpeg), found {ctype}")
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            # the header first: a forged chunk length would have the decoder reach for gigabytes
            if len(data) < 33 or data[8:16] != b"\x00\x00\x00\x0dIHDR":
                raise HttpError(415, "the upload is not a valid PNG picture (no IHDR header)")
            at = 8
            while at + 12 <= len(data):  # every chunk must fit in the file
                length = int.from_bytes(data[at:at + 4], "big")
                if at + 12 + length > len(data):
                    raise HttpError(415, "the upload is a truncated or corrupt PNG picture")
                if data[at + 4:at + 8] == b"IEND":
                    break
                at += 12 + length
            w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
            if w * h > self.studio.config.max_pixels:
                raise HttpError(413, f"the picture is {w}x{h}; the studio accepts at most "
                                f"{self.studio.config.max_pixels} pixels")
        elif data[:3] != b"\xff\xd8\xff":
            raise HttpError(415, "the upload is not a PNG or JPEG picture")
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise HttpError(415, "the upload could not be decoded as a picture")
        h, w = image.shape[:2]
        if h * w > self.studio.config.max_pixels:
            raise HttpError(413, f"the picture is {w}x{h}; the studio accepts at most {self.studio.config.max_pixels} pixels")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        upload_id = secrets.token_hex(8)
        path = os.path.join(self.studio.workdir, "uploads", f"{upload_id}.png")
        cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))  # re-encoded: only pixels are kept
        self._remember(upload_id, {"kind": "image", "path": path, "image": image})
        return {"id": upload_id, "width": w, "height": h}

    def _remember(self, upload_id: str, entry: dict) -> None:
        """Keep an upload; the oldest are forgotten (and their files removed) past MAX_UPLOADS."""
        uploads = self.studio.uploads
        uploads[upload_id] = entry
        while len(uploads) > MAX_UPLOADS:
            old = uploads.pop(next(iter(uploads)))
            with contextlib.suppress(OSError):
                os.unlink(old["path"])

    def _store_video(self, data: bytes) -> dict:
        upload_id = secrets.token_hex(8)
        path = os.path.join(self.studio.workdir, "uploads", f"{upload_id}.video")
        with open(path, "wb") as f:
            f.write(data)
        try:
            import av

            with av.open(path) as container:
                if not container.streams.video:
                    raise ValueError("no video stream")
                stream = container.streams.video[0]
                width, height, frames = stream.width, stream.height, stream.frames
                formats = container.format.name.split(",")
        except Exception:
            os.unlink(path)
            raise HttpError(415, "the upload is not a video file vidsynth can read (MP4, MKV, ...)") from None
        ext = ".mp4" if "mp4" in formats else ".mkv" if "matroska" in formats else ".avi" if "avi" in formats else ""
        if ext:  # readers that go by the name see the container it is
            os.replace(path, path[:-len(".video")] + ext)
            path = path[:-len(".video")] + ext
        self._remember(upload_id, {"kind": "video", "path": path})
        return {"id": upload_id, "width": width, "height": height, "frames": frames}

    # -- the API: canvas and edits ---------------------------------------------------------------

    def _style(self, body: dict):
        from .canvas import Style

        style_id = body.get("style")
        image = self.studio.upload(style_id)["image"] if style_id else None
        return Style(seed=_int(body, "seed", 0, 0, 2**31 - 1), image=image, image_key=str(style_id or ""))

    def _post_canvas_render(self, query, body):
        from .canvas import CanvasSession

        if not isinstance(body, dict):
            raise HttpError(400, "expected a JSON object {model, width, height, labels, seed}")
        width, height = _int(body, "width", None, 16, 2048), _int(body, "height", None, 16, 2048)
        labels = _b64_labels(str(body.get("labels", "")), width, height)
        renderer = self.studio.renderer(str(body.get("model", "")))
        key = str(body.get("canvas", "default"))[:64]
        session = self.studio.canvases.setdefault(key, CanvasSession())
        if len(self.studio.canvases) > 16:
            self.studio.canvases = {key: session}
        t0 = time.perf_counter()
        image, changed = session.update(renderer, labels, self._style(body))
        return {"image": _png_data_url(image), "changed": _bbox(changed), "full": changed is None,
                "ms": round((time.perf_counter() - t0) * 1e3, 1), "style_encoder": renderer.has_style_encoder}

    def _post_edit_photo(self, query, body):
        from .canvas import edit_picture

        if not isinstance(body, dict):
            raise HttpError(400, "expected a JSON object {photo, original, edited, model, seed}")
        photo = self.studio.upload(body.get("photo"))["image"]
        h, w = photo.shape[:2]
        original = _b64_labels(str(body.get("original", "")), w, h)
        edited = _b64_labels(str(body.get("edited", "")), w, h)
        renderer = self.studio.renderer(str(body.get("model", "")))
        t0 = time.perf_counter()
        image, changed = edit_picture(renderer, photo, original, edited, seed=_int(body, "seed", 0, 0, 2**31 - 1))
        name = self.studio.new_name("edit", ".png")
        import cv2

        cv2.imwrite(os.path.join(self.studio.workdir, name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        return {"image": _png_data_url(image), "changed": _bbox(changed), "file": name,
                "ms": round((time.perf_counter() - t0) * 1e3, 1)}

    def _post_edit_video(self, query, body):
        from .edit import remap_video

        if not isinstance(body, dict):
            raise HttpError(400, "expected a JSON object {video, labels, remap, model}")
        if self.studio.video_edit is not None and not self.studio.video_edit["done"]:
            raise HttpError(409, "a clip edit is already running")
        video = str(body.get("video", ""))
        if not video.startswith("synthetic:"):
            video = self.studio.upload(video, ("video",))["path"]
        labels = body.get("labels") or None
        if labels:
            labels = self.studio.upload(labels, ("video",))["path"]
        try:
            remap = {int(a): int(b) for a, b in dict(body.get("remap") or {}).items()}
        except (TypeError, ValueError):
            raise HttpError(400, "remap must map class ids to class ids, e.g. {\"26\": 7}") from None
        from .jobs import resolve_model

        name = self.studio.new_name("clip", ".mp4")
        stop = threading.Event()
        pipeline = remap_video(video, labels, remap, resolve_model(str(body.get("model", ""))),
                               os.path.join(self.studio.workdir, name), seed=_int(body, "seed", 0, 0, 2**31 - 1),
                               device=self.studio.config.device, stop_event=stop)
        state = {"file": name, "frames": 0, "total": _frame_count(video), "done": False, "error": None, "stop": stop,
                 "pipeline": pipeline}
        self.studio.video_edit = state

        def run():
            try:
                pipeline.run()
            except VidsynthError as exc:
                state["error"] = str(exc)
            except Exception as exc:
                state["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                state["done"] = True

        threading.Thread(target=run, name="vidsynth-studio-clip", daemon=True).start()
        return self._get_edit_video_status({})

    def _get_edit_video_status(self, query):
        state = self.studio.video_edit
        if state is None:
            return {"state": "idle"}
        snap = state["pipeline"].live_figures()
        sink = snap.get("workers", {}).get("sink", {})
        return {"file": state["file"], "frames": sink.get("frames_out", 0), "done": state["done"],
                "error": state["error"], "total": state["total"]}


def _frame_count(spec: str) -> int | None:
    """How many frames a clip holds, for the progress bar (None when the container does not say)."""
    from vidsynth.streams import open_source

    source = open_source(spec)
    try:
        return source.open().frame_count
    finally:
        source.close()


def remove_workdir(studio: Studio) -> None:
    """Delete a temporary studio folder (tests)."""
    shutil.rmtree(studio.workdir, ignore_errors=True)
