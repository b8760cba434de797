"""bepaper.cluster: a plan becomes submitit jobs that respect the runs' dependencies.

Local runs go through submitit's LocalExecutor (real subprocesses) with trivial commands that
record when they start and end; the Slurm path goes through submitit's SlurmExecutor with
stand-in `srun` and `sbatch` programs that keep the submission files.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from bepaper.cluster import CommandFailed, PlannedRun, launch_argv, plan_order, submit_plan
from bepaper.errors import ConfigError

submitit = pytest.importorskip("submitit")

# argv: <out folder> <name> <seconds> [exit code]; checks nothing, records start and end
RECORD = """
import json, sys, time
out, name, wait = sys.argv[1], sys.argv[2], float(sys.argv[3])
start = time.time()
time.sleep(wait)
print(f"{name} ran")
with open(f"{out}/{name}.json", "w") as f:
    json.dump({"start": start, "end": time.time()}, f)
sys.exit(int(sys.argv[4]) if len(sys.argv) > 4 else 0)
"""


def _run(name, out, wait=0.0, needs=(), code=0, gpus=0) -> PlannedRun:
    return PlannedRun(
        name, [str(out), name, str(wait), str(code)], gpus, list(needs), str(out / "runs" / name)
    )


def _times(out: Path, name: str) -> dict:
    return json.loads((out / f"{name}.json").read_text())


def test_local_jobs_run_after_what_they_need(tmp_path):
    executor = submitit.LocalExecutor(tmp_path / "submitit")
    executor.update_parameters(timeout_min=5)
    plan = [
        _run("finetune", tmp_path, needs=["pretrain"]),  # listed first, needs the next
        _run("pretrain", tmp_path, wait=1.0),
        _run("evaluate", tmp_path, needs=["finetune", "pretrain"]),
        _run("other", tmp_path),
    ]
    assert plan_order(plan) == [1, 0, 2, 3]
    jobs = submit_plan(plan, executor, cwd=tmp_path, entry=("-c", RECORD))
    assert len(jobs) == 4 and all(job.result() == 0 for job in jobs)
    pre, fine, ev = (_times(tmp_path, n) for n in ("pretrain", "finetune", "evaluate"))
    assert pre["end"] <= fine["start"] and fine["end"] <= ev["start"]
    log = tmp_path / "runs" / "jobs" / "pretrain.log"
    assert log.read_text().strip() == "pretrain ran"


def test_a_failed_run_stops_what_needs_it(tmp_path):
    executor = submitit.LocalExecutor(tmp_path / "submitit")
    plan = [
        _run("pretrain", tmp_path, code=3),
        _run("finetune", tmp_path, needs=["pretrain"]),
        _run("evaluate", tmp_path, needs=["finetune"]),
    ]
    with pytest.raises(CommandFailed) as info:
        submit_plan(plan, executor, cwd=tmp_path, entry=("-c", RECORD))
    message = str(info.value)
    assert message.startswith("run 'pretrain' failed (") and "exit code 3" in message
    assert message.endswith("not started: ['finetune', 'evaluate']")
    assert (tmp_path / "pretrain.json").exists() and not (tmp_path / "finetune.json").exists()


def test_more_than_one_gpu_is_a_torchrun_job(tmp_path):
    """torchrun starts gpus processes on the node (on CPU here: gloo is not even needed)."""
    script = tmp_path / "write_ranks.py"
    script.write_text(
        "import os, sys\n"
        "r, n = os.environ['RANK'], os.environ['WORLD_SIZE']\n"
        "open(f'{sys.argv[1]}/rank{r}of{n}', 'w').close()\n"
    )
    run = PlannedRun("ddp", [str(tmp_path)], gpus=2, folder=str(tmp_path / "ddp"))
    argv = launch_argv(run, entry=(str(script),))
    assert argv[:6] == [sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc_per_node", "2"]  # fmt: skip
    assert launch_argv(PlannedRun("one", ["finetune", "x=1"], gpus=1)) == [
        sys.executable, "-m", "bepaper.cli", "finetune", "x=1"
    ]  # fmt: skip
    executor = submitit.LocalExecutor(tmp_path / "submitit")
    executor.update_parameters(timeout_min=5)
    job = submit_plan([run], executor, cwd=tmp_path, entry=(str(script),))[0]
    assert job.result() == 0
    assert sorted(p.name for p in tmp_path.glob("rank*")) == ["rank0of2", "rank1of2"]


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch) -> Path:
    """`srun` and `sbatch` on PATH: sbatch keeps each submission file and answers with job
    ids 1001, 1002, ... as Slurm does."""
    bin_dir, kept = tmp_path / "bin", tmp_path / "sbatch"
    bin_dir.mkdir()
    kept.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(
        "#!/bin/sh\n"
        f'n=$(ls {kept} | wc -l); id=$((1001 + n)); cp "$1" {kept}/$id.sh\n'
        'echo "Submitted batch job $id"\n'
    )
    for f in bin_dir.iterdir():
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return kept


@pytest.mark.parametrize("kind", ["slurm", "auto"])
def test_slurm_dependencies_are_afterok(tmp_path, fake_slurm, kind):
    if kind == "slurm":
        executor = submitit.SlurmExecutor(tmp_path / "submitit")
        executor.update_parameters(additional_parameters={"account": "vision"})
    else:
        executor = submitit.AutoExecutor(tmp_path / "submitit", cluster="slurm")
        executor.update_parameters(slurm_additional_parameters={"account": "vision"})
    plan = [
        PlannedRun("pretrain", ["pretrain", "c.yaml"], gpus=8, folder=str(tmp_path / "p")),
        PlannedRun("finetune-a", ["finetune", "init=p"], gpus=1, needs=["pretrain"]),
        PlannedRun("finetune-b", ["finetune", "init=p"], gpus=2, needs=["pretrain"]),
        PlannedRun("table", ["table"], gpus=0, needs=["finetune-a", "finetune-b"]),
        PlannedRun("alone", ["synth"], gpus=0),  # submitted last: no dependency left over
    ]
    jobs = submit_plan(plan, executor, cwd=tmp_path)
    assert [job.job_id for job in jobs] == ["1001", "1002", "1003", "1004", "1005"]
    files = [(fake_slurm / f"{job.job_id}.sh").read_text() for job in jobs]
    assert all("#SBATCH --account=vision" in f for f in files)  # the user's, kept
    assert "--dependency" not in files[4] and "--kill-on-invalid-dep" not in files[4]
    assert "--dependency" not in files[0] and "#SBATCH --gpus-per-node=8" in files[0]
    assert "#SBATCH --job-name=pretrain" in files[0]
    assert "#SBATCH --dependency=afterok:1001" in files[1]
    assert "#SBATCH --kill-on-invalid-dep=yes" in files[2]
    assert "#SBATCH --dependency=afterok:1002:1003" in files[3]
    assert "#SBATCH --gpus-per-node=0" in files[3]
    # the pickled job runs torchrun for 2 GPUs, python for 1, in the plan's folder
    b = jobs[2].submission().function
    assert b.argv[2:6] == ["torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    assert b.argv[-4:] == ["-m", "bepaper.cli", "finetune", "init=p"]
    assert b.cwd == str(tmp_path) and b.log == str(tmp_path / "runs" / "jobs" / "finetune-b.log")


@pytest.mark.parametrize(
    ("runs", "match"),
    [
        ([PlannedRun("a", []), PlannedRun("a", [])], "'a' is used twice"),
        ([PlannedRun("a", [], needs=["b"])], "needs 'b', which is not planned"),
        (
            [PlannedRun("a", [], needs=["b"]), PlannedRun("b", [], needs=["a"])],
            r"runs \['a', 'b'\] need each other",
        ),
        ([PlannedRun("a", [], gpus=-1)], "asks for -1 GPUs"),
    ],
)
def test_bad_plans(runs, match):
    with pytest.raises(ConfigError, match=match):
        plan_order(runs)
