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


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped the work; handled like Ctrl-C everywhere.

    A KeyboardInterrupt, so every ``except KeyboardInterrupt`` that closes outputs cleanly also runs for
    SIGTERM. ``signum`` says which signal (the CLI exits 128 + signum: 130 or 143); ``detail`` says what
    was kept (``"checkpoint saved at iteration 37: runs/x/checkpoints/iter_00000037.pt"``).

    >>> import signal
    >>> Interrupted(signal.SIGTERM).exit_code
    143
    """

    def __init__(self, signum: int = 2, detail: str = ""):
        super().__init__(detail)
        self.signum = int(signum)
        self.detail = detail

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


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


# errno name -> what it means for the user and what to do
_OS_ERRORS = {
    "ENOSPC": ("the disk is full", "free some space or write somewhere else"),
    "EDQUOT": ("the disk quota is used up", "free some space or write somewhere else"),
    "EROFS": ("the file system is read-only", "write somewhere else"),
    "EACCES": ("permission denied", "check the permissions or write somewhere else"),
    "EPERM": ("the operation is not permitted", "check the permissions or write somewhere else"),
    "EISDIR": ("it is a directory", "give a file name"),
    "ENOTDIR": ("a part of the path is a file, not a directory", "check the path"),
    "ENAMETOOLONG": ("the name is too long", "use a shorter path"),
    "EMFILE": ("too many files are open", "raise the limit (ulimit -n) or run fewer jobs at once"),
}


def user_os_error(exc: BaseException, what: str = "") -> VidsynthError | None:
    """A VidsynthError for an OSError the user can fix (full or read-only disk, permissions, a directory
    where a file belongs), or None for any other exception.

    >>> import errno
    >>> str(user_os_error(OSError(errno.ENOSPC, "No space left on device", "out.mp4")))
    "cannot write 'out.mp4': the disk is full (No space left on device); free some space or write somewhere else"
    """
    import errno as errno_names

    if not isinstance(exc, OSError) or exc.errno is None:
        return None
    name = errno_names.errorcode.get(exc.errno)
    if name not in _OS_ERRORS:
        return None
    meaning, todo = _OS_ERRORS[name]
    target = what or (repr(exc.filename) if exc.filename is not None else "the output")
    verb = "cannot write" if name in ("ENOSPC", "EDQUOT", "EROFS") else "cannot use"
    err = VidsynthError(f"{verb} {target}: {meaning} ({exc.strerror or name}); {todo}")
    err.__cause__ = exc
    return err
