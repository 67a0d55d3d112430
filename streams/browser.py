"""A browser preview: a tiny HTTP server with an HTML page and an MJPEG stream of the newest frame."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vidsynth.errors import VidsynthError, require

from .base import Sink, StreamInfo
from .convert import as_rgb8
from .frame import Frame

log = logging.getLogger(__name__)

BOUNDARY = "vidsynthframe"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>vidsynth preview</title>
<style>body{margin:0;background:#111;display:flex;align-items:center;justify-content:center;height:100vh}
img{max-width:100vw;max-height:100vh;image-rendering:auto}</style></head>
<body><img src="/stream.mjpg" alt="vidsynth preview"></body></html>
"""


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class _PreviewServer(ThreadingHTTPServer):
    """A threading HTTP server with a cap on simultaneous connections: over it, a short 503 and no thread."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address, handler, max_connections: int):
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self.slots.release()  # the worker thread did not start, so it will not give the slot back
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        pass  # a viewer that went away or timed out is not worth a traceback in the pipeline's terminal


class BrowserPreviewSink(Sink):
    """Serve the newest frame at ``http://host:port/`` (page), ``/stream.mjpg`` (MJPEG) and ``/frame.jpg``.

    ``write()`` only stores a reference to the frame (latest frame wins), so the pipeline never waits
    for a browser; JPEG encoding happens on the server's threads, once per new frame, and only while
    someone watches. ``port=0`` picks a free port; :attr:`url` says which. Binds to 127.0.0.1 unless
    another ``host`` is given.

    Only requests whose ``Host`` header is the address served are answered (421 otherwise), so a web
    page that rebinds its own name to 127.0.0.1 (DNS rebinding) cannot read the feed. At most
    ``max_connections`` are served at once (503 beyond), and a client that sends or reads nothing for
    ``client_timeout`` seconds is dropped, so stuck viewers cannot pile up threads.

    >>> sink = BrowserPreviewSink()  # doctest: +SKIP
    >>> sink.open(info); print(sink.url)  # doctest: +SKIP
    http://127.0.0.1:40113/
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, quality: int = 80, max_fps: float = 30,
                 max_connections: int = 16, client_timeout: float = 10.0):
        self.host = host
        self.max_connections = int(max_connections)
        self.client_timeout = float(client_timeout)
        self.port = int(port)
        self.quality = int(quality)
        self.max_fps = max_fps
        self.frames_written = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._latest = None  # (sequence, image)
        self._jpeg = (-1, b"")  # (sequence, bytes) of the last encoded frame
        self._encode_lock = threading.Lock()

    @property
    def url(self) -> str:
        if self._server is None:
            raise VidsynthError("the browser preview is not running yet; call open() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def open(self, info: StreamInfo | None = None) -> None:
        self._cv2 = require("cv2", "the browser preview (JPEG encoding)")
        sink = self

        class Handler(BaseHTTPRequestHandler):
            timeout = sink.client_timeout  # a socket timeout: a client that stalls is dropped

            def log_message(self, *args):  # keep the terminal for the pipeline's own output
                pass

            def do_GET(self):
                host = (self.headers.get("Host") or "").strip().lower()
                if host not in sink.allowed_hosts():
                    self._send(421, "text/plain", f"this preview answers to {sink.allowed_hosts()[0]} only".encode())
                    return
                path = self.path.split("?")[0]
                if path in ("/", "/index.html"):
                    self._send(200, "text/html; charset=utf-8", PAGE.encode())
                elif path == "/frame.jpg":
                    sequence, data = sink._wait_jpeg(-1, timeout=2.0)
                    if data:
                        self._send(200, "image/jpeg", data)
                    else:
                        self._send(503, "text/plain", b"no frame yet")
                elif path == "/stream.mjpg":
                    self._stream()
                else:
                    self._send(404, "text/plain", b"not found")

            def _send(self, code, kind, body):
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _stream(self):
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                seen = -1
                try:
                    while not sink._stop.is_set():
                        sequence, data = sink._wait_jpeg(seen, timeout=0.5)
                        if sequence == seen or not data:
                            continue
                        seen = sequence
                        head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                        self.wfile.write(head.encode() + data + b"\r\n")
                        self.wfile.flush()
                        sink._stop.wait(1 / sink.max_fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the browser tab closed

        try:
            self._server = _PreviewServer((self.host, self.port), Handler, self.max_connections)
        except OSError as exc:
            raise VidsynthError(
                f"cannot serve the browser preview on {self.host}:{self.port} ({exc.strerror}); pick another port "
                "(--output http:PORT with a free PORT) or use --preview http, which picks a free one"
            ) from None
        self._server.daemon_threads = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.name = "browser-preview"
        self._thread.start()
        log.info("browser preview at %s", self.url)

    def allowed_hosts(self) -> list[str]:
        """The ``Host`` header values answered: the address served (and its loopback names)."""
        host, port = self._server.server_address[:2]
        names = [host]
        if host in LOOPBACK_NAMES or host in ("0.0.0.0", "::"):
            names += LOOPBACK_NAMES
        if host in ("0.0.0.0", "::"):  # served on every address: this machine's names reach it too
            import socket

            names.append(socket.gethostname())
            try:
                names += socket.gethostbyname_ex(socket.gethostname())[2]
            except OSError:
                pass
        return [f"{name}:{port}".lower() for name in dict.fromkeys(names)]

    def write(self, frame: Frame) -> None:
        with self._changed:
            self._latest = (self.frames_written, frame.image)
            self._changed.notify_all()
        self.frames_written += 1

    def _wait_jpeg(self, after: int, timeout: float) -> tuple[int, bytes]:
        """The newest frame as JPEG once it is newer than ``after`` (or what there is at the timeout)."""
        with self._changed:
            if self._latest is None or self._latest[0] <= after:
                self._changed.wait(timeout)
            latest = self._latest
        if latest is None:
            return -1, b""
        with self._encode_lock:  # several viewers share one encoding per frame
            if self._jpeg[0] != latest[0]:
                cv2 = self._cv2
                bgr = cv2.cvtColor(as_rgb8(latest[1], "preview"), cv2.COLOR_RGB2BGR)
                ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                self._jpeg = (latest[0], data.tobytes() if ok else b"")
            return self._jpeg

    def close(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
