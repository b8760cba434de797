"""The whole main job at a tiny preset, end to end through the CLI: SynthBias videos are
generated, MoCo / MoCo+HN / MoCo+BE pretrained, fine-tuned, tested; a table and a plot
are written. Then a rerun reuses every finished run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time

import pytest

TINY = """
synth_preset: tiny
synth_root: {root}/data
seeds: [0, 1]
out: {root}/runs
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
run: {{device: cpu, progress: false}}
"""


@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY.format(root=tmp_path))
    cmd = [sys.executable, "-m", "bepaper.cli", "study", "--config", str(cfg)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]

    fig = tmp_path / "figures"
    rows = list(csv.DictReader(open(fig / "synthbias_tiny_table.csv")))
    assert [r["method"] for r in rows] == ["moco", "moco_hn", "moco_be"]
    assert all(r["seeds"] == "2" for r in rows)
    for r in rows:
        for key in ("biased_top1_mean", "unbiased_top1_mean", "pretrain_probe_top1_mean"):
            assert 0.0 <= float(r[key]) <= 100.0
    table = (fig / "synthbias_tiny_table.md").read_text()
    assert "MoCo+BE" in table and "Sanity checks" in table and "±" in table
    assert (fig / "synthbias_tiny_plot.png").read_bytes()[:4] == b"\x89PNG"
    raw = json.loads((fig / "synthbias_tiny_results.json").read_text())
    assert len(raw["rows"]) == 6 and set(raw["sanity"]) >= {"static", "untrained_probe"}

    # Every run folder is finished and holds what a user needs to reproduce it.
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) >= 6 + 6 + 3
    for run in runs:
        assert (run / "finished.json").exists() and (run / "config.yaml").exists()
        assert json.loads((run / "metrics.json").read_text())["skipped_videos"] == 0

    # A second call reuses every finished run: same table, far less time.
    t0 = time.time()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert list(csv.DictReader(open(fig / "synthbias_tiny_table.csv"))) == rows
    assert time.time() - t0 < 60
