"""The worked example of docs/architecture.md really is a method: its code, registered in
METHODS, is configured, validated, pretrained by the generic loop and lowers its loss."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
import torch

from bepaper.choices import METHOD_OPTIONS
from bepaper.config import AugmentConfig, PretrainConfig, build_config
from bepaper.errors import ConfigError
from bepaper.methods import METHODS, build_method

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


@pytest.fixture
def arrow(monkeypatch):
    code = re.search(r"```python\n(# bepaper/methods/arrow.py\n.*?)```", DOC.read_text(), re.S)
    assert code, "the worked example is missing from docs/architecture.md"
    module = types.ModuleType("bepaper.methods.arrow")
    monkeypatch.setitem(sys.modules, "bepaper.methods.arrow", module)
    exec(compile(code.group(1), str(DOC), "exec"), module.__dict__)
    monkeypatch.setitem(METHODS, "arrow", module.ArrowOfTime)
    monkeypatch.setitem(METHOD_OPTIONS, "arrow", module.ArrowOptions)
    return module


def test_the_documented_method_plugs_in(arrow):
    cfg = build_config(
        PretrainConfig,
        overrides=["method.name=arrow", "method.be=true", "method.hidden=0",
                   "model.backbone=r3d18", "model.width=4"],
    )  # fmt: skip
    with pytest.raises(ConfigError, match="method 'arrow' has no option 'method.queue_size'"):
        build_config(PretrainConfig, overrides=["method.name=arrow", "method.queue_size=3"])
    with pytest.raises(ConfigError, match="'method.hidden' must be >= 0"):
        build_config(PretrainConfig, overrides=["method.name=arrow", "method.hidden=-1"])
    torch.manual_seed(0)
    m = build_method(cfg.model, cfg.method)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    clips = torch.randint(0, 256, (8, 1, 4, 20, 20, 3), dtype=torch.uint8)
    aug = AugmentConfig(crop_size=16, jitter_prob=0.0)
    losses = []
    for _ in range(8):
        loss, stats = m(m.views(clips, aug, torch.Generator().manual_seed(0)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert "be" in stats and losses[-1] < losses[0]
