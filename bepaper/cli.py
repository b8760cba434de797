"""The `bepaper` command: a parser over the command modules of `bepaper.commands`.

    bepaper synth    --out DIR [--size default] [--seed 0]
    bepaper prepare  DATASET --root DIR [--split-dir DIR]
    bepaper pretrain [--config FILE ...] [section.key=value ...]
    bepaper finetune [--config FILE ...] [section.key=value ...]
    bepaper evaluate [--config FILE ...] [section.key=value ...]
    bepaper study    [--config FILE ...] [section.key=value ...]
    bepaper config   {pretrain,finetune,evaluate,study}   (print every default, documented)

Analyses of finished runs (each writes to a folder of its own; see `bepaper <command> -h`):

    bepaper retrieve    --run PRETRAIN_RUN --out DIR [--root DATA] [--split 1] [--level video]
    bepaper static-bias --static RUN --base RUN --new RUN [--split 1] --out DIR
    bepaper actor-crop  --root DATA [--dataset synthbias] --out DIR --boxes ground_truth
    bepaper bias-sets   --root ANALOGUE --out DIR [--split 2]
    bepaper bias-test   --run FINETUNE_RUN --sets DIR [--split 2]
    bepaper cam         --run RUN --out DIR [--videos 4] [--split 2]

Each command is a module of `bepaper.commands` (its arguments and its `run`), listed in
`bepaper.commands.COMMANDS`; this file only builds the parser and dispatches. User errors
(a missing file, a bad config key, an unreadable dataset) print one line and exit with
code 2.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from bepaper import commands
from bepaper.errors import BepaperError

EPILOG = """examples:
  bepaper synth --out data/synthbias/default --size default
  bepaper pretrain method.name=rotnet method.be=true model.backbone=c3d run.out=runs/p
  bepaper finetune init=runs/p run.out=runs/f
  bepaper prepare ucf101 --root /data/UCF-101 --split-dir /data/ucfTrainTestlist
  bepaper config pretrain      # every setting with its default
"""


def add_command(sub: argparse._SubParsersAction, module: ModuleType) -> None:
    """One command's parser from its module: NAME, HELP, DESCRIPTION, EXAMPLES and
    add_arguments."""
    examples = getattr(module, "EXAMPLES", None)
    p = sub.add_parser(
        module.NAME,
        help=module.HELP,
        description=getattr(module, "DESCRIPTION", None),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"examples:\n{examples}" if examples else None,
    )
    module.add_arguments(p)


def build_parser(modules: list[ModuleType] | None = None) -> argparse.ArgumentParser:
    """The top-level parser with a subcommand per module (default: every registered one)."""
    parser = argparse.ArgumentParser(
        prog="bepaper",
        description="Background Erasing (CVPR 2021), reproduced.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in commands.modules() if modules is None else modules:
        add_command(sub, module)
    return parser


def main(argv: list[str] | None = None) -> int:
    modules = commands.modules()
    args = build_parser(modules).parse_args(argv)
    run = {m.NAME: m.run for m in modules}[args.command]
    try:
        return run(args)
    except BepaperError as err:
        print(f"bepaper: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bepaper: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
