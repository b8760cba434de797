"""The numbers in README.md and docs/results.md are the result files' numbers: every
generated block equals what `bepaper readme` renders from figures/."""

from __future__ import annotations

from pathlib import Path

import pytest

from bepaper import readme

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["README.md", "docs/results.md", "docs/synthbias.md"])
def test_generated_blocks_match_the_result_files(name):
    assert readme.stale(ROOT / name) == [], f"run: bepaper readme {name}"


def test_a_changed_number_is_caught(tmp_path):
    text = "a\n<!-- bepaper:timing -->\nmade up: 1 min\n<!-- /bepaper:timing -->\nb\n"
    path = tmp_path / "R.md"
    path.write_text(text)
    assert readme.stale(path, figures=tmp_path) == ["timing"]
    assert readme.update(path, figures=tmp_path) and readme.stale(path, figures=tmp_path) == []
    assert "Not measured yet" in path.read_text()


def test_timing_block_reads_the_csv(tmp_path):
    folder = tmp_path / "synthetic"
    folder.mkdir()
    (folder / "timing.csv").write_text(
        'notebook,seconds,new_runs,machine\ninstall,130,0,"box"\nquickstart,61,2,"box"\n'
        'table1,900,13,"box"\n'
    )
    text = readme.block_timing(tmp_path)
    assert "18 min 11 s" in text  # 130 + 61 + 900 = 1091 s
    assert "the install 130 s" in text and "table1 900 s" in text
    assert "trained 15 runs" in text and "second call" not in text
    (folder / "timing_redraw.csv").write_text(
        'notebook,seconds,new_runs,machine\ninstall,0,0,"box"\nquickstart,5,0,"box"\n'
    )
    assert "A second call, reusing every run, took 0 min 5 s" in readme.block_timing(tmp_path)
    (folder / "timing.csv").write_text(
        'notebook,seconds,new_runs,machine\ninstall,10,0,"box"\nplan,1500,40,"box"\n'
        'table1,60,0,"box"\n'
    )
    text = readme.block_timing(tmp_path)
    assert "26 min 10 s" in text and "the runs (25 min 0 s, 40 runs" in text
    assert "the notebooks: table1 60 s" in text and "plan 1500" not in text


def test_the_verdict_and_make_reproduce_agree_on_the_seeds_they_share():
    """docs/results.md says the verdict's first seeds are `make reproduce`'s runs. Runs are
    named by config, not code, so stored files from different code can disagree under the
    same names (the first verdict did, after the loader-order fix): compare every number."""
    pd = pytest.importorskip("pandas")
    verdict = pd.read_csv(ROOT / "figures" / "be_question_verdict_runs.csv")
    reproduce = pd.read_csv(ROOT / "figures" / "synthetic" / "be_question_cpu_runs.csv")
    both = reproduce.merge(verdict, on=["arm", "seed"], suffixes=("", "_verdict"))
    import json

    summary = json.loads((ROOT / "figures" / "be_question_verdict_summary.json").read_text())
    if summary["info"].get("complete"):
        assert len(both) == len(reproduce) > 0  # the verdict's seeds hold make reproduce's
    else:
        assert len(both) > 0  # a partial verdict (it says so): the seeds it has so far
    for column in ("probe_top1", "biased_top1", "unbiased_top1", "pretrain_loss"):
        pd.testing.assert_series_equal(
            both[column], both[f"{column}_verdict"], check_names=False, obj=column
        )
    assert (both["finetune_run"].fillna("") == both["finetune_run_verdict"].fillna("")).all()


def test_a_row_the_synthetic_preset_cuts_says_so_in_the_tables_block():
    """configs/presets/synthetic.yaml `cut:` rows have no numbers; the README says why
    rather than showing a bare dash."""
    text = readme.block_tables()
    assert "3D RotNet (C3D, K400): not run: cut from preset synthetic" in text
    assert "MoCo + BE (C3D, UCF101): UCF101 72.4 / " in text  # a row it runs has numbers
    assert "MoCo + BE (C3D, UCF101): not run" not in text


def test_the_hand_written_timing_sentence_matches_timing_csv():
    """The README's sentence under the timing block ('N s over/under the hour', the runs' minutes)
    is typed, not generated: it must agree with figures/synthetic/timing.csv."""
    import re

    pd = pytest.importorskip("pandas")
    t = pd.read_csv(ROOT / "figures" / "synthetic" / "timing.csv")
    text = (ROOT / "README.md").read_text()
    said = re.search(r"\*\*(\d+) s (over|under) the hour\*\*", text)
    assert said, "no '**N s over/under the hour**' in the README"
    sign = 1 if said.group(2) == "over" else -1
    assert sign * int(said.group(1)) == int(t["seconds"].sum()) - 3600
    plan = int(t.loc[t["notebook"] == "plan", "seconds"].iloc[0])
    assert f"the runs took {round(plan / 60)} minutes" in text
