"""The paper's tables with our numbers beside its own.

Each table cell that bepaper can run is a `Cell`: its config file under `configs/paper/`
and where the paper prints it (row, backbone, pretraining set), so `bepaper.paper.lookup`
finds the paper's number. `compare` turns measured rows (one per cell, column and seed)
into the table a notebook shows: the paper's value, ours as mean ± 95% CI over seeds, the
data and backbone that actually ran, and the seeds. `write_table` saves it as Markdown and
CSV with the machine and preset named.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

from bepaper import paper
from bepaper.errors import ConfigError
from bepaper.runs import atomic_path, atomic_write_text
from bepaper.stats import format_ci, mean_ci


@dataclass(frozen=True)
class Cell:
    config: str  # relative to configs/paper/
    row: str  # the paper's row label (bepaper.paper)
    backbone: str  # as the paper prints it
    pretrain: str  # as the paper prints it

    @property
    def key(self) -> str:
        """The row's name: its config's stem ('moco_be_i3d_k400'), or 'reference:random'."""
        return self.config if self.config.startswith("reference:") else Path(self.config).stem


class Rows(tuple):
    """A table's rows in the paper's order, looked up by key (`TABLE1["moco_be_i3d_k400"]`),
    never by position: reordering a table cannot change what a figure compares."""

    def __getitem__(self, key):
        if not isinstance(key, str):
            raise TypeError(f"rows are looked up by key, not by position; keys: {self.keys()}")
        for cell in self:
            if cell.key == key:
                return cell
        raise KeyError(f"no row '{key}'; rows: {self.keys()}")

    def keys(self) -> list[str]:
        return [c.key for c in tuple.__iter__(self)]


TABLE1 = Rows(
    (
        Cell("table1/rotnet_c3d_k400.yaml", "3D RotNet", "C3D", "K400"),
        Cell("table1/rotnet_be_c3d_k400.yaml", "3D RotNet + BE", "C3D", "K400"),
        Cell("table1/puzzle_c3d_ucf101.yaml", "ST Puzzles", "C3D", "UCF101"),
        Cell("table1/puzzle_be_c3d_ucf101.yaml", "ST Puzzles + BE", "C3D", "UCF101"),
        Cell("table1/vcop_c3d_ucf101.yaml", "Clip Order", "C3D", "UCF101"),
        Cell("table1/vcop_be_c3d_ucf101.yaml", "Clip Order + BE", "C3D", "UCF101"),
        Cell("table1/moco_c3d_ucf101.yaml", "MoCo", "C3D", "UCF101"),
        Cell("table1/moco_be_c3d_ucf101.yaml", "MoCo + BE", "C3D", "UCF101"),
        Cell("table1/moco_i3d_k400.yaml", "MoCo", "I3D", "K400"),
        Cell("table1/moco_be_i3d_k400.yaml", "MoCo + BE", "I3D", "K400"),
        Cell("table1/moco_be_i3d_ucf101.yaml", "MoCo + BE", "I3D", "UCF101"),
        Cell("table1/moco_be_r3d34_ucf101.yaml", "MoCo + BE", "R3D", "UCF101"),
        Cell("table1/moco_be_r3d34_k400.yaml", "MoCo + BE", "R3D", "K400"),
    )
)
TABLE2 = Rows(
    (
        Cell("table2/moco_be_i3d_diving48.yaml", "MoCo + BE", "I3D", "Diving48"),
        Cell("table2/moco_be_r3d18_ucf101.yaml", "MoCo + BE", "R3D-18", "UCF101"),
        Cell("table2/moco_i3d_ucf101.yaml", "MoCo", "I3D", "UCF101"),
        Cell("table2/moco_be_i3d_ucf101.yaml", "MoCo + BE", "I3D", "UCF101"),
        Cell("table2/moco_i3d_k400.yaml", "MoCo", "I3D", "K400"),
        Cell("table2/moco_be_i3d_k400.yaml", "MoCo + BE", "I3D", "K400"),
    )
)
TABLE3 = Rows(
    (
        Cell("table1/moco_c3d_ucf101.yaml", "MoCo", "C3D", "UCF101"),
        Cell("table1/moco_be_c3d_ucf101.yaml", "MoCo + BE", "C3D", "UCF101"),
        Cell("table1/moco_be_i3d_ucf101.yaml", "MoCo + BE", "I3D", "UCF101"),
        Cell("table2/moco_be_r3d18_ucf101.yaml", "MoCo + BE", "R3D", "UCF101"),
    )
)
TABLE4 = Rows(
    (
        Cell("table4/baseline.yaml", "baseline", "I3D", "UCF101"),
        Cell("table4/gaussian_noise.yaml", "Gaussian Noise", "I3D", "UCF101"),
        Cell("table4/video_mixup.yaml", "Video Mixup", "I3D", "UCF101"),
        Cell("table4/video_cutmix.yaml", "Video CutMix", "I3D", "UCF101"),
        Cell("table4/inter_video_frame.yaml", "Inter-Video Frame", "I3D", "UCF101"),
        Cell("table4/intra_video_frame.yaml", "Intra-Video Frame", "I3D", "UCF101"),
        Cell("table4/fame.yaml", "FAME (not in the paper)", "I3D", "UCF101"),
    )
)


def paper_value(table: str, cell: Cell, column: str) -> tuple[float | None, str]:
    """The paper's number for a cell and column, and its status ('read', 'recovered',
    'garbled', ...). (None, 'not in the paper') when the paper has no such cell."""
    try:
        e = paper.lookup(table, cell.row, column, backbone=cell.backbone, pretrain=cell.pretrain)
    except ConfigError:
        return None, "not in the paper"
    return e.value, e.status


def compare(rows, table: str, cells, columns, *, labels: dict | None = None, cut=()):
    """One line per (cell, column): the paper's value beside ours (mean ± 95% CI over the
    seeds that exist). `rows` is a DataFrame (or list of dicts) with columns config, column,
    seed, value (in %), backbone (what ran), data (what ran). Missing runs show as '—'; a
    cell whose config is in `cut` (the rows a preset does not run, `Preset.cut`) as 'cut'."""
    import pandas as pd

    df = pd.DataFrame(rows)
    out = []
    first_of: dict[frozenset, str] = {}  # the runs of a (cell, column) → the first row naming them
    for cell in cells:
        for column in columns:
            p, status = paper_value(table, cell, column)
            mine = df[(df["config"] == cell.config) & (df["column"] == column)] if len(df) else df
            runs = frozenset(mine["finetune_run"]) if "finetune_run" in mine else frozenset()
            me = f"{(labels or {}).get(cell.config, cell.row)} ({cell.backbone}, {cell.pretrain})"
            same = first_of.setdefault(runs, me) if runs else me
            same = "" if same == me else same
            vals = [v for v in mine.get("value", []) if v is not None and not math.isnan(v)]
            ci = mean_ci(vals) if vals else None
            out.append(
                {
                    "row": (labels or {}).get(cell.config, cell.row),
                    "paper backbone": cell.backbone,
                    "paper pretrain": cell.pretrain,
                    "column": column,
                    "paper": p,
                    "paper status": status,
                    "ours": format_ci(ci["mean"], ci["half"])
                    if ci
                    else ("cut" if cell.config in cut else "—"),
                    "ours mean": ci["mean"] if ci else math.nan,
                    "ours ci95": ci["half"] if ci else math.nan,
                    "seeds": ci["n"] if ci else 0,
                    "our data": ", ".join(sorted(set(mine.get("data", [])))) if len(mine) else "",
                    "our backbone": ", ".join(sorted(set(mine.get("backbone", []))))
                    if len(mine)
                    else "",
                    "config": f"configs/paper/{cell.config}",
                    "same runs as": same,
                }
            )
    return pd.DataFrame(out)


def to_markdown(df, title: str, notes: list[str] = (), below: str = "") -> str:
    """A table as Markdown (pandas' own renderer needs tabulate; this does not): the title,
    `notes`, the table, then `below` (the line saying what the columns mean)."""
    cols = list(df.columns)
    lines = [f"# {title}", "", *[f"{n}" for n in notes], "" if notes else ""]
    lines += ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if v is None:
                v = "—"
            elif isinstance(v, float):
                v = "—" if math.isnan(v) else (f"{v:.2g}" if 0 < abs(v) < 1 else f"{v:.1f}")
            cells.append(str(v).replace("|", "/"))
        lines.append("| " + " | ".join(cells) + " |")
    if below:
        lines += ["", below]
    return "\n".join(lines) + "\n"


MARKDOWN_HIDDEN = ("ours mean", "ours ci95", "config", "init", "finetune_run")


def write_table(
    df, folder: str | Path, stem: str, title: str, notes: list[str] = (), seeds=None
) -> list[Path]:
    """`<folder>/<stem>.md` (the readable columns, in reader words, with a line under the
    table saying what they mean, the seeds and what ± is: `labels.table_note`) and `.csv`
    (every column, code names), written atomically. `seeds`: the seeds the table is over
    (default: the values of its 'seed' column, if any). Returns the paths."""
    from bepaper import labels

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    md, csv = folder / f"{stem}.md", folder / f"{stem}.csv"
    shown = df[[c for c in df.columns if c not in MARKDOWN_HIDDEN]]
    if seeds is None and "seed" in df.columns:
        seeds = list(df["seed"])
    below = labels.table_note(
        list(shown.columns),
        seeds=seeds,
        statuses=list(df["paper status"]) if "paper status" in df.columns else (),
        paired="comparison" in df.columns,
    )
    text = to_markdown(labels.for_reader(shown), title, [n for n in notes if n], below)
    atomic_write_text(md, text)
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    atomic_write_text(csv, buf.getvalue())
    return [md, csv]


def save_figure(fig, folder: str | Path, stem: str, dpi: int = 130) -> list[Path]:
    """A matplotlib figure as PNG and PDF under `folder`, cropped to what it draws with a
    margin, each written atomically (a reader never sees half a file)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.png", folder / f"{stem}.pdf"]
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix[1:], dpi=dpi, bbox_inches="tight", pad_inches=0.2)
    return paths


def effects(rows, table: str, pairs, columns):
    """BE's effect, the paper's beside ours: for each (without, with) pair of cells and each
    column, the paper's difference and ours (paired over seeds: mean ± 95% CI and the
    sign-flip p when there are several), and whether the directions agree."""
    import pandas as pd

    from bepaper.stats import paired_test, verdict

    df = pd.DataFrame(rows)
    out = []
    for base, new in pairs:
        # the label says what differs: rows that repeat (MoCo + BE vs MoCo) stay apart
        where_new, where_base = (
            f"{new.backbone}, {new.pretrain}",
            f"{base.backbone}, {base.pretrain}",
        )
        if where_new == where_base:
            name = f"{new.row} vs {base.row} ({where_new})"
        else:
            name = f"{new.row} ({where_new}) vs {base.row} ({where_base})"
        for column in columns:
            pb, sb = paper_value(table, base, column)
            pn, sn = paper_value(table, new, column)
            paper_diff = None if pb is None or pn is None else round(pn - pb, 1)
            # the status of the side with no number, else the less plain of the two
            missing = [s for p, s in ((pb, sb), (pn, sn)) if p is None]
            status = missing[0] if missing else next((s for s in (sb, sn) if s != "read"), "read")
            line = {"comparison": name, "column": column, "paper": paper_diff,
                    "paper status": status}  # fmt: skip
            if len(df):
                a = df[(df["config"] == new.config) & (df["column"] == column)]
                b = df[(df["config"] == base.config) & (df["column"] == column)]
                seeds = sorted(set(a["seed"]) & set(b["seed"]))
            else:
                seeds = []
            if seeds:
                va = [float(a[a["seed"] == s]["value"].iloc[0]) for s in seeds]
                vb = [float(b[b["seed"] == s]["value"].iloc[0]) for s in seeds]
                t = paired_test(va, vb)
                line["ours"] = (
                    format_ci(t["diff"], t["half"]) if len(seeds) > 1 else f"{t['diff']:+.1f}"
                )
                line["seeds"] = len(seeds)
                line["verdict"] = verdict(t, name=new.row, baseline=base.row)
                line["same direction"] = (
                    None if paper_diff is None or t["diff"] == 0 or paper_diff == 0
                    else bool((t["diff"] > 0) == (paper_diff > 0))
                )  # fmt: skip
            else:
                line.update(ours="—", seeds=0, verdict="no runs", **{"same direction": None})
            out.append(line)
    return pd.DataFrame(out)


def plot_comparison(df, column: str, title: str, ax=None):
    """Horizontal bars, one pair per row: the paper's number and ours (mean, with its 95%
    CI over seeds as an error bar where there are 2 or more), for one column; a row the
    paper has no number for says why in its label. Without `ax`, a pyplot figure sized by
    the rows. `bepaper.figures.plot_table` draws several columns side by side."""
    from bepaper import figures

    d = df[df["column"] == column]
    if ax is None:
        import matplotlib.pyplot as plt

        longest = max((len(s) for s in figures.comparison_rows(d)), default=10)
        size = (min(4.5, 0.045 * longest + 0.2) + 5.5, 0.3 * len(d) + 1.6)
        _, ax = plt.subplots(figsize=size, layout="constrained")
    if ax.figure.get_layout_engine() is None:  # room for the labels and the legend
        ax.figure.set_layout_engine("constrained")
    figures.comparison_bars(ax, d, column, title)
    return ax


# The paper's reference rows that run here (random init, supervised pretraining on the
# pretraining set), per table; `bepaper.experiments.reference_rows` makes their runs.
REFERENCES = {
    "table1": (
        Cell("reference:random", "Random Init", "I3D", "none"),
        Cell("reference:supervised", "K400 Supervised", "I3D", "K400"),
    ),
    "table2": (
        Cell("reference:random", "R(2+1)D", "R(2+1)D", "none"),
        Cell("reference:supervised", "I3D", "I3D", "K400"),
    ),
}


# (without BE, with BE) pairs whose difference is BE's effect
def _pairs(rows: Rows, *keys: tuple[str, str]) -> tuple[tuple[Cell, Cell], ...]:
    return tuple((rows[a], rows[b]) for a, b in keys)


TABLE1_PAIRS = _pairs(
    TABLE1,
    ("rotnet_c3d_k400", "rotnet_be_c3d_k400"),
    ("puzzle_c3d_ucf101", "puzzle_be_c3d_ucf101"),
    ("vcop_c3d_ucf101", "vcop_be_c3d_ucf101"),
    ("moco_c3d_ucf101", "moco_be_c3d_ucf101"),
    ("moco_i3d_k400", "moco_be_i3d_k400"),
)
TABLE2_PAIRS = _pairs(
    TABLE2, ("moco_i3d_ucf101", "moco_be_i3d_ucf101"), ("moco_i3d_k400", "moco_be_i3d_k400")
)
TABLE4_PAIRS = _pairs(TABLE4, *(("baseline", c.key) for c in TABLE4 if c.key != "baseline"))
NOTE_SYNTHETIC = (
    "SynthBias: UCF101 and Kinetics-400 → the UCF101-like analogue, HMDB51 → HMDB51-like, "
    "Diving48 → Diving48-like; every backbone → the BE question's backbone, so rows that "
    "differ only in backbone or pretraining set are the same runs (column 'same runs as'). "
    "'(split 2)' columns: "
    "the unbiased test list (background independent of the class), which the paper has not."
)
