"""Submit a plan of runs to a cluster with submitit (optional: `pip install bepaper[slurm]`).

A plan is a list of `PlannedRun`s: a `bepaper` command line, a GPU count and the names of
the runs it needs (pretraining before fine-tuning, ...). `submit_plan` makes one submitit
job per run, each job one command:
- `python -m bepaper.cli <command>` for 0 or 1 GPU,
- `python -m torch.distributed.run --standalone --nproc_per_node N -m bepaper.cli <command>`
  (torchrun) for N > 1 GPUs on one node, one task that starts N processes.

Dependencies: on Slurm each job is submitted with `--dependency=afterok:<the jobs it
needs>` (and `--kill-on-invalid-dep=yes`, so a failed dependency cancels it instead of
leaving it pending), added to the Slurm parameters already set on the executor; 0 GPUs is
`--gpus-per-node=0`. With a local executor (`submitit.LocalExecutor`, or `AutoExecutor` on a
machine without Slurm), which has no dependencies, `submit_plan` waits for the jobs a run
needs before submitting it, and stops at a run whose dependency failed. Each job's output
goes to `jobs/<run folder's name>.log` beside the run folders (not inside: bepaper refuses
to start a run in a folder that holds anything but a run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bepaper.errors import BepaperError, ConfigError

BEPAPER = ("-m", "bepaper.cli")  # what python (or torchrun) runs, before a run's command


@dataclass
class PlannedRun:
    """One run of a plan: `command` is the argv after `bepaper` (e.g. ["finetune",
    "configs/x.yaml", "run.out=runs/f"]), `gpus` the GPUs it uses on one node (0 = CPU),
    `needs` the names of the runs that must succeed first, `folder` its run folder (the
    job's log goes to `job_log(folder)`)."""

    name: str
    command: list[str]
    gpus: int = 1
    needs: list[str] = field(default_factory=list)
    folder: str = ""


def job_log(folder: str | Path) -> Path:
    """Where the job of the run in `folder` writes its output: jobs/<name>.log beside it."""
    folder = Path(folder)
    return folder.parent / "jobs" / f"{folder.name}.log"


class CommandFailed(BepaperError):
    """A job's command exited with an error; the message ends with its last output."""


class RunCommand:
    """The job submitit runs: `argv` in `cwd`, its stdout and stderr appended to `log`.
    A class, so submitit can pickle it."""

    def __init__(self, argv: list[str], cwd: str, log: str) -> None:
        self.argv, self.cwd, self.log = list(argv), cwd, log

    def __call__(self) -> int:
        Path(self.log).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            code = subprocess.call(self.argv, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT)
        if code != 0:
            tail = Path(self.log).read_text(errors="replace").strip().splitlines()[-3:]
            raise CommandFailed(
                f"exit code {code} from {' '.join(self.argv)}; last output: {' | '.join(tail)}"
            )
        return code


def launch_argv(
    run: PlannedRun, python: str = sys.executable, entry: Sequence[str] = BEPAPER
) -> list[str]:
    """The command line of `run`'s job: python (0-1 GPU) or torchrun (more) running
    `entry` (`-m bepaper.cli`, or a script path) with the run's command."""
    if run.gpus <= 1:
        return [python, *entry, *run.command]
    torchrun = [python, "-m", "torch.distributed.run", "--standalone"]
    return [*torchrun, "--nproc_per_node", str(run.gpus), *entry, *run.command]


def plan_order(runs: Sequence[PlannedRun]) -> list[int]:
    """Indices of `runs` in an order that puts every run after the runs it needs (the plan's
    order where it allows). ConfigError on repeated names, unknown needs or a cycle."""
    names = [r.name for r in runs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"plan: run name '{repeated[0]}' is used twice")
    index = {n: i for i, n in enumerate(names)}
    for r in runs:
        if r.gpus < 0:
            raise ConfigError(f"plan: run '{r.name}' asks for {r.gpus} GPUs")
        unknown = [n for n in r.needs if n not in index]
        if unknown:
            raise ConfigError(f"plan: run '{r.name}' needs '{unknown[0]}', which is not planned")
    order: list[int] = []
    done: set[int] = set()
    while len(order) < len(runs):
        ready = [
            i
            for i, r in enumerate(runs)
            if i not in done and all(index[n] in done for n in r.needs)
        ]
        if not ready:
            stuck = [runs[i].name for i in range(len(runs)) if i not in done]
            raise ConfigError(f"plan: runs {stuck} need each other (a cycle)")
        order.append(ready[0])
        done.add(ready[0])
    return order


def _cluster(executor: Any) -> str:
    """ "slurm" or "local" (local, debug: no dependencies between jobs)."""
    import submitit

    if isinstance(executor, submitit.AutoExecutor):
        return "slurm" if executor.cluster == "slurm" else "local"
    if isinstance(executor, submitit.SlurmExecutor):
        return "slurm"
    return "local"


def _parameters(
    executor: Any, run: PlannedRun, dependency: str | None, base: dict[str, Any]
) -> dict[str, Any]:
    """submitit parameters of `run`'s job, under the names `executor` takes. `base` holds the
    Slurm additional parameters the user had set (account, qos, ...): kept in every job."""
    import submitit

    extra = {k: v for k, v in base.items() if k not in ("dependency", "kill_on_invalid_dep")}
    if dependency:
        extra |= {"dependency": dependency, "kill_on_invalid_dep": "yes"}
    if isinstance(executor, submitit.SlurmExecutor):
        return {
            "job_name": run.name,
            "gpus_per_node": run.gpus,
            "ntasks_per_node": 1,
            "additional_parameters": extra,
        }
    params: dict[str, Any] = {"gpus_per_node": run.gpus, "tasks_per_node": 1}
    if isinstance(executor, submitit.AutoExecutor):
        params["name"] = run.name
        if executor.cluster == "slurm":
            params["slurm_additional_parameters"] = extra
    return params


def _slurm_extra(executor: Any) -> dict[str, Any]:
    """The Slurm additional parameters already set on `executor` (an AutoExecutor keeps its
    Slurm executor in `_executor`)."""
    inner = getattr(executor, "_executor", executor)
    return dict(getattr(inner, "parameters", {}).get("additional_parameters") or {})


def _reason(err: Exception) -> str:
    """One line for a failed job: the CommandFailed message in submitit's error text (it
    holds the job's traceback), else its first line."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in reversed(lines):
        if "CommandFailed: " in line:
            return line.split("CommandFailed: ", 1)[1]
    return lines[0] if lines else type(err).__name__


def submit_plan(
    runs: Sequence[PlannedRun],
    executor: Any,
    cwd: str | os.PathLike | None = None,
    python: str = sys.executable,
    entry: Sequence[str] = BEPAPER,
) -> list:
    """Submit one job per run with `executor` (a submitit Auto-, Slurm- or LocalExecutor),
    each after the runs it needs (see the module docstring). Returns the jobs in the order of
    `runs`. Commands run in `cwd` (default: the current folder). With a local executor this
    waits for each run's dependencies, and raises CommandFailed naming a failed dependency
    and the runs it leaves unstarted (jobs already started keep running)."""
    order = plan_order(runs)
    cluster = _cluster(executor)
    cwd = str(Path(cwd or os.getcwd()).absolute())
    index = {r.name: i for i, r in enumerate(runs)}
    base = _slurm_extra(executor) if cluster == "slurm" else {}
    jobs: list = [None] * len(runs)
    for i in order:
        run = runs[i]
        needed = [jobs[index[n]] for n in run.needs]
        dependency = None
        if cluster == "slurm" and needed:
            dependency = "afterok:" + ":".join(str(job.job_id) for job in needed)
        elif needed:
            for name, job in zip(run.needs, needed, strict=True):
                try:
                    job.result()
                except Exception as err:  # noqa: BLE001 (whatever the job raised)
                    left = [runs[k].name for k in order if jobs[k] is None]
                    reason = _reason(err)
                    raise CommandFailed(
                        f"run '{name}' failed ({reason}); not started: {left}"
                    ) from None
        folder = Path(run.folder or Path(cwd) / "runs" / run.name)
        executor.update_parameters(**_parameters(executor, run, dependency, base))
        command = RunCommand(launch_argv(run, python, entry), cwd, str(job_log(folder)))
        jobs[i] = executor.submit(command)
    return jobs
