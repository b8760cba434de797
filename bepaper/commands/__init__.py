"""The `bepaper` commands: one module per command, registered by name in `COMMANDS`.

A command module defines:

- `NAME`: the command, as typed (`"static-bias"`);
- `HELP`: one line, shown in `bepaper --help`;
- `DESCRIPTION` (optional): shown under the usage of `bepaper NAME --help`, as written;
- `EXAMPLES` (optional): command lines shown at the end of `bepaper NAME --help`;
- `add_arguments(parser)`: its arguments (shared ones are in `bepaper.commands._common`);
- `run(args) -> int`: do it; the return value is the exit code.

Keep heavy imports (torch, the package's training and analysis code) inside `run`, so that
`bepaper --help` stays fast. A user error raises `bepaper.errors.BepaperError`: `bepaper`
prints its message on one line and exits with 2.

Adding a command is one new file here plus one line in `COMMANDS`, e.g. `bepaper plan`:

    # bepaper/commands/plan.py
    NAME = "plan"
    HELP = "print the runs a study would train"

    def add_arguments(parser) -> None:
        parser.add_argument("--seeds", type=int, default=3, help="seeds (default: 3)")

    def run(args) -> int:
        from bepaper.study import ...   # heavy imports here
        ...
        return 0

and `"plan"` in `COMMANDS` (its place there is its place in `bepaper --help`).
"""

from __future__ import annotations

import importlib
from types import ModuleType

# module names under bepaper.commands, in the order `bepaper --help` lists them
COMMANDS = (
    "synth",
    "prepare",
    "pretrain",
    "finetune",
    "evaluate",
    "study",
    "plan",
    "retrieve",
    "static_bias",
    "actor_crop",
    "bias_sets",
    "bias_test",
    "cam",
    "readme",
    "config",
)


def load(name: str) -> ModuleType:
    """The command module `bepaper.commands.<name>`."""
    return importlib.import_module(f"{__name__}.{name}")


def modules() -> list[ModuleType]:
    """Every registered command module, in `COMMANDS` order."""
    return [load(name) for name in COMMANDS]
