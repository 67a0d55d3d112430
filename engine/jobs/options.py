"""Typed job options: one dataclass per job is the single definition of its options.

The CLI builds its argparse parser from the dataclass (:func:`add_arguments`), turns the parsed
namespace back into the dataclass (:func:`from_args`), and the docs' option tables are generated from
the same parser. The Python API and the studio build the dataclass directly. A field declares itself
with :func:`option`::

    @dataclass(kw_only=True)
    class TalkOptions(RunOptions):
        model: str = option(help="a model file or a shipped name (demo:talk)", flags=("--model", "-m"))
        driver: str = option(help="driver video, camera:N or URL", flags=("--driver", "-d"))
        retarget: str = option("relative", help="...", choices=("relative", "absolute"))

A field with no default is a required option. A ``bool`` field whose default is False becomes a
``store_true`` flag; one whose default is True becomes ``--no-NAME`` (or ``flags``) storing False; a
``bool | None`` field defaulting to None becomes the pair ``--NAME`` / ``--no-NAME`` (None: "decide for
me"). ``const`` makes the value optional on the command line (``--preview`` alone means ``window``);
``aliases`` adds flags that set one value (``--live`` for ``--mode live``).

>>> import argparse
>>> from dataclasses import dataclass
>>> @dataclass(kw_only=True)
... class Demo:
...     model: str = option(help="model file", flags=("--model", "-m"))
...     seed: int = option(0, help="random seed")
...     fast: bool = option(False, help="go fast")
>>> p = argparse.ArgumentParser()
>>> add_arguments(p, Demo)
>>> from_args(Demo, p.parse_args(["-m", "x.safetensors", "--fast"]))
Demo(model='x.safetensors', seed=0, fast=True)
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import MISSING, dataclass
from typing import Any

from vidsynth.errors import VidsynthError

__all__ = ["option", "add_arguments", "from_args", "option_table", "update_option_tables", "commands", "RunOptions"]


def option(default: Any = MISSING, *, help: str, flags: tuple[str, ...] = (), choices: tuple | None = None,
           metavar: str | None = None, group: str | None = None, cli: bool = True,
           default_factory: Any = MISSING, const: Any = MISSING, aliases: dict[str, Any] | None = None) -> Any:
    """A dataclass field that is also a command-line option (``cli=False``: Python API only)."""
    meta = {"help": help, "flags": tuple(flags), "choices": choices, "metavar": metavar, "group": group, "cli": cli,
            "const": const, "aliases": dict(aliases or {})}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _flags(f: dataclasses.Field) -> tuple[str, ...]:
    return f.metadata.get("flags") or ("--" + f.name.replace("_", "-"),)


def _scalar_type(hint: Any):
    """int / float / str from a field's annotation (``X | None`` → X); None for anything else."""
    if hint in (int, float, str):
        return hint
    for arg in typing.get_args(hint):
        if arg in (int, float, str):
            return arg
    return None


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Declare every CLI field of the options dataclass ``cls`` on ``parser``."""
    hints = typing.get_type_hints(cls)
    groups: dict[str, Any] = {}
    # the job's own options first, the ones every run shares (group "run") after them
    for f in sorted(dataclasses.fields(cls), key=lambda f: f.metadata.get("group") == "run"):
        if not f.metadata.get("cli", False):
            continue
        target = parser
        if f.metadata.get("group"):
            name = f.metadata["group"]
            target = groups.setdefault(name, parser.add_argument_group(name))
        kw: dict[str, Any] = {"dest": f.name, "help": f.metadata["help"]}
        hint = hints[f.name]
        required = f.default is MISSING and f.default_factory is MISSING
        if set(typing.get_args(hint)) == {bool, type(None)} and f.default is None:
            # argparse prints a mutually exclusive group inside an argument group twice: only outside one
            pair = target.add_mutually_exclusive_group() if target is parser else target
            name = f.name.replace("_", "-")
            pair.add_argument(*_flags(f), action="store_const", const=True, **kw)
            pair.add_argument(f"--no-{name}", dest=f.name, action="store_const", const=False,
                              help=f"the opposite of --{name}")
            parser.set_defaults(**{f.name: None})
            continue
        if hint is bool or hint == "bool":
            if f.default is True:
                flags = f.metadata.get("flags") or ("--no-" + f.name.replace("_", "-"),)
                target.add_argument(*flags, action="store_false", **kw)
            else:
                target.add_argument(*_flags(f), action="store_true", **kw)
            continue
        if typing.get_origin(hint) in (list, tuple) or hint in (list, tuple):
            kw["nargs"] = "+"
            item = typing.get_args(hint)[0] if typing.get_args(hint) else str
            kw["type"] = item if item in (int, float, str) else str
        else:
            scalar = _scalar_type(hint)
            if scalar is not None and scalar is not str:
                kw["type"] = scalar
        if f.metadata.get("choices"):
            kw["choices"] = f.metadata["choices"]
        if f.metadata.get("metavar"):
            kw["metavar"] = f.metadata["metavar"]
        if f.metadata.get("const", MISSING) is not MISSING:
            kw.update(nargs="?", const=f.metadata["const"])
        if required:
            kw["required"] = True
        else:
            kw["default"] = f.default if f.default is not MISSING else None
        aliases = f.metadata.get("aliases") or {}
        if aliases and target is parser:  # the option and its one-value aliases exclude each other
            target = target.add_mutually_exclusive_group()
        target.add_argument(*_flags(f), **kw)
        for flag, value in aliases.items():
            target.add_argument(flag, dest=f.name, action="store_const", const=value,
                                help=f"the same as {_flags(f)[0]} {value}")


def from_args(cls: type, args: argparse.Namespace, **overrides: Any):
    """The options dataclass from a parsed namespace (fields the CLI does not carry keep their defaults)."""
    values = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli", False) and hasattr(args, f.name):
            value = getattr(args, f.name)
            if value is None and f.default_factory is not MISSING:
                continue
            values[f.name] = tuple(value) if isinstance(value, list) and "tuple" in str(f.type) else value
    values.update(overrides)
    return cls(**values)


def option_table(parser: argparse.ArgumentParser) -> str:
    """Markdown tables of a parser's options (flags, default, help), one per argument group, for the CLI
    reference in docs/."""
    out = []
    for group in parser._action_groups:  # argparse keeps no public list of its groups and actions
        rows = [_option_row(a) for a in group._group_actions
                if not isinstance(a, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction))]
        if not rows:
            continue
        if group.title not in ("options", "optional arguments", "positional arguments"):
            out.append(f"*{group.title}*\n")
        out.append("\n".join(["| option | default | what it does |", "|---|---|---|", *rows]) + "\n")
    return "\n".join(out).rstrip("\n")


def _option_row(action: argparse.Action) -> str:
    flags = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.dest}`"
    if action.metavar and action.option_strings:
        flags += f" {action.metavar}"
    shown = ""
    if isinstance(action, argparse._StoreAction) and action.default not in (None, False, argparse.SUPPRESS):
        shown = f"`{action.default}`"
    if action.required:
        shown = "required"
    text = " ".join((action.help or "").split()).replace("|", "\\|")
    if action.choices and not isinstance(action.choices, dict):
        text += " (" + " \\| ".join(str(c) for c in action.choices) + ")"
    if action.nargs == "?" and action.const is not None:
        text += f"; alone: `{action.const}`"
    return f"| {flags} | {shown} | {text} |"


TABLE_START = "<!-- options: {command} -->"  # what lies between the markers is generated: scripts/cli_docs.py
TABLE_END = "<!-- end options: {command} -->"


def commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command of ``parser`` by its name (``render``, ``world export``, ...)."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[prefix + name] = sub
                found.update(commands(sub, prefix + name + " "))
    return found


def update_option_tables(text: str, parser: argparse.ArgumentParser) -> tuple[str, list[str]]:
    """``text`` (docs/cli.md) with each command's generated option table put between its markers; and the
    commands that have no markers yet (their tables are appended at the end under a heading)."""
    missing = []
    for command, sub in commands(parser).items():
        if not any(not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) for a in sub._actions):
            continue  # a command that is only a group of subcommands
        start, end = TABLE_START.format(command=command), TABLE_END.format(command=command)
        block = f"{start}\n{option_table(sub)}\n{end}"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            text = head + block + rest.split(end, 1)[1]
        else:
            missing.append(command)
            text = text.rstrip("\n") + f"\n\n### `vidsynth {command}` options\n\n{block}\n"
    return text, missing


@dataclass(kw_only=True)
class RunOptions:
    """What every command that runs a pipeline shares."""

    metrics: str | None = option(None, help="write the run's figures (latency, fps, drops, memory) as JSON",
                                 metavar="JSON", group="run")
    seed: int | None = option(None, help="seed every random number generator, for repeatable runs", group="run")
    resume: bool = option(False, help="continue an interrupted render of --output from its last closed segment",
                          group="run")
    mode: str = option("auto", help="live: latest-frame-wins (default for cameras and streams); offline: lossless "
                       "and in order (default for files)", choices=("auto", "live", "offline"), group="run",
                       aliases={"--live": "live", "--offline": "offline"})
    input_timeout: float = option(15.0, help="an input that sends no frame for this long is an error, not a hang "
                                  "(seconds)", metavar="SECONDS", group="run")
    progress: bool = option(True, help="no progress bar", group="run")
    overwrite: bool = option(False, help="replace an existing output (default: refuse, naming the file)",
                             flags=("-y", "--overwrite"), group="run")
    start: float | None = option(None, help="begin this many seconds after the input's first frame (as FFmpeg's -ss)",
                                 metavar="SECONDS", group="run")
    duration: float | None = option(None, help="process this many seconds of the input (as FFmpeg's -t)",
                                    metavar="SECONDS", group="run")
    frames: int | None = option(None, help="process at most this many frames of the input", metavar="N",
                                group="run")
    realtime: bool | None = option(None, help="read a file at the pace of its timestamps, as a camera would (as FFmpeg's "
                                   "-re); the default for a file in a live run", group="run")
    strict: bool = option(False, help="stop at the first corrupt packet of a video input (default: skip it, and "
                          "count and name the frames lost)", group="run")

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "live", "offline"):
            raise VidsynthError(f"expected the mode to be auto, live or offline, found {self.mode!r}")
        if not self.input_timeout > 0:
            raise VidsynthError(f"expected --input-timeout above 0 seconds, found {self.input_timeout:g}")
        if self.metrics:  # a bad --metrics path is refused now, not after the run
            from vidsynth.engine.metrics import check_metrics_path

            check_metrics_path(self.metrics)
