"""MoCo with hard negatives and BE as switches, on CPU: shapes, queue, momentum update, the
four combinations, the released-code options, and a few steps that lower the loss on a
fixed batch."""

from __future__ import annotations

import pytest
import torch

from bepaper.augment import normalize, to_float
from bepaper.config import AugmentConfig, ModelConfig, PretrainConfig, build_config
from bepaper.data.sampling import ClipAndHardNegative, RandomClips
from bepaper.errors import ConfigError
from bepaper.methods import build_method
from bepaper.methods.moco import MoCo

MODEL = ModelConfig(backbone="r3d_small", width=4)
AUG = AugmentConfig(crop_size=16, jitter_prob=0.0)


def moco(*overrides: str) -> MoCo:
    cfg = build_config(PretrainConfig, overrides=["method.embed_dim=16", *overrides])
    return build_method(MODEL, cfg.method)


def _clips(n=8, clips=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, clips, 4, 20, 20, 3), dtype=torch.uint8, generator=g)


def test_unknown_method_and_old_names_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown method 'simclr'; choose from"):
        build_config(PretrainConfig, overrides=["method.name=simclr"])
    with pytest.raises(ConfigError, match="method.hard_negatives=true"):
        build_config(PretrainConfig, overrides=["method.name=moco_be"])


def test_queue_wraps_and_keys_are_enqueued():
    torch.manual_seed(0)
    m = moco("method.queue_size=12")
    keys = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    m.enqueue(keys)
    m.enqueue(keys)
    assert int(m.queue_ptr) == 4
    torch.testing.assert_close(m.queue[:4], keys[4:])  # second batch wrapped around
    torch.testing.assert_close(m.queue[4:8], keys[4:8])


def test_momentum_update_formula():
    torch.manual_seed(0)
    m = moco("method.momentum=0.9")
    with torch.no_grad():
        for p in m.encoder_q.parameters():
            p.add_(1.0)
    before = [p.clone() for p in m.encoder_k.parameters()]
    m.momentum_update()
    for pk, pq, b in zip(m.encoder_k.parameters(), m.encoder_q.parameters(), before, strict=True):
        torch.testing.assert_close(pk, 0.9 * b + 0.1 * pq)


@pytest.mark.parametrize(
    "hn, be, other, sampler, keys",
    [
        (False, False, False, RandomClips, {"x_o", "x_q"}),
        (True, False, False, ClipAndHardNegative, {"x_o", "x_q", "x_h"}),
        (False, True, False, RandomClips, {"x_o", "x_q"}),
        (True, True, False, ClipAndHardNegative, {"x_o", "x_q", "x_h"}),
        (False, False, True, RandomClips, {"x_o", "x_q", "x_h"}),
    ],
)
def test_switches_decide_clips_and_views(hn, be, other, sampler, keys):
    m = moco(
        f"method.hard_negatives={hn}", f"method.be={be}", f"method.other_video_negative={other}"
    )
    s = m.sampler()
    assert isinstance(s, sampler) and s.num_clips == (2 if (hn or other) else 1)
    views = m.views(_clips(clips=s.num_clips), AUG, torch.Generator().manual_seed(0))
    assert set(views) == keys
    assert all(v.shape == (8, 3, 4, 16, 16) for v in views.values())


def test_be_makes_the_query_the_distracting_clip():
    """With BE on, x_q is Eq. 1 of the second crop; with the same generator and BE off it is
    that crop itself (the draws of the crops come first)."""
    clips = _clips(clips=1)
    off = moco("method.hard_negatives=false", "method.be=false")
    on = moco("method.hard_negatives=false", "method.be=true", "method.gamma=0.5")
    v_off = off.views(clips, AUG, torch.Generator().manual_seed(3))
    v_on = on.views(clips, AUG, torch.Generator().manual_seed(3))
    torch.testing.assert_close(v_on["x_o"], v_off["x_o"])
    assert not torch.allclose(v_on["x_q"], v_off["x_q"])
    # Eq. 2: the temporal derivative is only scaled by (1 - λ), with λ in [0, 0.5]
    d_on, d_off = v_on["x_q"].diff(dim=2), v_off["x_q"].diff(dim=2)
    ratio = (d_on * d_off).sum((1, 2, 3, 4)) / d_off.pow(2).sum((1, 2, 3, 4))
    assert ((ratio >= 0.5 - 1e-4) & (ratio <= 1 + 1e-4)).all()
    torch.testing.assert_close(d_on, ratio.view(-1, 1, 1, 1, 1) * d_off, atol=1e-4, rtol=1e-4)


def test_other_video_negative_comes_from_another_video():
    m = moco("method.hard_negatives=false", "method.other_video_negative=true")
    clips = _clips(clips=2)
    plain = AugmentConfig(crop_size=20, crop_min=1.0, rotation=0, jitter_prob=0)
    v = m.views(clips, plain)  # no crop, rotation or jitter: the views are the clips
    expected = normalize(to_float(clips[:, 1].roll(1, dims=0)))  # sample i - 1's second clip
    torch.testing.assert_close(v["x_h"], expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "switches",
    [
        ["method.hard_negatives=false", "method.be=false"],
        ["method.hard_negatives=true", "method.be=false"],
        ["method.hard_negatives=false", "method.be=true"],
        ["method.hard_negatives=true", "method.be=true"],
        ["method.hard_negatives=true", "method.hard_negative_bn=separate"],
    ],
    ids=["plain", "hn", "be", "hn+be", "hn-separate-bn"],
)
def test_a_few_steps_lower_the_loss_on_a_fixed_batch(switches):
    torch.manual_seed(0)
    m = moco("method.queue_size=64", "method.momentum=0.9", "method.temperature=0.2", *switches)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    clips = _clips(clips=m.sampler().num_clips)
    queue = m.queue.clone()  # keep the negatives fixed: else the batch's own keys join them
    losses = []
    for _ in range(12):
        m.queue.copy_(queue)
        views = m.views(clips, AUG, torch.Generator().manual_seed(0))
        loss, stats = m(views)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert ("hard_sim" in stats) == m.opts.hard_negatives
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-3:]) / 3 < losses[0] - 0.2, losses


def test_a_queue_larger_than_the_dataset_is_flagged():
    """Keys of the query's own video would sit in the queue as negatives."""
    big = moco("method.queue_size=512")
    assert "method.queue_size=512" in big.warnings(num_videos=360, batch_size=16)[0]
    assert moco("method.queue_size=128").warnings(num_videos=360, batch_size=16) == []
