"""Arguments and steps that several commands share."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any


def add_config_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """`--config FILE ...` and `section.key=value ...`: the settings of a config command
    (pretrain, finetune, evaluate, study), read by `bepaper.config.build_config`."""
    parser.epilog = f"Settings: see `bepaper config {name}`."
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML file of settings (repeatable; later files win)",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="section.key=value",
        help="override one setting, e.g. optim.lr=0.1 run.out=runs/x",
    )


def schema(name: str) -> type:
    """The config dataclass of a config command."""
    from bepaper import config

    return {
        "pretrain": config.PretrainConfig,
        "finetune": config.FinetuneConfig,
        "evaluate": config.EvaluateConfig,
        "study": config.StudyConfig,
    }[name]


def build(name: str, args: argparse.Namespace) -> Any:
    """The validated config of a config command from its `--config` files and overrides."""
    from bepaper.config import build_config

    return build_config(schema(name), args.config, args.overrides)


def report(results: dict) -> int:
    """End a run under torchrun or alone: wait for every process, then print the results
    once (rank 0)."""
    from bepaper import distributed

    distributed.cleanup()  # on an error, torchrun stops the other processes
    if int(os.environ.get("RANK", "0")) == 0:  # one report under torchrun
        print(json.dumps(results, indent=2))
    return 0


def add_execution(p: argparse.ArgumentParser) -> None:
    """Where and how an analysis runs: device, batch size, loader workers, progress."""
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--batch-size", type=int, default=16, help="videos per batch (default: 16)")
    p.add_argument(
        "--workers", type=int, default=None, help="DataLoader workers (default: the run's)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
