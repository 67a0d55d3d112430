"""The browser preview's server: another Host refused (DNS rebinding), no path outside its three, a cap on
connections, stuck and oversized clients dropped; the pipeline's writes never wait for any of them."""

import http.client
import socket
import threading
import time
from fractions import Fraction

import pytest

from vidsynth.streams.base import StreamInfo
from vidsynth.streams.browser import BrowserPreviewSink
from vidsynth.streams.synthetic.clip import SyntheticClip

INFO = StreamInfo(64, 48, Fraction(30), Fraction(1, 30))


@pytest.fixture
def preview():
    sink = BrowserPreviewSink(port=0, max_connections=8, client_timeout=1.0)
    sink.open(INFO)
    for frame in SyntheticClip(n_frames=2, width=64, height=48):
        sink.write(frame)
    yield sink
    sink.close()


def get(sink, path, host=None):
    port = sink._server.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", f"127.0.0.1:{port}" if host is None else host)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def test_another_host_is_refused_and_the_served_one_answered(preview):
    port = preview._server.server_address[1]
    assert get(preview, "/frame.jpg")[0] == 200
    assert get(preview, "/frame.jpg", host=f"localhost:{port}")[0] == 200
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", ""):
        status, body = get(preview, "/frame.jpg", host=host)
        assert status == 421 and b"\xff\xd8" not in body, host


@pytest.mark.parametrize("path", ["/../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd",
                                  "/stream.mjpg/../../etc/passwd"])
def test_no_path_outside_the_preview_is_served(preview, path):
    status, body = get(preview, path)
    assert status == 404 and b"root:" not in body


def test_stuck_clients_fill_the_cap_get_dropped_and_never_slow_the_writes(preview):
    port = preview._server.server_address[1]
    stuck = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(8)]  # never send a request
    try:
        time.sleep(0.2)
        assert get(preview, "/frame.jpg")[0] == 503  # over the cap: answered at once, no thread
        started = time.perf_counter()
        for frame in SyntheticClip(n_frames=300, width=64, height=48):
            preview.write(frame)
        assert time.perf_counter() - started < 2.0 and preview.frames_written == 302
    finally:
        for s in stuck:
            s.close()
    deadline = time.monotonic() + 5
    while get(preview, "/frame.jpg")[0] != 200:  # the slots come back once the stuck ones time out or close
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_slow_reader_of_the_stream_is_dropped_and_an_oversized_request_refused(preview):
    port = preview._server.server_address[1]
    reader = socket.create_connection(("127.0.0.1", port), timeout=5)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    for frame in SyntheticClip(n_frames=60, width=64, height=48):  # the stream has new frames to send
        preview.write(frame)
        time.sleep(0.01)
    status, _ = get(preview, "/" + "a" * 70000)
    assert status == 414
    assert get(preview, "/frame.jpg")[0] == 200
    reader.close()


def test_two_hundred_concurrent_requests_are_served_or_refused_never_hang(preview):
    results = []
    lock = threading.Lock()

    def one():
        try:
            status, _ = get(preview, "/frame.jpg")
        except OSError as exc:  # a connection the kernel's backlog refused outright
            status = type(exc).__name__
        with lock:
            results.append(status)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert len(results) == 200 and results.count(200) >= 8
    assert set(results) <= {200, 503, "ConnectionResetError", "BrokenPipeError", "RemoteDisconnected"}
    assert get(preview, "/frame.jpg")[0] == 200
