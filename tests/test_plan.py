"""bepaper plan: the paper's runs on tiny datasets in the official archive layouts.

UCF101 and HMDB51 are laid out as their archives unpack (`UCF-101/<Class>/*.avi` with
`ucfTrainTestlist/` beside it; `<class>/*.avi` with `testTrainMulti_7030_splits/`), their
split files the official ones from ../shared/splits (the `splits_dir` fixture), for two
classes each, their videos links to one real encoded .avi. The plan
of one Table 1 row is built from datasets.yaml, run at tiny settings, and seen as done.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PAPER_TINY, hmdb51_layout, ucf101_layout, use_datasets

from bepaper.commands import plan as plan_command
from bepaper.config import FinetuneConfig, PretrainConfig, build_config
from bepaper.errors import DataError
from bepaper.experiments import Preset
from bepaper.identity import run_folder
from bepaper.plan import build_plan, planned_runs, run_missing, run_state, submit_missing
from bepaper.runs import lock_holder

TINY = PAPER_TINY
ROW = "moco_be_c3d_ucf101"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory, splits_dir, tiny_frames, write_video) -> Path:
    """datasets.yaml naming UCF101 and HMDB51 in their official layouts (two classes each,
    every training video of split 1 and 3 test videos per class; conftest.py)."""
    home = tmp_path_factory.mktemp("data")
    avi = write_video(home / "tiny.avi", tiny_frames, codec="mpeg4")
    ucf = ucf101_layout(home, splits_dir, avi)
    hmdb = hmdb51_layout(home, splits_dir, avi)
    config = home / "datasets.yaml"
    config.write_text(f"ucf101: {ucf}\nhmdb51: {hmdb}\n")
    return config


def _preset(datasets: Path, runs: Path, monkeypatch, lines=None, overrides=TINY) -> Preset:
    use_datasets(monkeypatch, datasets)
    log = lines.append if lines is not None else print
    return Preset.load("paper", runs=str(runs), overrides=list(overrides), log=log)


def test_the_paper_preset_reads_the_roots_and_says_the_subset(datasets, tmp_path, monkeypatch):
    lines: list[str] = []
    p = _preset(datasets, tmp_path / "runs", monkeypatch, lines)
    assert set(p.datasets) == {"ucf101", "hmdb51"}
    assert p.datasets["ucf101"].endswith("UCF101")
    assert any(line.startswith("ucf101: 2 of 101 classes") for line in lines)
    assert any("note: hmdb51: split files for 2 of 51 classes" in line for line in lines)
    # split files found beside the videos are not in datasets.yaml: the loaders' lookup
    assert "hmdb51" not in p.split_dirs
    home = datasets.parent
    assert p.data_folders("hmdb51") == (home / "hmdb51_org", home / "testTrainMulti_7030_splits")
    with pytest.raises(DataError, match="datasets.yaml"):
        p.data_settings("diving48")


def test_the_whole_plan_is_ordered_explicit_and_complete(datasets, tmp_path, monkeypatch):
    """Every Table 1 / Table 4 row that the configured data allow; pretraining before the
    fine-tunes that start from it; each command rebuilds its run's folder from any cwd."""
    from bepaper import tables

    p = _preset(datasets, tmp_path / "runs", monkeypatch, overrides=())
    plan = build_plan(p, ("table1", "table4"))
    names = [r.name for r in plan.runs]
    for i, r in enumerate(plan.runs):
        assert all(names.index(n) < i for n in r.needs)
        if r.command == "finetune" and r.cfg.init:
            assert r.needs == [Path(r.cfg.init).name]
    pretrains = [r for r in plan.runs if r.command == "pretrain"]
    finetunes = [r for r in plan.runs if r.command == "finetune"]
    rows = [f"{t} '{c.row}'" for t, rows in (("table1", tables.TABLE1), ("table4", tables.TABLE4))
            for c in rows if c.pretrain == "UCF101"]  # fmt: skip
    why = [w for r in pretrains for w in r.why]
    assert len(rows) == 15 and all(any(w.startswith(row) for w in why) for row in rows)
    # Table 4's BE row (intra-video frame) is Table 1's MoCo + BE I3D row: one run
    shared = [r for r in pretrains if len(r.why) == 2]
    assert len(pretrains) == 14 and len(shared) == 1
    assert len(finetunes) == 2 * len(pretrains)
    assert any("kinetics400, not configured" in s for s in plan.skipped)
    text = plan.text()
    assert text.count("\nbepaper pretrain ") == len(pretrains)
    be = next(r for r in pretrains if "table1 'MoCo + BE'" in r.why[0])
    args = be.args()
    assert "method.be=true" in args and "method.hard_negatives=true" in args
    assert f"run.root={tmp_path / 'runs'}" in args
    no_be = next(r for r in pretrains if r.why[0].startswith("table1 'MoCo' "))
    assert "method.be=false" in no_be.args()
    ft = next(r for r in finetunes if r.needs == [be.name])
    assert f"init={be.folder}" in ft.args() and "data.dataset=hmdb51" in " ".join(
        a for r in finetunes if r.needs == [be.name] for a in r.args()
    )
    # the printed command makes exactly the planned run (same folder), from another cwd
    monkeypatch.chdir(tmp_path)
    cfg = build_config(PretrainConfig, [], be.args()[1:])
    assert run_folder(cfg, "pretrain") == be.folder
    assert build_config(FinetuneConfig, [], ft.args()[1:]).init == str(be.folder)
    assert plan.launch(be)[0] == "bepaper"
    jobs = planned_runs(plan)  # what --slurm submits: every missing run, with its needs
    assert [(j.name, j.needs, j.folder) for j in jobs] == [
        (r.name, r.needs, str(r.folder)) for r in plan.runs
    ]
    plan.gpus = 8
    assert plan.launch(be)[:3] == ["torchrun", "--standalone", "--nproc_per_node=8"]


def test_run_missing_then_done_then_nothing_to_train(datasets, tmp_path, monkeypatch, capsys):
    """One row at tiny sizes: pretraining, then its UCF101 and HMDB51 fine-tunes, in order;
    a second call trains nothing; `bepaper plan` (its run()) shows them done."""
    runs = tmp_path / "runs"
    p = _preset(datasets, runs, monkeypatch)
    plan = build_plan(p, ("table1",), cells=(ROW,))
    assert [r.command for r in plan.runs] == ["pretrain", "finetune", "finetune"]
    assert set(plan.states().values()) == {"missing"}
    t0 = time.time()
    result = run_missing(plan)
    assert result == {r.name: "done" for r in plan.runs}, result
    first = time.time() - t0
    for r in plan.runs[1:]:
        assert (r.folder / "finished.json").exists() and not (r.folder / ".lock").exists()
        assert Path(r.cfg.init) == plan.runs[0].folder
    trained = []
    again = run_missing(build_plan(p, ("table1",), cells=(ROW,)), train=trained.append)
    assert trained == [] and set(again.values()) == {"done"}
    assert planned_runs(plan) == [] and submit_missing(plan, executor=None) == []
    parser = argparse.ArgumentParser()
    plan_command.add_arguments(parser)
    args = parser.parse_args(
        ["--tables", "table1", "--cells", ROW, "--runs", str(runs), "--out", str(tmp_path / "p.sh"),
         "--run-missing", *TINY]
    )  # fmt: skip
    assert plan_command.run(args) == 0
    out = capsys.readouterr().out
    assert "3 runs (3 done, 0 running, 0 missing)" in out and "3 of 3 runs done" in out
    assert (tmp_path / "p.sh").read_text().count("# [") == 3
    print(f"first run_missing: {first:.1f} s")


def test_one_scheduler_fails_a_run_skips_what_needs_it_and_goes_on(tmp_path):
    """run_missing in this process: a run that raises a user-level error fails alone, the run
    that needs it is skipped and says why, an unrelated run is made, a run another process
    holds is left to it; a bug (any other exception) stops the plan."""
    from bepaper.errors import DataError
    from bepaper.plan import Plan, PlanRun

    def plan_of(*runs):
        return Plan([PlanRun(n, "finetune", None, tmp_path / n, needs) for n, needs in runs], [])

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / ".lock").write_text(f"{os.getpid()} {socket.gethostname()}\n")  # this process
    made: list[str] = []

    def train(run):
        if run.name == "a":
            raise DataError("corrupt video: v_x.avi")
        made.append(run.name)
        run.folder.mkdir()
        (run.folder / "finished.json").write_text("{}")

    lines: list[str] = []
    plan = plan_of(("a", []), ("b", ["a"]), ("c", []), ("busy", []))
    result = run_missing(plan, log=lines.append, train=train)
    assert result == {
        "a": "failed: corrupt video: v_x.avi",
        "b": "skipped (waits for a)",
        "c": "done",
        "busy": result["busy"],
    }, result
    assert result["busy"].startswith("skipped (running (pid") and made == ["c"]
    assert "[1/4] a: missing; training" in lines
    assert "a: failed after 0 s: corrupt video: v_x.avi" in lines
    with pytest.raises(ZeroDivisionError):
        run_missing(plan_of(("d", [])), train=lambda run: 1 / 0)


def test_a_killed_run_leaves_a_stale_lock_that_is_removed(tmp_path, capsys):
    """A process that locked a run folder and died: its lock is removed with a message and
    the run is missing; a live holder makes the run 'running'."""
    folder = tmp_path / "run"
    folder.mkdir()
    code = (
        "import sys; from bepaper.runs import RunDir; r = RunDir(sys.argv[1], {'a': 1}, 'x'); "
        "r.open(); print('locked', flush=True); sys.stdin.read()"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout.readline().strip() == "locked"
    assert lock_holder(folder) == f"pid {proc.pid} on {os.uname().nodename}"
    assert run_state(folder).startswith(f"running (pid {proc.pid}")
    proc.kill()
    proc.wait()
    assert (folder / ".lock").exists()
    assert run_state(folder) == "missing"
    assert not (folder / ".lock").exists()
    assert f"removed a stale lock in {folder} (pid {proc.pid}" in capsys.readouterr().err


def test_the_command_offers_the_plans_tables():
    from bepaper import plan
    from bepaper.commands import plan as command

    assert command.TABLES == plan.TABLES


@pytest.mark.slow
def test_submitit_local_executor_runs_the_plan(datasets, tmp_path, monkeypatch):
    """The Slurm path (`bepaper plan --slurm`: bepaper.cluster through submitit) on
    submitit's LocalExecutor: one real job per missing run of one row, each after the run it
    needs; then every run is done and a second submission has nothing to submit."""
    submitit = pytest.importorskip("submitit")
    p = _preset(datasets, tmp_path / "runs", monkeypatch)
    plan = build_plan(p, ("table1",), cells=(ROW,))
    executor = submitit.LocalExecutor(tmp_path / "submitit")
    executor.update_parameters(timeout_min=10)
    jobs = submit_missing(plan, executor)
    assert len(jobs) == 3 and all(job.result() == 0 for job in jobs)
    assert set(build_plan(p, ("table1",), cells=(ROW,)).states().values()) == {"done"}
    pre, *fine = plan.runs
    pre_done = (pre.folder / "finished.json").stat().st_mtime
    for r in fine:  # each fine-tune's folder was made after its pretraining had finished
        assert (r.folder / "config.yaml").stat().st_mtime >= pre_done
    assert submit_missing(build_plan(p, ("table1",), cells=(ROW,)), executor) == []


def test_a_synthbias_plan_made_in_parallel_is_what_the_study_then_reuses(tmp_path, capsys):
    """`bepaper plan --preset smoke --study --figures --run-missing --jobs 2` (make
    reproduce's first step): the BE question's runs, a table's and Figures 4-5's, made by two
    one-thread worker processes, are the very runs the study and the figures' notebooks ask
    for afterwards (they train nothing); a row the preset cuts is not planned, and says why."""
    import dataclasses

    from bepaper.experiments import figure4_runs, figure5_runs, synthetic_actor_root
    from bepaper.study import run_study

    p = Preset.load("smoke", runs=str(tmp_path / "runs"))
    p.study = dataclasses.replace(
        p.study, synth_root=str(tmp_path / "data"), seeds=[0], arms=["random", "moco+be"],
        ladder_seeds=[0], figures=str(tmp_path / "figures"),
    )  # fmt: skip
    p.cut = ["table1/moco_c3d_ucf101.yaml"]  # Table 3's MoCo row
    plan = build_plan(p, ("table3",), study=True, figures=True)
    assert any("'MoCo' (C3D, UCF101)" in s and "cut at preset smoke" in s for s in plan.skipped)
    why = " ".join(w for r in plan.runs for w in r.why)
    assert "ladder (learnable, seed 0)" in why and "Figure 4 (ucf101, seed 0)" in why
    assert "Figure 5 (seed 0)" in why and "arm moco+be (seed 0)" in why
    lines: list[str] = []
    result = run_missing(plan, jobs=2, log=lines.append)
    assert result == {r.name: "done" for r in plan.runs}, (result, lines)
    assert sum("; training" in line for line in lines) == len(plan.runs)
    assert all((r.folder.parent / "jobs" / f"{r.name}.log").is_file() for r in plan.runs)
    probed = [r for r in plan.runs if r.probe is not None]  # the arm's pretraining, the controls
    assert len(probed) == 3 and all((r.folder / "probe.json").is_file() for r in probed)
    capsys.readouterr()
    study = dataclasses.replace(p.study, run=dataclasses.replace(p.study.run, root=p.runs))
    run_study(study)
    for dataset in ("hmdb51", "ucf101"):
        assert None not in figure4_runs(p, dataset, 0)
    figure5_runs(p, 0, synthetic_actor_root(p))
    out = capsys.readouterr().out
    assert "reusing finished run" in out and "run folder:" not in out, out
    again = build_plan(p, ("table3",), study=True, figures=True)
    assert set(again.states().values()) == {"done"}
    assert run_missing(again, jobs=2, log=lines.append) == {r.name: "done" for r in again.runs}


def test_figures_4_and_5_run_the_first_seed_at_synthbias_and_every_seed_on_real_data(
    datasets, tmp_path, monkeypatch
):
    """make reproduce's hour: at a SynthBias preset Figures 4 and 5 ask for seed 0 only (the
    plan and both notebooks go through figure_seeds); on real data, every seed asked for."""
    from bepaper.experiments import figure_seeds

    assert figure_seeds(Preset.load("smoke", runs=str(tmp_path), seeds=[0, 1, 2])) == [0]
    assert figure_seeds(Preset.load("synthetic", runs=str(tmp_path), seeds=[3, 1])) == [3]
    paper = _preset(datasets, tmp_path / "runs", monkeypatch)
    paper.seeds = [0, 1, 2]
    assert figure_seeds(paper) == [0, 1, 2]
