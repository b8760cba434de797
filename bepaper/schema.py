"""How a setting is declared: its default, its documentation and its valid range.

`param` and `section` build dataclass fields that carry their doc and range as metadata;
`check_range` and `range_text` read them. This module imports nothing of bepaper's but its
errors, so that every config schema (bepaper.config, each method's options in
bepaper.choices) can use it without importing anything heavy.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import field
from typing import Any

from bepaper.errors import ConfigError


def param(
    default: Any,
    doc: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Iterable[str] | Callable[[], Iterable[str]] | None = None,
    execution: bool = False,
) -> Any:
    """A dataclass field with its documentation and valid range.

    `ge`/`gt`/`le`/`lt` bound numbers (and each item of a list); `choices` lists the valid
    strings (or is a function returning them, for registries imported lazily); `execution`
    marks a setting that does not change the result.
    """
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices}
    meta["execution"] = execution
    if isinstance(default, list | dict):
        return field(default_factory=lambda d=default: copy.deepcopy(d), metadata=meta)
    return field(default=default, metadata=meta)


def section(factory: Callable[[], Any], doc: str) -> Any:
    """A nested section of a config, built by `factory` for each new config."""
    return field(default_factory=factory, metadata={"doc": doc})


def choices_of(meta: dict) -> list[str] | None:
    c = meta.get("choices")
    if c is None:
        return None
    return list(c() if callable(c) else c)


def range_text(meta: dict) -> str:
    """The valid range of a field as text, e.g. '> 0', 'in [0, 1]', 'one of [a, b]'."""
    choices = choices_of(meta)
    if choices is not None:
        return f"one of {choices}"
    lo = (">=", meta["ge"]) if meta.get("ge") is not None else (">", meta.get("gt"))
    hi = ("<=", meta["le"]) if meta.get("le") is not None else ("<", meta.get("lt"))
    if lo[1] is not None and hi[1] is not None:
        left = "[" if lo[0] == ">=" else "("
        right = "]" if hi[0] == "<=" else ")"
        return f"in {left}{lo[1]}, {hi[1]}{right}"
    if lo[1] is not None:
        return f"{lo[0]} {lo[1]}"
    if hi[1] is not None:
        return f"{hi[0]} {hi[1]}"
    return ""


def check_range(value: Any, meta: dict, key: str) -> None:
    if isinstance(value, list):
        for v in value:
            check_range(v, meta, key)
        return
    choices = choices_of(meta)
    if choices is not None and value not in choices:
        raise ConfigError(f"config key '{key}' is {value!r}; choose from {choices}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    bad = (
        (meta.get("ge") is not None and not value >= meta["ge"])
        or (meta.get("gt") is not None and not value > meta["gt"])
        or (meta.get("le") is not None and not value <= meta["le"])
        or (meta.get("lt") is not None and not value < meta["lt"])
        or (isinstance(value, float) and not math.isfinite(value))
    )
    if bad:
        raise ConfigError(f"config key '{key}' must be {range_text(meta)}, got {value!r}")
