"""`bepaper bias-sets`: the SynthBias bias test sets."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "bias-sets"
HELP = "SynthBias bias test sets: new background, background only, static actor, actor only"
DESCRIPTION = f"""{HELP}.

Re-renders the test videos of one split of a generated SynthBias analogue four
ways (beyond the paper): new_background (SCUBA-like: a scene family the analogue
never uses), background_only (HAT: the actor removed), static_actor (SCUFO-like:
the actor frozen at frame 0 on the moving scene), actor_only (HAT: the rest filled
with the frame's mean colour). Each becomes a SynthBias folder
<out>/<analogue>_<variant>/ with the split's files; score a classifier on them with
`bepaper bias-test`."""
EXAMPLES = """\
  bepaper bias-sets --root data/synthbias/default/ucf101like \\
      --out data/synthbias/default/bias_sets --split 2"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.add_argument("--root", required=True, help="a generated SynthBias analogue folder")
    p.add_argument("--out", required=True, type=Path, help="folder of the sets")
    p.add_argument("--split", type=int, default=2, help="1 or 2 (default: 2, unbiased test)")
    p.add_argument(
        "--variant", action="append", dest="variants", metavar="NAME",
        help="new_background | background_only | static_actor | actor_only "
        "(repeatable; default: all)",
    )  # fmt: skip
    p.add_argument("--workers", type=int, default=2, help="processes (default: 2)")


def run(args: argparse.Namespace) -> int:
    from bepaper.data.bias_sets import build_bias_sets
    from bepaper.data.synthbias import VARIANTS

    folders = build_bias_sets(
        args.root, args.out, tuple(args.variants or VARIANTS), args.split, args.workers
    )
    for variant, folder in folders.items():
        print(f"{variant}: {folder}")
    return 0
