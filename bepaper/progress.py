"""Progress bars that draw where they are shown.

In a terminal: tqdm's text bar. In a Jupyter kernel (the lab, papermill): tqdm's widget bar
when `ipywidgets` is installed, and no bar otherwise; a text bar there is a stderr box of
carriage returns, and `tqdm.auto` without widgets warns from its own file path."""

from __future__ import annotations

import sys


def in_kernel() -> bool:
    """True inside a Jupyter (ZMQ) kernel: JupyterLab, the notebook, papermill."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def widgets() -> bool:
    """Whether ipywidgets can be imported (tqdm's notebook bar needs it)."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def bar(iterable=None, **kw):
    """A tqdm bar over `iterable` (tqdm's keywords): text in a terminal, a widget in a
    kernel with ipywidgets, disabled in a kernel without."""
    from tqdm import tqdm

    if in_kernel():
        if widgets():
            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm(iterable, **kw)
        kw["disable"] = True
    return tqdm(iterable, **kw)


def write(line: str) -> None:
    """Print `line` without breaking a text bar that is drawing."""
    from tqdm import tqdm

    tqdm.write(line)


_REUSED: dict = {"cell": None, "count": 0, "handle": None}


def reused(path) -> None:
    """Say that a finished run was reused. In a terminal: one line per run. In a kernel: one
    line per notebook cell that counts them and names the latest (a study reusing fifty
    runs would otherwise print fifty lines above its table)."""
    if not in_kernel():
        print(f"reusing finished run {path}")
        return
    from IPython import get_ipython
    from IPython.display import Pretty, display

    cell = get_ipython().execution_count
    if _REUSED["cell"] != cell or _REUSED["handle"] is None:
        _REUSED.update(cell=cell, count=0, handle=display(Pretty(""), display_id=True))
    _REUSED["count"] += 1
    n = _REUSED["count"]
    _REUSED["handle"].update(
        Pretty(f"reusing {n} finished run{'s' if n > 1 else ''} (the latest: {path})")
    )
