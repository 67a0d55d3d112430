"""The ``vidsynth`` command: a thin layer over the jobs in :mod:`vidsynth.engine.jobs`.

Every job module (``extract``, ``render``, ``demo``, ...) becomes one subcommand: its ``COMMAND`` names
it and its ``Options`` dataclass declares its options (:func:`add_job`), so a new job is a file in
``engine/jobs/`` and a line in ``JOB_MODULES``, with nothing to add here. The commands that are not
pipelines (``convert``, ``train``, ``world``, ``info``, ``bench``) are one ``add_<name>(subparsers)``
function each, pointing ``func`` at one ``cmd_<name>(args) -> int``, listed in :data:`SUBCOMMANDS`.

Errors a user can fix (:class:`~vidsynth.errors.VidsynthError`) are printed as one line
``vidsynth: error: ...`` with exit code 2 and no traceback (so are a full or read-only disk and a
permission denied). Ctrl-C stops cleanly with exit code 130; SIGTERM is handled the same way (the frames
read are written, the output closed, a training run checkpointed) and exits 143.

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


# -- the jobs: one subcommand per module of vidsynth.engine.jobs ------------------------------------------


def add_jobs(sub) -> None:
    """One subcommand per job module: its ``COMMAND`` names it, its ``Options`` dataclass declares its options."""
    from vidsynth.engine.jobs import JOB_MODULES, load_job

    for name in JOB_MODULES:
        try:
            module = load_job(name)
        except Exception as exc:  # a broken job must not take the other commands down with it
            p = sub.add_parser(name, help=f"(unavailable: {type(exc).__name__})")
            p.set_defaults(func=_unavailable(name, exc))
            continue
        add_job(sub, module)


def add_job(sub, module) -> argparse.ArgumentParser:
    """The subcommand of one job module."""
    from vidsynth.engine.jobs.options import add_arguments

    command = module.COMMAND
    p = sub.add_parser(command["name"], help=command.get("help"), description=command.get("description"))
    add_arguments(p, module.Options)
    p.set_defaults(func=lambda args: _run_job(module, args), job=command["name"])
    return p


def _run_job(module, args) -> int:
    from vidsynth.engine.jobs import run_job
    from vidsynth.engine.jobs.options import from_args

    return run_job(module, from_args(module.Options, args))


def _unavailable(name: str, exc: Exception):
    def fail(args) -> int:
        raise VidsynthError(f"the {name} job could not be loaded ({type(exc).__name__}: {exc}); "
                            "run with --debug for the traceback of its import, or reinstall vidsynth")

    return fail


# -- convert ---------------------------------------------------------------------------------------


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
    p = sub.add_parser("info", help="list installed backends, devices, optional packages, shipped models, and what "
                       "is missing", description="What this installation can do: packages with versions, devices, "
                       "backends, codecs, and the models it ships (usable by name as --model demo:NAME).")
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
    from vidsynth.engine.jobs.models import shipped_models

    info["models"] = shipped_models()
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
    print("shipped models (--model NAME):")
    for name, m in info["models"].items():
        what = f"{m['kind']}, reads {m['reads']}: " if m["present"] else ""
        print(f"  {name:<12} {what}{m['description']}{'' if m['present'] else ' (MISSING: reinstall vidsynth)'}")
    if missing:
        from vidsynth.errors import _OPTIONAL

        hints = [_OPTIONAL.get(m, (_PACKAGES[m][1], None))[0] for m in missing]
        print(f"missing: {', '.join(missing)}; to add them: pip install " + " ".join(f"'{h}'" for h in hints))
    else:
        print("missing: nothing")
    return 0


# -- bench -----------------------------------------------------------------------------------------


BENCHMARKS = ("pipeline", "live", "backends", "image_models", "video_models", "geometry", "keypoints", "training",
              "fuzz", "studio", "models")


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

SUBCOMMANDS = [add_jobs, add_convert, add_train, add_world, add_info, add_bench]


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
    with _cli_logging(debug), _sigterm_as_interrupt():
        return _main(argv, debug)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (``kill``, a container stopping, a job scheduler) is handled as Ctrl-C: the frames read are
    finished and written, the output is closed, a training run saves a checkpoint; the exit code is 143
    (128 + 15) where Ctrl-C gives 130. Only the main thread can take signals; elsewhere nothing changes."""
    import signal
    import threading

    from vidsynth.errors import Interrupted

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, _frame):
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str], debug: bool) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USER_ERROR
        quiet = not debug and (getattr(args, "job", None) is not None or args.command == "bench")
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
    except KeyboardInterrupt as exc:
        # what was kept is said by whoever kept it (the pipeline closed its output, training saved a checkpoint)
        detail = getattr(exc, "detail", "")
        print("vidsynth: interrupted" + (f"; {detail}" if detail else ""), file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_INTERRUPTED)
    except BrokenPipeError:
        return EXIT_INTERNAL
    except Exception as exc:  # a bug: still one line, with the way to see more
        from vidsynth.errors import user_os_error

        user = user_os_error(exc)
        if user is not None:  # a full or read-only disk, a permission: the user's to fix, not a bug
            print(f"vidsynth: error: {_one_line(user)}", file=sys.stderr)
            return EXIT_USER_ERROR
        if debug:
            raise
        print(f"vidsynth: internal error: {type(exc).__name__}: {_one_line(exc)} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
