"""`bepaper config`: print a config command's settings, each with its default and doc."""

from __future__ import annotations

import argparse

from bepaper.commands import _common

NAME = "config"
HELP = "print a command's settings with their defaults"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("which", choices=["pretrain", "finetune", "evaluate", "study"])


def run(args: argparse.Namespace) -> int:
    from bepaper.config import describe, describe_methods

    cfg = _common.schema(args.which)()
    print("\n".join(describe(cfg)))
    if hasattr(cfg, "method"):
        print("\n".join(describe_methods()))
    return 0
