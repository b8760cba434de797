"""`bepaper static-bias`: per-class static accuracy against BE's gain (Figure 4)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "static-bias"
HELP = "per-class static accuracy against BE's per-class gain, Pearson (Figure 4)"
DESCRIPTION = f"""{HELP}.

Reads the per-video test outputs of three finished fine-tuning runs on the same
test videos: --static (trained and tested on static videos, static=true) gives
each class's static top-1; --base and --new (e.g. MoCo and MoCo+BE) give the
per-class relative gain 100 (new - base) / base and the absolute gain.
The relative gain divides by the base accuracy, which biases its correlation with
static accuracy toward negative values: read the absolute-gain rho beside it.

Writes to --out: static_bias.csv (one row per class), static_bias.json (Pearson
rho, p, 95% CI and n of both gains, Spearman; for SynthBias the known per-class
scene bias and its rho with static top-1) and static_bias.png / .pdf."""
EXAMPLES = """\
  bepaper static-bias --static runs/finetune-static-r3d18-aaaaaaaaaa \\
      --base runs/finetune-init-r3d18-bbbbbbbbbb \\
      --new runs/finetune-init-r3d18-cccccccccc \\
      --split 1 --out results/static_bias"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.add_argument("--static", required=True, help="fine-tuning run on static videos")
    p.add_argument("--base", required=True, help="fine-tuning run of the baseline (e.g. MoCo)")
    p.add_argument("--new", required=True, help="fine-tuning run of the method (e.g. MoCo+BE)")
    p.add_argument("--split", type=int, default=1, help="test split (default: 1)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--analogue", help="SynthBias analogue folder for the known class bias")
    p.add_argument("--title", help="plot title")


def run(args: argparse.Namespace) -> int:
    from bepaper.analysis.static_bias import static_bias_from_runs

    res = static_bias_from_runs(
        args.static,
        args.base,
        args.new,
        split=args.split,
        out_dir=args.out,
        analogue=args.analogue,
        title=args.title,
    )
    for name in ("relative", "absolute", "known_bias"):
        s = res.get(name)
        if s:
            print(f"{name}: rho = {s['r']:.3g}, p = {s['p']:.3g}, n = {s['n']}")
    print(f"wrote {args.out}")
    return 0
