"""Nothing the user has is destroyed: output checks made before anything opens, and the output lock.

:func:`guard_outputs` runs before any model or MediaPipe graph loads. It refuses

- an output that is an input, resolves to one (a symlink, a hard link, ``./a/../a.mp4``) or lies inside
  an input folder;
- an existing output, unless ``overwrite`` (``-y``) or ``resume`` says to replace or continue it;
- an output another process is writing (its lock is held), naming the file and the process.

Files are written under a temporary name beside the output (:func:`partial_path`: ``out.partial.mp4``)
and renamed over the output when complete, so a crash never leaves a half-written file under the name
of a finished one, and ``-y`` keeps the old output until the new one is whole.

>>> partial_path("renders/out.mp4").name
'out.partial.mp4'
>>> guard_outputs(["null"], ["synthetic:clip"])  # nothing on disk: nothing to check
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Iterable

from vidsynth.errors import VidsynthError

log = logging.getLogger(__name__)

NOT_PATHS = ("null", "window", "http")
# stage counters of frames where the person or face a job follows was not found
SUBJECT_COUNTERS = ("missing_subject", "no_subject", "no_person", "no_face")


def is_path_spec(spec) -> bool:
    """True when a source or sink spec names something on disk (not a camera, URL, preview or synthetic).

    >>> is_path_spec("out.mp4"), is_path_spec("http:8080"), is_path_spec("camera:0"), is_path_spec("udp://x:1")
    (True, False, False, False)
    """
    if spec is None:
        return False
    text = str(spec)
    lowered = text.lower()
    if lowered in NOT_PATHS or lowered.startswith(("http:", "camera", "synthetic:")):
        return False
    return "://" not in text


def partial_path(path: str | os.PathLike) -> Path:
    """Where an output file is written until it is complete (the same suffix, so players open it)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path.expanduser()))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _has_content(folder: Path) -> bool:
    try:
        return any(not entry.name.startswith(".") for entry in os.scandir(folder))
    except OSError:
        return False


def guard_outputs(outputs: Iterable, inputs: Iterable, overwrite: bool = False, resume: bool = False,
                  lock: bool = True) -> None:
    """Refuse outputs that would destroy an input or an existing file, or that another process writes.

    ``outputs`` and ``inputs`` are specs as the user typed them (None and non-path specs are ignored).
    With ``lock`` each output's lock is tried now (and let go again), so a second writer is refused
    before it loads anything; the sink takes the lock for the run when it opens.
    """
    input_paths = [Path(str(spec)) for spec in inputs if is_path_spec(spec)]
    for spec in outputs:
        if not is_path_spec(spec):
            continue
        output = Path(str(spec))
        out_real = _resolved(output)
        for given in input_paths:
            in_real = _resolved(given)
            if out_real == in_real or _same_file(output, given):
                raise VidsynthError(
                    f"refusing to write the output {spec}: it is the input {given} (writing it would destroy the "
                    "input); choose another output path"
                )
            if in_real.is_dir() and in_real in out_real.parents:
                raise VidsynthError(
                    f"refusing to write the output {spec}: it lies inside the input folder {given} (it would add "
                    "to or replace the input's files); choose an output outside it"
                )
        if output.is_dir() and output.suffix.lower() in (".mp4", ".mov", ".m4v", ".mkv", ".avi"):
            raise VidsynthError(f"expected the output {spec} to be a video file, found a folder there; choose a file name")
        if not overwrite and not resume:
            exists = output.is_file() or (output.is_dir() and _has_content(output))
            if exists:
                kind = "folder with files" if output.is_dir() else "file"
                raise VidsynthError(
                    f"the output {spec} already exists (a {kind}); pass -y/--overwrite to replace it"
                    + (" or --resume to continue it" if output.suffix.lower() in (".mp4", ".mov", ".m4v") else "")
                    + ", or choose another output"
                )
        if lock:
            probe_output(output)


def refuse_input_as_output(output: str | os.PathLike, info) -> None:
    """The sinks' own last check: ``output`` must not be the file or folder the stream is read from.

    Jobs call :func:`guard_outputs` before anything loads; this catches a pipeline wired without it.
    """
    source_path = (getattr(info, "extra", None) or {}).get("path")
    if source_path:
        guard_outputs([str(output)], [source_path], overwrite=True, lock=False)


# -- the output lock ------------------------------------------------------------------------------------


class OutputLock:
    """An exclusive lock on an output, held as an ``flock`` on a small file beside it.

    The operating system drops the lock when the process ends, even on SIGKILL, so a crashed run never
    blocks the next one; the file says which process holds it, for the message a second writer gets.
    """

    def __init__(self, output: str | os.PathLike):
        output = _resolved(Path(output))
        self.output = output
        self.path = output.parent / f".{output.name}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise VidsynthError(
                f"cannot write the output {self.output}: {exc.strerror or exc} in {self.output.parent}; "
                "choose a folder you can write to"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 512).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise VidsynthError(
                f"the output {self.output} is being written by another process ({holder}); wait for it to "
                "finish or choose another output"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:300]}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self._fd)  # closing the descriptor drops the flock
        self._fd = None


_HELD: dict[Path, OutputLock] = {}


def claim_output(output: str | os.PathLike) -> OutputLock:
    """Lock ``output`` for this process (again is fine); another process holding it is an error."""
    key = _resolved(Path(output))
    lock = _HELD.get(key)
    if lock is None:
        lock = OutputLock(key)
        lock.acquire()
        _HELD[key] = lock
    return lock


def probe_output(output: str | os.PathLike) -> None:
    """Refuse ``output`` now if another process holds its lock; hold nothing afterwards.

    Holding the lock from the checks on would keep it past a build that fails later, for as long as the
    process lives (a notebook, a test session), refusing every other writer of that path meanwhile.
    """
    if _resolved(Path(output)) in _HELD:
        return
    claim_output(output)
    release_output(output)


def release_output(output: str | os.PathLike) -> None:
    """Let go of the lock on ``output`` (the sink writing it closed)."""
    lock = _HELD.pop(_resolved(Path(output)), None)
    if lock is not None:
        lock.release()


def finish_output(written: Path, output: Path) -> None:
    """Move a complete temporary file over the output and let go of the output's lock."""
    os.replace(written, output)
    release_output(output)


# -- the closing line ------------------------------------------------------------------------------------


def _leaves(sink) -> list:
    inner = getattr(sink, "sinks", None)
    return [leaf for s in inner for leaf in _leaves(s)] if inner else [sink]


def _innermost(source):
    while hasattr(source, "source"):
        source = source.source
    return source


def _output_name(sink) -> str | None:
    """Where a sink wrote, in words (None for a sink that keeps nothing); never runs a property."""
    kind = type(sink).__name__
    if kind == "BrowserPreviewSink":
        return "the browser preview"
    if kind == "WindowSink":
        return "the window"
    own = vars(sink)
    where = own.get("path") or own.get("folder") or own.get("url")
    return None if where is None else str(where)


def closing_line(report, source=None, sink=None, stages=()) -> str:
    """One line saying what a run wrote: per output its frames and seconds (and audio), then the drops,
    frames lost to corrupt packets, frames without a subject, the speed and the backend that ran.

    Printed at the end of every run, on a terminal or not (FFmpeg's last line).

    >>> from types import SimpleNamespace as R
    >>> closing_line(R(frames_out=3, frames_in=3, dropped=0, fps=30.0, stopped="end", mode="offline", stages={}))
    'vidsynth: 3 frames (offline, 30.0 fps, 0 dropped)'
    """
    parts = []
    for leaf in _leaves(sink) if sink is not None else []:
        name = _output_name(leaf)
        if name is None:
            continue
        what = f"{name}: {getattr(leaf, 'frames_written', report.frames_out)} frames"
        seconds = getattr(leaf, "seconds_written", None)
        if seconds:
            what += f", {seconds:.2f} s"
        audio = getattr(leaf, "audio_note", None)
        if audio:
            what += f", {audio}"
        parts.append(what)
    figures = [report.mode, f"{report.fps:.1f} fps", f"{report.dropped} dropped"]
    origin = _innermost(source) if source is not None else None
    lost = len(getattr(origin, "lost", None) or []) or getattr(origin, "corrupt_packets", 0)
    if lost:
        figures.append(f"{lost} lost to corrupt packets")
    missing = max([int((s.get("counters") or {}).get(key, 0) or 0) for s in (report.stages or {}).values()
                   if isinstance(s, dict) for key in SUBJECT_COUNTERS] or [0])
    if missing:
        figures.append(f"{missing} without a subject")
    backends = sorted({str(b) for b in (getattr(s, "backend", None) for s in stages) if isinstance(b, str)})
    if backends:
        figures.append("backend " + "/".join(backends))
    if report.stopped != "end":
        figures.append({"interrupt": "interrupted", "stop": "stopped"}.get(report.stopped, report.stopped))
    written = "; ".join(parts) if parts else f"{report.frames_out} frames"
    return f"vidsynth: {'wrote ' if parts else ''}{written} ({', '.join(figures)})"
