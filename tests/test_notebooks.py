"""Every notebook runs under papermill at preset=smoke, top to bottom, with its parameters
cell as stored, in one shared work folder (so later notebooks reuse earlier runs, as
`make reproduce` does). A notebook that fails fails the tests."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
PAPER_TABLES = {"table1", "table2", "table3", "table4", "figure4", "figure5"}


def test_there_are_notebooks():
    names = {p.stem for p in NOTEBOOKS}
    assert names >= PAPER_TABLES | {"quickstart", "figure3", "figures6_7", "be_question"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebooks")


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(notebook, workdir):
    out = workdir / "executed" / notebook.name
    out.parent.mkdir(exist_ok=True)
    papermill.execute_notebook(
        str(notebook),
        str(out),
        parameters={"preset": "smoke", "workdir": str(workdir)},
        cwd=str(notebook.parent),
        kernel_name="python3",
        progress_bar=False,
    )
    executed = nbformat.read(out, as_version=4)
    errors = [
        o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert not errors
    images = [
        o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert images  # the notebook shows its figures
    written = list((workdir / "figures" / "smoke").glob(f"{notebook.stem}*"))
    assert written or notebook.stem == "quickstart", "the notebook wrote no table or figure"
    if notebook.stem in PAPER_TABLES:
        csv = (workdir / "figures" / "smoke" / f"{notebook.stem}.csv").read_text()
        assert "paper" in csv.splitlines()[0]  # the paper's number beside ours


def test_notebooks_are_stored_without_outputs_and_with_parameters():
    for notebook in NOTEBOOKS:
        nb = nbformat.read(notebook, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, notebook.name
        assert 'preset = "synthetic"' in tagged[0].source, notebook.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, notebook.name
