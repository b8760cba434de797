"""`bepaper finetune`: fine-tune a classifier and test it (`bepaper.train.finetune`)."""

from __future__ import annotations

import argparse

from bepaper.commands import _common

NAME = "finetune"
HELP = "fine-tune a classifier and test it (10 clips per video)"
DESCRIPTION = HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_config_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    from bepaper.train import finetune

    return _common.report(finetune(_common.build(NAME, args)))
