"""`bepaper cam`: class activation maps and the adversarial inputs of Figures 6-7."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "cam"
HELP = "class activation maps and the adversarial inputs of Figures 6-7"
DESCRIPTION = f"""{HELP}.

For --videos test videos (of different classes) the centre clip in the run's test
view goes through the run's backbone (pretraining or fine-tuning run) as four
cases: original; static (its middle frame repeated); pasted (another class's
actor box pasted, static, into every frame); noise (another class's frame added,
Eq. 1 with --lam). The CAM is the channel mean of the feature map, upsampled.
Numbers: the share of CAM mass in the actor's stored box (and in the pasted box)
against its chance level (the box's share of the frame), and the mean raw
activation relative to the original clip's (a static video's should be low).

Writes to --out: cam_grid.png, cam_<k>_<Class>.png per video, gifs/*.gif per case,
cam.json and cam.csv."""
EXAMPLES = """\
  bepaper cam --run runs/pretrain-moco-be-r3d18-0123456789 --videos 4 --split 2 \\
      --out results/cam"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.add_argument("--run", required=True, help="a finished pretraining or fine-tuning run")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--videos", type=int, default=4, help="test videos (default: 4)")
    p.add_argument("--split", type=int, default=2, help="test split (default: 2)")
    p.add_argument("--root", help="data (default: the run's data.root)")
    p.add_argument("--dataset", help="its format: synthbias | hmdb51 | ... (default: the run's)")
    p.add_argument("--split-dir", help="its split files (default: found beside the root)")
    p.add_argument("--boxes", help="actor box folder (default: boxes/ beside the videos)")
    p.add_argument(
        "--lam", type=float, default=0.3, help="λ of the added static frame (default: 0.3)"
    )
    p.add_argument("--seed", type=int, default=0, help="which videos (default: 0)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from bepaper.analysis.cam_report import cam_report

    res = cam_report(
        args.run,
        args.out,
        videos=args.videos,
        split=args.split,
        root=args.root,
        dataset=args.dataset,
        split_dir=args.split_dir,
        boxes=args.boxes,
        lam=args.lam,
        seed=args.seed,
        device=args.device,
        progress=not args.no_progress,
    )
    for case, s in res["summary"].items():
        print(f"{case}: " + ", ".join(f"{k} {v:.3g}" for k, v in s.items() if v is not None))
    print(f"wrote {args.out}")
    return 0
