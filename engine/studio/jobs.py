"""The jobs the studio's Live view can run, and the shipped models it offers.

The list is read from the job layer (:data:`vidsynth.engine.jobs.JOB_MODULES`): every job module with
an ``Options`` dataclass and a ``build(options) -> Pipeline`` function that reads an input is offered,
and its form is generated from the dataclass's fields, so a new job (talk, dance, street) appears in
the studio without a change here. Fields the studio sets itself (where the output goes, progress bars,
the run mode) are not shown.

>>> jobs = available_jobs()  # doctest: +SKIP
>>> sorted(jobs)  # doctest: +SKIP
['extract', 'render']
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import typing
from dataclasses import dataclass
from types import SimpleNamespace

from vidsynth.errors import VidsynthError

# Options the studio decides: the output is the studio's view (and its recorder), never a file or window
# the form names; a live view never shows a progress bar.
STUDIO_SET = ("output", "preview", "progress", "metrics", "resume", "mode", "sidecars", "dataset_out", "world_out")
# Fields that name where frames come from: the form offers the synthetic worlds and cameras for them.
SOURCE_FIELDS = ("input", "driver", "source")
SOURCE_PRESETS = ("synthetic:street?width=128&height=128&frames=100000",
                  "synthetic:puppet?width=128&height=128&frames=100000", "camera:0")
MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "models")


def _job_module_names() -> list[str]:
    try:
        jobs = importlib.import_module("vidsynth.engine.jobs")
    except ImportError:
        return []
    return [n for n in getattr(jobs, "JOB_MODULES", []) if n != "studio"]


def available_jobs() -> dict[str, SimpleNamespace]:
    """name → a job (``Options``, ``build``, ``COMMAND``) that reads frames from an input."""
    found: dict[str, SimpleNamespace] = {}
    for name in _job_module_names():
        try:
            module = importlib.import_module(f"vidsynth.engine.jobs.{name}")
        except ImportError:
            continue  # a job whose optional dependency is missing says so when the CLI runs it
        options, build = getattr(module, "Options", None), getattr(module, "build", None)
        if options is None or build is None or not dataclasses.is_dataclass(options):
            continue
        if not any(f.name in SOURCE_FIELDS for f in dataclasses.fields(options)):
            continue  # the studio's Live view shows jobs that read a stream of frames
        found[name] = SimpleNamespace(name=name, Options=options, build=build,
                                      COMMAND=getattr(module, "COMMAND", {"name": name, "help": ""}))
    if not found:
        found.update(_presets_jobs())
    return found


def describe_fields(options_cls: type) -> list[dict]:
    """The form of a job: one entry per option the user sets (name, type, default, choices, help)."""
    hints = typing.get_type_hints(options_cls)
    fields = []
    for f in dataclasses.fields(options_cls):
        if f.name in STUDIO_SET or not f.metadata.get("cli", True):
            continue
        default = None if f.default is dataclasses.MISSING else f.default
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields.append({
            "name": f.name, "type": _type_name(hints[f.name]), "default": default if _jsonable(default) else None,
            "required": required, "choices": list(f.metadata.get("choices") or []) or None,
            "help": f.metadata.get("help", ""), "group": f.metadata.get("group"),
            "kind": "source" if f.name in SOURCE_FIELDS else "model" if f.name == "model" else
                    "upload" if f.name in ("reference", "style", "examples") else "value",
        })
    return fields


def make_options(job: SimpleNamespace, values: dict, output: str = "null"):
    """The job's options dataclass from the form's values (strings converted to each field's type)."""
    hints = typing.get_type_hints(job.Options)
    names = {f.name for f in dataclasses.fields(job.Options)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise VidsynthError(f"the {job.name} job has no option(s) {', '.join(unknown)}")
    kwargs = {}
    for f in dataclasses.fields(job.Options):
        if f.name in values and values[f.name] not in (None, ""):
            kwargs[f.name] = _convert(f.name, values[f.name], hints[f.name])
    studio = {"output": output, "preview": None, "progress": False, "mode": "live", "resume": False, "metrics": None}
    kwargs.update({k: v for k, v in studio.items() if k in names})
    missing = [f.name for f in dataclasses.fields(job.Options)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in kwargs]
    if missing:
        raise VidsynthError(f"the {job.name} job needs {', '.join(missing)}; fill in the form's field(s)")
    return job.Options(**kwargs)


def shipped_models() -> list[dict]:
    """The model files vidsynth ships (name, path, model, what it reads), for the model pickers."""
    from vidsynth.networks.model_file import read_model_info

    from .canvas import paints_labels

    names = {}
    try:  # the job layer's table of shipped names (demo:street, ...), when it has one
        from vidsynth.engine.jobs.models import SHIPPED

        names = {os.path.basename(entry[0]): (name, entry[1]) for name, entry in SHIPPED.items()}
    except (ImportError, AttributeError, TypeError, IndexError):
        pass
    models = []
    for file in sorted(os.listdir(MODELS_DIR)) if os.path.isdir(MODELS_DIR) else []:
        if not file.endswith(".safetensors"):
            continue
        path = os.path.join(MODELS_DIR, file)
        try:
            info = read_model_info(path)
        except Exception:  # an unreadable file is left out of the picker; loading it names the problem
            continue
        name, text = names.get(file, (path, ""))
        described = _describe(info)
        label = info.get("config", {}).get("label") or {}
        models.append({"name": file.rsplit(".", 1)[0], "spec": name, "path": path, "model": info.get("model", ""),
                       "description": text, "num_classes": label.get("num_classes"),
                       "style_encoder": bool(described and described.style),
                       "canvas": bool(described and paints_labels(described))})
    return models


def _describe(info: dict):
    """A model file's description from its metadata alone (no weights loaded); None when it has none."""
    from vidsynth.networks.registry import describe_config

    try:
        return describe_config(info.get("model", ""), info.get("config", {}))
    except Exception:  # an unknown or broken model stays out of the pickers; loading it names the problem
        return None


def _type_name(hint) -> str:
    if hint is bool:
        return "bool"
    for t in (int, float):
        if hint is t or t in typing.get_args(hint):
            return t.__name__
    if typing.get_origin(hint) in (list, tuple):
        return "list"
    return "str"


def _jsonable(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _convert(name: str, value, hint):
    kind = _type_name(hint)
    try:
        if kind == "bool":
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "list":
            return tuple(value) if isinstance(value, (list, tuple)) else tuple(str(value).split())
    except (TypeError, ValueError):
        raise VidsynthError(f"option {name} expects a{'n' if kind == 'int' else ''} {kind}, found {value!r}") from None
    return str(value)


# -- until the job layer lists its modules: the two pipeline presets as jobs ---------------------------------


def _presets_jobs() -> dict[str, SimpleNamespace]:
    from vidsynth.engine.jobs.options import RunOptions, option

    @dataclass(kw_only=True)
    class RenderOptions(RunOptions):
        model: str = option(help="a model file (.safetensors)")
        input: str = option(help="video file, image folder, camera:N, URL or synthetic:NAME")
        reference: str | None = option(None, help="few-shot vid2vid: a photo of the target")
        device: str = option("cpu", help="cpu or cuda[:N]")
        output: str | None = option(None, help="output video")

    @dataclass(kw_only=True)
    class ExtractOptions(RunOptions):
        input: str = option(help="video file, image folder, camera:N, URL or synthetic:NAME")
        what: str = option("pose", help="what to extract", choices=("pose", "face", "mask", "flow", "labels"))
        output: str | None = option(None, help="output video")

    def build_render(o: RenderOptions):
        from vidsynth.engine.render import render

        return render(_resolve(o.model), o.input, output=o.output, reference=o.reference, device=o.device,
                      seed=o.seed or 0, mode=o.mode, progress=o.progress)

    def build_extract(o: ExtractOptions):
        from vidsynth.engine.presets import extract

        return extract(o.input, what=o.what, output=o.output, mode=o.mode, progress=o.progress)

    return {"render": SimpleNamespace(name="render", Options=RenderOptions, build=build_render,
                                      COMMAND={"name": "render", "help": "render a video through a model"}),
            "extract": SimpleNamespace(name="extract", Options=ExtractOptions, build=build_extract,
                                       COMMAND={"name": "extract", "help": "extract pose, labels, flow, ..."})}


def _resolve(spec: str) -> str:
    """A shipped model's name (``spade_street_128``) or a path."""
    try:
        from vidsynth.engine.jobs.models import resolve_model

        return resolve_model(spec)
    except ImportError:
        pass
    shipped = os.path.join(MODELS_DIR, f"{spec}.safetensors")
    return shipped if not os.path.exists(spec) and os.path.isfile(shipped) else spec


def resolve_model(spec: str) -> str:
    """A model spec from a picker (shipped name, ``demo:NAME`` or a path) → its file path."""
    path = _resolve(spec)
    if not os.path.isfile(path):
        raise VidsynthError(f"model {spec!r} is neither a shipped model ({', '.join(m['name'] for m in shipped_models())}) "
                            "nor an existing .safetensors file; pick one from the list or give a path")
    return path
