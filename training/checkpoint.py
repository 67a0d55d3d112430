"""Training checkpoints: everything an exact resume needs, in a versioned file written atomically.

A training checkpoint is NOT a model file: it holds the generator, discriminator and EMA weights, the
optimizers, the LR schedulers, the AMP scaler, every rank's RNG states (torch, CUDA, numpy, python),
the data position (epoch and batch within it) and the iteration. ``out/checkpoints/iter_00001000.pt``
files, the newest named in ``out/checkpoints/latest`` (both replaced by rename, so a kill at any
moment leaves the previous good checkpoint intact). The final model file is exported separately
(networks' model file format).

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> p = save_checkpoint(d, {"iteration": 3, "weights": {}})
>>> load_checkpoint(d)["iteration"]
3
"""

from __future__ import annotations

import os
import random
import tempfile

import numpy as np
import torch

from vidsynth.errors import VidsynthError

FORMAT = "vidsynth-training-checkpoint"
VERSION = 1


def atomic_write(path: str, write) -> None:
    """Write a file through ``write(tmp_path)`` then rename it into place (same folder, same filesystem)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="tmp-", suffix="-" + os.path.basename(path), dir=folder)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def rng_state() -> dict:
    """This process's RNG states as tensors and plain types (loadable with ``weights_only=True``)."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": _py_state_to_plain(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    random.setstate(_py_state_from_plain(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _py_state_to_plain(state):
    version, internal, gauss = state
    return {"version": version, "internal": list(internal), "gauss": gauss}


def _py_state_from_plain(d):
    return (d["version"], tuple(d["internal"]), d["gauss"])


def checkpoint_dir(out: str) -> str:
    return os.path.join(out, "checkpoints")


def save_checkpoint(out: str, payload: dict, keep: int = 3) -> str:
    """Write ``payload`` (which must hold ``iteration``) as the newest checkpoint of run folder ``out``.

    Keeps the ``keep`` newest files; returns the path written.
    """
    folder = checkpoint_dir(out)
    os.makedirs(folder, exist_ok=True)
    payload = dict(payload, format=FORMAT, version=VERSION)
    name = f"iter_{int(payload['iteration']):08d}.pt"
    path = os.path.join(folder, name)
    atomic_write(path, lambda tmp: torch.save(payload, tmp))
    atomic_write(os.path.join(folder, "latest"), lambda tmp: open(tmp, "w").write(name + "\n"))
    if keep > 0:
        old = sorted(f for f in os.listdir(folder) if f.startswith("iter_") and f.endswith(".pt"))
        for f in old[:-keep]:
            if f != name:
                os.remove(os.path.join(folder, f))
    return path


def latest_checkpoint(out: str) -> str | None:
    """The newest complete checkpoint of run folder ``out`` (or ``out`` itself when it is a file)."""
    if os.path.isfile(out):
        return out
    folder = checkpoint_dir(out)
    pointer = os.path.join(folder, "latest")
    if os.path.isfile(pointer):
        name = open(pointer).read().strip()
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    if os.path.isdir(folder):
        files = sorted(f for f in os.listdir(folder) if f.startswith("iter_") and f.endswith(".pt"))
        if files:
            return os.path.join(folder, files[-1])
    return None


def load_checkpoint(out: str) -> dict:
    """Load the newest checkpoint of a run folder (or a checkpoint file), checking its format and version."""
    path = latest_checkpoint(out)
    if path is None:
        raise VidsynthError(
            f"no training checkpoint found in {out!r} (expected {checkpoint_dir(out)}/iter_*.pt); resume from "
            "the --out folder of a run that wrote at least one checkpoint"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
        raise VidsynthError(f"the training checkpoint {path!r} cannot be read ({exc}); delete it to fall back to an older one") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise VidsynthError(
            f"{path!r} is not a vidsynth training checkpoint (found format {payload.get('format') if isinstance(payload, dict) else None!r}); "
            "to start from a model file use --init instead of --resume"
        )
    if payload.get("version", 0) > VERSION:
        raise VidsynthError(f"{path!r} has checkpoint version {payload['version']}; this vidsynth reads up to {VERSION}; upgrade vidsynth")
    payload["path"] = path
    return payload
