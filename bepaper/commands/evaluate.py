"""`bepaper evaluate`: test a fine-tuned classifier (`bepaper.evaluate.evaluate_run`)."""

from __future__ import annotations

import argparse

from bepaper.commands import _common

NAME = "evaluate"
HELP = "test a fine-tuned classifier"
DESCRIPTION = HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_config_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    from bepaper.evaluate import evaluate_run

    return _common.report(evaluate_run(_common.build(NAME, args)))
