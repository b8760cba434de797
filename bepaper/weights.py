"""What a fine-tuning run starts from (`init=`): a run folder or a published checkpoint.

`init` names one of:
- a pretraining run folder (its `backbone.pt`) or a fine-tuning run folder (its
  `classifier.pt`: supervised pretraining), or one of those files;
- a published checkpoint file (torchvision's video models, piergiaj's I3D, the BE authors'
  I3D, MoCo checkpoints of these), mapped strictly by `bepaper.models.published`.

`resolve_init` gives a fine-tuning config the backbone and width of its init when the config
leaves them at their defaults, and refuses in one line when they disagree; `load_init` fills
a backbone with the init's weights.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from torch import nn

from bepaper.checkpoint import load_backbone_weights
from bepaper.config import FinetuneConfig, ModelConfig
from bepaper.errors import CheckpointError, ConfigError
from bepaper.models.published import FORMATS, detect_published, published_weights, read_checkpoint


def _file(init: str | Path) -> Path:
    path = Path(init)
    if path.is_dir():
        path = path / ("backbone.pt" if (path / "backbone.pt").exists() else "classifier.pt")
    if not path.is_file():
        raise CheckpointError(
            f"init not found: {init} (a run folder, a backbone.pt or a published checkpoint)"
        )
    return path


def _published(state: dict) -> str | None:
    """The published format of a loaded checkpoint, or None for bepaper's own."""
    if "backbone" in state or ("model" in state and "classes" in state):
        return None
    return detect_published(state)


def init_model(init: str | Path) -> tuple[str, int]:
    """(model.backbone, model.width) of the weights `init` names: a run folder's (its
    config.yaml), a bepaper checkpoint's (its config), or the backbone a published format
    fits (width 0, the published width)."""
    folder = Path(init)
    if folder.is_dir() and (folder / "config.yaml").is_file():
        import yaml

        cfg = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")) or {}
        model = cfg.get("model") or {}
        if "backbone" in model:
            return str(model["backbone"]), int(model.get("width", 0))
    path = _file(init)
    state = read_checkpoint(path)
    found = _published(state)
    if found is not None:
        return FORMATS[found.removeprefix("moco/")][0], 0
    model = (state.get("config") or {}).get("model") or {}
    if "backbone" not in model:
        raise CheckpointError(
            f"{path}: neither a bepaper checkpoint (no config in it) nor a published format "
            f"bepaper knows ({', '.join(FORMATS)})"
        )
    return str(model["backbone"]), int(model.get("width", 0))


def resolve_init(cfg: FinetuneConfig) -> FinetuneConfig:
    """`cfg` with the backbone and width of its init when `cfg` leaves both at their
    defaults; unchanged when they agree (or there is no init); a one-line ConfigError when
    they were given and disagree."""
    if not cfg.init:
        return cfg
    backbone, width = init_model(cfg.init)
    given = (cfg.model.backbone, cfg.model.width)
    if given == (backbone, width):
        return cfg
    default = ModelConfig()
    if given == (default.backbone, default.width):
        model = dataclasses.replace(cfg.model, backbone=backbone, width=width)
        return dataclasses.replace(cfg, model=model)
    raise ConfigError(
        f"init {cfg.init} holds a {backbone} of width {width}, but model.backbone={given[0]} "
        f"model.width={given[1]} were given; drop them or set model.backbone={backbone} "
        f"model.width={width}"
    )


def load_init(backbone: nn.Module, name: str, width: int, init: str | Path) -> None:
    """Fill `backbone` (bepaper's `name` at `width`) with the weights `init` names. Strict:
    every key is used or named in one CheckpointError."""
    path = _file(init)
    state = read_checkpoint(path)
    if _published(state) is None:
        load_backbone_weights(backbone, init)
        return
    weights = published_weights(state, name, width, source=str(path))
    backbone.load_state_dict(weights.state, strict=not weights.kept_random)
