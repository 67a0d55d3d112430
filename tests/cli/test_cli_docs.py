"""docs/cli.md's option tables are the parser's: regenerated here, they must equal what the file holds."""

import argparse
import os
from dataclasses import dataclass

from vidsynth.cli import build_parser
from vidsynth.engine.jobs.options import RunOptions, add_arguments, commands, option, option_table, update_option_tables

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs", "cli.md")


def test_the_option_tables_of_docs_cli_md_are_generated_from_the_parser():
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    new, missing = update_option_tables(text, build_parser())
    assert not missing, (f"docs/cli.md has no option table for {missing}; run: python scripts/cli_docs.py (it "
                         "appends them at the end; move each under its command's section)")
    assert new == text, "docs/cli.md's option tables differ from the parser; run: python scripts/cli_docs.py"


def test_every_cli_option_of_a_job_is_in_its_table():
    parser = build_parser()
    render = commands(parser)["render"]
    table = option_table(render)
    for action in render._actions:
        for flag in action.option_strings:
            if flag not in ("-h", "--help"):
                assert f"`{flag}`" in table, flag


def test_a_changed_option_shows_up_as_a_stale_table():
    """The check above would notice an option added to a job's dataclass and not to the docs."""

    @dataclass(kw_only=True)
    class Options(RunOptions):
        model: str = option(help="a model", flags=("--model", "-m"))

    @dataclass(kw_only=True)
    class MoreOptions(Options):
        strength: float = option(0.5, help="how strong")

    def parser(cls):
        p = argparse.ArgumentParser(prog="x")
        sub = p.add_subparsers()
        add_arguments(sub.add_parser("job"), cls)
        return p

    text, missing = update_option_tables("# doc\n\n<!-- options: job -->\n<!-- end options: job -->\n", parser(Options))
    assert missing == [] and "`--model`, `-m` | required | a model" in text and "--strength" not in text
    again, _ = update_option_tables(text, parser(Options))
    assert again == text
    changed, _ = update_option_tables(text, parser(MoreOptions))
    assert changed != text and "| `--strength` | `0.5` | how strong |" in changed
