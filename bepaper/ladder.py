"""The ladder (issue 13): what SynthBias must show before any BE arm is looked at.

Each rung is measured over `study.ladder_seeds` (at least 5 for a claim), and reported with
its mean, 95% CI and minimum over seeds:

    rung 0  learnable     from scratch on every unbiased label (split 2): unbiased test
                          ≥ 90% mean and ≥ 80% on every seed
    rung 1  shortcut      a static-frame net (one frame repeated, every biased label) is
                          ≥ 2× chance on the biased test and ≤ chance + 10 on the unbiased;
                          in the protocol's fine-tuning regime (its labels per class, its
                          bias) a net from scratch is ≥ 15 points worse on the unbiased test
                          than on the biased one: it cheats
    rung 2  sensitive     positive control: an init that knows motion (the rung-0 net),
                          fine-tuned in that regime, beats random init on the unbiased test by
                          ≥ 15 points; negative control: an init that knows only the scene
                          (the static-frame net) does not (< +5 points); the frozen motion
                          probe ranks the two the same way on every seed

Rung 3 (the arms) is `bepaper.study.compare`. The from-scratch run of rung 1 is the
'random' arm's run (the same config, so the same folder: trained once).

Every run is built through `bepaper.protocol`, so every number here comes from a run folder.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from bepaper.config import FinetuneConfig, StudyConfig
from bepaper.data.datasets import load_split
from bepaper.identity import run_folder
from bepaper.protocol import finetune_config
from bepaper.stats import mean_ci

# the thresholds, in points of top-1 (%), fixed before any BE result (issue 13)
LEARNABLE_MEAN, LEARNABLE_MIN = 90.0, 80.0
STATIC_BIASED_X_CHANCE, STATIC_UNBIASED_OVER_CHANCE = 2.0, 10.0
CHEATS_BY = 15.0
POSITIVE_BY, NEGATIVE_BELOW = 15.0, 5.0


def ladder_configs(study: StudyConfig, seed: int) -> dict[str, FinetuneConfig]:
    """The runs of rungs 0-2 for one seed, by role."""
    n_biased = len(load_split(study.data, 1)[1].train)
    n_unbiased = len(load_split(study.data, 2)[1].train)
    # the static net takes as many steps as the rung-0 net (its list is longer)
    matched = dataclasses.replace(
        study.supervised,
        epochs=max(1, math.ceil(study.supervised.epochs * n_unbiased / n_biased)),
    )
    learnable = finetune_config(study, seed, split=2, per_class=0, optim=study.supervised)
    static = finetune_config(study, seed, static=True, per_class=0, optim=matched)
    return {
        "learnable": learnable,
        "static": static,
        "scratch": finetune_config(study, seed),
        "positive": finetune_config(study, seed, init=str(run_folder(learnable, "finetune"))),
        "negative": finetune_config(study, seed, init=str(run_folder(static, "finetune"))),
    }


def climb(study: StudyConfig, probe=None, roles: tuple[str, ...] = ()) -> list[dict]:
    """Train (or reuse) every run of rungs 0-2 over `study.ladder_seeds`; one row per
    (seed, role) with its biased and unbiased top-1 (fractions), its run folder, and, for
    the two controls' inits, the frozen probe of that init (`probe(study, folder, seed)`).
    `roles` (default: all) keeps some, e.g. rungs 0-1's ("learnable", "static", "scratch")."""
    from bepaper.train import finetune

    rows = []
    for seed in study.ladder_seeds:
        for role, cfg in ladder_configs(study, seed).items():
            if roles and role not in roles:
                continue
            res = finetune(cfg)
            row = {
                "seed": seed,
                "role": role,
                "biased_top1": res["test_top1"].get("1"),
                "unbiased_top1": res["test_top1"].get("2"),
                "run": str(run_folder(cfg, "finetune")),
                "seconds": res.get("seconds"),
            }
            if probe is not None and role in ("learnable", "static"):
                row["probe_top1"] = probe(study, Path(row["run"]), seed)["test_top1"]
            rows.append(row)
    return rows


def _values(rows: list[dict], role: str, key: str) -> dict[int, float]:
    return {r["seed"]: 100 * r[key] for r in rows if r["role"] == role and r.get(key) is not None}


def _stat(values: list[float]) -> dict:
    ci = mean_ci(values)
    return {k: ci[k] for k in ("mean", "low", "high", "n")} | {"min": min(values)}


def _paired(rows: list[dict], a: str, b: str, key: str) -> list[float]:
    va, vb = _values(rows, a, key), _values(rows, b, key)
    return [va[s] - vb[s] for s in sorted(va) if s in vb]


def rungs(rows: list[dict], chance: float) -> list[dict]:
    """Each check of rungs 0-2: what it asks, its numbers over seeds (mean, 95% CI, min, in
    points), and whether it holds. `chance` is a fraction (1 / classes)."""
    c = 100 * chance
    out = []

    def check(rung: int, name: str, asks: str, values: list[float], holds) -> None:
        if not values:
            return
        s = _stat(values)
        out.append(
            {"rung": rung, "check": name, "asks": asks, **s, "holds": bool(holds(s, values))}
        )

    learn = list(_values(rows, "learnable", "unbiased_top1").values())
    check(0, "learnable", f"from scratch on unbiased labels: unbiased test ≥ {LEARNABLE_MEAN:.0f}%"
          f" mean, ≥ {LEARNABLE_MIN:.0f}% every seed", learn,
          lambda s, v: s["mean"] >= LEARNABLE_MEAN and s["min"] >= LEARNABLE_MIN)  # fmt: skip
    static_b = list(_values(rows, "static", "biased_top1").values())
    check(1, "static net, biased test", f"≥ {STATIC_BIASED_X_CHANCE:.0f}× chance "
          f"({STATIC_BIASED_X_CHANCE * c:.1f}%)", static_b,
          lambda s, v: s["mean"] >= STATIC_BIASED_X_CHANCE * c)  # fmt: skip
    static_u = list(_values(rows, "static", "unbiased_top1").values())
    check(1, "static net, unbiased test", f"≤ chance + {STATIC_UNBIASED_OVER_CHANCE:.0f} "
          f"({c + STATIC_UNBIASED_OVER_CHANCE:.1f}%)", static_u,
          lambda s, v: s["mean"] <= c + STATIC_UNBIASED_OVER_CHANCE)  # fmt: skip
    b, u = _values(rows, "scratch", "biased_top1"), _values(rows, "scratch", "unbiased_top1")
    gaps = [b[s] - u[s] for s in sorted(b) if s in u]
    check(1, "from scratch in the regime cheats",
          f"biased − unbiased test ≥ {CHEATS_BY:.0f} points", gaps,
          lambda s, v: s["mean"] >= CHEATS_BY)  # fmt: skip
    check(2, "positive control", f"motion init − random init, unbiased test ≥ {POSITIVE_BY:.0f}"
          " points", _paired(rows, "positive", "scratch", "unbiased_top1"),
          lambda s, v: s["mean"] >= POSITIVE_BY)  # fmt: skip
    check(2, "negative control", f"scene init − random init, unbiased test < "
          f"{NEGATIVE_BELOW:.0f} points", _paired(rows, "negative", "scratch", "unbiased_top1"),
          lambda s, v: s["mean"] < NEGATIVE_BELOW)  # fmt: skip
    check(2, "the frozen probe agrees", "probe of the motion init − probe of the scene init > 0"
          " on every seed", _paired(rows, "learnable", "static", "probe_top1"),
          lambda s, v: min(v) > 0)  # fmt: skip
    return out


def rung_status(checks: list[dict]) -> dict[int, bool]:
    """Whether each rung holds (all its checks)."""
    status: dict[int, bool] = {}
    for c in checks:
        status[c["rung"]] = status.get(c["rung"], True) and c["holds"]
    return status
