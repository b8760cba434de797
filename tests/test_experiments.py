"""The notebooks' platform: a preset maps a paper cell to a run, and under the paper preset a
missing run becomes the exact command that makes it (same config, same folder)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from bepaper.config import FinetuneConfig, PretrainConfig, build_config, result_dict, to_dict
from bepaper.experiments import Preset, command_line


@pytest.fixture
def paper(tmp_path, splits_dir):
    roots = {}
    for name in ("ucf101", "hmdb51"):
        root = tmp_path / name
        root.mkdir()
        (root / "splits").symlink_to(splits_dir / name)
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


def _synthetic(tmp_path, datasets=("ucf101",)) -> Preset:
    """A SynthBias preset (smoke: the same route as synthetic, on `tiny` data generated here:
    a run's identity reads its data)."""
    import dataclasses

    p = Preset.load("smoke", runs=str(tmp_path / "runs"))
    p.study = dataclasses.replace(p.study, synth_root=str(tmp_path / "data"))
    p.prepare_data(datasets)
    return p


ARMS = [
    "random", "moco", "moco+hn", "moco+be", "moco+hn+be", "moco+hn+be+fame",
    "moco+hn+be+video_mixup", "vcop", "vcop+be", "rotnet+be", "puzzle",
]  # fmt: skip


def _cell(tmp_path, arm: str) -> Path:
    """A notebook's paper cell for `arm`, written as the paper's configs are."""
    name, *switches = arm.split("+")
    method = {"name": name, "be": "be" in switches}
    if name == "moco":
        method["hard_negatives"] = "hn" in switches
    rest = [s for s in switches if s not in ("hn", "be")]
    if rest:
        method["distraction"] = rest[0]
    flow = ", ".join(f"{k}: {str(v).lower()}" for k, v in method.items())
    path = tmp_path / f"{arm.replace('+', '_')}.yaml"
    path.write_text(
        "data: {dataset: ucf101, root: /data/UCF-101, num_frames: 16, stride: 4}\n"
        f"model: {{backbone: c3d}}\nmethod: {{{flow}}}\n"
    )
    return path


@pytest.mark.parametrize("seed", [0, 2])
def test_a_notebook_and_the_study_name_the_same_runs_for_every_arm(tmp_path, seed):
    """The synthetic preset (notebooks) and `bepaper study` build each arm's runs through the
    one route (bepaper.protocol): same pretraining folder, same fine-tuning config."""
    import dataclasses

    from bepaper.identity import run_folder
    from bepaper.protocol import method_arm
    from bepaper.study import arm_configs

    p = _synthetic(tmp_path)
    root = p.data_settings("ucf101")["root"]
    study = dataclasses.replace(p.study, data=dataclasses.replace(p.study.data, root=root))
    arms = list(dict.fromkeys([*study.arms, *ARMS]))
    folders = set()
    for arm in arms:
        want_p, want_f = arm_configs(study, arm, seed)
        if arm == "random":
            got_f = p.finetune_config("ucf101", init="", seed=seed)
        else:
            got_p = p.pretrain_config(_cell(tmp_path, arm), seed)
            assert method_arm(got_p.method) == arm
            folder = run_folder(got_p, "pretrain")
            assert folder == run_folder(want_p, "pretrain"), arm
            folders.add(folder)
            got_f = p.finetune_config("ucf101", init=folder, like=got_p, seed=seed)
        # the same config, so the same folder once the pretraining run exists
        assert to_dict(got_f) == to_dict(want_f), arm
    assert len(folders) == len(arms) - 1  # and every arm is a run of its own


def test_every_paper_cell_is_an_arm_of_the_study(tmp_path):
    """Each pretraining cell of the paper maps to an arm, and at the synthetic preset it is
    the study's run of that arm."""
    import dataclasses

    from bepaper.identity import run_folder
    from bepaper.protocol import method_arm
    from bepaper.study import arm_configs

    p = _synthetic(tmp_path, ("ucf101", "diving48"))
    cells = sorted(
        (Path(__file__).resolve().parents[1] / "configs" / "paper").glob("table*/*.yaml")
    )
    assert len(cells) >= 20
    for cell in cells:
        got = p.pretrain_config(cell, seed=1)
        arm = method_arm(build_config(PretrainConfig, [cell]).method)
        data = dataclasses.replace(p.study.data, root=got.data.root)
        want, _ = arm_configs(dataclasses.replace(p.study, data=data), arm, 1)
        assert run_folder(got, "pretrain") == run_folder(want, "pretrain"), cell


def test_rows_are_looked_up_by_key_and_each_pair_differs_only_in_be():
    """A (without BE, with BE) pair compares two cells of the same backbone and pretraining
    data whose methods differ in BE only (or in the distraction, Table 4)."""
    from bepaper import tables

    with pytest.raises(TypeError, match="by key"):
        tables.TABLE1[0]
    with pytest.raises(KeyError, match="no row 'nope'"):
        tables.TABLE1["nope"]
    assert tables.TABLE1["moco_be_i3d_k400"].config == "table1/moco_be_i3d_k400.yaml"
    paper = Path(__file__).resolve().parents[1] / "configs" / "paper"
    pairs = (*tables.TABLE1_PAIRS, *tables.TABLE2_PAIRS, *tables.TABLE4_PAIRS)
    assert len(pairs) == 5 + 2 + 6
    for without, with_be in pairs:
        a = build_config(PretrainConfig, [paper / without.config])
        b = build_config(PretrainConfig, [paper / with_be.config])
        assert (a.model.backbone, a.data.dataset) == (b.model.backbone, b.data.dataset)
        assert a.method.name == b.method.name and not a.method.be and b.method.be
        assert (without.backbone, without.pretrain) == (with_be.backbone, with_be.pretrain)


def test_a_table_says_which_rows_are_the_same_runs():
    from bepaper import tables

    a, b, c = (
        tables.TABLE1["moco_c3d_ucf101"],
        tables.TABLE1["moco_i3d_k400"],
        tables.TABLE1["moco_be_c3d_ucf101"],
    )
    rows = [
        {
            "config": a.config,
            "column": "UCF101",
            "seed": 0,
            "value": 50.0,
            "finetune_run": "runs/x",
        },
        {
            "config": b.config,
            "column": "UCF101",
            "seed": 0,
            "value": 50.0,
            "finetune_run": "runs/x",
        },
        {
            "config": c.config,
            "column": "UCF101",
            "seed": 0,
            "value": 60.0,
            "finetune_run": "runs/y",
        },
    ]
    df = tables.compare(rows, "table1", [a, b, c], ["UCF101"])
    assert list(df["same runs as"]) == ["", "MoCo (C3D, UCF101)", ""]


def test_a_row_the_preset_cuts_is_not_run_and_the_notebook_says_so(tmp_path):
    """configs/presets/<name>.yaml `cut:` (make reproduce's hour at preset synthetic): such a
    row trains nothing, gives no row, and report_missing names it; a cut list naming no
    config is refused."""
    from bepaper import tables
    from bepaper.errors import ConfigError
    from bepaper.experiments import Preset, run_cells

    p = Preset.load("smoke", runs=str(tmp_path / "runs"))
    p.cut = [c.config for c in tables.TABLE1]
    assert run_cells(p, tables.TABLE1, {"ucf101": "UCF101"}) == []
    assert not (tmp_path / "runs").exists()
    said = p.report_missing()
    assert "Not run at preset smoke" in said and "rotnet_c3d_k400" in said
    synthetic = Preset.load("synthetic", runs=str(tmp_path / "runs"))
    assert "table1/rotnet_c3d_k400.yaml" in synthetic.cut and synthetic.seeds == [0, 1, 2]
    bad = tmp_path / "presets"
    bad.mkdir()
    (bad / "smoke.yaml").write_text("seeds: [0]\ncut: [table1/nothing.yaml]\n")
    with pytest.raises(ConfigError, match="cut: no config"):
        Preset.load("smoke", presets_dir=bad)
