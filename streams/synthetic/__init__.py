"""Synthetic sources, found by name: ``open_source("synthetic:NAME")``.

A module ``streams/synthetic/NAME.py`` registers its factory with :func:`register_synthetic` when it
is imported; :func:`synthetic_source` imports that module on first use, so adding a world is adding a
file. ``clip`` (a stamped test clip) is built in; ``street``, ``puppet`` and ``face`` (a talking head) live
beside it.

>>> from vidsynth.streams.synthetic import synthetic_source
>>> src = synthetic_source("clip", n_frames=3, width=64, height=48)
"""

from __future__ import annotations

import importlib
from typing import Callable

from vidsynth.errors import VidsynthError

from ..base import Source

_FACTORIES: dict[str, Callable[..., Source]] = {}


def register_synthetic(name: str, factory: Callable[..., Source]) -> None:
    """Make ``synthetic:<name>`` open ``factory(**options)``."""
    _FACTORIES[name] = factory


def config_factory(name: str, config_cls: type, source_cls: type) -> Callable[..., Source]:
    """A factory ``source_cls(config_cls(**options))`` that names unknown options and accepts the common
    ``n_frames`` for a config whose length field is ``frames``."""
    fields = set(config_cls.__dataclass_fields__)

    def factory(**options) -> Source:
        if "n_frames" in options and "frames" in fields:
            options["frames"] = options.pop("n_frames")
        unknown = sorted(set(options) - fields)
        if unknown:
            raise VidsynthError(f"synthetic:{name}: expected options among {sorted(fields)}, found {unknown}; "
                                "drop or rename them")
        return source_cls(config_cls(**options))

    return factory


def synthetic_names() -> list[str]:
    """Registered names, plus those whose module sits in this folder."""
    import pkgutil

    found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    return sorted(found | set(_FACTORIES))


def synthetic_source(name: str, **options) -> Source:
    """Build the synthetic source registered as ``name`` with keyword options."""
    if name not in _FACTORIES:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    if name not in _FACTORIES:
        raise VidsynthError(
            f"expected a synthetic source name ({', '.join(synthetic_names())}), found 'synthetic:{name}'; "
            "pick one of those"
        )
    try:
        return _FACTORIES[name](**options)
    except TypeError as exc:
        raise VidsynthError(f"synthetic:{name} does not take these options {sorted(options)}: {exc}") from None
