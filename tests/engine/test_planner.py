"""Planner: verified plans, baselines, determinism, re-planning, infeasibility."""

import pytest

from boute.engine.errors import InfeasibleError
from boute.engine.planner import Planner
from boute.engine.scenario import Scenario
from tests.conftest import ROOT


def test_random_strategy_plan_is_verified(small_planner):
    p = small_planner.plan(strategy="random", baselines=False)
    assert p.verification.ok
    assert abs(sum(p.shares) - 1) < 1e-9 and p.quality >= 89.0
    assert p.cost_usd_per_hour <= 30.0 + 1e-9
    used = {}
    for d in p.deployments:
        for g in d.groups:
            used[g.gpu] = used.get(g.gpu, 0) + g.gpus
    assert all(n <= small_planner.scenario.gpus[g] for g, n in used.items())
    assert p.simulated.p95_s > 0 and p.p95_bound_s > 0
    # the re-simulated system P95 stays within the bound's neighbourhood (per-model bound >= mixture)
    assert p.simulated.p95_s <= p.p95_bound_s * 1.25


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
    with pytest.raises(InfeasibleError, match=r"below the least budget .* \$[0-9.]+/h"):
        pl.plan(strategy="random", baselines=False)


def test_cost_objective(catalog, small_dict):
    small_dict.update(objective="cost", latency_slo_s=10.0, budget_usd_per_hour=None)
    pl = Planner(Scenario.from_dict(small_dict, catalog), catalog)
    p = pl.plan(strategy="random", baselines=False)
    assert p.objective == "cost" and p.p95_bound_s == 10.0 and p.verification.ok
    feas = [t for t in pl.optimize(strategy="random")[0].trials if t.feasible]
    assert p.cost_usd_per_hour == pytest.approx(min(t.objective for t in feas))


def test_split_mode_respects_model_budgets(catalog, small_dict):
    small_dict.update(mode="split")
    pl = Planner(Scenario.from_dict(small_dict, catalog), catalog)
    p = pl.plan(strategy="random", baselines=False)
    assert p.mode == "split" and p.verification.ok
    assert any(c.name.startswith("model budget") for c in p.verification.checks)


# ----------------------------------------------------------------------------- exact path
def _best(loop):
    return loop.trials[loop.best_index] if loop.best_index is not None else None


EXACT_CASES = [
    dict(quality={"data": "calibrated", "router": "noisy", "auc": 0.8}),
    dict(quality={"data": "calibrated", "router": "random"}, quality_min=88.0, arrival_rate_per_s=4.5, seed=3),
    dict(
        quality={"data": "calibrated", "router": "oracle"},
        objective="cost",
        latency_slo_s=6.0,
        budget_usd_per_hour=None,
        quality_min=93.0,
        arrival_rate_per_s=2.0,
    ),
    dict(
        quality={"data": "calibrated", "router": "noisy", "auc": 0.7},
        mode="split",
        budget_usd_per_hour=22.0,
        arrival_rate_per_s=2.5,
        seed=7,
    ),
]


@pytest.mark.parametrize("case", range(len(EXACT_CASES)))
def test_exact_is_never_beaten_by_a_fine_grid(catalog, small_dict, case):
    """The exact path's objective is at most every grid share's, and its share achieves it
    when answered by the ordinary fixed-share inner solve."""
    import numpy as np

    from boute.engine.optimizer import run_outer_loop

    small_dict.update(EXACT_CASES[case])
    pl = Planner(Scenario.from_dict(small_dict, catalog), catalog)
    exact = _best(pl.optimize(strategy="exact")[0])
    assert exact is not None and exact.feasible
    # a fine grid over the whole share range (no structural pruning), each point exact
    if pl.scenario.mode == "split":  # the split is a second dimension: a product grid
        cands = [{"u0": u, "b0": b} for u in np.linspace(0, 1, 21) for b in np.linspace(0, 1, 6)]
        grid = run_outer_loop([("u0", 0.0, 1.0), ("b0", 0.0, 1.0)], pl._trial, strategy="grid", candidates=cands)
    else:
        grid = run_outer_loop([("u0", 0.0, 1.0)], pl._trial, strategy="grid", grid_points=81)
    feas = [t.objective for t in grid.trials if t.feasible]
    assert feas, "the grid found no feasible share"
    assert exact.objective <= min(feas) * (1 + 1e-9)
    # the reported share is served at that objective by the fixed-share solve
    again = pl._trial(exact.params)
    assert again.feasible and again.objective == pytest.approx(exact.objective)
    assert exact.quality >= pl.scenario.quality_min - 1e-9
    p = pl.assemble(exact.payload, verify=False)
    assert p.verification.ok


def test_exact_needs_no_ax_and_few_solves(small_planner):
    import subprocess
    import sys

    loop, _ = small_planner.optimize(strategy="exact", frontier_points=0)
    assert loop.stop_reason.startswith("exact:")
    assert sum(t.payload.result.solves for t in loop.trials) <= 20
    code = (
        "import sys; from boute.engine import load_catalog; from boute.engine.planner import Planner; "
        "from boute.engine.scenario import Scenario; from tests.conftest import SMALL; c = load_catalog(); "
        "Planner(Scenario.from_dict(SMALL, c), c).optimize(strategy='exact'); print('ax' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=str(ROOT))
    assert out.stdout.split()[-2:] == ["False", "False"]


def test_auto_strategy_is_exact_for_two_models_bo_for_three(small_planner):
    assert small_planner.resolve_strategy("auto") == "exact"
    with pytest.raises(Exception, match=r"strategy: 'exactt' is not a strategy.*did you mean 'exact'"):
        small_planner.resolve_strategy("exactt")


def test_frontier_points_are_exact_and_monotone(small_planner):
    loop, _ = small_planner.optimize(strategy="exact", frontier_points=3)
    from boute.engine.optimizer import pareto_front

    front = pareto_front(loop.trials)
    assert len(front) >= 2
    assert all(a.objective <= b.objective and a.quality < b.quality for a, b in zip(front, front[1:]))


# ----------------------------------------------------------------------------- k = 1..4 models
def _k_planner(catalog, models, **extra):
    from boute.engine.planner import CALIBRATED_QUALITY
    from boute.engine.quality import calibrated_gsm8k

    d = {
        "name": f"k{len(models)}",
        "gpus": {"RTX-4090": 8},
        "models": list(models),
        "arrival_rate_per_s": 2.0,
        "budget_usd_per_hour": 12.0,
        "quality_min": 80.0,
        "seed": 0,
        "max_trials": 5,
        "stall_trials": 3,
    }
    d.update(extra)
    sc = Scenario.from_dict(d, catalog)
    acc = {"Qwen2.5-7B": 91.6, "Llama-3.1-8B": 84.5, "Mistral-7B": 60.0, "Qwen3-8B": 93.0}
    acc.update(CALIBRATED_QUALITY["gsm8k"])
    table = calibrated_gsm8k(sc.models, tuple(acc[m] for m in sc.models), n=1000, seed=0)
    return Planner(sc, catalog, quality_table=table)


K_MODELS = {
    1: ("Llama-3.1-8B",),
    2: ("Mistral-7B", "Llama-3.1-8B"),
    3: ("Mistral-7B", "Qwen2.5-7B", "Llama-3.1-8B"),
    4: ("Mistral-7B", "Qwen2.5-7B", "Llama-3.1-8B", "Qwen3-8B"),
}


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("strategy", ["exact", "random", "grid", "bo"])
def test_every_strategy_for_one_to_four_models(catalog, k, strategy):
    from boute.engine.errors import InputError

    if strategy == "bo" and k >= 3:
        pytest.importorskip("ax")
    pl = _k_planner(catalog, K_MODELS[k], quality_min=85.0 if k > 1 else 80.0)
    if strategy == "exact" and k >= 3:
        with pytest.raises(InputError, match=rf"strategy: 'exact' searches at most one routing dimension; {k} models have {k - 1}"):
            pl.optimize(strategy="exact")
        return
    loop, _ = pl.optimize(strategy=strategy, grid_steps=4, max_trials=4, stall_trials=3)
    best = _best(loop)
    assert best is not None, loop.stop_reason
    assert len(best.payload.shares) == k and abs(sum(best.payload.shares) - 1) < 1e-9
    assert best.quality >= pl.scenario.quality_min - 1e-9
    plan = pl.finish(loop, 0.0, strategy=strategy, structure=True, baselines=False, verify=False)
    assert plan.verification.ok and len(plan.deployments) == k


def test_one_model_quality_out_of_reach_is_one_line(catalog):
    pl = _k_planner(catalog, ("Llama-3.1-8B",), quality_min=90.0)
    with pytest.raises(InfeasibleError, match=r"quality_min: 90 is not reached by any of the 1 routings searched \(best 84.50"):
        pl.plan(baselines=False, verify=False)


def test_three_model_seeds_meet_quality_and_bound_is_valid(catalog):
    import numpy as np

    from boute.engine.routing import shares_from_sticks

    pl = _k_planner(catalog, K_MODELS[3], quality_min=88.0)
    space, seeds = pl._space(True)
    assert [n for n, *_ in space] == ["u0", "u1"]
    hi = space[0][2]
    assert len(seeds) >= 2
    for p in seeds:
        s = shares_from_sticks([p["u0"], p["u1"]])
        assert pl.router.quality(s) >= 88.0 - 1e-6
    # no routing with a larger cheapest-model share than the bound meets the target
    rng = np.random.default_rng(0)
    for _ in range(300):
        u = rng.uniform(size=2)
        if u[0] > hi + 1e-9:
            assert pl.router.quality(shares_from_sticks(u)) < 88.0


def test_split_mode_k3_has_budget_dimensions_and_proportional_seed(catalog):
    pl = _k_planner(catalog, K_MODELS[3], quality_min=88.0, mode="split")
    space, seeds = pl._space(True)
    assert [n for n, *_ in space] == ["u0", "u1", "b0", "b1"]
    assert all({"b0", "b1"} <= set(p) for p in seeds)
    assert pl.routing_dims() == 4


def test_simplex_grid_counts(catalog):
    pl = _k_planner(catalog, K_MODELS[3])
    pts = pl.simplex_grid(4)
    assert len(pts) == 15  # C(4 + 2, 2)
    shares = {tuple(round(v, 9) for v in pl._params_to_point(p)[0]) for p in pts}
    assert len(shares) == 15


def test_baselines_for_three_models(catalog):
    from boute.engine.baselines import BASELINES, run_baselines

    pl = _k_planner(catalog, K_MODELS[3], quality_min=80.0)
    b = run_baselines(pl, verify=False, grid_steps=2)
    assert set(b) == set(BASELINES)
    assert b["Stand-Alone-Hetero"]["feasible"] and b["Stand-Alone-Hetero"]["shares"] == [0.0, 0.0, 1.0]
    if b["RouteLLM"]["feasible"]:
        assert b["RouteLLM"]["shares"][1] == 0.0  # RouteLLM routes between the cheapest and the strongest
    assert b["BOute-Homo"]["feasible"]


@pytest.mark.parametrize("k", [3, 4])
def test_absorb_solves_the_last_dimension_exactly(catalog, k):
    """With the first k - 2 shares fixed, the line-exact evaluation is never beaten by a
    fine grid along the line, and its share achieves its objective in the ordinary solve."""
    import numpy as np

    from boute.engine.routing import sticks_from_shares

    pl = _k_planner(catalog, K_MODELS[k], quality_min=86.0)
    p = {f"u{i}": 0.3 for i in range(k - 2)}
    t = pl._line_trial(p)
    prefix = tuple(pl.router._line(tuple(t.payload.shares[: k - 2]), 0.0)[: k - 2])
    rest = 1 - sum(prefix)
    grid = [
        pl._trial({f"u{i}": float(v) for i, v in enumerate(sticks_from_shares(pl.router._line(prefix, x)))})
        for x in np.linspace(0, rest, 41)
    ]
    feas = [g.objective for g in grid if g.feasible]
    if t.feasible:
        assert not feas or t.objective <= min(feas) * (1 + 1e-9)
        again = pl._trial({f"u{i}": float(v) for i, v in enumerate(sticks_from_shares(t.payload.shares))})
        assert again.feasible and again.objective == pytest.approx(t.objective)
    else:
        assert not feas
    for strategy in ("random", "grid", "bo"):
        loop, _ = pl.optimize(strategy=strategy, absorb=True, grid_steps=4, max_trials=4, stall_trials=3)
        best = _best(loop)
        assert best is not None and len(best.payload.shares) == k
        assert all(set(t.params) == {f"u{i}" for i in range(k - 2)} for t in loop.trials)
        assert pl.finish(loop, 0.0, strategy=strategy, structure=True, baselines=False, verify=False).verification.ok
