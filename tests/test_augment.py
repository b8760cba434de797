"""Augmentation is temporally consistent and batched."""

from __future__ import annotations

import torch

from bepaper.augment import MEAN, STD, eval_view, to_float, train_view, warp
from bepaper.config import AugmentConfig


def test_identity_warp_returns_the_clip():
    x = torch.rand(2, 3, 4, 16, 16)
    one, zero = torch.ones(2), torch.zeros(2)
    torch.testing.assert_close(warp(x, one, zero, torch.zeros(2, 2), 16), x, atol=1e-5, rtol=0)


def test_same_transform_for_every_frame():
    # A clip whose frames are all the same image stays constant over time after augmentation.
    frame = torch.randint(0, 256, (1, 1, 24, 24, 3), dtype=torch.uint8)
    clips = frame.expand(4, 6, 24, 24, 3).contiguous()
    y = train_view(clips, AugmentConfig(crop_size=16), torch.Generator().manual_seed(0))
    assert y.shape == (4, 3, 6, 16, 16)
    torch.testing.assert_close(y, y[:, :, :1].expand_as(y))
    assert not torch.allclose(y[0], y[1])  # but each clip gets its own draw


def test_test_view_is_a_deterministic_centre_crop():
    u = torch.randint(0, 256, (2, 3, 20, 20, 3), dtype=torch.uint8)
    cfg = AugmentConfig(crop_size=10, eval_crop=0.5)
    a, b = eval_view(u, cfg), eval_view(u, cfg)
    assert torch.equal(a, b)
    # side fraction 0.5 of 20 px = the central 10x10 pixels, exactly, then normalised
    centre = to_float(u)[..., 5:15, 5:15]
    want = (centre - MEAN[0]) / STD[0]
    torch.testing.assert_close(a, want, atol=1e-5, rtol=0)
