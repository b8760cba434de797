from bepaper import progress


def test_a_terminal_gets_a_text_bar():
    assert not progress.in_kernel()
    b = progress.bar(range(3), disable=False)
    assert not b.disable
    assert list(b) == [0, 1, 2]


def test_a_kernel_without_widgets_gets_no_bar(monkeypatch):
    monkeypatch.setattr(progress, "in_kernel", lambda: True)
    monkeypatch.setattr(progress, "widgets", lambda: False)
    b = progress.bar(range(3), disable=False)
    assert b.disable  # no stderr box of carriage returns
    assert list(b) == [0, 1, 2]


def test_terminal_names_each_reused_run(capsys):
    progress.reused("runs/a")
    progress.reused("runs/b")
    assert capsys.readouterr().out == "reusing finished run runs/a\nreusing finished run runs/b\n"


def test_a_kernel_counts_reused_runs_on_one_line_per_cell():
    """In a real kernel (nbclient, as papermill runs it): three reuses in a cell leave one
    output that counts them; the next cell starts its own count."""
    import nbclient
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from bepaper import progress\n"
            "for p in ('runs/a', 'runs/b', 'runs/c'):\n    progress.reused(p)"
        ),
        nbformat.v4.new_code_cell("progress.reused('runs/d')"),
    ]
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    texts = [[o["data"]["text/plain"] for o in c.outputs] for c in nb.cells]
    assert texts == [
        ["reusing 3 finished runs (the latest: runs/c)"],
        ["reusing 1 finished run (the latest: runs/d)"],
    ]
