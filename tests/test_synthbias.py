"""SynthBias: real files in the UCF101 layout, determinism, bias statistics, camera, boxes."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bepaper.data import synthbias as sb
from bepaper.data.splits import read_ucf101
from bepaper.errors import ConfigError, DataError

TINY = sb.SIZES["tiny"]["ucf101like"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """All three tiny analogues, generated with a 2-process pool."""
    out = tmp_path_factory.mktemp("synth")
    return sb.generate(out, "tiny", seed=0, workers=2, progress=False)


def _meta(folder: Path) -> dict:
    return json.loads((folder / "meta.json").read_text())


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_generate_writes_decodable_videos_and_boxes(tiny: dict[str, Path]) -> None:
    import decord

    assert set(tiny) == set(sb.ANALOGUES)
    for analogue, folder in tiny.items():
        cfg = sb.SIZES["tiny"][analogue]
        meta = _meta(folder)
        assert len(meta["videos"]) == cfg.num_classes * sum(cfg.videos_per_class)
        videos, _ = sb.dataset_paths(folder)
        for v in meta["videos"]:
            assert (videos / v["file"]).is_file()
            assert re.fullmatch(r"[A-Za-z]+/v_[A-Za-z]+_g\d\d_c\d\d\.avi", v["file"])
            boxes = np.load(folder / "boxes" / (v["file"][:-4] + ".npy"))
            assert boxes.dtype == np.int16 and boxes.shape == (cfg.num_frames, 4)
    folder = tiny["ucf101like"]
    first = _meta(folder)["videos"][0]["file"]
    reader = decord.VideoReader(str(folder / "videos" / first))
    assert len(reader) == TINY.num_frames
    frames = reader.get_batch(list(range(len(reader)))).asnumpy()
    assert frames.shape == (TINY.num_frames, TINY.frame_size, TINY.frame_size, 3)
    assert frames.std() > 10  # textured, not blank
    assert not list(folder.parent.glob(".*tmp-*"))  # no temp folders left behind
    assert folder.stat().st_mode & 0o777 == 0o755  # not mkdtemp's private mode


def test_decoded_video_matches_render(tiny: dict[str, Path]) -> None:
    import decord

    folder = tiny["ucf101like"]
    v = _meta(folder)["videos"][3]
    frames, _ = sb.render(TINY, v, 0, "ucf101like")
    decoded = decord.VideoReader(str(folder / "videos" / v["file"]))
    decoded = decoded.get_batch(list(range(TINY.num_frames))).asnumpy()
    # lossy MPEG-4 in yuv420p: luma close to the rendered frames, far from another video's
    other, _ = sb.render(TINY, _meta(folder)["videos"][4], 0, "ucf101like")
    luma = np.array([0.299, 0.587, 0.114])
    err = np.abs((decoded - frames.astype(float)) @ luma).mean()
    assert err < 4  # sensor noise (std 2) accounts for most of it
    assert np.abs((decoded - other.astype(float)) @ luma).mean() > 4 * err


def test_split_files_official_format_and_counts(tiny: dict[str, Path]) -> None:
    for analogue, folder in tiny.items():
        cfg = sb.SIZES["tiny"][analogue]
        meta = _meta(folder)
        _, split_dir = sb.dataset_paths(folder)
        raw = (split_dir / "classInd.txt").read_bytes()
        assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
        assert raw.decode().splitlines() == [f"{i + 1} {c}" for i, c in enumerate(cfg.classes)]
        seen = []
        for k in (1, 2):
            split = read_ucf101(split_dir, k)
            assert split.classes == list(cfg.classes)
            key = f"split{k}"
            train = {v["file"]: v["label"] - 1 for v in meta["videos"] if v[key] == "train"}
            test = {v["file"]: v["label"] - 1 for v in meta["videos"] if v[key] == "test"}
            assert {i.path: i.label for i in split.train} == train
            assert {i.path: i.label for i in split.test} == test
            parts = (0, 1) if k == 1 else (2, 3)
            n_train, n_test = (cfg.videos_per_class[p] * cfg.num_classes for p in parts)
            assert (len(split.train), len(split.test)) == (n_train, n_test)
            seen += [i.path for i in split.train + split.test]
        assert sorted(seen) == sorted(v["file"] for v in meta["videos"])  # each once


def test_same_seed_same_bytes_any_workers(tiny: dict[str, Path], tmp_path: Path) -> None:
    again = sb.generate(tmp_path / "a", "tiny", 0, ("ucf101like",), workers=1, progress=False)
    assert _files(again["ucf101like"]) == _files(tiny["ucf101like"])
    other = sb.generate(tmp_path / "b", "tiny", 1, ("ucf101like",), workers=1, progress=False)
    name = _meta(other["ucf101like"])["videos"][0]["file"]
    a = (tiny["ucf101like"] / "videos" / name).read_bytes()
    b = (other["ucf101like"] / "videos" / name).read_bytes()
    assert a != b


@pytest.mark.parametrize("bias", [0.3, 0.65, 0.8])
def test_biased_parts_follow_configured_bias(bias: float) -> None:
    cfg = replace(sb.SIZES["default"]["ucf101like"], bias=bias, videos_per_class=(120, 30, 60, 60))
    videos = sb.plan_videos(cfg, seed=3, analogue="ucf101like")  # metadata only
    biased = [v for v in videos if v["biased"]]
    assert {v["part"] for v in biased} == {"biased_train", "biased_test"}
    own = np.mean([v["own_family"] for v in biased])
    assert abs(own - bias) < 0.02
    per_class = sb.class_biases(cfg, 3, "ucf101like")
    assert abs(np.mean(per_class) - bias) < 1e-9
    assert max(per_class) - min(per_class) > 1.5 * cfg.bias_spread  # the Figure 4 spread
    for c, name in enumerate(cfg.classes):
        rows = [v for v in biased if v["class"] == name and v["part"] == "biased_train"]
        assert abs(np.mean([v["own_family"] for v in rows]) - per_class[c]) <= 0.5 / len(rows)
        # the non-own videos spread over the other families
        others = Counter(v["family_index"] for v in rows if not v["own_family"])
        assert len(others) == min(cfg.families - 1, sum(others.values()))


def test_unbiased_parts_family_independent_of_class() -> None:
    cfg = replace(sb.SIZES["default"]["ucf101like"], videos_per_class=(30, 6, 36, 36))
    videos = sb.plan_videos(cfg, seed=0, analogue="ucf101like")
    unbiased = [v for v in videos if not v["biased"]]
    table = np.zeros((cfg.num_classes, cfg.families), int)
    for v in unbiased:
        table[v["label"] - 1, v["family_index"]] += 1
    assert (table == table[0, 0]).all()  # balanced: every class sees every family equally
    assert abs(np.mean([v["own_family"] for v in unbiased]) - 1 / cfg.families) < 1e-9
    # the diving48like analogue is unbiased in both splits
    dive = sb.plan_videos(sb.SIZES["default"]["diving48like"], 0, "diving48like")
    assert not any(v["biased"] for v in dive)
    own = np.mean([v["own_family"] for v in dive if v["split1"]])
    assert abs(own - 1 / sb.SIZES["default"]["diving48like"].families) < 0.05


def test_tiny_meta_bias_and_independence(tiny: dict[str, Path]) -> None:
    meta = _meta(tiny["ucf101like"])
    biased = [v for v in meta["videos"] if v["biased"]]
    # exact rounding per class: own count = round(bias_c * n) in each biased part
    exact = sb.class_biases(TINY, 0, "ucf101like")
    assert list(meta["class_bias"]) == list(TINY.classes)
    np.testing.assert_allclose(list(meta["class_bias"].values()), exact, atol=1e-4)
    for name, b in zip(TINY.classes, exact, strict=True):
        for part in ("biased_train", "biased_test"):
            rows = [v for v in biased if v["class"] == name and v["part"] == part]
            assert sum(v["own_family"] for v in rows) == round(b * len(rows))
    for name in meta["classes"]:
        fams = {v["family"] for v in meta["videos"] if v["class"] == name and not v["biased"]}
        assert len(fams) == TINY.families  # 4 unbiased videos per class over 4 families


def test_actor_look_independent_of_class() -> None:
    cfg = replace(sb.SIZES["default"]["ucf101like"], videos_per_class=(100, 1, 1, 1))
    videos = sb.plan_videos(cfg, seed=0, analogue="ucf101like")
    sizes = []
    for name in cfg.classes:
        rows = [v for v in videos if v["class"] == name]
        assert {v["actor"]["shape"] for v in rows} == set(sb.SHAPES)
        assert {v["actor"]["pattern"] for v in rows} == set(sb.PATTERNS)
        sizes.append(np.mean([v["actor"]["size"] for v in rows]))
    assert max(sizes) / min(sizes) < 1.1
    lo, hi = (f * cfg.frame_size for f in cfg.actor_size)
    assert all(lo <= v["actor"]["size"] <= hi for v in videos)


def _background_mask(boxes: np.ndarray, size: int, margin: int = 2) -> np.ndarray:
    """Pixels that the actor never covers (its boxes grown by a margin)."""
    mask = np.ones((size, size), bool)
    for x0, y0, x1, y1 in boxes.astype(int):
        mask[max(y0 - margin, 0) : y1 + margin, max(x0 - margin, 0) : x1 + margin] = False
    return mask


def test_camera_moves_the_background() -> None:
    v = sb.plan_videos(TINY, 0, "ucf101like")[0]
    frames, boxes = sb.render(TINY, v, 0, "ucf101like")
    mask = _background_mask(boxes, TINY.frame_size)
    assert mask.sum() > 50
    moving = np.abs(frames[-1].astype(float) - frames[0])[mask].mean()
    still_cfg = replace(TINY, camera_pan=0, camera_zoom=0, camera_shake=0, frame_noise=0)
    still_v = dict(v, camera={**v["camera"], "pan_x": 0, "pan_y": 0, "shake": 0})
    still_v["camera"]["log_zoom_end"] = still_v["camera"]["log_zoom_start"]
    still, _ = sb.render(still_cfg, still_v, 0, "ucf101like")
    assert np.abs(still[-1].astype(float) - still[0])[mask].max() == 0  # a static camera
    assert moving > 4  # well above sensor noise (std 2)
    camera = [v["camera"] for v in sb.plan_videos(TINY, 0, "ucf101like")]
    assert all(0 < np.hypot(c["pan_x"], c["pan_y"]) <= 0.25 * TINY.frame_size for c in camera)


def test_boxes_inside_frame_track_the_actor_and_move(tiny: dict[str, Path]) -> None:
    for analogue, folder in tiny.items():
        cfg = sb.SIZES["tiny"][analogue]
        s = cfg.frame_size
        for v in _meta(folder)["videos"]:
            b = np.load(folder / "boxes" / (v["file"][:-4] + ".npy")).astype(int)
            assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
            assert (b[:, 2] <= s).all() and (b[:, 3] <= s).all()
            assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
            assert len(np.unique(b, axis=0)) > 1, v["file"]
            # the box holds the planned centre and is no larger than the actor
            track = sb.actor_track(cfg, v)
            assert ((b[:, 0] <= track["cx"]) & (track["cx"] <= b[:, 2])).all()
            assert ((b[:, 1] <= track["cy"]) & (track["cy"] <= b[:, 3])).all()
            reach = v["actor"]["size"] * max(track["sx"].max(), track["sy"].max())
            assert (b[:, 2:] - b[:, :2]).max() <= reach + 2


def test_classes_are_motions_of_their_analogue() -> None:
    sets = {a: set(sb.SIZES["study"][a].classes) for a in sb.ANALOGUES}
    assert not sets["ucf101like"] & sets["hmdb51like"]  # transfer to different classes
    assert all(name.startswith("Dive") for name in sets["diving48like"])
    for names in sets.values():
        assert all(re.fullmatch(r"(?:[A-Z][a-z]+)+", n) for n in names)
    # fine-grained: two Diving48-like classes differ only in speed (same sway, same pose)
    q = {"k": 1.0, "phase": 0.0, "amp": 1.0, "start": 0.0, "offset": 0.5}
    t = np.arange(40.0)
    slow = sb.MOTIONS["DiveSlowLongSway"](t, 40, q)
    fast = sb.MOTIONS["DiveFastLongSway"](t, 40, q)
    np.testing.assert_allclose(slow[0], fast[0])  # same horizontal sway
    assert np.ptp(fast[1]) > 1.5 * np.ptp(slow[1])  # faster fall


def test_second_call_is_skipped(tiny: dict[str, Path], tmp_path: Path) -> None:
    folder = sb.generate(tmp_path, "tiny", 0, "ucf101like", workers=1, progress=False)
    folder = folder["ucf101like"]  # a single name is accepted as a string
    meta = folder / "meta.json"
    stamp = meta.stat().st_mtime_ns
    again = sb.generate(tmp_path, "tiny", 0, ("ucf101like",), workers=1, progress=False)
    assert again["ucf101like"] == folder and meta.stat().st_mtime_ns == stamp
    sb.generate(tmp_path, "tiny", 5, ("ucf101like",), workers=1, progress=False)  # new seed
    assert _meta(folder)["seed"] == 5


def test_killed_generation_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def failing_writer(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    real = sb.write_video
    monkeypatch.setattr(sb, "write_video", failing_writer)
    with pytest.raises(KeyboardInterrupt):
        sb.generate(tmp_path, "tiny", 0, ("ucf101like",), workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_opencv_writer(tmp_path: Path) -> None:
    import decord

    folder = sb.generate(tmp_path, "tiny", 0, ("hmdb51like",), 1, "opencv", False)["hmdb51like"]
    meta = _meta(folder)
    assert meta["writer"] == "opencv"
    reader = decord.VideoReader(str(folder / "videos" / meta["videos"][0]["file"]))
    assert len(reader) == TINY.num_frames
    assert reader.get_batch([0, 5]).asnumpy().shape == (2, 32, 32, 3)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown SynthBias size 'x'; choose from \["):
        sb.generate(tmp_path, "x")
    with pytest.raises(ConfigError, match="analogue"):
        sb.generate(tmp_path, "tiny", analogues=("kinetics",))
    with pytest.raises(ConfigError, match="writer"):
        sb.generate(tmp_path, "tiny", analogues=("ucf101like",), writer="gif", progress=False)
    with pytest.raises(ConfigError, match="decord"):
        sb.check_config(replace(TINY, frame_size=72))
    with pytest.raises(ConfigError, match="num_classes"):
        sb.check_config(replace(TINY, num_classes=99))
    with pytest.raises(ConfigError, match="unknown SynthConfig field"):
        sb.with_overrides(TINY, colour="red")
    with pytest.raises(DataError, match="meta.json"):
        sb.dataset_paths(tmp_path)
    assert not list(tmp_path.iterdir())  # nothing written by failed calls


def test_preset_sizes() -> None:
    d = sb.SIZES["default"]["ucf101like"]
    assert (d.num_classes, d.videos_per_class, d.frame_size, d.num_frames) == (
        6,
        (60, 12, 40, 12),
        40,
        40,
    )
    assert (d.bias, d.bias_spread) == (0.85, 0.1)  # the ladder's rung 1 (docs/synthbias.md)
    t = sb.SIZES["tiny"]["ucf101like"]
    assert (t.num_classes, sum(t.videos_per_class), t.frame_size, t.num_frames) == (4, 8, 32, 24)
    for preset in sb.SIZES.values():
        assert set(preset) == set(sb.ANALOGUES)
        assert not preset["diving48like"].split1_biased
        for cfg in preset.values():
            sb.check_config(cfg)
