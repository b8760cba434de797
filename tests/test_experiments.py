"""The notebooks' platform: a preset maps a paper cell to a run, and under the paper preset a
missing run becomes the exact command that makes it (same config, same folder)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from bepaper.config import FinetuneConfig, PretrainConfig, build_config, result_dict
from bepaper.experiments import Preset, command_line

SPLITS = Path(__file__).resolve().parents[1].parent / "shared" / "splits"


@pytest.fixture
def paper(tmp_path):
    if not SPLITS.is_dir():
        pytest.skip(f"official split files not found at {SPLITS}")
    roots = {}
    for name in ("ucf101", "hmdb51"):
        root = tmp_path / name
        root.mkdir()
        (root / "splits").symlink_to(SPLITS / name)
        roots[name] = str(root)
    return Preset.load("paper", runs=str(tmp_path / "runs"), roots=roots)


def test_missing_runs_become_commands_that_make_exactly_them(paper):
    cfg = paper.pretrain_config("configs/paper/table4/fame.yaml", seed=1)
    folder = paper.pretrain(cfg)
    assert not folder.exists() and len(paper.missing) == 1
    ft = paper.finetune_config("hmdb51", init=folder, like=cfg, seed=1)
    assert paper.finetune(ft) is None and len(paper.missing) == 2
    for command, want, cls in (("pretrain", cfg, PretrainConfig), ("finetune", ft, FinetuneConfig)):
        line = command_line(command, want)
        args = shlex.split(line)
        assert args[:2] == ["bepaper", command]
        got = build_config(cls, overrides=args[2:])
        assert result_dict(got) == result_dict(want), line
    assert "run.root=" in paper.missing[0] and "method.distraction=fame" in paper.missing[0]
    assert f"init={folder}" in paper.missing[1]
    assert "2 runs are missing" in paper.report_missing()


def test_the_synthetic_preset_shares_the_be_questions_runs():
    """Table 1's MoCo + BE cell at preset synthetic is the study's moco+hn+be arm."""
    import dataclasses

    from bepaper.config import StudyConfig
    from bepaper.study import parse_arm, pretrain_config

    p = Preset.load("synthetic")
    cell = p.pretrain_config("configs/paper/table1/moco_be_c3d_ucf101.yaml", seed=2)
    study = build_config(StudyConfig, ["configs/synthbias_cpu.yaml"])
    study = dataclasses.replace(study, data=dataclasses.replace(study.data, root=cell.data.root))
    arm = pretrain_config(study, parse_arm("moco+hn+be", study.method), 2)
    assert result_dict(arm) == result_dict(cell)
