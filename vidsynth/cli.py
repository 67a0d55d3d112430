"""The ``vidsynth`` command: a thin layer over the presets in :mod:`vidsynth.engine.presets`.

Each subcommand is one ``add_<name>(subparsers)`` function that declares its options and points
``func`` at one ``cmd_<name>(args) -> int`` function; adding a subcommand (``train``, ``world``, ...) is
adding those two functions and one line in :data:`SUBCOMMANDS`.

Errors a user can fix (:class:`~vidsynth.errors.VidsynthError`) are printed as one line
``vidsynth: error: ...`` with exit code 2 and no traceback; Ctrl-C stops cleanly with exit code 130.

>>> main(["info"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import tempfile

from vidsynth import __version__
from vidsynth.errors import VidsynthError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 1


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line (``vidsynth: error: ...``), like every other user error."""

    def error(self, message: str):
        raise VidsynthError(f"{message} (see '{self.prog} --help')")


# -- extract ---------------------------------------------------------------------------------------


def add_extract(sub) -> None:
    from vidsynth.engine.presets import WHATS

    p = sub.add_parser(
        "extract",
        help="extract pose, face landmarks, person masks, optical flow or labels from a video, camera or stream",
        description="Extract conditioning from a video file, a camera (camera:0) or a stream URL and write it as a "
        "video, a live preview, keypoint JSON sidecars or a training dataset.",
    )
    p.add_argument("--input", "-i", required=True, help="video file, image folder, camera:N, rtsp/http/udp URL or synthetic:NAME")
    p.add_argument("--what", "-w", choices=WHATS, default=None,
                   help="what to extract (default: pose; with --dataset-out alone, everything the dataset needs)")
    p.add_argument("--output", "-o", help="output video file (.mp4 H.264; .mkv FFV1 lossless), image folder or rtmp/udp URL")
    p.add_argument("--preview", nargs="?", const="window", choices=("window", "http"),
                   help="show the result live: in a window (default) or a browser page served on 127.0.0.1")
    p.add_argument("--palette", help="label palette for --what labels: cityscapes, cocostuff or a JSON file")
    p.add_argument("--label-mode", choices=("id", "color"), default="id",
                   help="how the input codes labels: pixel values are ids (default) or palette colours")
    p.add_argument("--remap", help="label id remapping: FROM:TO pairs ('7:0,8:1') or a JSON file")
    p.add_argument("--sidecars", metavar="DIR", help="also write the keypoints of every frame as JSON (OpenPose / dlib-68)")
    p.add_argument("--dataset-out", metavar="DIR", help="write a training folder in imaginaire's raw layout")
    p.add_argument("--size", metavar="WxH", help="frame size (camera capture size; files are resized)")
    p.add_argument("--fps", type=float, help="capture frame rate of a camera")
    smooth = p.add_mutually_exclusive_group()
    smooth.add_argument("--smooth", dest="smooth", action="store_const", const=True,
                        help="smooth pose/face landmarks over time (One Euro filter); the default for live input")
    smooth.add_argument("--no-smooth", dest="smooth", action="store_const", const=False,
                        help="never smooth landmarks")
    _add_run_options(p)
    p.set_defaults(func=cmd_extract, smooth=None)


def _add_run_options(p) -> None:
    """Options every pipeline-running subcommand shares."""
    p.add_argument("--metrics", metavar="JSON", help="write the run's figures (latency, fps, drops, memory) as JSON")
    p.add_argument("--seed", type=int, help="seed every random number generator, for repeatable runs")
    p.add_argument("--resume", action="store_true", help="continue an interrupted render of --output from its last closed segment")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--live", dest="mode", action="store_const", const="live",
                      help="latest-frame-wins (drop stale frames); the default for cameras and streams")
    mode.add_argument("--offline", dest="mode", action="store_const", const="offline",
                      help="lossless and in order; the default for files")
    p.add_argument("--input-timeout", type=float, default=15.0, metavar="SECONDS",
                   help="an input that sends no frame for this long is an error, not a hang (default: 15)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(mode="auto")


def cmd_extract(args) -> int:
    from vidsynth.engine.presets import extract

    what = args.what
    if what is None and not args.dataset_out:
        what = "pose"
    pipeline = extract(
        args.input,
        what=what,
        output=args.output,
        preview=args.preview,
        palette=args.palette,
        remap=args.remap,
        label_mode=args.label_mode,
        sidecars=args.sidecars,
        dataset_out=args.dataset_out,
        size=args.size,
        fps=args.fps,
        metrics=args.metrics,
        seed=args.seed,
        resume=args.resume,
        mode=args.mode,
        progress=args.progress,
        smooth=args.smooth,
    )
    return _run(pipeline, args)


def _run(pipeline, args) -> int:
    if args.input_timeout <= 0:
        raise VidsynthError(f"expected --input-timeout above 0 seconds, found {args.input_timeout:g}")
    pipeline.watchdog_s = args.input_timeout
    pipeline.progress = pipeline.progress and sys.stderr.isatty()  # no bar in logs and pipes
    report = pipeline.run()
    if args.metrics:
        print(report.summary(), file=sys.stderr)
        print(f"metrics written to {args.metrics}", file=sys.stderr)
    return 0


# -- demo ------------------------------------------------------------------------------------------


def add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the built-in demo: extraction (input | pose | flow) and synthesis (street, dance) videos",
        description="Make a short clip (no download), extract pose and optical flow, and write input | pose | flow; "
        "then render the project's synthetic street and dancing puppet with the small trained models vidsynth "
        "ships (generated | condition | truth), beside the first video as DEMO_street.mp4 and DEMO_dance.mp4.",
    )
    p.add_argument("--output", "-o", default="out/demo.mp4", help="where to write the video (default: out/demo.mp4)")
    p.add_argument("--frames", type=int, default=60, help="clip length in frames (default: 60, two seconds)")
    p.add_argument("--size", type=int, default=256, help="side of the square clip in pixels (default: 256)")
    p.add_argument("--metrics", metavar="JSON", help="write the run's figures as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--only", choices=("extract", "street", "dance"), help="run one part of the demo")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from vidsynth.engine.presets import demo
    from vidsynth.engine.render import DEMO_MODELS, synthesis_demo

    progress = args.progress and sys.stderr.isatty()
    if args.only in (None, "extract"):
        report = demo(args.output, frames=args.frames, size=args.size, metrics=args.metrics, progress=progress).run()
        print(f"wrote {args.output}: {report.frames_out} frames (input | pose | optical flow) at {report.fps:.1f} fps",
              file=sys.stderr)
    for name in DEMO_MODELS:
        if args.only in (None, name):
            out = os.path.splitext(args.output)[0] + f"_{name}.mp4"
            report = synthesis_demo(name, out, frames=args.frames, progress=progress).run()
            print(f"wrote {out}: {report.frames_out} frames (generated | {DEMO_MODELS[name][2]} | truth) "
                  f"at {report.fps:.1f} fps", file=sys.stderr)
    return 0


# -- render / convert ------------------------------------------------------------------------------


def add_render(sub) -> None:
    p = sub.add_parser(
        "render",
        help="render a video through a model (pix2pixHD, SPADE, UNIT, MUNIT, FUNIT, COCO-FUNIT, vid2vid, fs-vid2vid, wc-vid2vid)",
        description="Render a video file, image folder, camera or stream through a vidsynth model file; the "
        "conditioning the model needs (labels, pose, face) is extracted on the fly.",
    )
    p.add_argument("--model", "-m", required=True, help="a vidsynth .safetensors model (vidsynth convert makes one)")
    p.add_argument("--input", "-i", required=True, help="video file, image folder, camera:N, URL or synthetic:NAME")
    p.add_argument("--output", "-o", help="output video file, folder or rtmp/udp URL")
    p.add_argument("--preview", nargs="?", const="window", choices=("window", "http"), help="show the result live")
    p.add_argument("--reference", help="few-shot vid2vid: a photo or a folder of photos of the target")
    p.add_argument("--style", help="MUNIT/FUNIT: a style image")
    p.add_argument("--examples", help="FUNIT/COCO-FUNIT: a photo or folder of example images of the target class")
    p.add_argument("--depth", help="wc-vid2vid: depth maps (folder, .npy or FFV1 video)")
    p.add_argument("--depth-scale", type=float, help="wc-vid2vid: metres per depth unit")
    p.add_argument("--cameras", help="wc-vid2vid: camera poses JSON (estimated by odometry when absent)")
    p.add_argument("--hfov", type=float, default=60.0, help="wc-vid2vid: horizontal field of view in degrees")
    p.add_argument("--world-out", help="wc-vid2vid: where to save the world (default beside --output)")
    p.add_argument("--fit", default="auto", choices=("auto", "resize", "crop", "letterbox", "subject"),
                   help="how frames meet the model's size (auto: a subject crop for pose/face models, else resize)")
    p.add_argument("--model-size", metavar="WxH", help="the size the model runs at (image models)")
    p.add_argument("--output-size", default="frame", choices=("frame", "model"),
                   help="write at the input's size (frame) or the model's (model)")
    p.add_argument("--size", metavar="WxH", help="frame size (camera capture size; files are resized)")
    p.add_argument("--fps", type=float, help="capture frame rate of a camera")
    p.add_argument("--palette", help="label palette: cityscapes, cocostuff or a JSON file")
    p.add_argument("--remap", help="label id remapping: FROM:TO pairs or a JSON file")
    p.add_argument("--label-mode", choices=("id", "color"), default="id", help="labels coded as ids or palette colours")
    p.add_argument("--b2a", dest="a2b", action="store_false", help="UNIT/MUNIT: translate domain B to A")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--backend", default="eager", choices=("eager", "compile", "onnx", "tensorrt", "auto"),
                   help="how the network runs (falls back to eager with a warning when unavailable)")
    _add_run_options(p)
    p.set_defaults(func=cmd_render)


def cmd_render(args) -> int:
    from vidsynth.engine.render import render

    pipeline = render(
        args.model, args.input, output=args.output, preview=args.preview, reference=args.reference,
        style=args.style, examples=args.examples, depth=args.depth, depth_scale=args.depth_scale,
        cameras=args.cameras, hfov=args.hfov, world_out=args.world_out, fit=args.fit, model_size=args.model_size,
        output_size=args.output_size, size=args.size, fps=args.fps, palette=args.palette, remap=args.remap,
        label_mode=args.label_mode, a2b=args.a2b, seed=0 if args.seed is None else args.seed, device=args.device,
        backend=args.backend, metrics=args.metrics, resume=args.resume, mode=args.mode, progress=args.progress,
    )
    return _run(pipeline, args)


def add_convert(sub) -> None:
    p = sub.add_parser("convert", help="convert an imaginaire checkpoint (.pt + YAML config) into a vidsynth model file",
                       description="Read an imaginaire checkpoint's generator (net_G_ema by default) with its YAML "
                       "config and write a vidsynth .safetensors model file.")
    p.add_argument("checkpoint", help="imaginaire checkpoint (.pt)")
    p.add_argument("--config", "-c", required=True, help="the imaginaire YAML config the checkpoint was trained with")
    p.add_argument("--out", "-o", required=True, help="the .safetensors model file to write")
    p.add_argument("--no-ema", dest="ema", action="store_false", help="use net_G instead of net_G_ema")
    p.set_defaults(func=cmd_convert)


def cmd_convert(args) -> int:
    from vidsynth.engine.render import convert

    info = convert(args.checkpoint, args.config, args.out, ema=args.ema)
    name = info.get("model_name") or info.get("model") or "model" if isinstance(info, dict) else "model"
    print(f"wrote {args.out} ({name})", file=sys.stderr)
    return 0


# -- info ------------------------------------------------------------------------------------------

# import name -> (what it is for, distribution name for the version)
_PACKAGES = {
    "torch": ("networks, backends", "torch"),
    "numpy": ("everything", "numpy"),
    "av": ("video files, MP4/FFV1 output, URL streams", "av"),
    "cv2": ("cameras, windows, optical flow", "opencv-contrib-python"),
    "mediapipe": ("pose, face and person-mask extraction", "mediapipe"),
    "onnx": ("ONNX export", "onnx"),
    "onnxruntime": ("ONNX Runtime backend", "onnxruntime"),
    "tensorrt": ("TensorRT backend", "tensorrt"),
    "open3d": ("world-consistent vid2vid odometry, .ply export", "open3d-cpu"),
    "safetensors": ("model files", "safetensors"),
    "yaml": ("imaginaire configs", "pyyaml"),
    "tqdm": ("progress bars", "tqdm"),
    "tensorboard": ("training logs", "tensorboard"),
    "skimage": ("demo photograph, tests", "scikit-image"),
}


def add_info(sub) -> None:
    p = sub.add_parser("info", help="list installed backends, devices and optional packages, and what is missing",
                       description="What this installation can do: packages with versions, devices, backends, codecs.")
    p.add_argument("--json", action="store_true", help="print the same as JSON")
    p.set_defaults(func=cmd_info)


def _version(import_name: str, dist: str) -> str | None:
    from importlib import metadata
    from importlib.util import find_spec

    if find_spec(import_name) is None:
        return None
    for name in (dist, import_name, "opencv-python", "opencv-python-headless", "open3d"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "installed"


def collect_info() -> dict:
    """Everything ``vidsynth info`` prints, as a dict."""
    from vidsynth.engine.threads import available_cores, plan_threads

    info: dict = {"vidsynth": __version__, "python": sys.version.split()[0], "cores": available_cores()}
    info["thread_budget"] = str(plan_threads())
    info["packages"] = {}
    for module, (purpose, dist) in _PACKAGES.items():
        version = _version(module, dist)
        info["packages"][module] = {"version": version, "for": purpose}
    devices = ["cpu"]
    try:
        import torch

        if torch.cuda.is_available():
            devices += [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            devices.append("mps")
    except ImportError:
        pass
    info["devices"] = devices
    try:
        from vidsynth.engine.backends import available_backends

        info["backends"] = {name: {"available": ok, "detail": detail} for name, (ok, detail) in available_backends().items()}
    except Exception as exc:  # the list is informative; a broken backend module must not break `info`
        info["backends"] = {"error": f"{type(exc).__name__}: {exc}"}
    info["codecs"] = _codecs()
    if info["packages"]["mediapipe"]["version"]:
        try:
            import mediapipe

            info["packages"]["mediapipe"]["solutions"] = hasattr(mediapipe, "solutions")
        except Exception as exc:
            info["packages"]["mediapipe"]["error"] = f"{type(exc).__name__}: {exc}"
    return info


def _codecs() -> dict:
    try:
        import av
    except ImportError:
        return {}
    found = {}
    for name in ("libx264", "h264", "ffv1", "png", "aac", "flv"):
        try:
            av.codec.Codec(name, "w")
            found[name] = True
        except Exception:
            found[name] = False
    return found


def cmd_info(args) -> int:
    info = collect_info()
    if args.json:
        import json

        print(json.dumps(info, indent=2))
        return 0
    print(f"vidsynth {info['vidsynth']} on Python {info['python']}, {info['cores']} cores")
    print(f"thread budget: {info['thread_budget']}")
    print(f"devices: {', '.join(info['devices'])}")
    print("backends:")
    for name, b in info["backends"].items():
        if isinstance(b, dict):
            print(f"  {name:<12} {'yes' if b['available'] else 'no ':<4} {b['detail']}")
        else:
            print(f"  {name}: {b}")
    print("packages:")
    missing = []
    for module, p in info["packages"].items():
        version = p["version"] or "MISSING"
        extra = "" if p.get("solutions", True) else " (no mp.solutions: install mediapipe==0.10.21)"
        print(f"  {module:<12} {version:<14} {p['for']}{extra}")
        if not p["version"]:
            missing.append(module)
    codecs = info["codecs"]
    if codecs:
        print("encoders: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in codecs.items()))
    if missing:
        from vidsynth.errors import _OPTIONAL

        hints = [_OPTIONAL.get(m, (_PACKAGES[m][1], None))[0] for m in missing]
        print(f"missing: {', '.join(missing)}; to add them: pip install " + " ".join(f"'{h}'" for h in hints))
    else:
        print("missing: nothing")
    return 0


# -- bench -----------------------------------------------------------------------------------------


BENCHMARKS = ("pipeline", "live", "backends", "image_models", "video_models", "geometry", "keypoints", "training")


def add_bench(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark from benchmarks/ (pipeline, live, backends, models, geometry, keypoints, training)",
                       description="Run one of the benchmarks in benchmarks/ (only in a source checkout).")
    p.add_argument("which", choices=BENCHMARKS, help="which benchmark")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options passed to the benchmark (see its --help)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    try:
        module = importlib.import_module(f"benchmarks.{args.which}")
    except ModuleNotFoundError:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        if not os.path.isdir(os.path.join(root, "benchmarks")):
            raise VidsynthError("the benchmarks live in the source checkout (benchmarks/); run this from a checkout") from None
        sys.path.insert(0, root)
        module = importlib.import_module(f"benchmarks.{args.which}")
    return int(module.main(args.rest) or 0)


# -- train -----------------------------------------------------------------------------------------


def add_train(sub) -> None:
    from vidsynth.training.cli import add_train_parser  # argparse only: the trainers load when it runs

    add_train_parser(sub)


# -- world -----------------------------------------------------------------------------------------


def add_world(sub) -> None:
    p = sub.add_parser("world", help="the world a world-consistent (wc-vid2vid) render built",
                       description="Work with the coloured point world a wc-vid2vid render saved beside its output.")
    what = p.add_subparsers(dest="world_command", metavar="ACTION", parser_class=_Parser)
    e = what.add_parser("export", help="write the world as a .ply point cloud for any viewer")
    e.add_argument("--run", required=True, help="the render's output video (its OUTPUT.world.pt is read) or the "
                   ".world.pt file itself")
    e.add_argument("ply", help="the .ply file to write")
    e.add_argument("--include-uncoloured", action="store_true", help="also write points no frame has coloured (grey)")
    e.set_defaults(func=cmd_world_export)
    p.set_defaults(func=lambda args: p.error("expected an action: export"))


def cmd_world_export(args) -> int:
    from vidsynth.engine.generate.world import export_world

    snapshot = args.run if args.run.endswith(".pt") else os.path.splitext(args.run)[0] + ".world.pt"
    n = export_world(snapshot, args.ply, include_uncoloured=args.include_uncoloured)
    print(f"wrote {args.ply} ({n} points)", file=sys.stderr)
    return 0


# -- the command -----------------------------------------------------------------------------------

SUBCOMMANDS = [add_extract, add_render, add_convert, add_train, add_world, add_demo, add_info, add_bench]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vidsynth", description="vidsynth: a video-first streaming synthesis engine.")
    parser.add_argument("--version", action="version", version=f"vidsynth {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and the native libraries' logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


@contextlib.contextmanager
def _quiet_native_logs(enabled: bool):
    """Send what native libraries print on file descriptor 2 (MediaPipe's and TFLite's logs) to a file.

    Python's own stderr (errors, warnings, the progress bar) keeps going to the terminal; the file is
    removed at the end. ``--debug`` leaves descriptor 2 alone, so those logs show.
    """
    if not enabled:
        yield None
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        log = tempfile.NamedTemporaryFile(prefix="vidsynth-native-", suffix=".log", delete=False)
    except OSError:
        yield None
        return
    old_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=getattr(old_stderr, "encoding", None) or "utf-8",
                           errors="backslashreplace")
    os.dup2(log.fileno(), 2)
    try:
        yield log.name
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr.close()
        sys.stderr = old_stderr
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)


class _CurrentStderr:
    """A stream that is whatever ``sys.stderr`` is at the moment of writing (it is swapped during runs)."""

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()


@contextlib.contextmanager
def _cli_logging(debug: bool):
    """Log records of vidsynth's modules as ``vidsynth: LEVEL: message`` on stderr while the command runs.

    Restored afterwards, so calling :func:`main` in a process (tests, notebooks) leaves logging as it was.
    """
    logger = logging.getLogger("vidsynth")
    browser = logging.getLogger("vidsynth.streams.browser")
    saved = (logger.level, logger.propagate, browser.level)
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(logging.Formatter("vidsynth: %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    browser.setLevel(logging.INFO)  # the preview's address is worth printing
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.level, logger.propagate = saved[0], saved[1]
        browser.setLevel(saved[2])


def main(argv: list[str] | None = None) -> int:
    """Run the ``vidsynth`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    from vidsynth.engine.threads import configure_environment

    configure_environment()  # before numpy/torch/cv2 start their thread pools
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or bool(os.environ.get("VIDSYNTH_DEBUG"))
    argv = [a for a in argv if a != "--debug"]  # accepted anywhere on the line
    with _cli_logging(debug):
        return _main(argv, debug)


def _main(argv: list[str], debug: bool) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USER_ERROR
        quiet = not debug and args.command in ("extract", "render", "demo", "bench")
        with _quiet_native_logs(quiet):
            return int(args.func(args) or 0)
    except VidsynthError as exc:
        if debug:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        print(f"vidsynth: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except SystemExit as exc:  # --help and --version end here; main() always returns the exit code
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print("vidsynth: interrupted; the output written so far was closed", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_INTERNAL
    except Exception as exc:  # a bug: still one line, with the way to see more
        if debug:
            raise
        print(f"vidsynth: internal error: {type(exc).__name__}: {_one_line(exc)} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
