r"""The inner deployment problem, its result, and the exact latency/cost drivers.

Given per-model loads (from the routing shares), choose integer replica counts
:math:`x_{m,c}` of each candidate config :math:`c` (GPU type, TP, PP, dtype) for each
model :math:`m`.

Cost at a latency target :math:`T` (one MILP)::

    minimise    sum_{m,c} p_c x_{m,c}                                   (USD per hour)
    subject to
    C1 Meet_Demand       sum_c cap_c(T) x_{m,c} >= lambda_m             for every model m
    C2 Gpu_Availability  sum_{m, c on g} n_c x_{m,c} <= A_g             for every GPU type g
    C3 Total_Budget      sum_{m,c} p_c x_{m,c} <= B                     (joint mode)
    C4 Model_Budget      sum_c p_c x_{m,c} <= B_m                       (split mode)
    C6 Meet_Pooled_Demand sum_{m in M_j, c} cap_c(T) x_{m,c} >= Lambda_j    for every pool j (optional)
    C5 Node_Packing      sum_{m, c on g, tp_c >= s} n_c x_{m,c}
                           <= N_g floor(A_g / N_g) + s floor((A_g mod N_g) / s)
                                                                        for g, s in {2, 4, 8}
    x_{m,c} in {0, 1, 2, ...}

C6 is how the routing share becomes a decision variable (the outer loop's exact path,
:meth:`boute.engine.planner.Planner.optimize` with ``strategy="exact"``): two models
whose share ``x`` of the total load ``Lambda`` may lie anywhere in ``[a, b]`` need
``C_s >= Lambda x`` and ``C_w >= Lambda (1 - x)`` for some such ``x``; eliminating ``x``
(Fourier-Motzkin) leaves C1 with loads ``Lambda a`` and ``Lambda (1 - b)`` plus one C6 row
``C_w + C_s >= Lambda``.

with ``cap_c(T)`` the highest rate one replica of ``c`` sustains at P95 <= T (perf DB),
``n_c = tp * pp`` GPUs, ``p_c = n_c * price_g``, ``N_g`` GPUs per node (C5: TP groups
are powers of two packed inside nodes; the nested bound is exact for such blocks).

Latency mode: the least T on the latency grid for which that MILP is feasible
(feasibility is monotone in T because every ``cap_c`` is non-decreasing), found by
binary search; ties broken by the least cost at that T. Cost mode: the MILP at
``T = SLO``.

Why exact w.r.t. the perf DB: with load split across a model's replicas in proportion
to ``cap_c(T)``, each replica receives at most ``cap_c(T)`` and so has P95 <= T; a
mixture of request populations each with P95 <= T has P95 <= T. So any feasible ``x``
meets T, and the MILP searches every integer ``x``: no better plan exists in the DB's
model, up to the grid's resolution in T (1 %).
"""

from __future__ import annotations

import math
import time
from typing import Protocol

import attrs
import numpy as np

from boute.engine.errors import InputError

__all__ = [
    "ConfigOption",
    "PooledDemand",
    "ModelDemand",
    "DeploymentProblem",
    "SolveResult",
    "InnerBackend",
    "solve_problem",
    "latency_grid",
    "capacity_at",
    "STATUSES",
]

STATUSES = ("optimal", "feasible", "infeasible", "time_limit", "error")


def capacity_at(rates_rps, p95_s, latency_s: float) -> float:
    """Highest rate with P95 <= ``latency_s`` on a monotone (rate, P95) curve, by linear
    interpolation between its points; 0 below the first point, the last rate beyond it."""
    r, p = rates_rps, p95_s
    if latency_s < p[0]:
        return 0.0
    for i in range(1, len(p)):
        if p[i] > latency_s:
            if p[i] == p[i - 1] or not math.isfinite(p[i]):
                return r[i - 1]
            return r[i - 1] + (latency_s - p[i - 1]) / (p[i] - p[i - 1]) * (r[i] - r[i - 1])
    return r[-1]


def latency_grid(lo_s: float = 0.05, hi_s: float = 600.0, step: float = 0.01) -> tuple[float, ...]:
    """Geometric latency grid with ``step`` relative spacing (1 % by default)."""
    n = int(math.ceil(math.log(hi_s / lo_s) / math.log1p(step))) + 1
    return tuple(float(lo_s * (1 + step) ** i) for i in range(n))


@attrs.frozen(kw_only=True)
class ConfigOption:
    """One candidate replica config for one model."""

    key: str
    model: str
    gpu: str
    tp: int
    pp: int
    usd_per_hour: float
    """Price of one replica (all its GPUs)."""
    rates_rps: tuple[float, ...] = attrs.field(repr=False)
    p95_s: tuple[float, ...] = attrs.field(repr=False)
    """The replica's monotone P95-vs-rate curve from the perf DB."""

    @property
    def num_gpus(self) -> int:
        return self.tp * self.pp

    def capacity(self, latency_s: float) -> float:
        """Highest rate with P95 <= ``latency_s`` (linear interpolation on the curve)."""
        return capacity_at(self.rates_rps, self.p95_s, latency_s)


@attrs.frozen(kw_only=True)
class ModelDemand:
    """A model's load and the configs that could serve it."""

    model: str
    load_rps: float
    options: tuple[ConfigOption, ...]
    budget_usd_per_hour: float | None = None
    """Per-model budget (split mode); None in joint mode."""


@attrs.frozen(kw_only=True)
class PooledDemand:
    """C6: the replicas of ``models`` together sustain ``load_rps`` (a share left free)."""

    models: tuple[str, ...]
    load_rps: float


@attrs.frozen(kw_only=True)
class DeploymentProblem:
    """Everything the inner solver needs; built from a scenario, the perf DB and shares."""

    demands: tuple[ModelDemand, ...]
    availability: dict[str, int]
    gpus_per_node: dict[str, int]
    budget_usd_per_hour: float | None = None
    """Total budget (joint mode)."""
    objective: str = "latency"
    latency_slo_s: float | None = None
    latency_grid_s: tuple[float, ...] = attrs.field(factory=latency_grid, repr=False)
    time_limit_s: float = 10.0
    pooled: tuple[PooledDemand, ...] = ()
    """C6 rows (empty unless the routing share is left to the solver)."""

    def __attrs_post_init__(self) -> None:
        if self.objective not in ("latency", "cost"):
            raise InputError(f"objective: {self.objective!r}", hint="use 'latency' or 'cost'")
        if self.objective == "cost" and self.latency_slo_s is None:
            raise InputError("latency_slo_s: cost mode needs a latency SLO", hint="e.g. 8")
        if self.objective == "latency" and self.budget_usd_per_hour is None and any(d.budget_usd_per_hour is None for d in self.demands):
            raise InputError("budget_usd_per_hour: latency mode needs a budget", hint="give a total or per-model budgets")

    def options(self) -> list[ConfigOption]:
        return [o for d in self.demands for o in d.options]


@attrs.frozen(kw_only=True)
class SolveResult:
    """Outcome of one inner solve; never None, whatever happened."""

    status: str
    """One of ``optimal``, ``feasible``, ``infeasible``, ``time_limit``, ``error``."""
    counts: dict[str, dict[str, int]] | None
    """model -> config key -> replicas, when a plan exists."""
    latency_bound_s: float | None
    """The T the plan is guaranteed to meet in the perf DB's model."""
    cost_usd_per_hour: float | None
    wall_s: float
    solves: int
    backend: str
    explanation: str = ""
    """For infeasible results: which constraint binds and what would fix it."""

    @property
    def ok(self) -> bool:
        return self.status in ("optimal", "feasible") and self.counts is not None


class InnerBackend(Protocol):
    """What a solver plugin implements: the least cost at a given T (or infeasible)."""

    name: str

    def available(self) -> bool: ...

    def min_cost(self, problem: DeploymentProblem, latency_s: float, *, relax: frozenset[str] = frozenset()) -> tuple[str, dict | None, float | None]:
        """Return (status, counts, cost). ``relax`` names constraints to drop
        (``budget``, ``availability``) for infeasibility diagnosis."""
        ...


def check_counts(problem: DeploymentProblem, counts: dict[str, dict[str, int]], latency_s: float, relax=frozenset()) -> str:
    """Re-check a candidate assignment against C1-C5; returns '' if it satisfies them."""
    opts = {(o.model, o.key): o for o in problem.options()}
    total = 0.0
    used: dict[str, int] = {}
    for d in problem.demands:
        cap, spend = 0.0, 0.0
        for key, x in counts.get(d.model, {}).items():
            o = opts[(d.model, key)]
            cap += x * o.capacity(latency_s)
            spend += x * o.usd_per_hour
            used[o.gpu] = used.get(o.gpu, 0) + x * o.num_gpus
        total += spend
        if cap < d.load_rps - 1e-9:
            return f"{d.model} capacity {cap:.3f} < load {d.load_rps:.3f} req/s"
        if "budget" not in relax and d.budget_usd_per_hour is not None and spend > d.budget_usd_per_hour + 1e-6:
            return f"{d.model} spends {spend:.2f} > its budget {d.budget_usd_per_hour:.2f}"
    for pool in problem.pooled:
        cap = sum(x * opts[(m, key)].capacity(latency_s) for m in pool.models for key, x in counts.get(m, {}).items())
        if cap < pool.load_rps - 1e-9:
            return f"{'+'.join(pool.models)} capacity {cap:.3f} < pooled load {pool.load_rps:.3f} req/s"
    if "budget" not in relax and problem.budget_usd_per_hour is not None and total > problem.budget_usd_per_hour + 1e-6:
        return f"total {total:.2f} > budget {problem.budget_usd_per_hour:.2f}"
    if "availability" not in relax:
        for g, n in used.items():
            if n > problem.availability.get(g, 0):
                return f"{g}: uses {n} > available {problem.availability.get(g, 0)}"
    return ""


def _quick_infeasible(problem: DeploymentProblem, latency_s: float) -> bool:
    """Necessary conditions: every loaded model has some capacity at T, and the cheapest
    fractional cover of each model fits the budget (an LP lower bound)."""
    lower = 0.0
    for d in problem.demands:
        if d.load_rps <= 0:
            continue
        best = min((o.usd_per_hour / c for o in d.options if (c := o.capacity(latency_s)) > 0), default=None)
        if best is None:
            return True
        need = best * d.load_rps
        if d.budget_usd_per_hour is not None and need > d.budget_usd_per_hour + 1e-9:
            return True
        lower += need
    return problem.budget_usd_per_hour is not None and lower > problem.budget_usd_per_hour + 1e-9


def solve_problem(problem: DeploymentProblem, backend: InnerBackend) -> SolveResult:
    """Latency mode: least T on the grid (binary search), then least cost at it.
    Cost mode: least cost at the SLO. Infeasible results carry an explanation."""
    t0 = time.perf_counter()
    solves = 0

    def at(T: float):
        nonlocal solves
        if _quick_infeasible(problem, T):
            return "infeasible", None, None
        solves += 1
        return backend.min_cost(problem, T)

    try:
        if problem.objective == "cost":
            T = float(problem.latency_slo_s)
            status, counts, cost = at(T)
            if counts is None:
                return _infeasible(problem, backend, T, t0, solves, status)
            return SolveResult(status=status, counts=counts, latency_bound_s=T, cost_usd_per_hour=cost,
                               wall_s=time.perf_counter() - t0, solves=solves, backend=backend.name)
        grid = problem.latency_grid_s
        hi = len(grid) - 1
        status, counts, cost = at(grid[hi])
        if counts is None:
            return _infeasible(problem, backend, grid[hi], t0, solves, status)
        best = (hi, status, counts, cost)
        lo = 0
        # quick lower end: no config of a loaded model has capacity below min P95 at zero load
        floor_t = max((min(o.p95_s[0] for o in d.options) for d in problem.demands if d.load_rps > 0 and d.options), default=grid[0])
        lo = int(np.searchsorted(grid, floor_t, side="left"))
        lo = min(lo, hi)
        while lo < best[0]:
            mid = (lo + best[0]) // 2
            s, c, k = at(grid[mid])
            if c is not None:
                best = (mid, s, c, k)
            else:
                if s in ("time_limit", "error"):
                    status = s
                lo = mid + 1
        i, s, c, k = best
        return SolveResult(status=s, counts=c, latency_bound_s=grid[i], cost_usd_per_hour=k,
                           wall_s=time.perf_counter() - t0, solves=solves, backend=backend.name)
    except Exception as exc:  # noqa: BLE001 - a backend failure is a result, not a crash
        return SolveResult(status="error", counts=None, latency_bound_s=None, cost_usd_per_hour=None,
                           wall_s=time.perf_counter() - t0, solves=solves, backend=backend.name,
                           explanation=f"{type(exc).__name__}: {exc}")


def _infeasible(problem, backend, T, t0, solves, status) -> SolveResult:
    expl = explain_infeasible(problem, backend, T)
    return SolveResult(status="infeasible" if status not in ("time_limit", "error") else status, counts=None,
                       latency_bound_s=None, cost_usd_per_hour=None, wall_s=time.perf_counter() - t0,
                       solves=solves, backend=backend.name, explanation=expl)


def explain_infeasible(problem: DeploymentProblem, backend: InnerBackend, T: float) -> str:
    """Which constraint binds, and what would make the request feasible."""
    what = f"P95 <= {T:g} s" if problem.objective == "cost" else f"any latency up to {T:g} s"
    for d in problem.demands:
        if d.load_rps > 0 and not d.options:
            return (f"{d.model}: no replica config fits in memory on the available GPU types "
                    f"({', '.join(g for g, n in problem.availability.items() if n > 0)}); add a GPU type with more memory or more GPUs per node")
        if d.load_rps > 0 and all(o.capacity(T) <= 0 for o in d.options):
            best = min(o.p95_s[0] for o in d.options)
            return (f"{d.model}: no config reaches {what} even at the lowest load (best zero-load P95 is {best:.2f} s); "
                    f"raise latency_slo_s above {best:.2f} s or add faster GPUs")
    s_nb, c_nb, cost_nb = backend.min_cost(problem, T, relax=frozenset({"budget"}))
    if c_nb is not None:
        budget = problem.budget_usd_per_hour
        if budget is None:
            over = [d for d in problem.demands if d.budget_usd_per_hour is not None and
                    sum(x * o.usd_per_hour for o in d.options for k, x in c_nb.get(d.model, {}).items() if o.key == k) > d.budget_usd_per_hour]
            names = ", ".join(d.model for d in over) or "a model"
            return f"budget: the per-model budget of {names} is too small for {what}; the cheapest plan costs ${cost_nb:.2f}/h in total"
        return (f"budget_usd_per_hour: ${budget:.2f}/h is below the cheapest plan meeting {what}, "
                f"which costs ${cost_nb:.2f}/h; raise the budget to at least ${cost_nb:.2f}/h")
    s_na, c_na, _ = backend.min_cost(problem, T, relax=frozenset({"budget", "availability"}))
    if c_na is not None:
        need: dict[str, int] = {}
        for d in problem.demands:
            for o in d.options:
                x = c_na.get(d.model, {}).get(o.key, 0)
                need[o.gpu] = need.get(o.gpu, 0) + x * o.num_gpus
        short = [f"{g} needs {n} but {problem.availability.get(g, 0)} are available" for g, n in need.items() if n > problem.availability.get(g, 0)]
        return (f"gpus: GPU availability is exhausted for {what} ({'; '.join(short) or 'node packing'}); "
                "make more of those GPUs available, add another GPU type, or lower the load")
    return f"no plan meets {what}: the load exceeds what the available GPUs can serve; lower arrival_rate_per_s or add GPUs"
