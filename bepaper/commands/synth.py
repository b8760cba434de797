"""`bepaper synth`: generate SynthBias videos (`bepaper.data.synthbias.generate`)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "synth"
HELP = "generate SynthBias videos (UCF101 layout)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--size", default="default", help="tiny | default | study (default: default)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    p.add_argument(
        "--analogue",
        action="append",
        dest="analogues",
        metavar="NAME",
        help="ucf101like | hmdb51like | diving48like (repeatable; default: all)",
    )
    p.add_argument("--workers", type=int, default=2, help="processes (default: 2)")
    p.add_argument("--writer", default="pyav", help="pyav | opencv (default: pyav)")


def run(args: argparse.Namespace) -> int:
    from bepaper.data.synthbias import ANALOGUES, generate

    folders = generate(
        args.out,
        size=args.size,
        seed=args.seed,
        analogues=tuple(args.analogues or ANALOGUES),
        workers=args.workers,
        writer=args.writer,
    )
    for name, folder in folders.items():
        print(f"{name}: {folder}")
    return 0
