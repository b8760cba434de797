"""The reading at the end of each notebook: a short paragraph computed from its numbers,
never typed. Each function takes what its notebook computed and returns Markdown text: what
the numbers show on this preset, against the paper where it has a number, with the caveat
the seeds allow. A result at chance says it is at chance (`at_chance`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from bepaper import labels
from bepaper.errors import BepaperError
from bepaper.stats import ALPHA, MIN_N

CHANCE_MARGIN = 2.0  # points: a mean this close to chance (or within its CI) is at chance


def classes_of(root: str | Path) -> int:
    """How many classes a prepared dataset has (lines of its splits/classInd.txt)."""
    lines = (Path(root) / "splits" / "classInd.txt").read_text().split("\n")
    return sum(1 for line in lines if line.strip())


def at_chance(mean: float, chance: float, half: float = math.nan) -> bool:
    """Whether a top-1 mean (%) is indistinguishable from `chance` (%): no more than
    CHANCE_MARGIN points above it, or above it by less than its 95% CI half-width."""
    if not math.isfinite(mean):
        return False
    room = max(CHANCE_MARGIN, half if math.isfinite(half) else 0.0)
    return mean - chance <= room


def chance_words(chance: float) -> str:
    return f"chance ({chance:.1f}%: {round(100 / chance)} classes)"


def _finite(x) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def _seeds_caveat(seeds: Sequence[int]) -> str:
    n = max(seeds, default=0)
    if n < MIN_N:
        return (
            f"With {n} seed{'s' if n != 1 else ''} per row nothing is claimed: a difference "
            f"is claimed only with at least {MIN_N} paired seeds and sign-flip p < {ALPHA}."
        )
    return (
        f"Differences are claimed only where the paired sign-flip test over {n} seeds gives "
        f"p < {ALPHA}."
    )


def comparison_reading(
    df,
    effects=None,
    chance: Mapping[str, float] | None = None,
    preset: str = "",
    unit: str = "top-1",
) -> str:
    """The reading of a paper table (`tables.compare` frame `df`, its `tables.effects`
    frame `effects`): which rows ran and over how many seeds, which are at chance (`chance`:
    column → %), each with/without effect beside the paper's, and how often the directions
    agree."""
    ran = df[df["seeds"] > 0]
    out = []
    where = f" at preset {preset}" if preset else ""
    if not len(ran):
        return f"**Reading.** No row ran{where}: nothing to read."
    seeds = sorted({int(s) for s in ran["seeds"]})
    span = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]}"
    out.append(
        f"**Reading{where}.** {len(ran)} of {len(df)} (row, column) cells ran, over "
        f"{span} seed{'s' if seeds[-1] != 1 else ''} each."
    )
    if chance:
        low = [
            r
            for _, r in ran.iterrows()
            if r["column"] in chance
            and at_chance(r["ours mean"], chance[r["column"]], r["ours ci95"])
        ]
        if len(low) == len(ran):
            words = ", ".join(sorted({chance_words(chance[r["column"]]) for r in low}))
            out.append(
                f"Every one of our numbers is at {words}: the models learned nothing "
                "this table can compare, and no row can be read against the paper."
            )
        elif low:
            names = "; ".join(
                f"{r['row']} ({r['paper backbone']}, {r['paper pretrain']}) on "
                f"{r['column']} ({r['ours mean']:.1f}%)"
                for r in low
            )
            out.append(f"At chance (within {CHANCE_MARGIN:.0f} points or its CI): {names}.")
    paper_rows = ran[[_finite(p) for p in ran["paper"]]]
    if len(paper_rows):
        gaps = (paper_rows["paper"].astype(float) - paper_rows["ours mean"]).to_numpy()
        out.append(
            f"Where the paper has a number ({len(paper_rows)} cells), ours is "
            f"{abs(float(gaps.mean())):.1f} points {'below' if gaps.mean() > 0 else 'above'} "
            f"it on average (the data and backbones differ; see the table's notes)."
        )
    if effects is not None and len(effects):
        ran_eff = effects[effects["seeds"] > 0]
        lines = []
        for _, e in ran_eff.iterrows():
            paper = "—" if not _finite(e["paper"]) else f"{e['paper']:+.1f}"
            lines.append(
                f"- {e['comparison']}, {e['column']}: ours {e['ours']} {unit} points "
                f"(paper {paper}): {e['verdict']}"
            )
        if lines:
            out.append("Effects (with − without, paired over seeds):\n\n" + "\n".join(lines))
        both = [v for v in ran_eff["same direction"] if v is not None and v == v]
        if both:
            out.append(
                f"Our difference has the paper's sign in {sum(map(bool, both))} of "
                f"{len(both)} comparisons with both numbers."
            )
    out.append(_seeds_caveat(seeds))
    return "\n\n".join(out)


def study_reading(result: Mapping) -> str:
    """The reading of a BE-question study from its summary (`<name>_summary.json`): BE's
    paired effect on each test list, whether it is distinguishable from zero, and arms at
    chance."""
    from bepaper.report import label

    info, summary = result["info"], result["summary"]
    chance = 100 * info["chance"]
    seeds = info["seeds"]
    out = [f"**Reading ({labels.seeds_text(seeds)}).**"]
    for pair, tests in summary["paired"].items():
        a, b = pair.split(" vs ")
        if "be" not in a.split("+"):
            continue
        for key in ("unbiased_top1", "biased_top1"):
            t = tests.get(key)
            if not t:
                continue
            lo, hi = t["diff"] - t["half"], t["diff"] + t["half"]
            ci = (
                f"95% CI {lo:+.1f} to {hi:+.1f}, "
                if t["n"] >= 2 and math.isfinite(t["half"])
                else ""
            )
            if t["n"] < MIN_N:
                judged = f"too few seeds to tell (at least {MIN_N} needed)"
            elif t["perm_p"] < ALPHA and t["diff"] != 0:
                judged = f"distinguishable from zero (sign-flip p = {t['perm_p']:.2g})"
            else:
                judged = f"not distinguishable from zero (sign-flip p = {t['perm_p']:.2g})"
            out.append(
                f"- {label(a)} vs {label(b)}: {labels.column(key)} top-1 changed by "
                f"{t['diff']:+.1f} points ({ci}{t['n']} seeds): {judged}."
            )
    flat = [
        arm
        for arm, line in summary["arms"].items()
        if line.get("unbiased_top1")
        and at_chance(line["unbiased_top1"]["mean"], chance, line["unbiased_top1"]["half"])
    ]
    if flat:
        names = ", ".join(label(a) for a in flat)
        out.append(
            f"At {chance_words(chance)} on the unbiased test: {names}. An arm at chance "
            "shows no motion learned, so a BE difference between such arms is noise."
        )
    holds = (result.get("ladder") or {}).get("holds") or {}
    failed = [k for k, v in sorted(holds.items()) if not v]
    if not holds:
        out.append("The ladder (rungs 0-2) was not climbed here, so nothing above is evidence.")
    elif failed:
        out.append(
            f"Rung(s) {', '.join(failed)} of the ladder did not hold: the benchmark cannot "
            "register what pretraining does, so none of the above is evidence about BE."
        )
    else:
        out.append(
            "Rungs 0-2 of the ladder held (the motion is learnable, the background is a "
            "shortcut in this regime, and the controls separate), so these differences are "
            "measurements of what pretraining gives, within their CIs."
        )
    return "\n".join(out[:1]) + "\n\n" + "\n".join(out[1:])


def bias_reading(df, chance: float) -> str:
    """The reading of the bias tests (one row per arm and seed, columns '<set> top-1' and
    'contrasted accuracy', in %): per arm the mean on each set, and which are at chance."""
    from bepaper.stats import mean_ci

    sets = [c for c in df.columns if c.endswith(" top-1")]
    seeds = sorted(set(df["seed"]))
    out = [f"**Reading ({labels.seeds_text(seeds)}; {chance_words(chance)}).**"]
    lines = []
    for arm, part in df.groupby("arm", sort=False):
        cis = {c: mean_ci(part[c].to_numpy(dtype=float)) for c in sets}
        parts = [f"{labels.bias_set(c[: -len(' top-1')])} {cis[c]['mean']:.1f}%" for c in sets]
        flat = [
            labels.bias_set(c[: -len(" top-1")])
            for c in sets
            if at_chance(cis[c]["mean"], chance, cis[c]["half"])
        ]
        line = f"- {labels.arm(arm)}: " + ", ".join(parts)
        if "contrasted accuracy" in part:
            line += f"; contrasted accuracy {part['contrasted accuracy'].mean():.1f}%"
        if len(flat) == len(sets):
            line += ". At chance on every set: this model learned nothing to test"
        elif flat:
            line += f". At chance on: {', '.join(flat)}"
        lines.append(line + ".")
    out.append("\n".join(lines))
    out.append(
        "A model above chance on *background only* reads the scene; one above chance "
        "on *static actor* reads appearance rather than motion. " + _seeds_caveat([len(seeds)])
    )
    return "\n\n".join(out)


def ratio_reading(table) -> str:
    """Figure 3's reading: the measured temporal-gradient and flow ratios against Eq. 2's
    1 − λ, per λ (a `motion.motion_table` frame)."""
    lines = []
    for lam, part in table.groupby("λ"):
        exp = float(part["expected 1-λ"].iloc[0])
        grad, flow = part["grad ratio"].astype(float), part["flow ratio"].astype(float)
        lines.append(
            f"- λ = {lam}: gradient ratio {grad.mean():.4f} (max |error| "
            f"{(grad - exp).abs().max():.1e}), flow ratio {flow.mean():.3f} "
            f"(range {flow.min():.3f}–{flow.max():.3f}) against 1 − λ = {exp:.3f}."
        )
    clips = table["clip"].nunique()
    return f"**Reading ({clips} clips).** Eq. 2 predicts both ratios equal 1 − λ.\n\n" + "\n".join(
        lines
    )


def correlation_reading(summary, paper_rho: float, paper_p: float) -> str:
    """Figure 4's reading from the notebook's summary frame (one row per data and seed)."""
    if not len(summary):
        return "**Reading.** No run finished: nothing to read."
    lines = []
    for _, r in summary.iterrows():
        rho, p = r["ρ (relative gain)"], r["p"]
        sign = "negative, as the paper's" if rho < 0 else "not negative, unlike the paper's"
        lines.append(
            f"- {r['data']}, seed {r['seed']} ({r['classes']} classes): ρ = {rho:+.2f} "
            f"(p = {p:.2g}, 95% CI {r['95% CI']}): {sign}; absolute-gain ρ = "
            f"{r['ρ (absolute gain)']:+.2f}."
        )
    return (
        f"**Reading.** The paper: ρ = {paper_rho:+.2f} (p = {paper_p:.2g}) over HMDB51's 51 "
        "classes.\n\n" + "\n".join(lines) + "\n\nWith this few classes, one ρ's interval "
        "spans most of [−1, 1]: a sign is not a finding."
    )


def cam_reading(table) -> str:
    """Figures 6–7's reading from the notebook's CAM summary frame: where the CAM's mass
    lies against the actor box's share of the frame, and a static input's activation."""
    lines = []
    for _, r in table.iterrows():
        bits = []
        if _finite(r.get("actor_mass")) and _finite(r.get("actor_chance")):
            ratio = r["actor_mass"] / r["actor_chance"] if r["actor_chance"] else math.nan
            where = "on the actor" if ratio > 1.2 else "no more on the actor than a uniform map"
            bits.append(
                f"{100 * r['actor_mass']:.0f}% of the CAM in the actor box, which covers "
                f"{100 * r['actor_chance']:.0f}% of the frame ({where})"
            )
        if r["case"] != "original" and _finite(r.get("raw_vs_original")):
            bits.append(f"activation {r['raw_vs_original']:.2f}× the original clip's")
        if bits:
            lines.append(f"- {r['model']}, {labels.cam_case(r['case'])}: " + "; ".join(bits) + ".")
    return (
        "**Reading.** A uniform CAM puts the box's area share inside the box; more is a "
        "map on the actor.\n\n" + "\n".join(lines)
    )


def quickstart_reading(top1: Mapping[str, float], chance: float, seed: int) -> str:
    """The quickstart's reading: its top-1 (%) per test split against chance."""
    if not top1:
        return "**Reading.** The run did not finish: nothing to read."
    parts = ", ".join(f"split {s}: {v:.1f}%" for s, v in top1.items())
    flat = all(at_chance(v, chance) for v in top1.values())
    below = any(v < chance - CHANCE_MARGIN for v in top1.values())
    verdict = (
        f"This is at{' or below' if below else ''} {chance_words(chance)}"
        f"{' (a few test videos: one or two more wrong moves it by many points)' if below else ''}"
        ": at this preset the model learned nothing, and the numbers only show that the "
        "pipeline runs end to end."
        if flat
        else f"Above {chance_words(chance)}."
    )
    return f"**Reading (seed {seed}).** MoCo + BE fine-tuned, top-1 {parts}. {verdict}"


def chances(preset, targets: Mapping[str, str]) -> dict[str, float]:
    """Chance top-1 (%) per table column from a preset's prepared data: `targets` maps a
    dataset to its column ('ucf101' → 'UCF101'); the column's '(split 2)' twin gets the
    same. A dataset whose class list cannot be read is left out."""
    out = {}
    for dataset, column in targets.items():
        try:
            n = classes_of(preset.data_settings(dataset)["root"])
        except (OSError, KeyError, TypeError, BepaperError):
            continue
        if n:
            out[column] = out[f"{column} (split 2)"] = 100 / n
    return out
