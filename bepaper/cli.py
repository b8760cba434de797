"""The `bepaper` command.

    bepaper synth    --out DIR [--preset default] [--seed 0]
    bepaper prepare  DATASET --root DIR [--split-dir DIR]
    bepaper pretrain [--config FILE ...] [section.key=value ...]
    bepaper finetune [--config FILE ...] [section.key=value ...]
    bepaper evaluate [--config FILE ...] [section.key=value ...]
    bepaper study    [--config FILE ...] [section.key=value ...]
    bepaper config   {pretrain,finetune,evaluate,study}   (print every default, documented)

User errors (a missing file, a bad config key, an unreadable dataset) print one line and
exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bepaper.errors import BepaperError

EPILOG = """examples:
  bepaper synth --out data/synthbias/default --preset default
  bepaper pretrain --config configs/synthbias_cpu.yaml method.name=moco_be run.out=runs/p
  bepaper finetune --config configs/synthbias_cpu.yaml init=runs/p run.out=runs/f
  bepaper prepare ucf101 --root /data/UCF-101 --split-dir /data/ucfTrainTestlist
  bepaper config pretrain      # every setting with its default
"""


def _config_command(sub, name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Settings: see `bepaper config {name}`.",
    )
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML file of settings (repeatable; later files win)",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="section.key=value",
        help="override one setting, e.g. optim.lr=0.1 run.out=runs/x",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bepaper",
        description="Background Erasing (CVPR 2021), reproduced.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="generate SynthBias videos (UCF101 layout)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--preset", default="default", help="tiny | default | study (default: default)")
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

    p = sub.add_parser("prepare", help="check a dataset folder against its split files")
    p.add_argument("dataset", help="ucf101 | hmdb51 | diving48 | kinetics400 | synthbias")
    p.add_argument("--root", required=True, help="video root (SynthBias: an analogue folder)")
    p.add_argument("--split-dir", default="", help="split files (default: <root>/splits)")
    p.add_argument("--split", type=int, default=1, help="split number (default: 1)")
    p.add_argument("--backend", default="decord", help="decord | pyav | opencv | frames")

    _config_command(sub, "pretrain", "self-supervised pretraining (MoCo, MoCo+HN, MoCo+BE)")
    _config_command(sub, "finetune", "fine-tune a classifier and test it (10 clips per video)")
    _config_command(sub, "evaluate", "test a fine-tuned classifier")
    _config_command(sub, "study", "the main job: SynthBias sanity checks + MoCo vs MoCo+BE")

    p = sub.add_parser("config", help="print a command's settings with their defaults")
    p.add_argument("which", choices=["pretrain", "finetune", "evaluate", "study"])
    return parser


def _schema(name: str):
    from bepaper import config

    return {
        "pretrain": config.PretrainConfig,
        "finetune": config.FinetuneConfig,
        "evaluate": config.EvaluateConfig,
        "study": config.StudyConfig,
    }[name]


def _run(args: argparse.Namespace) -> int:
    if args.command == "synth":
        from bepaper.data.synthbias import ANALOGUES, generate

        folders = generate(
            args.out,
            preset=args.preset,
            seed=args.seed,
            analogues=tuple(args.analogues or ANALOGUES),
            workers=args.workers,
            writer=args.writer,
        )
        for name, folder in folders.items():
            print(f"{name}: {folder}")
        return 0
    if args.command == "prepare":
        from bepaper.config import DataConfig
        from bepaper.data.datasets import load_split
        from bepaper.data.prepare import check_dataset, format_report

        data = DataConfig(
            dataset=args.dataset,
            root=args.root,
            split_dir=args.split_dir,
            split=args.split,
            backend=args.backend,
        )
        video_root, split = load_split(data)
        report = check_dataset(video_root, split, backend=args.backend)
        print(format_report(report))
        return 1 if report.problems else 0
    if args.command == "config":
        import yaml

        from bepaper.config import to_dict

        print(yaml.safe_dump(to_dict(_schema(args.which)()), sort_keys=False), end="")
        print(f"# comments on each key: {Path(__file__).parent / 'config.py'}")
        return 0

    from bepaper.config import build_config

    cfg = build_config(_schema(args.command), args.config, args.overrides)
    if args.command == "pretrain":
        from bepaper.train import pretrain as fn
    elif args.command == "finetune":
        from bepaper.train import finetune as fn
    elif args.command == "evaluate":
        from bepaper.train import evaluate_run as fn
    else:
        from bepaper.study import run_study

        result = run_study(cfg)
        for path in result["written"]:
            print(f"wrote {path}")
        print(Path(result["written"][0]).read_text())
        return 0
    from bepaper import distributed

    results = fn(cfg)
    distributed.cleanup()  # on an error, torchrun stops the other processes
    if int(os.environ.get("RANK", "0")) == 0:  # one report under torchrun
        print(json.dumps(results, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except BepaperError as err:
        print(f"bepaper: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bepaper: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
