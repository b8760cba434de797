"""`bepaper bias-test`: score a fine-tuned classifier on the SynthBias bias test sets."""

from __future__ import annotations

import argparse
from pathlib import Path

from bepaper.commands import _common

NAME = "bias-test"
HELP = "score a fine-tuned classifier on the SynthBias bias test sets"
DESCRIPTION = f"""{HELP}.

Scores a finished fine-tuning run (its classifier, its test view, --num-clips
clips per video) on the original test list of --split and on every bias test set
of that split in --sets (from `bepaper bias-sets`). The contrasted accuracy
(SCUBA/SCUFO) is the share of videos correct on new_background and wrong on
static_actor.

Writes to --out (default: <run>/bias_test_split<N>): bias_test.json (top-1 per
set, contrasted accuracy), per_video.csv (correct or not, per video and set) and
outputs/<set>.npz (per-video scores)."""
EXAMPLES = """\
  bepaper bias-test --run runs/finetune-init-r3d18-0123456789 \\
      --sets data/synthbias/default/bias_sets --split 2"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.add_argument("--run", required=True, help="a finished fine-tuning run")
    p.add_argument("--sets", required=True, help="folder of the bias sets (bepaper bias-sets)")
    p.add_argument(
        "--split", type=int, default=2, help="split the sets were built for (default: 2)"
    )
    p.add_argument("--root", help="the analogue the sets came from (default: the run's data.root)")
    p.add_argument(
        "--variant", action="append", dest="variants", metavar="NAME", help="only these sets"
    )
    p.add_argument("--num-clips", type=int, default=10, help="clips per video (default: 10)")
    p.add_argument("--out", type=Path, help="output folder (default: <run>/bias_test_split<N>)")
    _common.add_execution(p)


def run(args: argparse.Namespace) -> int:
    from bepaper.analysis.bias_tests import bias_test

    res = bias_test(
        args.run,
        args.sets,
        split=args.split,
        root=args.root,
        variants=tuple(args.variants) if args.variants else None,
        num_clips=args.num_clips,
        out_dir=args.out,
        device=args.device,
        batch_size=args.batch_size,
        workers=args.workers,
        progress=not args.no_progress,
    )
    for name, acc in res["top1"].items():
        print(f"{name}: top-1 {acc:.3f} ({res['videos'][name]} videos)")
    print(f"contrasted accuracy: {res['contrasted_accuracy']}")
    print(f"wrote {res['out']}")
    return 0
