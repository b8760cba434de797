"""`bepaper pretrain`: self-supervised pretraining (`bepaper.train.pretrain`)."""

from __future__ import annotations

import argparse

from bepaper.commands import _common

NAME = "pretrain"
HELP = (
    "self-supervised pretraining with any method (method.name: moco, rotnet, puzzle, vcop), "
    "BE on or off (method.be)"
)
DESCRIPTION = HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_config_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    from bepaper.train import pretrain

    return _common.report(pretrain(_common.build(NAME, args)))
