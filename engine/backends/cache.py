"""Where exported graphs and built engines are kept, and the keys that name them.

A key hashes everything the file depends on, so a changed weight, shape, precision, GPU or library
version builds a new file instead of silently reusing a stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from vidsynth.errors import VidsynthError


def default_cache_dir() -> Path:
    """``$VIDSYNTH_CACHE/backends``, else ``$XDG_CACHE_HOME/vidsynth/backends``, else ``~/.cache/...``."""
    if os.environ.get("VIDSYNTH_CACHE"):
        return Path(os.environ["VIDSYNTH_CACHE"]) / "backends"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vidsynth" / "backends"


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VidsynthError(
            f"the backend cache folder {str(path)!r} must be writable, but it could not be created ({exc}); "
            "pass cache_dir= a writable folder or set VIDSYNTH_CACHE"
        ) from None
    return path


def module_fingerprint(module: nn.Module) -> str:
    """A hash of a module's architecture (its printed structure) and of every parameter and buffer.

    >>> import torch
    >>> a = torch.nn.Linear(2, 2)
    >>> module_fingerprint(a) == module_fingerprint(a)
    True
    """
    h = hashlib.sha256()
    h.update(f"{type(module).__module__}.{type(module).__qualname__}\n{module!r}\n".encode())
    tensors = dict(module.named_parameters(remove_duplicate=False))
    tensors.update(module.named_buffers(remove_duplicate=False))
    for name in sorted(tensors):
        t = tensors[name].detach()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}\n".encode())
        data = t.to("cpu").contiguous()
        if data.dtype == torch.bfloat16:  # numpy has no bf16: hash the raw 16-bit words
            data = data.view(torch.int16)
        h.update(data.numpy().tobytes())
    return h.hexdigest()


def cache_key(parts: Mapping[str, object]) -> str:
    """A short stable hash of named key parts (anything JSON can print)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so that a reader never sees half of it (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
