"""`bepaper plan`: every run the paper's tables need, with its state; run or submit the missing.

bepaper plan                              # print the plan (done / running / missing)
bepaper plan --out plan.sh                # and write it as a script
bepaper plan --run-missing                # make the missing runs here, in order (resumable)
bepaper plan --gpus 8 --run-missing       # each run through torchrun on 8 GPUs
bepaper plan --gpus 4 --slurm --slurm-partition gpu --slurm-time 2880
bepaper plan --preset synthetic --study --figures --run-missing --jobs 2   # make reproduce's runs
"""

from __future__ import annotations

import argparse

NAME = "plan"
HELP = "list every run the paper's tables need (done / running / missing); run or submit them"


# the tables a plan covers (bepaper.plan.TABLES, which a test keeps equal; not imported
# here so that `bepaper --help` imports nothing heavy)
TABLES = ("table1", "table2", "table3", "table4")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset", default="paper", choices=("paper", "synthetic", "smoke"),
        help="paper: your datasets (default); synthetic | smoke: SynthBias, generated first",
    )  # fmt: skip
    parser.add_argument(
        "--tables", nargs="+", default=list(TABLES), choices=TABLES, help="the tables to plan"
    )
    parser.add_argument(
        "--study", action="store_true",
        help="also the BE question's runs (the ladder, every arm; SynthBias presets)",
    )  # fmt: skip
    parser.add_argument(
        "--figures", action="store_true",
        help="also Figures 4 and 5's runs (SynthBias presets)",
    )  # fmt: skip
    parser.add_argument(
        "--cells", nargs="+", default=[], metavar="ROW",
        help="only these rows (config stems, e.g. moco_be_c3d_ucf101); no reference rows",
    )  # fmt: skip
    parser.add_argument("--runs", default="runs", help="where run folders go (run.root)")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default: preset's")
    parser.add_argument("--device", default=None, help="cpu | cuda | auto (default: preset's)")
    parser.add_argument(
        "--datasets", default=None, metavar="FILE",
        help="datasets.yaml naming the dataset roots (default: $BEPAPER_DATASETS, "
        "./datasets.yaml, the repository's)",
    )  # fmt: skip
    parser.add_argument("--gpus", type=int, default=1, help="GPUs per run (>1: torchrun)")
    parser.add_argument(
        "--jobs", type=int, default=1,
        help="with --run-missing: runs at once, each a process with one CPU thread (CPU)",
    )  # fmt: skip
    parser.add_argument("--out", default=None, metavar="FILE", help="also write the plan here")
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--run-missing", action="store_true", help="make the missing runs here, in order"
    )
    what.add_argument(
        "--slurm", action="store_true", help="submit the missing runs with submitit (Slurm)"
    )
    parser.add_argument("--slurm-partition", default=None)
    parser.add_argument("--slurm-time", type=int, default=60 * 24, help="minutes per job")
    parser.add_argument(
        "--slurm-param", action="append", default=[], metavar="KEY=VALUE",
        help="an extra sbatch parameter (repeatable), e.g. account=abc",
    )  # fmt: skip
    parser.add_argument(
        "overrides", nargs="*", metavar="section.key=value",
        help="settings for every run, e.g. optim.epochs=1 (a smaller try)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from bepaper.errors import ConfigError
    from bepaper.experiments import Preset
    from bepaper.plan import build_plan, check_data, run_missing, submit_missing

    if args.datasets:
        os.environ["BEPAPER_DATASETS"] = str(Path(args.datasets).absolute())
    if args.gpus < 1:
        raise ConfigError(f"--gpus must be >= 1, got {args.gpus}")
    if args.jobs < 1 or (args.jobs > 1 and args.gpus > 1):
        raise ConfigError(f"--jobs must be >= 1, and 1 with --gpus > 1; got {args.jobs}")
    preset = Preset.load(
        args.preset, runs=args.runs, seeds=args.seeds, device=args.device,
        overrides=args.overrides,
    )  # fmt: skip
    if not preset.is_synthetic():
        check_data(preset, args.tables)
    plan = build_plan(
        preset, args.tables, args.cells, gpus=args.gpus, study=args.study, figures=args.figures
    )
    text = plan.text()
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    if args.run_missing:
        result = run_missing(plan, jobs=args.jobs)
        failed = [n for n, s in result.items() if s.startswith("failed")]
        left = [n for n, s in result.items() if s != "done"]
        print(f"{len(result) - len(left)} of {len(result)} runs done", end="")
        print(f"; {len(failed)} failed" if failed else "", end="")
        print(f"; {len(left) - len(failed)} left (running elsewhere or waiting)" if left else "")
        return 1 if failed else 0
    if args.slurm:
        executor = _executor(args)
        jobs = submit_missing(plan, executor)
        for job in jobs:
            print(f"submitted job {job.job_id}")
        print(f"{len(jobs)} jobs submitted; their logs: jobs/<run folder>.log beside the runs")
    return 0


def _executor(args: argparse.Namespace):
    """A submitit AutoExecutor for Slurm (its files in <runs>/submitit)."""
    from pathlib import Path

    from bepaper.errors import ConfigError

    try:
        import submitit
    except ImportError:
        raise ConfigError(
            "--slurm needs submitit: pip install 'bepaper[slurm]' (or pip install submitit)"
        ) from None
    extra = {}
    for item in args.slurm_param:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--slurm-param takes KEY=VALUE, got {item!r}")
        extra[key] = value
    executor = submitit.AutoExecutor(folder=Path(args.runs).absolute() / "submitit")
    params = {"timeout_min": args.slurm_time, "slurm_additional_parameters": extra}
    if args.slurm_partition:
        params["slurm_partition"] = args.slurm_partition
    executor.update_parameters(**params)
    return executor
