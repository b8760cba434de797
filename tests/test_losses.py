"""info_nce and the BE consistency loss against computations written independently here."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bepaper.losses import be_consistency, info_nce


def _reference_info_nce(q, k, queue, hard, t):
    """-log( exp(q·k/t) / (exp(q·k/t) + Σ_queue exp(q·n/t) + Σ_hard exp(q·h/t)) ), per row."""
    total = 0.0
    for i in range(q.shape[0]):
        pos = math.exp(float(q[i] @ k[i]) / t)
        neg = sum(math.exp(float(q[i] @ n) / t) for n in queue)
        if hard is not None:
            rows = hard[i] if hard.dim() == 3 else hard[i : i + 1]
            neg += sum(math.exp(float(q[i] @ h) / t) for h in rows)
        total += -math.log(pos / (pos + neg))
    return total / q.shape[0]


def _unit(*shape):
    return F.normalize(torch.randn(*shape, dtype=torch.float64), dim=-1)


def test_info_nce_without_hard_negatives():
    q, k, queue = _unit(5, 8), _unit(5, 8), _unit(11, 8)
    got = info_nce(q, k, queue, temperature=0.2)
    assert math.isclose(float(got), _reference_info_nce(q, k, queue, None, 0.2), rel_tol=1e-9)


def test_info_nce_with_one_and_several_hard_negatives():
    q, k, queue = _unit(4, 6), _unit(4, 6), _unit(7, 6)
    one, many = _unit(4, 6), _unit(4, 3, 6)
    for hard in (one, many):
        got = info_nce(q, k, queue, hard, temperature=0.07)
        want = _reference_info_nce(q, k, queue, hard, 0.07)
        assert math.isclose(float(got), want, rel_tol=1e-9)


def test_hard_negative_equal_to_query_raises_the_loss():
    q, k, queue = _unit(4, 6), _unit(4, 6), _unit(7, 6)
    assert info_nce(q, k, queue, q.clone()) > info_nce(q, k, queue)


def test_be_consistency_is_squared_distance_of_spatial_max_pools():
    fo = torch.randn(3, 4, 2, 5, 5, dtype=torch.float64)
    fd = torch.randn(3, 4, 2, 5, 5, dtype=torch.float64)
    want = 0.0
    for i in range(3):
        a = fo[i].reshape(4, 2, 25).max(dim=2).values
        b = fd[i].reshape(4, 2, 25).max(dim=2).values
        want += float(((a - b) ** 2).sum())
    assert math.isclose(float(be_consistency(fo, fd)), want / 3, rel_tol=1e-9)
    assert float(be_consistency(fo, fo)) == 0.0
