"""What a run is: its identity and the folder it is given.

A run's identity is what its result depends on: the command, the config without its
execution settings, a fingerprint of its data, the code's `RESULTS_VERSION` and, for
fine-tuning, the identity of its init. `run_folder` names a run
`<run.root>/<command>-<label>-<key>` from it, so the same run asks for the same folder on any
machine; `bepaper.runs.RunDir` then keeps that folder (reuse, resume, atomic writes).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from bepaper.config import result_dict
from bepaper.data.datasets import data_fingerprint
from bepaper.errors import CheckpointError


def identity_key(identity: dict) -> str:
    """A short, stable hash of an identity (10 hex digits)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def identity_changes(old: dict, new: dict) -> list[str]:
    """Differences between two identities, config keys by their dotted names."""
    lines = diff_configs(old.get("config", {}), new.get("config", {}))
    for key in sorted(set(old) | set(new)):
        if key != "config" and old.get(key) != new.get(key):
            lines.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return lines


def read_identity(folder: str | os.PathLike) -> dict | None:
    """The identity.json of a run folder, or None (not a run, or made before identities)."""
    path = Path(folder) / "identity.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


# Bump it in the commit that makes some config train to another result (an order, a seed,
# a default inside the code): runs made before are then no longer reused under their old
# names, and a finished one in an explicit run.out is refused, naming `results_version`.
# 2: the calibrated SynthBias protocol; the loop no longer skips the two global-RNG draws
# that version 1's stored runs were trained with.
RESULTS_VERSION = 2

# A backbone's own version, bumped when its computation changes (runs of it made before are
# then not reused; other backbones' identities stay as they were). Backbones not listed: 1.
# i3d 2: strided layers pad as TensorFlow's SAME (the published I3D weights' padding).
BACKBONE_VERSIONS = {"i3d": 2}


def run_identity(cfg, command: str) -> dict:
    """What a run's result depends on: the command, the config without its execution
    settings, the data's fingerprint, the code's RESULTS_VERSION and, for fine-tuning, the
    identity of its init."""
    ident = {"command": command, "config": result_dict(cfg), "data": data_fingerprint(cfg.data)}
    ident["results_version"] = RESULTS_VERSION
    model = getattr(cfg, "model", None)
    backbone_version = BACKBONE_VERSIONS.get(getattr(model, "backbone", ""), 1)
    if backbone_version != 1:
        ident["backbone_version"] = backbone_version
    init = getattr(cfg, "init", "")
    if init:
        ident["config"]["init"] = _init_identity(init)
    return ident


def _init_identity(init: str) -> str:
    """A pretraining run folder stands for its identity key; a checkpoint file for a hash of
    its bytes. So the path to the same weights does not matter."""
    path = Path(init)
    if path.is_dir():
        ident = read_identity(path)
        if ident is not None:
            return f"run:{identity_key(ident)}"
        path = path / ("backbone.pt" if (path / "backbone.pt").exists() else "classifier.pt")
    if not path.is_file():
        raise CheckpointError(f"init not found: {init} (a pretraining run folder or backbone.pt)")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"file:{h.hexdigest()[:16]}"


def run_label(cfg, command: str) -> str:
    """The readable part of an automatic run folder's name."""
    if command == "pretrain":
        m = cfg.method
        extra = "-hn" if getattr(m.options, "hard_negatives", False) else ""
        if m.be:
            extra += "-be" if m.distraction in ("be", "intra_video_frame") else f"-{m.distraction}"
        return f"{m.name}{extra}-{cfg.model.backbone}"
    tag = "static" if getattr(cfg, "static", False) else ("init" if cfg.init else "scratch")
    return f"{tag}-{cfg.model.backbone}"


def run_folder(cfg, command: str) -> Path:
    """`run.out` when given, else `<run.root>/<command>-<label>-<identity key>`: the same
    result-relevant config on the same data always gets the same folder."""
    if cfg.run.out:
        return Path(cfg.run.out)
    key = identity_key(run_identity(cfg, command))
    return Path(cfg.run.root) / f"{command}-{run_label(cfg, command)}-{key}"


def diff_configs(old: dict, new: dict) -> list[str]:
    """Differences between two nested dicts, one line per leaf key.

    Lines read `train.lr: 0.01 -> 0.02` (changed), `+ model.width: 8` (added) and
    `- data.foo` (removed).
    """
    lines = []

    def walk(old: dict, new: dict, prefix: str) -> None:
        for key in list(old) + [k for k in new if k not in old]:
            name = f"{prefix}{key}"
            if key not in new:
                lines.append(f"- {name}")
            elif key not in old:
                lines.append(f"+ {name}: {new[key]!r}")
            elif isinstance(old[key], dict) and isinstance(new[key], dict):
                walk(old[key], new[key], f"{name}.")
            elif old[key] != new[key]:
                lines.append(f"{name}: {old[key]!r} -> {new[key]!r}")

    walk(old, new, "")
    return lines
