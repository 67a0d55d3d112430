"""Models by name: every network registers its class and typed config dataclass here.

A model class registered with :func:`register_model` gets ``model_name`` and ``config_cls`` class
attributes and is built from its config alone (``cls(config)``), so a model file's metadata (name +
config JSON) rebuilds it. It describes itself with ``describe() -> ModelSpec``
(:mod:`vidsynth.networks.spec`): the engine reads that description, never the name. Built-in models are imported lazily on first lookup, so ``import
vidsynth.networks`` stays cheap.

Example:
    >>> from vidsynth.networks.registry import build_model, available_models
    >>> "spade" in available_models()
    True
    >>> model = build_model("unit", {"num_filters": 8, "max_num_filters": 16, "num_res_blocks": 1})
    >>> type(model).__name__, model.config.num_filters
    ('UNIT', 8)
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from typing import Any, Callable

from torch import nn

from vidsynth.errors import VidsynthError

__all__ = [
    "register_model",
    "describe_model",
    "describe_config",
    "available_models",
    "model_class",
    "build_model",
    "config_to_dict",
    "config_from_dict",
]

# name -> module that registers it (imported on first use)
_BUILTIN = {
    "pix2pixhd": "vidsynth.networks.pix2pixhd",
    "spade": "vidsynth.networks.spade",
    "unit": "vidsynth.networks.unit",
    "munit": "vidsynth.networks.munit",
    "funit": "vidsynth.networks.funit",
    "coco_funit": "vidsynth.networks.coco_funit",
    "vid2vid": "vidsynth.networks.vid2vid",
    "fs_vid2vid": "vidsynth.networks.fs_vid2vid",
    "wc_vid2vid": "vidsynth.networks.wc_vid2vid",
}

_MODELS: dict[str, type[nn.Module]] = {}


def register_model(name: str, config_cls: type) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: register ``cls`` under ``name`` with its config dataclass.

    The class must accept its config as the single constructor argument and keep it as ``self.config``.
    """
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"config of model {name!r} must be a dataclass, found {config_cls!r}")

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        cls.model_name = name
        cls.config_cls = config_cls
        _MODELS[name] = cls
        return cls

    return decorate


def describe_model(model: nn.Module):
    """What ``model`` is (a :class:`~vidsynth.networks.spec.ModelSpec`), from its ``describe()``."""
    describe = getattr(model, "describe", None)
    if not callable(describe):
        raise VidsynthError(f"{type(model).__name__} does not describe itself, so vidsynth cannot tell what it reads; "
                            "give the model class a describe() -> ModelSpec method (see vidsynth.networks.spec)")
    return describe()


def describe_config(name: str, config: Any = None):
    """What the model ``name`` with ``config`` is, without building it: ``describe()`` reads only the
    config, so it runs on an instance with nothing but its config set (a model whose description needs
    more is built on the meta device: no memory, no initialisation). A job checks a model file's metadata
    this way before it loads the weights."""
    cls = model_class(name)
    if config is None or isinstance(config, dict):
        config = config_from_dict(cls.config_cls, config or {})
    bare = cls.__new__(cls)
    object.__setattr__(bare, "config", config)  # past nn.Module.__setattr__: no __init__ ran
    try:
        return describe_model(bare)
    except AttributeError:
        import torch

        with torch.device("meta"):
            return describe_model(build_model(name, config))


def available_models() -> list[str]:
    """Names of all built-in and registered models."""
    return sorted(set(_BUILTIN) | set(_MODELS))


def model_class(name: str) -> type[nn.Module]:
    """The model class registered under ``name`` (importing the built-in module if needed)."""
    key = name.lower().replace("-", "_")
    if key not in _MODELS and key in _BUILTIN:
        try:
            importlib.import_module(_BUILTIN[key])
        except ModuleNotFoundError as exc:
            raise VidsynthError(
                f"model {name!r} is known but its module {_BUILTIN[key]} is not available ({exc}); "
                "this vidsynth build does not include it"
            ) from None
    if key not in _MODELS:
        raise VidsynthError(
            f"unknown model {name!r}; expected one of: {', '.join(available_models())}"
        )
    return _MODELS[key]


def build_model(name: str, config: Any = None) -> nn.Module:
    """Build a model by name from its config (a dataclass instance, a dict of fields, or None for defaults)."""
    cls = model_class(name)
    if config is None:
        config = cls.config_cls()
    elif isinstance(config, dict):
        config = config_from_dict(cls.config_cls, config)
    elif not isinstance(config, cls.config_cls):
        raise VidsynthError(
            f"model {name!r} needs a {cls.config_cls.__name__} config, found {type(config).__name__}"
        )
    return cls(config)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON-able data (nested dataclasses become dicts, tuples lists)."""
    return dataclasses.asdict(config)


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a (possibly nested) config dataclass from :func:`config_to_dict` output.

    Unknown fields raise :class:`VidsynthError` naming them.
    """
    if not isinstance(data, dict):
        raise VidsynthError(f"a {cls.__name__} config must be a mapping, found {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise VidsynthError(
            f"unknown {cls.__name__} field(s): {', '.join(unknown)}; expected some of: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _coerce(hints.get(key), value)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any) -> Any:
    """Turn JSON data back into the field's declared type where that matters (dataclasses, tuples)."""
    if value is None or hint is None:
        return value
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return config_from_dict(hint, value)
    origin = typing.get_origin(hint)
    if origin is typing.Union or str(origin) in ("types.UnionType", "<class 'types.UnionType'>"):
        for arg in typing.get_args(hint):
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return config_from_dict(arg, value)
            if typing.get_origin(arg) is tuple and isinstance(value, list):
                return tuple(value)
        return value
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    return value
