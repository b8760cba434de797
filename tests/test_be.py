"""BE (Eq. 1) and its motion-preserving property (Eq. 2), checked exactly on random
tensors against computations written here, frame by frame."""

from __future__ import annotations

import pytest
import torch

from bepaper.be import DISTRACTIONS, distract


def _reference(x, lam, k):
    """Eq. 1 written out per sample and per frame."""
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[2]):
            out[i, :, j] = (1 - lam[i]) * x[i, :, j] + lam[i] * x[i, :, k[i]]
    return out


def test_distract_matches_eq1():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 8, 6, 5, generator=g, dtype=torch.float64)
    lam = torch.tensor([0.0, 0.1, 0.25, 0.3], dtype=torch.float64)
    k = torch.tensor([0, 7, 3, 5])
    torch.testing.assert_close(distract(x, lam=lam, frame=k), _reference(x, lam, k))


def test_eq2_temporal_derivative_is_scaled_by_one_minus_lambda():
    x = torch.randn(3, 3, 16, 7, 7, dtype=torch.float64)
    lam = torch.tensor([0.05, 0.2, 0.3], dtype=torch.float64)
    y = distract(x, lam=lam, frame=torch.tensor([2, 9, 15]))
    dx, dy = x.diff(dim=2), y.diff(dim=2)
    torch.testing.assert_close(dy, (1 - lam).view(-1, 1, 1, 1, 1) * dx)


def test_random_draws_stay_in_range_and_are_per_sample():
    x = torch.zeros(64, 1, 4, 1, 1)
    x[:, :, 0] = 1.0  # only frame 0 is bright: output frame 1 equals λ·[k == 0]
    x[:, :, 1:] = 0.0
    g = torch.Generator().manual_seed(1)
    y = distract(x, gamma=0.3, generator=g)
    lam_if_k0 = y[:, 0, 1, 0, 0]
    assert (lam_if_k0 >= 0).all() and (lam_if_k0 <= 0.3).all()
    # Frame 2 is exactly zero unless k == 0, and frame 0 is 1 - λ + λ·[k==0].
    assert 0 < (lam_if_k0 > 0).float().mean() < 1  # k varies per sample
    vals = lam_if_k0[lam_if_k0 > 0]
    assert len(vals.unique()) == len(vals)  # λ varies per sample


def test_per_batch_lambda_is_shared():
    x = torch.rand(8, 3, 4, 5, 5)
    frames = torch.zeros(8, dtype=torch.long)
    y = distract(x, per_batch_lambda=True, frame=frames, generator=torch.Generator().manual_seed(3))
    # With k = 0, frame 1 = (1-λ) x1 + λ x0  →  λ = (y1 - x1) / (x0 - x1) is the same for all.
    lam = ((y[:, :, 1] - x[:, :, 1]) / (x[:, :, 0] - x[:, :, 1])).flatten(1).median(dim=1).values
    assert torch.allclose(lam, lam[0].expand_as(lam), atol=1e-4)


def test_deterministic_given_lam_and_frame_and_keeps_dtype_device():
    x = torch.rand(2, 3, 4, 5, 5, dtype=torch.float16)
    a = distract(x, lam=0.2, frame=1)
    b = distract(x, lam=0.2, frame=1)
    assert torch.equal(a, b) and a.dtype == x.dtype and a.shape == x.shape


def test_rejects_wrong_rank():
    with pytest.raises(ValueError, match="B, C, T, H, W"):
        distract(torch.rand(3, 4, 5, 5))


@pytest.mark.parametrize("name", sorted(DISTRACTIONS))
def test_variants_keep_shape_and_change_the_clip(name):
    x = torch.rand(4, 3, 6, 8, 8)
    y = DISTRACTIONS[name](x, 0.3, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.equal(x, y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_distract_on_cuda_matches_cpu():
    x = torch.rand(4, 3, 8, 16, 16)
    lam, k = torch.tensor([0.1, 0.2, 0.0, 0.3]), torch.tensor([1, 2, 3, 4])
    torch.testing.assert_close(
        distract(x.cuda(), lam=lam, frame=k).cpu(), distract(x, lam=lam, frame=k)
    )
