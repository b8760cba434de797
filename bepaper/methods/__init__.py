"""Self-supervised methods, by name. Each is one file; see `bepaper.methods.base` for what a
method declares, and docs/architecture.md for how to add one."""

from __future__ import annotations

from bepaper.methods.base import Method
from bepaper.methods.moco import MoCo
from bepaper.methods.puzzle import SpaceTimePuzzle
from bepaper.methods.rotnet import RotNet
from bepaper.methods.vcop import ClipOrder

METHODS: dict[str, type[Method]] = {
    "moco": MoCo,
    "rotnet": RotNet,
    "puzzle": SpaceTimePuzzle,
    "vcop": ClipOrder,
}


def build_method(model, cfg) -> Method:
    """The method named by `cfg.name` (a `MethodConfig`), on the backbone of `model`."""
    from bepaper.config import method_options

    method_options(cfg.name)  # a clear error for an unknown name
    return METHODS[cfg.name](model, cfg)


__all__ = ["METHODS", "Method", "build_method"]
