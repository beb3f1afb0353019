"""Verification: the latency promise is checked by a converged whole-system re-simulation;
a plan that fails it is derated and re-solved, or refused; pooled quantiles; TTFT/TPOT SLOs."""

import attrs
import numpy as np
import pytest

from boute.engine.errors import InfeasibleError, InputError
from boute.engine.planner import Planner
from boute.engine.scenario import Scenario
from boute.engine.steady import estimate_quantile
from boute.engine.verify import Promise, mixture_quantile, resimulate


def _cost_scenario(catalog, small_dict, **over):
    small_dict.update(objective="cost", latency_slo_s=10.0, budget_usd_per_hour=None, **over)
    return Scenario.from_dict(small_dict, catalog)


def _inflated(planner, factor):
    """The planner's perf DB with every capacity claimed ``factor`` times too high."""
    db = planner.perfdb
    return attrs.evolve(db, curves={k: attrs.evolve(v, rates_rps=tuple(r * factor for r in v.rates_rps)) for k, v in db.curves.items()})


def test_plan_carries_latency_checks_with_confidence_intervals(small_planner):
    p = small_planner.plan(strategy="random", baselines=False)
    assert p.verification.ok and p.verification.latency_verified and p.dispatch_policy == "weighted-random"
    names = {c.name for c in p.verification.checks}
    for d in p.deployments:
        if d.load_share > 0:
            assert f"latency {d.model}" in names
            sim = d.simulated
            assert sim.p95_lo_s <= sim.p95_s <= sim.p95_hi_s <= p.p95_bound_s
            assert sim.p95_requests >= 18_000 and sim.p95_converged
    assert p.simulated.p95_lo_s <= p.simulated.p95_s <= p.simulated.p95_hi_s
    assert p.stats.derate_rounds == 0
    doc = p.to_dict()
    assert doc["dispatch_policy"] == "weighted-random" and doc["deployments"][0]["simulated"]["p95_requests"] > 0


def test_verification_rejects_a_plan_over_its_bound(catalog, small_dict, small_planner):
    """A perf DB that claims twice the real capacity: the plan it yields is re-simulated far
    above its bound, and assemble() reports the failing, named latency check."""
    sc = _cost_scenario(catalog, small_dict, arrival_rate_per_s=6.0)
    pl = Planner(sc, catalog, perfdb=_inflated(small_planner, 2.0))
    ev = pl.evaluate([0.5, 0.5])
    assert ev.feasible
    p = pl.assemble(ev)
    failed = p.verification.failed()
    assert not p.verification.ok and failed and all(c.name.startswith("latency ") for c in failed)
    assert all(c.measured_s > c.limit_s for c in failed)
    assert p.verification.derate and all(0 < f < 1 for f in p.verification.derate.values())


def test_derating_converges_is_reported_and_deterministic(catalog, small_dict, small_planner):
    sc = _cost_scenario(catalog, small_dict, arrival_rate_per_s=6.0)
    pl = Planner(sc, catalog, perfdb=_inflated(small_planner, 2.0))
    a = pl.plan(strategy="random", baselines=False)
    assert a.verification.ok and a.stats.derate_rounds >= 1
    assert a.stats.latency_failures[0].failed and a.stats.derated_capacity
    assert all(d.simulated.p95_s <= a.p95_bound_s for d in a.deployments if d.simulated)
    first = a.stats.latency_failures[0].cost_usd_per_hour
    assert a.cost_usd_per_hour > first  # derating bought the capacity the inflated DB hid
    b = Planner(sc, catalog, perfdb=_inflated(small_planner, 2.0)).plan(strategy="random", baselines=False)
    strip = lambda d: {k: v for k, v in d.items() if k != "stats"}  # noqa: E731
    assert strip(a.to_dict()) == strip(b.to_dict()) and a.stats.derated_capacity == b.stats.derated_capacity


def test_still_failing_after_the_last_round_raises(catalog, small_dict, small_planner, monkeypatch):
    import boute.engine.planner as planner_mod

    monkeypatch.setattr(planner_mod, "MAX_DERATE_ROUNDS", 0)
    pl = Planner(_cost_scenario(catalog, small_dict, arrival_rate_per_s=6.0), catalog, perfdb=_inflated(small_planner, 2.0))
    with pytest.raises(InfeasibleError, match=r"failed its latency re-simulation after 0 derating round\(s\): latency Llama"):
        pl.plan(strategy="random", baselines=False)


def test_tight_ttft_tpot_slos_bind(catalog, small_dict, small_planner):
    free = Planner(_cost_scenario(catalog, dict(small_dict)), catalog, perfdb=small_planner.perfdb).plan(strategy="random", baselines=False)
    tight = Planner(_cost_scenario(catalog, dict(small_dict), ttft_slo_s=0.3, tpot_slo_s=0.03), catalog, perfdb=small_planner.perfdb).plan(
        strategy="random", baselines=False
    )
    assert tight.cost_usd_per_hour > free.cost_usd_per_hour
    assert free.deployments[-1].simulated.tpot_p95_s > 0.03  # the SLO was not met for free
    names = {c.name for c in tight.verification.checks}
    assert {"ttft Llama-3.1-8B", "tpot Llama-3.1-70B"} <= names and tight.verification.ok
    for d in tight.deployments:
        assert d.simulated.ttft_p95_s <= 0.3 and d.simulated.tpot_p95_s <= 0.03
    assert tight.ttft_slo_s == 0.3 and tight.tpot_slo_s == 0.03
    unreachable = Planner(_cost_scenario(catalog, dict(small_dict), ttft_slo_s=0.001), catalog, perfdb=small_planner.perfdb)
    with pytest.raises(InfeasibleError, match="TTFT / TPOT SLOs"):
        unreachable.plan(strategy="random", baselines=False)


def test_system_metric_plan_checks_pooled_p95(catalog, small_dict, small_planner):
    sc = _cost_scenario(catalog, small_dict, latency_metric="system")
    p = Planner(sc, catalog, perfdb=small_planner.perfdb).plan(strategy="random", baselines=False)
    assert p.latency_metric == "system" and p.verification.ok
    check = next(c for c in p.verification.checks if c.name == "latency (all requests)")
    assert check.ok and check.measured_s <= p.p95_bound_s
    loads = [d.load_rps for d in p.deployments]
    assert sum(ld * d.quantile_level for ld, d in zip(loads, p.deployments)) >= 0.95 * sum(loads) - 1e-9


def test_resimulation_is_seeded(small_planner):
    ev = small_planner.evaluate([0.6, 0.4], objective="cost")
    pl, r = small_planner, ev.result
    counts = {m: {k: (pl.config_of(k), n) for k, n in row.items()} for m, row in r.counts.items()}
    w = {m: {k: 1.0 for k in row} for m, row in r.counts.items()}
    run = lambda seed: resimulate(
        pl.scenario,
        pl.catalog,
        pl.workload,
        ev.shares,
        counts,
        w,
        pl.perfdb.max_model_len,  # noqa: E731
        promise=Promise(bound_s=10.0),
        n_requests=4000,
        max_requests=4000,
        seed=seed,
    )
    a, b, c = run(1), run(1), run(2)
    assert a.system == b.system and a.system != c.system and a.requests == 8000


def test_mixture_quantile_matches_closed_form():
    """Two exponential populations (means 1 and 4) mixed 70/30: the pooled P95 solves
    0.7 (1 - e^{-t}) + 0.3 (1 - e^{-t/4}) = 0.95; the estimate's interval covers it, and
    one population reduces to estimate_quantile."""
    rng = np.random.default_rng(3)
    a, b = rng.exponential(1.0, 40_000), rng.exponential(4.0, 10_000)  # counts unlike the weights
    lo, hi = 0.0, 50.0
    for _ in range(100):
        t = (lo + hi) / 2
        lo, hi = (t, hi) if 0.7 * (1 - np.exp(-t)) + 0.3 * (1 - np.exp(-t / 4)) < 0.95 else (lo, t)
    e = mixture_quantile([a, b], [0.7, 0.3], 0.95)
    assert e.lo_s <= lo <= e.hi_s and abs(e.value_s - lo) / lo < 0.03 and e.converged
    one = mixture_quantile([a], [1.0], 0.95)
    ref = estimate_quantile(a, 0.95, warmup_fraction=0.0)
    assert one.value_s == pytest.approx(ref.value_s, rel=1e-3) and one.batches == ref.batches
    with pytest.raises(InputError, match="no population with samples"):
        mixture_quantile([np.array([])], [1.0])


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("latency_metric", "pooled", r"latency_metric: 'pooled' is not a latency metric"),
        ("latency_metric", "", r"latency_metric: '' is not a latency metric"),
        ("ttft_slo_s", -1, r"ttft_slo_s: -1 must be a positive finite number"),
        ("tpot_slo_s", "fast", r"tpot_slo_s: 'fast' must be a positive finite number"),
        ("tpot_slo_s", float("nan"), r"tpot_slo_s: nan must be a positive finite number"),
    ],
)
def test_scenario_latency_fields_are_validated(catalog, small_dict, field, value, message):
    small_dict[field] = value
    with pytest.raises(InputError, match=message):
        Scenario.from_dict(small_dict, catalog)


def test_scenario_latency_fields_round_trip(catalog, small_dict):
    small_dict.update(latency_metric="system", ttft_slo_s=0.5, tpot_slo_s=0.04)
    sc = Scenario.from_dict(small_dict, catalog)
    assert (sc.latency_metric, sc.ttft_slo_s, sc.tpot_slo_s) == ("system", 0.5, 0.04)
    assert Scenario.from_dict(sc.to_dict(), catalog) == sc


def test_verify_refuses_a_precision_the_scenario_or_catalog_cannot_serve(catalog, small_dict, small_planner):
    from boute.engine.replica import ReplicaConfig
    from boute.engine.verify import verify_allocation

    def check(sc, model, dtype):
        cfg = ReplicaConfig(model=model, gpu="H100-SXM", tp=1, weight_dtype=dtype)
        counts = {model: {cfg.key: (cfg, 1)}}
        out = verify_allocation(sc, catalog, small_planner.router, [1.0, 0.0], counts, 4096)
        return next(c for c in out["checks"] if c["name"] == f"precision {cfg.key}")

    bf16_only = Scenario.from_dict(small_dict, catalog)
    c = check(bf16_only, "Llama-3.1-8B", "int4")
    assert not c["ok"] and "int4 is not among the scenario's weight_dtypes ['bf16']" in c["detail"]
    with_int4 = Scenario.from_dict({**small_dict, "weight_dtypes": ["bf16", "int4"]}, catalog)
    c = check(with_int4, "Llama-3.1-8B", "int4")
    assert c["ok"] and "serves neuralmagic/Meta-Llama-3.1-8B-Instruct-quantized.w4a16" in c["detail"]
    c = check(with_int4, "Qwen2.5-7B", "int4")
    assert not c["ok"] and "Qwen2.5-7B has no pre-quantized int4 checkpoint" in c["detail"]
