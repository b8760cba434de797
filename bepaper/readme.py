"""The numbers in README.md and docs/results.md come from result files, not from typing.

Each generated block sits between `<!-- bepaper:NAME -->` and `<!-- /bepaper:NAME -->`.
`update(path)` rewrites every block from the files under `figures/`; `stale(path)` lists
the blocks that differ from what the files say (a test keeps them in step).

Blocks:
  verdict     the BE question over 10 seeds: the plain sentence, then the table
  verdict3    what `make reproduce` measures (3 seeds) beside it
  ladder      the ladder's rungs 0-2 (bepaper.ladder): each check, its numbers, held or not
  candidates  the protocol search's candidates, each with its rung numbers (docs/calibration/)
  tables      each paper table: the paper's number and ours, from figures/synthetic/*.csv
  timing      the measured time of `make reproduce`, per notebook
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from bepaper.report import METRICS, label, partial_words, render_table
from bepaper.runs import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
FIGURES = REPO / "figures"
VERDICT = "be_question_verdict_summary.json"
REPRODUCE = "synthetic/be_question_cpu_summary.json"


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _missing(path: str) -> str:
    return f"*Not measured yet: `{path}` does not exist.*"


# the "+BE vs without" pairs the README's verdict reads (bepaper.report.BE_PAIRS)
VERDICT_PAIRS = ("moco+be vs moco", "moco+hn+be vs moco+hn", "vcop+be vs vcop")


def _sentences(summary: dict) -> list[str]:
    """The BE verdicts in plain words, one line per comparison and metric."""
    lines = []
    for pair in VERDICT_PAIRS:
        v = summary["verdicts"].get(pair)
        if not v:
            continue
        a, b = pair.split(" vs ")
        for key, name in METRICS.items():
            if v.get(key):
                lines.append(f"- **{label(a)} vs {label(b)}, {name}:** {v[key]}.")
    return lines


def block_verdict(figures: Path = FIGURES) -> str:
    s = _load(figures / VERDICT)
    if s is None:
        return _missing(f"figures/{VERDICT}")
    n = len(s["info"]["seeds"])
    partial = "" if s["info"].get("complete") else f"**Partial: {partial_words(s['info'])}.** "
    head = [
        f"{partial}Measured by `bepaper study` on {s['machine']}, {n} seeds, SynthBias "
        f"`{s['study']['preset']}` ({s['info']['classes']} classes, chance "
        f"{100 * s['info']['chance']:.1f}%). Paired over seeds, sign-flip test, α = 0.05:",
        "",
        *_sentences(s),
        "",
        _reading(s),
    ]
    return "\n".join(head)


def _reading(s: dict) -> str:
    """How far the verdicts can be read, computed from the summary: how many tests crossed
    α, how many false positives that many tests make by chance, which rungs of the ladder
    failed."""
    tests = [
        t for pair in VERDICT_PAIRS for t in (s["summary"]["paired"].get(pair) or {}).values() if t
    ]
    hits = sum(t["perm_p"] < 0.05 for t in tests)
    up = sum(t["perm_p"] < 0.05 and t["diff"] > 0 for t in tests)
    holds = (s.get("ladder") or {}).get("holds") or {}
    failed = [k for k, v in sorted(holds.items()) if not v]
    text = (
        f"**Reading.** {hits} of these {len(tests)} comparisons "
        f"{'crosses' if hits == 1 else 'cross'} p < 0.05; "
        f"{len(tests)} tests at α = 0.05 make about {0.05 * len(tests):.1f} such crossings by "
        "chance alone."
    )
    if not holds:
        text += " The ladder was not climbed with these runs, so nothing here is evidence."
    elif failed:
        text += (
            f" Rung{'' if len(failed) == 1 else 's'} {', '.join(failed)} of the ladder did not "
            "hold, so none of this is evidence that BE helps or hurts: "
            "**BE's effect is not shown on SynthBias at this size.**"
        )
    elif hits == 0:
        text += " **BE did not help here.**"
    else:
        text += (
            f" Of the {hits}, BE is higher in {up} and lower in {hits - up}: where it is lower, "
            "**BE did not help there**."
            if hits - up
            else f" In all {hits}, BE is higher."
        )
    return text


def block_ladder(figures: Path = FIGURES) -> str:
    s = _load(figures / VERDICT)
    if s is None:
        return _missing(f"figures/{VERDICT}")
    from bepaper.report import ladder_table

    ladder = s.get("ladder") or {}
    if not ladder.get("checks"):
        return _missing(f"the ladder in figures/{VERDICT}")
    head = (
        f"Measured by `bepaper study` on {s['machine']}, seeds {ladder['seeds']}, points of "
        f"top-1 (chance {100 * s['info']['chance']:.1f}%):"
    )
    return "\n".join([head, "", *ladder_table(ladder["checks"])])


def block_candidates(figures: Path = FIGURES) -> str:
    """Every candidate of the protocol search with its rung numbers: the exploratory runs in
    docs/calibration/candidates.csv (not all rungs, not all seeds), then the chosen protocol's
    ladder from the verdict's result files."""
    import csv

    from bepaper.ladder import rungs

    path = REPO / "docs" / "calibration" / "candidates.csv"
    if not path.is_file():
        return _missing("docs/calibration/candidates.csv")
    found: dict[str, list[dict]] = {}
    for r in csv.DictReader(path.open()):
        row = {**r, "seed": int(r["seed"])}
        for k in ("biased_top1", "unbiased_top1"):
            row[k] = float(r[k])
        found.setdefault(r["candidate"], []).append(row)
    s = _load(figures / VERDICT)
    chance = s["info"]["chance"] if s else 1 / 6
    lines = [
        "| candidate | check | mean | min | seeds | holds |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows in found.items():
        for c in rungs(rows, chance):
            lines.append(
                f"| {name} (exploratory) | {c['rung']}: {c['check']} | {c['mean']:.1f} | "
                f"{c['min']:.1f} | {c['n']} | {'yes' if c['holds'] else '**no**'} |"
            )
    for c in ((s or {}).get("ladder") or {}).get("checks", []):
        lines.append(
            f"| {s['study']['preset']} as shipped (`bepaper study`) | {c['rung']}: {c['check']} "
            f"| {c['mean']:.1f} | {c['min']:.1f} | {c['n']} | {'yes' if c['holds'] else '**no**'} |"
        )
    return "\n".join(lines)


def block_verdict_table(figures: Path = FIGURES) -> str:
    s = _load(figures / VERDICT)
    if s is None:
        return _missing(f"figures/{VERDICT}")
    table = render_table(s)
    return table.split("\n", 2)[2].strip()  # without the title line


def block_verdict3(figures: Path = FIGURES) -> str:
    s = _load(figures / REPRODUCE)
    if s is None:
        return _missing(f"figures/{REPRODUCE}")
    lines = [
        f"`make reproduce` runs the same protocol with seeds {s['info']['seeds']} (on "
        f"{s['machine']}); the seeds it shares with the verdict are the same runs:",
        "",
        "| arm | " + " | ".join(METRICS.values()) + " |",
        "|---|" + "---|" * len(METRICS),
    ]
    from bepaper.stats import format_ci

    for arm, line in s["summary"]["arms"].items():
        cells = [format_ci(line[k]["mean"], line[k]["half"]) if line[k] else "—" for k in METRICS]
        lines.append(f"| {label(arm)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


TABLES = {
    "table1": ("Table 1 (UCF101, HMDB51)", ("UCF101", "HMDB51")),
    "table2": ("Table 2 (Diving48)", ("Diving48",)),
    "table3": ("Table 3 (retrieval on HMDB51)", ("R@1", "R@5", "R@50")),
    "table4": ("Table 4 (distracting-video variants)", ("UCF101", "HMDB51")),
    "figure5": ("Figure 5 (actor-cropped HMDB51)", ("HMDB51", "Actor-HMDB51")),
}


def block_tables(figures: Path = FIGURES, preset: str = "synthetic") -> str:
    import pandas as pd
    import yaml

    presets = REPO / "configs" / "presets" / f"{preset}.yaml"
    cut = set(yaml.safe_load(presets.read_text()).get("cut", [])) if presets.is_file() else set()
    out = []
    for stem, (title, columns) in TABLES.items():
        path = figures / preset / f"{stem}.csv"
        if not path.is_file():
            out.append(f"- {title}: {_missing(f'figures/{preset}/{stem}.csv')}")
            continue
        df = pd.read_csv(path)
        df = df[df["column"].isin(columns)]
        cells = []
        for (row, bb, pre), d in df.groupby(
            ["row", "paper backbone", "paper pretrain"], sort=False, dropna=False
        ):
            config = str(d["config"].iloc[0]).removeprefix("configs/paper/")
            if config in cut:
                why = f"not run: cut from preset {preset} (README, what `make reproduce` cuts)"
                cells.append(f"{row} ({bb}, {pre}): {why}")
                continue
            pairs = []
            for c in columns:
                r = d[d["column"] == c]
                if len(r):
                    paper = r["paper"].iloc[0]
                    paper = "—" if isinstance(paper, float) and math.isnan(paper) else paper
                    pairs.append(f"{c} {paper} / {r['ours'].iloc[0]}")
            cells.append(f"{row} ({bb}, {pre}): " + "; ".join(pairs))
        out.append(f"- **{title}**, paper / ours (`figures/{preset}/{stem}.md`):")
        out.extend(f"  - {c}" for c in cells)
    return "\n".join(out)


def block_timing(figures: Path = FIGURES, preset: str = "synthetic") -> str:
    """The measured `make reproduce`: from timing.csv (the last call that trained runs, with
    its install), and the last redraw (a call that reused every run) where there is one."""
    path = figures / preset / "timing.csv"
    if not path.is_file():
        return _missing(f"figures/{preset}/timing.csv")
    import pandas as pd

    def minutes(seconds: int) -> str:
        return f"{seconds // 60} min {seconds % 60} s"

    t = pd.read_csv(path)
    total = int(t["seconds"].sum())
    rows = t[~t["notebook"].isin(["install", "plan"])]
    install = t.loc[t["notebook"] == "install", "seconds"]
    plan = t[t["notebook"] == "plan"]
    parts = ", ".join(f"{r.notebook} {int(r.seconds)} s" for r in rows.itertuples())
    text = f"`make reproduce` (preset {preset}) took {minutes(total)} on {t['machine'].iloc[0]}"
    if len(install):
        text += f": the install {int(install.iloc[0])} s, then"
    else:
        text += " (the install not included):"
    if len(plan):
        p = plan.iloc[0]
        runs = f", {int(p['new_runs'])} runs" if "new_runs" in plan else ""
        text += f" the runs ({minutes(int(p['seconds']))}{runs}, `bepaper plan --jobs`), then"
    text += f" the notebooks: {parts}."
    if "new_runs" in t:
        text += f" It trained {int(t['new_runs'].sum())} runs."
    redraw = figures / preset / "timing_redraw.csv"
    if redraw.is_file():
        r = pd.read_csv(redraw)
        text += (
            f" A second call, reusing every run, took {minutes(int(r['seconds'].sum()))}"
            f" (`figures/{preset}/timing_redraw.csv`)."
        )
    return text


BLOCKS = {
    "verdict": block_verdict,
    "ladder": block_ladder,
    "candidates": block_candidates,
    "verdict-table": block_verdict_table,
    "verdict3": block_verdict3,
    "tables": block_tables,
    "timing": block_timing,
}
_BLOCK = re.compile(r"(<!-- bepaper:([\w-]+) -->\n)(.*?)(\n<!-- /bepaper:\2 -->)", re.S)


def render(text: str, figures: Path = FIGURES) -> str:
    """`text` with every generated block rewritten from the result files."""

    def fill(m: re.Match) -> str:
        name = m.group(2)
        if name not in BLOCKS:
            return m.group(0)
        return m.group(1) + BLOCKS[name](figures) + m.group(4)

    return _BLOCK.sub(fill, text)


def stale(path: str | Path, figures: Path = FIGURES) -> list[str]:
    """Names of the blocks of `path` that differ from what the result files say."""
    text = Path(path).read_text()
    new = render(text, figures)
    old_blocks = {m.group(2): m.group(3) for m in _BLOCK.finditer(text)}
    new_blocks = {m.group(2): m.group(3) for m in _BLOCK.finditer(new)}
    return [k for k in old_blocks if old_blocks[k] != new_blocks.get(k)]


def update(path: str | Path, figures: Path = FIGURES) -> bool:
    """Rewrite the generated blocks of `path`; True when something changed."""
    path = Path(path)
    text = path.read_text()
    new = render(text, figures)
    if new != text:
        atomic_write_text(path, new)
    return new != text
