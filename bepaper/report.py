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

# the study's metrics, in the words of `bepaper.labels`
METRICS = {k: labels.column(k) for k in ("biased_top1", "unbiased_top1", "probe_top1")}
# "+BE vs without" pairs, on the same seeds: (with BE, without BE)
BE_PAIRS = (("moco+be", "moco"), ("moco+hn+be", "moco+hn"), ("moco+hn+be", "moco"))


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
    for a, b in BE_PAIRS + (("moco", "random"),):
        if a in arms and b in arms:
            out["paired"][f"{a} vs {b}"] = {k: _paired(rows, a, b, k) for k in METRICS}
    return out


def sanity_properties(sanity: dict, rows: list[dict], summary: dict, chance: float) -> list[dict]:
    """The three properties of issue 10, each with its measured numbers and pass/fail."""
    props = []
    p = _paired(rows, "moco", "untrained", "probe_top1")
    if p is not None:
        props.append(
            {
                "property": "1. plain MoCo's frozen probe is above the untrained encoder's",
                "measured": f"{p['diff']:+.1f} points, 95% CI [{p['low']:.1f}, {p['high']:.1f}]"
                f" over {p['n']} seeds",
                "pass": bool(p["n"] >= 2 and p["low"] > 0),
            }
        )
    p = summary["paired"].get("moco vs random", {}).get("biased_top1")
    if p is not None:
        props.append(
            {
                "property": "2. fine-tuning from MoCo beats random init on the biased test",
                "measured": f"{p['diff']:+.1f} points, 95% CI [{p['low']:.1f}, {p['high']:.1f}]"
                f" over {p['n']} seeds",
                "pass": bool(p["n"] >= 2 and p["low"] > 0),
            }
        )
    if sanity:
        static_unb = sanity["static"].get("2")
        sup_unb = sanity["supervised_unbiased"].get("2")
        ok = (
            static_unb is not None
            and sup_unb is not None
            and static_unb <= chance + 0.1
            and sup_unb >= 2 * chance
        )
        props.append(
            {
                "property": "3. bias checks: static net at chance on the unbiased test "
                "(≤ chance + 10 points); net trained without bias learns the motion (≥ 2× chance)",
                "measured": f"static {_pct(static_unb)}%, without bias {_pct(sup_unb)}% "
                f"(chance {100 * chance:.1f}%)",
                "pass": bool(ok),
            }
        )
    return props


def write_study(study, sanity: dict, rows: list[dict], info: dict) -> list[Path]:
    """Write the study's result files under `study.figures`; return their paths."""
    import pandas as pd

    fig_dir = Path(study.figures)
    fig_dir.mkdir(parents=True, exist_ok=True)
    stem = study.name
    chance = 1 / info["classes"]
    escape_at = max(0.35, 2 * chance)
    summary = summarize(rows, escape_at)
    props = sanity_properties(sanity, rows, summary, chance)
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
        "sanity": sanity,
        "properties": props,
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
    plot_study(rows, sanity, png, title, chance=100 * chance)
    return [md, csv_path, runs_csv, summary_json, png]


def render_table(result: dict) -> str:
    """The study's Markdown report from its summary (as written to <name>_summary.json)."""
    info, summary = result["info"], result["summary"]
    status = "" if info.get("complete") else " (PARTIAL: the study was still running)"
    lines = [
        f"# The BE question on SynthBias `{result['study']['preset']}`{status}",
        "",
        f"Measured on {result['machine']}; seeds {info['seeds']}; this invocation took "
        f"{info['total_seconds']:.0f} s (finished runs are reused). Top-1 in %, mean ± 95% "
        f"CI over seeds (t-interval). {info['classes']} classes: chance is "
        f"{100 * info['chance']:.1f}%.",
        "",
        "## Sanity properties (decided before any BE result)",
        "",
        "| property | measured | holds |",
        "|---|---|---|",
    ]
    for p in result["properties"]:
        lines.append(f"| {p['property']} | {p['measured']} | {'yes' if p['pass'] else 'NO'} |")
    sanity = result["sanity"]
    if sanity:
        lines += [
            "",
            "| sanity net (seed " + str(info["seeds"][0]) + ") | biased test | unbiased test "
            "| motion probe |",
            "|---|---|---|---|",
        ]
        st, sb, su = sanity["static"], sanity["supervised_biased"], sanity["supervised_unbiased"]
        for name, res, probe in (
            ("static-frame net (one frame repeated), all biased labels", st, None),
            ("supervised from scratch, all biased labels", sb, sb.get("probe")),
            ("supervised from scratch, unbiased probe-train", su, su.get("probe")),
        ):
            lines.append(
                f"| {name} | {_pct(res.get('1'))} | {_pct(res.get('2'))} | {_pct(probe)} |"
            )
        lines.append(f"| untrained encoder | — | — | {_pct(sanity['untrained_probe'])} |")
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


def study_figure(rows: list[dict], sanity: dict, title: str, chance: float):
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
    per_seed_untrained = any(r["arm"] == "untrained" for r in rows)
    if sanity and sanity.get("untrained_probe") is not None and not per_seed_untrained:
        level = 100 * sanity["untrained_probe"]
        ax.axhline(level, ls="--", c="grey", lw=1)
        handles.append(Line2D([], [], ls="--", c="grey", lw=1, label="untrained encoder, probe"))
        seen.append(level)
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


def plot_study(rows: list[dict], sanity: dict, path: Path, title: str, chance: float) -> None:
    """`study_figure` written to `path` (PNG) and beside it as PDF."""
    fig = study_figure(rows, sanity, title, chance)
    fig.savefig(path, dpi=120)
    fig.savefig(path.with_suffix(".pdf"))


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
    plot_study(rows, result.get("sanity") or {}, png, title, chance=100 * info["chance"])
    return png
