"""Bias test sets: each render variant does what it says, folders load, contrasted accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bepaper.config import DataConfig
from bepaper.data import synthbias as sb
from bepaper.data.bias_sets import build_bias_sets, contrasted_accuracy
from bepaper.data.datasets import load_split
from bepaper.data.splits import read_ucf101
from bepaper.errors import ConfigError, DataError

TINY = sb.SIZES["tiny"]["ucf101like"]
PLAN = sb.plan_videos(TINY, 0, "ucf101like")
TEST = [v for v in PLAN if v["split2"] == "test"]
# every unbiased test video, and a square actor (none of them has one): all 6 shapes
VIDEOS = TEST + [next(v for v in PLAN if v["actor"]["shape"] == "square")]
assert {v["actor"]["shape"] for v in VIDEOS} == set(sb.SHAPES)


def _render(v: dict, variant: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    frames, boxes = sb.render(TINY, v, 0, "ucf101like", variant)
    return frames.astype(np.int64), boxes


def _outside_boxes(boxes: np.ndarray, grow: int = 0) -> np.ndarray:
    """(T, S, S) bool: pixels outside each frame's box grown by `grow` pixels."""
    S = TINY.frame_size
    out = np.ones((len(boxes), S, S), bool)
    for t, (x0, y0, x1, y1) in enumerate(boxes):
        out[t, max(y0 - grow, 0) : y1 + grow, max(x0 - grow, 0) : x1 + grow] = False
    return out


@pytest.mark.parametrize("v", VIDEOS, ids=lambda v: f"{v['index']}-{v['actor']['shape']}")
def test_background_only_removes_the_actor(v: dict) -> None:
    original, boxes = _render(v)
    frames, same_boxes = _render(v, "background_only")
    alpha = sb.actor_alpha(TINY, v)
    assert (same_boxes == boxes).all()  # where the removed actor was
    # the anti-aliased edge (0 < alpha < 0.5) lies within 2 px of the alpha >= 0.5 box
    # (1 px for most shapes; the triangle's corners reach 2)
    outside = _outside_boxes(boxes, grow=2)
    assert (frames[outside] == original[outside]).all()
    assert (frames[alpha == 0] == original[alpha == 0]).all()
    assert np.abs(frames - original)[alpha >= 1].mean() > 20  # the actor is gone (measured 57+)


@pytest.mark.parametrize("v", VIDEOS, ids=lambda v: f"{v['index']}-{v['actor']['shape']}")
def test_static_actor_is_frozen_at_frame_zero(v: dict) -> None:
    original, boxes = _render(v)
    frames, static_boxes = _render(v, "static_actor")
    alpha = sb.actor_alpha(TINY, v, "static_actor")
    assert (static_boxes == static_boxes[0]).all() and (static_boxes[0] == boxes[0]).all()
    assert (alpha == alpha[0]).all() and (alpha[0] == sb.actor_alpha(TINY, v)[0]).all()
    assert (frames[0] == original[0]).all()  # frame 0: the same pose, scene and noise
    both_empty = (alpha == 0) & (sb.actor_alpha(TINY, v) == 0)
    assert (frames[both_empty] == original[both_empty]).all()  # the scene as in the original
    # on the frozen actor's full pixels only the sensor noise (std 2) changes over time
    actor = np.broadcast_to(alpha[0] >= 1, alpha.shape)
    assert np.abs(frames - frames[:1])[actor].mean() < 4  # measured about 2.2
    moving = np.broadcast_to(sb.actor_alpha(TINY, v)[0] >= 1, alpha.shape)
    assert np.abs(original - original[:1])[moving].mean() > 20  # the original actor moves


@pytest.mark.parametrize("v", VIDEOS, ids=lambda v: f"{v['index']}-{v['actor']['shape']}")
def test_new_background_keeps_the_actor(v: dict) -> None:
    family = sb.new_background_family(TINY, v)
    assert family not in sb.FAMILIES[: TINY.num_classes]  # no class's own family
    assert family not in sb.FAMILIES[: TINY.families]  # nor any family of this analogue
    original, boxes = _render(v)
    frames, new_boxes = _render(v, "new_background")
    alpha = sb.actor_alpha(TINY, v)
    assert (new_boxes == boxes).all()
    assert (frames[alpha >= 1] == original[alpha >= 1]).all()  # the same actor, same noise
    assert np.abs(frames - original)[alpha == 0].mean() > 10  # another scene (measured 17+)


def test_new_background_families_cycle_over_the_unused_ones() -> None:
    used = {sb.new_background_family(TINY, v) for v in TEST}
    assert used == set(sb.FAMILIES[TINY.families :])  # 8 videos over 6 unused families
    ten = sb.with_overrides(sb.SIZES["default"]["ucf101like"], num_classes=10)
    for v in sb.plan_videos(ten, 0, "ucf101like")[:50]:  # no unused family: another one
        f = sb.new_background_family(ten, v)
        assert f != v["family"] and f != sb.FAMILIES[v["label"] - 1]


@pytest.mark.parametrize("v", VIDEOS, ids=lambda v: f"{v['index']}-{v['actor']['shape']}")
def test_actor_only_fills_the_rest_with_the_mean_colour(v: dict) -> None:
    original, boxes = _render(v)
    frames, same_boxes = _render(v, "actor_only")
    alpha = sb.actor_alpha(TINY, v)
    assert (same_boxes == boxes).all()
    assert (frames[alpha >= 1] == original[alpha >= 1]).all()
    for t in range(len(frames)):
        rest = frames[t][alpha[t] == 0]  # N x 3
        assert (rest == rest[0]).all()  # one colour, no noise
        assert np.abs(rest[0] - original[t].reshape(-1, 3).mean(axis=0)).max() < 1


def test_variant_none_is_the_original_and_unknown_fails() -> None:
    v = VIDEOS[0]
    a, b = sb.render(TINY, v, 0, "ucf101like"), sb.render(TINY, v, 0, "ucf101like", None)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    with pytest.raises(ConfigError, match="unknown SynthBias variant 'blur'"):
        sb.render(TINY, v, 0, "ucf101like", "blur")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    return sb.generate(out, "tiny", analogues=("ucf101like",), workers=1, progress=False)[
        "ucf101like"
    ]


@pytest.fixture(scope="module")
def sets(source: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_bias_sets(source, tmp_path_factory.mktemp("bias"), progress=False)


def test_bias_set_folders_load_as_synthbias(source: Path, sets: dict[str, Path]) -> None:
    import decord

    assert set(sets) == set(sb.VARIANTS)
    expected = read_ucf101(source / "splits", 2)
    meta = json.loads((source / "meta.json").read_text())
    by_file = {v["file"]: v for v in meta["videos"]}
    for variant, folder in sets.items():
        assert folder.name == f"ucf101like_{variant}"
        root, split = load_split(DataConfig(dataset="synthbias", root=str(folder)), 2)
        assert split == expected  # same files, same labels
        for item in split.train:  # the source's videos, linked or copied
            assert (root / item.path).read_bytes() == (source / "videos" / item.path).read_bytes()
        for item in split.test:
            assert (root / item.path).read_bytes() != (source / "videos" / item.path).read_bytes()
        v = by_file[split.test[0].path]
        rendered, boxes = sb.render(TINY, v, 0, "ucf101like", variant)
        reader = decord.VideoReader(str(root / split.test[0].path))
        decoded = reader.get_batch(list(range(len(reader)))).asnumpy().astype(float)
        luma = np.array([0.299, 0.587, 0.114])
        assert np.abs((decoded - rendered) @ luma).mean() < 4  # lossy MPEG-4 of the render
        stored = np.load(folder / "boxes" / (split.test[0].path[:-4] + ".npy"))
        assert (stored == boxes).all()
        with pytest.raises(DataError):  # only split 2 is written
            load_split(DataConfig(dataset="synthbias", root=str(folder)), 1)
        new_meta = json.loads((folder / "meta.json").read_text())
        assert new_meta["bias_set"]["variant"] == variant and new_meta["bias_set"]["split"] == 2
        assert len(new_meta["videos"]) == len(split.train) + len(split.test)
    records = json.loads((sets["new_background"] / "meta.json").read_text())["videos"]
    for r in (r for r in records if r["split2"] == "test"):
        assert r["family"] not in sb.FAMILIES[: TINY.num_classes] and not r["own_family"]
        assert r["source_family"] == by_file[r["file"]]["family"]


def test_bias_sets_are_deterministic_and_kept(
    source: Path, sets: dict[str, Path], tmp_path: Path, capsys
) -> None:
    again = build_bias_sets(source, tmp_path, variants="static_actor", split=2, progress=False)
    folder = again["static_actor"]
    for p in sorted((folder / "videos").rglob("*.avi")):
        rel = p.relative_to(folder)
        assert p.read_bytes() == (sets["static_actor"] / rel).read_bytes()
    before = (folder / "meta.json").stat().st_mtime_ns
    build_bias_sets(source, tmp_path, variants=["static_actor"], progress=True)
    assert (folder / "meta.json").stat().st_mtime_ns == before
    assert "up to date" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*tmp-*"))


def test_bias_set_errors(source: Path, sets: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown bias set 'swap'"):
        build_bias_sets(source, tmp_path, variants=["swap"])
    with pytest.raises(ConfigError, match="split must be 1 or 2"):
        build_bias_sets(source, tmp_path, split=3)
    with pytest.raises(DataError, match="no meta.json"):
        build_bias_sets(tmp_path, tmp_path / "out")
    with pytest.raises(DataError, match="derived"):
        build_bias_sets(sets["actor_only"], tmp_path / "out")


def test_contrasted_accuracy_by_hand() -> None:
    scuba = [True, True, False, True, False, True]
    scufo = [False, True, False, False, True, True]
    # correct on SCUBA and wrong on SCUFO: videos 0 and 3
    assert contrasted_accuracy(scuba, scufo) == pytest.approx(2 / 6)
    assert contrasted_accuracy(np.array(scuba), np.array(scuba)) == 0.0
    with pytest.raises(DataError, match="equal-length"):
        contrasted_accuracy(scuba, scufo[:-1])
    with pytest.raises(DataError, match="booleans"):
        contrasted_accuracy([1, 0], [0, 1])
