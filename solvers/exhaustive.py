"""Exact reference solver by exhaustive search, for small instances (tests, checks).

Enumerates every integer replica vector within its bounds (depth-first over configs,
pruning on budget, availability and the best cost found) and returns the least-cost one
satisfying C1-C5 of :mod:`boute.engine.problem` (for the pooled-P95 objective: C1', C7
and C8, each model held to the highest quantile level its replicas cover, which is the
best level choice for a given replica vector). It shares the binary-search driver
with the MILP, so the two are compared like for like. Refuses instances whose search
space exceeds ``max_nodes``.
"""

from __future__ import annotations

import math

from boute.engine.problem import (
    BUDGET_TOL_USD_PER_HOUR,
    COST_TOL,
    LOAD_TOL_RPS,
    PERCENTILE,
    RATIO_TOL,
    DeploymentProblem,
    MinCost,
    SolverError,
    SolveStatus,
)

__all__ = ["ExhaustiveSolver"]

CEIL_TOL = 1e-12
"""Slack before ceiling load / capacity into a replica bound: a ratio that is an integer up to
round-off must not gain a replica (a looser bound only widens the search, never cuts it)."""


class ExhaustiveSolver:
    """Brute-force backend (entry point ``boute.solvers:exhaustive``)."""

    name = "exhaustive"

    def __init__(self, max_nodes: int = 2_000_000) -> None:
        self.max_nodes = max_nodes

    def available(self) -> bool:
        """Always True: pure Python."""
        return True

    def min_cost(self, problem: DeploymentProblem, latency_s: float, *, relax: frozenset[str] = frozenset()):
        """The least-cost replica counts at ``latency_s`` by enumeration with pruning.

        Args:
            problem: the inner problem.
            latency_s: the latency target T.
            relax: constraints to drop (``budget``, ``availability``) for diagnosis.

        Raises:
            SolverError: the search space exceeds ``max_nodes``.
        """
        items = [(d.model, o) for d in problem.demands for o in d.options]
        levels = problem.active_levels
        caps_at = [{q: o.capacity(latency_s, q) for q in levels} for _, o in items]  # per level
        loads = {d.model: d.load_rps for d in problem.demands}
        total_load = sum(loads.values())
        # C8: a model may have to carry up to the whole pooled load of a pool it is in.
        need = {m: max([v] + [pool.load_rps for pool in problem.pooled if m in pool.models]) for m, v in loads.items()}
        mbud = {d.model: d.budget_usd_per_hour for d in problem.demands}
        budget = problem.budget_usd_per_hour if "budget" not in relax else None
        use_avail = "availability" not in relax
        bounds = []
        for (m, o), cap_q in zip(items, caps_at):
            # More than a level's need never helps cost: bound by the largest need over levels.
            b = max((math.ceil(need[m] / c - CEIL_TOL) for c in cap_q.values() if c > 0), default=0)
            if use_avail:
                b = min(b, problem.availability.get(o.gpu, 0) // o.num_gpus)
            if budget is not None:
                b = min(b, math.floor(budget / o.usd_per_hour + RATIO_TOL))
            bounds.append(max(b, 0))
        space = 1
        for b in bounds:
            space *= b + 1
        if space > self.max_nodes:
            raise SolverError(f"search space {space} exceeds max_nodes={self.max_nodes}; use the MILP")
        best = [math.inf, None]
        x = [0] * len(items)

        def packing_ok(used_by_tp: dict[str, dict[int, int]]) -> bool:
            return not any(problem.packing_violations(g, by_tp) for g, by_tp in used_by_tp.items())

        def rec(i: int, cost: float, capsum: dict, gpus: dict, spend: dict) -> None:
            if cost >= best[0] - COST_TOL:
                return
            if i == len(items):
                held = 0.0  # sum_m lambda_m q_m with q_m the highest level model m holds
                for m in loads:
                    if loads[m] <= 0:
                        continue
                    q_m = max((q for q in levels if capsum.get((m, q), 0.0) >= loads[m] - LOAD_TOL_RPS), default=None)
                    if q_m is None:
                        return
                    held += loads[m] * q_m
                if problem.latency_metric == "system" and held < PERCENTILE * total_load - LOAD_TOL_RPS:
                    return
                if any(
                    sum(capsum.get((m, PERCENTILE), 0.0) for m in pool.models) < pool.load_rps - LOAD_TOL_RPS for pool in problem.pooled
                ):
                    return
                if use_avail:
                    per_tp: dict[str, dict[int, int]] = {}
                    for (_m, o), xv in zip(items, x):
                        if xv:
                            per_tp.setdefault(o.gpu, {}).setdefault(o.tp, 0)
                            per_tp[o.gpu][o.tp] += xv * o.num_gpus
                    if not packing_ok(per_tp):
                        return
                best[0], best[1] = cost, list(x)
                return
            m, o = items[i]
            for v in range(bounds[i] + 1):
                c2 = cost + v * o.usd_per_hour
                if budget is not None and c2 > budget + BUDGET_TOL_USD_PER_HOUR:
                    break
                s2 = spend.get(m, 0.0) + v * o.usd_per_hour
                if "budget" not in relax and mbud[m] is not None and s2 > mbud[m] + BUDGET_TOL_USD_PER_HOUR:
                    break
                g2 = gpus.get(o.gpu, 0) + v * o.num_gpus
                if use_avail and g2 > problem.availability.get(o.gpu, 0):
                    break
                x[i] = v
                cs = dict(capsum)
                for q, c in caps_at[i].items():
                    cs[(m, q)] = cs.get((m, q), 0.0) + v * c
                rec(i + 1, c2, cs, {**gpus, o.gpu: g2}, {**spend, m: s2})
            x[i] = 0

        rec(0, 0.0, {}, {}, {})
        if best[1] is None:
            return MinCost(status=SolveStatus.INFEASIBLE)
        counts: dict[str, dict[str, int]] = {}
        for (m, o), v in zip(items, best[1]):
            if v:
                counts.setdefault(m, {})[o.key] = v
        return MinCost(status=SolveStatus.OPTIMAL, counts=counts, cost_usd_per_hour=float(best[0]))
