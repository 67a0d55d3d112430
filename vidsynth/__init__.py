"""vidsynth: a video-first streaming synthesis engine.

The sub-packages live at the top level of the source tree (``engine/``, ``networks/``, ``geometry/``,
``streams/``, ``training/``); setup.py installs them as ``vidsynth.engine`` and so on. Run from a
checkout, the same names resolve through the ``__path__`` extension below. Importing ``vidsynth`` is
cheap: the public names are loaded on first use.
"""

from __future__ import annotations

import importlib
import os

__version__ = "0.1.0"

_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isfile(os.path.join(_root, "setup.py")) and os.path.isdir(os.path.join(_root, "engine")):
    __path__.append(_root)  # type: ignore[name-defined]  # a source checkout: vidsynth.engine is ./engine

# public name -> module that defines it
_LAZY = {
    "VidsynthError": "vidsynth.errors",
    "Frame": "vidsynth.engine",
    "Stage": "vidsynth.engine",
    "Pipeline": "vidsynth.engine",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidsynth' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
