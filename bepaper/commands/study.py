"""`bepaper study`: the BE question on SynthBias (`bepaper.study.run_study`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bepaper.commands import _common

NAME = "study"
HELP = "the BE question on SynthBias: sanity checks, then every arm over seeds"
DESCRIPTION = HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_config_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    from bepaper.study import run_study

    result = run_study(_common.build(NAME, args))
    for path in result["written"]:
        print(f"wrote {path}")
    print(Path(result["written"][0]).read_text())
    return 0
