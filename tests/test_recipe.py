"""The training recipe's switches: optimizer, learning-rate schedule, head pooling."""

from __future__ import annotations

import math

import pytest
import torch

from bepaper.config import ConfigError, FinetuneConfig, OptimConfig, build_config
from bepaper.models.heads import ClassifierHead
from bepaper.train import lr_at, make_optimizer


def test_step_schedule_is_the_papers() -> None:
    cfg = OptimConfig(lr=0.05, lr_step=10, lr_gamma=0.1, epochs=45)
    assert [lr_at(cfg, e) for e in (0, 9, 10, 19, 20, 44)] == pytest.approx(
        [0.05, 0.05, 0.005, 0.005, 0.0005, 0.05 * 1e-4]
    )


def test_cosine_schedule_follows_the_formula() -> None:
    cfg = OptimConfig(lr=1e-3, schedule="cosine", epochs=30)
    for e in (0, 7, 15, 29):
        assert lr_at(cfg, e) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * e / 30)))
    lrs = [lr_at(cfg, e) for e in range(30)]
    assert lrs[0] == pytest.approx(1e-3) and all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    assert 0 < lrs[-1] < 1e-5


def test_adamw_decouples_weight_decay() -> None:
    """With a zero gradient, AdamW shrinks a weight by lr * wd; SGD's L2 acts through the
    gradient (and momentum), so the two differ."""
    w = torch.nn.Parameter(torch.ones(3))
    opt = make_optimizer([w], OptimConfig(optimizer="adamw", lr=0.1, weight_decay=0.5))
    assert isinstance(opt, torch.optim.AdamW)
    w.grad = torch.zeros(3)
    opt.step()
    assert torch.allclose(w.detach(), torch.full((3,), 1 - 0.1 * 0.5))
    assert isinstance(make_optimizer([w], OptimConfig()), torch.optim.SGD)


def test_unknown_optimizer_or_schedule_is_refused() -> None:
    with pytest.raises(ConfigError, match="optim.optimizer"):
        build_config(FinetuneConfig, [], ["optim.optimizer=adam"])
    with pytest.raises(ConfigError, match="optim.schedule"):
        build_config(FinetuneConfig, [], ["optim.schedule=linear"])


def test_max_pooling_head_sees_a_single_hot_voxel() -> None:
    """A feature map that is zero but for one voxel: max pooling keeps its value, average
    pooling divides it by the map's size."""
    f = torch.zeros(1, 2, 2, 4, 4)
    f[0, 0, 1, 2, 3] = 8.0
    for pool, expected in (("max", 8.0), ("avg", 8.0 / 32)):
        head = ClassifierHead(2, 1, dropout=0.0, pool=pool)
        with torch.no_grad():
            head.fc.weight.copy_(torch.tensor([[1.0, 0.0]]))
            head.fc.bias.zero_()
        assert head(f).item() == pytest.approx(expected)
