"""The BE question's result files: per-run rows, a summary with confidence intervals and
paired tests, Markdown and CSV tables, and a plot. Notebooks and the README read these
files; no number is typed by hand."""

from __future__ import annotations

import io
import math
import os
import platform
from pathlib import Path

import torch

from bepaper import labels
from bepaper.runs import atomic_path, atomic_write_json, atomic_write_text
from bepaper.stats import format_ci, mean_ci, paired_test, verdict
from bepaper.tables import save_figure

# the study's metrics, in the words of `bepaper.labels`
METRICS = {k: labels.column(k) for k in ("biased_top1", "unbiased_top1", "probe_top1")}
# "+BE vs without" pairs, on the same seeds: (with BE, without BE)
BE_PAIRS = (
    ("moco+be", "moco"),
    ("moco+hn+be", "moco+hn"),
    ("moco+hn+be", "moco"),
    ("vcop+be", "vcop"),
)
# other paired comparisons reported when both arms ran: (arm, its baseline)
OTHER_PAIRS = (("moco", "random"), ("moco+hn+be+fame", "moco+hn+be"))


def machine() -> str:
    dev = (
        torch.cuda.get_device_name()
        if torch.cuda.is_available()
        else f"CPU ({platform.processor() or platform.machine()})"
    )
    return f"{dev}, {os.cpu_count()} cores, torch {torch.__version__}"


def label(arm: str) -> str:
    """An arm in reader words (`bepaper.labels.arm`)."""
    return labels.arm(arm)


def _pct(x) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _values(rows: list[dict], arm: str, key: str) -> list[float]:
    return [r.get(key) for r in sorted(rows, key=lambda r: r["seed"]) if r["arm"] == arm]


def _paired(rows: list[dict], a: str, b: str, key: str) -> dict | None:
    """Paired test of arm a vs arm b on the seeds both have (values in %)."""
    va = {r["seed"]: r.get(key) for r in rows if r["arm"] == a}
    vb = {r["seed"]: r.get(key) for r in rows if r["arm"] == b}
    seeds = sorted(s for s in set(va) & set(vb) if va[s] is not None and vb[s] is not None)
    if not seeds:
        return None
    res = paired_test([100 * va[s] for s in seeds], [100 * vb[s] for s in seeds])
    res["seeds"] = seeds
    return res


def summarize(rows: list[dict], escape_at: float) -> dict:
    """Per arm: mean ± 95% CI over seeds of every metric (in %), and the escape count (runs
    whose unbiased-test top-1 is above `escape_at`). Paired tests of each BE pair."""
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    out: dict = {"arms": {}, "paired": {}}
    for arm in arms:
        line: dict = {"seeds": len(_values(rows, arm, "biased_top1"))}
        for key in METRICS:
            vals = [100 * v for v in _values(rows, arm, key) if v is not None]
            line[key] = mean_ci(vals) if vals else None
        unb = [v for v in _values(rows, arm, "unbiased_top1") if v is not None]
        line["escapes"] = sum(v > escape_at for v in unb)
        out["arms"][arm] = line
    for a, b in BE_PAIRS + OTHER_PAIRS:
        if a in arms and b in arms:
            out["paired"][f"{a} vs {b}"] = {k: _paired(rows, a, b, k) for k in METRICS}
    return out


def ladder_table(checks: list[dict]) -> list[str]:
    """The ladder's checks as Markdown table lines (numbers in points of top-1)."""
    lines = [
        "| rung | check | asks | mean [95% CI] | min | seeds | holds |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in checks:
        ci = "—" if c["n"] < 2 else f"[{c['low']:.1f}, {c['high']:.1f}]"
        lines.append(
            f"| {c['rung']} | {c['check']} | {c['asks']} | {c['mean']:.1f} {ci} | "
            f"{c['min']:.1f} | {c['n']} | {'yes' if c['holds'] else '**no**'} |"
        )
    return lines


def write_study(study, ladder_rows: list[dict], rows: list[dict], info: dict) -> list[Path]:
    """Write the study's result files under `study.figures`; return their paths."""
    import pandas as pd

    fig_dir = Path(study.figures)
    fig_dir.mkdir(parents=True, exist_ok=True)
    stem = study.name
    chance = 1 / info["classes"]
    escape_at = max(0.35, 2 * chance)
    summary = summarize(rows, escape_at)
    from bepaper.ladder import rung_status, rungs

    checks = rungs(ladder_rows, chance) if ladder_rows else []
    seeds = sorted({r["seed"] for r in rows})
    complete = info.get("complete", False)

    runs_csv = fig_dir / f"{stem}_runs.csv"
    with atomic_path(runs_csv) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    verdicts = {}
    for pair, tests in summary["paired"].items():
        a, b = pair.split(" vs ")
        verdicts[pair] = {
            k: verdict(t, name=label(a), baseline=label(b)) if t else None for k, t in tests.items()
        }
    result = {
        "machine": machine(),
        "info": {**info, "seeds": seeds, "chance": chance, "escape_at": escape_at},
        "study": {"preset": study.synth_size, "arms": study.arms, "name": stem},
        "ladder": {
            "seeds": sorted({r["seed"] for r in ladder_rows}),
            "checks": checks,
            "holds": {str(k): v for k, v in rung_status(checks).items()},
        },
        "summary": summary,
        "verdicts": verdicts,
    }
    summary_json = fig_dir / f"{stem}_summary.json"
    atomic_write_json(summary_json, result)

    table = render_table(result)
    md = fig_dir / f"{stem}_table.md"
    atomic_write_text(md, table)
    csv_path = fig_dir / f"{stem}_table.csv"
    flat = []
    for arm, line in summary["arms"].items():
        row = {"arm": arm, "seeds": line["seeds"], "escapes": line["escapes"]}
        for key in METRICS:
            ci = line[key] or {"mean": math.nan, "half": math.nan}
            row[f"{key}_mean"], row[f"{key}_ci95"] = round(ci["mean"], 2), round(ci["half"], 2)
        flat.append(row)
    buf = io.StringIO()
    pd.DataFrame(flat).to_csv(buf, index=False)
    atomic_write_text(csv_path, buf.getvalue())
    png = fig_dir / f"{stem}_plot.png"
    title = plot_title(study.synth_size, seeds, machine(), complete)
    plot_study(rows, png, title, chance=100 * chance)
    written = [md, csv_path, runs_csv, summary_json, png]
    if ladder_rows:
        ladder_csv = fig_dir / f"{stem}_ladder.csv"
        with atomic_path(ladder_csv) as tmp:
            pd.DataFrame(ladder_rows).to_csv(tmp, index=False)
        ladder_png = fig_dir / f"{stem}_ladder.png"
        ladder_seeds = sorted({r["seed"] for r in ladder_rows})
        ladder_title = f"SynthBias {study.synth_size}: {len(ladder_seeds)} seeds — {machine()}"
        plot_ladder(ladder_rows, checks, ladder_png, ladder_title, chance=100 * chance)
        written += [ladder_csv, ladder_png]
    return written


def partial_words(info: dict) -> str:
    """What a partial study's files hold: which of its planned seeds are missing."""
    planned, seeds = info.get("planned_seeds"), info.get("seeds", [])
    if not planned:
        return "the study was still running"
    missing = [s for s in planned if s not in seeds]
    return f"{len(seeds)} of its {len(planned)} planned seeds; seeds {missing} have not finished"


def render_table(result: dict) -> str:
    """The study's Markdown report from its summary (as written to <name>_summary.json)."""
    info, summary = result["info"], result["summary"]
    status = "" if info.get("complete") else f" (PARTIAL: {partial_words(info)})"
    lines = [
        f"# The BE question on SynthBias `{result['study']['preset']}`{status}",
        "",
        f"Measured on {result['machine']}; seeds {info['seeds']}; this invocation took "
        f"{info['total_seconds']:.0f} s (finished runs are reused). Top-1 in %, mean ± 95% "
        f"CI over seeds (t-interval). {info['classes']} classes: chance is "
        f"{100 * info['chance']:.1f}%.",
        "",
        "## The ladder (rungs 0-2, fixed before any BE result; `bepaper.ladder`)",
        "",
    ]
    ladder = result.get("ladder") or {}
    if ladder.get("checks"):
        lines += [f"Seeds {ladder['seeds']}; points of top-1.", ""]
        lines += ladder_table(ladder["checks"])
    else:
        lines.append("Not climbed in this invocation (`ladder: false`).")
    lines += [
        "",
        "## Arms",
        "",
        "| arm | seeds | " + " | ".join(METRICS.values()) + f" | escapes (unbiased > "
        f"{100 * info['escape_at']:.0f}%) |",
        "|---|---|" + "---|" * (len(METRICS) + 1),
    ]
    for arm, line in summary["arms"].items():
        cells = [format_ci(line[k]["mean"], line[k]["half"]) if line[k] else "—" for k in METRICS]
        lines.append(
            f"| {label(arm)} | {line['seeds']} | "
            + " | ".join(cells)
            + f" | {line['escapes']} of {line['seeds']} |"
        )
    if result["verdicts"]:
        lines += [
            "",
            "## Paired comparisons (same seeds; sign-flip test, α = 0.05)",
            "",
            "| comparison | " + " | ".join(METRICS.values()) + " |",
            "|---|" + "---|" * len(METRICS),
        ]
        for pair, v in result["verdicts"].items():
            a, b = pair.split(" vs ")
            cells = [v[k] or "—" for k in METRICS]
            lines.append(f"| {label(a)} vs {label(b)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def study_figure(rows: list[dict], title: str, chance: float):
    """The BE question at a glance: per metric (groups) and arm (colours), every seed as a
    dot and the mean with its 95% t-interval over seeds (`stats.mean_ci`, as the tables) as
    an error bar; chance as a dotted line, and the untrained encoder's probe as a dashed one
    where it has no dots of its own. The y range follows the data (means are compared, not
    bars read from 0). Values in `rows` are fractions; `chance` is in %. Returns the Figure."""
    import numpy as np
    from matplotlib.lines import Line2D

    from bepaper import figures

    def finite(v) -> bool:
        return v is not None and math.isfinite(v)

    arms = list(dict.fromkeys(r["arm"] for r in rows))
    fig = figures.new_figure(11, 5.2 + 0.15 * title.count(" — "))
    ax = fig.subplots()
    rng = np.random.default_rng(0)  # the dots' jitter, the same on every redraw
    step = 0.8 / max(len(arms), 1)
    seen = [chance]
    handles, counts = [], set()
    for j, arm in enumerate(arms):
        colour = f"C{j % 10}"
        drawn = False
        for i, key in enumerate(METRICS):
            vals = [100 * r[key] for r in rows if r["arm"] == arm and finite(r.get(key))]
            if not vals:
                continue
            x = i - 0.4 + step * (j + 0.5)
            jitter = rng.uniform(-0.22 * step, 0.22 * step, len(vals))
            ax.scatter(x + jitter, vals, s=10, color=colour, alpha=0.45, lw=0, zorder=2)
            ci = mean_ci(vals)
            err = ci["half"] if ci["n"] >= 2 else None
            ax.errorbar(x, ci["mean"], yerr=err, fmt="o", color=colour, ms=6, capsize=4,
                        elinewidth=1.6, mec="black", mew=0.6, zorder=3)  # fmt: skip
            seen += vals + ([ci["low"], ci["high"]] if err else [])
            counts.add(ci["n"])
            drawn = True
        if drawn:
            handles.append(Line2D([], [], color=colour, marker="o", mec="black", mew=0.6,
                                  ls="none", label=label(arm)))  # fmt: skip
    ax.axhline(chance, ls=":", c="black", lw=1)
    handles.append(Line2D([], [], ls=":", c="black", lw=1, label=f"chance ({chance:.1f}%)"))
    handles.append(Line2D([], [], color="black", marker="|", markersize=9, ls="none",
                          label="dots: seeds; circle: mean;\n"
                          + labels.errorbar_text(sorted(counts) or [1])))  # fmt: skip
    lo, hi = min(seen), max(seen)
    pad = 0.08 * (hi - lo) + 1.0
    ax.set_ylim(max(0.0, lo - pad), min(100.0, hi + pad))
    ax.set_xlim(-0.5, len(METRICS) - 0.5)
    ax.set_xticks(range(len(METRICS)), list(METRICS.values()))
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(axis="y", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1),
              frameon=False)  # fmt: skip
    figures.set_suptitle(fig, title)
    return fig


def plot_study(rows: list[dict], path: Path, title: str, chance: float) -> None:
    """`study_figure` written to `path` (PNG) and beside it as PDF."""
    save_figure(study_figure(rows, title, chance), path.parent, path.stem, dpi=120)


def plot_title(preset: str, seeds: list, machine_text: str, complete: bool = True) -> str:
    """The study plot's title."""
    status = "" if complete else " (partial)"
    return f"SynthBias {preset}{status}: {len(seeds)} seeds — {machine_text}"


def redraw_plot(folder: str | Path, stem: str) -> Path:
    """Draw `<stem>_plot.png` / `.pdf` again from the study's result files in `folder`
    (`<stem>_runs.csv`, `<stem>_summary.json`): nothing is run. Returns the PNG's path."""
    import json

    import pandas as pd

    folder = Path(folder)
    result = json.loads((folder / f"{stem}_summary.json").read_text())
    runs = pd.read_csv(folder / f"{stem}_runs.csv")
    rows = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in runs.to_dict("records")
    ]
    info = result["info"]
    title = plot_title(
        result["study"]["preset"], info["seeds"], result["machine"], info.get("complete", True)
    )
    png = folder / f"{stem}_plot.png"
    plot_study(rows, png, title, chance=100 * info["chance"])
    return png


# the ladder's runs, left to right, in reader words
LADDER_ROLES = {
    "learnable": "rung 0: from scratch,\nevery unbiased label",
    "static": "rung 1: static-frame net,\nevery biased label",
    "scratch": "rung 1: from scratch,\n10 biased labels/class",
    "positive": "rung 2 +: motion init\n(rung-0 net), same labels",
    "negative": "rung 2 −: scene init\n(static net), same labels",
}


def ladder_figure(ladder_rows: list[dict], checks: list[dict], title: str, chance: float):
    """The controls at a glance: for each ladder run (groups), the biased and the unbiased
    test (colours), every seed as a dot and the mean with its 95% t-interval; chance dotted.
    The subtitle says which rungs hold. Values in `ladder_rows` are fractions; `chance` in %."""
    import numpy as np
    from matplotlib.lines import Line2D

    from bepaper import figures
    from bepaper.ladder import rung_status

    roles = [r for r in LADDER_ROLES if any(x["role"] == r for x in ladder_rows)]
    fig = figures.new_figure(11, 5.0)
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    tests = (("biased_top1", "biased test", "C1"), ("unbiased_top1", "unbiased test", "C0"))
    counts = set()
    for i, role in enumerate(roles):
        for j, (key, _, colour) in enumerate(tests):
            vals = [
                100 * r[key] for r in ladder_rows if r["role"] == role and r.get(key) is not None
            ]
            if not vals:
                continue
            x = i + (j - 0.5) * 0.34
            ax.scatter(x + rng.uniform(-0.05, 0.05, len(vals)), vals, s=12, color=colour,
                       alpha=0.5, lw=0, zorder=2)  # fmt: skip
            ci = mean_ci(vals)
            ax.errorbar(x, ci["mean"], yerr=ci["half"] if ci["n"] >= 2 else None, fmt="o",
                        color=colour, ms=7, capsize=4, mec="black", mew=0.6, zorder=3)  # fmt: skip
            counts.add(ci["n"])
    ax.axhline(chance, ls=":", c="black", lw=1)
    ax.set_xticks(range(len(roles)), [LADDER_ROLES[r] for r in roles], fontsize=8)
    ax.set_ylim(0, 104)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(axis="y", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    handles = [Line2D([], [], color=c, marker="o", mec="black", mew=0.6, ls="none", label=t)
               for _, t, c in tests]  # fmt: skip
    handles.append(Line2D([], [], ls=":", c="black", lw=1, label=f"chance ({chance:.1f}%)"))
    handles.append(Line2D([], [], color="black", marker="|", markersize=9, ls="none",
                          label="dots: seeds; circle: mean;\n"
                          + labels.errorbar_text(sorted(counts) or [1])))  # fmt: skip
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1),
              frameon=False)  # fmt: skip
    status = rung_status(checks)
    held = "; ".join(f"rung {k} {'holds' if v else 'FAILS'}" for k, v in sorted(status.items()))
    figures.set_suptitle(fig, f"The ladder: {held} — {title}")
    return fig


def plot_ladder(ladder_rows, checks, path: Path, title: str, chance: float) -> None:
    """`ladder_figure` written to `path` (PNG) and beside it as PDF."""
    save_figure(ladder_figure(ladder_rows, checks, title, chance), path.parent, path.stem, dpi=120)
