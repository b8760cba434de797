import json
import multiprocessing
import os

import pytest
import yaml

from bepaper.errors import BepaperError, ConfigError
from bepaper.identity import diff_configs
from bepaper.runs import RunDir, atomic_write_json, atomic_write_text

CONFIG = {"train": {"lr": 0.01, "epochs": 5}, "model": {"arch": "r3d18"}, "data": {"foo": 1}}


def snapshot(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_diff_configs():
    new = {"train": {"lr": 0.02, "epochs": 5}, "model": {"arch": "r3d18", "width": 8}, "data": {}}
    assert diff_configs(CONFIG, new) == ["train.lr: 0.01 -> 0.02", "+ model.width: 8", "- data.foo"]
    assert diff_configs({"a": {"b": 1}}, {"a": 2, "c": "x"}) == ["a: {'b': 1} -> 2", "+ c: 'x'"]
    assert diff_configs(CONFIG, CONFIG) == []


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    atomic_write_json(path, {"top1": 0.5})

    def replace_fails(src, dst):
        raise OSError("no space left")

    monkeypatch.setattr(os, "replace", replace_fails)
    with pytest.raises(OSError):
        atomic_write_text(path, "garbage")
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"top1": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_first_open_writes_config_and_versions(tmp_path):
    run = RunDir(tmp_path / "run", CONFIG, "pretrain")
    assert run.open() is False
    assert yaml.safe_load((run.path / "config.yaml").read_text()) == CONFIG
    versions = json.loads((run.path / "versions.json").read_text())
    assert versions["command"] == "pretrain"
    assert {"python", "torch", "torchvision", "numpy", "bepaper", "hostname", "time"} <= set(
        versions
    )
    import torch

    assert versions["torch_threads"] == torch.get_num_threads()  # CPU numbers depend on it
    assert run.ckpt_dir.is_dir()


def test_resume_with_same_config(tmp_path):
    RunDir(tmp_path, {**CONFIG, "crop": (0.2, 1.0)}, "pretrain").open()
    assert RunDir(tmp_path, {**CONFIG, "crop": (0.2, 1.0)}, "pretrain").open() is True


def test_resume_with_changed_config_is_refused(tmp_path):
    RunDir(tmp_path, CONFIG, "pretrain").open()
    before = snapshot(tmp_path)
    changed = {**CONFIG, "train": {"lr": 0.02, "epochs": 5}}
    with pytest.raises(ConfigError, match=r"config differs: train\.lr: 0\.01 -> 0\.02"):
        RunDir(tmp_path, changed, "pretrain").open()
    assert snapshot(tmp_path) == before


def test_other_command_is_refused(tmp_path):
    RunDir(tmp_path, CONFIG, "pretrain").open()
    with pytest.raises(BepaperError, match="holds a pretrain run, not finetune"):
        RunDir(tmp_path, CONFIG, "finetune").open()


def test_finished_run_is_refused_and_untouched(tmp_path):
    run = RunDir(tmp_path, CONFIG, "pretrain")
    run.open()
    run.log({"epoch": 1, "loss": 2.0})
    run.finish({"top1": 0.61})
    assert run.finished
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"top1": 0.61}
    before = snapshot(tmp_path)
    for config in (CONFIG, {**CONFIG, "train": {"lr": 1.0}}):
        with pytest.raises(BepaperError, match="holds a finished pretrain run"):
            RunDir(tmp_path, config, "pretrain").open()
    assert snapshot(tmp_path) == before


def test_foreign_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BepaperError, match="holds no bepaper run"):
        RunDir(tmp_path, CONFIG, "pretrain").open()
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_log_survives_torn_last_line(tmp_path):
    run = RunDir(tmp_path, CONFIG, "pretrain")
    run.open()
    run.log({"epoch": 1, "loss": 2.0})
    run.log({"epoch": 2, "loss": 1.5})
    with open(run.path / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3, "lo')  # the crash
    assert run.records() == [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}]

    resumed = RunDir(tmp_path, CONFIG, "pretrain")
    assert resumed.open() is True
    resumed.log({"epoch": 3, "loss": 1.2})
    assert [r["epoch"] for r in resumed.records()] == [1, 2, 3]


def test_truncate_log(tmp_path):
    run = RunDir(tmp_path, CONFIG, "pretrain")
    run.open()
    for epoch in range(1, 5):
        run.log({"epoch": epoch, "loss": 1.0 / epoch})
    run.log({"event": "note"})
    run.truncate_log(after_epoch=2)
    assert run.records() == [
        {"epoch": 1, "loss": 1.0},
        {"epoch": 2, "loss": 0.5},
        {"event": "note"},
    ]


def _skip_many(run: RunDir, worker: int, n: int) -> None:
    for i in range(n):
        run.record_skip(f"videos/w{worker}_{i:03d}.avi", f"worker {worker}: " + "x" * 900)


def test_record_skip_from_two_processes(tmp_path):
    run = RunDir(tmp_path, CONFIG, "pretrain")
    run.open()
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_skip_many, args=(run, w, 200)) for w in (0, 1)]
    for p in workers:
        p.start()
    for p in workers:
        p.join()
    assert [p.exitcode for p in workers] == [0, 0]

    lines = (tmp_path / "skipped.jsonl").read_text().splitlines()
    assert len(lines) == 400
    records = [json.loads(line) for line in lines]  # every line intact
    expected = {f"videos/w{w}_{i:03d}.avi" for w in (0, 1) for i in range(200)}
    skipped = run.skipped()
    assert set(skipped) == expected and len(records) == len(expected)
    assert skipped["videos/w1_007.avi"] == "worker 1: " + "x" * 900


def test_long_skip_reason_is_cut(tmp_path):
    run = RunDir(tmp_path, CONFIG, "pretrain")
    run.open()
    run.record_skip("a.mp4", "y" * 10_000)
    line = (tmp_path / "skipped.jsonl").read_bytes()
    assert len(line) < 4096 and run.skipped()["a.mp4"].startswith("yyy")


def test_resume_may_change_only_cosmetic_keys(tmp_path):
    cfg = {"run": {"progress": True, "seed": 0}}
    assert RunDir(tmp_path / "r", cfg, "pretrain").open() is False
    assert (
        RunDir(tmp_path / "r", {"run": {"progress": False, "seed": 0}}, "pretrain").open() is True
    )
    with pytest.raises(ConfigError, match="run.seed: 0 -> 1"):
        RunDir(tmp_path / "r", {"run": {"progress": False, "seed": 1}}, "pretrain").open()
