"""Every notebook runs under papermill, with small parameters."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(notebook, tmp_path):
    out = tmp_path / notebook.name
    papermill.execute_notebook(
        str(notebook),
        str(out),
        parameters={"workdir": str(tmp_path / "work")},
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


def test_notebooks_are_stored_without_outputs():
    for notebook in NOTEBOOKS:
        nb = nbformat.read(notebook, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, notebook.name
