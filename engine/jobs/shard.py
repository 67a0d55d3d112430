"""Many inputs rendered to many outputs, shared among the processes ``torchrun`` starts.

Under ``torchrun --nnodes N --nproc_per_node G vidsynth street --inputs ... --output-dir out/`` every
process reads its rank and the world size from torchrun's environment (``RANK``, ``WORLD_SIZE``) and takes
every WORLD_SIZE-th input of the sorted list, starting at its rank: the shares are disjoint and together
cover the list, with no scheduler and no communication between the processes. Each input has one output
(``out/<name>.mp4``); an output that exists is finished (outputs are written under a partial name and
renamed when complete) and is skipped, a partial one is resumed, so rerunning the same command after a
crash or a killed rank finishes the work without redoing any.

>>> share(["a", "b", "c", "d", "e"], rank=1, world=2)
['b', 'd']
>>> output_name("clips/town 01.mkv")
'town_01.mp4'
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vidsynth.errors import VidsynthError

VIDEO_SUFFIXES = (".mkv", ".mp4", ".avi", ".mov", ".webm", ".m4v", ".nut")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def rank_and_world(environ=None) -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) outside torchrun.

    >>> rank_and_world({"RANK": "3", "WORLD_SIZE": "4"})
    (3, 4)
    """
    env = os.environ if environ is None else environ
    try:
        rank, world = int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1"))
    except ValueError:
        raise VidsynthError(f"RANK={env.get('RANK')!r} and WORLD_SIZE={env.get('WORLD_SIZE')!r} must be whole "
                            "numbers (torchrun sets them)") from None
    if world < 1 or not 0 <= rank < world:
        raise VidsynthError(f"expected 0 <= RANK < WORLD_SIZE, found RANK={rank}, WORLD_SIZE={world}")
    return rank, world


def share(items: list, rank: int, world: int) -> list:
    """This rank's items: every ``world``-th one starting at ``rank``."""
    return list(items)[rank::world]


def _is_sequence_folder(path: Path) -> bool:
    return path.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())


def list_inputs(spec: str) -> list[str]:
    """The inputs ``--inputs`` names, sorted: the videos and the folders of images (one sequence each) in a
    folder, or the lines of a text file (blank lines and ``#`` comments skipped; relative paths are relative
    to the text file's folder)."""
    path = Path(spec)
    if path.is_dir():
        found = sorted(str(p) for p in path.iterdir()
                       if (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES) or _is_sequence_folder(p))
        if not found:
            raise VidsynthError(f"--inputs {spec!r} holds no videos ({', '.join(VIDEO_SUFFIXES)}) and no folders of "
                                "label images; give a folder of label videos or a text file listing them")
        return found
    if path.is_file():
        found = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            item = Path(line) if os.path.isabs(line) else path.parent / line
            if not item.exists():
                raise VidsynthError(f"{spec}, line {number}: {line!r} does not exist")
            found.append(str(item))
        if not found:
            raise VidsynthError(f"--inputs list {spec!r} names no inputs; put one label video or folder per line")
        return sorted(found)
    raise VidsynthError(f"--inputs {spec!r} does not exist; give a folder of label videos or a text file listing them")


def output_name(input_path: str, suffix: str = ".mp4") -> str:
    """The output file name of an input: its stem, made safe for a file name, with ``suffix``."""
    stem = Path(str(input_path).rstrip("/")).stem if Path(input_path).is_file() or Path(input_path).suffix else \
        Path(str(input_path).rstrip("/")).name
    return (re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.") or "clip") + suffix


def plan(inputs: list[str], output_dir: str, suffix: str = ".mp4") -> list[tuple[str, str]]:
    """(input, output) for every input; two inputs that would write the same output are an error."""
    pairs, seen = [], {}
    for item in inputs:
        out = os.path.join(output_dir, output_name(item, suffix))
        if out in seen:
            raise VidsynthError(f"{seen[out]} and {item} would both write {out}; rename one of them")
        seen[out] = item
        pairs.append((item, out))
    return pairs


def output_state(output: str) -> str:
    """``done`` (the finished file exists), ``partial`` (an interrupted render's partial file exists) or ``todo``."""
    from vidsynth.streams.outputs import partial_path

    if os.path.isfile(output):
        return "done"
    return "partial" if partial_path(output).is_file() else "todo"
