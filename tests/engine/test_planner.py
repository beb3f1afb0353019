"""Planner: verified plans, baselines, determinism, re-planning, infeasibility."""

import pytest

from boute.engine.errors import InfeasibleError
from boute.engine.planner import Planner
from boute.engine.scenario import Scenario


def test_random_strategy_plan_is_verified(small_planner):
    p = small_planner.plan(strategy="random", baselines=False)
    assert p.verification["ok"]
    assert abs(sum(p.shares) - 1) < 1e-9 and p.quality >= 89.0
    assert p.cost_usd_per_hour <= 30.0 + 1e-9
    used = {}
    for d in p.deployments:
        for g in d.groups:
            used[g.gpu] = used.get(g.gpu, 0) + g.gpus
    assert all(n <= small_planner.scenario.gpus[g] for g, n in used.items())
    assert p.simulated["p95_s"] > 0 and p.p95_bound_s > 0
    # the re-simulated system P95 stays within the bound's neighbourhood (per-model bound >= mixture)
    assert p.simulated["p95_s"] <= p.p95_bound_s * 1.25


def test_same_seed_identical_plan(small_planner):
    a = small_planner.plan(strategy="random", baselines=False).to_dict()
    b = small_planner.plan(strategy="random", baselines=False).to_dict()
    for d in (a, b):
        d["stats"] = {k: v for k, v in d["stats"].items() if not k.endswith("_s")}
    assert a == b


@pytest.mark.slow
def test_bo_same_seed_identical_and_verified(catalog, small_dict):
    small_dict.update(max_trials=5, stall_trials=5)
    sc = Scenario.from_dict(small_dict, catalog)
    a = Planner(sc, catalog).optimize(strategy="bo")[0]
    b = Planner(sc, catalog).optimize(strategy="bo")[0]
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.objective for t in a.trials] == [t.objective for t in b.trials]
    assert a.trials[0].source == "seed"


def test_structure_seeds_start_at_routing_inverse(small_planner):
    x = small_planner.min_strong_share()
    space, seeds = small_planner._space(True)
    assert space[0] == ("u0", 0.0, pytest.approx(1 - x))
    assert seeds[0]["u0"] == pytest.approx(1 - x)
    unpruned, no_seeds = small_planner._space(False)
    assert unpruned[0] == ("u0", 0.0, 1.0)


def test_every_baseline_runs(small_planner):
    from boute.engine.baselines import BASELINES, run_baselines

    b = run_baselines(small_planner, verify=False)
    assert set(b) == set(BASELINES)
    for name in ("Stand-Alone-Homo", "Stand-Alone-Hetero"):
        assert b[name]["feasible"] and b[name]["shares"][-1] == 1.0
    # Hetero can use any mix, so it is never worse than the best single GPU type
    assert b["Stand-Alone-Hetero"]["p95_bound_s"] <= b["Stand-Alone-Homo"]["p95_bound_s"] + 1e-9
    if b["RouteLLM"]["feasible"]:
        assert abs(b["RouteLLM"]["quality"] - 89.0) < 0.1
        assert len({k.split("@")[1].split(":")[0] for row in b["RouteLLM"]["allocation"].values() for k in row}) == 1


def test_grid_is_ground_truth_and_bo_space_matches(small_planner):
    loop, _ = small_planner.optimize(strategy="grid")
    best = loop.trials[loop.best_index]
    feas = [t.objective for t in loop.trials if t.feasible]
    assert best.objective == min(feas)


def test_replan_reuses_perfdb(catalog, small_dict):
    pl = Planner(Scenario.from_dict(small_dict, catalog), catalog)
    db = pl.perfdb
    p1 = pl.plan(strategy="random", baselines=False, verify=False)
    p2 = pl.replan(arrival_rate_per_s=1.5, strategy="random", baselines=False, verify=False)
    assert pl.perfdb is db and p2.cost_usd_per_hour <= 30.0 and p2.p95_bound_s <= p1.p95_bound_s + 1e-9


def test_unreachable_quality_is_infeasible(catalog, small_dict):
    small_dict["quality_min"] = 99.9
    pl = Planner(Scenario.from_dict(small_dict, catalog), catalog)
    with pytest.raises(InfeasibleError, match=r"quality_min: 99.9 exceeds the best quality"):
        pl.plan(strategy="random", baselines=False)


def test_tiny_budget_is_infeasible_with_least_budget(catalog, small_dict):
    small_dict["budget_usd_per_hour"] = 0.5
    pl = Planner(Scenario.from_dict(small_dict, catalog), catalog)
    with pytest.raises(InfeasibleError, match=r"below the cheapest plan"):
        pl.plan(strategy="random", baselines=False)


def test_cost_objective(catalog, small_dict):
    small_dict.update(objective="cost", latency_slo_s=10.0, budget_usd_per_hour=None)
    pl = Planner(Scenario.from_dict(small_dict, catalog), catalog)
    p = pl.plan(strategy="random", baselines=False)
    assert p.objective == "cost" and p.p95_bound_s == 10.0 and p.verification["ok"]
    feas = [t for t in pl.optimize(strategy="random")[0].trials if t.feasible]
    assert p.cost_usd_per_hour == pytest.approx(min(t.objective for t in feas))


def test_split_mode_respects_model_budgets(catalog, small_dict):
    small_dict.update(mode="split")
    pl = Planner(Scenario.from_dict(small_dict, catalog), catalog)
    p = pl.plan(strategy="random", baselines=False)
    assert p.mode == "split" and p.verification["ok"]
    assert any(c["name"].startswith("model budget") for c in p.verification["checks"])
