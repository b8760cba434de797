"""The analysis commands of issue 7 (retrieve, static-bias, actor-crop, bias-sets, bias-test,
cam) on tiny finished runs made here by the real training code: the files they write, and
their numbers checked against references computed in the test (scipy, `recall_at_k` on the
saved features, a hand computation of the box mapping, the primitives composed by hand)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import stats

from bepaper.analysis import cam as cm
from bepaper.analysis.cam_report import cam_report, pick_videos, view_box_edges, view_boxes
from bepaper.analysis.loading import load_backbone, open_run
from bepaper.analysis.retrieval import effective_pool_size, neighbours, retrieval_from_run
from bepaper.analysis.static_bias import per_class_accuracy, static_bias_from_runs
from bepaper.augment import MEAN, STD, eval_view
from bepaper.cli import main
from bepaper.config import AugmentConfig, DataConfig, FinetuneConfig, PretrainConfig, build_config
from bepaper.data.datasets import LabeledClips, _square, load_split
from bepaper.data.sampling import clip_indices, max_start
from bepaper.data.synthbias import VARIANTS, generate
from bepaper.errors import CheckpointError, DataError
from bepaper.identity import run_folder
from bepaper.metrics import features, recall_at_k, retrieve
from bepaper.results import load_outputs
from bepaper.train import finetune, pretrain
from bepaper.video import open_video

COMMON = [
    "model.backbone=r3d18",
    "model.width=4",
    "data.num_frames=4",
    "data.stride=2",
    "data.load_size=32",
    "data.workers=0",
    "augment.crop_size=32",  # a 2 x 2 feature map: the CAM has a shape
    "optim.epochs=1",
    "optim.batch_size=8",
    "run.device=cpu",
    "run.progress=false",
    "run.tensorboard=false",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """SynthBias tiny (ucf101like) and four finished runs: a MoCo+BE pretraining, a static
    net, a fine-tuning from scratch (base) and one from the pretraining (new)."""
    tmp = tmp_path_factory.mktemp("analysis")
    analogue = generate(tmp / "synth", "tiny", analogues=("ucf101like",), workers=1, progress=False)
    root = analogue["ucf101like"]
    common = COMMON + [f"data.root={root}", f"run.root={tmp / 'runs'}"]
    pre = build_config(PretrainConfig, overrides=common + ["method.queue_size=32"])
    pretrain(pre)
    out = {"root": root, "tmp": tmp, "pretrain": run_folder(pre, "pretrain")}
    ft = common + ["eval.num_clips=2", "eval.splits=[1]"]
    for name, extra in (
        ("static", ["static=true"]),
        ("base", []),
        ("new", [f"init={out['pretrain']}", "eval.splits=[1,2]"]),
    ):
        cfg = build_config(FinetuneConfig, overrides=ft + extra)
        finetune(cfg)
        out[name] = run_folder(cfg, "finetune")
    return out


def run_cli(*args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ------------------------------------------------------------------ box mapping


def test_box_mapping_by_hand() -> None:
    # 240 x 320 (UCF101) → load 128: resized to 128 x 171 (round(170.67)), x cut at 21;
    # then the centre 0.875 * 128 = 112 square, resampled to 112 (a pure shift by 8).
    edges = view_box_edges(np.array([100, 60, 200, 180]), 240, 320, 128, 0.875, 112)
    fx, fy = 171 / 320, 128 / 240
    x0, x1 = 100 * fx - 21 - 8, 200 * fx - 21 - 8
    y0, y1 = 60 * fy - 0 - 8, 180 * fy - 0 - 8
    np.testing.assert_allclose(edges, [x0, y0, x1, y1])
    assert x0 == pytest.approx(24.4375)
    ints = view_boxes(np.array([[100, 60, 200, 180]]), 240, 320, 128, 0.875, 112)
    assert ints.tolist() == [[24, 24, 78, 88]]  # floor / ceil of 24.44, 24, 77.88, 88
    # 40 x 40 (SynthBias default) → 32, crop 0.8 (25.6 px) → 16 px: factor 0.8 * 16 / 25.6
    e = view_box_edges(np.array([10, 5, 25, 40]), 40, 40, 32, 0.8, 16)
    np.testing.assert_allclose(e, [(8 - 16) * 0.625 + 8, (4 - 16) * 0.625 + 8, 10.5, 18])
    assert view_boxes(np.array([10, 5, 25, 40]), 40, 40, 32, 0.8, 16).tolist() == [3, 0, 11, 16]
    # empty boxes, and boxes outside the view, are (0, 0, 0, 0)
    assert view_boxes(np.array([[5, 5, 5, 9], [0, 0, 3, 3]]), 40, 40, 32, 0.8, 16).tolist() == [
        [0, 0, 0, 0],
        [0, 0, 0, 0],
    ]


@pytest.mark.parametrize(
    "h, w, box, load, crop, size",
    [
        (50, 70, (31, 12, 52, 33), 40, 0.75, 48),
        (240, 320, (100, 60, 200, 180), 128, 0.875, 112),
        (40, 40, (10, 5, 25, 30), 32, 0.8, 16),
    ],
)
def test_box_mapping_follows_the_pixels(h, w, box, load, crop, size) -> None:
    """A white box drawn in an h x w frame goes through `_square` and `eval_view` as the
    loader and the test view take it: its image's width and centre along x and y (from the
    intensity profiles, which resampling blurs but keeps) are the mapped box's to 0.05 px."""
    frame = np.zeros((1, h, w, 3), np.uint8)
    frame[0, box[1] : box[3], box[0] : box[2]] = 255
    aug = AugmentConfig(crop_size=size, eval_crop=crop)
    x = eval_view(torch.from_numpy(_square(frame, load))[None], aug)  # 1 x 3 x 1 x S x S
    img = (x[0, 0, 0] * STD[0] + MEAN[0]).double().numpy()
    e = view_box_edges(np.array(box), h, w, load, crop, size)
    centres = np.arange(size) + 0.5
    for axis, (lo, hi) in ((0, (e[0], e[2])), (1, (e[1], e[3]))):
        profile = img.sum(axis) / img.sum(axis).max()  # 1 inside the box, 0 far outside
        assert profile.sum() == pytest.approx(hi - lo, abs=0.05)
        assert (profile * centres).sum() / profile.sum() == pytest.approx((lo + hi) / 2, abs=0.05)


def test_pick_videos_prefers_distinct_classes() -> None:
    labels = [0, 0, 0, 1, 1, 2]
    picked = pick_videos(labels, 3, seed=0)
    assert sorted(labels[i] for i in picked) == [0, 1, 2]
    assert len(set(pick_videos(labels, 6, seed=1))) == 6
    assert pick_videos(labels, 2, seed=3) == pick_videos(labels, 2, seed=3)


def test_effective_pool_size() -> None:
    assert effective_pool_size((512, 2, 7, 7)) == (2, 7, 7)
    assert effective_pool_size((32, 1, 2, 2)) == (1, 2, 2)
    assert effective_pool_size((8, 4, 14, 14), (2, 7, 7)) == (2, 7, 7)


# ------------------------------------------------------------------ retrieve


def test_retrieve_video_level(runs, tmp_path, capsys) -> None:
    out = tmp_path / "ret"
    code, printed, _ = run_cli(
        "retrieve", "--run", runs["pretrain"], "--out", out, "--device", "cpu",
        "--num-clips", "3", "--no-progress", "--show", "2", capsys=capsys,
    )  # fmt: skip
    assert code == 0 and "R@1" in printed
    res = json.loads((out / "retrieval.json").read_text())
    q = np.load(out / "features_query.npz")
    g = np.load(out / "features_gallery.npz")
    t = np.load(out / "topk.npz")
    _, split = load_split(DataConfig(dataset="synthbias", root=str(runs["root"])), 1)
    assert res["queries"] == len(split.test) == len(q["labels"])
    assert res["gallery"] == len(split.train) == len(g["labels"])
    # r3d18 on 4 x 32 x 32: a 1 x 2 x 2 map; (2, 7, 7) clamps to it: 8 * 4 channels x 4 cells
    assert res["protocol"]["pool_size_used"] == [1, 2, 2]
    assert q["features"].shape == (len(split.test), 32 * 4) == (res["queries"], 128)
    assert (q["clips"] == -1).all()
    assert sorted(q["paths"]) == sorted(i.path for i in split.test)
    ref = recall_at_k(
        torch.from_numpy(q["features"]),
        torch.from_numpy(q["labels"]),
        torch.from_numpy(g["features"]),
        torch.from_numpy(g["labels"]),
    )
    assert res["recall"] == {str(k): pytest.approx(v) for k, v in ref.items()}
    k = len(split.train)  # max K = 50, clamped to the gallery
    assert t["neighbours"].shape == t["similarities"].shape == (len(split.test), k)
    idx, sim = retrieve(torch.from_numpy(q["features"]), torch.from_numpy(g["features"]), k)
    np.testing.assert_array_equal(t["neighbours"], idx.numpy())
    np.testing.assert_allclose(t["similarities"], sim.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(t["neighbour_paths"], g["paths"][t["neighbours"]])
    np.testing.assert_array_equal(t["neighbour_labels"], g["labels"][t["neighbours"]])
    with Image.open(out / "neighbours.png") as im:
        assert im.format == "PNG"
    table = neighbours(out, str(t["query_paths"][1]), k=5)
    assert table["path"].tolist() == g["paths"][idx[1, :5].numpy()].tolist()
    assert (
        table["hit"].tolist() == (g["labels"][idx[1, :5].numpy()] == t["query_labels"][1]).tolist()
    )


def test_retrieve_clip_level_fame_and_chunks(runs, tmp_path) -> None:
    """Clip level with FAME's steps through the library function; and the video level in
    chunks of 5 videos gives the features of `evaluate.features` on the whole list."""
    res = retrieval_from_run(
        runs["pretrain"], level="clip", centre=True, clip_norm=True, num_clips=2,
        pool="max", out_dir=tmp_path / "clip", device="cpu", progress=False,
    )  # fmt: skip
    q = np.load(tmp_path / "clip" / "features_query.npz")
    g = np.load(tmp_path / "clip" / "features_gallery.npz")
    assert res["queries"] == 2 * res["query_videos"] and res["protocol"]["feature_dim"] == 32
    assert sorted(q["clips"].tolist()) == sorted([0, 1] * res["query_videos"])
    np.testing.assert_allclose(np.linalg.norm(g["features"], axis=1), 1, rtol=1e-5)
    ref = recall_at_k(
        *(torch.from_numpy(a) for a in (q["features"], q["labels"], g["features"], g["labels"])),
        centre=True,
    )
    assert res["recall"] == {str(k): pytest.approx(v) for k, v in ref.items()}

    retrieval_from_run(
        runs["pretrain"], num_clips=2, pool="adaptive_max", chunk_videos=5,
        out_dir=tmp_path / "chunks", device="cpu", progress=False,
    )  # fmt: skip
    g = np.load(tmp_path / "chunks" / "features_gallery.npz")
    run = open_run(runs["pretrain"])
    data = run.data_config()
    root, split = load_split(data, 1)
    ds = LabeledClips(root, split.train, data, seed=run.seed, train=False, num_clips=2)
    x, y = features(
        load_backbone(run, torch.device("cpu")), ds, run.augment(), torch.device("cpu"),
        pool="adaptive_max", pool_size=(1, 2, 2), progress=False,
    )  # fmt: skip
    np.testing.assert_array_equal(g["paths"], [i.path for i in split.train])
    np.testing.assert_allclose(g["features"], x.numpy(), rtol=1e-5, atol=1e-6)


def test_retrieve_reports_an_unreadable_video_from_a_worker(runs, tmp_path) -> None:
    root = shutil.copytree(runs["root"], tmp_path / "copy")
    _, split = load_split(DataConfig(dataset="synthbias", root=str(root)), 1)
    bad = split.train[3].path
    (root / "videos" / bad).write_bytes(b"not a video")
    run = open_run(runs["pretrain"])
    res = retrieval_from_run(
        runs["pretrain"], run.data_config(root=root, workers=1), num_clips=1,
        out_dir=tmp_path / "out", device="cpu", progress=False,
    )  # fmt: skip
    assert list(res["skipped"]) == [bad] and res["skipped"][bad]
    assert res["gallery"] == len(split.train) - 1
    g = np.load(tmp_path / "out" / "features_gallery.npz")
    assert bad not in g["paths"].tolist() and len(g["paths"]) == res["gallery"]


# ------------------------------------------------------------------ static bias


def test_static_bias_command(runs, tmp_path, capsys) -> None:
    out = tmp_path / "sb"
    code, printed, _ = run_cli(
        "static-bias", "--static", runs["static"], "--base", runs["base"],
        "--new", runs["new"], "--out", out, capsys=capsys,
    )  # fmt: skip
    assert code == 0 and "absolute: rho" in printed
    table = pd.read_csv(out / "static_bias.csv")
    res = json.loads((out / "static_bias.json").read_text())
    for name, column in (("static", "static_top1"), ("base", "base_top1"), ("new", "new_top1")):
        o = load_outputs(runs[name], 1)
        acc = per_class_accuracy(o["scores"], o["labels"], len(o["classes"]))
        np.testing.assert_allclose(table[column], 100 * acc, atol=1e-4)
    np.testing.assert_allclose(table["absolute_gain"], table["new_top1"] - table["base_top1"])
    x, y = table["static_top1"].to_numpy(), table["absolute_gain"].to_numpy()
    if np.ptp(x) > 0 and np.ptp(y) > 0:
        r, p = stats.pearsonr(x, y)
        assert res["absolute"]["r"] == pytest.approx(r, abs=1e-9)
        assert res["absolute"]["p"] == pytest.approx(p)
    else:
        assert res["absolute"]["r"] is None  # undefined, written as null (strict JSON)
    meta = json.loads((runs["root"] / "meta.json").read_text())
    assert res["class_bias"] == meta["class_bias"]
    assert table["known_bias"].tolist() == [meta["class_bias"][c] for c in table["class"]]
    for ext in ("png", "pdf"):
        assert (out / f"static_bias.{ext}").stat().st_size > 1000


def _with_scores(src: Path, dst: Path, correct: list[int], per_class: int = 10) -> Path:
    """A copy of a finished fine-tuning run whose test outputs are replaced: class c has
    `per_class` videos, of which the first correct[c] are right."""
    shutil.copytree(src, dst)
    o = load_outputs(src, 1)
    c = len(o["classes"])
    labels = np.repeat(np.arange(c), per_class)
    scores = np.array(
        [
            np.eye(c)[lab if i % per_class < correct[lab] else (lab + 1) % c]
            for i, lab in enumerate(labels)
        ]
    )
    paths = np.array([f"{o['classes'][lab]}/v_{i:03d}.avi" for i, lab in enumerate(labels)])
    with open(dst / "outputs" / "test_split1.npz", "wb") as f:
        np.savez(f, scores=scores, labels=labels, paths=paths, classes=o["classes"])
    return dst


def test_static_bias_statistics_against_scipy(runs, tmp_path) -> None:
    """Runs with outputs of known per-class accuracies: ρ of the relative and absolute gains
    against static top-1 is scipy's on those accuracies."""
    static = _with_scores(runs["static"], tmp_path / "s", [9, 6, 3, 1])
    base = _with_scores(runs["base"], tmp_path / "b", [8, 5, 2, 4])
    new = _with_scores(runs["new"], tmp_path / "n", [8, 7, 5, 6])
    res = static_bias_from_runs(static, base, new, 1, tmp_path / "out")
    s, b, n = (
        np.array([0.9, 0.6, 0.3, 0.1]),
        np.array([0.8, 0.5, 0.2, 0.4]),
        np.array([0.8, 0.7, 0.5, 0.6]),
    )
    r, p = stats.pearsonr(100 * s, 100 * (n - b) / b)
    assert res["relative"]["r"] == pytest.approx(r) and res["relative"]["p"] == pytest.approx(p)
    assert res["relative"]["n"] == 4
    r, p = stats.pearsonr(s, n - b)
    assert res["absolute"]["r"] == pytest.approx(r) and res["absolute"]["p"] == pytest.approx(p)
    bias = json.loads((runs["root"] / "meta.json").read_text())["class_bias"]
    classes = [str(c) for c in load_outputs(static, 1)["classes"]]
    r, _ = stats.pearsonr([bias[c] for c in classes], s)
    assert res["known_bias"]["r"] == pytest.approx(r)
    assert res["top1"]["static"] == pytest.approx(19 / 40)
    # another test set in one run is refused
    odd = _with_scores(runs["new"], tmp_path / "odd", [8, 7, 5, 6], per_class=9)
    with pytest.raises(DataError, match="different test set"):
        static_bias_from_runs(static, base, odd, 1)


# ------------------------------------------------------------------ actor crop, bias sets


def test_actor_crop_command(runs, tmp_path, capsys) -> None:
    out = tmp_path / "actor"
    code, printed, _ = run_cli(
        "actor-crop", "--root", runs["root"], "--out", out, "--margin", "0.1", capsys=capsys
    )
    assert code == 0 and str(out) in printed
    root, split = load_split(DataConfig(dataset="synthbias", root=str(out)), 1)
    _, source = load_split(DataConfig(dataset="synthbias", root=str(runs["root"])), 1)
    assert split == source
    for item in split.train + split.test:
        assert (root / item.path).is_file()
        assert (out / "boxes" / item.path).with_suffix(".npy").is_file()
    assert json.loads((out / "meta.json").read_text())["actor_crop"]["margin"] == 0.1


def test_bias_sets_and_bias_test(runs, tmp_path, capsys) -> None:
    sets = tmp_path / "sets"
    code, printed, _ = run_cli(
        "bias-sets", "--root", runs["root"], "--out", sets, "--workers", "1", capsys=capsys
    )
    assert code == 0 and all(v in printed for v in VARIANTS)
    out = tmp_path / "bt"
    code, printed, _ = run_cli(
        "bias-test", "--run", runs["new"], "--sets", sets, "--num-clips", "2",
        "--device", "cpu", "--out", out, "--no-progress", capsys=capsys,
    )  # fmt: skip
    assert code == 0 and "contrasted accuracy" in printed
    res = json.loads((out / "bias_test.json").read_text())
    assert list(res["top1"]) == ["original", *VARIANTS]
    assert all(0 <= v <= 1 for v in res["top1"].values())
    assert all(n == res["test_videos"] == 8 for n in res["videos"].values())
    # the original list scored as the fine-tuning run scored its own split 2 (2 clips)
    metrics = json.loads((runs["new"] / "metrics.json").read_text())
    assert res["top1"]["original"] == pytest.approx(metrics["test_top1"]["2"])
    table = pd.read_csv(out / "per_video.csv")
    for name, acc in res["top1"].items():
        assert table[name].mean() == pytest.approx(acc)
        o = np.load(out / "outputs" / f"{name}.npz")
        assert (o["scores"].argmax(1) == o["labels"]).mean() == pytest.approx(acc)
    contrast = ((table["new_background"] == 1) & (table["static_actor"] == 0)).mean()
    assert 0 <= res["contrasted_accuracy"] <= 1
    assert res["contrasted_accuracy"] == pytest.approx(contrast)
    assert res["contrasted_videos"] == 8


# ------------------------------------------------------------------ cam


def test_cam_command(runs, tmp_path, capsys) -> None:
    out = tmp_path / "cam"
    code, printed, _ = run_cli(
        "cam", "--run", runs["pretrain"], "--out", out, "--videos", "2", "--device", "cpu",
        "--no-progress", capsys=capsys,
    )  # fmt: skip
    assert code == 0 and "static" in printed
    res = json.loads((out / "cam.json").read_text())
    rows = pd.read_csv(out / "cam.csv")
    assert len(rows) == len(res["rows"]) == 2 * 4
    assert res["cam_resolution"] == [1, 2, 2] and res["cam_note"] is None
    assert set(rows["case"]) == {"original", "static", "pasted", "noise"}
    assert (rows["actor_mass"].between(0, 1)).all()
    assert (rows["actor_chance"].between(0, 1, inclusive="neither")).all()
    assert rows.loc[rows["case"] == "pasted", "pasted_mass"].between(0, 1).all()
    for k, v in enumerate(res["videos"]):
        for case in ("original", "static", "pasted", "noise"):
            assert (out / "gifs" / f"{k}_{v['class']}_{case}.gif").is_file()
        with Image.open(out / f"cam_{k}_{v['class']}.png") as im:
            assert im.format == "PNG"
    assert res["videos"][0]["class"] != res["videos"][1]["class"]
    assert (out / "cam_grid.png").is_file()

    # the first video by hand: decode its centre clip, the test view, CAM, stored boxes
    run = open_run(runs["pretrain"])
    data, aug = run.data_config(), run.augment()
    v = res["videos"][0]
    reader = open_video(runs["root"] / "videos" / v["path"])
    n = reader.num_frames
    idx = clip_indices(max_start(n, 4, 2) // 2, 4, 2, n)
    assert v["frames"] == idx.tolist()
    frames = reader.get(idx.tolist())
    x = eval_view(torch.from_numpy(_square(frames, data.load_size))[None], aug)
    raw_boxes = np.load(runs["root"] / "boxes" / Path(v["path"]).with_suffix(".npy"))[idx]
    boxes = view_boxes(raw_boxes, *frames.shape[1:3], data.load_size, aug.eval_crop, 32)
    assert v["actor_boxes"] == boxes.tolist()
    backbone = load_backbone(run, torch.device("cpu"))
    raw = cm.cam_raw(backbone, torch.cat([x, x[:, :, 2:3].expand_as(x)]))  # original, static
    ratio = float(raw[1].mean() / raw[0].mean())
    got = rows[rows["video"] == 0].set_index("case")
    assert got.loc["static", "raw_vs_original"] == pytest.approx(ratio, rel=1e-4)
    m = cm.mass_in_boxes(cm.cam(backbone, x), boxes[None])
    assert got.loc["original", "actor_mass"] == pytest.approx(m.mass[0], rel=1e-4)
    assert got.loc["original", "actor_chance"] == pytest.approx(m.chance[0], rel=1e-6)


def test_cam_without_boxes(runs, tmp_path) -> None:
    """Data without actor boxes: no pasted case, no mass numbers, the raw ratios still."""
    root = shutil.copytree(runs["root"], tmp_path / "copy", ignore=shutil.ignore_patterns("boxes"))
    res = cam_report(
        runs["new"], tmp_path / "cam", videos=1, root=root, device="cpu", progress=False
    )
    assert [r["case"] for r in res["rows"]] == ["original", "static", "noise"]
    assert res["boxes"] is None and all(r["actor_mass"] is None for r in res["rows"])
    assert res["rows"][0]["raw_vs_original"] == 1 and Path(res["grid"]).is_file()


def test_the_figures_the_analyses_save_keep_their_text_apart(runs, tmp_path, monkeypatch) -> None:
    """Every figure static-bias, cam and retrieve save, made from these tiny real runs: no two
    texts overlap and none leaves the canvas (`text_problems`, tests/test_figures.py)."""
    from matplotlib.figure import Figure
    from test_figures import CAPTION, text_problems

    from bepaper.analysis.retrieval import plot_neighbours

    saved = []
    savefig = Figure.savefig

    def recording(self, *args, **kwargs):
        saved.append(self)
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording)
    static_bias_from_runs(runs["static"], runs["base"], runs["new"], 1, tmp_path / "fig4",
                          title="Figure 4 on ucf101like, seed 0" + CAPTION)  # fmt: skip
    cam_report(runs["pretrain"], tmp_path / "cam", videos=2, device="cpu", progress=False)
    out = tmp_path / "ret"
    retrieval_from_run(runs["pretrain"], num_clips=1, out_dir=out, device="cpu", progress=False)
    plot_neighbours(out, runs["root"] / "videos", [0, 1], k=5)
    figures = list(dict.fromkeys(saved))
    assert len(figures) == 1 + 3 + 1  # Figure 4; two videos' grids and cam_grid; neighbours
    for fig in figures:
        assert text_problems(fig) == [], fig


# ------------------------------------------------------------------ help and errors


ANALYSIS_COMMANDS = ("retrieve", "static-bias", "actor-crop", "bias-sets", "bias-test", "cam")


def test_every_analysis_command_has_help(capsys) -> None:
    for command in ANALYSIS_COMMANDS:
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0
        text = capsys.readouterr().out
        assert "example" in text and "--out" in text
        assert len(text.splitlines()) > 15


def test_bad_input_is_one_line_exit_2(runs, tmp_path, capsys) -> None:
    not_run = tmp_path / "plain"
    not_run.mkdir()
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    for name in ("identity.json", "config.yaml"):
        shutil.copy(runs["new"] / name, unfinished / name)
    empty_sets = tmp_path / "no_sets"
    empty_sets.mkdir()
    cases = [
        (["retrieve", "--run", tmp_path / "none", "--out", tmp_path / "o"], "run folder not found"),
        (["retrieve", "--run", not_run, "--out", tmp_path / "o"], "not a bepaper run folder"),
        (["cam", "--run", unfinished, "--out", tmp_path / "o"], "has not finished"),
        (["bias-test", "--run", runs["pretrain"], "--sets", empty_sets], "needs a finetune run"),
        (["bias-test", "--run", runs["new"], "--sets", empty_sets], "no bias test set of split 2"),
        (
            [
                "static-bias",
                "--static",
                runs["base"],
                "--base",
                runs["base"],
                "--new",
                runs["new"],
                "--out",
                tmp_path / "o",
            ],
            "not a static-video run",
        ),  # fmt: skip
        (
            [
                "static-bias",
                "--static",
                runs["static"],
                "--base",
                runs["base"],
                "--new",
                runs["new"],
                "--split",
                "2",
                "--out",
                tmp_path / "o",
            ],
            "no outputs for test split 2",
        ),  # fmt: skip
        (
            ["retrieve", "--run", runs["pretrain"], "--out", tmp_path / "o", "--split", "3"],
            "split file not found",
        ),  # fmt: skip
        (
            ["retrieve", "--run", runs["pretrain"], "--out", tmp_path / "o", "--level", "frame"],
            "unknown retrieval level 'frame'",
        ),  # fmt: skip
        (
            ["cam", "--run", runs["pretrain"], "--out", tmp_path / "o", "--videos", "0"],
            "videos must be at least 1",
        ),  # fmt: skip
        (["actor-crop", "--root", tmp_path / "none", "--out", tmp_path / "o"], "not found"),
    ]
    for args, fragment in cases:
        code, printed, err = run_cli(*args, capsys=capsys)
        lines = err.strip().splitlines()
        assert code == 2 and printed == "", (args, err)
        assert len(lines) == 1 and lines[0].startswith("bepaper: error: "), err
        assert fragment in lines[0], (fragment, lines[0])
    with pytest.raises(CheckpointError, match="needs a pretrain or finetune run"):
        ident = json.loads((runs["new"] / "identity.json").read_text())
        fake = tmp_path / "evaluate"
        shutil.copytree(runs["new"], fake)
        (fake / "identity.json").write_text(json.dumps({**ident, "command": "evaluate"}))
        open_run(fake)


def test_error_through_a_subprocess(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bepaper.cli", "retrieve", "--run", str(tmp_path / "none"),
         "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"bepaper: error: run folder not found: {tmp_path / 'none'}"


def test_a_retrieval_is_reused_when_nothing_changed(runs, tmp_path, capsys) -> None:
    """Table 3 at preset paper asks for the same retrievals on every call: the second call
    returns the saved result and rewrites nothing; other settings encode again."""
    kw = dict(num_clips=1, out_dir=tmp_path / "r", device="cpu", progress=True)
    first = retrieval_from_run(runs["pretrain"], **kw)
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / "r").iterdir()}
    assert retrieval_from_run(runs["pretrain"], **kw) == first
    assert "reusing the retrieval in" in capsys.readouterr().out
    assert files == {p: p.stat().st_mtime_ns for p in (tmp_path / "r").iterdir()}
    other = retrieval_from_run(runs["pretrain"], **{**kw, "ks": (1, 3)})
    assert set(other["recall"]) == {"1", "3"} and other["request"] != first["request"]
