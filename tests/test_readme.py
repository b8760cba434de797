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
