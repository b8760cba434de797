"""MoCo / MoCo+HN / MoCo+BE on CPU: shapes, queue, momentum update, and a few steps that
lower the loss on a fixed batch."""

from __future__ import annotations

import pytest
import torch

from bepaper.config import MethodConfig, ModelConfig
from bepaper.errors import ConfigError
from bepaper.methods.moco import MoCo

MODEL = ModelConfig(backbone="r3d_small", width=4, embed_dim=16)


def _clips(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, 4, 16, 16, generator=g) for _ in range(3)]


def test_unknown_method_names_the_choices():
    with pytest.raises(ConfigError, match="unknown method 'simclr'; choose from"):
        MoCo(MODEL, MethodConfig(name="simclr"))


def test_queue_wraps_and_keys_are_enqueued():
    torch.manual_seed(0)
    m = MoCo(MODEL, MethodConfig(name="moco", queue_size=12))
    keys = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    m.enqueue(keys)
    m.enqueue(keys)
    assert int(m.queue_ptr) == 4
    torch.testing.assert_close(m.queue[:4], keys[4:])  # second batch wrapped around
    torch.testing.assert_close(m.queue[4:8], keys[4:8])


def test_momentum_update_formula():
    torch.manual_seed(0)
    m = MoCo(MODEL, MethodConfig(name="moco", momentum=0.9))
    with torch.no_grad():
        for p in m.encoder_q.parameters():
            p.add_(1.0)
    before = [p.clone() for p in m.encoder_k.parameters()]
    m.momentum_update()
    for pk, pq, b in zip(m.encoder_k.parameters(), m.encoder_q.parameters(), before, strict=True):
        torch.testing.assert_close(pk, 0.9 * b + 0.1 * pq)


@pytest.mark.parametrize("name", ["moco", "moco_hn", "moco_be"])
def test_a_few_steps_lower_the_loss_on_a_fixed_batch(name):
    torch.manual_seed(0)
    m = MoCo(MODEL, MethodConfig(name=name, queue_size=64, momentum=0.9, temperature=0.2))
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    x_o, x_v, x_h = _clips()
    queue = m.queue.clone()  # keep the negatives fixed: else the batch's own keys join them
    losses = []
    for _ in range(12):
        m.queue.copy_(queue)
        loss, stats = m(x_o, x_v, x_h)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert ("hard_sim" in stats) == (name != "moco")
    assert sum(losses[-3:]) / 3 < losses[0] - 0.2, losses


def test_be_is_applied_only_for_moco_be():
    x = torch.rand(2, 3, 4, 8, 8)
    torch.manual_seed(0)
    assert MoCo(MODEL, MethodConfig(name="moco_hn")).distract(x).shape == x.shape
    m = MoCo(MODEL, MethodConfig(name="moco_be"))
    assert m.use_be and not MoCo(MODEL, MethodConfig(name="moco_hn")).use_be
    assert not torch.equal(m.distract(x), x)
