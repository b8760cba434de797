"""Figure 4 analysis: per-class accuracy, relative gain, Pearson (against scipy and by hand),
the table and the plot."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from bepaper.analysis import static_bias as sb
from bepaper.errors import DataError


def test_per_class_accuracy_matches_a_loop():
    rng = np.random.default_rng(0)
    n, c = 200, 7
    scores = rng.random((n, c))
    labels = rng.integers(0, c - 1, n)  # class c-1 has no test video
    labels[:40] = scores[:40, : c - 1].argmax(1)  # some right answers: accuracies vary
    acc = sb.per_class_accuracy(scores, labels, c)
    for k in range(c - 1):
        idx = [i for i in range(n) if labels[i] == k]
        right = sum(1 for i in idx if int(np.argmax(scores[i])) == k)
        assert acc[k] == pytest.approx(right / len(idx))
    assert math.isnan(acc[c - 1])


def test_per_class_accuracy_rejects_bad_arrays():
    with pytest.raises(DataError, match="N x 3"):
        sb.per_class_accuracy(np.zeros((4, 2)), np.zeros(4, int), 3)
    with pytest.raises(DataError, match="labels must lie"):
        sb.per_class_accuracy(np.zeros((2, 3)), np.array([0, 3]), 3)


def test_relative_gain_in_percent_and_nan_where_undefined():
    new = np.array([0.6, 0.3, 0.5, 0.2, np.nan])
    base = np.array([0.5, 0.4, 0.0, np.nan, 0.5])
    gain = sb.relative_gain(new, base)
    assert gain[:2] == pytest.approx([20.0, -25.0])
    assert np.isnan(gain[2:]).all()
    assert sb.absolute_gain(new, base)[:3] == pytest.approx([10.0, -10.0, 50.0])


def test_pearson_agrees_with_scipy_and_a_hand_computation():
    x = np.array([10.0, 25.0, 30.0, 55.0, 60.0, 80.0])
    y = np.array([40.0, 10.0, 22.0, -5.0, 8.0, -12.0])
    out = sb.pearson(x, y)
    # by hand: r = S_xy / sqrt(S_xx S_yy); t = r sqrt((n-2)/(1-r^2)); Fisher z interval
    n = len(x)
    dx, dy = x - sum(x) / n, y - sum(y) / n
    r = sum(dx * dy) / math.sqrt(sum(dx * dx) * sum(dy * dy))
    t = r * math.sqrt((n - 2) / (1 - r * r))
    p = 2 * stats.t.sf(abs(t), n - 2)
    half = 1.959963984540054 / math.sqrt(n - 3)
    assert out["r"] == pytest.approx(r, abs=1e-12)
    assert out["p"] == pytest.approx(p, rel=1e-9)
    assert out["ci_low"] == pytest.approx(math.tanh(math.atanh(r) - half), abs=1e-9)
    assert out["ci_high"] == pytest.approx(math.tanh(math.atanh(r) + half), abs=1e-9)
    assert (out["n"], out["dropped"]) == (6, 0)
    ref = stats.pearsonr(x, y)
    assert (out["r"], out["p"]) == pytest.approx((ref.statistic, ref.pvalue))
    assert out["r"] < -0.8 and out["spearman_r"] < 0


def test_pearson_drops_nan_pairs_and_counts_them():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=30), rng.normal(size=30)
    y = y - 0.5 * x
    x[3], y[7], y[12] = np.nan, np.nan, np.inf
    out = sb.pearson(x, y)
    keep = np.isfinite(x) & np.isfinite(y)
    ref = stats.pearsonr(x[keep], y[keep])
    assert (out["n"], out["dropped"]) == (27, 3)
    assert out["r"] == pytest.approx(ref.statistic)
    assert out["p"] == pytest.approx(ref.pvalue)
    assert out["ci_low"] < out["r"] < out["ci_high"]


def test_pearson_is_nan_when_undefined():
    assert math.isnan(sb.pearson([1.0, 2.0, np.nan], [3.0, 1.0, 2.0])["r"])  # 2 pairs left
    flat = sb.pearson([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 5.0])
    assert math.isnan(flat["r"]) and flat["n"] == 4


def test_same_test_set():
    sb.same_test_set(["a", "b"], ["b", "a"])
    with pytest.raises(DataError, match="different test set"):
        sb.same_test_set(["a", "b"], ["a", "c"])


def _generated_classes(tmp_path):
    from bepaper.data.synthbias import generate

    folder = generate(tmp_path, size="tiny", analogues=("ucf101like",), workers=1, progress=False)
    folder = folder["ucf101like"]
    return folder, json.loads((folder / "meta.json").read_text())["classes"]


def test_table_and_plot_from_scores(tmp_path):
    folder, names = _generated_classes(tmp_path)
    c = len(names)
    bias = sb.class_bias_from_meta(folder)
    assert set(bias) == set(names)
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(c), 10)
    onehot = np.eye(c)

    def scores(correct_per_class):  # the first k videos of class c are right, the rest wrong
        rows = [
            onehot[lab] if i % 10 < correct_per_class[lab] else onehot[(lab + 1) % c]
            for i, lab in enumerate(labels)
        ]
        return np.array(rows) + 0.01 * rng.random((len(labels), c))

    static = sb.per_class_accuracy(scores([9, 6, 3, 1]), labels, c)
    base = sb.per_class_accuracy(scores([8, 5, 0, 2]), labels, c)
    new = sb.per_class_accuracy(scores([8, 6, 4, 4]), labels, c)
    assert static == pytest.approx([0.9, 0.6, 0.3, 0.1])
    gain = sb.relative_gain(new, base)
    table = sb.static_bias_table(static, gain, names, bias, acc_base=base, acc_new=new)
    assert list(table.columns) == [
        "class", "static_top1", "relative_gain", "known_bias", "base_top1", "new_top1"
    ]  # fmt: skip
    assert table["known_bias"].tolist() == [bias[n] for n in names]
    assert table["static_top1"].tolist() == pytest.approx([90, 60, 30, 10])
    assert table["relative_gain"].iloc[:2].tolist() == pytest.approx([0.0, 20.0])
    assert math.isnan(table["relative_gain"].iloc[2])  # base 0: undefined, dropped
    paths = sb.plot_static_bias(table, tmp_path / "fig4.v1.png", "SynthBias tiny")
    assert [p.name for p in paths] == ["fig4.v1.png", "fig4.v1.pdf"]
    with Image.open(paths[0]) as im:
        assert im.format == "PNG" and im.size[0] > 500
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    with pytest.raises(DataError, match="fractions"):
        sb.static_bias_table(100 * static, gain, names)
    with pytest.raises(DataError, match="no value for classes"):
        sb.static_bias_table(static, gain, names, {names[0]: 0.5})


def test_a_uniform_gain_alone_gives_a_negative_relative_rho():
    """The caveat of the module docstring: 51 classes, 30 test videos each, static accuracy
    tied to the base accuracy, and a +15-point gain in every class (no static-bias effect).
    The relative gain still correlates negatively with static accuracy; the absolute one
    does not."""
    rng = np.random.default_rng(0)
    rel, ab = [], []
    for _ in range(200):
        true = rng.uniform(0.05, 0.85, 51)
        static = np.clip(0.05 + 0.5 * true + rng.normal(0, 0.1, 51), 0, 1)
        base = np.round(np.clip(true + rng.normal(0, 0.05, 51), 0, 1) * 30) / 30
        new = np.round(np.clip(true + 0.15 + rng.normal(0, 0.05, 51), 0, 1) * 30) / 30
        rel.append(sb.pearson(static, sb.relative_gain(new, base))["r"])
        ab.append(sb.pearson(static, sb.absolute_gain(new, base))["r"])
    assert np.mean(rel) < -0.3
    assert abs(np.mean(ab)) < 0.05
