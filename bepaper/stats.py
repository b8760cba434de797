"""Statistics over seeds for every results table: t-intervals, paired tests, verdicts.

Conventions:
- Values are whatever the caller passes; pass percentages to read differences as "points".
- NaN (a run that produced no number) is dropped by default and *counted*: every result
  carries `dropped`, and `verdict` says how many were dropped. `nan="raise"` refuses instead.
- Significance level ALPHA = 0.05. With fewer than MIN_N = 3 paired seeds nothing is
  claimed, whatever the p-value.
- `verdict` decides on the exact sign-flip permutation p-value by default (no normality
  assumption). Its smallest possible value is 2 / 2^n, so with 5 seeds or fewer it can never
  reach 0.05: 6 paired seeds are the least that can show a difference.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
from scipy import stats as _st

from bepaper.errors import DataError

ALPHA = 0.05
MIN_N = 3
EXACT_MAX_N = 16  # sign flips are enumerated (2^n of them) up to this many pairs
NAN_POLICIES = ("drop", "raise")


def _clean(values, nan: str) -> tuple[np.ndarray, int]:
    if nan not in NAN_POLICIES:
        raise DataError(f"unknown nan policy {nan!r}; choose from {list(NAN_POLICIES)}")
    x = np.asarray(values, dtype=float).ravel()
    bad = np.isnan(x)
    if bad.any() and nan == "raise":
        raise DataError(f"{int(bad.sum())} of {x.size} values are NaN (nan='raise')")
    return x[~bad], int(bad.sum())


def _t_half(std: float, n: int, confidence: float) -> float:
    """Half-width of the t-interval of a mean; NaN when n < 2 (no spread to estimate)."""
    if n < 2:
        return math.nan
    return float(_st.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))


def mean_ci(values, confidence: float = 0.95, nan: str = "drop") -> dict:
    """Mean and Student-t confidence interval over seeds.

    Returns {"mean", "half", "low", "high", "std" (ddof=1), "n", "dropped"}. With n = 1 the
    std and the half-width are NaN: one seed gives no interval. With n = 0 all are NaN.
    """
    x, dropped = _clean(values, nan)
    n = x.size
    mean = float(x.mean()) if n else math.nan
    std = float(x.std(ddof=1)) if n > 1 else math.nan
    half = _t_half(std, n, confidence)
    return {
        "mean": mean,
        "half": half,
        "low": mean - half,
        "high": mean + half,
        "std": std,
        "n": n,
        "dropped": dropped,
    }


def signflip_p(diffs, n_resamples: int = 100_000, seed: int = 0) -> tuple[float, bool]:
    """Two-sided sign-flip permutation p-value of mean(diffs) = 0: the share of sign
    assignments whose |mean| is at least the observed one. Exact (all 2^n flips) for
    n <= EXACT_MAX_N, else Monte Carlo with `n_resamples` draws from `seed`, as
    (1 + hits) / (1 + n_resamples). Returns (p, exact); NaN for n = 0."""
    d = np.asarray(diffs, dtype=float).ravel()
    n = d.size
    if n == 0:
        return math.nan, True
    observed = abs(d.mean())
    tol = 1e-12 * max(1.0, float(np.abs(d).max()))  # ties count as "at least as extreme"
    if n <= EXACT_MAX_N:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))  # 2^n x n
        return float(np.mean(np.abs(signs @ d) / n >= observed - tol)), True
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_resamples, 10_000):  # chunks: bounded memory
        k = min(10_000, n_resamples - start)
        signs = rng.choice((1.0, -1.0), size=(k, n))
        hits += int(np.sum(np.abs(signs @ d) / n >= observed - tol))
    return (1 + hits) / (1 + n_resamples), False


def paired_test(
    a, b, confidence: float = 0.95, nan: str = "drop", n_resamples: int = 100_000, seed: int = 0
) -> dict:
    """Paired comparison of a and b over the same seeds (a[i] and b[i] share seed i).

    Returns {"n", "dropped" (pairs with a NaN), "mean_a", "mean_b", "diff" (mean of a - b),
    "half", "low", "high" (t-interval of the mean difference), "std" (of the differences),
    "t_p" (scipy.stats.ttest_rel, two-sided), "perm_p" (sign-flip, two-sided), "perm_exact"}.
    """
    _clean([], nan)  # validates the policy name
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise DataError(f"paired values differ in length: {a.size} vs {b.size}")
    both = ~(np.isnan(a) | np.isnan(b))
    if not both.all() and nan == "raise":
        raise DataError(f"{int((~both).sum())} of {a.size} pairs hold a NaN (nan='raise')")
    a, b = a[both], b[both]
    d = a - b
    ci = mean_ci(d, confidence)
    if d.size >= 2:
        with warnings.catch_warnings():  # identical differences: scipy's warning, not ours
            warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
            t_p = float(_st.ttest_rel(a, b).pvalue)
    else:
        t_p = math.nan
    perm_p, exact = signflip_p(d, n_resamples=n_resamples, seed=seed)
    return {
        "n": int(d.size),
        "dropped": int((~both).sum()),
        "mean_a": float(a.mean()) if a.size else math.nan,
        "mean_b": float(b.mean()) if b.size else math.nan,
        "diff": ci["mean"],
        "half": ci["half"],
        "low": ci["low"],
        "high": ci["high"],
        "std": ci["std"],
        "t_p": t_p,
        "perm_p": perm_p,
        "perm_exact": exact,
    }


def format_ci(mean: float, half: float, digits: int = 1) -> str:
    """'61.1 ± 5.4'; a NaN half-width (one seed) prints as '61.1 ± n/a'."""
    if math.isnan(mean):
        return "n/a"
    if math.isnan(half):
        return f"{mean:.{digits}f} ± n/a"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def _format_p(p: float) -> str:
    if math.isnan(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


TESTS = {"signflip": "perm_p", "t": "t_p"}


def verdict(
    paired: dict,
    name: str = "BE",
    baseline: str | None = None,
    test: str = "signflip",
    alpha: float = ALPHA,
    digits: int = 1,
    unit: str = "points",
) -> str:
    """One plain sentence on a `paired_test` result, e.g.
    'BE higher by 4.2 ± 3.1 points (p = 0.01, 10 seeds)' or
    'not established (+1.2 ± 3.4 points, p = 0.73, 10 seeds)'.

    A difference is claimed only when n >= MIN_N and the p-value of `test` ("signflip",
    the default, or "t") is below `alpha`; with n < MIN_N nothing is claimed."""
    if test not in TESTS:
        raise DataError(f"unknown test {test!r}; choose from {list(TESTS)}")
    n, p = paired["n"], paired[TESTS[test]]
    seeds = f"{n} seed{'s' if n != 1 else ''}"
    if paired.get("dropped"):
        seeds += f", {paired['dropped']} dropped (NaN)"
    if paired.get("unpaired"):
        seeds += f", {paired['unpaired']} unpaired"
    if n < MIN_N:
        return f"nothing claimed: {seeds} (at least {MIN_N} paired seeds needed)"
    diff, half = paired["diff"], paired["half"]
    shown = diff if round(diff, digits) != 0 else 0.0  # no "-0.0"
    if p < alpha and diff != 0:
        than = f" than {baseline}" if baseline else ""
        word = "higher" if diff > 0 else "lower"
        size = format_ci(abs(diff), half, digits)
        return f"{name} {word}{than} by {size} {unit} ({_format_p(p)}, {seeds})"
    return (
        f"not established ({shown:+.{digits}f} ± {half:.{digits}f} {unit}, {_format_p(p)}, {seeds})"
    )


def _groups(by) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def _check_columns(df, cols) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"missing columns {missing}; the frame has {list(df.columns)}")


def _check_seeds(df, keys, seed_col) -> None:
    dup = df.duplicated(subset=[*keys, seed_col], keep=False)
    if dup.any():
        first = df.loc[dup, [*keys, seed_col]].iloc[0].to_dict()
        raise DataError(f"seed repeated within a group ({int(dup.sum())} rows), e.g. {first}")


def summarise(
    df, by, value: str, seed_col: str | None = "seed", confidence: float = 0.95, digits: int = 1
):
    """Mean ± t-interval of `value` per group of `by` (a column or a list of columns).

    One row per group: the `by` columns, n, dropped (NaN), mean, std, half, low, high, and
    `text` (format_ci). A seed repeated within a group is a DataError (a duplicated run)."""
    import pandas as pd

    keys = _groups(by)
    _check_columns(df, [*keys, value] + ([seed_col] if seed_col else []))
    if seed_col:
        _check_seeds(df, keys, seed_col)
    rows = []
    for key, group in df.groupby(keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        ci = mean_ci(group[value].to_numpy(dtype=float), confidence)
        row = dict(zip(keys, key, strict=True))
        row.update({k: ci[k] for k in ("n", "dropped", "mean", "std", "half", "low", "high")})
        row["text"] = format_ci(ci["mean"], ci["half"], digits)
        rows.append(row)
    return pd.DataFrame(rows)


def paired_table(
    df,
    pairs,
    value: str,
    by: str = "method",
    seed_col: str = "seed",
    confidence: float = 0.95,
    test: str = "signflip",
    digits: int = 1,
):
    """Paired tests of `value` for each (a, b) in `pairs` (values of column `by`), matched on
    `seed_col`. Seeds present on one side only are left out and counted in `unpaired`.

    One row per pair: a, b, n, dropped, unpaired, mean_a, mean_b, diff, half, low, high,
    t_p, perm_p, verdict."""
    import pandas as pd

    _check_columns(df, [by, value, seed_col])
    _check_seeds(df, [by], seed_col)
    known = list(dict.fromkeys(df[by]))
    rows = []
    for a, b in pairs:
        for side in (a, b):
            if side not in known:
                raise DataError(f"unknown {by} {side!r}; choose from {known}")
        sa = df[df[by] == a].set_index(seed_col)[value]
        sb = df[df[by] == b].set_index(seed_col)[value]
        common = [s for s in sa.index if s in set(sb.index)]
        unpaired = len(sa) + len(sb) - 2 * len(common)
        res = paired_test(
            sa.loc[common].to_numpy(dtype=float), sb.loc[common].to_numpy(dtype=float), confidence
        )
        res["unpaired"] = unpaired
        row = {"a": a, "b": b}
        row.update({k: v for k, v in res.items() if k != "perm_exact"})
        row["verdict"] = verdict(res, name=str(a), baseline=str(b), test=test, digits=digits)
        rows.append(row)
    return pd.DataFrame(rows)
