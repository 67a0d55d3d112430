"""Regenerate the option tables of docs/cli.md from the ``vidsynth`` command's parser.

Each command's table sits between ``<!-- options: COMMAND ... -->`` and ``<!-- end options: COMMAND -->``;
a command without markers gets its table appended at the end (move it where it belongs).
tests/cli/test_cli_docs.py fails while docs/cli.md differs from what this writes.

    python scripts/cli_docs.py           # rewrite docs/cli.md
    python scripts/cli_docs.py --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "cli.md")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only say whether docs/cli.md is up to date")
    args = p.parse_args(argv)
    from vidsynth.cli import build_parser
    from vidsynth.engine.jobs.options import update_option_tables

    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    new, missing = update_option_tables(text, build_parser())
    if args.check:
        print("docs/cli.md is up to date" if new == text else "docs/cli.md is out of date: python scripts/cli_docs.py")
        return 0 if new == text else 1
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(new)
    print(f"wrote {DOC}" + (f"; appended tables for {', '.join(missing)}: move them where they belong" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
