"""The study reuses finished runs of the same config, and refuses to mix in others."""

from __future__ import annotations

import pytest

from bepaper.config import FinetuneConfig, RunConfig, to_dict
from bepaper.errors import BepaperError
from bepaper.runs import RunDir
from bepaper.study import _cached


def _finished(path, cfg, results):
    run = RunDir(path, to_dict(cfg), "finetune")
    run.open()
    run.finish(results)


def test_finished_run_of_same_config_is_reused_and_progress_does_not_matter(tmp_path):
    cfg = FinetuneConfig(run=RunConfig(out=str(tmp_path / "r"), progress=True))
    _finished(tmp_path / "r", cfg, {"top1": 0.5})
    calls = []
    quiet = FinetuneConfig(run=RunConfig(out=str(tmp_path / "r"), progress=False))
    assert _cached(lambda c: calls.append(c), quiet) == {"top1": 0.5}
    assert calls == []


def test_finished_run_of_another_config_is_an_error(tmp_path):
    cfg = FinetuneConfig(run=RunConfig(out=str(tmp_path / "r")))
    _finished(tmp_path / "r", cfg, {"top1": 0.5})
    other = FinetuneConfig(run=RunConfig(out=str(tmp_path / "r")))
    other.optim.epochs = 3
    with pytest.raises(BepaperError, match=r"optim.epochs: 45 -> 3"):
        _cached(lambda c: None, other)


def test_unfinished_run_is_run(tmp_path):
    cfg = FinetuneConfig(run=RunConfig(out=str(tmp_path / "r")))
    assert _cached(lambda c: {"ran": c.run.out}, cfg) == {"ran": str(tmp_path / "r")}
