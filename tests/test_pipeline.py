"""The whole BE-question study at a tiny preset, end to end through the CLI: SynthBias
videos are generated, the ladder's nets trained (rungs 0-2), MoCo arms pretrained, probed,
fine-tuned on
a few labels and tested, random init beside them; the result files are written. Then a
rerun reuses every finished run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time

import pytest

TINY = """
synth_size: tiny
synth_root: {root}/data
name: tiny
seeds: [0, 1]
ladder_seeds: [0]
arms: [random, moco, moco+hn+be]
labels_per_class: 2
figures: {root}/figures
data: {{num_frames: 8, stride: 2, load_size: 32, workers: 0}}
augment: {{crop_size: 24}}
finetune_augment: {{crop_size: 24}}
model: {{backbone: r3d_small, width: 4}}
method: {{queue_size: 64}}
pretrain: {{epochs: 2, batch_size: 8}}
finetune: {{epochs: 1, batch_size: 8}}
supervised: {{epochs: 1, batch_size: 8}}
eval: {{num_clips: 2, splits: [1, 2], probe_split: 2, probe_epochs: 10}}
run: {{root: {root}/runs, device: cpu, progress: false, tensorboard: false}}
"""


@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY.format(root=tmp_path))
    cmd = [sys.executable, "-m", "bepaper.cli", "study", "--config", str(cfg)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]

    fig = tmp_path / "figures"
    rows = list(csv.DictReader(open(fig / "tiny_table.csv")))
    assert [r["arm"] for r in rows] == ["untrained", "random", "moco", "moco+hn+be"]
    assert all(r["seeds"] == "2" for r in rows)
    for r in rows[1:]:
        for key in ("biased_top1_mean", "unbiased_top1_mean"):
            assert 0.0 <= float(r[key]) <= 100.0
    runs = list(csv.DictReader(open(fig / "tiny_runs.csv")))
    assert len(runs) == 2 * 4
    summary = json.loads((fig / "tiny_summary.json").read_text())
    assert summary["info"]["complete"] and summary["info"]["seeds"] == [0, 1]
    ladder = summary["ladder"]
    assert ladder["seeds"] == [0] and set(ladder["holds"]) == {"0", "1", "2"}
    checks = {c["check"] for c in ladder["checks"]}
    assert {"learnable", "positive control", "negative control"} <= checks
    assert set(summary["verdicts"]) >= {"moco+hn+be vs moco", "moco vs random"}
    table = (fig / "tiny_table.md").read_text()
    assert "The ladder" in table and "±" in table and "nothing claimed" in table
    assert (fig / "tiny_plot.png").read_bytes()[:4] == b"\x89PNG"

    # Every run folder is finished and holds what a user needs to reproduce it; the labelled
    # subset is 2 videos per class (4 classes).
    folders = sorted((tmp_path / "runs").glob("*-*-*"))
    # the ladder's 5 nets (its from-scratch net is the random arm's seed-0 run); 2 pretraining
    # runs and 3 fine-tuning runs per seed
    assert len(folders) == 5 + 2 * 2 + 2 * 3 - 1
    ladder_rows = list(csv.DictReader(open(fig / "tiny_ladder.csv")))
    assert {r["role"] for r in ladder_rows} == {
        "learnable",
        "static",
        "scratch",
        "positive",
        "negative",
    }
    assert (fig / "tiny_ladder.png").read_bytes()[:4] == b"\x89PNG"
    for run in folders:
        assert (run / "finished.json").exists() and (run / "identity.json").exists()
        assert json.loads((run / "metrics.json").read_text())["skipped_videos"] == 0
    assert {int(float(r["train_videos"])) for r in runs if r["arm"] != "untrained"} == {8}

    # A second call reuses every finished run: same table, far less time.
    t0 = time.time()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert list(csv.DictReader(open(fig / "tiny_table.csv"))) == rows
    assert time.time() - t0 < 60
