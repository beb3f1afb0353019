"""Baselines on the same simulator, perf DB, prices and budget (the BOute paper's four).

* Stand-Alone-Homo: the strongest model only, on the best single GPU type.
* Stand-Alone-Hetero: the strongest model only, any mix of GPU types (MILP).
* RouteLLM: the router at the quality target (least strong share), resources split
  evenly across models (half the budget each for two), one GPU type (the best).
* BOute-Homo: routing and deployment co-optimised, one GPU type (the best), the routing
  searched on a fine grid.

Each is answered by the same exact inner solver and re-simulated like the plan.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from boute.engine.errors import BouteError

__all__ = ["run_baselines", "BASELINES"]

BASELINES = ("Stand-Alone-Homo", "Stand-Alone-Hetero", "RouteLLM", "BOute-Homo")


def _summary(planner, ev, verify: bool) -> dict[str, Any]:
    if ev is None or not ev.feasible:
        expl = "" if ev is None else ev.result.explanation
        return {"feasible": False, "reason": expl or "infeasible"}
    out = {"feasible": True, "shares": list(ev.shares), "quality": ev.quality, "p95_bound_s": ev.result.latency_bound_s,
           "cost_usd_per_hour": ev.result.cost_usd_per_hour,
           "allocation": {m: row for m, row in ev.result.counts.items()}}
    if verify:
        try:
            p = planner.assemble(ev, verify=True)
            out["simulated"] = {k: v for k, v in attrs.asdict(p.simulated).items() if v is not None} if p.simulated else {}
            out["latency_verified"] = p.verification.ok  # re-simulated within its own bound
            out["allocation_text"] = {d.model: d.allocation() for d in p.deployments}
        except BouteError as exc:
            out["verification_error"] = exc.one_line()
    return out


def _even_cost(planner, ev):
    """Cost of an evaluation under uniform allocation (each model budgeted like the costliest)."""
    import attrs

    if not ev.feasible:
        return ev
    per = {o.key: o.usd_per_hour for d in planner.problem(ev.shares).demands for o in d.options}
    spend = [sum(n * per[key] for key, n in row.items()) for row in ev.result.counts.values()]
    even = len(planner.scenario.models) * max(spend)
    return attrs.evolve(ev, result=attrs.evolve(ev.result, cost_usd_per_hour=even))


def _best(evals, objective: str):
    feas = [e for e in evals if e is not None and e.feasible]
    if not feas:
        return next((e for e in evals if e is not None), None)
    key = (lambda e: (e.result.latency_bound_s, e.result.cost_usd_per_hour)) if objective == "latency" else (lambda e: e.result.cost_usd_per_hour)
    return min(feas, key=key)


def run_baselines(planner, *, verify: bool = True, grid_points: int = 41) -> dict[str, dict[str, Any]]:
    """Evaluate the four baselines for the planner's scenario."""
    sc = planner.scenario
    k = len(sc.models)
    strong = np.zeros(k)
    strong[-1] = 1.0
    gpus = [g for g, n in sc.gpus.items() if n > 0]
    obj = sc.objective
    out: dict[str, dict[str, Any]] = {}
    out["Stand-Alone-Homo"] = _summary(planner, _best([planner.evaluate(strong, gpus=(g,)) for g in gpus], obj), verify)
    out["Stand-Alone-Hetero"] = _summary(planner, planner.evaluate(strong), verify)
    if k == 2:
        try:
            x = planner.min_strong_share()
        except BouteError:
            x = None
        if x is not None:
            shares = np.array([1 - x, x])
            split = np.full(k, 1.0 / k) if sc.budget_usd_per_hour is not None and obj == "latency" else None
            evs = [planner.evaluate(shares, split, gpus=(g,)) for g in gpus]
            if obj == "cost":
                # uniform allocation: every model gets the same budget, so the bill is k times
                # the largest per-model need
                evs = [_even_cost(planner, e) for e in evs]
            out["RouteLLM"] = _summary(planner, _best(evs, obj), verify)
            xs = np.linspace(x, 1.0, grid_points)
            evs = [planner.evaluate([1 - v, v], gpus=(g,)) for g in gpus for v in xs]
            out["BOute-Homo"] = _summary(planner, _best(evs, obj), verify)
        else:
            out["RouteLLM"] = out["BOute-Homo"] = {"feasible": False, "reason": "quality target unreachable"}
    else:
        out["RouteLLM"] = out["BOute-Homo"] = {"feasible": False, "reason": "defined for two models"}
    return out
