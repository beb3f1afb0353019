"""The steady-state estimator against closed-form queues (M/M/1, M/D/1), its intervals and trend test."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from boute.engine.errors import InputError
from boute.engine.steady import QUANTILE_LEVELS, estimate_quantile, trend_test


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
