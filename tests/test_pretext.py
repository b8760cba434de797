"""The three pretext tasks of Table 1 (3D RotNet, Space-Time Cubic Puzzles, Clip Order) with
BE as a switch: their labels against references written here, the BE switch, and a few SGD
steps that lower the loss on a fixed batch."""

from __future__ import annotations

import itertools

import pytest
import torch

from bepaper.augment import MEAN, STD
from bepaper.config import AugmentConfig, MethodConfig, ModelConfig, PretrainConfig, build_config
from bepaper.data.sampling import OrderedClips
from bepaper.errors import ConfigError
from bepaper.methods import METHODS, build_method
from bepaper.methods.puzzle import (
    PuzzleOptions,
    cut_puzzle,
    draw_puzzle,
    permutation_set,
    replicate_channel,
)
from bepaper.methods.rotnet import rotate
from bepaper.methods.vcop import orders
from bepaper.models import MODELS

TINY = ModelConfig(backbone="r3d_small", width=4)
NAMES = ("rotnet", "puzzle", "vcop")


def _method(name: str, be: bool, model: ModelConfig = TINY, **options):
    return build_method(model, MethodConfig(name=name, be=be, options=_options(name, **options)))


def _options(name: str, **values):
    opts = METHODS[name].Options()
    for k, v in values.items():
        setattr(opts, k, v)
    return opts


def _identity_augment(size: int) -> AugmentConfig:
    """A view that is the input itself: full-frame crop, no rotation, no colour jitter."""
    return AugmentConfig(crop_size=size, crop_min=1.0, rotation=0.0, jitter_prob=0.0)


def _unnormalize(x: torch.Tensor, channel_dim: int) -> torch.Tensor:
    shape = [1] * x.dim()
    shape[channel_dim] = 3
    return x * torch.tensor(STD).view(shape) + torch.tensor(MEAN).view(shape)


def _reference_view(clips: torch.Tensor) -> torch.Tensor:
    """uint8 B x T x H x W x 3 → normalised B x 3 x T x H x W, written out here."""
    x = clips.permute(0, 4, 1, 2, 3).double() / 255
    mean = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1, 1)
    return ((x - mean) / std).float()


# ---------------------------------------------------------------- 3D RotNet


def test_rotate_is_rot90_of_each_clip():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 2, 5, 5, generator=g)
    turns = torch.tensor([0, 1, 2, 3, 1, 7])
    out = rotate(x, turns)
    for b in range(6):
        torch.testing.assert_close(out[b], torch.rot90(x[b], int(turns[b]) % 4, dims=(2, 3)))
    torch.testing.assert_close(rotate(out, -turns), x)
    with pytest.raises(ValueError, match="square"):
        rotate(torch.zeros(1, 3, 2, 4, 5), torch.zeros(1, dtype=torch.long))


@pytest.mark.parametrize("num_rotations", [4, 2])
def test_rotnet_label_is_the_rotation_applied(num_rotations):
    """Rotating x^o back by its label gives the (identity-augmented) clip; x^d got the same
    rotation (it matches the clip best when rotated back by the same label)."""
    torch.manual_seed(0)
    m = _method("rotnet", be=True, num_rotations=num_rotations)
    g = torch.Generator().manual_seed(1)
    clips = torch.randint(0, 256, (16, 1, 4, 12, 12, 3), dtype=torch.uint8, generator=g)
    v = m.views(clips, _identity_augment(12), g)
    ref = _reference_view(clips[:, 0])
    label = v["label"]
    assert label.dtype == torch.long and set(label.tolist()) == set(range(num_rotations))
    turns = label * (4 // num_rotations)
    for b in range(16):
        back = torch.rot90(v["x_o"][b], -int(turns[b]), dims=(2, 3))
        torch.testing.assert_close(back, ref[b], atol=1e-4, rtol=0)
        sims = [
            torch.nn.functional.cosine_similarity(
                torch.rot90(v["x_d"][b], -r, dims=(2, 3)).flatten(), ref[b].flatten(), dim=0
            )
            for r in range(4)
        ]
        assert int(torch.stack(sims).argmax()) == int(turns[b]) % 4


# ---------------------------------------------------------------- Space-Time Cubic Puzzles


def test_permutation_sets():
    assert permutation_set(24) == tuple(itertools.permutations(range(4)))
    for n in (2, 4, 6, 12):
        perms = permutation_set(n)
        assert len(set(perms)) == n and all(sorted(p) == [0, 1, 2, 3] for p in perms)
        assert list(perms) == sorted(perms)
    dist = [
        sum(a != b for a, b in zip(p, q, strict=True))
        for p, q in itertools.combinations(permutation_set(4), 2)
    ]
    assert min(dist) == 4  # greedy max-min Hamming: 4 mutually disjoint orders exist


def _puzzle_inputs(b=12, t=8, s=12, seed=0, **opts):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, t, s, s, generator=g)
    o = PuzzleOptions(**opts)
    return x, o, draw_puzzle(b, t, s, o, generator=g)


def test_cut_puzzle_matches_a_brute_force_crop():
    x, o, pz = _puzzle_inputs(t=16, jitter=0.34)
    pieces = cut_puzzle(x, pz, o.jitter)
    cell_t, cell = 16 // 4, 12 // 2
    length, side = cell_t - round(0.34 * cell_t), cell - round(0.34 * cell)
    assert (length, side) == (3, 4) and pieces.shape == (12, 4, 3, length, side, side)
    assert set(pz["kind"].tolist()) == {0, 1}
    for b in range(12):
        for i in range(4):
            j = int(pz["perm"][b, i])  # the original piece at slot i
            ot, oy, ox = (int(v) for v in pz["offset"][b, j])
            if int(pz["kind"][b]) == 0:  # spatial: cell j of time slot `slot`
                tc, cy, cx = int(pz["slot"][b]), j // 2, j % 2
            else:  # temporal: time cell j of spatial cell `slot`
                tc, cy, cx = j, int(pz["slot"][b]) // 2, int(pz["slot"][b]) % 2
            t0, y0, x0 = tc * cell_t + ot, cy * cell + oy, cx * cell + ox
            expected = x[b, :, t0 : t0 + length, y0 : y0 + side, x0 : x0 + side]
            assert torch.equal(pieces[b, i], expected)


def _coordinates(b, t, s):
    """Clips whose channels hold their own (t, y, x) coordinates."""
    tt, yy, xx = torch.meshgrid(torch.arange(t), torch.arange(s), torch.arange(s), indexing="ij")
    return torch.stack([tt, yy, xx]).float().expand(b, 3, t, s, s)


def _check_unshuffled_by_label(pieces, label, mode, n, t, s):
    """Un-shuffle pieces (B x 4 x 3[t, y, x] x L x P x P) by the order of their label and check,
    from the coordinates they carry, that piece j is the j-th cell of its kind. Returns the
    kinds the labels name."""
    perms = torch.tensor(permutation_set(n))
    kinds = {"both": (0, 1), "spatial": (0,), "temporal": (1,)}[mode]
    cell_t, cell = t // 4, s // 2
    seen = set()
    for b in range(pieces.shape[0]):
        orig = pieces[b, torch.argsort(perms[label[b] % n])]  # piece j at index j
        kind = kinds[int(label[b]) // n]
        seen.add(kind)
        tmin = orig[:, 0].amin(dim=(1, 2, 3))
        ymin, ymax = orig[:, 1].amin(dim=(1, 2, 3)), orig[:, 1].amax(dim=(1, 2, 3))
        xmin, xmax = orig[:, 2].amin(dim=(1, 2, 3)), orig[:, 2].amax(dim=(1, 2, 3))
        for j in range(4):
            if kind == 0:  # one time slot for all, spatial cell (j // 2, j % 2)
                assert tmin[j] // cell_t == tmin[0] // cell_t
                assert j // 2 * cell <= ymin[j] and ymax[j] < (j // 2 + 1) * cell
                assert j % 2 * cell <= xmin[j] and xmax[j] < (j % 2 + 1) * cell
            else:  # time cell j, one spatial cell for all
                assert tmin[j] // cell_t == j
                assert ymin[j] // cell == ymin[0] // cell and xmin[j] // cell == xmin[0] // cell
    return seen


@pytest.mark.parametrize("mode", ["both", "spatial", "temporal"])
def test_puzzle_label_inverts_to_the_original_order(mode):
    b, t, s = 16, 16, 12
    x = _coordinates(b, t, s)
    g = torch.Generator().manual_seed(3)
    n = 6 if mode == "spatial" else 24
    o = PuzzleOptions(mode=mode, permutations=n, jitter=0.34)
    pz = draw_puzzle(b, t, s, o, generator=g)
    pieces = cut_puzzle(x, pz, o.jitter)
    # un-shuffled by the label's order: exactly the pieces cut in the original order
    ident = {**pz, "perm": torch.arange(4).expand(b, 4)}
    original = cut_puzzle(x, ident, o.jitter)
    perms = torch.tensor(permutation_set(n))
    for i in range(b):
        assert torch.equal(pieces[i, torch.argsort(perms[pz["label"][i] % n])], original[i])
    assert int(pz["label"].max()) < (2 if mode == "both" else 1) * n
    # and the coordinates they carry say the same, without our cutting code
    kinds = _check_unshuffled_by_label(pieces, pz["label"], mode, n, t, s)
    assert kinds == {"both": {0, 1}, "spatial": {0}, "temporal": {1}}[mode]


def test_puzzle_views_end_to_end():
    """views() on uint8 clips that carry their coordinates: un-shuffling x^o by its label puts
    every piece back in its cell; x^d holds the same regions (BE blends a static frame of the
    clip in: the y and x channels, constant in time, are unchanged)."""
    torch.manual_seed(0)
    t, s = 8, 16
    m = _method("puzzle", be=True, channel_replication=False, jitter=0.25)
    clips = _coordinates(12, t, s).permute(0, 2, 3, 4, 1).to(torch.uint8).unsqueeze(1)
    v = m.views(clips, _identity_augment(s), torch.Generator().manual_seed(5))
    assert v["x_o"].shape == v["x_d"].shape == (12, 4, 3, 2, 6, 6)
    x_o = (_unnormalize(v["x_o"], channel_dim=2) * 255).round()
    assert _check_unshuffled_by_label(x_o, v["label"], "both", 24, t, s) == {0, 1}
    x_d = _unnormalize(v["x_d"], channel_dim=2) * 255
    torch.testing.assert_close(x_d[:, :, 1:], x_o[:, :, 1:], atol=1e-3, rtol=0)
    assert not torch.allclose(x_d[:, :, 0], x_o[:, :, 0])  # time was blended


def test_channel_replication():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, 2, 4, 4, generator=g)
    ch = torch.tensor([0, 1, 2, 1, 0])
    out = replicate_channel(x, ch)
    for b in range(5):
        for c in range(3):
            assert torch.equal(out[b, c], x[b, int(ch[b])])


def test_puzzle_rejects_clips_too_short():
    m = _method("puzzle", be=False)
    clips = torch.zeros(2, 1, 3, 16, 16, 3, dtype=torch.uint8)
    with pytest.raises(ConfigError, match="at least 4 frames"):
        m.views(clips, _identity_augment(16))


# ---------------------------------------------------------------- Clip Order (VCOP)


def test_orders_are_lexicographic():
    assert orders(3) == ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
    assert len(orders(4)) == 24


def test_vcop_sampler_and_head_size():
    m = _method("vcop", be=False, tuple_len=4, interval=5)
    s = m.sampler()
    assert isinstance(s, OrderedClips) and s.num_clips == 4 and s.interval == 5
    assert m.head.fc.out_features == 24 and m.head.fc.in_features == 6 * 512


@pytest.mark.parametrize("be", [False, True])
def test_vcop_label_recovers_the_temporal_order(be):
    """Clip i's frame t is a constant image of value 10·i + t. With full augmentation (crop,
    rotation; no colour jitter), un-shuffling by the inverse of the label's order puts the
    clips back in time order, for x^o and for x^d (BE keeps values inside a clip's range)."""
    torch.manual_seed(0)
    n, t = 3, 4
    m = _method("vcop", be=be)
    value = (10 * torch.arange(n).view(n, 1) + torch.arange(t)).float()  # n x T
    clips = value.view(1, n, t, 1, 1, 1).expand(24, n, t, 20, 20, 3).to(torch.uint8)
    aug = AugmentConfig(crop_size=16, jitter_prob=0.0)
    v = m.views(clips, aug, torch.Generator().manual_seed(2))
    assert ("x_d" in v) == be
    table = torch.tensor(orders(n))
    assert len(set(v["label"].tolist())) > 1
    for key in ("x_o", "x_d") if be else ("x_o",):
        mean = (_unnormalize(v[key], channel_dim=2) * 255).mean(dim=(2, 4, 5))  # B x n x T
        for b in range(24):
            back = mean[b][torch.argsort(table[v["label"][b]])]  # clip i at position i
            clip_of = (back / 10 - 0.15).round()
            assert torch.equal(clip_of, torch.arange(n).float().view(n, 1).expand(n, t))
            if key == "x_o":
                torch.testing.assert_close(back, value, atol=1e-3, rtol=0)


# ---------------------------------------------------------------- the BE switch, training


def _batch(name: str, b=8, t=8, size=20, seed=0):
    n = 3 if name == "vcop" else 1
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, n, t, size, size, 3), dtype=torch.uint8, generator=g)


def _calls(module: torch.nn.Module) -> list[int]:
    seen: list[int] = []
    module.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[0]))
    return seen


@pytest.mark.parametrize("name", NAMES)
def test_be_off_is_the_plain_task_and_be_on_adds_l_be(name):
    aug = AugmentConfig(crop_size=16)
    torch.manual_seed(0)
    plain = _method(name, be=False)
    seen = _calls(plain.backbone)
    v = plain.views(_batch(name), aug, torch.Generator().manual_seed(0))
    assert set(v) == {"x_o", "label"}
    loss, stats = plain(v)
    assert len(seen) == 1 and "be" not in stats
    torch.testing.assert_close(loss.detach(), stats["pretext"])

    torch.manual_seed(0)
    with_be = _method(name, be=True)
    seen = _calls(with_be.backbone)
    v = with_be.views(_batch(name), aug, torch.Generator().manual_seed(0))
    assert set(v) == {"x_o", "x_d", "label"} and v["x_o"].shape == v["x_d"].shape
    loss, stats = with_be(v)
    assert len(seen) == 2 and float(stats["be"]) > 0
    torch.testing.assert_close(loss.detach(), stats["pretext"] + stats["be"])


@pytest.mark.parametrize("be", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_a_few_steps_lower_the_loss_on_a_fixed_batch(name, be):
    torch.manual_seed(0)
    m = _method(name, be=be)
    batch = _batch(name, b=6, t=4)
    v = m.views(batch, AugmentConfig(crop_size=16), torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(m.parameters(), lr=0.02, momentum=0.9)
    losses = []
    for _ in range(6):
        loss, stats = m(v)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        assert all(torch.isfinite(s) for s in stats.values())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert min(losses[-3:]) < losses[0], losses


def test_options_are_set_flat_and_checked():
    cfg = build_config(
        PretrainConfig,
        overrides=["method.name=puzzle", "method.mode=temporal", "method.permutations=6"],
    )
    m = build_method(TINY, cfg.method)
    assert m.num_classes == 6
    cfg = build_config(PretrainConfig, overrides=["method.name=vcop", "method.interval=4"])
    assert cfg.method.options.interval == 4 and cfg.method.options.tuple_len == 3
    with pytest.raises(ConfigError, match="num_rotations"):
        build_config(PretrainConfig, overrides=["method.name=rotnet", "method.num_rotations=3"])
    with pytest.raises(ConfigError, match="mode"):
        build_config(PretrainConfig, overrides=["method.name=puzzle", "method.mode=cubes"])


# Every other backbone of the registry, with one of the tasks in turn, narrow (width 4) and on
# tiny clips: 4 frames, 16 px crops (puzzle pieces of 1 x 7 x 7), which all of them accept.


OTHERS = sorted(set(MODELS) - {"r3d_small"})


@pytest.mark.parametrize(
    ("backbone", "name"), [(b, NAMES[i % len(NAMES)]) for i, b in enumerate(OTHERS)]
)
def test_other_backbones_take_one_step(backbone, name):
    torch.manual_seed(0)
    m = _method(name, be=True, model=ModelConfig(backbone=backbone, width=4))
    v = m.views(_batch(name, b=2, t=4, size=20), AugmentConfig(crop_size=16))
    loss, stats = m(v)
    loss.backward()
    assert torch.isfinite(loss) and float(stats["be"]) > 0
    assert all(p.grad is not None for p in m.backbone.parameters())
