"""Tables (Markdown and CSV) and plots of measured results."""

from __future__ import annotations

import csv
import io
import platform
import statistics
from pathlib import Path

import torch

from bepaper.runs import atomic_write_json, atomic_write_text

METRICS = {
    "biased_top1": "fine-tuned top-1, biased test",
    "unbiased_top1": "fine-tuned top-1, unbiased test",
    "pretrain_probe_top1": "motion probe top-1 (frozen pretrained)",
    "probe_top1": "motion probe top-1 (fine-tuned)",
}
LABELS = {"moco": "MoCo", "moco_hn": "MoCo + hard negatives", "moco_be": "MoCo+BE (Eq. 7)"}


def mean_std(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def summarize(rows: list[dict]) -> list[dict]:
    """One line per method: mean and std over seeds of every metric, in percent."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        line = {"method": method, "seeds": len(mine)}
        for key in METRICS:
            m, s = mean_std([r[key] for r in mine])
            line[key] = (100 * m, 100 * s)
        out.append(line)
    return out


def machine() -> str:
    dev = (
        torch.cuda.get_device_name()
        if torch.cuda.is_available()
        else f"CPU ({platform.processor() or platform.machine()})"
    )
    import os

    return f"{dev}, {os.cpu_count()} cores, torch {torch.__version__}"


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def write_study(study, sanity: dict, rows: list[dict], info: dict) -> list[Path]:
    """Write the study's table (Markdown + CSV), raw rows (JSON) and plot under
    `study.figures`. `info` holds timing, the number of classes and whether the study is
    complete. Returns the paths written."""
    fig_dir = Path(study.figures)
    fig_dir.mkdir(parents=True, exist_ok=True)
    stem = f"synthbias_{study.synth_preset}"
    summary = summarize(rows)
    status = "" if info.get("complete") else " (PARTIAL: the study was still running)"
    run_seconds = sum(r["pretrain_seconds"] + r["finetune_seconds"] for r in rows)
    lines = [
        f"# SynthBias `{study.synth_preset}`: MoCo vs MoCo+BE{status}",
        "",
        f"Measured on {machine()}; seeds {sorted({r['seed'] for r in rows})}; "
        f"pretraining + fine-tuning took {run_seconds:.0f} s in the run folders; this "
        f"invocation took {info['total_seconds']:.0f} s (finished runs are reused).",
        f"Top-1 in %, mean ± std over seeds. {info['classes']} classes: chance is "
        f"{100 / info['classes']:.1f}%.",
        "",
        "| method | " + " | ".join(METRICS.values()) + " |",
        "|---|" + "---|" * len(METRICS),
    ]
    for line in summary:
        cells = [f"{line[k][0]:.1f} ± {line[k][1]:.1f}" for k in METRICS]
        lines.append(
            f"| {LABELS.get(line['method'], line['method'])} | " + " | ".join(cells) + " |"
        )
    if sanity:
        lines += [
            "",
            f"## Sanity checks of the benchmark (seed {study.seeds[0]})",
            "",
            "| check | biased test | unbiased test | motion probe |",
            "|---|---|---|---|",
        ]
        st, sb, su = sanity["static"], sanity["supervised_biased"], sanity["supervised_unbiased"]
        checks = [
            ("static-frame net (one frame repeated), trained on biased train", st, None),
            ("supervised from scratch on biased train", sb, sb.get("probe")),
            ("supervised from scratch on unbiased probe-train", su, su.get("probe")),
        ]
        for name, res, probe in checks:
            cells = [_pct(res.get("1")), _pct(res.get("2")), _pct(probe)]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append(f"| untrained encoder | — | — | {_pct(sanity['untrained_probe'])} |")
    md = fig_dir / f"{stem}_table.md"
    atomic_write_text(md, "\n".join(lines) + "\n")
    csv_path = fig_dir / f"{stem}_table.csv"
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["method", "seeds", *[f"{k}_mean" for k in METRICS], *[f"{k}_std" for k in METRICS]])
    for line in summary:
        w.writerow(
            [
                line["method"],
                line["seeds"],
                *[f"{line[k][0]:.2f}" for k in METRICS],
                *[f"{line[k][1]:.2f}" for k in METRICS],
            ]
        )
    atomic_write_text(csv_path, buf.getvalue())
    raw = fig_dir / f"{stem}_results.json"
    atomic_write_json(raw, {"machine": machine(), "info": info, "sanity": sanity, "rows": rows})
    png = fig_dir / f"{stem}_plot.png"
    plot_study(
        rows,
        sanity,
        png,
        f"SynthBias {study.synth_preset} — {machine()}",
        chance=100 / info["classes"],
    )
    return [md, csv_path, raw, png]


def plot_study(rows: list[dict], sanity: dict, path: Path, title: str, chance: float) -> None:
    """Bars (mean ± std) per method and metric, seeds as dots; chance and the untrained
    encoder's probe as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    keys = ["biased_top1", "unbiased_top1", "pretrain_probe_top1"]
    pairs = [(r, k) for r in rows for k in keys if r[k] is not None]
    data = {
        "method": [LABELS.get(r["method"], r["method"]) for r, _ in pairs],
        "metric": [METRICS[k] for _, k in pairs],
        "top-1 (%)": [100 * r[k] for r, k in pairs],
    }
    fig, ax = plt.subplots(figsize=(9, 4.5))
    sns.barplot(data=data, x="metric", y="top-1 (%)", hue="method", errorbar="sd", ax=ax, alpha=0.8)
    sns.stripplot(
        data=data,
        x="metric",
        y="top-1 (%)",
        hue="method",
        dodge=True,
        ax=ax,
        palette="dark:black",
        size=3,
        legend=False,
    )
    if sanity and sanity.get("untrained_probe") is not None:
        ax.axhline(
            100 * sanity["untrained_probe"],
            ls="--",
            c="grey",
            lw=1,
            label="untrained encoder, probe",
        )
    ax.axhline(chance, ls=":", c="black", lw=1, label="chance")
    ax.set_ylim(0, 100)
    ax.set_xlabel("")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
