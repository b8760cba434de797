"""BE (Eq. 1), its motion-preserving property (Eq. 2), the Table 4 variants and FAME, each
checked against a computation written here (per sample and per frame, or with numpy, scipy
and colorsys for FAME), on random tensors and on real SynthBias videos."""

from __future__ import annotations

import colorsys
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from bepaper.augment import normalize
from bepaper.be import (
    DISTRACTIONS,
    build_distraction,
    distract,
    fame,
    fame_mask,
    fame_motion_map,
    gaussian_noise,
    inter_video_frame,
    video_cutmix,
    video_mixup,
)
from bepaper.errors import ConfigError
from bepaper.video import open_video


def _reference(x, lam, k):
    """Eq. 1 written out per sample and per frame."""
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[2]):
            out[i, :, j] = (1 - lam[i]) * x[i, :, j] + lam[i] * x[i, :, k[i]]
    return out


def _draw(fn, x, seed=0, **kw):
    return fn(x, 0.3, generator=torch.Generator().manual_seed(seed), return_params=True, **kw)


# ---------------------------------------------------------------- BE, Eq. 1 and Eq. 2


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


def test_lambda_per_batch_is_shared():
    x = torch.rand(8, 3, 4, 5, 5)
    frames = torch.zeros(8, dtype=torch.long)
    y = distract(x, lambda_per_batch=True, frame=frames, generator=torch.Generator().manual_seed(3))
    # With k = 0, frame 1 = (1-λ) x1 + λ x0  →  λ = (y1 - x1) / (x0 - x1) is the same for all.
    lam = ((y[:, :, 1] - x[:, :, 1]) / (x[:, :, 0] - x[:, :, 1])).flatten(1).median(dim=1).values
    assert torch.allclose(lam, lam[0].expand_as(lam), atol=1e-4)


def test_deterministic_given_lam_and_frame_and_keeps_dtype_device():
    """With λ and k given nothing is drawn: the generator is untouched, another seed gives
    the same clip, and the clip is Eq. 1 written out here, in x's dtype and device."""
    x = torch.rand(2, 3, 4, 5, 5, dtype=torch.float16)
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    a = distract(x, lam=0.2, frame=1, generator=g)
    b = distract(x, lam=0.2, frame=1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(g.get_state(), state) and torch.equal(a, b)
    xf = x.float()
    reference = 0.8 * xf + 0.2 * xf[:, :, 1:2]  # the frame k = 1 of each clip, at every t
    torch.testing.assert_close(a.float(), reference, atol=2e-3, rtol=0)
    assert a.dtype == x.dtype and a.shape == x.shape and a.device == x.device


# ---------------------------------------------------------------- one signature, one registry


def test_be_and_intra_video_frame_are_one_function():
    assert DISTRACTIONS["be"] is DISTRACTIONS["intra_video_frame"] is distract
    x = torch.rand(6, 3, 4, 5, 5)
    _, p = _draw(DISTRACTIONS["intra_video_frame"], x, lambda_per_batch=True)
    assert (p["lam"] == p["lam"][0]).all()  # the per-batch switch reaches BE through the registry


@pytest.mark.parametrize("name", sorted(DISTRACTIONS))
def test_every_variant_keeps_shape_dtype_and_changes_the_clip(name):
    x = torch.rand(4, 3, 6, 32, 32, dtype=torch.float64)
    fn = build_distraction(name)
    y = fn(x, 0.3, lambda_per_batch=False, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert not torch.equal(x, y)
    with pytest.raises(ValueError, match="B, C, T, H, W"):
        fn(torch.rand(3, 4, 5, 5))


@pytest.mark.parametrize("name", ["gaussian_noise", "video_mixup", "video_cutmix"])
def test_amounts_are_per_sample_or_per_batch(name):
    x = torch.rand(16, 3, 4, 8, 8)
    _, own = _draw(DISTRACTIONS[name], x)
    _, shared = _draw(DISTRACTIONS[name], x, lambda_per_batch=True)
    assert len(own["lam"].unique()) == 16 and len(shared["lam"].unique()) == 1
    assert (own["lam"] >= 0).all() and (own["lam"] <= 0.3).all()


def test_build_distraction_rejects_unknown_names():
    assert build_distraction("video_mixup") is video_mixup
    with pytest.raises(ConfigError, match=r"unknown distraction 'blur'; choose from \["):
        build_distraction("blur")


# ---------------------------------------------------------------- each variant, by reference


def test_video_mixup_matches_its_definition():
    x = torch.rand(5, 3, 4, 6, 6, dtype=torch.float64)
    y, p = _draw(video_mixup, x)
    assert (p["partner"] != torch.arange(5)).all()
    for i in range(5):
        lam, j = p["lam"][i].item(), p["partner"][i].item()
        torch.testing.assert_close(y[i], (1 - lam) * x[i] + lam * x[j])


@pytest.mark.parametrize("per_batch", [False, True])
def test_video_cutmix_pastes_the_partners_box_and_nothing_else(per_batch):
    b, h, w = 6, 20, 16
    x = torch.rand(b, 3, 4, h, w)
    y, p = _draw(video_cutmix, x, seed=2, lambda_per_batch=per_batch)
    y0, x0, bh, bw = (v.tolist() for v in p["box"])
    for i in range(b):
        j = p["partner"][i].item()
        assert j != i
        assert bh[i] == max(1, round(h * math.sqrt(p["lam"][i]))) and y0[i] + bh[i] <= h
        assert bw[i] == max(1, round(w * math.sqrt(p["lam"][i]))) and x0[i] + bw[i] <= w
        inside = torch.zeros(h, w, dtype=torch.bool)
        inside[y0[i] : y0[i] + bh[i], x0[i] : x0[i] + bw[i]] = True
        assert torch.equal(y[i][..., inside], x[j][..., inside])
        assert torch.equal(y[i][..., ~inside], x[i][..., ~inside])
    if per_batch:
        assert len(set(y0)) == len(set(x0)) == len(set(bh)) == 1


def test_gaussian_noise_adds_one_image_to_every_frame():
    x = torch.rand(4, 3, 6, 8, 8, dtype=torch.float64)
    y, p = _draw(gaussian_noise, x)
    added = y - x  # B x C x T x H x W
    torch.testing.assert_close(added, added[:, :, :1].expand_as(added))
    torch.testing.assert_close(added[:, :, 0], p["lam"].view(-1, 1, 1, 1) * p["noise"][:, :, 0])
    assert added[:, :, 0].std() > 0.01


def _static_frame(x, y, lam):
    """Solve Eq. 1 for the added frame: (y - (1 - λ) x) / λ, per sample, at frame 0."""
    lam = lam.to(x.dtype).view(-1, 1, 1, 1)
    return (y[:, :, 0] - (1 - lam) * x[:, :, 0]) / lam


def test_be_static_frame_comes_from_the_clip_itself():
    x = torch.rand(5, 3, 6, 8, 8, dtype=torch.float64)
    y, p = _draw(distract, x)
    torch.testing.assert_close(_static_frame(x, y, p["lam"]), x[torch.arange(5), :, p["frame"]])
    torch.testing.assert_close(y, _reference(x, p["lam"], p["frame"]))


def test_inter_video_frame_static_frame_comes_from_the_partner():
    x = torch.rand(5, 3, 6, 8, 8, dtype=torch.float64)
    y, p = _draw(inter_video_frame, x)
    assert (p["partner"] != torch.arange(5)).all()
    added = _static_frame(x, y, p["lam"])
    for i in range(5):
        torch.testing.assert_close(added[i], x[p["partner"][i], :, p["frame"][i]])


@pytest.mark.parametrize(
    "name, keeps_motion",
    [
        ("be", True),
        ("inter_video_frame", True),
        ("gaussian_noise", True),
        ("video_mixup", False),  # controls: the check can fail
        ("video_cutmix", False),
    ],
)
def test_eq2_holds_for_the_variants_that_keep_motion(name, keeps_motion):
    x = torch.randn(6, 3, 8, 16, 16, dtype=torch.float64)
    y, p = _draw(DISTRACTIONS[name], x, seed=4)
    scale = torch.ones(6, dtype=x.dtype) if name == "gaussian_noise" else 1 - p["lam"]
    expected = scale.view(-1, 1, 1, 1, 1) * x.diff(dim=2)
    assert torch.allclose(y.diff(dim=2), expected, atol=1e-12) == keeps_motion


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_distract_on_cuda_matches_cpu():
    x = torch.rand(4, 3, 8, 16, 16)
    lam, k = torch.tensor([0.1, 0.2, 0.0, 0.3]), torch.tensor([1, 2, 3, 4])
    torch.testing.assert_close(
        distract(x.cuda(), lam=lam, frame=k).cpu(), distract(x, lam=lam, frame=k)
    )


# ---------------------------------------------------------------- FAME, on real video


@pytest.fixture(scope="module")
def synthbias(tmp_path_factory) -> tuple[torch.Tensor, list[np.ndarray]]:
    """The 32 videos of tiny SynthBias (ucf101like) and their actor boxes."""
    from bepaper.data.synthbias import generate

    out = tmp_path_factory.mktemp("synthbias")
    root = generate(out, size="tiny", analogues=("ucf101like",), workers=1, progress=False)
    return _videos(root["ucf101like"])


def _videos(root: Path) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Every video of a SynthBias analogue as float clips N x 3 x T x S x S in [0, 1], and
    its actor boxes (T, 4) x0, y0, x1, y1."""
    clips, boxes = [], []
    for path in sorted(root.glob("videos/*/*.avi")):
        reader = open_video(path)
        clips.append(reader.get(range(reader.num_frames)))
        reader.close()
        boxes.append(np.load(root / "boxes" / path.parent.name / f"{path.stem}.npy"))
    return torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3).float() / 255, boxes


def _box_in_mask(mask: np.ndarray, boxes: np.ndarray) -> float:
    """Share of the actor box's pixels inside the mask (H x W), averaged over frames."""
    shares = []
    for x0, y0, x1, y1 in boxes.astype(int):
        region = mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)]
        if region.size:
            shares.append(region.mean())
    return float(np.mean(shares))


def _reference_fame_score(clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DESIGN.md §7 steps 1–3 for one clip (3 x T x H x W in [0, 1]) with numpy, scipy and
    colorsys: (motion map, colour score), both H x W."""
    _, _, h, w = clip.shape
    k = int(0.1 * min(h, w)) // 2 * 2 + 1
    sigma = k / 3

    def blur_minmax(m):
        m = ndimage.gaussian_filter(m, sigma, mode="mirror", truncate=(k // 2) / sigma)
        return (m - m.min()) / (m.max() - m.min() + 1e-8)

    motion = blur_minmax(np.abs(np.diff(clip, axis=1)).sum(0).mean(0))
    mean = clip.mean(1)
    colour = np.zeros((h, w), dtype=int)
    for i in range(h):
        for j in range(w):
            hue, s, v = colorsys.rgb_to_hsv(*mean[:, i, j])
            cx = round((s * math.cos(2 * math.pi * hue) + 1) / 2 * 9)
            cy = round((s * math.sin(2 * math.pi * hue) + 1) / 2 * 9)
            colour[i, j] = cx + 10 * cy + 100 * round(v * 9)
    order = np.argsort(-motion.ravel(), kind="stable")
    fg = np.bincount(colour.ravel()[order[: h * w // 2]], minlength=1000).astype(float)
    bg = np.bincount(colour.ravel()[order[-(h * w // 10) :]], minlength=1000) + 1.0
    p_fg, p_bg = (fg / fg.sum())[colour], (bg / bg.sum())[colour]
    return motion, blur_minmax(p_fg / (p_fg + p_bg))


def test_fame_mask_matches_a_reference_on_real_video(synthbias):
    x = synthbias[0][:3].double()
    mask = fame_mask(x)
    motion = fame_motion_map(x)
    n = 32 * 32
    for i in range(3):
        ref_motion, ref_score = _reference_fame_score(x[i].numpy())
        np.testing.assert_allclose(motion[i].numpy(), ref_motion, atol=1e-9)
        m = mask[i, 0, 0].numpy().astype(bool)
        assert m.sum() == n // 2
        # The mask is the top half of the reference score (ties may fall either way).
        assert ref_score[m].min() >= ref_score[~m].max() - 1e-9
    assert mask.shape == (3, 1, 1, 32, 32) and mask.dtype == x.dtype


def test_fame_merges_the_clip_foreground_onto_a_partners_background():
    x = torch.rand(6, 3, 5, 32, 32)
    y, p = _draw(fame, x)
    assert sorted(p["partner"].tolist()) == list(range(6))  # a permutation
    m = p["mask"]
    torch.testing.assert_close(m, fame_mask(x))
    torch.testing.assert_close(y, x[p["partner"]] * (1 - m) + x * m)
    assert torch.equal(fame(x, fg_ratio=1.0), x)


def test_fame_on_normalised_clips_needs_the_keyword(synthbias):
    x = synthbias[0][:8]
    on_pixels = fame_mask(x)
    torch.testing.assert_close(fame_mask(normalize(x), normalized=True), on_pixels)
    # Without it the motion stage is unchanged (one std for all channels, then min–max), but
    # the HSV step sees values outside [0, 1] and picks other pixels.
    torch.testing.assert_close(fame_motion_map(normalize(x)), fame_motion_map(x))
    agree = (fame_mask(normalize(x)) == on_pixels).float().mean().item()
    assert agree < 0.9  # measured 0.70 over these 8 videos (0.60–0.78 per video)


def test_fame_mask_covers_the_actor_on_synthbias(synthbias):
    """Measured on the 32 videos of tiny SynthBias (32 px, 24 frames, moving camera), share
    of actor-box pixels inside the mask, averaged over frames; a random half-frame mask
    scores 0.5:
      motion stage alone (steps 1–2, top half): mean 0.983, min 0.939;
      full FAME mask (with the colour step):     mean 0.610, min 0.145.
    The colour step hurts here: the actor is ~5% of the frame and moves fast, so it fades
    in the time-averaged frame, and the moving camera puts the background among the motion
    seeds. With the camera held still the full mask reaches mean 0.80 (render-level
    probe); so we assert what holds: the motion stage localises the actor on every video,
    and the full mask stays above chance on average."""
    x, boxes = synthbias
    motion = fame_motion_map(x).flatten(1)
    n = motion.shape[1]
    top_half = torch.zeros_like(motion).scatter_(1, motion.topk(n // 2, dim=1).indices, 1.0)
    top_half = top_half.view(-1, 32, 32).numpy()
    mask = fame_mask(x)[:, 0, 0].numpy()
    motion_share = [_box_in_mask(top_half[i], b) for i, b in enumerate(boxes)]
    fame_share = [_box_in_mask(mask[i], b) for i, b in enumerate(boxes)]
    assert len(boxes) >= 16
    assert min(motion_share) >= 0.9
    assert np.mean(fame_share) >= 0.55


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fame_mask_on_cuda_matches_cpu():
    x = torch.rand(4, 3, 8, 112, 112, dtype=torch.float64)
    torch.testing.assert_close(fame_mask(x.cuda()).cpu(), fame_mask(x))
