"""The one user-facing exception type, and the lazy import of optional packages.

Every error a user can cause (a bad path, an unreadable video, a wrong label count, a missing optional
package, a wrong checkpoint) is raised as :class:`VidsynthError` with a message that says what was
expected, what was found and what to do. The CLI prints it on one line and exits non-zero.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class VidsynthError(Exception):
    """An error the user can fix; its message is printed without a traceback."""

    exit_code = 2


class MissingDependency(VidsynthError):
    """An optional package is not installed."""


# import name -> (pip requirement, setup.py extra that brings it)
_OPTIONAL = {
    "av": ("av", "video"),
    "cv2": ("opencv-contrib-python", "video"),
    "mediapipe": ("mediapipe==0.10.21", "extract"),
    "open3d": ("open3d-cpu", "geometry"),
    "onnx": ("onnx==1.17.*", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "tensorrt": ("tensorrt", "tensorrt"),
    "safetensors": ("safetensors", "core"),
    "yaml": ("pyyaml", "core"),
}


def require(module: str, purpose: str = "") -> ModuleType:
    """Import an optional package, or raise :class:`MissingDependency` naming how to install it.

    >>> np = require("numpy")
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        pip_name, extra = _OPTIONAL.get(top, (top, None))
        hint = f"pip install '{pip_name}'"
        if extra:
            hint += f" (or pip install 'vidsynth[{extra}]')"
        why = f" for {purpose}" if purpose else ""
        raise MissingDependency(
            f"the optional package '{top}' is needed{why} but could not be imported ({exc}); install it: {hint}"
        ) from None
