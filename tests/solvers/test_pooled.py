"""C6 (pooled demand): the MILP and the exhaustive reference agree, and check_counts enforces it."""

import numpy as np
import pytest

from boute.engine.problem import DeploymentProblem, PooledDemand, check_counts, solve_problem
from boute.solvers.exhaustive import ExhaustiveSolver
from boute.solvers.milp import HighsSolver
from tests.solvers.test_inner_solvers import random_problem


@pytest.mark.parametrize("objective", ["latency", "cost"])
def test_pooled_milp_matches_exhaustive(objective):
    import attrs

    rng = np.random.default_rng(11)
    milp, ex = HighsSolver(), ExhaustiveSolver()
    done = 0
    while done < 6:
        p = random_problem(rng, objective)
        if len(p.demands) < 2:
            continue
        done += 1
        models = tuple(d.model for d in p.demands)[:2]
        total = sum(d.load_rps for d in p.demands if d.model in models)
        # leave part of the two models' load free to move between them
        lo = float(rng.uniform(0.1, 0.5))
        demands = tuple(attrs.evolve(d, load_rps=d.load_rps * lo) if d.model in models else d for d in p.demands)
        p = attrs.evolve(p, demands=demands, pooled=(PooledDemand(models=models, load_rps=total),))
        a, b = solve_problem(p, milp), solve_problem(p, ex)
        assert a.status in ("optimal", "infeasible") and (a.counts is None) == (b.counts is None)
        if a.counts is not None:
            assert a.latency_bound_s == b.latency_bound_s
            assert a.cost_usd_per_hour == pytest.approx(b.cost_usd_per_hour)
            assert check_counts(p, a.counts, a.latency_bound_s) == ""


def test_check_counts_rejects_a_short_pool():
    from tests.solvers.test_inner_solvers import _opt

    o1, o2 = _opt("a", "m1", "A", 1.0, 1.0), _opt("b", "m2", "A", 1.0, 1.0)
    from boute.engine.problem import ModelDemand

    p = DeploymentProblem(
        demands=(ModelDemand(model="m1", load_rps=0.5, options=(o1,)), ModelDemand(model="m2", load_rps=0.5, options=(o2,))),
        availability={"A": 8},
        gpus_per_node={"A": 8},
        objective="cost",
        latency_slo_s=5.0,
        pooled=(PooledDemand(models=("m1", "m2"), load_rps=3.0),),
    )
    assert "pooled load 3.000" in check_counts(p, {"m1": {"a": 1}, "m2": {"b": 1}}, 5.0)
    r = solve_problem(p, HighsSolver())
    assert r.ok and sum(n for row in r.counts.values() for n in row.values()) == 3
