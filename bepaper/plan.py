"""Every run the paper's tables need, in dependency order, with its state; run the missing ones
here (resumable) or submit them to Slurm.

    preset = Preset.load("paper")                 # dataset roots from datasets.yaml / env
    plan = build_plan(preset, tables=("table1",))
    print(plan.text())                            # each run: state, GPUs, command
    run_missing(plan)                             # in order; a second call trains nothing
    run_missing(plan, jobs=2)                     # two one-thread workers side by side

The plan is what the notebooks would train, found by the same calls (`run_cells`,
`reference_rows`; bepaper.experiments) with a preset that records each run instead of
training it, so a planned run and a notebook's run share their folder. Rounds: pretraining,
then the fine-tunes that start from it; the K400-supervised reference (a fine-tune on
Kinetics-400 with all labels), then the fine-tunes that start from that. A fine-tune's
folder depends on its init's identity (bepaper.identity), computed here from the planned
init before that init exists.

A run's state comes from its folder: `done` (finished.json), `running` (a live process
holds its .lock; a lock left by a dead process is removed, see `bepaper.runs.lock_holder`),
or `missing` (with the epoch it resumes after, when it has checkpoints).
"""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bepaper.config import MethodConfig, to_dict
from bepaper.errors import BepaperError, DataError
from bepaper.experiments import REPO, Preset, reference_rows, run_cells, yaml_dataset

TABLES = ("table1", "table2", "table3", "table4")
STATES = ("done", "running", "missing")

# Every switch that defines a row is spelled out in a planned command, default or not.
EXPLICIT = (
    "data.dataset",
    "data.root",
    "data.split",
    "data.per_class",
    "model.backbone",
    "model.width",
    "method.name",
    "method.be",
    "method.distraction",
    "method.hard_negatives",
    "run.root",
    "run.seed",
    "init",
    "static",
)
PATH_KEYS = ("data.root", "data.split_dir", "run.root", "init")


@dataclass(frozen=True)
class TableSpec:
    """What a table trains: its pretraining cells, the datasets fine-tuned on (their
    column labels), the cell whose settings the reference rows use, the test splits."""

    cells: tuple
    targets: dict[str, str]
    reference: str = ""  # a pretraining config, relative to configs/paper/
    test_splits: tuple[int, ...] = (1,)
    finetune: bool = True  # False: pretraining only (Table 3's retrieval reads it)


def table_specs() -> dict[str, TableSpec]:
    from bepaper import tables

    ucf_hmdb = {"ucf101": "UCF101", "hmdb51": "HMDB51"}
    return {
        "table1": TableSpec(tables.TABLE1, ucf_hmdb, "table1/moco_i3d_k400.yaml", (1, 2)),
        "table2": TableSpec(tables.TABLE2, {"diving48": "Diving48"}, "table2/moco_i3d_k400.yaml"),
        "table3": TableSpec(tables.TABLE3, {}, finetune=False),
        "table4": TableSpec(tables.TABLE4, ucf_hmdb, "", (1, 2)),
    }


# ---------------------------------------------------------------------- one run


@dataclass
class PlanRun:
    """One planned run: `command` (pretrain | finetune) of `cfg` in `folder`, after the runs
    named in `needs`; `why` says which tables and rows need it."""

    name: str
    command: str
    cfg: Any
    folder: Path
    needs: list[str] = field(default_factory=list)
    why: list[str] = field(default_factory=list)
    # the BE question's frozen probe of this run, made after it (bepaper.study.frozen_probe):
    # (its study config, seed)
    probe: tuple | None = None

    def args(self) -> list[str]:
        """The argv after `bepaper` that makes exactly this run (see `explicit_args`)."""
        return [self.command, *explicit_args(self.cfg)]

    def state(self) -> str:
        return run_state(self.folder)


def explicit_args(cfg) -> list[str]:
    """`key=value` overrides that rebuild `cfg` from the defaults: every setting that differs
    from its default, every key of EXPLICIT, method.name first (its options follow it);
    paths absolute, so the command works from any folder."""
    from bepaper.experiments import _yaml_value

    want = to_dict(cfg)
    defaults = to_dict(type(cfg)())
    args: list[str] = []
    if "method" in want:
        args.append(f"method.name={want['method']['name']}")
        defaults["method"] = to_dict(MethodConfig(name=want["method"]["name"]))

    def walk(a: dict, b: dict, prefix: str) -> None:
        for k, v in b.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                walk(a.get(k, {}), v, f"{key}.")
                continue
            if key in ("run.out", "method.name") or (a.get(k) == v and key not in EXPLICIT):
                continue
            if key in PATH_KEYS and v:
                v = str(Path(v).expanduser().absolute())
            args.append(f"{key}={_yaml_value(v)}")

    walk(defaults, want, "")
    return args


def run_state(folder: str | Path) -> str:
    """done | running (pid N on HOST) | missing, with 'resumes after epoch N' when a killed
    run left checkpoints. A stale lock is removed (with a message)."""
    from bepaper.checkpoint import latest_checkpoint
    from bepaper.runs import lock_holder

    folder = Path(folder)
    if (folder / "finished.json").exists():
        return "done"
    holder = lock_holder(folder)
    if holder is not None:
        return f"running ({holder})"
    ckpt = latest_checkpoint(folder / "checkpoints")
    if ckpt is not None:
        return f"missing (resumes after epoch {int(ckpt.stem.removeprefix('ckpt_epoch'))})"
    return "missing"


# ---------------------------------------------------------------------- the plan


@dataclass
class Plan:
    """The runs in dependency order, and the rows that cannot be planned here (why)."""

    runs: list[PlanRun]
    skipped: list[str]
    gpus: int = 1
    tables: tuple[str, ...] = TABLES

    def states(self) -> dict[str, str]:
        return {r.name: r.state() for r in self.runs}

    def launch(self, run: PlanRun) -> list[str]:
        """The full command line of `run` at this plan's GPU count."""
        if self.gpus > 1:
            return ["torchrun", "--standalone", f"--nproc_per_node={self.gpus}", "-m",
                    "bepaper.cli", *run.args()]  # fmt: skip
        return ["bepaper", *run.args()]

    def text(self, states: dict[str, str] | None = None) -> str:
        """The plan as a shell script: a header, then per run a comment (number, state,
        GPUs, what needs it, its folder) and its command."""
        states = states or self.states()
        count = {s: sum(1 for v in states.values() if v.startswith(s)) for s in STATES}
        lines = [
            f"# bepaper plan for {', '.join(self.tables)}: {len(self.runs)} runs "
            f"({count['done']} done, {count['running']} running, {count['missing']} missing), "
            f"{self.gpus} GPU{'s' if self.gpus != 1 else ''} per run, in dependency order.",
            "# Run the missing ones: bepaper plan --run-missing (same options), or --slurm.",
        ]
        lines += [f"# not planned: {s}" for s in self.skipped]
        for i, r in enumerate(self.runs, 1):
            after = f"; after {', '.join(r.needs)}" if r.needs else ""
            lines += [
                "",
                f"# [{i}/{len(self.runs)}] {states[r.name]}: {r.command}, {self.gpus} GPU"
                f"{'s' if self.gpus != 1 else ''}; for {'; '.join(r.why)}{after}",
                f"# folder: {r.folder.absolute()}",
                " ".join(shlex.quote(a) for a in self.launch(r)),
            ]
        return "\n".join(lines) + "\n"


class _Planner(Preset):
    """A preset that records the runs asked of it instead of training them. Its `finetune`
    returns the planned folder as the run, so the rounds after it can be planned too."""

    def __init__(self, preset: Preset) -> None:
        fields = {f.name: getattr(preset, f.name) for f in dataclasses.fields(Preset)}
        super().__init__(**fields)
        self.planned: dict[str, PlanRun] = {}  # folder → run, in the order asked
        self.identities: dict[str, dict] = {}  # folder → identity
        self.why = ""

    def pretrain(self, cfg) -> Path:
        return self._add("pretrain", cfg)

    def finetune(self, cfg) -> dict | None:
        if cfg is None:
            return None
        return {"run": str(self._add("finetune", cfg)), "test_top1": {}}

    def _add(self, command: str, cfg) -> Path:
        from bepaper.identity import identity_key, run_identity, run_label

        init = str(getattr(cfg, "init", "") or "")
        needs = []
        if init in self.planned:
            ident = run_identity(dataclasses.replace(cfg, init=""), command)
            ident["config"]["init"] = f"run:{identity_key(self.identities[init])}"
            needs = [self.planned[init].name]
        else:
            ident = run_identity(cfg, command)
        folder = Path(cfg.run.root) / f"{command}-{run_label(cfg, command)}-{identity_key(ident)}"
        key = str(folder)
        if key not in self.planned:
            self.planned[key] = PlanRun(folder.name, command, cfg, folder, needs)
            self.identities[key] = ident
        run = self.planned[key]
        if self.why and self.why not in run.why:
            run.why.append(self.why)
        return folder


def _available(preset: Preset) -> set[str]:
    return {d for d, root in preset.datasets.items() if root}


def build_plan(
    preset: Preset,
    tables: Sequence[str] = TABLES,
    cells: Sequence[str] = (),
    gpus: int = 1,
    references: bool = True,
    study: bool = False,
    figures: bool = False,
) -> Plan:
    """Every run `tables` need under `preset`, in dependency order. `cells`: only these rows
    (config stems, e.g. 'moco_be_c3d_ucf101'), cut or not. Rows whose datasets have no root
    are listed in `Plan.skipped` with the reason. A SynthBias preset's data are generated
    first; `study`: its BE question's runs too (the ladder and every arm, as
    `bepaper.study.run_study` makes them), before the tables'; `figures`: Figures 4 and 5's
    runs too (SynthBias presets: Figure 5's actor crops come from its ground truth)."""
    specs = table_specs()
    unknown = [t for t in tables if t not in specs]
    if unknown:
        raise BepaperError(f"unknown table '{unknown[0]}'; choose from {list(specs)}")
    if (study or figures) and not preset.is_synthetic():
        raise BepaperError(
            "the BE question's and the figures' runs (--study, --figures) are planned at a "
            "SynthBias preset"
        )
    runs_root = str(Path(preset.runs).expanduser().absolute())
    preset = dataclasses.replace(preset, runs=runs_root, run={**preset.run, "root": runs_root})
    if preset.study is not None:  # a SynthBias preset's runs take their settings from it
        run = dataclasses.replace(preset.study.run, root=runs_root)
        preset.study = dataclasses.replace(preset.study, run=run)
    if preset.is_synthetic():
        preset.prepare_data(tuple(preset.datasets))
        preset.datasets = {d: a for d, a in preset.datasets.items() if a}
    planner = _Planner(preset)
    if study:
        _plan_study(planner)
    have = _available(preset)
    skipped: list[str] = []
    wanted = set(cells)
    for table in tables:
        spec = specs[table]
        targets = {d: c for d, c in spec.targets.items() if d in have}
        lost = [d for d in spec.targets if d not in have]
        if lost and spec.targets:
            skipped.append(f"{table}: the {', '.join(lost)} columns (no root configured)")
        for cell in spec.cells:
            if wanted and Path(cell.config).stem not in wanted:
                continue
            if not wanted and cell.config in preset.cut:
                skipped.append(
                    f"{table} '{cell.row}' ({cell.backbone}, {cell.pretrain}): cut at preset "
                    f"{preset.name} (configs/presets/{preset.name}.yaml)"
                )
                continue
            source = yaml_dataset(REPO / "configs" / "paper" / cell.config)
            if source not in have:
                skipped.append(f"{table} '{cell.row}' ({cell.key}): needs {source}, not configured")
                continue
            planner.why = f"{table} '{cell.row}' ({cell.backbone}, {cell.pretrain})"
            if spec.finetune:
                run_cells(planner, [cell], targets, test_splits=spec.test_splits)
            else:
                for seed in preset.seeds:
                    path = REPO / "configs" / "paper" / cell.config
                    planner.pretrain(planner.pretrain_config(path, seed))
        if not (references and spec.reference) or wanted:
            continue
        source = yaml_dataset(REPO / "configs" / "paper" / spec.reference)
        if source not in have or not targets:
            skipped.append(f"{table} reference rows: need {source} and a target dataset")
            continue
        planner.why = f"{table} reference rows (random init, {source} supervised)"
        reference_rows(planner, spec.reference, targets, test_splits=spec.test_splits)
    if figures:
        _plan_figures(planner)
    runs = list(planner.planned.values())
    return Plan(_ordered(runs), list(dict.fromkeys(skipped)), gpus, tuple(tables))


def _plan_study(planner: _Planner) -> None:
    """The BE question's runs at `planner`'s SynthBias preset: the ladder's over its seeds,
    then each arm's over the study's seeds (bepaper.ladder, bepaper.study)."""
    from bepaper.ladder import ladder_configs
    from bepaper.study import arm_configs, prepare_data

    study = prepare_data(planner.study)
    if study.ladder:
        for seed in study.ladder_seeds:
            for role, cfg in ladder_configs(study, seed).items():
                planner.why = f"the BE question's ladder ({role}, seed {seed})"
                folder = planner.finetune(cfg)["run"]
                if role in ("learnable", "static"):  # the controls' inits (bepaper.ladder.climb)
                    planner.planned[folder].probe = (study, seed)
    for seed in study.seeds:
        for arm in study.arms:
            planner.why = f"the BE question's arm {arm} (seed {seed})"
            pcfg, fcfg = arm_configs(study, arm, seed)
            if pcfg is not None:
                planner.planned[str(planner.pretrain(pcfg))].probe = (study, seed)
            planner.finetune(fcfg)
    planner.why = ""


def _plan_figures(planner: _Planner) -> None:
    """Figures 4 and 5's runs at `planner`'s SynthBias preset, asked as their notebooks ask
    (bepaper.experiments.figure4_runs, figure5_runs)."""
    from bepaper.experiments import figure4_runs, figure5_runs, figure_seeds, synthetic_actor_root

    for dataset in ("hmdb51", "ucf101"):
        for seed in figure_seeds(planner):
            planner.why = f"Figure 4 ({dataset}, seed {seed})"
            figure4_runs(planner, dataset, seed)
    actor_root = synthetic_actor_root(planner)
    for seed in figure_seeds(planner):
        planner.why = f"Figure 5 (seed {seed})"
        figure5_runs(planner, seed, actor_root)
    planner.why = ""


def _ordered(runs: list[PlanRun]) -> list[PlanRun]:
    """Pretraining first, then each round after the runs it needs (stable otherwise)."""
    from bepaper.cluster import PlannedRun, plan_order

    runs = sorted(runs, key=lambda r: r.command != "pretrain")
    order = plan_order([PlannedRun(r.name, [], needs=r.needs) for r in runs])
    return [runs[i] for i in order]


# ---------------------------------------------------------------------- running it


def run_missing(
    plan: Plan,
    log: Callable[[str], None] = print,
    train: Callable[[PlanRun], None] | None = None,
    jobs: int = 1,
) -> dict[str, str]:
    """Make the plan's missing runs, each once the runs it needs are done. `jobs` 1: one after
    another in this process, on one GPU (or CPU), or through torchrun on `plan.gpus` > 1
    (`train` replaces that). `jobs` > 1: in that many worker processes (`_Workers`). A killed
    run resumes from its last checkpoint; a finished one is not touched; one running
    elsewhere, or whose dependency failed, is skipped. A run the BE question probes
    (`PlanRun.probe`) is probed after it. Returns name → final state ('failed: reason' for a
    run that raised)."""
    if jobs > 1:
        executor = _Workers(jobs)
    else:
        executor = _Here(train or (_in_process if plan.gpus <= 1 else _torchrun(plan)))
    with executor:
        return _schedule(plan, executor, jobs, log)


def _schedule(plan: Plan, executor, slots: int, log: Callable[[str], None]) -> dict[str, str]:
    """`run_missing`'s loop: start runs in plan order, at most `slots` at a time, each once
    what it needs is done. `executor.submit(run)` starts one and returns its Future;
    `executor.log_path(run)` is the file its output goes to (None: this process's output)."""
    import time
    from concurrent.futures import FIRST_COMPLETED, wait

    states = plan.states()
    result = {n: s for n, s in states.items() if s == "done"}
    todo = [r for r in plan.runs if r.name not in result]
    total, started = len(todo), 0
    running: dict = {}  # future → (run, log path, start time)
    while todo or running:
        for run in list(todo):
            if len(running) >= slots:
                break
            lost = [n for n in run.needs if n in result and result[n] != "done"]
            state = states[run.name]
            if lost or state.startswith("running"):
                why = state if not lost else f"waits for {', '.join(lost)}"
                result[run.name] = f"skipped ({why})"
                log(f"{run.name}: skipped ({why})")
                todo.remove(run)
                continue
            if any(n not in result for n in run.needs):
                continue  # a run it needs is still to make
            todo.remove(run)
            started += 1
            path = executor.log_path(run)
            where = f" (log {path})" if path else ""
            log(f"[{started}/{total}] {run.name}: {state}; training{where}")
            running[executor.submit(run)] = (run, path, time.time())
        if not running:  # what is left waits on runs that did not finish
            for run in todo:
                result[run.name] = "skipped (its dependencies did not finish)"
            break
        finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
        for future in finished:
            run, path, t0 = running.pop(future)
            secs = time.time() - t0
            err = future.exception()
            if err is None and run.state() == "done":
                result[run.name] = "done"
                log(f"{run.name}: done in {secs:.0f} s")
                continue
            why = "it did not finish" if err is None else str(err)
            if err is not None and not isinstance(err, BepaperError):
                why = f"{type(err).__name__}: {err}"
            why += f"; see {path}" if path else ""
            result[run.name] = f"failed: {why}"
            log(f"{run.name}: failed after {secs:.0f} s: {why}")
    return result


class _Here:
    """`run_missing`'s executor for `jobs` 1: `train` makes each run in this process when it
    is submitted. A BepaperError (a user-level one) fails that run only, and the plan goes on;
    any other exception is a bug and stops it."""

    def __init__(self, train: Callable[[PlanRun], None]):
        self.train = train

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def log_path(self, run: PlanRun) -> None:
        return None  # its output is this process's

    def submit(self, run: PlanRun):
        from concurrent.futures import Future

        future: Future = Future()
        try:
            self.train(run)
        except BepaperError as err:
            future.set_exception(err)
        else:
            future.set_result(None)
        return future


class _Workers:
    """`run_missing`'s executor for `jobs` > 1: that many spawned worker processes, each with
    one CPU thread. On a few cores, processes side by side outrun one process's threads on
    these small nets, and a run's numbers do not depend on how many cores the machine has.
    The workers live for the whole plan, so torch is imported once and a decoded video bank
    (`data.cache`) serves every run of its worker. A run's output goes to
    <runs>/jobs/<run>.log."""

    def __init__(self, jobs: int):
        import multiprocessing
        import os
        from concurrent.futures import ProcessPoolExecutor

        threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        os.environ.update({k: "1" for k in threads})  # the spawned workers' start-up
        try:
            self.pool = ProcessPoolExecutor(
                max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                initializer=_one_thread,
            )  # fmt: skip
        finally:
            for k, v in threads.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown()

    def log_path(self, run: PlanRun) -> Path:
        return run.folder.parent / "jobs" / f"{run.name}.log"

    def submit(self, run: PlanRun):
        path = self.log_path(run)
        path.parent.mkdir(parents=True, exist_ok=True)
        return self.pool.submit(_train_logged, run.command, run.cfg, str(path), run.probe)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _train_logged(command: str, cfg, log_path: str, probe: tuple | None = None) -> None:
    """`_train` in a worker of `_Workers`, its printed output to `log_path`."""
    import contextlib

    with open(log_path, "a", encoding="utf-8") as out:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            _train(command, cfg, probe)


def _train(command: str, cfg, probe: tuple | None) -> None:
    """Make one run here; then its frozen probe when the BE question asks for one (`probe`:
    its study config, seed)."""
    from bepaper.identity import run_folder
    from bepaper.train import finetune, pretrain

    (pretrain if command == "pretrain" else finetune)(cfg)
    if probe is not None:
        from bepaper.study import frozen_probe

        frozen_probe(probe[0], run_folder(cfg, command), probe[1])


def _in_process(run: PlanRun) -> None:
    _train(run.command, run.cfg, run.probe)


def _torchrun(plan: Plan) -> Callable[[PlanRun], None]:
    from bepaper.cluster import PlannedRun, launch_argv

    def launch(run: PlanRun) -> None:
        argv = launch_argv(PlannedRun(run.name, run.args(), plan.gpus), sys.executable)
        if subprocess.call(argv) != 0:
            raise BepaperError(f"exit code != 0 from {' '.join(argv)}")

    return launch


def planned_runs(plan: Plan) -> list:
    """The runs still to make as `bepaper.cluster.PlannedRun`s: neither done nor running,
    each needing those of its dependencies that are still to make."""
    from bepaper.cluster import PlannedRun

    states = plan.states()
    todo = [r for r in plan.runs if states[r.name].startswith("missing")]
    names = {r.name for r in todo}
    return [
        PlannedRun(r.name, r.args(), plan.gpus, [n for n in r.needs if n in names], str(r.folder))
        for r in todo
    ]


def submit_missing(plan: Plan, executor) -> list:
    """Submit the missing runs with a submitit executor (bepaper.cluster.submit_plan): one
    job per run, a torchrun of `plan.gpus` processes, each after the jobs of the runs it
    needs. Returns the jobs."""
    from bepaper.cluster import submit_plan

    runs = planned_runs(plan)
    return submit_plan(runs, executor, cwd=REPO) if runs else []


def check_data(preset: Preset, tables: Sequence[str]) -> None:
    """A DataError when none of the datasets `tables` use has a root."""
    specs = table_specs()
    need = set()
    for t in tables:
        need |= set(specs[t].targets) | {
            yaml_dataset(REPO / "configs" / "paper" / c.config) for c in specs[t].cells
        }
    if not need & _available(preset):
        from bepaper.data.roots import EXPECTED, VARIABLES

        hints = "; ".join(f"{d}: {EXPECTED[d]} ({VARIABLES[d]})" for d in sorted(need))
        raise DataError(
            f"no dataset root is configured for {', '.join(tables)}: name them in "
            f"datasets.yaml (see datasets.example.yaml) or the environment. {hints}"
        )
