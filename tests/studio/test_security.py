"""The studio's safety: loopback by default, the Host header, the token, same-origin changes, paths that
leave the studio's folders, oversized and non-picture uploads, the connection cap; none of the refused
requests disturbs a running job."""

import http.client
import json
import socket
import time

import pytest

from vidsynth.engine.jobs.studio import Options, build
from vidsynth.engine.studio import Studio, StudioConfig
from vidsynth.errors import VidsynthError

SOURCE = "synthetic:street?width=64&height=64&frames=100000"


def _request(studio, method, path, body=None, headers=None, token=True):
    host, port = studio.address
    conn = http.client.HTTPConnection(host, port, timeout=20)
    h = {"Host": f"127.0.0.1:{port}"}
    if token:
        h["X-Studio-Token"] = studio.token
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    conn.request(method, path, body=body, headers=h)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, data


@pytest.fixture(scope="module")
def running(studio):
    """A live job that keeps running while the refused requests arrive."""
    status, body = _request(studio, "POST", "/api/live/start", {"job": "render", "values": {
        "model": "demo:spade", "input": SOURCE, "model_size": "64x64"}})
    assert status == 200, body
    deadline = time.monotonic() + 30
    while studio.live.sink.sequence < 2:
        assert time.monotonic() < deadline, studio.live.status()
        time.sleep(0.1)
    yield studio
    studio.live.stop()


def _still_running(studio):
    before = studio.live.sink.sequence
    deadline = time.monotonic() + 20
    while studio.live.sink.sequence <= before:
        assert studio.live.running and time.monotonic() < deadline, studio.live.status()
        time.sleep(0.05)


def test_binds_loopback_unless_told():
    assert Options().host == "127.0.0.1"
    studio = build(Options(port=0))
    studio.start()
    try:
        assert studio.address[0] == "127.0.0.1"
        assert studio.url.startswith("http://127.0.0.1:") and f"?token={studio.token}" in studio.url
    finally:
        studio.close()
    with pytest.raises(VidsynthError, match="--port"):
        build(Options(port=70000))
    from vidsynth.cli import main

    assert main(["studio", "--port", "70000"]) == 2  # one line, no traceback


def test_another_origin_and_a_missing_token_are_refused(running):
    studio = running
    status, body = _request(studio, "POST", "/api/live/stop", {}, {"Origin": "http://evil.example"})
    assert status == 403 and "studio's own page" in body["error"]
    status, body = _request(studio, "POST", "/api/live/stop", {}, {"Sec-Fetch-Site": "cross-site"})
    assert status == 403
    status, body = _request(studio, "POST", "/api/live/stop", {}, token=False)
    assert status == 403 and "token" in body["error"]
    status, body = _request(studio, "GET", "/api/state", token=False)
    assert status == 403
    status, body = _request(studio, "GET", "/api/state", headers={"X-Studio-Token": "wrong"})
    assert status == 403
    _still_running(studio)
    # the page's own origin is accepted
    status, body = _request(studio, "GET", "/api/live/status",
                            headers={"Origin": f"http://127.0.0.1:{studio.address[1]}"})
    assert status == 200 and body["state"] == "running"


def test_a_foreign_host_header_is_refused(running):
    """DNS rebinding: a page served from another name that resolves to 127.0.0.1 sends its own Host."""
    studio = running
    status, body = _request(studio, "GET", "/", headers={"Host": f"evil.example:{studio.address[1]}"})
    assert status == 421
    status, body = _request(studio, "GET", "/api/state", headers={"Host": "evil.example"})
    assert status == 421
    _still_running(studio)


@pytest.mark.parametrize("path", ["/static/../server.py", "/static/%2e%2e/server.py", "/static/..%2fserver.py",
                                  "/static/../../jobs/studio.py", "/../../etc/passwd", "/static//etc/passwd",
                                  "/api/files/..%2fuploads", "/api/files/../server.py", "/api/files/%2e%2e"])
def test_paths_outside_the_studio_folders_are_refused(running, path):
    status, body = _request(running, "GET", path)
    assert status in (400, 404), (path, status)
    assert isinstance(body, dict) and "error" in body  # an answer, never a file's contents


def test_oversized_and_non_picture_uploads_get_an_error_and_the_job_keeps_running(running):
    studio = running
    # over the fixture's 2 MiB limit: refused from the headers, before the body is read
    with socket.create_connection(studio.address, timeout=10) as s:
        s.sendall(f"POST /api/upload?kind=image HTTP/1.1\r\nHost: 127.0.0.1:{studio.address[1]}\r\n"
                  f"X-Studio-Token: {studio.token}\r\nContent-Type: image/png\r\nContent-Length: {3 * 2**20}\r\n\r\n"
                  .encode() + b"\x89PNG\r\n\x1a\n")
        answer = s.makefile("rb").read().decode()
    assert answer.startswith("HTTP/1.1 413") and "at most 2 MiB" in answer
    status, body = _request(studio, "POST", "/api/upload?kind=image", b"#!/bin/sh\nrm -rf /\n",
                            {"Content-Type": "image/png"})
    assert status == 415
    status, body = _request(studio, "POST", "/api/upload?kind=image", b"\x89PNG\r\n\x1a\n" + b"not really",
                            {"Content-Type": "image/png"})
    assert status == 415
    forged = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + (30000).to_bytes(4, "big") * 2 + bytes(9)
    status, body = _request(studio, "POST", "/api/upload?kind=image", forged, {"Content-Type": "image/png"})
    assert status == 413 and "30000x30000" in body["error"]  # refused from its header, never decoded
    status, body = _request(studio, "POST", "/api/upload?kind=image", b"<html></html>", {"Content-Type": "text/html"})
    assert status == 415
    status, body = _request(studio, "POST", "/api/upload?kind=video", b"\x00" * 1000, {"Content-Type": "video/mp4"})
    assert status == 415
    status, body = _request(studio, "POST", "/api/live/start", b"{not json", {"Content-Type": "application/json"})
    assert status == 400
    status, body = _request(studio, "POST", "/api/canvas/render", {"model": "demo:spade", "width": 64, "height": 64,
                                                                  "labels": "AAAA"})
    assert status == 400 and "4096" in body["error"]
    status, body = _request(studio, "POST", "/api/live/start", {"job": "render", "values": {"model": "x"}})
    assert status == 409  # one job at a time: the running one is untouched
    _still_running(studio)


def test_connections_are_capped(tmp_path):
    studio = Studio(StudioConfig(port=0, workdir=str(tmp_path), max_connections=2))
    studio.start()
    held = [socket.create_connection(studio.address, timeout=5) for _ in range(2)]
    try:
        time.sleep(0.2)
        status, _ = _request(studio, "GET", "/")
        assert status == 503
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 5
    while _request(studio, "GET", "/")[0] != 200:  # the slots free once those connections close
        assert time.monotonic() < deadline
        time.sleep(0.1)
    studio.close()
