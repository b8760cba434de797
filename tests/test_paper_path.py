"""The paper path end to end (issue 14): what `make reproduce PRESET=paper` runs, on tiny
datasets in the official archive layouts.

UCF101, HMDB51, Diving48 and Kinetics-400 are built as their archives unpack (conftest.py:
the official split files, CRLF where the originals have it, or files in the official formats;
two classes each; links to real encoded videos) and named in a datasets.yaml
($BEPAPER_DATASETS). The notebooks of the paper's tables and Figure 5 run under papermill at
preset=paper with run_missing=True and tiny overrides: they read the roots, plan, train the
missing runs (about 65) and draw Tables 1-4 and Figure 5 with numbers. A second execution
trains nothing. A `bepaper plan --run-missing` killed after its first checkpoint is resumed,
not restarted, by the next call.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest
from conftest import (
    PAPER_TINY,
    diving48_layout,
    hmdb51_layout,
    kinetics400_layout,
    result_values,
    ucf101_layout,
    use_datasets,
)

from bepaper.plan import run_state

REPO = Path(__file__).resolve().parents[1]
# make reproduce's notebooks that draw the paper's tables and Figure 5, in its order
NOTEBOOKS = ("table1", "table4", "table2", "table3", "figure5")
TINY = [*PAPER_TINY, "run.max_steps=2"]
# Figure 5's actor boxes: OpenCV's HOG people detector (Faster R-CNN needs its weights)
EXTRA = {"figure5": {"boxes": "hog"}}


@pytest.fixture(scope="module")
def paper_datasets(tmp_path_factory, splits_dir, tiny_frames, write_video) -> Path:
    """datasets.yaml naming the four datasets in their official layouts."""
    home = tmp_path_factory.mktemp("data")
    avi = write_video(home / "tiny.avi", tiny_frames, codec="mpeg4")
    mp4 = write_video(home / "tiny.mp4", tiny_frames)
    # HMDB51's actor crops are squares of the source's short side: 48 x 48 MPEG-4 is a size
    # decord cannot batch-read (bepaper.data.synthbias.DECORD_BAD_SIZES), so 40 x 56 here
    small = np.ascontiguousarray(tiny_frames[:, :40, :56])
    hmdb_avi = write_video(home / "small.avi", small, codec="mpeg4")
    roots = {
        "ucf101": ucf101_layout(home, splits_dir, avi),
        # the videos fine-tuning draws (data.per_class=2, seed 0), and 2 test videos a class:
        # each present video is one HOG pass for the actor crops
        "hmdb51": hmdb51_layout(home, splits_dir, hmdb_avi, test_per_class=2, train_per_class=2),
        "diving48": diving48_layout(home, splits_dir, mp4),
        "kinetics400": kinetics400_layout(home, mp4),
    }
    config = home / "datasets.yaml"
    config.write_text("".join(f"{name}: {root}\n" for name, root in roots.items()))
    return config


def execute(work: Path, datasets: Path, label: str) -> dict[str, float]:
    """Every notebook of NOTEBOOKS at preset=paper, run_missing=True, in a kernel that
    imports this checkout's bepaper. Returns the seconds each took."""
    seconds = {}
    (work / label).mkdir()
    with pytest.MonkeyPatch.context() as mp:
        use_datasets(mp, datasets)
        mp.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        for name in NOTEBOOKS:
            t0 = time.time()
            papermill.execute_notebook(
                str(REPO / "notebooks" / f"{name}.ipynb"),
                str(work / label / f"{name}.ipynb"),
                parameters={
                    "preset": "paper",
                    "runs": str(work / "runs"),
                    "figures": str(work / "figures"),
                    "overrides": TINY,
                    "run_missing": True,
                    **EXTRA.get(name, {}),
                },
                cwd=str(REPO / "notebooks"),
                kernel_name="python3",
                progress_bar=False,
            )
            seconds[name] = time.time() - t0
    return seconds


def run_folders(runs: Path) -> dict[str, dict[str, int]]:
    """Each run folder's files with their modification times, but its .lock and what Table 3
    writes into a pretraining run (retrieval_*/: it encodes the videos again, trains nothing)."""
    return {
        d.name: {str(p.relative_to(d)): p.stat().st_mtime_ns for p in d.rglob("*")
                 if p.is_file() and p.name != ".lock"
                 and not p.relative_to(d).parts[0].startswith("retrieval_")}
        for d in runs.iterdir() if (d / "identity.json").exists()
    }  # fmt: skip


@pytest.fixture(scope="module")
def executed(paper_datasets, tmp_path_factory) -> Path:
    """The work folder after a first execution of the notebooks."""
    work = tmp_path_factory.mktemp("paper")
    seconds = execute(work, paper_datasets, "first")
    print(f"first execution: {sum(seconds.values()):.0f} s {seconds}")
    return work


def test_the_notebooks_are_those_make_reproduce_runs():
    """make reproduce PRESET=paper runs these notebooks, in this order (and no notebook that
    needs SynthBias, which would stop it)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(
        ["make", "-n", "reproduce", "PRESET=paper"], cwd=REPO, capture_output=True, text=True
    )
    assert dry.returncode == 0, dry.stderr
    listed = re.search(r"for nb in ([\w ]+);", dry.stdout).group(1).split()
    assert [n for n in listed if n in NOTEBOOKS] == list(NOTEBOOKS)
    assert not {"quickstart", "figure3", "be_question", "bias_tests"} & set(listed)


@pytest.mark.slow  # the first execution: 80-100 s on 2 cores
def test_the_paper_preset_draws_every_table_with_numbers(executed):
    """Every row of Tables 1-4 and Figure 5 holds our number (the data allow them all), a
    value of the run folders' result files, beside the paper's; each figure is a PNG."""
    out = executed / "figures" / "paper"
    values = result_values(executed / "runs")
    for name in NOTEBOOKS:
        df = pd.read_csv(out / f"{name}.csv")
        assert len(df) and "paper" in df.columns, name
        missing = df[~np.isfinite(df["ours mean"])]
        assert missing.empty, (name, missing[["row", "column"]].values.tolist())
        assert (df["seeds"] == 1).all(), name
        for _, r in df.iterrows():
            assert round(float(r["ours mean"]), 2) in values, (name, r["row"], r["column"])
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        nb = nbformat.read(executed / "first" / f"{name}.ipynb", as_version=4)
        shown = [o.get("text", "") for c in nb.cells for o in c.get("outputs", [])]
        assert any("Every run this notebook needs exists." in t for t in shown), name
    table1 = pd.read_csv(out / "table1.csv")
    assert set(table1["our data"]) == {"ucf101", "hmdb51"}
    assert len(table1) == 2 * 15  # 13 rows and the two reference rows, UCF101 and HMDB51
    assert set(pd.read_csv(out / "table2.csv")["our data"]) == {"diving48"}
    # Figure 5: the actor-cropped HMDB51 is other data than HMDB51, so other runs
    actor = executed / "runs" / "actor_hmdb51"
    on_actor = [d for d in executed.glob("runs/finetune-*")
                if f"root: {actor}\n" in (d / "config.yaml").read_text()]  # fmt: skip
    assert len(on_actor) == 3  # K400 supervised, MoCo, MoCo + BE
    assert all((d / "finished.json").exists() for d in on_actor)


@pytest.mark.slow  # the second: 55-65 s more
def test_a_second_execution_trains_nothing(executed, paper_datasets):
    runs = executed / "runs"
    before = run_folders(runs)
    assert len(before) >= 60 and all("finished.json" in files for files in before.values())
    seconds = execute(executed, paper_datasets, "second")
    print(f"second execution: {sum(seconds.values()):.0f} s {seconds}")
    assert run_folders(runs) == before  # no new run, no file of a run rewritten


def test_a_killed_run_is_resumed_by_the_next_plan_call(paper_datasets, tmp_path, monkeypatch):
    """SIGKILL `bepaper plan --run-missing` once its first run wrote a checkpoint; the run
    shows as missing with the epoch it resumes after; the next call resumes it there (its
    records of the epochs before the kill are kept) and then makes the runs after it."""
    use_datasets(monkeypatch, paper_datasets)
    runs = tmp_path / "runs"
    epochs = 5
    settings = [s for s in TINY if not s.startswith("optim.epochs=")] + [f"optim.epochs={epochs}"]
    row = ["--tables", "table1", "--cells", "moco_be_c3d_ucf101"]
    argv = [sys.executable, "-m", "bepaper.cli", "plan", *row, "--runs", str(runs),
            "--run-missing", *settings]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    victim = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 120
    while not list(runs.glob("pretrain-*/checkpoints/ckpt_epoch*.pt")):
        assert time.time() < deadline
        assert victim.poll() is None, victim.communicate()
        time.sleep(0.02)
    os.killpg(victim.pid, signal.SIGKILL)
    killed_output = victim.communicate()[0]
    (folder,) = runs.glob("pretrain-*")
    assert "[1/3] " + folder.name + ": missing; training" in killed_output
    state = run_state(folder)
    done = int(re.fullmatch(r"missing \(resumes after epoch (\d+)\)", state).group(1))
    assert 1 <= done < epochs
    kept = (folder / "metrics.jsonl").read_text().splitlines()[:done]
    assert [json.loads(line)["epoch"] for line in kept] == list(range(1, done + 1))

    again = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{folder.name}: missing (resumes after epoch {done}); training" in again.stdout
    assert f"resuming {folder} after epoch {done}" in again.stdout
    assert f"resuming after epoch {done}" in (folder / "log.txt").read_text()
    records = (folder / "metrics.jsonl").read_text().splitlines()
    assert records[:done] == kept  # the epochs before the kill were not trained again
    assert [json.loads(line)["epoch"] for line in records] == list(range(1, epochs + 1))
    assert "3 of 3 runs done" in again.stdout
    assert json.loads((folder / "finished.json").read_text())
