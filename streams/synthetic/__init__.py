"""Synthetic sources, found by name: ``open_source("synthetic:NAME")``.

A module ``streams/synthetic/NAME.py`` registers its factory with :func:`register_synthetic` when it
is imported; :func:`synthetic_source` imports that module on first use, so adding a world is adding a
file. ``clip`` (a stamped test clip) is built in; ``street``, ``puppet`` and ``face`` (a talking head) live
beside it.

>>> from vidsynth.streams.synthetic import synthetic_source
>>> src = synthetic_source("clip", n_frames=3, width=64, height=48)
"""

from __future__ import annotations

import dataclasses
import importlib
from fractions import Fraction
from typing import Callable, Iterator

from vidsynth.errors import VidsynthError

from ..base import Source, StreamInfo
from ..frame import Frame

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


class WorldSource(Source):
    """A procedural world as a stream source: subclasses name the world class (built from ``config``, with
    ``len()`` and ``frame(index) -> dict``), its config class and the frame dict's keys that become
    conditions; the dict's ``image`` is the picture."""

    name: str = "world"
    config_cls: type
    world_cls: type
    condition_keys: tuple[str, ...] = ()

    def __init__(self, config=None, **overrides):
        config = config or self.config_cls()
        self.config = dataclasses.replace(config, **overrides) if overrides else config
        self.world = self.world_cls(self.config)
        self._start = 0

    def open(self) -> StreamInfo:
        cfg = self.config
        rate = Fraction(cfg.fps)
        return StreamInfo(width=cfg.width, height=cfg.height, rate=rate, time_base=1 / rate,
                          frame_count=len(self.world), live=False)

    def seek(self, index: int) -> None:
        if not 0 <= index <= len(self.world):
            raise VidsynthError(f"{self.name}: expected a seek index in [0, {len(self.world)}], found {index}")
        self._start = index

    def __iter__(self) -> Iterator[Frame]:
        tb = Fraction(1, self.config.fps)
        start = self._start
        for index in range(start, len(self.world)):
            f = self.world.frame(index)
            yield Frame(index=index, pts=index, time_base=tb, image=f["image"],
                        conditions={k: f[k] for k in self.condition_keys},
                        discontinuity=index == start, duration=1)


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
