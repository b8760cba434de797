"""Every notebook runs under papermill at preset=smoke, top to bottom, with its parameters
cell as stored, in one shared work folder (so later notebooks reuse earlier runs, as
`make reproduce` does). A notebook that fails fails the tests, and so does one whose
outputs break what `check_executed` lists (checked by hand: table2's executed copy passes,
and fails once one "ours" number of its CSV is changed from 25.0 to 26.0)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest
from conftest import result_values

from bepaper.notebook import find_root

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
PAPER_TABLES = {"table1", "table2", "table3", "table4", "figure4", "figure5"}


def test_there_are_notebooks():
    names = {p.stem for p in NOTEBOOKS}
    assert names >= PAPER_TABLES | {"quickstart", "figure3", "figures6_7", "be_question"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebooks")


def outputs(nb) -> list[tuple[int, dict]]:
    """(cell index, output) for every output of an executed notebook."""
    return [(i, o) for i, c in enumerate(nb.cells) for o in c.get("outputs", [])]


def text_of(output: dict) -> str:
    """An output's text: a stream's, else its Markdown, else its plain text."""
    if "text" in output:
        return output["text"]
    data = output.get("data", {})
    return data.get("text/markdown") or data.get("text/plain") or ""


def check_executed(executed, stem: str, work: Path, written: list[Path]) -> None:
    """What an executed notebook promises: no error; no stderr but the package's own
    warnings, no path of the executing machine; every figure it wrote is a PNG it shows;
    a paper table's one-seed numbers are values of the run folders' result files; its last
    output is the reading computed from its results."""
    outs = outputs(executed)
    assert not [o for _, o in outs if o.get("output_type") == "error"]
    stderr = [text_of(o) for _, o in outs if o.get("name") == "stderr"]
    garbage = [line for t in stderr for line in t.splitlines()
               if line.strip() and not line.startswith("bepaper: warning:")]  # fmt: skip
    assert not garbage, garbage  # e.g. tqdm's IProgress warning, a progress bar's \r lines
    for _, o in outs:
        t = text_of(o)
        assert "site-packages" not in t and ".venv" not in t, t[:300]
    pngs = [p for p in written if p.suffix == ".png"]
    assert pngs, "the notebook wrote no figure"
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", p
    for p in written:
        if p.suffix == ".pdf":
            assert p.with_suffix(".png").exists(), p
    shown = [o for _, o in outs if "image/png" in o.get("data", {})]
    top = [p for p in pngs if p.parent == work / "figures" / "smoke"]
    assert len(shown) >= len(top), (len(shown), top)  # every figure it saves it shows
    if stem in PAPER_TABLES - {"figure4"}:
        df = pd.read_csv(work / "figures" / "smoke" / f"{stem}.csv")
        assert "paper" in df.columns  # the paper's number beside ours
        values = result_values(work / "runs")
        one = df[df["seeds"] == 1]
        assert len(one), "no row ran"
        for _, r in one.iterrows():
            assert round(float(r["ours mean"]), 2) in values, (
                r["row"],
                r["column"],
                r["ours mean"],
            )
    code_cells = [i for i, c in enumerate(executed.cells) if c.cell_type == "code"]
    final = [text_of(o) for i, o in outs if i == code_cells[-1]]
    assert final and "**Reading" in final[-1], final  # the computed reading ends it
    assert any(ch.isdigit() for ch in final[-1])  # computed from numbers, not typed prose


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(notebook, workdir):
    out = workdir / "executed" / notebook.name
    out.parent.mkdir(exist_ok=True)
    before = {p: p.stat().st_mtime_ns for p in (workdir / "figures").rglob("*") if p.is_file()}
    papermill.execute_notebook(
        str(notebook),
        str(out),
        parameters={"preset": "smoke", "workdir": str(workdir)},
        cwd=str(notebook.parent),
        kernel_name="python3",
        progress_bar=False,
    )
    written = [p for p in (workdir / "figures").rglob("*")
               if p.is_file() and before.get(p) != p.stat().st_mtime_ns]  # fmt: skip
    assert not (workdir / "figures" / "figures").exists()
    check_executed(nbformat.read(out, as_version=4), notebook.stem, workdir, written)


def test_an_executed_copy_finds_the_repository_root():
    """An executed copy under figures/<preset>/ rerun from its own folder works in the
    repository root (same runs, same figures folder), not in figures/."""
    root = Path(__file__).resolve().parents[1]
    assert find_root(root / "figures" / "synthetic") == root
    assert find_root(root / "notebooks") == root


def test_notebooks_are_stored_without_outputs_and_with_parameters():
    for notebook in NOTEBOOKS:
        nb = nbformat.read(notebook, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, notebook.name
        assert 'preset = "synthetic"' in tagged[0].source, notebook.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, notebook.name
