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
