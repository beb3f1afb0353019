"""Baselines on the same simulator, perf DB, prices and budget (the BOute paper's four),
for any number of candidate models ``k``.

* Stand-Alone-Homo: the strongest model only, on the best single GPU type.
* Stand-Alone-Hetero: the strongest model only, any mix of GPU types (MILP).
* RouteLLM: a two-model router (RouteLLM routes between a weak and a strong model; with
  ``k >= 3`` candidates the cheapest and the strongest, the others unused) at the quality
  target (least strong share), one GPU type (the best). Under a budget (latency
  objective) the budget is split evenly between the two models; in cost mode it is billed
  at what its deployment costs (the GPUs it rents), like every other system.
* BOute-Homo: routing and deployment co-optimised on one GPU type (the best): the exact
  path for two models under the per-model metric (:meth:`Planner.exact_routing` restricted to
  the type), else the simplex grid (shares in steps of ``1 / grid_steps``).

Each is answered by the same exact inner solver and re-simulated like the plan.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from boute.engine.errors import BouteError

__all__ = ["run_baselines", "BASELINES"]

BASELINES = ("Stand-Alone-Homo", "Stand-Alone-Hetero", "RouteLLM", "BOute-Homo")

BASELINE_REQUESTS = 5_000
"""Requests per model in a baseline's first re-simulation. A baseline is a comparison row,
not a promise of the plan: its re-simulation starts at a quarter of the plan's floor
(``verify.VERIFY_REQUESTS``) and still doubles until every P95 estimate is converged
(95 % interval within 5 %) or conclusive, so a figure in the table is never an
unconverged one. Measured on the default scenario (2026-11-29, 2 shared cores at load 4-6,
with the shared re-simulation above): the baselines took 4.7 s wall before, 1.0 s after,
their P95 figures equal within their 95 % intervals."""


def _summary(planner, ev, verify: bool, memo: dict | None = None) -> dict[str, Any]:
    """What a baseline reports; ``memo`` shares one re-simulation between baselines that
    reach the same evaluation (on the default scenario Stand-Alone-Homo, Stand-Alone-Hetero
    and BOute-Homo are one and the same plan: three re-simulations became one)."""
    if ev is None or not ev.feasible:
        expl = "" if ev is None else ev.result.explanation
        return {"feasible": False, "reason": expl or "infeasible"}
    out = {
        "feasible": True,
        "shares": list(ev.shares),
        "quality": ev.quality,
        "p95_bound_s": ev.result.latency_bound_s,
        "cost_usd_per_hour": ev.result.cost_usd_per_hour,
        "allocation": {m: row for m, row in ev.result.counts.items()},
    }
    if verify:
        key = _identity(ev)
        if memo is not None and key in memo:
            out.update(memo[key])
            return out
        try:
            p = planner.assemble(ev, verify=True, requests=BASELINE_REQUESTS)
            out["simulated"] = {k: v for k, v in attrs.asdict(p.simulated).items() if v is not None} if p.simulated else {}
            out["latency_verified"] = p.verification.ok  # re-simulated within its own bound
            out["allocation_text"] = {d.model: d.allocation() for d in p.deployments}
        except BouteError as exc:
            out["verification_error"] = exc.one_line()
        if memo is not None:
            memo[key] = {k: out[k] for k in ("simulated", "latency_verified", "allocation_text", "verification_error") if k in out}
    return out


def _identity(ev) -> tuple:
    """Everything the re-simulation of ``ev`` depends on: routing, budget split, the bound,
    the replica counts and the capacity derating (the scenario and seed are the planner's)."""
    r = ev.result
    counts = tuple(sorted((m, tuple(sorted(row.items()))) for m, row in r.counts.items()))
    split = None if ev.budget_split is None else tuple(ev.budget_split)
    return (tuple(ev.shares), split, r.latency_bound_s, counts, tuple(sorted(ev.derate.items())))


def _key(objective: str):
    if objective == "latency":
        return lambda e: (e.result.latency_bound_s, e.result.cost_usd_per_hour, -e.quality)
    return lambda e: (e.result.cost_usd_per_hour, -e.quality)


def _best(evals, objective: str, quality_min: float | None = None):
    feas = [e for e in evals if e is not None and e.feasible and (quality_min is None or e.quality >= quality_min - 1e-9)]
    if not feas:
        return next((e for e in evals if e is not None), None)
    return min(feas, key=_key(objective))


def run_baselines(planner, *, verify: bool = True, grid_steps: int = 5) -> dict[str, dict[str, Any]]:
    """Evaluate the four baselines for the planner's scenario (any number of models)."""
    sc = planner.scenario
    k = len(sc.models)
    strong = np.zeros(k)
    strong[-1] = 1.0
    gpus = [g for g, n in sc.gpus.items() if n > 0]
    obj = sc.objective
    qmin = sc.quality_min
    split = sc.mode == "split" and sc.budget_usd_per_hour is not None
    one = strong.copy() if split else None  # a single model in split mode gets the whole budget
    out: dict[str, dict[str, Any]] = {}
    memo: dict[tuple, dict[str, Any]] = {}
    # Stand-alone: quality is the strongest model's; below the target it is infeasible.
    homo = _best([planner.evaluate(strong, one, gpus=(g,)) for g in gpus], obj, qmin)
    hetero = planner.evaluate(strong, one)
    for name, ev in (("Stand-Alone-Homo", homo), ("Stand-Alone-Hetero", hetero)):
        if ev is not None and qmin is not None and ev.quality < qmin - 1e-9:
            out[name] = {"feasible": False, "reason": f"the strongest model alone reaches quality {ev.quality:.2f} < {qmin}"}
        else:
            out[name] = _summary(planner, ev, verify, memo)
    if k == 1:
        out["RouteLLM"] = out["BOute-Homo"] = {"feasible": False, "reason": "one model: nothing to route"}
        return out
    # RouteLLM: cheapest vs strongest at the quality target, budget split evenly between them.
    pair = planner.router.sub_router((sc.models[0], sc.models[-1])) if k > 2 else planner.router
    x = 0.0 if qmin is None else pair.min_strong_share(qmin)
    if x is None:
        out["RouteLLM"] = {"feasible": False, "reason": "quality target unreachable by the cheapest/strongest pair"}
    else:
        shares = np.zeros(k)
        shares[0], shares[-1] = 1.0 - x, x
        even = np.zeros(k)
        even[0] = even[-1] = 0.5
        uniform = even if sc.budget_usd_per_hour is not None and obj == "latency" else None
        evs = [planner.evaluate(shares, uniform, gpus=(g,)) for g in gpus]
        out["RouteLLM"] = _summary(planner, _best(evs, obj, qmin), verify, memo)
    # BOute-Homo: co-optimised on the best single GPU type.
    cands = []
    for g in gpus:
        if k == 2 and sc.latency_metric == "per-model":
            try:
                loop = planner.exact_routing(gpus=(g,))
            except BouteError:
                continue
            if loop.best_index is not None:
                cands.append(loop.trials[loop.best_index].payload)
        else:
            for p in planner.simplex_grid(grid_steps):
                shares, spl = planner.params_to_point(p)
                cands.append(planner.evaluate(shares, spl, gpus=(g,)))
    out["BOute-Homo"] = (
        _summary(planner, _best(cands, obj, qmin), verify, memo) if cands else {"feasible": False, "reason": "quality target unreachable"}
    )
    return out
