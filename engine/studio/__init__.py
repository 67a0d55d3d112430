"""``vidsynth studio``: a local web app over the jobs (Live), a paint-to-image canvas and region edits.

- :mod:`.server`: the HTTP server and its JSON API (loopback, token, same-origin, capped uploads);
- :mod:`.live`: one job's pipeline running for the page, with per-stage figures and a recorder;
- :mod:`.canvas`: label map → picture with a SPADE/pix2pixHD model, and the feathered paste-back that
  changes a picture only where its labels changed;
- :mod:`.edit`: the same for every frame of a clip (a class remap) through the offline pipeline;
- ``static/``: the page (plain HTML, CSS and JavaScript; nothing loads from the internet).

>>> from vidsynth.engine.studio import Studio, StudioConfig

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    print(Studio(StudioConfig()).start())   # http://127.0.0.1:PORT/?token=...
"""

from __future__ import annotations

__all__ = ["Studio", "StudioConfig"]


def __getattr__(name):  # the server imports numpy; `import vidsynth.engine.studio` stays cheap
    if name in __all__:
        from . import server

        return getattr(server, name)
    raise AttributeError(name)
