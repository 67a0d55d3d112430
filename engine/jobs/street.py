"""The ``street`` job: label videos (segmentation maps) rendered into street scenes, one or thousands.

One input: ``vidsynth street --model m.safetensors --input labels.mkv --output out.mp4`` (a label video
or a folder of label images; ``--depth``/``--cameras`` for a world-consistent model). Many:
``--inputs folder|list.txt --output-dir out/`` renders each input to ``out/<name>.mp4``; under
``torchrun --nnodes N --nproc_per_node G vidsynth street ...`` each process takes its share
(:mod:`vidsynth.engine.jobs.shard`), skips outputs that are finished and resumes partial ones, so the
same command run again after a crash finishes the work without redoing any of it.

The model is read once per process and reused for every input of its share.

>>> from vidsynth.engine.jobs.street import Options
>>> options = Options(model="demo:street", inputs="labels/", output_dir="out/")
>>> options.fit
'resize'
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from dataclasses import dataclass

from vidsynth.errors import VidsynthError

from .options import RunOptions, option

log = logging.getLogger(__name__)

COMMAND = {
    "name": "street",
    "help": "render label videos into street scenes: one, or a folder of them spread over torchrun's processes",
    "description": "Render a label video (or a folder of label images) through a street model (vid2vid, "
    "wc-vid2vid with --depth, SPADE or pix2pixHD per frame). With --inputs and --output-dir, every input gets its "
    "own output; under torchrun each process renders its share, skips finished outputs and resumes partial ones.",
}


@dataclass(kw_only=True)
class Options(RunOptions):
    """What a street render takes; the CLI's ``vidsynth street`` options are these fields."""

    model: str = option(help="a street model file or a shipped name (demo:street, demo:spade)",
                        flags=("--model", "-m"))
    input: str | None = option(None, help="one label video or folder of label images", flags=("--input", "-i"))
    output: str | None = option(None, help="the output video for --input", flags=("--output", "-o"))
    inputs: str | None = option(None, help="many inputs: a folder of label videos / label-image folders, or a text "
                                "file listing them", group="many inputs")
    output_dir: str | None = option(None, help="with --inputs: where each input's <name>.mp4 goes",
                                    group="many inputs")
    preview: str | None = option(None, help="show the result live (one input)", choices=("window", "http"),
                                 const="window")
    depth: str | None = option(None, help="world-consistent models: depth maps (folder, .npy or FFV1 video); with "
                               "--inputs, a folder holding one per input, named as the input", group="model inputs")
    depth_scale: float | None = option(None, help="world-consistent models: metres per depth unit",
                                       group="model inputs")
    cameras: str | None = option(None, help="world-consistent models: camera poses JSON (with --inputs, a folder of "
                                 "<name>.json)", group="model inputs")
    hfov: float = option(60.0, help="world-consistent models: horizontal field of view in degrees",
                         group="model inputs")
    world_out: str | None = option(None, help="world-consistent models: where to save the world (default beside "
                                   "the output)", group="model inputs")
    fit: str = option("resize", help="how label frames meet the model's size", choices=("resize", "crop", "letterbox"))
    palette: str | None = option(None, help="label palette: cityscapes, cocostuff or a JSON file", group="labels")
    remap: str | None = option(None, help="label id remapping: FROM:TO pairs or a JSON file", group="labels")
    label_mode: str = option("id", help="labels coded as ids or palette colours", choices=("id", "color"),
                             group="labels")
    size: str | None = option(None, help="resize the label frames to WxH first", metavar="WxH")
    device: str = option("cpu", help="cpu or cuda[:N] (under torchrun: cuda uses the process's LOCAL_RANK GPU)",
                         group="backend")
    stop_event: object = option(None, help="a threading.Event that ends the run when set", cli=False)


def _check_model(path: str, o: Options):
    """The model's description, checked against the options, from the file's metadata (no weights)."""
    from vidsynth.networks.model_file import read_model_info
    from vidsynth.networks.registry import describe_config

    info = read_model_info(path)
    spec = describe_config(info["model"], info["config"])
    if spec.reads != "labels":
        raise VidsynthError(f"{path} holds a {info['model']} model that reads {spec.reads}, not label maps; vidsynth "
                            "street renders label videos (use vidsynth dance, talk or render for this model)")
    if o.depth is not None and spec.kind != "world_consistent":
        raise VidsynthError(f"--depth is for world-consistent models; {path} is a {info['model']} model: drop --depth")
    if o.cameras is not None and o.depth is None:
        raise VidsynthError("--cameras goes with --depth (world-consistent rendering): add --depth")
    return spec


def _device(o: Options) -> str:
    """``cuda`` under torchrun means this process's GPU (LOCAL_RANK), so G processes use G GPUs."""
    from ..devices import check_device

    device = o.device
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return check_device(device)


def build(options: Options, net=None, spec=None):
    """The Pipeline for one input (``options.input`` → ``options.output``). ``net``: a model already loaded
    (many inputs share it). Every option and file is checked before the model loads."""
    from ..pipeline import Pipeline
    from ..presets import guard_run, looks_live, open_input, output_sinks, parse_remap, parse_size, shape_source
    from ..render import conditioning_stages, load_generator
    from ..stages import DepthAndCameras, Resize
    from .models import resolve_model

    o = options
    if o.inputs is not None or o.output_dir is not None:
        raise VidsynthError("--inputs and --output-dir render many inputs: run the job (vidsynth street, or "
                            "street.run(options)), not build()")
    if o.input is None:
        raise VidsynthError("give --input LABELS (one video) with --output, or --inputs FOLDER with --output-dir")
    if not (o.output or o.preview):
        raise VidsynthError("nothing to write: pass --output FILE and/or --preview")
    path = resolve_model(o.model)
    guard_run(o.input, [o.output], [o.world_out], o.overwrite, o.resume, o.start, o.duration, o.frames,
              more_inputs=(path, o.depth, o.cameras))
    size, remap = parse_size(o.size), parse_remap(o.remap)
    if o.palette is not None:
        from ..extract.labels import load_palette

        load_palette(o.palette)
    device = _device(o)
    if spec is None:
        spec = _check_model(path, o)
    if net is None:
        net = load_generator(path)
    from ..generate import generator_stage

    generator: dict = {"device": device, "fit": o.fit}
    if spec.is_video:
        generator["output"] = "frame"
        if spec.kind == "world_consistent":
            beside = os.path.splitext(o.output)[0] + ".world.pt" if o.output and "://" not in o.output else None
            generator["save_world"] = o.world_out or beside
    else:
        generator["seed"] = 0 if o.seed is None else o.seed
    live = o.mode == "live" or (o.mode == "auto" and looks_live(o.input))
    source, resize = open_input(o.input, size, None)
    source = shape_source(source, o.start, o.duration, o.frames, realtime=o.realtime, live=live, strict=o.strict)
    stages = [Resize(*size)] if resize else []
    stages += conditioning_stages(spec.main, o.input, o.palette, remap, o.label_mode, live)
    if o.depth is not None:
        stages.append(DepthAndCameras(o.depth, o.depth_scale, o.cameras, o.hfov))
    stages.append(generator_stage(net, **generator))
    return Pipeline(source, stages, output_sinks(o.output, o.preview, o.resume), mode=o.mode, metrics_path=o.metrics,
                    progress=o.progress, resume=o.resume, stop_event=o.stop_event,
                    seed=0 if o.seed is None else o.seed)


def _per_input(folder: str | None, name: str, what: str, suffixes: tuple[str, ...]) -> str | None:
    """With --inputs, the ``--depth``/``--cameras`` entry of the input called ``name``."""
    if folder is None:
        return None
    for suffix in suffixes:
        candidate = os.path.join(folder, name + suffix)
        if os.path.exists(candidate):
            return candidate
    raise VidsynthError(f"{what} {folder!r} has no entry for input {name!r} (looked for {name}"
                        f"{' / '.join(s or '/' for s in suffixes)}); give one per input, named as the input")


def run_many(options: Options) -> dict:
    """Render this process's share of ``--inputs`` into ``--output-dir``; returns what it did."""
    from . import run_pipeline
    from ..render import load_generator
    from .models import resolve_model
    from .shard import list_inputs, output_state, plan, rank_and_world, share

    o = options
    if o.input is not None or o.output is not None:
        raise VidsynthError("--inputs/--output-dir and --input/--output exclude each other: one input, or many")
    if o.inputs is None or o.output_dir is None:
        raise VidsynthError("many inputs need both --inputs FOLDER_OR_LIST and --output-dir FOLDER")
    if o.preview is not None or o.metrics is not None or o.world_out is not None:
        raise VidsynthError("--preview, --metrics and --world-out are for one input; with --inputs each output gets "
                            "its own world beside it")
    rank, world = rank_and_world()
    pairs = plan(list_inputs(o.inputs), o.output_dir)
    mine = share(pairs, rank, world)
    path = resolve_model(o.model)
    spec = _check_model(path, o)
    os.makedirs(o.output_dir, exist_ok=True)
    net = None
    done = {"rendered": 0, "resumed": 0, "skipped": 0, "share": len(mine), "inputs": len(pairs), "rank": rank,
            "world": world}
    for item, out in mine:
        state = output_state(out)
        if state == "done" and not o.overwrite:
            done["skipped"] += 1
            continue
        name = os.path.splitext(os.path.basename(out))[0]
        one = dataclasses.replace(
            o, input=item, output=out, inputs=None, output_dir=None, resume=state == "partial" and not o.overwrite,
            depth=_per_input(o.depth, name, "--depth", ("", ".npy", ".mkv")),
            cameras=_per_input(o.cameras, name, "--cameras", (".json",)))
        if net is None:
            net = load_generator(path)
        run_pipeline(build(one, net=net, spec=spec), one)
        done["resumed" if one.resume else "rendered"] += 1
    print(f"vidsynth street: rank {rank} of {world}: {done['rendered']} rendered, {done['resumed']} resumed, "
          f"{done['skipped']} already finished, of its {len(mine)} (of {len(pairs)} inputs)", file=sys.stderr)
    return done


def run(options: Options) -> int:
    """One input (``--input``) or many (``--inputs``)."""
    from . import run_pipeline

    if options.inputs is not None or options.output_dir is not None:
        run_many(options)
        return 0
    return run_pipeline(build(options), options)
