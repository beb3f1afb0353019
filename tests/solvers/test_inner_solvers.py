"""Inner solvers: the MILP agrees with the exhaustive reference; results never None;
infeasibility is explained."""

import attrs
import numpy as np
import pytest

from boute.engine.errors import InputError
from boute.engine.problem import (
    ConfigOption,
    DeploymentProblem,
    ModelDemand,
    SolveResult,
    check_counts,
    latency_grid,
    model_levels,
    node_packing_limits,
    packing_violations,
    solve_problem,
    SolveStatus,
)
from boute.engine.solvers import get_solver, solver_names


def test_backends_registered_by_entry_point():
    assert {"highs", "exhaustive"} <= set(solver_names())
    with pytest.raises(Exception, match="did you mean 'highs'"):
        get_solver("higs")


def _curve(rng, base_p95, max_rate, n=12):
    rates = np.linspace(max_rate / n, max_rate, n)
    p95 = base_p95 * (1 + 3 * (rates / max_rate) ** 3) + rng.random(n) * 0.01
    return tuple(rates.tolist()), tuple(np.maximum.accumulate(p95).tolist())


LEVEL_SCALE = {0.5: 0.45, 0.9: 0.8, 0.95: 1.0, 0.99: 1.5}


def random_problem(rng, objective="latency", metric="per-model"):
    gpus = ["G1", "G2", "G3"][: rng.integers(1, 4)]
    avail = {g: int(rng.integers(1, 9)) for g in gpus}
    price = {g: float(rng.choice([0.5, 0.9, 2.0, 3.0])) for g in gpus}
    demands = []
    for m in range(2 if metric == "system" else int(rng.integers(1, 3))):
        opts = []
        for g in gpus:
            for tp in (1, 2):
                if rng.random() < 0.6:
                    base, top = float(rng.uniform(0.5, 3)), float(rng.uniform(0.5, 6))
                    rates, p95 = _curve(rng, base, top)
                    # other quantiles: the P95 curve scaled, steeper for higher levels
                    quant = {
                        q: tuple(np.maximum.accumulate(np.asarray(p95) * k * (1 + (k - 1) * np.asarray(rates) / top)).tolist())
                        for q, k in LEVEL_SCALE.items()
                        if q != 0.95
                    }
                    opts.append(
                        ConfigOption(
                            key=f"m{m}@{g}:tp{tp}",
                            model=f"m{m}",
                            gpu=g,
                            tp=tp,
                            pp=1,
                            usd_per_hour=tp * price[g],
                            rates_rps=rates,
                            p95_s=p95,
                            quantiles_s=quant,
                        )
                    )
        demands.append(ModelDemand(model=f"m{m}", load_rps=float(rng.uniform(0.2, 3 if metric == "system" else 6)), options=tuple(opts)))
    budget = float(rng.uniform(1, 15))
    return DeploymentProblem(
        demands=tuple(demands),
        availability=avail,
        gpus_per_node={g: 4 for g in gpus},
        budget_usd_per_hour=budget if objective == "latency" else None,
        objective=objective,
        latency_slo_s=float(rng.uniform(1, 8)),
        latency_grid_s=latency_grid(0.1, 60, 0.02),
        latency_metric=metric,
    )


@pytest.mark.parametrize("objective", ["latency", "cost"])
def test_milp_matches_exhaustive_on_random_instances(objective):
    rng = np.random.default_rng(42 if objective == "latency" else 7)
    highs, ref = get_solver("highs"), get_solver("exhaustive")
    agree = feasible = 0
    for _ in range(110):
        p = random_problem(rng, objective)
        a, b = solve_problem(p, highs), solve_problem(p, ref)
        assert isinstance(a, SolveResult) and isinstance(b, SolveResult)
        assert a.status in ("optimal", "infeasible") and b.status in ("optimal", "infeasible"), (a, b)
        assert a.ok == b.ok
        if a.ok:
            feasible += 1
            assert a.latency_bound_s == pytest.approx(b.latency_bound_s)
            assert a.cost_usd_per_hour == pytest.approx(b.cost_usd_per_hour, abs=1e-6)
            # the MILP's allocation re-checked against C1-C4 without trusting the solver
            assert check_counts(p, a.counts, a.latency_bound_s) == ""
        agree += 1
    assert agree == 110 and feasible > 30


def _opt(key, model, gpu, cap, price, p0=1.0, tp=1):
    rates = (cap * 0.1, cap * 0.5, cap)
    return ConfigOption(key=key, model=model, gpu=gpu, tp=tp, pp=1, usd_per_hour=price, rates_rps=rates, p95_s=(p0, p0 * 1.5, p0 * 2))


def test_infeasible_explanations():
    s = get_solver("highs")
    base = dict(availability={"A": 4}, gpus_per_node={"A": 8}, budget_usd_per_hour=10.0)
    # no config fits in memory
    p = DeploymentProblem(demands=(ModelDemand(model="big", load_rps=1.0, options=()),), **base)
    r = solve_problem(p, s)
    assert r.status == "infeasible" and "both fits in memory" in r.explanation
    # budget below the cheapest plan: report the least budget
    opt = _opt("x", "m", "A", cap=1.0, price=3.0)
    p = DeploymentProblem(
        demands=(ModelDemand(model="m", load_rps=3.0, options=(opt,)),),
        availability={"A": 8},
        gpus_per_node={"A": 8},
        budget_usd_per_hour=5.0,
    )
    r = solve_problem(p, s)
    assert "below the cheapest plan" in r.explanation and "$9.00/h" in r.explanation
    # availability exhausted
    p = DeploymentProblem(
        demands=(ModelDemand(model="m", load_rps=6.0, options=(opt,)),),
        availability={"A": 4},
        gpus_per_node={"A": 8},
        budget_usd_per_hour=100.0,
    )
    r = solve_problem(p, s)
    assert "availability is exhausted" in r.explanation and "A needs 6 but 4 are available" in r.explanation
    # SLO below what any config reaches
    p = DeploymentProblem(
        demands=(ModelDemand(model="m", load_rps=1.0, options=(opt,)),),
        availability={"A": 8},
        gpus_per_node={"A": 8},
        objective="cost",
        latency_slo_s=0.5,
    )
    r = solve_problem(p, s)
    assert "raise latency_slo_s above 1.00 s" in r.explanation


def test_node_packing_limits_tp_groups():
    """Six GPUs in nodes of 4: one TP4 replica fits, a second does not (only 2 left in the partial node)."""
    o4 = _opt("tp4", "m", "A", cap=1.0, price=4.0, tp=4)
    p = DeploymentProblem(
        demands=(ModelDemand(model="m", load_rps=1.5, options=(o4,)),),
        availability={"A": 6},
        gpus_per_node={"A": 4},
        objective="cost",
        latency_slo_s=5.0,
    )
    for name in ("highs", "exhaustive"):
        r = solve_problem(p, get_solver(name))
        assert r.status == "infeasible", name
    # the one C5 rule, and the oracle that re-checks allocations applies it too
    assert node_packing_limits(6, 4) == {2: 6, 4: 4, 8: 0} and node_packing_limits(16, 8) == {2: 16, 4: 16, 8: 16}
    assert packing_violations(6, 4, {4: 8, 1: 1}) == [(2, 8, 6), (4, 8, 4)] and packing_violations(6, 4, {4: 4, 2: 2}) == []


def test_node_packing_per_node_free_gpus():
    """Two 8-GPU nodes with 3 and 3 free: 6 GPUs, yet no TP4 group fits; the flat total
    of 6 in 8-GPU nodes would take one. Both backends and the oracle follow node_free."""
    assert node_packing_limits(6, 8, (3, 3)) == {2: 4, 4: 0, 8: 0} and node_packing_limits(6, 8) == {2: 6, 4: 4, 8: 0}
    assert packing_violations(6, 8, {4: 4}, (3, 3)) == [(4, 4, 0)]
    o4 = _opt("tp4", "m", "A", cap=1.0, price=4.0, tp=4)
    o2 = _opt("tp2", "m", "A", cap=0.4, price=2.5, tp=2)
    kw = dict(
        demands=(ModelDemand(model="m", load_rps=0.8, options=(o4, o2)),),
        availability={"A": 6},
        gpus_per_node={"A": 8},
        objective="cost",
        latency_slo_s=5.0,
    )
    for name in ("highs", "exhaustive"):
        flat = solve_problem(DeploymentProblem(**kw), get_solver(name))
        assert flat.status == "optimal" and flat.counts == {"m": {"tp4": 1}}, name
        nodes = DeploymentProblem(**kw, node_free={"A": (3, 3)})
        per_node = solve_problem(nodes, get_solver(name))
        assert per_node.status == "optimal" and per_node.counts == {"m": {"tp2": 2}}, name
        assert check_counts(nodes, {"m": {"tp4": 1}}, per_node.latency_bound_s).startswith("A: 4 GPUs in TP groups >= 4")
    with pytest.raises(InputError, match=r"node_free.A: \[3, 2\] sums to 5, not the 6 GPUs available"):
        DeploymentProblem(**kw, node_free={"A": (3, 2)})


def test_latency_mode_least_T_then_least_cost():
    fast = _opt("fast", "m", "A", cap=2.0, price=3.0, p0=1.0)
    slow = _opt("slow", "m", "B", cap=2.0, price=1.0, p0=2.0)
    p = DeploymentProblem(
        demands=(ModelDemand(model="m", load_rps=1.0, options=(fast, slow)),),
        availability={"A": 4, "B": 4},
        gpus_per_node={"A": 8, "B": 8},
        budget_usd_per_hour=10.0,
    )
    r = solve_problem(p, get_solver("highs"))
    # three fast replicas ($9 of $10) each take 1/3 req/s: P95 = 1 + (1/3 - 0.2) / 0.8 * 0.5 = 1.083 s
    assert r.counts == {"m": {"fast": 3}} and r.cost_usd_per_hour == 9.0
    assert 1.083 <= r.latency_bound_s <= 1.083 * 1.011
    cheap = solve_problem(attrs.evolve(p, objective="cost", latency_slo_s=3.9), get_solver("highs"))
    assert cheap.counts == {"m": {"slow": 1}} and cheap.cost_usd_per_hour == 1.0


def test_highs_status_mapping():
    from pyomo.contrib.appsi.base import TerminationCondition as TC

    from boute.solvers.milp import highs_status

    assert highs_status(TC.optimal, True) is SolveStatus.OPTIMAL
    assert highs_status(TC.infeasible, False) is SolveStatus.INFEASIBLE
    assert highs_status(TC.infeasibleOrUnbounded, False) is SolveStatus.INFEASIBLE
    assert highs_status(TC.maxTimeLimit, True) is SolveStatus.FEASIBLE
    assert highs_status(TC.maxTimeLimit, False) is SolveStatus.TIME_LIMIT
    assert highs_status(TC.unknown, False) is SolveStatus.ERROR
    assert SolveStatus.OPTIMAL == "optimal"  # a StrEnum: plan.json and old callers see the string


def test_only_a_declared_solver_error_becomes_a_result():
    from boute.solvers.exhaustive import ExhaustiveSolver

    o = _opt("x", "m", "A", cap=0.01, price=0.1)
    p = DeploymentProblem(
        demands=(ModelDemand(model="m", load_rps=5.0, options=(o,)),),
        availability={"A": 4096},
        gpus_per_node={"A": 8},
        objective="cost",
        latency_slo_s=4.0,
    )
    r = solve_problem(p, ExhaustiveSolver(max_nodes=10))
    assert r.status is SolveStatus.ERROR and "exhaustive: search space" in r.explanation

    class Broken:
        name = "broken"

        def available(self):
            return True

        def min_cost(self, problem, latency_s, *, relax=frozenset()):
            raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):  # a backend bug is not dressed up as a status
        solve_problem(p, Broken())


@pytest.mark.parametrize("objective", ["latency", "cost"])
def test_system_p95_milp_matches_exhaustive(objective):
    """Pooled P95 (binary level choice, C1'/C7/C8): the MILP and the exhaustive reference
    agree on small random instances, every MILP allocation re-checks, and the pooled
    objective is never worse than the per-model bound it relaxes."""
    rng = np.random.default_rng(11 if objective == "latency" else 13)
    highs, ref = get_solver("highs"), get_solver("exhaustive")
    feasible = mixed = 0
    for _ in range(60):
        p = random_problem(rng, objective, metric="system")
        a, b = solve_problem(p, highs), solve_problem(p, ref)
        assert a.status in ("optimal", "infeasible") and b.status in ("optimal", "infeasible"), (a, b)
        assert a.ok == b.ok
        per_model = solve_problem(attrs.evolve(p, latency_metric="per-model"), highs)
        if per_model.ok:
            assert a.ok
        if not a.ok:
            continue
        feasible += 1
        assert a.latency_bound_s == pytest.approx(b.latency_bound_s)
        assert a.cost_usd_per_hour == pytest.approx(b.cost_usd_per_hour, abs=1e-6)
        assert check_counts(p, a.counts, a.latency_bound_s) == ""
        if per_model.ok:
            key = (lambda r: r.latency_bound_s) if objective == "latency" else (lambda r: r.cost_usd_per_hour)
            assert key(a) <= key(per_model) + 1e-9
        levels = model_levels(p, a.counts, a.latency_bound_s)
        loads = {d.model: d.load_rps for d in p.demands}
        assert sum(loads[m] * q for m, q in levels.items()) >= 0.95 * sum(loads.values()) - 1e-9
        mixed += len(set(levels.values())) > 1
    assert feasible > 20 and mixed > 0


def test_system_metric_needs_quantile_curves():
    o = _opt("x", "m", "A", cap=1.0, price=1.0)
    with pytest.raises(InputError, match=r"latency_metric: system needs quantile curves at \[0.5, 0.9, 0.99\] for config x"):
        DeploymentProblem(
            demands=(ModelDemand(model="m", load_rps=1.0, options=(o,)),),
            availability={"A": 8},
            gpus_per_node={"A": 8},
            budget_usd_per_hour=5.0,
            latency_metric="system",
        )
    with pytest.raises(InputError, match="latency_metric: .pooled. is not a latency metric.*per-model, system"):
        DeploymentProblem(demands=(), availability={"A": 8}, gpus_per_node={"A": 8}, budget_usd_per_hour=5.0, latency_metric="pooled")


def test_ttft_tpot_ceiling_binds():
    """A TTFT/TPOT ceiling below the latency capacity caps what a replica may take: the
    cost-mode plan then needs more replicas, and an unreachable ceiling is explained."""
    o = _opt("x", "m", "A", cap=2.0, price=1.0)
    p = DeploymentProblem(
        demands=(ModelDemand(model="m", load_rps=3.0, options=(o,)),),
        availability={"A": 8},
        gpus_per_node={"A": 8},
        objective="cost",
        latency_slo_s=4.0,
    )
    assert solve_problem(p, get_solver("highs")).counts == {"m": {"x": 2}}
    tight = attrs.evolve(p, demands=(ModelDemand(model="m", load_rps=3.0, options=(attrs.evolve(o, ceiling_rps=0.5),)),))
    for name in ("highs", "exhaustive"):
        assert solve_problem(tight, get_solver(name)).counts == {"m": {"x": 6}}
    none = attrs.evolve(p, demands=(ModelDemand(model="m", load_rps=3.0, options=(attrs.evolve(o, ceiling_rps=0.0),)),))
    r = solve_problem(none, get_solver("highs"))
    assert r.status == "infeasible" and "TTFT / TPOT SLOs" in r.explanation


def test_capacity_scale_derates():
    o = _opt("x", "m", "A", cap=2.0, price=1.0)
    assert attrs.evolve(o, capacity_scale=0.5).capacity(4.0) == pytest.approx(o.capacity(4.0) * 0.5)
