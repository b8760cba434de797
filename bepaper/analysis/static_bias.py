"""Figure 4: per-class static accuracy against BE's per-class relative gain (Pearson).

The paper (§4.5) trains a randomly initialised net on static videos (one frame repeated T
times) to get each class's *static accuracy*, fine-tunes MoCo and MoCo+BE, and correlates
the per-class static accuracy with the per-class relative gain of MoCo+BE over MoCo:
ρ = -0.48, p = 0.0004 on HMDB51's 51 classes.

Everything here works on the per-video arrays a fine-tuning run stores: `scores`
(N x C, clip-averaged softmax), `labels` (N,), `paths` (N,), and the class names.
Accuracies are fractions in [0, 1]; gains and the table's columns are in %.

A caution on reading ρ. The relative gain (new - base) / base divides by the base accuracy,
and classes with strong static cues tend to have a high base accuracy too. So a gain of the
same number of points in every class, unrelated to static bias, already gives a negative ρ
(`tests/test_static_bias.py::test_a_uniform_gain_alone_gives_a_negative_relative_rho`
simulates it). Report the correlation of `absolute_gain` (new - base) beside it, and, as a
null, the correlation obtained with two runs of the *same* method (e.g. two MoCo seeds).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bepaper.errors import DataError
from bepaper.runs import atomic_path

PAPER_FIGURE4 = (-0.48, 0.0004)  # Pearson ρ and p-value, §4.5


def per_class_accuracy(scores: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Top-1 accuracy per class, a fraction in [0, 1]; NaN for a class with no test video.

    scores: N x C (any monotone score; the prediction is argmax, ties go to the lower index);
    labels: N, 0-based. Returns (C,).
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 2 or scores.shape[1] != num_classes:
        raise DataError(f"scores must be N x {num_classes}, got shape {scores.shape}")
    if labels.shape != (scores.shape[0],):
        raise DataError(f"labels must have shape ({scores.shape[0]},), got {labels.shape}")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(
            f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}"
        )
    correct = scores.argmax(axis=1) == labels
    total = np.bincount(labels, minlength=num_classes)
    right = np.bincount(labels, weights=correct.astype(np.float64), minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, right / np.maximum(total, 1), np.nan)


def same_test_set(*paths: Sequence[str]) -> None:
    """Raise DataError unless every run scored the same set of test videos (order free)."""
    first = sorted(map(str, paths[0]))
    for i, other in enumerate(paths[1:], start=1):
        if sorted(map(str, other)) != first:
            diff = set(first) ^ set(map(str, other))
            raise DataError(
                f"run {i} scored a different test set than run 0 "
                f"({len(diff)} videos differ, e.g. {sorted(diff)[:2]})"
            )


def relative_gain(acc_new: np.ndarray, acc_base: np.ndarray) -> np.ndarray:
    """The paper's "relative top-1 acc improvement": 100 * (new - base) / base, in %.

    Where base is 0 (or either value is NaN) the gain is undefined and set to NaN; `pearson`
    drops those classes and reports how many it dropped.
    """
    new = np.asarray(acc_new, dtype=np.float64)
    base = np.asarray(acc_base, dtype=np.float64)
    if new.shape != base.shape:
        raise DataError(f"acc_new {new.shape} and acc_base {base.shape} differ in shape")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(base > 0, 100 * (new - base) / np.where(base > 0, base, 1), np.nan)


def absolute_gain(acc_new: np.ndarray, acc_base: np.ndarray) -> np.ndarray:
    """100 * (new - base), in percentage points (no base in the denominator)."""
    return 100 * (np.asarray(acc_new, dtype=np.float64) - np.asarray(acc_base, dtype=np.float64))


def pearson(x: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> dict:
    """Pearson r between x and y, with NaN (or inf) pairs dropped.

    Returns {"r", "p" (two-sided), "n" (pairs used), "dropped" (pairs dropped), "ci_low",
    "ci_high" (Fisher-z interval of r at `confidence`), "spearman_r", "spearman_p" (a
    rank-based check)}. r, p and the interval are NaN when fewer than 3 pairs remain or an
    input is constant.
    """
    from scipy import stats

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise DataError(f"x and y must be 1-D of one length, got {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(keep.sum())
    out = {"r": np.nan, "p": np.nan, "n": n, "dropped": int((~keep).sum())}
    out.update(ci_low=np.nan, ci_high=np.nan, spearman_r=np.nan, spearman_p=np.nan)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # n = 3: the interval is (-1, 1)
        res = stats.pearsonr(x, y)
        r = float(res.statistic)
        if hasattr(res, "confidence_interval"):  # scipy >= 1.9
            lo, hi = res.confidence_interval(confidence_level=confidence)
        else:  # Fisher z by hand
            half = stats.norm.ppf(0.5 + confidence / 2) / np.sqrt(max(n - 3, 0))
            lo, hi = np.tanh(np.arctanh(r) - half), np.tanh(np.arctanh(r) + half)
        rho = stats.spearmanr(x, y)
    out.update(r=r, p=float(res.pvalue), ci_low=float(lo), ci_high=float(hi))
    out.update(spearman_r=float(rho.statistic), spearman_p=float(rho.pvalue))
    return out


def class_bias_from_meta(folder: str | os.PathLike) -> dict[str, float] | None:
    """SynthBias's known per-class scene bias ({class: bias}) from `folder/meta.json`, or
    None for an analogue without biased splits."""
    meta = Path(folder) / "meta.json"
    if not meta.is_file():
        raise DataError(f"{folder}: not a SynthBias analogue folder (no meta.json)")
    return json.loads(meta.read_text()).get("class_bias")


def static_bias_table(
    static_acc: np.ndarray,
    gain: np.ndarray,
    class_names: Sequence[str],
    known_bias: Mapping[str, float] | Sequence[float] | None = None,
    *,
    acc_base: np.ndarray | None = None,
    acc_new: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per class: `class`, `static_top1` (%), `relative_gain` (%), and, when given,
    `known_bias` (SynthBias's bias_c, by class name or in class order), `base_top1` and
    `new_top1` (%). `static_acc`, `acc_base`, `acc_new` are fractions in [0, 1]."""
    c = len(class_names)
    columns = {"class": list(class_names)}
    for name, acc in (("static_top1", static_acc), ("base_top1", acc_base), ("new_top1", acc_new)):
        if acc is None:
            continue
        acc = np.asarray(acc, dtype=np.float64)
        if acc.shape != (c,):
            raise DataError(f"{name}: expected {c} per-class values, got shape {acc.shape}")
        if np.nanmax(np.abs(acc - 0.5), initial=0) > 0.5:
            raise DataError(f"{name}: accuracies must be fractions in [0, 1] (got a value > 1?)")
        columns[name] = 100 * acc
    gain = np.asarray(gain, dtype=np.float64)
    if gain.shape != (c,):
        raise DataError(f"gain: expected {c} per-class values, got shape {gain.shape}")
    columns["relative_gain"] = gain
    if known_bias is not None:
        if isinstance(known_bias, Mapping):
            missing = [n for n in class_names if n not in known_bias]
            if missing:
                raise DataError(f"known_bias has no value for classes {missing[:3]}")
            known_bias = [known_bias[n] for n in class_names]
        if len(known_bias) != c:
            raise DataError(f"known_bias: expected {c} values, got {len(known_bias)}")
        columns["known_bias"] = np.asarray(known_bias, dtype=np.float64)
    order = ["class", "static_top1", "relative_gain", "known_bias", "base_top1", "new_top1"]
    return pd.DataFrame({k: columns[k] for k in order if k in columns})


def static_bias_figure(
    table: pd.DataFrame, title: str, paper: tuple[float, float] | None = PAPER_FIGURE4
):
    """Figure 4 as a Figure: static top-1 (x) against relative gain (y), one named dot per
    class (classes at the same place share one label), the least-squares line, our Pearson
    ρ and p beside the paper's. Dots are coloured by `known_bias` when the table has it."""
    from matplotlib.lines import Line2D

    from bepaper import figures

    x = table["static_top1"].to_numpy(dtype=np.float64)
    y = table["relative_gain"].to_numpy(dtype=np.float64)
    stats = pearson(x, y)
    ok = np.isfinite(x) & np.isfinite(y)
    fig = figures.new_figure(8, 6.6 + 0.15 * title.count(" — "))
    ax = fig.add_subplot()
    if "known_bias" in table:
        dots = ax.scatter(x[ok], y[ok], c=table["known_bias"].to_numpy()[ok], cmap="viridis",
                          s=22, zorder=3)  # fmt: skip
    else:
        dots = ax.scatter(x[ok], y[ok], c="tab:blue", s=22, zorder=3)
    if "known_bias" in table:
        fig.colorbar(dots, ax=ax, label="known scene bias of the class (SynthBias)")
    classes = f"{stats['n']} class{'es' if stats['n'] != 1 else ''}"
    if np.isfinite(stats["r"]):
        ours = f"ours: ρ = {stats['r']:.2f} [{stats['ci_low']:.2f}, {stats['ci_high']:.2f}]"
        ours += f", p = {stats['p']:.2g}, n = {classes}"
    else:
        ours = f"ours: ρ undefined ({classes} with a gain; 3 needed, not all equal)"
    if stats["dropped"]:
        ours += (
            f"\n{stats['dropped']} class(es) with an undefined gain (MoCo at 0, or no test "
            "video) left out"
        )
    handles = []
    if stats["n"] >= 2 and np.ptp(x[ok]) > 0:
        slope, icept = np.polyfit(x[ok], y[ok], 1)
        xs = np.array([x[ok].min(), x[ok].max()])
        ax.plot(xs, slope * xs + icept, c="tab:red", lw=1.2)
    ours = figures.wrap("line: least-squares fit; " + ours, 0.8 * fig.get_figwidth(), 8)
    handles.append(Line2D([], [], c="tab:red", lw=1.2, label=ours))
    if paper is not None:
        handles.append(
            Line2D([], [], ls="none", label=f"paper (HMDB51, I3D): ρ = {paper[0]}, p = {paper[1]}")
        )
    ax.axhline(0, c="grey", lw=0.8, ls=":")
    ax.margins(0.12, 0.1)
    ax.set_xlabel("static-video top-1 per class (%)")
    ax.set_ylabel("relative top-1 gain of MoCo+BE over MoCo (%)")
    figures.set_title(ax, title)
    fig.legend(handles=handles, fontsize=8, loc="outside lower center", frameon=False)
    names = table["class"].to_numpy()[ok]
    figures.label_points(ax, x[ok], y[ok], names, fontsize=7)
    return fig


def plot_static_bias(
    table: pd.DataFrame,
    path: str | os.PathLike,
    title: str,
    paper: tuple[float, float] | None = PAPER_FIGURE4,
) -> list[Path]:
    """`static_bias_figure` written to `path` as .png and .pdf (a .png or .pdf suffix on
    `path` is replaced, any other kept); returns both paths."""
    fig = static_bias_figure(table, title, paper)
    stem = Path(path)
    if stem.suffix.lower() in (".png", ".pdf"):
        stem = stem.with_suffix("")
    out = []
    for ext in ("png", "pdf"):
        target = stem.parent / f"{stem.name}.{ext}"
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=ext, dpi=150)
        out.append(target)
    return out


# ------------------------------------------------------------------ from run folders


def _outputs(run, split: int) -> dict[str, np.ndarray]:
    """A fine-tuning run's per-video outputs on a test split, sorted by path."""
    from bepaper.results import load_outputs

    path = run.path / "outputs" / f"test_split{split}.npz"
    if not path.is_file():
        tested = sorted(p.stem.removeprefix("test_split") for p in run.path.glob("outputs/*.npz"))
        raise DataError(
            f"{run.path}: no outputs for test split {split} (it tested splits {tested}; "
            "eval.splits of the fine-tuning run)"
        )
    out = load_outputs(run.path, split)
    order = np.argsort(out["paths"], kind="stable")
    return {**out, **{k: out[k][order] for k in ("scores", "labels", "paths")}}


def static_bias_from_runs(
    static_run: str | os.PathLike,
    base_run: str | os.PathLike,
    new_run: str | os.PathLike,
    split: int = 1,
    out_dir: str | os.PathLike | None = None,
    *,
    analogue: str | os.PathLike | None = None,
    title: str | None = None,
    paper: tuple[float, float] | None = PAPER_FIGURE4,
) -> dict:
    """Figure 4 from three finished fine-tuning runs scored on the same test videos.

    `static_run`: trained and tested on static videos (`static: true`): its per-class top-1
    is the static accuracy. `base_run` / `new_run`: e.g. MoCo and MoCo+BE fine-tuned: the
    per-class relative gain 100 (new - base) / base and the absolute gain 100 (new - base).
    All three must come from the same data (identity fingerprint) and have scored the same
    videos of test split `split`. For SynthBias, the known per-class scene bias is read from
    the analogue's meta.json (`analogue`, default the static run's data.root when it exists).

    Returns, and writes to `out_dir/static_bias.json` (when `out_dir` is given; NaN as null
    there): "relative" and "absolute" (`pearson` of static top-1 against the relative and
    the absolute gain: r, p, 95% CI, n, Spearman), "known_bias" (`pearson` of SynthBias's
    per-class bias against static top-1, or None) with "class_bias" (the per-class values),
    "top1" per run, the runs and the split. Also writes `static_bias.csv` (one row per class)
    and `static_bias.png` / `.pdf`."""
    from bepaper.analysis.loading import json_safe, open_run
    from bepaper.runs import atomic_write_json

    runs = {
        "static": open_run(static_run, ("finetune",), "static-bias (--static)"),
        "base": open_run(base_run, ("finetune",), "static-bias (--base)"),
        "new": open_run(new_run, ("finetune",), "static-bias (--new)"),
    }
    if not runs["static"].static:
        raise DataError(f"{runs['static'].path}: not a static-video run (static: false)")
    for name in ("base", "new"):
        if runs[name].static:
            raise DataError(f"{runs[name].path}: --{name} is a static-video run (static: true)")
    prints = {name: r.identity.get("data") for name, r in runs.items()}
    if len(set(prints.values())) != 1:
        raise DataError(f"the runs were trained on different data (fingerprints {prints})")
    outs = {name: _outputs(r, split) for name, r in runs.items()}
    classes = [str(c) for c in outs["static"]["classes"]]
    for name, out in outs.items():
        if [str(c) for c in out["classes"]] != classes:
            raise DataError(f"the {name} run has other classes than the static run")
    same_test_set(*(out["paths"] for out in outs.values()))
    for name, out in outs.items():
        if not np.array_equal(out["labels"], outs["static"]["labels"]):
            raise DataError(f"the {name} run labels the test videos differently")
    c = len(classes)
    acc = {name: per_class_accuracy(o["scores"], o["labels"], c) for name, o in outs.items()}
    rel = relative_gain(acc["new"], acc["base"])
    ab = absolute_gain(acc["new"], acc["base"])

    known, note = None, None
    data = runs["static"].data_config()
    folder = Path(analogue) if analogue is not None else Path(data.root).expanduser()
    if analogue is not None or data.dataset == "synthbias":
        if (folder / "meta.json").is_file():
            known = class_bias_from_meta(folder)
        else:
            note = f"no SynthBias meta.json in {folder}: known bias not read (analogue=)"
    table = static_bias_table(
        acc["static"], rel, classes, known, acc_base=acc["base"], acc_new=acc["new"]
    )
    table.insert(table.columns.get_loc("relative_gain") + 1, "absolute_gain", ab)
    stats = {
        "split": split,
        "runs": {name: r.describe() for name, r in runs.items()},
        "classes": c,
        "test_videos": int(len(outs["static"]["labels"])),
        "top1": {
            name: float(np.mean(o["scores"].argmax(1) == o["labels"])) for name, o in outs.items()
        },
        "relative": pearson(table["static_top1"], rel),
        "absolute": pearson(table["static_top1"], ab),
        "paper": None if paper is None else {"r": paper[0], "p": paper[1]},
        "class_bias": known,
        "known_bias": None if known is None else pearson(table["known_bias"], table["static_top1"]),
        "note": note,
        "caution": (
            "relative gain divides by the base accuracy: a gain unrelated to static bias "
            "already gives a negative ρ; read it beside the absolute-gain ρ"
        ),
    }
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        stats["files"] = [f"static_bias.{ext}" for ext in ("csv", "json", "png", "pdf")]
        with atomic_path(out_dir / "static_bias.csv") as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
        atomic_write_json(out_dir / "static_bias.json", json_safe(stats))
        a = stats["absolute"]
        heading = title or f"Static bias (split {split}): {stats['test_videos']} test videos"
        heading += f"\nabsolute gain instead: ρ = {a['r']:.2g}, p = {a['p']:.2g}"
        plot_static_bias(table, out_dir / "static_bias", heading, paper)
    return stats
