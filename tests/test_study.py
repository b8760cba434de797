"""Runs are results: a run is keyed on its result-relevant config and data, so a finished
run is reused whatever the execution settings, and a result-relevant change is refused or
gets its own folder. The study's arms parse as documented."""

from __future__ import annotations

import json

import pytest

from bepaper.config import FinetuneConfig, MethodConfig, build_config
from bepaper.data.synthbias import generate
from bepaper.errors import BepaperError, ConfigError
from bepaper.identity import run_folder, run_identity
from bepaper.protocol import arm_method
from bepaper.train import finetune

TINY = [
    "data.num_frames=4",
    "data.stride=2",
    "data.load_size=32",
    "data.workers=0",
    "augment.crop_size=16",
    "model.backbone=r3d_small",
    "model.width=4",
    "optim.epochs=1",
    "optim.batch_size=8",
    "eval.num_clips=1",
    "run.device=cpu",
    "run.progress=false",
]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    data = generate(tmp_path_factory.mktemp("d"), "tiny", analogues=("ucf101like",), workers=1,
                    progress=False)  # fmt: skip
    return data["ucf101like"]


def cfg(root, runs, *extra):
    return build_config(
        FinetuneConfig, overrides=[f"data.root={root}", f"run.root={runs}", *TINY, *extra]
    )


def test_a_run_made_with_other_execution_settings_is_reused(root, tmp_path, capsys):
    first = cfg(root, tmp_path / "runs", "data.workers=1", "run.tensorboard=false")
    result = finetune(first)
    folder = run_folder(first, "finetune")
    assert folder.parent == tmp_path / "runs" and (folder / "finished.json").exists()
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    # Another machine: other workers, device string, precision, progress, and the same data
    # reached through another path (a symlink).
    link = tmp_path / "elsewhere"
    link.symlink_to(root)
    again = cfg(link, tmp_path / "runs", "data.workers=0", "run.amp=false", "run.progress=true")
    assert run_folder(again, "finetune") == folder
    assert finetune(again) == result
    assert "reusing finished run" in capsys.readouterr().out
    assert before == {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_a_result_relevant_change_gets_another_folder_or_is_refused(root, tmp_path):
    base = cfg(root, tmp_path / "runs")
    other = cfg(root, tmp_path / "runs", "optim.lr=0.02")
    assert run_folder(base, "finetune") != run_folder(other, "finetune")
    finetune(base)
    # forced into the same folder, the finished run is not overwritten: the change is named
    forced = cfg(
        root, tmp_path / "runs", "optim.lr=0.02", f"run.out={run_folder(base, 'finetune')}"
    )
    with pytest.raises(BepaperError, match=r"another config \(optim.lr: 0.05 -> 0.02\)"):
        finetune(forced)


def test_identity_is_written_and_names_data_by_content(root, tmp_path):
    a = cfg(root, tmp_path / "runs")
    ident = run_identity(a, "finetune")
    assert ident["command"] == "finetune" and "workers" not in ident["config"]["data"]
    assert "root" not in ident["config"]["data"] and len(ident["data"]) == 16
    finetune(a)
    saved = json.loads((run_folder(a, "finetune") / "identity.json").read_text())
    assert saved == json.loads(json.dumps(ident))
    # per-video outputs are kept, not only the scalar accuracy
    import numpy as np

    out = np.load(run_folder(a, "finetune") / "outputs" / "test_split1.npz")
    assert out["scores"].shape == (len(out["paths"]), len(out["classes"]))
    assert set(out["labels"]) <= set(range(len(out["classes"])))


@pytest.mark.parametrize(
    "arm, name, be, hn",
    [
        ("moco", "moco", False, False),
        ("moco+hn", "moco", False, True),
        ("moco+be", "moco", True, False),
        ("moco+hn+be", "moco", True, True),
    ],
)
def test_arms(arm, name, be, hn):
    m = arm_method(arm, MethodConfig())
    assert (m.name, m.be, m.options.hard_negatives) == (name, be, hn)


def test_bad_arms_are_clear_errors():
    assert arm_method("random", MethodConfig()) is None
    with pytest.raises(ConfigError, match="unknown switch"):
        arm_method("moco+xx", MethodConfig())
    with pytest.raises(ConfigError, match="unknown method 'simclr'"):
        arm_method("simclr+be", MethodConfig())


def test_collect_gives_every_finished_run_as_a_row(root, tmp_path):
    from bepaper.results import collect, load_outputs

    a = cfg(root, tmp_path / "runs")
    b = cfg(root, tmp_path / "runs", "optim.lr=0.02")
    finetune(a)
    finetune(b)
    df = collect(tmp_path / "runs")
    assert len(df) == 2 and set(df["command"]) == {"finetune"}
    assert sorted(df["optim.lr"]) == [0.02, 0.05] and df["key"].is_unique
    assert set(df["path"]) == {str(run_folder(a, "finetune")), str(run_folder(b, "finetune"))}
    assert {"test_top1.1", "device", "host", "torch"} <= set(df.columns)
    out = load_outputs(run_folder(a, "finetune"), split=1)
    row = df[df["path"] == str(run_folder(a, "finetune"))].iloc[0]
    assert abs((out["scores"].argmax(1) == out["labels"]).mean() - row["test_top1.1"]) < 1e-6


def test_finished_only_reports_the_finished_seeds_and_trains_nothing(tmp_path):
    """A study run in parts (seeds in parallel jobs) is reported from what has finished:
    the seeds whose every run is done, marked partial with the planned seeds it lacks."""
    from pathlib import Path

    from bepaper.config import StudyConfig
    from bepaper.report import render_table
    from bepaper.study import run_study

    smoke = Path(__file__).resolve().parents[1] / "configs" / "synthbias_smoke.yaml"

    def study(*extra):
        return build_config(
            StudyConfig,
            files=[smoke],
            overrides=[
                f"synth_root={tmp_path / 'data'}",
                f"run.root={tmp_path / 'runs'}",
                f"figures={tmp_path / 'figures'}",
                "arms=[random,moco]",
                "ladder=false",
                *extra,
            ],
        )

    run_study(study("seeds=[0]"))
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    result = run_study(study("seeds=[0,1]", "finished_only=true"))
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == runs  # nothing trained
    assert {r["seed"] for r in result["rows"]} == {0}
    summary = json.loads((tmp_path / "figures" / "be_question_smoke_summary.json").read_text())
    assert not summary["info"]["complete"] and summary["info"]["planned_seeds"] == [0, 1]
    assert "PARTIAL: 1 of its 2 planned seeds; seeds [1] have not finished" in render_table(summary)
    whole = run_study(study("seeds=[0]", "finished_only=true"))
    assert {r["seed"] for r in whole["rows"]} == {0}
    summary = json.loads((tmp_path / "figures" / "be_question_smoke_summary.json").read_text())
    assert summary["info"]["complete"]
    with pytest.raises(ConfigError, match="ladder's runs have not all finished"):
        run_study(study("seeds=[0]", "finished_only=true", "ladder=true"))
