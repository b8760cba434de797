"""Figures the notebooks show, and the layout rules every figure of the package follows.

Rules (`tests/test_figures.py` renders every figure function and checks them): no two texts
overlap and none leaves the canvas at the size the figure is saved; long titles are wrapped
to the width they have (`wrap`), with what comes after ' — ' (the provenance a notebook's
`caption` adds) on lines of its own; figures grow with their rows; every value axis names
its unit; error bars say what they are (`labels.errorbar_text`); a percentage axis has room
above a bar at 100 plus its error bar (`percent_top`). Words come from `bepaper.labels`.

Figures are `matplotlib.figure.Figure` objects made without pyplot (no global state): save
them with `bepaper.tables.save_figure` and show the PNG (`IPython.display.Image`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np

from bepaper import labels

CHAR_WIDTH = 0.6  # a character's mean width in DejaVu Sans, in em (generous for text)
GREY, BLUE = "#999999", "#3b75af"
PT = 1 / 72  # inches per point


def wrap(text: str, width_in: float, fontsize: float = 9) -> str:
    """`text` wrapped to lines that fit `width_in` inches at `fontsize` points; each ' — '
    starts a line (a title, then its provenance)."""
    chars = max(10, int(width_in / PT / (CHAR_WIDTH * fontsize)))
    lines = []
    for line in str(text).split("\n"):
        for part in line.split(" — "):
            lines += textwrap.wrap(part, chars, break_on_hyphens=False) or [""]
    return "\n".join(lines)


def axes_width(ax) -> float:
    """The width of `ax` in inches, from its position in the figure."""
    return ax.get_position().width * ax.figure.get_figwidth()


def set_title(ax, text: str, fontsize: float = 9, **kw) -> None:
    """An axes title wrapped to the axes' width."""
    ax.set_title(wrap(text, 0.95 * axes_width(ax), fontsize), fontsize=fontsize, **kw)


def set_suptitle(fig, text: str, fontsize: float = 9) -> None:
    """A figure title wrapped to the figure's width."""
    if text:
        fig.suptitle(wrap(text, 0.95 * fig.get_figwidth(), fontsize), fontsize=fontsize)


def percent_top(tops: Sequence[float], *, full: bool = True, cap: float = 100.0) -> float:
    """The top of a percentage axis holding bars (with their error bars) up to `tops`.
    `full`: the whole 0-100 range plus headroom; else just above the highest bar, never
    past 100 plus headroom."""
    vals = [float(v) for v in tops if v is not None and np.isfinite(v)]
    highest = max(vals, default=0.0)
    ceiling = max(cap, highest) * 1.07
    if full:
        return ceiling
    return min(ceiling, max(highest * 1.18, 5.0) + 2.0)


def new_figure(width: float, height: float):
    """A constrained-layout Figure (no pyplot) with an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def image_rows(fig, titles: Sequence[str], ncols: int, fontsize: float = 8) -> list:
    """Rows of `ncols` image axes in `fig`, each row under its own left-aligned title (a
    subfigure per row, so a long title takes height, not width from its first image).
    Returns the rows' axes, frameless and without ticks."""
    subs = fig.subfigures(len(titles), 1, squeeze=False)[:, 0]
    width = fig.get_figwidth()
    rows = []
    for sub, title in zip(subs, titles, strict=True):
        sub.suptitle(wrap(title, 0.95 * width, fontsize), x=0.01, ha="left", fontsize=fontsize)
        axes = sub.subplots(1, ncols, squeeze=False)[0]
        for ax in axes:
            ax.axis("off")
        rows.append(axes)
    return rows


def _floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


# ------------------------------------------------------------------ paper tables


def comparison_rows(d) -> list[str]:
    """Row labels of a `tables.compare` frame: 'MoCo (I3D, K400)'."""
    return [f"{row} ({bb}, {pre})" for row, bb, pre in
            zip(d["row"], d["paper backbone"], d["paper pretrain"], strict=True)]  # fmt: skip


def missing_words(paper, status, ours, cut: bool = False) -> str:
    """Why a row has no bar: 'paper: figure only', 'not in the paper', 'ours: no run' (or
    'ours: cut at this preset'), or both; '' when it has both bars."""
    words = []
    if not np.isfinite(paper):
        words.append("not in the paper" if status == "not in the paper"
                     else f"paper: {labels.status(status)}")  # fmt: skip
    if not np.isfinite(ours):
        words.append("ours: cut at this preset" if cut else "ours: no run")
    return "; ".join(words)


def comparison_bars(
    ax,
    d,
    column: str,
    title: str = "",
    *,
    legend: bool = True,
    row_labels: bool = True,
    fontsize: float | None = None,
) -> list:
    """Horizontal bars on `ax`: the paper's number (grey) and ours (blue, mean with its 95%
    CI over seeds as an error bar when there are 2 or more) per row of `d` (the rows of one
    column of a `tables.compare` frame), first row on top. Returns the legend handles."""
    from matplotlib.lines import Line2D

    n = len(d)
    y = np.arange(n)
    paper = _floats(d["paper"])
    mean = d["ours mean"].to_numpy(dtype=np.float64)
    half = d["ours ci95"].to_numpy(dtype=np.float64)
    seeds = d["seeds"].to_numpy(dtype=np.int64)
    has_ci = (seeds >= 2) & np.isfinite(half)
    hp = ax.barh(y - 0.2, paper, 0.4, color=GREY, label="paper")
    ho = ax.barh(y + 0.2, mean, 0.4, color=BLUE, label="ours (mean over seeds)")
    handles = [hp, ho]
    if has_ci.any():
        ax.errorbar(mean[has_ci], y[has_ci] + 0.2, xerr=half[has_ci], fmt="none",
                    ecolor="black", elinewidth=1, capsize=3)  # fmt: skip
    handles.append(
        Line2D([], [], color="black", marker="|", markersize=8, ls="none",
               label=labels.errorbar_text(seeds[seeds > 0].tolist() or [1]))
    )  # fmt: skip
    if fontsize is None:  # what the rows have room for
        height_pt = ax.get_position().height * ax.figure.get_figheight() / PT
        fontsize = float(np.clip(0.7 * height_pt / max(n, 1), 5, 8.5))
    ax.set_yticks(y, comparison_rows(d) if row_labels else [""] * n, fontsize=fontsize)
    if not row_labels:
        ax.tick_params(axis="y", left=False)
    ax.set_ylim(n - 0.4, -0.6)  # first row on top
    right = percent_top(np.concatenate([paper, mean + np.where(has_ci, half, 0)]))
    ax.set_xlim(0, right)
    # an empty bar slot says why it is empty, in the slot
    cut = (d["ours"] == "cut").to_numpy() if "ours" in d else np.zeros(n, dtype=bool)
    for i, (p, status, m) in enumerate(zip(paper, d["paper status"], mean, strict=True)):
        words = missing_words(p, status, m, cut=bool(cut[i]))
        if words:
            where = i if not (np.isfinite(p) or np.isfinite(m)) else i + (0.2 if np.isfinite(p)
                                                                          else -0.2)  # fmt: skip
            ax.text(0.01 * right, where, words, va="center", ha="left", color="#555555",
                    fontsize=min(fontsize, 7), style="italic")  # fmt: skip
    ax.set_xlabel(f"{column}: {labels.axis_label(column)}", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    if title:
        set_title(ax, title)
    if legend:
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1),
                  frameon=False)  # fmt: skip
    return handles


def plot_table(
    df,
    columns: Sequence[str],
    title: str = "",
    *,
    panel_titles: Mapping[str, str] | None = None,
):
    """One panel per column of a `tables.compare` frame (rows shared, labelled on the left
    panel), one legend, `title` over all. The figure grows with the rows. Returns it."""
    parts = [df[df["column"] == c] for c in columns]
    n = max((len(p) for p in parts), default=1)
    names = comparison_rows(parts[0]) if len(parts[0]) else [""]
    label_in = min(4.5, 7.5 * CHAR_WIDTH * PT * max(len(s) for s in names) + 0.2)
    width = label_in + 3.0 * len(columns) + 0.4
    fig = new_figure(width, 0.3 * n + 1.9 + 0.15 * title.count(" — "))
    axes = fig.subplots(1, len(columns), squeeze=False)[0]  # not sharey: labels per axis
    handles = []
    same_rows = all(list(p["row"]) == list(parts[0]["row"]) for p in parts)
    for i, (ax, column, d) in enumerate(zip(axes, columns, parts, strict=True)):
        handles = comparison_bars(
            ax, d, column, (panel_titles or {}).get(column, column), legend=False,
            row_labels=i == 0 or not same_rows, fontsize=7.5,
        )  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=7.5,
               frameon=False)  # fmt: skip
    set_suptitle(fig, title)
    return fig


def plot_figure5(df, title: str = ""):
    """Figure 5: the paper's and our top-1 on HMDB51 and on its actor crops, per row
    (K400 supervised, MoCo, MoCo + BE), from the notebook's `tables.compare` frame."""
    return plot_table(
        df,
        ["HMDB51", "Actor-HMDB51"],
        title,
        panel_titles={"HMDB51": "HMDB51 (whole frames)",
                      "Actor-HMDB51": "Actor-HMDB51 (cropped to the actors)"},
    )  # fmt: skip


def plot_recall(df, ks: Sequence[int], title: str = ""):
    """Table 3: recall@K against K per row of a `tables.compare` frame with columns
    'R@<k>': ours (solid, 95% CI over seeds as error bars) and the paper's (dashed)."""
    from matplotlib.lines import Line2D

    fig = new_figure(8.5, 4.2)
    ax = fig.subplots()
    seeds, handles = [], []
    for (row, bb), d in df.groupby(["row", "paper backbone"], sort=False):
        d = d.set_index("column").reindex([f"R@{k}" for k in ks])
        half = d["ours ci95"].to_numpy(dtype=np.float64)
        n = d["seeds"].fillna(0).to_numpy(dtype=np.int64)
        seeds += n[n > 0].tolist()
        err = np.where((n >= 2) & np.isfinite(half), half, np.nan)
        line = ax.errorbar(ks, d["ours mean"].to_numpy(dtype=np.float64), yerr=err, marker="o",
                           capsize=3, label=f"ours: {row} ({bb})")  # fmt: skip
        (dashed,) = ax.plot(ks, _floats(d["paper"]), ls="--", color=line[0].get_color(),
                            alpha=0.7, label=f"paper: {row} ({bb})")  # fmt: skip
        handles += [line, dashed]
    ax.set_xscale("log")
    ax.set_xticks(list(ks), [str(k) for k in ks])
    ax.minorticks_off()
    ax.set_xlabel("K (neighbours retrieved)")
    ax.set_ylabel("recall@K (%)")
    ax.set_ylim(0, percent_top([]))
    ax.grid(color="#dddddd", lw=0.6)
    names = [h.get_label() for h in handles] + [labels.errorbar_text(seeds or [1])]
    handles.append(Line2D([], [], color="black", marker="|", ls="none"))
    ax.legend(handles, names, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1),
              frameon=False)  # fmt: skip
    set_title(ax, title)
    return fig


# ------------------------------------------------------------------- bias tests


def plot_bias_tests(df, title: str = "", chance: float | None = None):
    """The bias tests per arm: top-1 (%) on the original test videos and on each bias test
    set (top), and the contrasted accuracy (below). `df` has one row per (arm, seed) with
    columns 'arm', 'seed', '<set> top-1' and 'contrasted accuracy' (in %), as the bias_tests
    notebook builds it. Bars are means over seeds, error bars their 95% t-interval (two or
    more seeds). `chance`: 100 / classes, drawn as a dotted line."""
    from matplotlib.lines import Line2D

    from bepaper.stats import mean_ci

    sets = [c for c in df.columns if c.endswith(" top-1")]
    contrast = "contrasted accuracy" if "contrasted accuracy" in df.columns else None
    arms = list(dict.fromkeys(df["arm"]))
    width = max(8.0, 1.3 * len(arms) + 3.5)
    height = (6.4 if contrast else 4.2) + 0.15 * title.count(" — ")
    fig = new_figure(width, height)
    axes = fig.subplots(2 if contrast else 1, 1, squeeze=False, sharex=True,
                        height_ratios=[2, 1] if contrast else [1])[:, 0]  # fmt: skip
    seeds = df.groupby("arm")["seed"].nunique().tolist() if "seed" in df else [1]

    def bars(ax, cols: list[str], names: list[str], colours: list[str]) -> list[float]:
        step = 0.8 / len(cols)
        tops = []
        for j, (col, name) in enumerate(zip(cols, names, strict=True)):
            cis = [mean_ci(df.loc[df["arm"] == a, col].to_numpy(dtype=np.float64)) for a in arms]
            mean = np.array([c["mean"] for c in cis])
            half = np.array([c["half"] if c["n"] >= 2 else np.nan for c in cis])
            x = np.arange(len(arms)) - 0.4 + step * (j + 0.5)
            ax.bar(x, mean, step, color=colours[j], label=name)
            ok = np.isfinite(half)
            if ok.any():
                ax.errorbar(x[ok], mean[ok], yerr=half[ok], fmt="none", ecolor="black",
                            elinewidth=1, capsize=2)  # fmt: skip
            tops += list(mean + np.nan_to_num(half))
        return tops

    ax = axes[0]
    set_names = [labels.bias_set(c[: -len(" top-1")]) for c in sets]
    tops = bars(ax, sets, set_names, [f"C{j % 10}" for j in range(len(sets))])
    if chance is not None:
        ax.axhline(chance, ls=":", c="black", lw=1)
        tops.append(1.1 * chance)
    ax.set_ylim(0, percent_top(tops, full=False))
    ax.set_ylabel("top-1 accuracy (%)")
    set_title(ax, "top-1 on each test set", fontsize=8.5)
    handles, names = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="black", marker="|", markersize=8, ls="none"))
    names.append(labels.errorbar_text(seeds))
    if chance is not None:
        handles.append(Line2D([], [], ls=":", c="black", lw=1))
        names.append(f"chance ({chance:.1f}%)")
    ax.legend(handles, names, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7.5,
              frameon=False, title="test set", title_fontsize=8)  # fmt: skip
    if contrast:
        cax = axes[1]
        tops = bars(cax, [contrast], ["contrasted accuracy"], [BLUE])
        cax.set_ylim(0, percent_top(tops, full=False))
        cax.set_ylabel(wrap("contrasted accuracy (%)", 1.6, 9))
        set_title(cax, "contrasted accuracy: right on the new background and wrong on the static "
                  "actor (recognised by the motion)", fontsize=8.5)  # fmt: skip
    per_arm = 0.8 * (width - 3.5) / max(len(arms), 1)
    axes[-1].set_xticks(np.arange(len(arms)), [wrap(labels.arm(a), per_arm, 8) for a in arms],
                        fontsize=8)  # fmt: skip
    set_suptitle(fig, title)
    return fig


# -------------------------------------------------------------------- quickstart


def plot_class_videos(videos: Mapping[str, np.ndarray], title: str = ""):
    """One row per class: its name, then frames of one of its videos (uint8 F x H x W x 3
    each, e.g. 6 evenly spaced frames)."""
    n = len(videos)
    cols = max(len(f) for f in videos.values())
    fig = new_figure(1.5 * cols, 1.7 * n + 0.5)
    rows = image_rows(fig, list(videos), cols)
    for row, frames in zip(rows, videos.values(), strict=True):
        for ax, frame in zip(row, frames, strict=False):
            ax.imshow(frame)
    set_suptitle(fig, title, fontsize=8.5)
    return fig


def plot_be_example(clip, distracted, lam: float, frame: int, title: str = ""):
    """A clip (3 x T x H x W, floats in [0, 1]) above its distracting version (BE, Eq. 1)."""
    rows = [("original clip", np.asarray(clip)),
            (f"BE: + static frame {frame}, λ = {lam}", np.asarray(distracted))]  # fmt: skip
    t = rows[0][1].shape[1]
    fig = new_figure(1.25 * t, 2 * 1.5 + 0.4)
    axes = image_rows(fig, [name for name, _ in rows], t)
    for (_, x), row in zip(rows, axes, strict=True):
        for j, ax in enumerate(row):
            ax.imshow(np.clip(np.moveaxis(x[:, j], 0, -1), 0, 1))
    set_suptitle(fig, title, fontsize=8.5)
    return fig


# -------------------------------------------------------------------- scatter labels


def label_points(ax, xs, ys, names, fontsize: float = 7) -> list:
    """Name each point of a scatter on `ax` without two names touching or one leaving the
    axes: names of points at the same place are joined into one label; each label tries
    the four corners beside its point, then steps up and down, and gets a thin leader line
    when it had to move away. Call it last (the layout is settled by a draw first); the
    labels stay out of the layout. Returns the annotations."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    def extent(ann):  # the text alone (an Annotation's own extent holds its leader line)
        ann.update_positions(renderer)
        return Text.get_window_extent(ann, renderer)

    fig = ax.figure
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    groups: dict[tuple[float, float], list[str]] = {}
    for x, y, name in zip(xs, ys, names, strict=True):
        if np.isfinite(x) and np.isfinite(y):
            groups.setdefault((float(x), float(y)), []).append(str(name))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    step = 1.3 * fontsize
    corners = [(4, 2, "left", "bottom"), (-4, 2, "right", "bottom"),
               (4, -2, "left", "top"), (-4, -2, "right", "top")]  # fmt: skip
    tries = corners + [
        (dx, dy + sign * k * step, ha, va)
        for k in range(1, 13)
        for sign in (1, -1)
        for dx, dy, ha, va in corners[:2]
    ]
    placed, out = [], []
    for (x, y), group in sorted(groups.items(), key=lambda kv: (-kv[0][1], kv[0][0])):
        ann = ax.annotate(wrap(", ".join(group), 1.8, fontsize), (x, y), xytext=(4, 2),
                          textcoords="offset points", fontsize=fontsize,
                          arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "grey",
                                      "shrinkA": 1, "shrinkB": 3})  # fmt: skip
        ann.set_in_layout(False)
        chosen = None
        for dx, dy, ha, va in tries:
            ann.set_position((dx, dy))
            ann.set_horizontalalignment(ha)
            ann.set_verticalalignment(va)
            bb = extent(ann)
            inside = (bb.x0 >= frame.x0 + 1 and bb.x1 <= frame.x1 - 1
                      and bb.y0 >= frame.y0 + 1 and bb.y1 <= frame.y1 - 1)  # fmt: skip
            if inside and not any(bb.overlaps(p.expanded(1.02, 1.1)) for p in placed):
                chosen = (dx, dy, ha, va)
                break
        if chosen is None:  # crowded: the first corner inside the axes, else the first
            chosen = corners[0]
            for dx, dy, ha, va in corners:
                ann.set_position((dx, dy))
                ann.set_horizontalalignment(ha)
                bb = extent(ann)
                if bb.x0 >= frame.x0 and bb.x1 <= frame.x1:
                    chosen = (dx, dy, ha, va)
                    break
        dx, dy, ha, va = chosen
        ann.set_position((dx, dy))
        ann.set_horizontalalignment(ha)
        ann.set_verticalalignment(va)
        ann.arrow_patch.set_visible(abs(dy) > step)
        placed.append(extent(ann))
        out.append(ann)
    return out
