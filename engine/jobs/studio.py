"""The ``studio`` job: a local web app over the other jobs, a paint-to-image canvas and region edits.

Not a pipeline: :func:`run` serves the page until Ctrl-C (the CLI calls it); :func:`build` returns the
:class:`~vidsynth.engine.studio.Studio` for the Python API (``studio.start()`` serves in the background).

>>> from vidsynth.engine.jobs.studio import Options, build

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    studio = build(Options(port=8765)); print(studio.start())
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from dataclasses import dataclass

from vidsynth.errors import VidsynthError

from .options import option

log = logging.getLogger(__name__)

COMMAND = {
    "name": "studio",
    "help": "a local web app: live jobs side by side with figures, a paint-to-image canvas, region edits of photos and clips",
    "description": "Serve the studio on 127.0.0.1 (the printed URL carries an access token): run a job live on a "
    "camera, file or synthetic source and see input | condition | output with per-stage figures, record to MP4; "
    "paint a label map that a SPADE or pix2pixHD model renders as you paint; edit a real photo or clip by "
    "changing its labels, re-rendering only the changed region.",
}


@dataclass(kw_only=True)
class Options:
    """What ``vidsynth studio`` takes."""

    host: str = option("127.0.0.1", help="address to serve on; anything but loopback lets other machines in "
                       "(they still need the token)")
    port: int = option(8765, help="port to serve on (0: a free one)")
    workdir: str | None = option(None, help="the studio's folder for uploads, recordings and exports (default: a "
                                 "new temporary folder)", metavar="DIR")
    device: str = option("cpu", help="where the canvas and edits run their models: cpu or cuda[:N]")
    max_upload_mb: float = option(32.0, help="the largest upload accepted (MiB)", metavar="MIB")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build(options: Options):
    """The studio server (not started); options are checked here."""
    from vidsynth.engine.studio.server import Studio, StudioConfig

    if not 0 <= int(options.port) <= 65535:
        raise VidsynthError(f"--port must be between 0 and 65535, found {options.port}")
    if options.max_upload_mb <= 0:
        raise VidsynthError(f"--max-upload-mb must be above 0, found {options.max_upload_mb:g}")
    from vidsynth.engine.devices import check_device

    check_device(options.device)
    return Studio(StudioConfig(host=options.host, port=options.port, workdir=options.workdir, device=options.device,
                               max_upload_mb=options.max_upload_mb))


def run(options: Options) -> int:
    """Serve until Ctrl-C."""
    studio = build(options)
    url = studio.start()
    if not _is_loopback(options.host):
        print(f"vidsynth: warning: the studio listens on {options.host}: other machines can reach it (anyone with "
              "the token can run jobs and read its folder); use the default 127.0.0.1 unless you mean it",
              file=sys.stderr)
    print(f"vidsynth studio: open {url}", file=sys.stderr)
    print(f"(files in {studio.workdir}; Ctrl-C stops)", file=sys.stderr)
    try:
        studio.run()
    except KeyboardInterrupt:
        print("vidsynth studio: stopped", file=sys.stderr)
    return 0
