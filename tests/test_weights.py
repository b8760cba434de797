"""init=: a run folder gives its backbone and width; a published checkpoint file loads."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import yaml
from torchvision.models.video import r3d_18

from bepaper.config import FinetuneConfig, ModelConfig
from bepaper.errors import ConfigError
from bepaper.models import build_backbone
from bepaper.models.published import from_published
from bepaper.weights import init_model, load_init, resolve_init


def test_a_run_folder_gives_its_backbone_and_width(tmp_path):
    run = tmp_path / "pretrain-x"
    run.mkdir()
    (run / "config.yaml").write_text(
        yaml.safe_dump({"model": {"backbone": "r3d_small", "width": 4}})
    )
    cfg = resolve_init(FinetuneConfig(init=str(run)))
    assert (cfg.model.backbone, cfg.model.width) == ("r3d_small", 4)
    assert resolve_init(cfg) == cfg  # given and equal: unchanged
    given = dataclasses.replace(cfg, model=ModelConfig(backbone="c3d", width=0))
    with pytest.raises(ConfigError) as info:
        resolve_init(given)
    message = str(info.value)
    assert "\n" not in message and "holds a r3d_small of width 4" in message
    assert "model.backbone=c3d" in message
    assert resolve_init(FinetuneConfig()) == FinetuneConfig()  # no init: unchanged


def test_a_published_file_is_an_init(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "r3d_18.pth"
    torch.save(r3d_18().state_dict(), path)
    assert init_model(path) == ("r3d18", 0)
    assert resolve_init(FinetuneConfig(init=str(path))).model.backbone == "r3d18"
    with pytest.raises(ConfigError, match="holds a r3d18 of width 0"):
        resolve_init(FinetuneConfig(init=str(path), model=ModelConfig(backbone="c3d")))
    net = build_backbone("r3d18")
    load_init(net, "r3d18", 0, path)
    reference = from_published(path, "r3d18")
    for (k, a), b in zip(net.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
