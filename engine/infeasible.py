"""The answer when no searched routing has a plan: which constraint binds, by how much.

:func:`explain_no_plan` looks at every trial the outer loop searched (routing shares and,
in split mode, the budget split) and re-solves the inner problem with constraints
relaxed, to say what the request would need:

* the quality target, if no searched routing reaches it (with the best one reached);
* the **least budget** over the routings searched, when the budget binds: for each
  routing the least-cost plan meeting the latency requirement without the budget
  (joint mode: that cost; split mode: the least total whose split covers every model,
  by bisection), minimised over routings. The figure is rounded up to the cent and
  checked by re-solving: feasible at it, infeasible a cent below for every routing;
* the **best achievable P95** when a latency SLO (cost objective) is below it: the least
  latency on the solver's grid at which some routing has a plan within the budget and
  GPUs, checked the same way (feasible at it, infeasible one grid step below);
* otherwise the GPU shortage or memory fit, as the inner solver explains it.

The planner calls it from ``Planner.finish`` when the loop found no feasible trial.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs

from boute.engine.errors import InfeasibleError
from boute.engine.problem import DeploymentProblem, explain_infeasible

__all__ = ["explain_no_plan", "least_budget", "least_latency", "NoPlanAnswer"]

_CENT = 0.01
_QUALITY_TOL = 1e-9
"""Same tolerance as the planner's quality check on a trial."""
_BISECT_REL = 1e-6
"""Relative precision of the split-mode budget bisection (also at most a tenth of a cent)."""


@attrs.frozen(kw_only=True)
class NoPlanAnswer:
    """What :func:`explain_no_plan` found, for callers and tests that check the figures."""

    binding: str
    """``quality``, ``budget``, ``latency_slo`` or ``resources``."""
    message: str
    hint: str
    least_budget_usd_per_hour: float | None = None
    """Least budget over the routings searched (rounded up to the cent), when it binds."""
    best_latency_s: float | None = None
    """Best achievable P95 over the routings searched, when an SLO is below it."""
    routings: int = 0
    """How many routings (trials) the answer covers."""

    def error(self) -> InfeasibleError:
        """The answer as the exception the planner raises (exit code 3 in the CLI)."""
        return InfeasibleError(self.message, hint=self.hint)


def _feasible(backend, problem: DeploymentProblem, latency_s: float, relax: frozenset[str] = frozenset()) -> tuple[bool, float | None]:
    res = backend.min_cost(problem, latency_s, relax=relax)
    return res.counts is not None, res.cost_usd_per_hour


def _with_budget(problem: DeploymentProblem, budget: float, split: Sequence[float] | None) -> DeploymentProblem:
    """The same problem at a total budget (joint) or split over models (split mode)."""
    if split is None:
        return attrs.evolve(problem, budget_usd_per_hour=budget)
    demands = tuple(attrs.evolve(d, budget_usd_per_hour=float(f) * budget) for d, f in zip(problem.demands, split))
    return attrs.evolve(problem, demands=demands, budget_usd_per_hour=None)


def least_budget(
    backend,
    problem: DeploymentProblem,
    latency_s: float,
    split: Sequence[float] | None,
    *,
    lower: float | None = None,
    upper: float | None = None,
) -> float | None:
    """Least total budget (USD/h) at which ``problem`` has a plan at ``latency_s``; None
    when it has none at any budget (GPUs or memory bind), or none at or below ``upper``.

    Joint mode: the least-cost plan without the budget constraint. Split mode: each model
    must fit ``split[m] * B``; the least such B is found by bisection between the joint
    least cost (a lower bound, or ``lower`` when already known) and ``upper`` or a
    doubling upper bound.
    """
    if lower is None or split is None:
        ok, cost = _feasible(backend, problem, latency_s, frozenset({"budget"}))
        if not ok:
            return None
        if split is None:
            return float(cost) if upper is None or cost <= upper else None
        lower = float(cost)
    if any(f <= 0 for f, d in zip(split, problem.demands) if d.load_rps > 0):
        return None  # a loaded model with no budget share has no plan at any budget
    lo = max(lower, _CENT)
    if upper is not None:
        if not _feasible(backend, _with_budget(problem, upper, split), latency_s)[0]:
            return None
        hi = upper
    else:
        hi = lo
        for _ in range(80):
            if _feasible(backend, _with_budget(problem, hi, split), latency_s)[0]:
                break
            lo, hi = hi, hi * 2
        else:
            return None
    while hi - lo > min(_BISECT_REL * hi, _CENT / 10):
        mid = (lo + hi) / 2
        if _feasible(backend, _with_budget(problem, mid, split), latency_s)[0]:
            hi = mid
        else:
            lo = mid
    return hi


def least_latency(backend, problem: DeploymentProblem, relax: frozenset[str] = frozenset()) -> tuple[int | None, float | None]:
    """(index on ``problem.latency_grid_s``, cost) of the least latency at which
    ``problem`` has a plan (feasibility is monotone in T); (None, None) if none."""
    grid = problem.latency_grid_s
    ok, cost = _feasible(backend, problem, grid[-1], relax)
    if not ok:
        return None, None
    lo, hi, best_cost = 0, len(grid) - 1, cost
    while lo < hi:
        mid = (lo + hi) // 2
        ok, c = _feasible(backend, problem, grid[mid], relax)
        if ok:
            hi, best_cost = mid, c
        else:
            lo = mid + 1
    return hi, best_cost


def _ceil_to(x: float, step: float) -> float:
    return math.ceil(x / step - 1e-9) * step


def explain_no_plan(planner: Any, trials: Sequence[Any]) -> NoPlanAnswer:
    """Why no searched routing has a plan, with the figure that would change that.

    Args:
        planner: the :class:`~boute.engine.planner.Planner` that ran the loop (its
            scenario, ``problem()``, solver and router are used).
        trials: the outer loop's trials; each ``payload`` is an ``Evaluation``.
    """
    sc = planner.scenario
    backend = planner.solver
    evals = [t.payload for t in trials if getattr(t, "payload", None) is not None]
    n = len(evals)
    unit = planner.table.unit
    if n == 0:
        return NoPlanAnswer(binding="resources", message="no routing was searched", hint="raise max_trials", routings=0)
    qmin = sc.quality_min
    ok = [e for e in evals if qmin is None or e.quality >= qmin - _QUALITY_TOL]
    if not ok:
        best_q = max(e.quality for e in evals)
        return NoPlanAnswer(
            binding="quality",
            routings=n,
            message=f"quality_min: {qmin:g} is not reached by any of the {n} routings searched (best {best_q:.2f} {unit})",
            hint=f"lower quality_min to at most {math.floor(best_q * 100 + 1e-6) / 100:.2f}, use a better router, or raise max_trials",
        )
    problems = [(e, planner.problem(e.shares, e.budget_split)) for e in ok]
    where = f"over the {len(ok)} routing{'s' if len(ok) != 1 else ''}{' and budget splits' if sc.mode == 'split' else ''} searched"
    if sc.objective == "cost":
        target_s = float(sc.latency_slo_s)
        what = f"P95 <= {target_s:g} s"
    else:
        target_s = problems[0][1].latency_grid_s[-1]
        what = "any latency"

    # 1. Does the budget bind? Least budget per routing at the latency target, minimised
    # over routings (joint: one solve each; split: bisection, pruned by the best so far).
    best_b = None
    if sc.budget_usd_per_hour is not None:
        bounds = [(_feasible(backend, p, target_s, frozenset({"budget"})), e, p) for e, p in problems]
        bounds = sorted(((c, e, p) for (okb, c), e, p in bounds if okb), key=lambda b: b[0])
        for lower, e, p in bounds:
            if best_b is not None and lower >= best_b[0]:
                break
            if e.budget_split is None:
                b = lower
            else:
                b = least_budget(backend, p, target_s, e.budget_split, lower=lower, upper=None if best_b is None else best_b[0])
            if b is not None and (best_b is None or b < best_b[0]):
                best_b = (b, e, p)
    if best_b is not None:
        need, e, p = best_b
        stated = _verified_budget(backend, need, e, p, problems, target_s)
        return NoPlanAnswer(
            binding="budget",
            least_budget_usd_per_hour=stated,
            routings=len(ok),
            message=(
                f"budget_usd_per_hour: ${sc.budget_usd_per_hour:.2f}/h is below the least budget for "
                f"{sc.arrival_rate_per_s:g} req/s at {what} {where}: ${stated:.2f}/h"
            ),
            hint=f"raise the budget to at least ${stated:.2f}/h, or lower the arrival rate"
            + (", or raise latency_slo_s" if sc.objective == "cost" else ""),
        )

    # 2. A latency SLO below the best achievable (cost objective).
    if sc.objective == "cost":
        best = None
        for relax in (frozenset(), frozenset({"budget"})):
            found = None
            for e, p in problems:
                if found is not None:  # prune: only a routing with a plan one step lower can improve
                    i_best = found[0][0]
                    if i_best == 0 or not _feasible(backend, p, p.latency_grid_s[i_best - 1], relax)[0]:
                        continue
                i, cost = least_latency(backend, p, relax)
                if i is not None and (found is None or i < found[0][0]):
                    found = ((i, cost), e, p)
            if found is not None:
                best = (found, relax)
                break
        if best is not None:
            ((i, cost), e, p), relax = best
            stated = _verified_latency(backend, i, p, problems, relax)
            over = ""
            if relax:
                over = f", at ${cost:.2f}/h (above the budget of ${sc.budget_usd_per_hour:.2f}/h)"
            return NoPlanAnswer(
                binding="latency_slo",
                best_latency_s=stated,
                routings=len(ok),
                least_budget_usd_per_hour=_ceil_to(cost, _CENT) if relax else None,
                message=(
                    f"latency_slo_s: {target_s:g} s is below the best P95 achievable "
                    f"{'within the budget and GPUs' if sc.budget_usd_per_hour is not None and not relax else 'with these GPUs'} {where}: {stated:.2f} s{over}"
                ),
                hint=f"raise latency_slo_s to at least {stated:.2f}"
                + (f" and the budget to at least ${_ceil_to(cost, _CENT):.2f}/h" if relax else "")
                + ", add faster GPUs, or lower the arrival rate",
            )

    # 3. GPUs or memory bind at any budget: the inner solver's explanation.
    e, p = problems[0]
    return NoPlanAnswer(
        binding="resources",
        routings=len(ok),
        message=explain_infeasible(p, backend, target_s),
        hint="add GPUs or GPU types, or lower the arrival rate",
    )


def _verified_budget(backend, need: float, e, p: DeploymentProblem, problems, target_s: float) -> float:
    """The least whole-cent budget, checked by re-solving: the best routing has a plan at
    it and no routing has one a cent below. Raises if the check fails (a solver bug)."""
    stated = _ceil_to(need, _CENT)
    for _ in range(3):  # a bisected figure may sit within a cent above the true least
        if stated - _CENT > 0 and _feasible(backend, _with_budget(p, stated - _CENT, e.budget_split), target_s)[0]:
            stated -= _CENT
        else:
            break
    if not _feasible(backend, _with_budget(p, stated, e.budget_split), target_s)[0]:
        raise InfeasibleError(f"least budget ${stated:.2f}/h failed its re-solve check", hint="report this as a bug in boute")
    below = stated - _CENT
    if below > 0:
        for e2, p2 in problems:
            if _feasible(backend, _with_budget(p2, below, e2.budget_split), target_s)[0]:
                raise InfeasibleError(f"a plan exists below the least budget ${stated:.2f}/h", hint="report this as a bug in boute")
    return round(stated, 2)


def _verified_latency(backend, i: int, p: DeploymentProblem, problems, relax: frozenset[str]) -> float:
    """The best latency, rounded up to 0.01 s, checked: a plan at it; none one grid step
    below it for any routing."""
    grid = p.latency_grid_s
    stated = _ceil_to(grid[i], _CENT)
    if not _feasible(backend, p, stated, relax)[0]:
        raise InfeasibleError(f"best latency {stated:.2f} s failed its re-solve check", hint="report this as a bug in boute")
    if i > 0:
        for _e2, p2 in problems:
            if _feasible(backend, p2, grid[i - 1], relax)[0]:
                raise InfeasibleError(f"a plan exists below the best latency {stated:.2f} s", hint="report this as a bug in boute")
    return stated
