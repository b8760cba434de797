"""`bepaper prepare`: check a dataset folder against its split files, or re-encode it."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

NAME = "prepare"
HELP = "check a dataset folder against its split files, or re-encode it smaller"
DESCRIPTION = textwrap.fill(
    "Check every video a split lists: report each missing, unreadable or truncated "
    "file on its own line (with what the decoder said), and exit 1 if any. With "
    "--resize, re-encode every listed video to a smaller short side under --out (and "
    "copy the split files), so that training decodes faster. Split files are found "
    "where the official archives put them unless --split-dir is given.",
    88,
)
EXAMPLES = """\
  bepaper prepare ucf101 --root /data/UCF-101
  bepaper prepare hmdb51 --root /data/hmdb51 --workers 8
  bepaper prepare ucf101 --root /data/UCF-101 --resize 128 --out /data/UCF-101-128"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.add_argument("dataset", help="ucf101 | hmdb51 | diving48 | kinetics400 | synthbias")
    p.add_argument("--root", required=True, help="video root (SynthBias: an analogue folder)")
    p.add_argument("--split-dir", default="", help="split files (default: searched)")
    p.add_argument("--split", type=int, default=1, help="split number (default: 1)")
    p.add_argument("--backend", default="decord", help="decord | pyav | opencv | frames")
    p.add_argument("--workers", type=int, default=0, help="processes (default: 0, this one)")
    p.add_argument("--resize", type=int, default=0, metavar="SHORT_SIDE",
                   help="re-encode to this short side under --out")  # fmt: skip
    p.add_argument("--out", default="", help="where --resize writes the dataset")


def run(args: argparse.Namespace) -> int:
    from bepaper.config import DataConfig
    from bepaper.data.datasets import load_split
    from bepaper.data.locate import find_split_dir, split_files
    from bepaper.data.prepare import (
        check_dataset,
        format_report,
        format_resize_report,
        format_warnings,
        resize_dataset,
    )
    from bepaper.errors import ConfigError

    data = DataConfig(
        dataset=args.dataset,
        root=args.root,
        split_dir=args.split_dir,
        split=args.split,
        backend=args.backend,
    )
    video_root, split = load_split(data)
    split_dir = Path(args.split_dir) if args.split_dir else None
    if split_dir is None and args.dataset != "synthbias":
        split_dir, where = find_split_dir(args.dataset, video_root, args.split)
        print(where, file=sys.stderr)
    if args.resize:
        if not args.out:
            raise ConfigError("--resize needs --out DIR (the resized copy)")
        if args.dataset == "synthbias":
            raise ConfigError("--resize is for real datasets; SynthBias sets are generated")
        report = resize_dataset(
            video_root,
            split,
            args.out,
            args.resize,
            args.backend,
            args.workers,
            split_files=split_files(args.dataset, split_dir),
        )
        print(format_resize_report(report))
    else:
        report = check_dataset(video_root, split, backend=args.backend, workers=args.workers)
        print(format_report(report))
    warnings = format_warnings(report)
    if warnings:
        print(warnings, file=sys.stderr)
    return 1 if report.problems else 0
