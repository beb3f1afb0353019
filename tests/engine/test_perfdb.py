"""The performance DB: steady-state points, monotone UCB envelopes, capacity never beyond a
stable converged point, instability detected, determinism, cache keyed, stale cache rebuilt,
the Ray backend."""

import json
import math

import attrs
import numpy as np
import pytest

from boute.engine.errors import InputError
from boute.engine.perfdb import (
    MAX_REQUESTS,
    MIN_UNCONVERGED,
    P_TOL,
    REL_TOL,
    _run_point,
    _saturation_rps,
    build_perfdb,
    cache_dir,
    tpot_samples,
)
from boute.engine.replica import ReplicaModel, candidate_configs
from boute.engine.simulator import ReplicaSim, simulate_replica
from boute.engine.steady import QUANTILE_LEVELS
from boute.engine.workload import get_workload

ARGS_KW = dict(max_gpus_per_replica={"H100-SXM": 2, "RTX-4090": 2})


@pytest.fixture(scope="module")
def db(catalog):
    return build_perfdb([catalog.model("Llama-3.1-8B")], [catalog.gpu("H100"), catalog.gpu("RTX-4090")], get_workload("gsm8k"), **ARGS_KW)


@pytest.fixture(scope="module")
def small(catalog):
    """One replica (Llama-3.1-8B on one H100) and its measured saturation rate."""
    wl = get_workload("gsm8k")
    llm, gpu = catalog.model("Llama-3.1-8B"), catalog.gpu("H100")
    cfg = next(c for c, _ in candidate_configs(llm, gpu, max_model_len=wl.max_model_len, max_gpus=1))
    rm = ReplicaModel(llm, gpu, cfg, max_model_len=wl.max_model_len)
    kv = rm.memory().kv_capacity_tokens
    return rm, kv, wl, _saturation_rps(rm, kv, wl, 0)


def _monotone(xs):
    return all(b >= a for a, b in zip(xs, xs[1:]))


def test_curves_monotone_and_steady(db):
    assert len(db.curves) >= 3
    for c in db.curves.values():
        n = len(c.rates_rps)
        assert n >= 3
        assert all(b > a for a, b in zip(c.rates_rps, c.rates_rps[1:]))
        assert _monotone(c.p95_s)
        assert len(c.p95_point_s) == len(c.p95_halfwidth_s) == len(c.p95_halfwidth_p) == len(c.converged) == len(c.requests) == n
        for metric, row in c.quantiles_s.items():
            for level, env in row.items():
                assert len(env) == n and _monotone(env), (metric, level)
        assert set(c.quantiles_s) == {"e2e", "ttft", "tpot"} and set(c.quantiles_s["e2e"]) == set(QUANTILE_LEVELS)
        assert c.quantiles_s["e2e"][0.95] == c.p95_s
        # Each kept point is converged (probability half-width <= P_TOL or value half-width <=
        # REL_TOL) or ran at least MIN_UNCONVERGED requests; its UCB lies above its estimate.
        for p, hw, hwp, conv, ucb, req in zip(c.p95_point_s, c.p95_halfwidth_s, c.p95_halfwidth_p, c.converged, c.p95_s, c.requests):
            assert conv == (hwp <= P_TOL or hw <= REL_TOL * p + 1e-12)
            assert conv or req >= MIN_UNCONVERGED
            assert ucb >= p and hw >= 0
            assert req <= MAX_REQUESTS
        assert c.converged[0]  # the lowest load always converges
        e2e = c.quantiles_s["e2e"]
        for i in range(n):  # the quantile levels are ordered at every rate
            assert e2e[0.5][i] <= e2e[0.9][i] <= e2e[0.95][i] <= e2e[0.99][i]
        assert c.tpot_mean_s[0] > 0 and c.ttft_mean_s[0] > 0


def test_capacity_never_beyond_a_stable_converged_point(db):
    for c in db.curves.values():
        last = c.rates_rps[-1]
        assert last < c.saturation_rps  # at or above the sustainable rate is unstable by definition
        assert c.capacity(1e9) == last
        for metric, row in c.quantiles_s.items():
            for level in row:
                assert c.capacity(1e9, metric=metric, level=level) == last
        # every simulated point that was not kept lies above the last kept one
        assert all(rate > last for rate, _ in c.excluded)
        assert all(why for _, why in c.excluded)


def test_capacity_is_the_inverse_of_the_ucb_envelope(db):
    for c in db.curves.values():
        for i in range(1, len(c.rates_rps) - 1):
            T = c.p95_s[i]
            if c.p95_s[i + 1] > T:  # strictly rising step
                assert c.capacity(T) == pytest.approx(c.rates_rps[i], rel=1e-9)
            assert c.p95_s[i] <= T  # the UCB at the capacity is within T
        assert c.capacity(c.p95_s[0] * 0.5) == 0.0
        for metric in ("e2e", "ttft", "tpot"):
            caps = [c.capacity(t, metric=metric) for t in (0.01, 0.05, 1, 2, 5, 10, 30)]
            assert caps == sorted(caps)


def test_capacity_bad_metric_or_level(db):
    c = next(iter(db.curves.values()))
    with pytest.raises(InputError, match="metric: 'itl'"):
        c.capacity(5.0, metric="itl")
    with pytest.raises(InputError, match="level: 0.5 is not stored for ttft"):
        c.capacity(5.0, metric="ttft", level=0.5)


def test_saturation_is_the_overloaded_completion_rate(small):
    rm, kv, wl, sat = small
    # An open run at 1.5 x the measured rate: once the queue has built up, completions per
    # second are the replica's sustainable throughput.
    s = wl.stream(1.5 * sat, 6000, 11)
    sim = ReplicaSim(rm, kv)
    for a, p, o in zip(s.arrival_s.tolist(), s.prompt_tokens.tolist(), s.output_tokens.tolist()):
        sim.run_until(a)
        sim.submit(a, p, o)
    t0, t1 = s.arrival_s[1500], s.arrival_s[-1]
    fin = np.array(sim.finish)
    done = np.sum((fin > t0) & (fin <= t1))
    assert done / (t1 - t0) == pytest.approx(sat, rel=0.05)


@pytest.mark.parametrize("factor", [1.0, 1.2])
def test_instability_detected_at_or_above_saturation(small, factor):
    rm, kv, wl, sat = small
    base = wl.stream(1.0, MAX_REQUESTS, 0)
    r = _run_point(rm, kv, base, factor * sat)
    assert not r["ok"]
    assert any(w in r["why"] for w in ("grows", "waited", "correlated", "completed"))


def test_stable_point_is_kept(small):
    rm, kv, wl, sat = small
    r = _run_point(rm, kv, wl.stream(1.0, MAX_REQUESTS, 0), 0.3 * sat)
    assert r["ok"] and r["conv"] and (r["hwp"] <= P_TOL or r["hw"] <= REL_TOL * r["p95"]) and r["n"] <= MAX_REQUESTS


def test_tpot_ignores_one_token_outputs():
    first = np.array([1.0, 2.0, 3.0])
    finish = np.array([1.0, 4.0, 3.5])
    out = np.array([1, 3, 2])
    assert tpot_samples(first, finish, out).tolist() == [1.0, 0.5]
    assert tpot_samples(first[:1], finish[:1], out[:1]).size == 0


ONE_KW = dict(max_gpus_per_replica={"H100-SXM": 1})


def _one_args(catalog):
    return [catalog.model("Llama-3.1-8B")], [catalog.gpu("H100")], get_workload("gsm8k")


@pytest.fixture(scope="module")
def one(catalog):
    """A one-config DB (cheap to rebuild)."""
    return build_perfdb(*_one_args(catalog), **ONE_KW)


def test_deterministic(catalog, one):
    again = build_perfdb(*_one_args(catalog), use_cache=False, **ONE_KW)
    assert len(one.curves) == 1 and again.curves == one.curves
    # A fresh build holds plain floats, as a cached one does (numpy scalars break YAML dumps).
    c = next(iter(again.curves.values()))
    values = [
        c.saturation_rps,
        *c.rates_rps,
        *c.p95_s,
        *c.p95_point_s,
        *c.p95_halfwidth_s,
        *c.mean_s,
        *c.tpot_mean_s,
        *(x for row in c.quantiles_s.values() for env in row.values() for x in env),
    ]
    assert all(type(x) is float for x in values)


def test_cache_hit_and_stale_detection(catalog, one):
    args = _one_args(catalog)
    again = build_perfdb(*args, **ONE_KW)
    assert again.from_cache and again.key == one.key and again.curves == one.curves
    path = next(cache_dir().glob(f"perfdb-{one.key[:24]}.json"))
    doc = json.loads(path.read_text())
    doc["payload"][0]["p95"][0] = -1.0  # tamper: checksum no longer matches
    path.write_text(json.dumps(doc))
    rebuilt = build_perfdb(*args, **ONE_KW)
    assert not rebuilt.from_cache and rebuilt.curves == one.curves
    path.write_text("{not json")
    assert not build_perfdb(*args, **ONE_KW).from_cache
    other = build_perfdb(*args, seed=1, use_cache=False, **ONE_KW)
    assert other.key != one.key and other.curves != one.curves


def test_table_prints_capacity(db):
    rows = db.table()
    assert rows and {"config", "kv_tokens", "sat_rps", "cap@5s"} <= set(rows[0])
    assert all(math.isfinite(r["cap@5s"]) for r in rows)


def test_progress_reports_every_config(catalog):
    seen = []
    db = build_perfdb(
        [catalog.model("Llama-3.1-8B")],
        [catalog.gpu("H100")],
        get_workload("gsm8k"),
        max_gpus_per_replica={"H100-SXM": 2},
        use_cache=False,
        workers=2,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert len(db.curves) == 2 and seen == [(1, 2), (2, 2)]


def test_unknown_backend(catalog):
    with pytest.raises(InputError, match="backend: 'dask'"):
        build_perfdb([catalog.model("Llama-3.1-8B")], [catalog.gpu("H100")], get_workload("gsm8k"), backend="dask")


def test_ray_backend_gives_the_same_db(catalog):
    ray = pytest.importorskip("ray", reason="ray is optional: pip install 'boute[ray]'")
    args = _one_args(catalog)
    kw = dict(max_gpus_per_replica={"H100-SXM": 2}, use_cache=False)
    local = build_perfdb(*args, workers=1, **kw)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        seen = []
        remote = build_perfdb(*args, backend="ray", progress=lambda d, t: seen.append(d), **kw)
    finally:
        ray.shutdown()
    assert remote.curves == local.curves
    assert seen and seen[-1] == len(remote.curves)


def test_config_without_kept_points_is_not_offered(db):
    c = next(iter(db.curves.values()))
    empty = attrs.evolve(
        c,
        rates_rps=(),
        p95_s=(),
        p95_point_s=(),
        p95_halfwidth_s=(),
        p95_halfwidth_p=(),
        converged=(),
        mean_s=(),
        ttft_mean_s=(),
        tpot_mean_s=(),
        requests=(),
        quantiles_s={m: {lv: () for lv in row} for m, row in c.quantiles_s.items()},
    )
    assert empty.capacity(1e9) == 0.0 and empty.capacity(5.0, metric="ttft") == 0.0
    db2 = attrs.evolve(db, curves={**db.curves, c.config.key: empty})
    keys = [x.config.key for x in db2.for_model(c.config.model)]
    assert c.config.key not in keys and len(keys) == len(db.for_model(c.config.model)) - 1


def test_gapped_workload_gets_converged_points(catalog):
    """azure-code: output lengths jump from ~100 to ~450 tokens between their 95th and 96th
    percentile, so the end-to-end P95 sits in a gap and the value-scale interval never
    shrank (3 kept points over 30 configs before). On the probability scale it converges."""
    wl = get_workload("azure-code")
    llm, gpu = catalog.model("Llama-3.1-8B"), catalog.gpu("H100")
    db = build_perfdb([llm], [gpu], wl, max_gpus_per_replica={"H100-SXM": 1}, use_cache=False, workers=1)
    (c,) = db.curves.values()
    assert len(c.rates_rps) >= 4 and sum(c.converged) >= 4
    assert all(hwp <= P_TOL for hwp, conv in zip(c.p95_halfwidth_p, c.converged) if conv)


def test_unconverged_point_keeps_a_valid_upper_bound(small):
    """Near saturation (93 % of the sustainable rate) the P95 does not converge within the cap;
    the point is kept because it is stable and its batches are independent, and its upper
    bound is above what a three-times-longer run on a fresh seed measures."""
    rm, kv, wl, sat = small
    r = _run_point(rm, kv, wl.stream(1.0, MAX_REQUESTS, 0), 0.93 * sat)
    assert r["ok"] and not r["conv"] and r["n"] >= MIN_UNCONVERGED
    assert r["e2e"]["0.95"] > r["p95"]
    long = simulate_replica(rm, wl.stream(0.93 * sat, 3 * MAX_REQUESTS, 5), kv_capacity_tokens=kv)
    assert long.p95_s <= r["e2e"]["0.95"]
