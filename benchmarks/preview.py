"""Preview server under abuse: does a crowd of clients slow the pipeline that feeds the browser preview?

A live pipeline (a 30 fps clip paced as a camera, a blur stage, the browser preview as its sink) runs
twice: alone, then while clients hammer the preview: 200 concurrent requests for ``/frame.jpg`` (again
and again), a few MJPEG viewers, connections that never send a request, a viewer that never reads,
oversized requests, path traversal attempts and requests with another ``Host``. It prints the
pipeline's frame rate, drops and memory in both runs, their ratio (goal: within 10 %), and what the
clients got back (answered, refused with 503/421/404/414, failed).

    python benchmarks/preview.py               # 300 frames (10 s) per run
    python benchmarks/preview.py --frames 150
"""

from __future__ import annotations

import argparse
import collections
import http.client
import socket
import sys
import threading
import time

from vidsynth.engine import FunctionStage, Pipeline
from vidsynth.engine.metrics import rss_mb
from vidsynth.streams.browser import BrowserPreviewSink
from vidsynth.streams.synthetic.clip import SyntheticClip
from vidsynth.streams.timing import RealtimePacer


def _blur(frame):
    import cv2

    return frame.with_image(cv2.GaussianBlur(frame.image, (9, 9), 0))


def request(port: int, path: str, host: str | None = None, timeout: float = 5.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__
    finally:
        conn.close()


class Crowd:
    """The abusive clients, on threads, until ``stop``; ``answers`` counts what they got."""

    def __init__(self, port: int, concurrent: int = 200):
        self.port, self.concurrent = port, concurrent
        self.stop = threading.Event()
        self.answers: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    def _count(self, what) -> None:
        with self._lock:
            self.answers[what] += 1

    def _hammer(self, path: str, host: str | None = None) -> None:
        while not self.stop.is_set():
            self._count(request(self.port, path, host))

    def _viewer(self) -> None:
        while not self.stop.is_set():
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/stream.mjpg")
                response = conn.getresponse()
                self._count(f"stream {response.status}")
                while not self.stop.is_set() and response.status == 200:
                    if not response.read1(65536):
                        break
                conn.close()
            except (OSError, http.client.HTTPException) as exc:
                self._count(type(exc).__name__)
                time.sleep(0.05)

    def start(self) -> None:
        port = self.port
        for _ in range(10):  # connect and never send a request
            self._sockets.append(socket.create_connection(("127.0.0.1", port)))
        never_reads = socket.create_connection(("127.0.0.1", port))
        never_reads.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        never_reads.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        self._sockets.append(never_reads)
        jobs = [(self._hammer, ("/frame.jpg",))] * self.concurrent
        jobs += [(self._viewer, ())] * 4
        jobs += [(self._hammer, ("/" + "a" * 70000,)), (self._hammer, ("/../../etc/passwd",)),
                 (self._hammer, ("/frame.jpg", "rebound.example"))]
        for target, args in jobs:
            thread = threading.Thread(target=target, args=args, daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(10)
        for s in self._sockets:
            s.close()


def run(frames: int, crowd: bool, concurrent: int) -> dict:
    sink = BrowserPreviewSink(port=0)
    source = RealtimePacer(SyntheticClip(n_frames=frames, width=320, height=240, fps=30))
    pipeline = Pipeline(source, [FunctionStage(_blur, name="blur")], sink, mode="live", progress=False)
    clients = None
    started_rss = rss_mb()
    # the server starts with the pipeline: start the crowd as soon as it listens
    starter = None
    if crowd:
        def start_crowd():
            nonlocal clients
            while sink._server is None:
                time.sleep(0.01)
            clients = Crowd(sink._server.server_address[1], concurrent)
            clients.start()

        starter = threading.Thread(target=start_crowd, daemon=True)
        starter.start()
    try:
        report = pipeline.run()
    finally:
        if starter is not None:
            starter.join(10)
        if clients is not None:
            clients.close()
    return {"fps": report.fps, "frames": report.frames_out, "dropped": report.dropped,
            "rss_mb": (round(started_rss), round(report.rss_mb["peak"])),
            "answers": dict(clients.answers) if clients else {}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300, help="frames per run (default: 300, 10 s at 30 fps)")
    parser.add_argument("--concurrent", type=int, default=200, help="concurrent /frame.jpg requesters (default: 200)")
    args = parser.parse_args(argv)
    alone = run(args.frames, False, args.concurrent)
    loaded = run(args.frames, True, args.concurrent)
    print(f"preview under abuse: {args.frames} frames at 30 fps (live, paced), blur stage, browser preview sink")
    for name, r in (("alone", alone), ("with the crowd", loaded)):
        print(f"  {name:<15} {r['fps']:6.2f} fps, {r['frames']} written, {r['dropped']} dropped, "
              f"RSS {r['rss_mb'][0]} -> {r['rss_mb'][1]} MB")
    print(f"  ratio           {loaded['fps'] / alone['fps']:.3f} (goal: 0.9 or more)")
    print(f"  client answers  {loaded['answers']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
