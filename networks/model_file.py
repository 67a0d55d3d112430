"""vidsynth model files: one ``.safetensors`` file that alone rebuilds a model.

The tensors are the model's plain (inference) state dict. The safetensors metadata holds:

* ``format`` = ``vidsynth-model`` and ``format_version`` (this module reads versions <= its own);
* ``model``: the registered model name, ``config``: the config dataclass as JSON;
* ``tied``: JSON ``{alias: canonical}`` for tensors shared between modules (e.g. fs-vid2vid's flow
  network used for both the reference and the previous frame), which are stored once;
* ``vidsynth_version`` and any extra string metadata the caller adds;
* optionally, what a job needs at inference (:class:`JobMetadata`): ``job`` (``talk``, ``dance``,
  ``street``), ``job_info`` (JSON: crop convention, sizes, statistics as numbers) and named tensors
  stored beside the weights under ``job/<name>`` (the target's neutral landmarks, background frame(s),
  a thumbnail, body statistics). Files without it load as before; :func:`read_job` returns None for them.

Job metadata API (shared by the talk, dance and street jobs)::

    job = JobMetadata("talk", info={"crop": {"margin": 1.6}},
                      tensors={"neutral_landmarks": torch.zeros(68, 2),
                               "background": torch.zeros(64, 64, 3, dtype=torch.uint8)})
    save_model(model, "me.safetensors", job=job)   # or attach_job("me.safetensors", job) afterwards
    read_job("me.safetensors").tensors["background"]   # None for a file without job metadata

Files are written atomically (a temporary file in the same folder, then a rename), so a crash never
leaves a truncated model file.

Example:
    >>> import tempfile, os
    >>> from vidsynth.networks.registry import build_model
    >>> model = build_model("unit", {"num_filters": 4, "max_num_filters": 8, "num_res_blocks": 1})
    >>> path = os.path.join(tempfile.mkdtemp(), "unit.safetensors")
    >>> save_model(model, path)
    >>> type(load_model(path)).__name__
    'UNIT'
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vidsynth.errors import VidsynthError, require

from .registry import config_from_dict, config_to_dict, model_class

__all__ = ["FORMAT", "FORMAT_VERSION", "JobMetadata", "save_model", "load_model", "read_model_info", "read_job",
           "attach_job"]

FORMAT = "vidsynth-model"
FORMAT_VERSION = 1
JOB_PREFIX = "job/"  # tensors under this prefix belong to the job metadata, not to the model's state


@dataclass
class JobMetadata:
    """What a job needs at inference, carried inside the model file.

    ``job``: the job the model was trained for (``talk``, ``dance``, ``street``). ``info``: JSON-able
    values (the crop convention, the training size, the target's body statistics as numbers...).
    ``tensors``: named tensors (e.g. ``neutral_landmarks`` (68, 2) float, ``background`` (H, W, 3)
    uint8, ``thumbnail`` (h, w, 3) uint8); names are plain identifiers.

    >>> JobMetadata("talk", {"margin": 1.6}).job
    'talk'
    """

    job: str
    info: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    def validate(self) -> None:
        if not isinstance(self.job, str) or not self.job.isidentifier():
            raise VidsynthError(f"a model file's job must be a name such as 'talk'; found {self.job!r}")
        for name, value in self.tensors.items():
            if not (isinstance(name, str) and name.isidentifier() and isinstance(value, torch.Tensor)):
                raise VidsynthError(f"job tensor {name!r} must be a tensor under a plain name; found "
                                    f"{type(value).__name__}")
        try:
            json.dumps(self.info)
        except TypeError as exc:
            raise VidsynthError(f"job info must be JSON values (numbers, strings, lists, dicts): {exc}") from None


def _tied_aliases(state: dict[str, torch.Tensor]) -> dict[str, str]:
    """{alias: canonical} for entries that are the same tensor (same storage, offset, shape, strides)."""
    seen: dict[tuple, str] = {}
    aliases: dict[str, str] = {}
    for key, t in state.items():
        if t.numel() == 0:
            continue
        ident = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)
        if ident in seen:
            aliases[key] = seen[ident]
        else:
            seen[ident] = key
    return aliases


def save_model(model: nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None,
               job: JobMetadata | None = None) -> None:
    """Write ``model`` (a registered model) to ``path`` as a vidsynth model file, atomically; ``job``
    adds the job metadata (see :class:`JobMetadata`)."""
    name = getattr(model, "model_name", None)
    config = getattr(model, "config", None)
    if name is None or config is None:
        raise VidsynthError(f"{type(model).__name__} is not a registered vidsynth model (no model_name/config); "
                            "only models built by vidsynth.networks can be saved as model files")
    state = model.state_dict()
    tied = _tied_aliases(state)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items() if k not in tied}
    from vidsynth import __version__

    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta.update(format=FORMAT, format_version=str(FORMAT_VERSION), model=name,
                config=json.dumps(config_to_dict(config), sort_keys=True), tied=json.dumps(tied, sort_keys=True),
                vidsynth_version=__version__)
    if job is not None:
        _add_job(tensors, meta, job)
    _write(tensors, meta, path)


def _add_job(tensors: dict[str, torch.Tensor], meta: dict[str, str], job: JobMetadata) -> None:
    job.validate()
    meta["job"] = job.job
    meta["job_info"] = json.dumps(job.info, sort_keys=True)
    for name, value in job.tensors.items():
        tensors[JOB_PREFIX + name] = value.detach().contiguous().cpu()


def _write(tensors: dict[str, torch.Tensor], meta: dict[str, str], path) -> None:
    """Save atomically: a temporary file in the same folder, then a rename."""
    st = require("safetensors.torch", "writing model files")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise VidsynthError(f"cannot write {path!r}: folder {folder!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=folder)
    os.close(fd)
    try:
        st.save_file(tensors, tmp, metadata=meta)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; a model file is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_model_info(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a model file: ``model``, ``config`` (dict), ``format_version``, ``tied``, ..."""
    safetensors = require("safetensors", "reading model files")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise VidsynthError(f"model file {path!r} not found")
    try:
        with safetensors.safe_open(path, framework="pt") as fh:
            meta = dict(fh.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        hint = " (an imaginaire .pt checkpoint? convert it first: vidsynth convert)" if path.endswith(".pt") else ""
        raise VidsynthError(f"{path!r} is not a readable .safetensors model file ({exc}){hint}") from None
    if meta.get("format") != FORMAT:
        raise VidsynthError(f"{path!r} is a safetensors file but not a vidsynth model file (metadata format="
                            f"{meta.get('format')!r}, expected {FORMAT!r}); convert it with vidsynth convert")
    try:
        version = int(meta.get("format_version", "0"))
        info: dict[str, Any] = dict(meta)
        info["format_version"] = version
        info["config"] = json.loads(meta["config"])
        info["tied"] = json.loads(meta.get("tied", "{}"))
    except (ValueError, KeyError) as exc:
        raise VidsynthError(f"{path!r} has damaged vidsynth metadata ({exc}); re-create the model file") from None
    if version > FORMAT_VERSION:
        raise VidsynthError(f"{path!r} has model-file format version {version}, this vidsynth reads up to "
                            f"{FORMAT_VERSION}; upgrade vidsynth")
    return info


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model stored in ``path`` (from its metadata alone) and load its weights; eval mode."""
    from safetensors.torch import load_file

    from .imaginaire import load_converted_state

    info = read_model_info(path)
    cls = model_class(info["model"])
    config = config_from_dict(cls.config_cls, info["config"])
    model = cls(config)
    state = {k: v for k, v in load_file(os.fspath(path), device="cpu").items() if not k.startswith(JOB_PREFIX)}
    for alias, canonical in info["tied"].items():
        if canonical in state:
            state[alias] = state[canonical]
    load_converted_state(model, state, source=f"model file {os.fspath(path)!r}")
    return model.to(device).eval()


def read_job(path: str | os.PathLike) -> JobMetadata | None:
    """The job metadata of a model file, or None when it has none (older files, plain models)."""
    info = read_model_info(path)
    if "job" not in info:
        return None
    try:
        job_info = json.loads(info.get("job_info", "{}"))
    except ValueError as exc:
        raise VidsynthError(f"{os.fspath(path)!r} has damaged job metadata ({exc}); re-create the model file") from None
    from safetensors import safe_open

    tensors = {}
    with safe_open(os.fspath(path), framework="pt") as fh:
        for key in fh.keys():
            if key.startswith(JOB_PREFIX):
                tensors[key[len(JOB_PREFIX):]] = fh.get_tensor(key)
    return JobMetadata(info["job"], job_info, tensors)


def attach_job(path: str | os.PathLike, job: JobMetadata) -> None:
    """Rewrite the model file ``path`` with ``job`` as its job metadata (replacing any it had), atomically.

    Works for every vidsynth model file, also those of models registered for training only."""
    from safetensors.torch import load_file

    meta = read_model_info(path)
    tensors = {k: v for k, v in load_file(os.fspath(path)).items() if not k.startswith(JOB_PREFIX)}
    raw = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in meta.items()
           if k not in ("job", "job_info")}
    raw["format_version"] = str(meta["format_version"])
    _add_job(tensors, raw, job)
    _write(tensors, raw, path)
