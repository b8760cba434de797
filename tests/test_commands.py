"""The command registry: every registered module has the command interface, its `--help`
works, a new command is one module plus one registry line, and `bepaper --help` imports
no heavy code."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from bepaper import cli, commands
from bepaper.errors import ConfigError

NAMES = [commands.load(name).NAME for name in commands.COMMANDS]


@pytest.mark.parametrize("module_name", commands.COMMANDS)
def test_every_registered_module_has_the_interface(module_name: str) -> None:
    module = commands.load(module_name)
    assert module.NAME == module_name.replace("_", "-")
    assert isinstance(module.HELP, str) and module.HELP and "\n" not in module.HELP
    for optional in ("DESCRIPTION", "EXAMPLES"):
        assert isinstance(getattr(module, optional, ""), str)
    assert callable(module.add_arguments) and callable(module.run)
    assert module.__doc__, module_name


def test_the_registry_names_each_command_once_in_help_order(capsys) -> None:
    assert len(set(NAMES)) == len(NAMES) == len(commands.COMMANDS)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    listed = [line.split()[0] for line in text.splitlines() if line.startswith("    ")]
    assert [name for name in listed if name in NAMES] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_command_has_help(name: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([name, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: bepaper {name} ")
    module = next(m for m in commands.modules() if m.NAME == name)
    for line in getattr(module, "EXAMPLES", "").splitlines():
        assert line in text


def test_a_command_is_one_module_and_one_registry_line(monkeypatch, capsys) -> None:
    """A throwaway module, registered by adding its name to COMMANDS, gets its parser,
    its help and its run; its errors get the one-line treatment."""
    hello = types.ModuleType("bepaper.commands.hello")
    hello.NAME = "hello"
    hello.HELP = "say hello"
    hello.EXAMPLES = "  bepaper hello --name world"

    def add_arguments(parser) -> None:
        parser.add_argument("--name", default="you", help="whom to greet")

    def run(args) -> int:
        if args.name == "nobody":
            raise ConfigError("nobody to greet")
        print(f"hello {args.name}")
        return 7

    hello.add_arguments, hello.run = add_arguments, run
    monkeypatch.setitem(sys.modules, "bepaper.commands.hello", hello)
    monkeypatch.setattr(commands, "COMMANDS", (*commands.COMMANDS, "hello"))

    assert cli.main(["hello", "--name", "world"]) == 7
    assert capsys.readouterr().out == "hello world\n"
    assert cli.main(["hello", "--name", "nobody"]) == 2
    assert capsys.readouterr().err == "bepaper: error: nobody to greet\n"
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "hello      say hello" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["hello", "--help"])
    text = capsys.readouterr().out
    assert "whom to greet" in text and "examples:\n  bepaper hello --name world" in text


def test_help_imports_no_heavy_code() -> None:
    """`bepaper --help` and every command's parser stay fast: no torch, no training or
    analysis code."""
    code = (
        "import sys\n"
        "from bepaper.cli import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in sys.modules if m in ('torch', 'numpy', 'cv2', 'av')"
        " or m.startswith(('bepaper.train', 'bepaper.analysis', 'bepaper.data',"
        " 'bepaper.config', 'bepaper.models', 'bepaper.methods'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]", f"building the parser imported {out}"
