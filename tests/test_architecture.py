"""The package's shape: its import graph has no cycle, and a config is built without
importing a network."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bepaper"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Line numbers inside `if TYPE_CHECKING:` blocks (imports for type hints only)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    if hasattr(sub, "lineno"):
                        lines.add(sub.lineno)
    return lines


def import_graph() -> dict[str, set[str]]:
    """module → the bepaper modules it imports, at module level or inside a function (a
    lazy import is still a dependency), type-checking-only imports excluded. The parent
    packages of an imported module count too: importing bepaper.a.b runs bepaper/a/__init__."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_lines(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if not t or t == name:
                    continue
                graph[name].add(t)
                parent = t.rpartition(".")[0]  # parents' __init__ run first
                while parent:
                    if parent in modules and parent != name and not name.startswith(parent + "."):
                        graph[name].add(parent)
                    parent = parent.rpartition(".")[0]
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_cycle() -> None:
    found = cycles(import_graph())
    assert found == [], f"import cycles: {found}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_a_config_is_built_without_importing_torch() -> None:
    """Building and validating every command's config, method options included, imports
    neither torch nor a network (bepaper.models, bepaper.methods)."""
    code = (
        "import sys\n"
        "from bepaper.config import build_config, PretrainConfig, FinetuneConfig, StudyConfig\n"
        "build_config(StudyConfig)\n"
        "build_config(FinetuneConfig, [], ['model.backbone=c3d'])\n"
        "build_config(PretrainConfig, [], ['method.name=vcop', 'method.be=true'])\n"
        "heavy = sorted(m for m in sys.modules if m == 'torch' or m.startswith("
        "('bepaper.models', 'bepaper.methods')))\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]", f"building a config imported {out}"


def test_the_torch_free_names_are_the_registries_keys() -> None:
    from bepaper import be, choices
    from bepaper.methods import METHODS
    from bepaper.models import MODELS

    assert set(MODELS) == set(choices.BACKBONES)
    assert set(be.DISTRACTIONS) == set(choices.DISTRACTIONS)
    assert set(METHODS) == set(choices.METHOD_OPTIONS)
    for name, cls in METHODS.items():
        assert cls.Options is choices.METHOD_OPTIONS[name], name


def test_docs_architecture_names_every_module():
    """docs/architecture.md says what each file owns: a new module is named there."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.name == "__init__.py" or rel.parts[0] in (
            "methods",
            "models",
            "analysis",
            "commands",
        ):
            continue  # packages are described as a whole
        if f"`{rel.as_posix()}`" not in doc and f"`{rel.name}`" not in doc:
            missing.append(rel.as_posix())
    assert missing == [], f"docs/architecture.md does not say what these own: {missing}"
