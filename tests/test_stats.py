"""bepaper.stats against scipy and against a brute-force sign-flip enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bepaper import stats as bs
from bepaper.errors import DataError


def _brute_signflip(d) -> float:
    """Two-sided sign-flip p-value by listing every flip, one at a time."""
    d = list(map(float, d))
    obs = abs(sum(d) / len(d))
    hits = total = 0
    for signs in itertools.product((1, -1), repeat=len(d)):
        total += 1
        hits += abs(sum(s * x for s, x in zip(signs, d, strict=True)) / len(d)) >= obs - 1e-12
    return hits / total


def test_mean_ci_matches_scipy_t_interval():
    x = np.array([61.0, 58.2, 66.1, 63.4, 55.9, 60.3, 64.8])
    ci = bs.mean_ci(x, confidence=0.9)
    low, high = stats.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert ci["n"] == 7 and ci["dropped"] == 0
    assert ci["mean"] == pytest.approx(x.mean())
    assert ci["std"] == pytest.approx(x.std(ddof=1))
    assert (ci["low"], ci["high"]) == (pytest.approx(low), pytest.approx(high))
    assert ci["half"] == pytest.approx((high - low) / 2)


def test_mean_ci_one_two_and_no_values():
    one = bs.mean_ci([42.0])
    assert one["mean"] == 42.0 and one["n"] == 1
    assert math.isnan(one["half"]) and math.isnan(one["std"])
    two = bs.mean_ci([1.0, 3.0])
    assert two["half"] == pytest.approx(stats.t.ppf(0.975, 1) * math.sqrt(2) / math.sqrt(2))
    none = bs.mean_ci([])
    assert none["n"] == 0 and math.isnan(none["mean"])


def test_nan_is_dropped_and_counted_or_refused():
    ci = bs.mean_ci([1.0, float("nan"), 3.0, 5.0])
    assert (ci["n"], ci["dropped"], ci["mean"]) == (3, 1, 3.0)
    with pytest.raises(DataError, match="1 of 4 values are NaN"):
        bs.mean_ci([1.0, float("nan"), 3.0, 5.0], nan="raise")
    with pytest.raises(DataError, match="unknown nan policy 'keep'"):
        bs.mean_ci([1.0], nan="keep")
    res = bs.paired_test([1.0, 2.0, float("nan"), 4.0], [0.5, float("nan"), 1.0, 2.0])
    assert (res["n"], res["dropped"]) == (2, 2)
    assert res["diff"] == pytest.approx(np.mean([0.5, 2.0]))
    with pytest.raises(DataError, match="pairs hold a NaN"):
        bs.paired_test([1.0, float("nan")], [1.0, 2.0], nan="raise")


def test_paired_test_matches_scipy():
    rng = np.random.default_rng(3)
    b = rng.normal(60, 3, size=10)
    a = b + rng.normal(1.5, 2, size=10)
    res = bs.paired_test(a, b)
    d = a - b
    low, high = stats.t.interval(0.95, 9, loc=d.mean(), scale=stats.sem(d))
    assert res["n"] == 10 and res["perm_exact"]
    assert res["diff"] == pytest.approx(d.mean())
    assert (res["low"], res["high"]) == (pytest.approx(low), pytest.approx(high))
    assert res["t_p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert res["perm_p"] == pytest.approx(_brute_signflip(d))
    assert (res["mean_a"], res["mean_b"]) == (pytest.approx(a.mean()), pytest.approx(b.mean()))


def test_signflip_exact_known_answers():
    # All 5 differences positive: only the identity and the all-minus flip are as extreme.
    d = [0.3, 1.2, 0.7, 2.0, 0.1]
    assert bs.signflip_p(d) == (2 / 32, True)
    assert _brute_signflip(d) == 2 / 32
    # Mixed signs, ties included (equal |d|): agree with the brute force.
    for d in ([1.0, -1.0, 2.0, 0.5, 0.5, -0.25], [3.0, 3.0, -3.0], [0.0, 0.0, 0.0]):
        assert bs.signflip_p(d)[0] == pytest.approx(_brute_signflip(d))
    assert bs.signflip_p([0.0, 0.0, 0.0])[0] == 1.0


def test_signflip_monte_carlo_above_exact_limit():
    rng = np.random.default_rng(0)
    d = rng.normal(0.4, 1.0, size=bs.EXACT_MAX_N + 1)
    exact = _brute_signflip_fast(d)
    p, is_exact = bs.signflip_p(d, n_resamples=20_000, seed=1)
    assert not is_exact
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / 20_000) + 1e-4
    assert bs.signflip_p(d, n_resamples=20_000, seed=1)[0] == p  # seeded


def _brute_signflip_fast(d) -> float:
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
    return float(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-9))


def test_n1_and_n2_pairs_claim_nothing():
    one = bs.paired_test([5.0], [3.0])
    assert one["n"] == 1 and math.isnan(one["t_p"]) and math.isnan(one["half"])
    assert one["perm_p"] == 1.0
    assert bs.verdict(one).startswith("nothing claimed: 1 seed ")
    two = bs.paired_test([5.0, 6.0], [3.0, 3.5])
    assert two["t_p"] == pytest.approx(stats.ttest_rel([5.0, 6.0], [3.0, 3.5]).pvalue)
    assert bs.verdict(two, test="t") == (
        "nothing claimed: 2 seeds (at least 3 paired seeds needed)"
    )


def test_format_ci_and_verdicts():
    assert bs.format_ci(61.123, 5.43) == "61.1 ± 5.4"
    assert bs.format_ci(61.123, 5.43, digits=2) == "61.12 ± 5.43"
    assert bs.format_ci(61.0, float("nan")) == "61.0 ± n/a"
    b = np.array([60.0, 61.0, 59.5, 62.0, 60.5, 58.0, 61.5, 60.0, 59.0, 62.5])
    up = bs.paired_test(b + np.array([4.0, 3.5, 5.0, 4.2, 3.9, 4.8, 4.1, 3.7, 4.4, 4.6]), b)
    text = bs.verdict(up)
    assert text.startswith("BE higher by 4.2 ± 0.3 points (p = 0.002, 10 seeds)"), text
    down = bs.paired_test(b, b + 4.0 + 0.1 * np.arange(10))
    assert bs.verdict(down, name="moco+be", baseline="moco").startswith(
        "moco+be lower than moco by 4.5 ± "
    )
    noise = bs.paired_test(b + np.array([1, -1, 2, -2, 0.5, -0.5, 1, -1.5, 0.2, 0.1]), b)
    assert bs.verdict(noise).startswith("not established (+0.0 ± ")
    assert f"p = {noise['perm_p']:.2g}, 10 seeds)" in bs.verdict(noise)
    # Five seeds, all higher: the t-test can claim it, the sign-flip test (p >= 2/32) cannot.
    five = bs.paired_test([5.0, 6.0, 5.5, 6.5, 5.2], [1.0, 1.2, 0.9, 1.1, 1.0])
    assert bs.verdict(five).startswith("not established") and "p = 0.062" in bs.verdict(five)
    assert bs.verdict(five, test="t").startswith("BE higher by")
    with pytest.raises(DataError, match="unknown test 'z'"):
        bs.verdict(five, test="z")


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for seed in range(8):
        base = rng.normal(50, 3)
        rows.append({"method": "moco", "seed": seed, "acc": base})
        rows.append({"method": "moco+be", "seed": seed, "acc": base + rng.normal(2, 1)})
    rows.append({"method": "moco+be", "seed": 99, "acc": 70.0})  # no partner
    rows.append({"method": "moco", "seed": 8, "acc": float("nan")})
    rows.append({"method": "moco+be", "seed": 8, "acc": 51.0})
    return pd.DataFrame(rows)


def test_summarise_and_paired_table():
    df = _frame()
    summary = bs.summarise(df, by="method", value="acc")
    moco = summary.set_index("method").loc["moco"]
    ref = bs.mean_ci(df[df.method == "moco"]["acc"])
    assert (moco["n"], moco["dropped"]) == (8, 1)
    assert moco["half"] == pytest.approx(ref["half"])
    assert moco["text"] == bs.format_ci(ref["mean"], ref["half"])
    table = bs.paired_table(df, pairs=[("moco+be", "moco")], value="acc")
    row = table.iloc[0]
    a = df[df.method == "moco+be"].set_index("seed")["acc"].loc[range(8)]
    b = df[df.method == "moco"].set_index("seed")["acc"].loc[range(8)]
    assert (row["n"], row["dropped"], row["unpaired"]) == (8, 1, 1)
    assert row["t_p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert row["diff"] == pytest.approx((a - b).mean())
    with_nan = bs.paired_test(
        df[df.method == "moco+be"].set_index("seed")["acc"].loc[range(9)],
        df[df.method == "moco"].set_index("seed")["acc"].loc[range(9)],
    )
    text = bs.verdict({**with_nan, "unpaired": 1}, "moco+be", "moco")
    assert row["verdict"] == text and text.endswith(", 8 seeds, 1 dropped (NaN), 1 unpaired)")


def test_table_errors():
    df = _frame()
    with pytest.raises(DataError, match="seed repeated"):
        bs.summarise(pd.concat([df, df.iloc[:1]]), by="method", value="acc")
    with pytest.raises(DataError, match="missing columns \\['score'\\]"):
        bs.summarise(df, by="method", value="score")
    with pytest.raises(DataError, match="unknown method 'simclr'"):
        bs.paired_table(df, pairs=[("simclr", "moco")], value="acc")
