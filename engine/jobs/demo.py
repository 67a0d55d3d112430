"""The ``demo`` job: what vidsynth does, on footage and models it ships or makes itself (no download).

Each part of the demo is a :class:`Panel` in :data:`PANELS`: ``extract`` (a photo-pan clip of a person:
input | pose | optical flow) writes ``--output``; each synthesis panel (``street``, ``dance``) renders a
shipped model on the synthetic world it learned (generated | condition | the world's truth) beside it
as ``<output>_<name>.mp4``. A new panel is one entry in :data:`PANELS`.

>>> from vidsynth.engine.jobs.demo import Options, build

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    build(Options(output="out/demo.mp4", only="street")).run()
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Callable

from vidsynth.errors import VidsynthError

from .options import option


@dataclass(frozen=True)
class Panel:
    """One part of the demo: ``build(options, output) -> Pipeline``, and what its video shows."""

    build: Callable
    shows: str


def extraction_panel(options: "Options", output: str):
    """A clip made from a photograph (a slow pan and zoom), its pose and optical flow, side by side."""
    from vidsynth.engine.draw import DrawFlow, DrawPose
    from vidsynth.engine.extract import FlowExtractor, PoseExtractor
    from vidsynth.engine.pipeline import Pipeline
    from vidsynth.engine.stages import SideBySide
    from vidsynth.streams import open_sink
    from vidsynth.streams.synthetic import synthetic_source

    stages = [PoseExtractor(), FlowExtractor(preset="fast"), DrawPose(target="condition"),
              DrawFlow(target="condition"), SideBySide(["pose_map", "flow_map"])]
    source = synthetic_source("photo_pan", n_frames=options.frames, size=options.size)
    return Pipeline(source, stages, open_sink(output), mode="offline", metrics_path=options.metrics,
                    progress=options.progress, seed=0)


def synthesis_panel(model: str, world: str, condition: str, scale: int = 3):
    """A panel that renders the shipped ``model`` on the synthetic ``world`` whose ``condition`` it reads."""

    def build(options: "Options", output: str):
        from vidsynth.engine.draw import DrawLabels, DrawPose
        from vidsynth.engine.generate import generator_stage
        from vidsynth.engine.pipeline import Pipeline
        from vidsynth.engine.render import conditioning_stages, load_generator
        from vidsynth.engine.stages import KeepImage, Resize, SideBySide
        from vidsynth.networks.registry import describe_model
        from vidsynth.streams import open_sink, open_source

        from .models import resolve_model

        net = load_generator(resolve_model(model))
        h, w = net.config.output_size
        source = open_source(f"{world}?width={w}&height={h}&frames={options.frames}")
        draw = DrawLabels(target="condition") if condition == "labels" else DrawPose(target="condition")
        stages = [KeepImage("real"), *conditioning_stages(describe_model(net).main, world), draw,
                  generator_stage(net, fit="resize"), SideBySide([f"{condition}_map", "real"]),
                  Resize(w * 3 * scale, h * scale)]
        return Pipeline(source, stages, open_sink(output), mode="offline", progress=options.progress,
                        metrics_path=options.metrics, seed=0)

    return build


def talk_panel(options: "Options", output: str):
    """The shipped talking head (demo:talk) driven by another synthetic person; see the talk job."""
    from .talk import demo_panel

    return demo_panel(options, output)


# name -> the panel (the order is the order the demo runs them in)
PANELS: dict[str, Panel] = {
    "extract": Panel(extraction_panel, "input | pose | optical flow"),
    "street": Panel(synthesis_panel("demo:street", "synthetic:street", "labels"), "generated | labels | truth"),
    "dance": Panel(synthesis_panel("demo:dance", "synthetic:puppet", "pose"), "generated | pose | truth"),
    "talk": Panel(talk_panel, "generated | driver | retargeted landmarks"),
}

COMMAND = {
    "name": "demo",
    "help": "run the built-in demo: extraction (input | pose | flow) and synthesis (" + ", ".join(
        n for n in PANELS if n != "extract") + ") videos",
    "description": "Make a short clip (no download), extract pose and optical flow, and write input | pose | flow; "
    "then render the project's synthetic worlds with the small trained models vidsynth ships (generated | "
    "condition | truth), beside the first video as <output>_<panel>.mp4 (DEMO_street.mp4, DEMO_dance.mp4, ...).",
}


@dataclass(kw_only=True)
class Options:
    """What the demo takes."""

    output: str = option("out/demo.mp4", help="where to write the video (the other panels are written beside it)",
                         flags=("--output", "-o"))
    frames: int = option(60, help="clip length in frames (60: two seconds)")
    size: int = option(256, help="side of the square extraction clip in pixels")
    only: str | None = option(None, help="run one part of the demo", choices=tuple(PANELS))
    metrics: str | None = option(None, help="write the run's figures as JSON", metavar="JSON")
    progress: bool = option(True, help="no progress bar")

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise VidsynthError(f"expected at least 2 demo frames, found {self.frames}")
        if self.size < 64 or self.size % 2:
            raise VidsynthError(f"expected an even demo size of at least 64 px, found {self.size}")
        if self.only is not None and self.only not in PANELS:
            raise VidsynthError(f"unknown demo part {self.only!r}; expected one of {', '.join(PANELS)}")


def panel_output(options: Options, name: str) -> str:
    """Where the panel ``name`` is written: ``--output`` for the first, ``<output>_<name>.mp4`` beside it."""
    if name == next(iter(PANELS)):
        return options.output
    return os.path.splitext(options.output)[0] + f"_{name}.mp4"


def build(options: Options):
    """The Pipeline of one panel: ``options.only``, or the first (``extract``)."""
    name = options.only or next(iter(PANELS))
    return PANELS[name].build(options, panel_output(options, name))


def run(options: Options) -> int:
    """Run every panel (or ``options.only``) and say where each went."""
    progress = options.progress and sys.stderr.isatty()
    for name, panel in PANELS.items():
        if options.only not in (None, name):
            continue
        out = panel_output(options, name)
        report = panel.build(Options(**{**vars(options), "progress": progress}), out).run()
        print(f"wrote {out}: {report.frames_out} frames ({panel.shows}) at {report.fps:.1f} fps", file=sys.stderr)
    return 0
