"""Decode fuzz, the fast subset: every kind of damage on every kind of input once (35 seeded inputs) through
``vidsynth extract``: no hang, no traceback, no internal error, bounded memory. ``benchmarks/fuzz.py`` runs
the full set (N >= 200) and prints the counts."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.fuzz import KINDS, fuzz  # noqa: E402


def test_damaged_inputs_end_cleanly_or_with_the_frames_that_decode(tmp_path):
    report = fuzz(5 * len(KINDS), seed=0, timeout=30, workdir=tmp_path)
    counts = report["counts"]
    assert counts["hang"] == 0 and counts["traceback"] == 0 and counts["internal error"] == 0, report["cases"]
    assert counts["clean error"] > 0 and counts["complete"] + counts["partial"] > 0
    for case in report["cases"]:
        if case["outcome"] in ("complete", "partial"):
            assert case["frames"] and case["last_line"].startswith("vidsynth: wrote "), case
        else:
            assert case["last_line"].startswith("vidsynth: error: "), case
    # bounded: one damaged input never blows the worker up, and memory does not grow from input to input
    # (alone the worker peaks near 300 MB; under a loaded suite one case was seen at 1.5 GB)
    assert report["peak_rss_mb"] < 2500
    first, last = report["rss_mb_first_last"]
    assert last - first < 1500
