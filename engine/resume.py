"""What ``--resume`` needs besides the closed segments: a record of what made the output, and the
stateful stages' snapshots.

Beside an output ``out.mp4`` the pipeline keeps ``.out.mp4.resume/``:

- ``recipe.json``: what made the output (the input's identity, each stage with its settings and the hash
  of any model it runs, and the job's options). ``--resume`` compares it with the command it is given
  and refuses anything else (another ``--what``, another input, another model), naming the difference.
- ``state-<frame>-<stage>.pt``: a stateful stage's snapshot (:meth:`Stage.snapshot`) taken before it
  processed frame ``<frame>``. A resume restores the newest complete set at or before the output's last
  closed frame, re-runs the frames from there to the closed frame unwritten, and continues; the resumed
  output equals an uninterrupted one. A finished run deletes its snapshots and keeps the recipe.

Snapshots are stored as tensors and a JSON tree (loaded with ``torch.load(weights_only=True)``): a state
file runs no code when read.

>>> import tempfile, numpy as np
>>> record = ResumeRecord(tempfile.mkdtemp() + "/out.mp4")
>>> record.save_state(30, 0, {"last": np.arange(3), "count": 4})
>>> record.load_state(30, 0)["count"]
4
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np

from vidsynth.errors import VidsynthError

FORMAT = "vidsynth-resume"
VERSION = 1
_STATE = re.compile(r"^state-(\d{8})-(\d{2})\.pt$")


def resumable_output(output) -> bool:
    """True when ``output`` is a file ``--resume`` can continue (an MP4 written in closed segments).

    >>> resumable_output("out.mp4"), resumable_output("frames/"), resumable_output(None)
    (True, False, False)
    """
    return output is not None and "://" not in str(output) and Path(str(output)).suffix.lower() in (".mp4", ".mov", ".m4v")


# -- snapshots as tensors + JSON -------------------------------------------------------------------


def _encode(value, tensors: dict):
    """``value`` as a JSON-able tree; tensors and arrays go to ``tensors`` (key in the tree)."""
    import torch

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        key = str(len(tensors))
        tensors[key] = value.detach().cpu().clone()
        return {"__tensor__": key}
    if isinstance(value, np.ndarray):
        key = str(len(tensors))
        tensors[key] = torch.from_numpy(np.ascontiguousarray(value).copy())
        return {"__ndarray__": key, "dtype": value.dtype.str}
    if isinstance(value, (list, tuple)):
        return {"__list__" if isinstance(value, list) else "__tuple__": [_encode(v, tensors) for v in value]}
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k, tensors), _encode(v, tensors)] for k, v in value.items()]}
    cls = type(value)
    if cls.__module__.startswith("vidsynth.") and hasattr(value, "__dict__"):
        return {"__object__": f"{cls.__module__}:{cls.__qualname__}", "fields": _encode(dict(vars(value)), tensors)}
    raise VidsynthError(f"a stage's snapshot holds a {cls.__module__}.{cls.__qualname__}, which a resume record "
                        "cannot store; a stage's state is tensors, arrays, numbers and vidsynth objects of them")


def _decode(tree, tensors: dict):
    if not isinstance(tree, dict):
        return tree
    if "__tensor__" in tree:
        return tensors[tree["__tensor__"]]
    if "__ndarray__" in tree:
        return tensors[tree["__ndarray__"]].numpy().astype(np.dtype(tree["dtype"]), copy=False)
    if "__list__" in tree:
        return [_decode(v, tensors) for v in tree["__list__"]]
    if "__tuple__" in tree:
        return tuple(_decode(v, tensors) for v in tree["__tuple__"])
    if "__dict__" in tree:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in tree["__dict__"]}
    if "__object__" in tree:
        module, _, qualname = tree["__object__"].partition(":")
        if not module.startswith("vidsynth."):  # only our own plain state classes are rebuilt
            raise VidsynthError(f"a resume record names {tree['__object__']!r}, which is not a vidsynth class")
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        obj = cls.__new__(cls)  # no __init__: the fields are the state
        obj.__dict__.update(_decode(tree["fields"], tensors))
        return obj
    raise VidsynthError("a resume record's state tree is not one this vidsynth wrote")


# -- identities ------------------------------------------------------------------------------------


def _plain(value):
    """Numbers, strings, tuples and dataclasses of them as JSON values; anything else as None."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)) and len(value) <= 64:
        items = [_plain(v) for v in value]
        return items if all(i is not None or v is None for i, v in zip(items, value)) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return None


def _settings(obj) -> dict:
    """The plain public settings of an object (its ``config`` dataclass and its simple attributes)."""
    found = {}
    for key, value in sorted(vars(obj).items()) if hasattr(obj, "__dict__") else ():
        if key.startswith("_") or key in ("counters", "threads", "lost"):
            continue
        plain = _plain(value)
        if plain is not None:
            found[key] = plain
    return found


def file_identity(path: Path) -> dict:
    """Size and a hash of the first and last MiB: a different file (or an edited one) is told apart
    without reading a long video whole."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
            digest.update(f.read(1 << 20))
    return {"file": os.path.realpath(path), "bytes": size, "sha256_head_tail": digest.hexdigest()}


def source_identity(source) -> dict:
    """What input a source reads: a file's or folder's identity, else its type and settings (synthetic
    worlds, wrappers such as a frame range)."""
    layers = []
    while source is not None:
        entry = {"type": type(source).__name__, "settings": _settings(source)}
        for attr in ("path", "folder"):
            where = getattr(source, attr, None)
            if isinstance(where, (str, Path)) and Path(where).is_file():
                entry = {"type": type(source).__name__, **file_identity(Path(where))}
            elif isinstance(where, (str, Path)) and Path(where).is_dir():
                names = sorted((e.name, e.stat().st_size) for e in os.scandir(where) if e.is_file())
                entry = {"type": type(source).__name__, "folder": os.path.realpath(where),
                         "files": hashlib.sha256(json.dumps(names).encode()).hexdigest()}
        layers.append(entry)
        inner = getattr(source, "source", None)
        source = inner if inner is not source and hasattr(inner, "__iter__") else None
    return {"layers": layers}


def module_hash(module) -> str:
    """A hash of a torch module's weights and buffers (which model a generator runs)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def stage_identity(stage) -> dict:
    """A stage's name, settings and the hash of the model it runs (if any)."""
    import torch

    entry = {"name": stage.name, "settings": _settings(stage)}
    config = getattr(stage, "config", None)
    if dataclasses.is_dataclass(config):
        entry["config"] = _plain(config)
    factory = getattr(stage, "factory", None)  # a stage run in a process of its own
    if factory is not None:
        entry["factory"] = getattr(factory, "__qualname__", str(factory))
        entry["kwargs"] = {k: _plain(v) for k, v in sorted(getattr(stage, "kwargs", {}).items())}
    model = getattr(stage, "model", None)
    if isinstance(model, torch.nn.Module):
        entry["model_sha256"] = module_hash(model)
    return entry


def _differences(old: dict, new: dict) -> list[str]:
    said = []
    if old.get("input") != new.get("input"):
        said.append("the input differs")
    old_names = [s.get("name") for s in old.get("stages", [])]
    new_names = [s.get("name") for s in new.get("stages", [])]
    if old_names != new_names:
        said.append(f"the processing differs (it was {' → '.join(old_names)}; now {' → '.join(new_names)})")
    else:
        for a, b in zip(old.get("stages", []), new.get("stages", [])):
            if a.get("model_sha256") != b.get("model_sha256"):
                said.append(f"the model of {b.get('name')} differs")
            elif a != b:
                said.append(f"the settings of {b.get('name')} differ")
    if old.get("options") != new.get("options"):
        keys = sorted(set(old.get("options") or {}) | set(new.get("options") or {}))
        changed = [k for k in keys if (old.get("options") or {}).get(k) != (new.get("options") or {}).get(k)]
        said.append(f"the options differ ({', '.join(changed)})")
    return said


# -- the record --------------------------------------------------------------------------------------


class ResumeRecord:
    """The resume record of one output file (see the module docstring)."""

    def __init__(self, output: str | os.PathLike):
        self.output = Path(output)
        self.folder = self.output.with_name(f".{self.output.name}.resume")

    @property
    def recipe_path(self) -> Path:
        return self.folder / "recipe.json"

    def read_recipe(self) -> dict | None:
        try:
            return json.loads(self.recipe_path.read_text())
        except (OSError, ValueError):
            return None

    def start(self, recipe: dict) -> None:
        """A fresh run: forget an older run's snapshots and write this run's recipe."""
        if self.folder.exists():
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write(self.recipe_path, lambda tmp: Path(tmp).write_text(
            json.dumps({"format": FORMAT, "version": VERSION, **recipe}, indent=1)))

    def check(self, recipe: dict) -> None:
        """Refuse to continue an output that another command (input, processing, model, options) made."""
        old = self.read_recipe()
        if old is None and not self._output_exists():
            return  # nothing written yet: the run starts from the first frame
        if old is None:
            raise VidsynthError(
                f"--resume: {self.output} has no resume record ({self.folder.name}/recipe.json), so vidsynth cannot "
                "check that this command made it; it was written by another program or an older vidsynth, or the "
                "record was removed. Run without --resume to write it again")
        if old.get("format") != FORMAT or int(old.get("version", 0)) > VERSION:
            raise VidsynthError(f"--resume: the resume record of {self.output} is not one this vidsynth reads; "
                                "run without --resume to write the output again")
        said = _differences(old, recipe)
        if said:
            raise VidsynthError(f"--resume: {self.output} was made by another command: {'; '.join(said)}. Resume "
                                "with the command that made it, or run without --resume to write it again")

    def _output_exists(self) -> bool:
        from vidsynth.streams.outputs import partial_path

        return self.output.exists() or partial_path(self.output).exists()

    def _write(self, path: Path, write) -> None:
        tmp = path.with_name(f"tmp-{os.getpid()}-{path.name}")
        try:
            write(str(tmp))
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def state_path(self, index: int, stage: int) -> Path:
        return self.folder / f"state-{index:08d}-{stage:02d}.pt"

    def save_state(self, index: int, stage: int, state: dict) -> None:
        """Store stage ``stage``'s snapshot taken before frame ``index`` (atomically)."""
        import torch

        tensors: dict = {}
        tree = json.dumps(_encode(state, tensors))
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write(self.state_path(index, stage), lambda tmp: torch.save({"tree": tree, "tensors": tensors}, tmp))

    def load_state(self, index: int, stage: int) -> dict:
        import torch

        path = self.state_path(index, stage)
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            return _decode(json.loads(payload["tree"]), payload["tensors"])
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise VidsynthError(f"--resume: the snapshot {path} cannot be read ({exc}); run without --resume to "
                                "write the output again") from None

    def snapshot_points(self, stages: list[int]) -> list[int]:
        """Frame indices where every one of ``stages`` has a snapshot, oldest first."""
        found: dict[int, set] = {}
        if self.folder.is_dir():
            for name in os.listdir(self.folder):
                match = _STATE.match(name)
                if match:
                    found.setdefault(int(match.group(1)), set()).add(int(match.group(2)))
        return sorted(i for i, have in found.items() if set(stages) <= have)

    def prune(self, keep_from: int) -> None:
        """Delete snapshots taken before frame ``keep_from`` (the output holds later closed frames)."""
        if not self.folder.is_dir():
            return
        for name in os.listdir(self.folder):
            match = _STATE.match(name)
            if match and int(match.group(1)) < keep_from:
                with contextlib.suppress(OSError):
                    (self.folder / name).unlink()

    def finish(self) -> None:
        """The output is complete: its snapshots are no longer needed (the recipe stays, to check a resume)."""
        self.prune(1 << 62)
