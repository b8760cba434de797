"""Checkpoints: atomic save, keep the last N, load only with `weights_only=True`.

A save goes to a `.tmp-*` file in the same folder, is fsynced and then moved over the target
with os.replace, so a crash or pre-emption leaves the previous checkpoint intact. Loading
never unpickles arbitrary Python objects: checkpoints get shared, and a pickle can run code.
State dicts therefore hold only tensors, dicts, lists, tuples, str, int, float, bool and None;
`to_plain` converts numpy values and paths (RNG states, configs) into those.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bepaper.errors import CheckpointError
from bepaper.runs import atomic_path

_EPOCH_FILE = re.compile(r"ckpt_epoch(\d+)\.pt")
# What torch names in a weights_only refusal, across torch 2.3 ... 2.14.
_REFUSED = re.compile(
    r"GLOBAL [\w.]+|Unsupported class [\w.]+|Unsupported operand \S+"
    r"|instantiate unsupported class \S+|reduce for unrecognized function"
)


def to_plain(obj: Any) -> Any:
    """Convert numpy arrays and scalars and paths inside nested containers to plain Python.

    Arrays become lists, numpy scalars int / float / bool, paths str. Dicts, lists and tuples
    keep their type (tuples load under weights_only, and `random.setstate` needs them).
    Tensors and other values are returned unchanged.
    """
    if isinstance(obj, dict):
        return {to_plain(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(to_plain(v) for v in obj)
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray | np.generic):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def _refusal(err: BaseException) -> str | None:
    """What torch's weights_only unpickler refused, or None if `err` is another error."""
    message = str(err)
    if not (isinstance(err, pickle.UnpicklingError) and "Weights only load failed" in message):
        return None
    found = _REFUSED.search(message)
    return found.group(0) if found else None


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:200]}" if lines else type(err).__name__


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write `state` to `path` atomically; the previous file stays intact if anything fails.

    The written file is loaded back (memory-mapped, weights_only) before it replaces `path`,
    so a state that load_checkpoint would refuse fails here, at the first save, instead.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        try:
            torch.load(tmp, map_location="cpu", weights_only=True, mmap=True)
        except pickle.UnpicklingError as e:
            refused = _refusal(e)
            if refused is None:
                raise
            raise CheckpointError(
                f"cannot save checkpoint {path}: the state holds Python objects that "
                f"weights_only loading does not allow ({refused}); convert them with to_plain"
            ) from None


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """Load a checkpoint with `weights_only=True`; any failure is a CheckpointError."""
    path = Path(path)

    def fail(reason: str) -> CheckpointError:
        return CheckpointError(f"cannot load checkpoint {path}: {reason}")

    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise fail("no such file") from None
    except IsADirectoryError:
        raise fail("it is a folder, not a file") from None
    except PermissionError:
        raise fail("permission denied") from None
    except Exception as e:
        refused = _refusal(e)
        if refused is not None:
            raise fail(
                "refused because it holds Python objects that weights_only loading does not "
                f"allow ({refused})"
            ) from None
        raise fail(f"truncated or corrupt ({_first_line(e)})") from None
    if not isinstance(state, dict):
        raise fail(f"it holds a {type(state).__name__}, not a dict")
    return state


def _epoch_files(folder: Path) -> dict[int, Path]:
    """Epoch -> path of the complete ckpt_epochNNNN.pt files in `folder` (temp files excluded)."""
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        match = _EPOCH_FILE.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path
    return found


def save_epoch_checkpoint(
    folder: str | os.PathLike, epoch: int, state: dict, keep: int = 3
) -> Path:
    """Write folder/ckpt_epoch{epoch:04d}.pt atomically, then delete all but the newest `keep`."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ckpt_epoch{epoch:04d}.pt"
    save_checkpoint(path, state)
    files = _epoch_files(folder)
    for old in sorted(files)[:-keep]:
        files[old].unlink(missing_ok=True)
    return path


def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The ckpt_epochNNNN.pt with the highest epoch in `folder`, or None if there is none."""
    files = _epoch_files(Path(folder))
    return files[max(files)] if files else None


def load_backbone_weights(backbone: nn.Module, source: str | Path) -> None:
    """Load pretrained backbone weights from a pretraining run folder (its backbone.pt), a
    fine-tuning run folder (its classifier.pt: supervised pretraining), or a checkpoint file.
    Every key must match: nothing is dropped silently."""
    path = Path(source)
    if path.is_dir():
        path = path / ("backbone.pt" if (path / "backbone.pt").exists() else "classifier.pt")
    state = load_checkpoint(path)
    weights = state.get("backbone")
    if weights is None and "model" in state and "classes" in state:  # a classifier
        weights = {
            k.removeprefix("backbone."): v
            for k, v in state["model"].items()
            if k.startswith("backbone.")
        }
    if weights is None:
        raise CheckpointError(f"{path}: no 'backbone' weights in this checkpoint")
    weights = {k.replace("_orig_mod.", ""): v for k, v in weights.items()}
    try:
        missing, unexpected = backbone.load_state_dict(weights, strict=False)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        detail = next((line.strip() for line in first if "size mismatch" in line), first[0])
        raise CheckpointError(
            f"{path}: weights do not fit the backbone: {detail} (is model.backbone/width the same?)"
        ) from None
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit the backbone: missing {list(missing)[:5]}, "
            f"unexpected {list(unexpected)[:5]} (is model.backbone/width the same?)"
        )
