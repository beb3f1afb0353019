"""Infeasibility answers: the least budget and the best latency over what was searched,
each checked by re-planning at the stated figure (a plan) and just below it (none)."""

import re

import pytest

from boute.engine.errors import InfeasibleError
from boute.engine.infeasible import explain_no_plan, least_budget
from boute.engine.optimizer import Trial
from boute.engine.planner import Planner
from boute.engine.problem import latency_grid
from boute.engine.scenario import Scenario

BASE = {
    "name": "infeasible",
    "gpus": {"H100-SXM": 8},
    "models": ["Llama-3.1-8B", "Llama-3.1-70B"],
    "arrival_rate_per_s": 2.0,
    "quality": {"data": "calibrated", "router": "noisy", "auc": 0.8},
    "budget_usd_per_hour": 40.0,
    "quality_min": 89.0,
    "latency_slo_s": 8.0,
    "max_trials": 4,
    "stall_trials": 3,
}


@pytest.fixture(scope="module")
def planner(catalog):
    return Planner(Scenario.from_dict(BASE, catalog), catalog)


def _replan(planner, **changes):
    """The same planner (perf DB, solver) with scenario fields changed; random trials do
    not depend on the budget or SLO, so the same routings are searched."""
    old = planner.scenario
    try:
        planner.scenario = old.with_overrides(planner.catalog, **changes)
        planner._options = planner._build_options()
        return planner.plan(strategy="random", baselines=False, verify=False)
    finally:
        planner.scenario = old
        planner._options = planner._build_options()


def _stated_budget(err: str) -> float:
    return float(re.search(r"least budget .*: \$([0-9.]+)/h", err).group(1))


@pytest.mark.parametrize("mode", ["joint", "split"])
@pytest.mark.parametrize("objective", ["latency", "cost"])
def test_least_budget_is_feasible_and_a_cent_below_is_not(planner, mode, objective):
    with pytest.raises(InfeasibleError, match=r"budget_usd_per_hour: \$3.00/h is below the least budget") as exc:
        _replan(planner, budget_usd_per_hour=3.0, mode=mode, objective=objective)
    need = _stated_budget(str(exc.value))
    assert need > 3.0 and "\n" not in exc.value.one_line()
    plan = _replan(planner, budget_usd_per_hour=need, mode=mode, objective=objective)
    assert plan.cost_usd_per_hour <= need + 1e-6 and plan.verification["ok"]
    with pytest.raises(InfeasibleError, match="least budget"):
        _replan(planner, budget_usd_per_hour=need - 0.01, mode=mode, objective=objective)


def test_least_budget_is_the_minimum_over_trials_not_the_first(planner):
    """Trials in an order where the first is the dearest: the answer is the cheapest."""
    sc = planner.scenario.with_overrides(planner.catalog, budget_usd_per_hour=3.0)
    old = planner.scenario
    planner.scenario = sc
    try:
        shares = [(0.3, 0.7), (0.6, 0.4), (0.9, 0.1), (0.0, 1.0)]
        trials = []
        for s in shares:
            ev = planner.evaluate(s)
            assert not ev.feasible
            trials.append(Trial(index=len(trials), params={}, source="test", payload=ev, quality=ev.quality))
        sc_q = sc.with_overrides(planner.catalog, quality_min=None)
        planner.scenario = sc_q
        ans = explain_no_plan(planner, trials)
        T = planner.problem(shares[0]).latency_grid_s[-1]
        each = [least_budget(planner.solver, planner.problem(s), T, None) for s in shares]
        assert ans.binding == "budget" and ans.least_budget_usd_per_hour == pytest.approx(min(each), abs=0.01)
        assert each[0] > min(each) + 0.01  # the first trial is not the cheapest
        assert ans.least_budget_usd_per_hour >= min(each) - 1e-9
    finally:
        planner.scenario = old


def test_slo_below_best_achievable_states_the_best(planner):
    with pytest.raises(InfeasibleError, match=r"latency_slo_s: 0.5 s is below the best P95 achievable within the budget") as exc:
        _replan(planner, objective="cost", latency_slo_s=0.5)
    best = float(re.search(r"searched: ([0-9.]+) s", str(exc.value)).group(1))
    plan = _replan(planner, objective="cost", latency_slo_s=best)
    assert plan.p95_bound_s == best and plan.verification["ok"]
    grid = latency_grid()
    below = max(t for t in grid if t < best - 0.01)
    with pytest.raises(InfeasibleError):
        _replan(planner, objective="cost", latency_slo_s=below)


def test_slo_and_budget_both_named_when_the_budget_binds_at_every_latency(planner):
    with pytest.raises(InfeasibleError, match=r"best P95 achievable with these GPUs .*above the budget of \$3.00/h"):
        _replan(planner, objective="cost", latency_slo_s=0.5, budget_usd_per_hour=3.0)


def test_unreached_quality_says_the_best_reached(planner):
    ev = planner.evaluate((0.95, 0.05))
    t = Trial(index=0, params={}, source="test", payload=ev, quality=ev.quality)
    ans = explain_no_plan(planner, [t])
    assert ans.binding == "quality" and f"best {ev.quality:.2f}" in ans.message


def test_resources_bind_when_no_budget_helps(planner):
    with pytest.raises(InfeasibleError, match=r"gpus: GPU availability is exhausted"):
        _replan(planner, arrival_rate_per_s=500.0)
