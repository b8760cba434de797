"""`bepaper readme`: rewrite the generated blocks of the README from result files."""

from __future__ import annotations

import argparse

NAME = "readme"
HELP = "rewrite the generated blocks of README.md and docs/*.md from result files"
DESCRIPTION = (
    "The numbers in the README come from result files: this rewrites every\n"
    "<!-- bepaper:NAME --> block from figures/ (--check: exit 1 if any is stale)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="*", default=["README.md", "docs/results.md", "docs/synthbias.md"]
    )
    parser.add_argument("--check", action="store_true", help="report stale blocks, change nothing")


def run(args: argparse.Namespace) -> int:
    from bepaper import readme

    code = 0
    for f in args.files:
        if args.check:
            old = readme.stale(f)
            if old:
                print(f"{f}: stale blocks {old}")
                code = 1
        elif readme.update(f):
            print(f"updated {f}")
    return code
