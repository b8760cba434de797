"""The benchmark numbers quoted in docs/performance.md are the result files' numbers
(bench/results/, written by the benchmarks themselves), not typed by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
NAMES = {"c3d": "C3D", "r3d18": "R3D-18", "r3d34": "R3D-34", "r2plus1d18": "R(2+1)D-18",
         "i3d": "I3D", "s3d": "S3D-G", "r3d_small": "the small R3D (width 8)"}  # fmt: skip


def _paragraph(start: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    i = text.index(start)
    end = text.find("\n\n", i)
    return " ".join(text[i : end if end >= 0 else None].split())


def test_backbone_timings_are_the_csvs():
    pd = pytest.importorskip("pandas")
    rows = pd.read_csv(ROOT / "bench" / "results" / "backbones_cpu.csv")
    text = _paragraph("**Backbones** (`bench/backbones.py --csv")
    assert set(rows.model) == set(NAMES)
    for row in rows.itertuples():
        assert f"{NAMES[row.model]} {row.mean_s:.2f} s" in text, row.model
    assert f"load average {rows.load_average.iloc[0]:.1f}" in text


def test_persistent_worker_table_is_the_csvs_medians():
    pd = pytest.importorskip("pandas")
    runs = pd.read_csv(ROOT / "bench" / "results" / "persistent_workers.csv")
    median = runs.groupby("code")[["wall_s", "user_s", "sys_s"]].median()
    text = _paragraph("| code | wall s |")
    for code in ("before", "after"):
        m = median.loc[code]
        cells = f"| {m.wall_s:.1f} | {m.user_s + m.sys_s:.1f} | {m.sys_s:.1f} |"
        assert re.search(rf"\| {code}[^|]*{re.escape(cells)}", text), code
    assert runs.loss.nunique() == 1  # the change moves no result
