"""`bepaper actor-crop`: an actor-cropped copy of a dataset (Figure 5)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "actor-crop"
HELP = "an actor-cropped copy of a dataset (Actor-HMDB51, Figure 5)"
DESCRIPTION = f"""{HELP}.

For every video of the split files: the actor box of every frame (SynthBias's
stored ground truth, or people found by Faster R-CNN or OpenCV's HOG), the
smallest region holding all of them (grown by --margin, made square), every frame
cropped to it and resized. Writes a dataset in the same layout to --out: videos/,
boxes/ (in the crop's coordinates), splits/ (copied) and meta.json. A SynthBias
source gives a SynthBias folder: fine-tune on it with data.root=<out>.
Faster R-CNN weights are never downloaded: --weights, or torchvision's cache."""
EXAMPLES = """\
  bepaper actor-crop --root data/synthbias/default/hmdb51like \\
      --out data/synthbias/default/hmdb51like_actor --boxes ground_truth
  bepaper actor-crop --dataset hmdb51 --root /data/hmdb51 --split-dir /data/splits \\
      --out /data/actor_hmdb51 --boxes fasterrcnn --device cuda --workers 1"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.add_argument("--root", required=True, help="video root (SynthBias: an analogue folder)")
    p.add_argument(
        "--dataset",
        default="synthbias",
        help="synthbias | ucf101 | hmdb51 | diving48 | kinetics400",
    )
    p.add_argument("--split-dir", default="", help="split files (default: <root>/splits)")
    p.add_argument("--out", required=True, type=Path, help="output folder (replaced)")
    p.add_argument(
        "--boxes",
        default="ground_truth",
        help="ground_truth | fasterrcnn | hog (default: ground_truth)",
    )
    p.add_argument("--weights", help="Faster R-CNN state dict (fasterrcnn_resnet50_fpn COCO)")
    p.add_argument("--margin", type=float, default=0.0, help="grow the box by this fraction")
    p.add_argument("--size", type=int, help="output side (default: the source's short side)")
    p.add_argument("--no-square", action="store_true", help="keep the region's aspect")
    p.add_argument("--score-threshold", type=float, help="detector score threshold")
    p.add_argument("--detect-every", type=int, default=1, help="detect on every k-th frame")
    p.add_argument("--device", default="cpu", help="detector device (default: cpu)")
    p.add_argument("--backend", default="decord", help="video decoder (default: decord)")
    p.add_argument("--workers", type=int, default=1, help="processes (default: 1)")


def run(args: argparse.Namespace) -> int:
    from bepaper.config import DataConfig
    from bepaper.data.actor_crop import build_actor_crops
    from bepaper.data.datasets import split_location

    data = DataConfig(dataset=args.dataset, root=args.root, split_dir=args.split_dir)
    video_root, split_dir = split_location(data)
    out = build_actor_crops(
        video_root,
        split_dir,
        args.out,
        boxes=args.boxes,
        size=args.size,
        margin=args.margin,
        square=not args.no_square,
        weights=args.weights,
        score_threshold=args.score_threshold,
        detect_every=args.detect_every,
        device=args.device,
        dataset="ucf101" if args.dataset == "synthbias" else args.dataset,
        backend=args.backend,
        workers=args.workers,
    )
    print(f"wrote {out}")
    return 0
