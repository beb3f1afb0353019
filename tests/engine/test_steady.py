"""The steady-state estimator against closed-form queues (M/M/1, M/D/1), its intervals and trend test."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from boute.engine.errors import InputError
from boute.engine.steady import P_TOL, QUANTILE_LEVELS, estimate_quantile, estimate_quantiles_prob, exceedance_ucb, mser_warmup, trend_test


def lindley_sojourn(interarrival: np.ndarray, service: np.ndarray) -> np.ndarray:
    """Sojourn times of a FIFO single-server queue, in arrival order (Lindley's recursion
    W_{n+1} = max(0, W_n + S_n - A_{n+1}), solved as W_n = Z_n - min_{k <= n} Z_k with
    Z_n = sum_{i < n} (S_i - A_{i+1}); the queue starts empty)."""
    x = service[:-1] - interarrival[1:]
    z = np.concatenate([[0.0], np.cumsum(x)])
    w = z - np.minimum.accumulate(np.minimum(z, 0.0))
    return w + service


def mm1(lam: float, mu: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return lindley_sojourn(rng.exponential(1 / lam, n), rng.exponential(1 / mu, n))


def md1(lam: float, d: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return lindley_sojourn(rng.exponential(1 / lam, n), np.full(n, d))


def md1_wait_cdf(t: float, lam: float, d: float) -> float:
    """Erlang's M/D/1 waiting-time distribution:
    P(W <= t) = (1 - rho) sum_{k=0}^{floor(t/D)} (lam (k D - t))^k / k! e^{-lam (k D - t)}."""
    rho = lam * d
    return (1 - rho) * sum((lam * (k * d - t)) ** k / math.factorial(k) * math.exp(-lam * (k * d - t)) for k in range(int(t // d) + 1))


def test_lindley_helper_matches_the_loop():
    rng = np.random.default_rng(3)
    a, s = rng.exponential(1.0, 500), rng.exponential(0.8, 500)
    w, out = 0.0, []
    for i in range(500):
        if i:
            w = max(0.0, w + s[i - 1] - a[i])
        out.append(w + s[i])
    assert np.allclose(lindley_sojourn(a, s), out)


@pytest.mark.parametrize("rho", [0.5, 0.7, 0.8])
def test_mm1_p95_within_3_percent(rho):
    mu = 1.0
    lam = rho * mu
    truth = math.log(20.0) / (mu - lam)  # sojourn ~ Exp(mu - lam)
    est = estimate_quantile(mm1(lam, mu, 1_000_000, seed=1), 0.95)
    assert est.converged
    assert est.value_s == pytest.approx(truth, rel=0.03)
    assert est.lo_s <= truth * 1.03 and est.hi_s >= truth * 0.97
    assert est.half_width_rel <= 0.05


@pytest.mark.parametrize("level", QUANTILE_LEVELS)
def test_mm1_every_stored_level(level):
    lam, mu = 0.6, 1.0
    truth = -math.log(1 - level) / (mu - lam)
    est = estimate_quantile(mm1(lam, mu, 400_000, seed=2), level)
    assert est.value_s == pytest.approx(truth, rel=0.03)


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_md1_p95_within_3_percent(rho):
    d = 1.0
    lam = rho / d
    w95 = brentq(lambda t: md1_wait_cdf(t, lam, d) - 0.95, 1e-9, 20.0)  # the alternating sum loses precision far beyond
    truth = w95 + d
    est = estimate_quantile(md1(lam, d, 1_000_000, seed=4), 0.95)
    assert est.converged
    assert est.value_s == pytest.approx(truth, rel=0.03)


def test_md1_cdf_is_a_distribution():
    lam, d = 0.7, 1.0
    assert md1_wait_cdf(0.0, lam, d) == pytest.approx(1 - lam * d)
    vals = [md1_wait_cdf(t, lam, d) for t in np.linspace(0, 20, 81)]
    assert all(b >= a - 1e-12 for a, b in zip(vals, vals[1:])) and vals[-1] == pytest.approx(1.0, abs=1e-4)


def test_interval_coverage_is_near_nominal():
    lam, mu = 0.5, 1.0
    truth = math.log(20.0) / (mu - lam)
    hits = 0
    reps = 200
    for seed in range(reps):
        est = estimate_quantile(mm1(lam, mu, 20_000, seed=100 + seed), 0.95)
        hits += est.lo_s <= truth <= est.hi_s
    # Nominal 95 %; sectioning with 20 batches of a correlated queue is close to it.
    assert 0.85 <= hits / reps <= 1.0


def test_longer_runs_give_narrower_intervals():
    x = mm1(0.6, 1.0, 200_000, seed=7)
    short, long = estimate_quantile(x[:10_000]), estimate_quantile(x)
    assert long.half_width_rel < short.half_width_rel


def test_small_samples_are_finite_and_not_converged():
    for n in (1, 2, 10, 150):
        est = estimate_quantile(np.linspace(1.0, 2.0, n), 0.95)
        assert not est.converged and est.batches == 0
        assert all(math.isfinite(v) for v in (est.value_s, est.lo_s, est.hi_s, est.half_width_rel))
        assert est.lo_s <= est.value_s <= est.hi_s
    const = estimate_quantile(np.full(5000, 3.0))
    assert const.converged and const.value_s == const.hi_s == 3.0 and const.half_width_rel == 0.0


def test_batches_shrink_to_fit_the_tail():
    est = estimate_quantile(mm1(0.5, 1.0, 2000, seed=0), 0.99)  # 500 samples per batch needed -> 3 < 5 batches
    assert est.batches == 0 and not est.converged
    est = estimate_quantile(mm1(0.5, 1.0, 2000, seed=0), 0.95)  # 100 per batch -> 18 batches
    assert est.batches == 18


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(samples=[], level=0.95), "samples: empty"),
        (dict(samples=[1.0, float("nan")], level=0.95), "NaN or inf"),
        (dict(samples=[1.0, float("inf")], level=0.95), "NaN or inf"),
        (dict(samples=[1.0], level=1.0), "level: 1.0"),
        (dict(samples=[1.0], level=0.95, confidence=0.0), "confidence: 0.0"),
        (dict(samples=[1.0], level=0.95, warmup_fraction=1.0), "warmup_fraction: 1.0"),
        (dict(samples=[1.0], level=0.95, batches=1), "batches: 1"),
        (dict(samples=[1.0], level=0.95, rel_tol=0.0), "rel_tol: 0.0"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        estimate_quantile(**kwargs)


def test_trend_flags_an_overloaded_queue_only():
    assert trend_test(mm1(1.2, 1.0, 20_000, seed=5)).growing  # rho = 1.2: the queue grows without bound
    assert trend_test(mm1(1.02, 1.0, 20_000, seed=5)).growing
    for seed in range(20):
        assert not trend_test(mm1(0.7, 1.0, 20_000, seed=seed)).growing
    assert not trend_test([1.0, 2.0]).growing
    with pytest.raises(InputError, match="batches: 2"):
        trend_test([1.0] * 10, batches=2)


# ----------------------------------------------------------------------------- probability scale
def gapped(n: int, seed: int, lam: float = 0.05, p_long: float = 0.04) -> np.ndarray:
    """M/G/1 sojourn times with a bimodal service time (about 1 s, or about 10 s with
    probability ``p_long``): the P95 falls into the sparse region between the two modes, as
    azure-code's end-to-end P95 does (its output lengths jump from ~100 to ~450 tokens
    between the 95th and the 96th percentile)."""
    rng = np.random.default_rng(seed)
    long = rng.random(n) < p_long
    service = np.where(long, rng.gamma(20.0, 0.5, n), rng.gamma(20.0, 0.05, n))
    return lindley_sojourn(rng.exponential(1 / lam, n), service)


@pytest.fixture(scope="module")
def gapped_truth():
    return np.sort(gapped(4_000_000, seed=99))


def _cdf(sorted_x: np.ndarray, t: float) -> float:
    return float(np.searchsorted(sorted_x, t, side="right")) / sorted_x.size


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gapped_distribution_value_scale_fails_probability_scale_converges(seed, gapped_truth):
    x = gapped(100_000, seed)
    old = estimate_quantile(x, 0.95)
    assert not old.converged  # batch quantiles jump across the gap: the value interval stays wide
    new = estimate_quantiles_prob(x, (0.95,))[0.95]
    assert new.converged and new.half_width_p <= P_TOL and new.batches_independent
    assert new.value_s == old.value_s  # same point estimate, only the interval differs
    # Correct against a 4,000,000-sample run: the estimate's true level is within the tolerance
    # of 95 %, and the upper bound really is at or above the P95 (P(X > hi) <= 5 %).
    assert abs(_cdf(gapped_truth, new.value_s) - 0.95) <= P_TOL
    assert _cdf(gapped_truth, new.hi_s) >= 0.95
    assert _cdf(gapped_truth, new.lo_s) <= 0.95
    assert exceedance_ucb(x, new.hi_s) <= 0.05 + 1e-12


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_probability_scale_on_closed_form_queues(rho):
    mu = 1.0
    truth = math.log(20.0) / (mu - rho)
    x = mm1(rho, mu, 1_000_000, seed=1)
    est = estimate_quantiles_prob(x, QUANTILE_LEVELS)
    assert est[0.95].converged and est[0.95].value_s == pytest.approx(truth, rel=0.03)
    assert est[0.95].lo_s <= truth <= est[0.95].hi_s
    for lv, e in est.items():  # every stored level
        assert e.value_s == pytest.approx(-math.log(1 - lv) / (mu - rho), rel=0.03)
    d = 1.0
    w95 = brentq(lambda t: md1_wait_cdf(t, rho, d) - 0.95, 1e-9, 20.0)
    e = estimate_quantiles_prob(md1(rho, d, 1_000_000, seed=4), (0.95,))[0.95]
    assert e.converged and e.value_s == pytest.approx(w95 + d, rel=0.03)


def test_probability_interval_coverage_is_near_nominal():
    lam, mu = 0.5, 1.0
    truth = math.log(20.0) / (mu - lam)
    reps = 200
    hits = sum(estimate_quantiles_prob(mm1(lam, mu, 20_000, seed=100 + s), (0.95,))[0.95].hi_s >= truth for s in range(reps))
    # One side of a two-sided 95 % interval: about 97.5 % of upper bounds lie above the truth.
    assert hits / reps >= 0.9


def test_exceedance_ucb_decides_admissibility():
    x = mm1(0.6, 1.0, 200_000, seed=3)
    truth = math.log(20.0) / 0.4
    assert exceedance_ucb(x, truth * 1.2) <= 0.05 < exceedance_ucb(x, truth * 0.8)
    assert exceedance_ucb([1.0, 2.0], 1.5) == 1.0  # too few samples: no statement


@pytest.mark.parametrize("seed", range(5))
def test_lag1_flags_short_batches(seed):
    # A latency level that drifts slowly (two cycles over the run, as a load that varies on
    # the scale of many batches): neighbouring batches share their tail, the batch means are
    # correlated and the interval is not to be trusted. An M/M/1 at rho = 0.5 is fine.
    rng = np.random.default_rng(seed)
    n = 20_000
    drift = 5.0 + 4.0 * np.sin(2 * np.pi * np.arange(n) / (n / 2))
    bad = estimate_quantiles_prob(drift + rng.exponential(1.0, n), (0.95,))[0.95]
    good = estimate_quantiles_prob(mm1(0.5, 1.0, 200_000, seed=seed), (0.95,))[0.95]
    assert not bad.batches_independent and good.batches_independent
    assert not estimate_quantiles_prob(np.linspace(0, 1, 100), (0.95,))[0.95].batches_independent  # no batches at all


def test_probability_estimator_small_samples_and_ties():
    for n in (1, 10, 150):
        e = estimate_quantiles_prob(np.linspace(1.0, 2.0, n), (0.5, 0.95))[0.95]
        assert not e.converged and e.batches == 0 and e.lo_s <= e.value_s <= e.hi_s
    const = estimate_quantiles_prob(np.full(5000, 3.0), (0.95,))[0.95]
    assert const.converged and const.value_s == const.hi_s == 3.0 and const.half_width_p == 0.0
    ties = estimate_quantiles_prob(np.round(mm1(0.5, 1.0, 50_000, seed=2), 1), (0.95,))[0.95]
    assert ties.lo_s <= ties.value_s <= ties.hi_s and ties.hi_s in set(np.round(mm1(0.5, 1.0, 50_000, seed=2), 1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(samples=[1.0], levels=()), "levels: empty"),
        (dict(samples=[1.0], levels=(1.5,)), "level: 1.5"),
        (dict(samples=[], levels=(0.95,)), "samples: empty"),
        (dict(samples=[1.0], levels=(0.95,), p_tol=0.0), "p_tol: 0.0"),
        (dict(samples=[1.0], levels=(0.95,), rel_tol=0.0), "rel_tol: 0.0"),
        (dict(samples=[1.0], levels=(0.95,), batches=1), "batches: 1"),
    ],
)
def test_probability_estimator_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        estimate_quantiles_prob(**kwargs)


def test_mser_finds_a_long_fill_up():
    rng = np.random.default_rng(0)
    n = 10_000
    ramp = np.minimum(np.arange(n) / 3000.0, 1.0) * 10.0  # fills up over the first 30 %
    d = mser_warmup(ramp + rng.normal(0, 1.0, n))
    assert 0.2 * n <= d <= 0.4 * n
    assert mser_warmup(rng.normal(5.0, 1.0, n)) <= 0.1 * n  # stationary: little or nothing to drop
    assert mser_warmup([1.0, 2.0, 3.0]) == 0
