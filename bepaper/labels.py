"""The words a reader sees: one mapping from code names to them, for every table, legend
and axis.

Kinds of names, each with its function:
    arm        a pretraining arm as the study spells it: a method and '+' switches
               ('moco+hn+be'), or 'random' / 'untrained'          → `arm(name)`
    bias set   a SynthBias bias test set ('new_background')       → `bias_set(name)`
    column     a table column or a metric ('unbiased_top1')       → `column(name)`
    status     a paper number's status ('figure_only')            → `status(name)`

Each function returns the name itself when it does not know it, so a new name still prints.
`explain(name)` gives one sentence for a column or status; `table_note(...)` builds the
line under a table (what its columns mean, the seeds, what "±" is). Nothing here imports
more than the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

# ---------------------------------------------------------------------------- arms

METHODS = {
    "moco": "MoCo",
    "vcop": "Clip Order (VCOP)",
    "rotnet": "3D RotNet",
    "puzzle": "ST Puzzles",
    "supervised": "supervised",
}
# switch: (words when it is the only switch, words beside other switches)
SWITCHES = {
    "hn": ("hard negatives", "HN"),
    "be": ("BE", "BE"),
    "fame": ("FAME", "FAME"),
}
# arms whose words are not just the composition
ARMS = {
    "random": "random init (no pretraining)",
    "untrained": "untrained encoder (probe only)",
    "moco+hn+be": "MoCo + HN + BE (Table 1's MoCo+BE)",
}


def arm(name: str) -> str:
    """'moco+hn' → 'MoCo + hard negatives'; 'vcop+be' → 'Clip Order (VCOP) + BE';
    'moco+hn+fame' → 'MoCo + HN + FAME'. An unknown method or switch prints as given."""
    if name in ARMS:
        return ARMS[name]
    base, *flags = str(name).split("+")
    words = [METHODS.get(base, base)]
    for f in flags:
        single, several = SWITCHES.get(f, (f, f))
        words.append(single if len(flags) == 1 else several)
    return " + ".join(words)


# ------------------------------------------------------------------------ bias sets

BIAS_SETS = {
    "original": "original test videos",
    "new_background": "new background",
    "background_only": "background only",
    "static_actor": "static actor",
    "actor_only": "actor only",
}
BIAS_SET_MEANING = {
    "original": "the test videos as generated",
    "new_background": "the actor and its motion on a scene family no class owns (SCUBA-like)",
    "background_only": "the actor removed, the scene kept (HAT background-only)",
    "static_actor": "the actor frozen in its first frame on the moving scene (SCUFO-like)",
    "actor_only": "everything but the actor replaced by the frame's mean colour (HAT)",
}


def bias_set(name: str) -> str:
    """'new_background' → 'new background'."""
    return BIAS_SETS.get(name, name)


# ------------------------------------------------------------- CAM cases (Figure 7)

CAM_CASES = {
    "original": "original clip",
    "static": "static: middle frame repeated",
    "pasted": "another video's actor pasted, static",
    "noise": "another video's frame added (Eq. 1)",
}


def cam_case(name: str) -> str:
    """'static' → 'static: middle frame repeated' (bepaper.analysis.cam_report's cases)."""
    return CAM_CASES.get(name, name)


# --------------------------------------------------------------------- columns

# code name: (reader words, one sentence on what it is)
COLUMNS = {
    # the BE question (bepaper.report)
    "biased_top1": ("fine-tuned, biased test", "top-1 (%) of the fine-tuned net on the biased "
                    "test list (background tied to the class, as in the real sets)"),
    "unbiased_top1": ("fine-tuned, unbiased test", "top-1 (%) of the fine-tuned net on the "
                      "unbiased test list (background independent of the class)"),
    "probe_top1": ("motion probe, frozen encoder", "top-1 (%) of a linear probe on the frozen "
                   "pretrained encoder, on the unbiased split"),
    "escapes": ("escapes", "runs whose unbiased-test top-1 is above the escape level"),
    # paper tables (bepaper.tables)
    "row": ("row", "the paper's row (method)"),
    "paper backbone": ("paper backbone", "the backbone the paper's row uses"),
    "paper pretrain": ("paper pretrain", "the set the paper's row is pretrained on"),
    "column": ("column", "the paper's column (test set or metric)"),
    "paper": ("paper", "the paper's number ('—': none; 'paper status' says why)"),
    "paper status": ("paper status", "what the paper's number rests on (statuses below)"),
    "ours": ("ours", "our mean ± half-width of the 95% CI over seeds"),
    "ours mean": ("ours, mean", "our mean over seeds"),
    "ours ci95": ("ours, 95% CI half-width", "half-width of our 95% CI over seeds"),
    "seeds": ("seeds", "how many seeds (runs) the number is over"),
    "seed": ("seed", "the run's seed"),
    "our data": ("our data", "the data our runs used"),
    "our backbone": ("our backbone", "the backbone our runs used"),
    "comparison": ("comparison", "with vs without the change, same backbone and pretraining "
                   "set unless named"),
    "same direction": ("same direction", "whether our difference has the paper's sign"),
    "verdict": ("verdict", "the paired comparison in words"),
    # Figures 6-7 (bepaper.analysis.cam_report)
    "model": ("model", "the backbone the CAM is taken from"),
    "case": ("case", "the input: original clip; static = its middle frame repeated; pasted = "
             "another video's actor pasted static; noise = another video's frame added (Eq. 1)"),
    "videos": ("videos", "test videos averaged over"),
    "raw_mean": ("mean activation", "mean un-normalised CAM activation"),
    "raw_vs_original": ("activation vs original", "mean raw CAM activation divided by the "
                        "original clip's (below 1: the input excites the model less)"),
    "actor_mass": ("CAM share in actor box", "share of the CAM's mass inside the actor's box "
                   "(per-clip min-max CAM)"),
    "actor_chance": ("actor box area share", "the actor box's share of the frame: what a "
                     "uniform CAM would put inside it (chance level for the CAM share)"),
    "pasted_mass": ("CAM share in pasted box", "share of the CAM's mass inside the pasted "
                    "static actor's box"),
    "pasted_chance": ("pasted box area share", "the pasted box's share of the frame (chance "
                      "level for the pasted CAM share)"),
    # Figure 4 (bepaper.analysis.static_bias)
    "class": ("class", "the action class"),
    "static_top1": ("static-video top-1 (%)", "top-1 (%) of a net trained and tested on static "
                    "videos (one frame repeated)"),
    "relative_gain": ("relative gain (%)", "100 · (MoCo+BE − MoCo) / MoCo, per class"),
    "absolute_gain": ("absolute gain (points)", "100 · (MoCo+BE − MoCo), per class"),
    "known_bias": ("known scene bias", "SynthBias's probability that a video of the class is "
                   "shot in the class's own scene family"),
    "base_top1": ("MoCo top-1 (%)", "per-class top-1 (%) of MoCo fine-tuned"),
    "new_top1": ("MoCo+BE top-1 (%)", "per-class top-1 (%) of MoCo+BE fine-tuned"),
    # bias tests (bepaper.analysis.bias_tests)
    "arm": ("pretraining", "how the encoder was pretrained before fine-tuning"),
    "contrasted_accuracy": ("contrasted accuracy (%)", "share of videos right on the "
                            "new-background set and wrong on the static-actor set (SCUBA/SCUFO):"
                            " recognised by their motion"),
    "contrasted accuracy": ("contrasted accuracy (%)", "share of videos right on the "
                            "new-background set and wrong on the static-actor set (SCUBA/SCUFO):"
                            " recognised by their motion"),
}  # fmt: skip
TOP1_SUFFIXES = (" top-1", "_top1")


def column(name: str) -> str:
    """Reader words for a column or metric; '<bias set> top-1' → '<words> top-1 (%)'."""
    if name in COLUMNS:
        return COLUMNS[name][0]
    for suffix in TOP1_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in BIAS_SETS:
            return f"{bias_set(name[: -len(suffix)])}, top-1 (%)"
    return name


# ---------------------------------------------------------------- paper statuses
# (bepaper.paper's docstring defines them; "not in the paper" is bepaper.tables')

STATUSES = {
    "read": ("read", "printed cleanly in the paper (OCR)"),
    "recovered": ("recovered", "garbled in the OCR; its digits still visible and confirmed by "
                  "the gain the paper states"),
    "garbled": ("unreadable", "unreadable in the paper's OCR: no number"),
    "label_inferred": ("row label inferred", "the number is read, the row's method name is "
                       "blank in the OCR and inferred"),
    "not_reported": ("not reported ('-')", "the paper prints '-': no number"),
    "text": ("in the text", "given in the paper's running text"),
    "figure_only": ("figure only", "a bar of a figure the text does not give: no number"),
    "not in the paper": ("not in the paper", "the paper has no such cell (a row run here "
                         "only)"),
}  # fmt: skip


def status(name: str) -> str:
    """Short reader words for a paper status ('figure_only' → 'figure only')."""
    return STATUSES.get(name, (name, ""))[0]


def explain(name: str) -> str:
    """One sentence on a column, metric, bias set or paper status; '' when unknown."""
    if name in COLUMNS:
        return COLUMNS[name][1]
    if name in STATUSES:
        return STATUSES[name][1]
    if name in BIAS_SET_MEANING:
        return BIAS_SET_MEANING[name]
    for suffix in TOP1_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in BIAS_SET_MEANING:
            key = name[: -len(suffix)]
            return f"top-1 (%) on {bias_set(key)}: {BIAS_SET_MEANING[key]}"
    return ""


# ------------------------------------------------------------------ notes and axes

# what a column means in a table of paired differences (`bepaper.tables.effects`)
PAIRED_COLUMNS = {
    "paper": "the paper's difference, with − without ('—': the paper lacks a number on one "
    "side; 'paper status' says why)",
    "paper status": "what the paper's numbers rest on: the side without a number, else the "
    "less plain of the two (statuses below)",
    "ours": "our mean paired difference ± half-width of its 95% CI (one seed: the difference)",
}

CI_TEXT = (
    "± is the half-width of the 95% confidence interval of the mean over seeds (Student t "
    "with n − 1 degrees of freedom, sample standard deviation); 'n/a' with one seed"
)
PAIRED_TEXT = (
    "differences are paired over the seeds both sides have (with − without), ± is the "
    "half-width of the 95% t-interval of the mean difference; the verdict uses the exact "
    "sign-flip test, α = 0.05, and claims nothing under 3 seeds"
)


def seeds_text(seeds: Iterable) -> str:
    """'seeds 0, 1, 2 (3)' from seed values (NaN and repeats dropped)."""
    vals = sorted({int(s) for s in seeds if not (isinstance(s, float) and math.isnan(s))})
    if not vals:
        return "no seeds"
    return f"seed{'s' if len(vals) > 1 else ''} {', '.join(map(str, vals))} ({len(vals)})"


def table_note(
    columns: Sequence[str],
    *,
    seeds: Iterable | None = None,
    statuses: Iterable[str] = (),
    paired: bool = False,
) -> str:
    """The line under a table: what each known column means, the seeds, what ± is, and
    what each paper status present means. Unknown columns are left out."""
    parts = []
    meaning = {c: (PAIRED_COLUMNS.get(c) if paired else None) or explain(c) for c in columns}
    meant = [f"{column(c)}: {m}" for c, m in meaning.items() if m]
    if meant:
        parts.append("Columns — " + "; ".join(meant) + ".")
    if seeds is not None:
        parts.append(f"Over {seeds_text(seeds)}.")
    if paired:
        parts.append(PAIRED_TEXT[0].upper() + PAIRED_TEXT[1:] + ".")
    elif any(c in ("ours", "ours ci95") or str(c).endswith("_ci95") for c in columns):
        parts.append(CI_TEXT[0].upper() + CI_TEXT[1:] + ".")
    shown = [s for s in dict.fromkeys(statuses) if isinstance(s, str) and s]
    if shown:
        parts.append(
            "Paper status — "
            + "; ".join(f"{status(s)}: {STATUSES.get(s, (s, s))[1]}" for s in shown)
            + "."
        )
    return " ".join(parts)


def errorbar_text(n: int | Sequence[int]) -> str:
    """'error bars: 95% CI over 3 seeds (t)' for a legend or axis label; says when one seed
    leaves no interval."""
    ns = sorted({int(n)} if isinstance(n, int | float) else {int(k) for k in n})
    if not ns or max(ns) < 2:
        return "1 seed: no error bar"
    count = str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"
    return f"error bars: 95% CI over {count} seeds (t)"


def for_reader(df):
    """A copy of a DataFrame with reader words: columns renamed by `column`, the values of
    an 'arm' column by `arm`, of a 'paper status' column by `status` and of a CAM 'case'
    column by `cam_case`. For display and Markdown; keep the CSV in code names."""
    out = df.copy()
    if "arm" in out.columns:
        out["arm"] = [arm(a) if isinstance(a, str) else a for a in out["arm"]]
    if "paper status" in out.columns:
        out["paper status"] = [status(s) if isinstance(s, str) else s for s in out["paper status"]]
    if "case" in out.columns and set(out["case"]) <= set(CAM_CASES):
        out["case"] = [cam_case(c) for c in out["case"]]
    return out.rename(columns={c: column(c) for c in out.columns if isinstance(c, str)})


def shown(df, precision: int = 1):
    """`for_reader(df)` as a notebook shows it: numbers to `precision` decimals, a missing
    value as '—', no index column (a pandas Styler; the CSV keeps every digit)."""
    return for_reader(df).style.format(precision=precision, na_rep="—").hide(axis="index")


def axis_label(name: str) -> str:
    """The value axis of a paper column: 'R@5' → 'recall@5 (%)', 'pearson_rho' → 'Pearson ρ',
    a test set ('UCF101', 'HMDB51 (split 2)') → 'top-1 accuracy (%)'."""
    if name.startswith("R@"):
        return f"recall@{name[2:]} (%)"
    if name == "pearson_rho":
        return "Pearson ρ"
    if name == "pearson_p":
        return "p-value"
    return "top-1 accuracy (%)"
