"""The default inner solver: the MILP of :mod:`boute.engine.problem` in Pyomo, solved by HiGHS.

The formulation (docstring of :mod:`boute.engine.problem`, constraints ``C1``-``C5``, and
``C1'``/``C7``/``C8`` for the pooled-P95 objective with its binary level choice) is
built once per problem structure as a persistent APPSI model with *mutable* capacity
and budget parameters; the binary search over T only updates ``capacity_rps`` and
re-solves (about 3 ms each on two cores, against ~20 ms rebuilding, measured in
docs/performance.md). HiGHS's relative MIP gap is set to 0 so results match the
exhaustive reference exactly.

Naming follows Switch: sets UPPER_SNAKE, parameters lower_snake with units, variables
CamelCase, constraints Title_Snake. Pyomo is imported lazily (only this module does).
"""

from __future__ import annotations

import math
from typing import Any

from boute.engine.problem import PERCENTILE, RATIO_TOL, DeploymentProblem, MinCost, SolverError, SolveStatus

__all__ = ["HighsSolver", "highs_status"]


def highs_status(term: Any, has_solution: bool) -> SolveStatus:
    """Map APPSI's ``TerminationCondition`` (an enum, matched by member, not by name) to
    boute's statuses: the one mapping."""
    from pyomo.contrib.appsi.base import TerminationCondition as TC

    if term == TC.optimal:
        return SolveStatus.OPTIMAL
    if term in (TC.infeasible, TC.infeasibleOrUnbounded):
        # every variable is >= 0 with a cost >= 0: the formulation is never unbounded
        return SolveStatus.INFEASIBLE
    if term in (TC.maxTimeLimit, TC.maxIterations, TC.objectiveLimit, TC.interrupted):
        return SolveStatus.FEASIBLE if has_solution else SolveStatus.TIME_LIMIT
    return SolveStatus.FEASIBLE if has_solution else SolveStatus.ERROR


class HighsSolver:
    """Pyomo + HiGHS backend (entry point ``boute.solvers:highs``)."""

    name = "highs"

    def __init__(self) -> None:
        self._cache: dict[Any, tuple[Any, Any, Any]] = {}

    def available(self) -> bool:
        """Whether Pyomo's APPSI HiGHS interface can run here."""
        try:
            from pyomo.contrib.appsi.solvers import Highs

            return bool(Highs().available())
        except Exception:  # noqa: BLE001
            return False

    def _structure_key(self, problem: DeploymentProblem, relax: frozenset[str]):
        """Everything built into the formulation (not a mutable parameter) is in the key."""
        return (
            tuple(
                (d.model, tuple((o.key, o.gpu, o.tp, o.pp, o.usd_per_hour) for o in d.options), d.budget_usd_per_hour is not None)
                for d in problem.demands
            ),
            tuple(sorted(problem.availability.items())),
            tuple(sorted(problem.gpus_per_node.items())),
            tuple(sorted(problem.node_free.items())),
            problem.budget_usd_per_hour,
            problem.active_levels,
            tuple(pool.models for pool in problem.pooled),
            relax,
        )

    def _build(self, problem: DeploymentProblem, relax: frozenset[str]):
        import pyomo.environ as pyo
        from pyomo.contrib.appsi.solvers import Highs

        f = pyo.ConcreteModel(name="boute_deployment")
        pairs = [(d.model, o.key) for d in problem.demands for o in d.options]
        opt_of = {(d.model, o.key): o for d in problem.demands for o in d.options}
        f.MODELS = pyo.Set(initialize=[d.model for d in problem.demands], ordered=True)
        f.CONFIGS = pyo.Set(initialize=pairs, dimen=2, ordered=True)
        f.GPU_TYPES = pyo.Set(initialize=sorted({o.gpu for o in opt_of.values()}), ordered=True)
        f.price_usd_per_hour = pyo.Param(f.CONFIGS, initialize={p: opt_of[p].usd_per_hour for p in pairs})
        system = problem.latency_metric == "system"
        f.LEVELS = pyo.Set(initialize=list(problem.active_levels), ordered=True)
        f.capacity_rps = pyo.Param(f.CONFIGS, f.LEVELS, initialize=0.0, mutable=True)
        f.load_rps = pyo.Param(f.MODELS, initialize={d.model: d.load_rps for d in problem.demands}, mutable=True)
        f.gpus_per_replica = pyo.Param(f.CONFIGS, initialize={p: opt_of[p].num_gpus for p in pairs})

        def ub(_f, m, k):
            o = opt_of[(m, k)]
            bound = math.inf
            if "availability" not in relax:
                bound = problem.availability.get(o.gpu, 0) // o.num_gpus
            if "budget" not in relax and problem.budget_usd_per_hour is not None:
                bound = min(bound, math.floor(problem.budget_usd_per_hour / o.usd_per_hour + RATIO_TOL))
            return (0, None if bound == math.inf else int(bound))

        f.NumReplicas = pyo.Var(f.CONFIGS, domain=pyo.NonNegativeIntegers, bounds=ub)
        f.Total_Cost = pyo.Objective(expr=sum(f.price_usd_per_hour[p] * f.NumReplicas[p] for p in f.CONFIGS), sense=pyo.minimize)

        if not system:
            # C1: every model's replicas together sustain its load at P95 <= T.
            def meet(_f, m):
                terms = [f.capacity_rps[p, PERCENTILE] * f.NumReplicas[p] for p in f.CONFIGS if p[0] == m]
                if not terms:
                    return pyo.Constraint.Skip
                return sum(terms) >= f.load_rps[m]

            f.Meet_Demand = pyo.Constraint(f.MODELS, rule=meet)
        else:
            f.PickLevel = pyo.Var(f.MODELS, f.LEVELS, domain=pyo.Binary)

            # C1': the replicas hold the picked quantile level q at T (rhs 0 for unpicked levels).
            def meet_at(_f, m, q):
                terms = [f.capacity_rps[p, q] * f.NumReplicas[p] for p in f.CONFIGS if p[0] == m]
                return (sum(terms) if terms else 0.0) >= f.load_rps[m] * f.PickLevel[m, q]

            f.Meet_Demand_At_Level = pyo.Constraint(f.MODELS, f.LEVELS, rule=meet_at)
            # C7: one level per model.
            f.One_Level = pyo.Constraint(f.MODELS, rule=lambda _f, m: sum(f.PickLevel[m, q] for q in f.LEVELS) == 1)
            # C8: the pooled CDF at T, sum_m s_m q_m, reaches 0.95.
            f.Pooled_Quantile = pyo.Constraint(
                expr=sum(f.load_rps[m] * q * f.PickLevel[m, q] for m in f.MODELS for q in f.LEVELS)
                >= PERCENTILE * sum(f.load_rps[m] for m in f.MODELS)
            )
        # C8: the pooled models' replicas together sustain a shared load (a routing share left
        # free for the exact outer path; per-model metric only, checked by the planner).
        f.POOLS = pyo.Set(initialize=range(len(problem.pooled)))
        f.pooled_load_rps = pyo.Param(f.POOLS, initialize={j: pool.load_rps for j, pool in enumerate(problem.pooled)}, mutable=True)
        f.Meet_Pooled_Demand = pyo.Constraint(
            f.POOLS,
            rule=lambda _f, j: (
                sum(f.capacity_rps[p, PERCENTILE] * f.NumReplicas[p] for p in f.CONFIGS if p[0] in problem.pooled[j].models)
                >= f.pooled_load_rps[j]
            ),
        )
        if "availability" not in relax:
            # C2: GPUs used of each type within what is available.
            f.Gpu_Availability = pyo.Constraint(
                f.GPU_TYPES,
                rule=lambda _f, g: (
                    sum(f.gpus_per_replica[p] * f.NumReplicas[p] for p in f.CONFIGS if opt_of[p].gpu == g) <= problem.availability.get(g, 0)
                ),
            )
            # C5: TP groups of size >= s fit in the whole s-blocks of the nodes' free GPUs.
            packing = []
            for g in sorted({o.gpu for o in opt_of.values()}):
                limits = problem.packing_limits(g)
                for s, room in limits.items():
                    members = [p for p in pairs if opt_of[p].gpu == g and opt_of[p].tp >= s]
                    if members:
                        packing.append((g, s, members, room))
            f.PACKING = pyo.Set(initialize=range(len(packing)))
            f.Node_Packing = pyo.Constraint(
                f.PACKING, rule=lambda _f, i: sum(f.gpus_per_replica[p] * f.NumReplicas[p] for p in packing[i][2]) <= packing[i][3]
            )
        if "budget" not in relax:
            if problem.budget_usd_per_hour is not None:
                # C3: total spend within the budget (joint mode).
                f.Total_Budget = pyo.Constraint(expr=f.Total_Cost.expr <= problem.budget_usd_per_hour)
            per_model = {d.model: d.budget_usd_per_hour for d in problem.demands if d.budget_usd_per_hour is not None}
            if per_model:
                f.model_budget_usd_per_hour = pyo.Param(f.MODELS, initialize={m: per_model.get(m, 1e12) for m in f.MODELS}, mutable=True)
                # C4: each model's spend within its share of the budget (split mode).
                f.Model_Budget = pyo.Constraint(
                    f.MODELS,
                    rule=lambda _f, m: (
                        sum(f.price_usd_per_hour[p] * f.NumReplicas[p] for p in f.CONFIGS if p[0] == m) <= f.model_budget_usd_per_hour[m]
                    ),
                )
        opt = Highs()
        opt.config.load_solution = False
        opt.config.time_limit = problem.time_limit_s
        opt.highs_options = {"mip_rel_gap": 0.0, "output_flag": False}
        return f, opt, opt_of

    def min_cost(self, problem: DeploymentProblem, latency_s: float, *, relax: frozenset[str] = frozenset()):
        """The least-cost replica counts at ``latency_s`` from the MILP (built once per structure).

        Args:
            problem: the inner problem.
            latency_s: the latency target T (sets the capacity parameters).
            relax: constraints to drop (``budget``, ``availability``) for diagnosis.
        """
        key = self._structure_key(problem, relax)
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = self._build(problem, relax)
        f, opt, _ = self._cache[key]
        opt_of = {(d.model, o.key): o for d in problem.demands for o in d.options}  # this problem's curves
        for p, o in opt_of.items():
            for q in problem.active_levels:
                f.capacity_rps[p, q] = o.capacity(latency_s, q)
        for j, pool in enumerate(problem.pooled):
            f.pooled_load_rps[j] = pool.load_rps
        for d in problem.demands:
            f.load_rps[d.model] = d.load_rps
            if hasattr(f, "model_budget_usd_per_hour") and d.budget_usd_per_hour is not None:
                f.model_budget_usd_per_hour[d.model] = d.budget_usd_per_hour
        opt.config.time_limit = problem.time_limit_s
        res = opt.solve(f)
        has = res.best_feasible_objective is not None
        status = highs_status(res.termination_condition, has)
        if status is SolveStatus.ERROR:
            raise SolverError(f"HiGHS ended with {res.termination_condition.name} at T = {latency_s:g} s")
        if not has or status is SolveStatus.INFEASIBLE:
            return MinCost(status=SolveStatus.TIME_LIMIT if status is SolveStatus.TIME_LIMIT else SolveStatus.INFEASIBLE)
        prim = res.solution_loader.get_primals()
        counts: dict[str, dict[str, int]] = {}
        for (m, k), var in f.NumReplicas.items():
            x = int(round(prim[var]))
            if x > 0:
                counts.setdefault(m, {})[k] = x
        cost = sum(x * opt_of[(m, k)].usd_per_hour for m, row in counts.items() for k, x in row.items())
        return MinCost(status=status, counts=counts, cost_usd_per_hour=float(cost))
