"""bepaper.paper against the paper's own text: every number of Tables 1-4 is found in its row
of the OCR, the stated gains agree with the arithmetic, and the figures' numbers are in the
text."""

from __future__ import annotations

import re

import pytest
from scipy import stats

from bepaper import paper
from bepaper.errors import ConfigError

# (table, row, column, backbone, pretrain) whose stated gain disagrees with the arithmetic.
KNOWN_GAIN_MISMATCHES = {("table1", "MoCo + BE", "HMDB51", "C3D", "UCF101")}
# Index of each column among the cells of a table line (split on "|").
COLUMN_CELL = {
    "table1": {"UCF101": 8, "HMDB51": 9},
    "table2": {"Diving48": 3},
    "table3": {f"R@{k}": i + 2 for i, k in enumerate(paper.RECALL_K)},
    "table4": {"UCF101": 1, "HMDB51": 2},
}
NUMBER = r"(?<![\d.]){}(?![\d])"


@pytest.fixture(scope="module")
def text(paper_dir) -> str:
    files = sorted(paper_dir.glob("*.txt"))
    assert files, f"no .txt in {paper_dir}"
    return files[0].read_text(encoding="utf-8")


def _blocks(text: str) -> dict[str, list[str]]:
    """Table lines of the OCR, keyed "tableN" by the caption that follows each block."""
    out, block = {}, []
    for line in text.splitlines():
        if line.startswith("|"):
            block.append(line)
            continue
        m = re.match(r"Table (\d):", line)
        if m and block:
            out[f"table{m.group(1)}"] = block
        if line.strip():
            block = []
    return out


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _data_rows(block: list[str], table: str) -> list[list[str]]:
    """The lines that hold numbers, in order: header, separator and section lines dropped."""
    idx = list(COLUMN_CELL[table].values())
    rows = []
    for line in block:
        cells = _cells(line)
        if set(line) <= set("|- ") or cells[0] in ("Method", "Method(year)"):
            continue
        if any(cells[i] for i in idx):
            rows.append(cells)
    return rows


def _digits(cell: str) -> str:
    return re.sub(r"[^0-9.]", "", re.sub(r"<[^>]+>|\\overline", "", cell))


def _has(cell: str, x: float) -> bool:
    return re.search(NUMBER.format(re.escape(f"{x:.1f}")), cell) is not None


def _key(e: paper.Entry) -> tuple:
    return (e.table, e.row, e.column, e.backbone, e.pretrain)


@pytest.mark.parametrize("table", ["table1", "table2", "table3", "table4"])
def test_every_cell_is_in_its_row_of_the_text(text, table):
    rows = _data_rows(_blocks(text)[table], table)
    mine = paper.entries(table)
    assert max(e.line for e in mine) == len(rows)
    for e in mine:
        cells = rows[e.line - 1]
        cell = cells[COLUMN_CELL[table][e.column]]
        where = f"{_key(e)}: {cells}"
        if e.status == "label_inferred":
            assert cells[0] == "" and "inferred" in e.note, where
        else:
            assert cells[0].startswith(e.row), where
            assert ("+ BE" in cells[0]) == ("+ BE" in e.row), where
        if e.status in ("read", "label_inferred"):
            assert _has(cell, e.value), where
        elif e.status == "not_reported":
            assert cell == "-" and e.value is None, where
        elif e.status == "recovered":
            assert _digits(cell) == f"{e.value:.1f}", where
            assert not _has(cell, e.value), f"{where}: clean in the OCR, not 'recovered'"
        elif e.status == "garbled":
            assert e.value is None and not re.search(r"\d", cell), where
        else:
            raise AssertionError(f"status {e.status!r} in a table: {where}")
        if e.gain is not None and table == "table3":
            assert "§4.3" in e.note, where  # Table 3 prints no gains; the text states them
        elif e.gain is not None:
            assert f"({abs(e.gain):.1f}" in cell.replace(" ", ""), where
            down = "downarrow" in cell or "psi" in cell  # ↓, or its OCR reading ψ
            assert down == (e.gain < 0), where


def test_no_number_of_the_tables_is_left_out(text):
    for table, block in _blocks(text).items():
        known = set()
        for e in paper.entries(table):
            known.update(f"{x:.1f}" for x in (e.value, e.gain) if x is not None)
            known.update(f"{abs(e.gain):.1f}" for _ in [0] if e.gain is not None)
        printed = set(re.findall(r"(?<![\d.])\d+\.\d(?![\d])", "\n".join(block)))
        assert printed <= known, f"{table}: in the OCR but not in paper.py: {printed - known}"


def test_table1_row_details_match_the_text(text):
    rows = _data_rows(_blocks(text)["table1"], "table1")
    for e in paper.entries("table1"):
        cells = rows[e.line - 1]
        backbone = cells[1].replace("_", "").replace(" ", "")
        if backbone:
            assert e.backbone and e.backbone in backbone, (e.row, cells)
        else:
            assert "Backbone cell blank" in e.note, (e.row, cells)
        dataset = cells[3].replace("_", "").strip()
        want = "X" if e.pretrain == "none" else e.pretrain
        want += f"({e.duration})" if e.duration else ""
        assert dataset == want, (e.row, cells)
        assert str(e.resolution) in _digits(cells[5]), (e.row, cells)
        if e.ref:
            assert e.ref in cells[0], (e.row, cells)


@pytest.mark.parametrize(
    ("table", "row", "column", "backbone", "pretrain", "value", "status"),
    [
        ("table1", "K400 Supervised", "HMDB51", "I3D", "K400", 74.5, "read"),
        ("table1", "MoCo", "HMDB51", "I3D", "K400", 36.3, "recovered"),
        ("table1", "3D RotNet", "HMDB51", "C3D", "K400", None, "garbled"),
        ("table2", "MoCo", "Diving48", "I3D", "UCF101", 43.2, "label_inferred"),
        ("table2", "MoCo", "Diving48", "I3D", "K400", 47.9, "label_inferred"),
        ("table3", "MoCo + BE", "R@50", "R3D", "UCF101", 81.4, "read"),
        ("table3", "MemDPC", "R@50", "R3D", None, None, "not_reported"),
        ("table4", "Intra-Video Frame", "HMDB51", "I3D", "UCF101", 52.9, "read"),
    ],
)
def test_sample_entries(table, row, column, backbone, pretrain, value, status):
    e = paper.lookup(table, row, column, backbone=backbone, pretrain=pretrain)
    assert (e.value, e.status) == (value, status)


def test_garbled_and_inferred_cells_say_why():
    rotnet = paper.lookup("table1", "3D RotNet", "HMDB51")
    assert rotnet.implied == 33.7 and "Garbled in the OCR" in rotnet.note
    for e in paper.entries():
        if e.status == "recovered":
            assert "confirmed by the stated gain" in e.note
        if e.status == "label_inferred":
            assert "inferred" in e.note and "gain" in e.note


def test_stated_gains_agree_with_the_arithmetic():
    mismatches, checked = set(), 0
    for e in paper.entries():
        if e.gain is None:
            continue
        assert e.baseline, _key(e)
        base = paper.lookup(e.table, e.baseline, e.column, e.backbone, e.pretrain)
        if e.value is not None and base.value is not None:
            checked += 1
            if abs(e.value - base.value - e.gain) > 0.05:
                mismatches.add(_key(e))
        elif base.implied is not None:
            assert abs(e.value - e.gain - base.implied) <= 0.05, _key(e)
    assert checked >= 25
    assert mismatches == KNOWN_GAIN_MISMATCHES
    for key in KNOWN_GAIN_MISMATCHES:
        assert "inconsistent" in paper.lookup(*key).note


def test_gains_stated_in_the_text(text):
    flat = " ".join(text.split())
    assert "BE brings 16.4% and 19.1% improvements with MoCo" in flat
    assert "and 14.5% improvement on the less biased dataset Diving48" in flat
    assert paper.lookup("table1", "MoCo + BE", "UCF101", "I3D", "K400").gain == 16.4
    assert paper.lookup("table1", "MoCo + BE", "HMDB51", "I3D", "K400").gain == 19.1
    assert paper.lookup("table2", "MoCo + BE", "Diving48", "I3D", "K400").gain == 14.5
    # §4.2: "2.5%/3.7% ... 3D RotNet, 3.1%/2.5% ... ST Puzzle and 2.9%/4.4% ... Clip Order"
    for method, pair in [("3D RotNet", "2.5%/3.7%"), ("ST Puzzles", "3.1%/2.5%"),
                         ("Clip Order", "2.9%/4.4%")]:  # fmt: skip
        gains = [paper.lookup("table1", f"{method} + BE", c).gain for c in ("UCF101", "HMDB51")]
        assert pair == "/".join(f"{g:.1f}%" for g in gains) and pair in flat
    # §4.3: "a 0.7% improvement to top1 acc and a 2.2% improvement to top5 acc"
    assert "0.7% improvement to top1" in flat and "2.2% improvement to top5" in flat
    assert paper.lookup("table3", "MoCo + BE", "R@1", "C3D").gain == 0.7
    # §4.4: intra- over inter-video frame "5% and 6.4%"
    assert "5% and 6.4% improvement" in flat
    for column, stated in (("UCF101", 5.0), ("HMDB51", 6.4)):
        intra = paper.lookup("table4", "Intra-Video Frame", column).value
        inter = paper.lookup("table4", "Inter-Video Frame", column).value
        assert abs(intra - inter - stated) < 0.05


def test_figure_numbers_are_in_the_text(text):
    flat = " ".join(text.split())
    assert "$\\rho = -0.48$  with a p-value 0.0004".replace("  ", " ") in flat
    assert paper.lookup("figure4", paper.entries("figure4")[0].row, "pearson_rho").value == (
        paper.FIGURE4_RHO
    )
    # ρ = -0.48 over the 51 HMDB51 classes gives p ≈ 0.0004 (ρ rounded to 2 digits).
    p = [2 * stats.t.sf(abs(r) * (49 / (1 - r * r)) ** 0.5, 49) for r in (-0.475, -0.485)]
    assert p[1] <= paper.FIGURE4_P <= p[0]
    assert "19.1%(74.5%-55.4%)" in flat and "2.9% (43.5%-40.6%)" in flat
    assert "from 18.2% to 16.1%" in flat
    for i, column in enumerate(("HMDB51", "Actor-HMDB51")):
        sup = paper.lookup("figure5", "K400 Supervised", column)
        be = paper.lookup("figure5", "MoCo + BE", column)
        moco = paper.lookup("figure5", "MoCo", column)
        assert (sup.value, be.value) == (
            paper.FIGURE5_K400_SUPERVISED[i],
            paper.FIGURE5_MOCO_BE[i],
        )
        assert sup.gain == paper.FIGURE5_GAP_SUPERVISED_MINUS_BE[i]
        assert be.gain == paper.FIGURE5_BE_GAIN_OVER_MOCO[i]
        assert moco.value is None and moco.status == "figure_only"


def test_entries_are_well_formed():
    all_entries = paper.entries()
    assert {e.table for e in all_entries} == set(paper.TABLES)
    counts = {t: len(paper.entries(t)) for t in paper.TABLES}
    assert counts == {"table1": 56, "table2": 16, "table3": 45, "table4": 12, "figure4": 2,
                      "figure5": 6}  # fmt: skip
    for e in all_entries:
        assert e.table and e.row and e.column and e.line >= 1, e
        assert e.status in paper.STATUSES, e
        assert (e.value is None) == (e.status in ("garbled", "not_reported", "figure_only")), e
        assert e.implied is None or e.value is None, e
        assert (e.gain is None) or e.baseline, e
    assert len({(_key(e), e.line) for e in all_entries}) == len(all_entries)


def test_lookup_and_its_errors():
    e = paper.lookup("table1", "moco  + be", "ucf101", backbone="r3d", pretrain="k400")
    assert e.value == 87.1
    with pytest.raises(ConfigError, match="ambiguous.*backbone=R3D"):
        paper.lookup("table1", "MoCo + BE", "UCF101")
    with pytest.raises(ConfigError, match="MoCo \\+ BE"):
        paper.lookup("table1", "MoCo+BEE", "UCF101")
    with pytest.raises(ConfigError, match="backbone=C3D"):
        paper.lookup("table1", "MoCo + BE", "UCF101", backbone="S3D-G")
    with pytest.raises(ConfigError, match="unknown table 'table9'"):
        paper.entries("table9")


def test_as_frame():
    frame = paper.as_frame("table3")
    assert len(frame) == 45 and "depth" not in frame.columns
    wide = frame[frame["row"] == "Pace"].set_index("column")["value"]
    assert wide.to_dict() == {"R@1": 9.6, "R@5": 26.9, "R@10": 41.1, "R@20": 56.1, "R@50": 76.5}
    t1 = paper.as_frame("table1")
    assert str(t1["depth"].dtype) == "Int64" and t1["value"].isna().sum() == 3
