"""The numbers in README.md and docs/results.md are the result files' numbers: every
generated block equals what `bepaper readme` renders from figures/."""

from __future__ import annotations

from pathlib import Path

import pytest

from bepaper import readme

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["README.md", "docs/results.md"])
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
