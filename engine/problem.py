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
    C5 Node_Packing      sum_{m, c on g, tp_c >= s} n_c x_{m,c}
                           <= sum_{nodes k of g} s floor(F_k / s)       for g, s in {2, 4, 8}
    C8 Meet_Pooled_Demand sum_{m in M_j} sum_c cap_c(T) x_{m,c} >= Lambda_j
                                                                        for every pool j (optional)
    x_{m,c} in {0, 1, 2, ...}

C8 is how the routing share becomes a decision variable (the outer loop's exact path,
:meth:`boute.engine.planner.Planner.optimize` with ``strategy="exact"``): two models
whose share ``x`` of the total load ``Lambda`` may lie anywhere in ``[a, b]`` need
``C_s >= Lambda x`` and ``C_w >= Lambda (1 - x)`` for some such ``x``; eliminating ``x``
(Fourier-Motzkin) leaves C1 with loads ``Lambda a`` and ``Lambda (1 - b)`` plus one C8 row
``C_w + C_s >= Lambda``. ("Pooled" here is demand shared by models, not the pooled P95
of the ``system`` metric below; the exact path uses the per-model metric.)

with ``cap_c(T)`` the highest rate one replica of ``c`` sustains at P95 <= T (perf DB),
``n_c = tp * pp`` GPUs, ``p_c = n_c * price_g``, ``F_k`` the free GPUs of node ``k`` in
the cluster graph (C5: TP groups are powers of two packed inside nodes; the nested bound
is exact for such blocks). With only a total ``A_g`` in nodes of ``N_g`` GPUs (the flat
``gpus:`` form), the nodes are ``floor(A_g / N_g)`` full ones and one of ``A_g mod N_g``,
so the right side is ``N_g floor(A_g / N_g) + s floor((A_g mod N_g) / s)``.

**System-wide (pooled) P95** (``latency_metric = "system"``). Every request pooled, the
P95 over all models is at most T when the pooled CDF at T is at least 0.95. That CDF is a
mixture: with load shares ``s_m = lambda_m / sum lambda``,
``F(T) = sum_m s_m F_m(T)``, and within a model ``F_m(T)`` is again the mixture of its
replicas' CDFs. So instead of forcing every model to its own P95 <= T, the MILP picks for
every model one quantile level ``q`` from the perf DB's grid ``L`` (0.5, 0.9, 0.95, 0.99)
and requires each model's replicas to hold its ``q``-quantile at T, with
``sum_m s_m q_m >= 0.95``::

    C1' Meet_Demand_At_Level  sum_c cap_c^q(T) x_{m,c} >= lambda_m PickLevel_{m,q}   for every m, q in L
    C7  One_Level             sum_{q in L} PickLevel_{m,q} = 1                          for every model m
    C8  Pooled_Quantile       sum_{m, q} lambda_m q PickLevel_{m,q} >= 0.95 sum_m lambda_m
    PickLevel_{m,q} in {0, 1}

``cap_c^q(T)`` is the highest rate at which one replica of ``c`` keeps its ``q``-quantile
<= T (the perf DB's upper-confidence envelope for that level). C1' is linear without a
big-M: for the unpicked levels its right-hand side is 0. Sound: with load split within
each model in proportion to ``cap_c^{q_m}(T)`` every replica's ``q_m``-quantile is <= T,
so ``F_m(T) >= q_m`` and ``F(T) >= sum_m s_m q_m >= 0.95``. Exact on the level grid: every
pooled plan the perf DB certifies through some per-model levels in ``L`` is searched.
The per-model bound is the special case ``q_m = 0.95`` for every model.

**TTFT / TPOT SLOs** (P95 of time to first token, of time per output token). They do not
depend on T, so each config gets a rate ceiling ``cap_c^TTFT`` / ``cap_c^TPOT`` (highest
rate whose P95 TTFT / TPOT meets the SLO) and ``cap_c(T)`` above is replaced by
``min(cap_c(T), cap_c^TTFT, cap_c^TPOT)``: no structural change to the MILP.

**Derating.** When the whole-system re-simulation of a plan (verification) measures a
P95 above its bound, the planner scales the capacities of the offending configs by
``bound / measured`` (``ConfigOption.capacity_scale``) and re-solves; a uniform scaling
of ``cap_c`` keeps every argument above intact.

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

import enum
import math
import time
from typing import Protocol

import attrs
import numpy as np

from boute.engine.errors import InputError, did_you_mean

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
    "check_counts",
    "model_levels",
    "node_packing_limits",
    "default_node_free",
    "DEFAULT_GPUS_PER_NODE",
    "LOAD_TOL_RPS",
    "BUDGET_TOL_USD_PER_HOUR",
    "RATIO_TOL",
    "COST_TOL",
    "packing_violations",
    "TP_BLOCK_SIZES",
    "SolveStatus",
    "SolverError",
    "MinCost",
    "LATENCY_METRICS",
    "SYSTEM_LEVELS",
    "PERCENTILE",
]


class SolveStatus(enum.StrEnum):
    """How a solve ended (compares equal to its string value)."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    """A plan exists but optimality is not proven (e.g. stopped at the time limit)."""
    INFEASIBLE = "infeasible"
    TIME_LIMIT = "time_limit"
    """Stopped at the time limit without any plan."""
    ERROR = "error"


class SolverError(Exception):
    """The one failure a backend may declare (e.g. an instance beyond its reach):
    :func:`solve_problem` turns it into ``status error`` with the message. Any other
    exception is a bug and propagates."""


@attrs.frozen(kw_only=True)
class MinCost:
    """What a backend returns for one T: the least-cost replica counts, or why there are none."""

    status: SolveStatus
    counts: dict[str, dict[str, int]] | None = None
    """model -> config key -> replicas (None when no plan)."""
    cost_usd_per_hour: float | None = None


_NO_PLAN = MinCost(status=SolveStatus.INFEASIBLE)
LATENCY_METRICS = ("per-model", "system")
"""``per-model``: every model's P95 <= T (default); ``system``: P95 of all requests pooled <= T."""
PERCENTILE = 0.95
"""The quantile every latency promise is about (P95)."""
SYSTEM_LEVELS = (0.5, 0.9, 0.95, 0.99)
"""Per-model quantile levels the pooled objective chooses from (the perf DB's
``QUANTILE_LEVELS``; repeated here so that solvers need only this module)."""


LOAD_TOL_RPS = 1e-9
"""Capacity meets a load within this (req/s): float sums of capacities; scenario loads are
at least MIN_ARRIVAL_RATE_PER_S (1e-3) times a share, so it never decides a real case."""
BUDGET_TOL_USD_PER_HOUR = 1e-6
"""Spend is within a budget up to a ten-thousandth of a cent per hour (float sums of
prices); ``verify`` uses the same slack."""
RATIO_TOL = 1e-9
"""Slack before flooring or ceiling a ratio (budget / price, load / capacity), so a ratio
that is an integer up to float round-off is not rounded the wrong way."""
COST_TOL = 1e-12
"""Two costs closer than this (USD/h) are equal when the exhaustive search prunes."""

DEFAULT_GPUS_PER_NODE = 8
"""Node size of a GPU type a problem leaves out of ``gpus_per_node``: an HGX/DGX server's
8 GPUs (NVIDIA DGX H100 datasheet, 2023; every built-in GPU type's ``gpus_per_node``)."""

TP_BLOCK_SIZES = (2, 4, 8)
"""TP group sizes C5 distinguishes (powers of two, packed inside one node)."""


def default_node_free(available: int, gpus_per_node: int) -> tuple[int, ...]:
    """Free GPUs per node when only a total is known (the flat ``gpus: {H100-SXM: 8}``
    form): ``available`` GPUs in whole nodes of ``gpus_per_node``, then one partial node."""
    n = max(int(gpus_per_node), 1)
    return (n,) * (available // n) + ((available % n,) if available % n else ())


def node_packing_limits(available: int, gpus_per_node: int, free_per_node: tuple[int, ...] | None = None) -> dict[int, int]:
    """C5, the one place it is written: for each TP block size ``s``, the most GPUs that
    TP groups of size >= ``s`` may use: the whole ``s``-blocks of every node's free GPUs,
    ``sum_n s floor(F_n / s)``. ``free_per_node`` (``F_n``) comes from the cluster graph
    (:func:`boute.engine.cluster.node_free_by_type`); without it, ``available`` GPUs fill
    nodes of ``gpus_per_node`` (:func:`default_node_free`), which gives
    ``N floor(A / N) + s floor((A mod N) / s)``. A block size larger than every node has
    room 0. Exact for power-of-two blocks: a group of size >= s is a multiple of s, so
    placing groups largest first leaves every node's used GPUs a multiple of s."""
    if free_per_node is None:  # the closed form of default_node_free's nodes (O(1) for huge pools)
        n = max(int(gpus_per_node), 1)
        return {s: (available // n) * (n // s) * s + ((available % n) // s) * s for s in TP_BLOCK_SIZES}
    return {s: sum((f // s) * s for f in free_per_node) for s in TP_BLOCK_SIZES}


def packing_violations(
    available: int, gpus_per_node: int, gpus_by_tp: dict[int, int], free_per_node: tuple[int, ...] | None = None
) -> list[tuple[int, int, int]]:
    """``(s, used, room)`` for every C5 block size whose TP groups of size >= ``s`` use more
    GPUs than :func:`node_packing_limits` allows (``gpus_by_tp``: TP size -> GPUs used)."""
    out = []
    for s, room in node_packing_limits(available, gpus_per_node, free_per_node).items():
        used = sum(v for tp, v in gpus_by_tp.items() if tp >= s)
        if used > room:
            out.append((s, used, room))
    return out


def capacity_at(rates_rps, p95_s, latency_s: float) -> float:
    """Highest rate with P95 <= ``latency_s`` on a monotone (rate, P95) curve, by linear
    interpolation between its points; 0 below the first point, the last rate beyond it."""
    r, p = rates_rps, p95_s
    if latency_s < p[0]:
        return 0.0
    for i in range(1, len(p)):
        if p[i] > latency_s:
            if p[i] == p[i - 1] or not math.isfinite(p[i]):
                return float(r[i - 1])
            return float(r[i - 1] + (latency_s - p[i - 1]) / (p[i] - p[i - 1]) * (r[i] - r[i - 1]))
    return float(r[-1])


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
    quantiles_s: dict[float, tuple[float, ...]] = attrs.field(factory=dict, repr=False)
    """Monotone end-to-end quantile curves by level (e.g. 0.5, 0.9, 0.99), same rates;
    needed only by the pooled (``system``) objective. Level 0.95 is ``p95_s``."""
    ceiling_rps: float = math.inf
    """Highest rate meeting the scenario's TTFT / TPOT SLOs (independent of T)."""
    capacity_scale: float = 1.0
    """Derating factor (<= 1) set when verification measured this config above its bound."""

    @property
    def num_gpus(self) -> int:
        """GPUs one replica of the config needs: TP x PP."""
        return self.tp * self.pp

    def curve(self, level: float = PERCENTILE) -> tuple[float, ...]:
        """The monotone ``level``-quantile curve (P95 by default)."""
        if level == PERCENTILE:
            return self.p95_s
        if level not in self.quantiles_s:
            raise InputError(
                f"quantile level {level:g}: config {self.key} has no such curve",
                hint=f"levels available: {sorted({PERCENTILE, *self.quantiles_s})}",
            )
        return self.quantiles_s[level]

    def capacity(self, latency_s: float, level: float = PERCENTILE) -> float:
        """Highest rate whose ``level``-quantile (P95 by default) is <= ``latency_s``, within
        the TTFT/TPOT ceiling, times the derating factor (linear interpolation on the curve)."""
        cap = capacity_at(self.rates_rps, self.curve(level), latency_s)
        return float(self.capacity_scale * min(cap, self.ceiling_rps))


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
    """C8: the replicas of ``models`` together sustain ``load_rps`` (a share left free)."""

    models: tuple[str, ...]
    load_rps: float


@attrs.frozen(kw_only=True)
class DeploymentProblem:
    """Everything the inner solver needs; built from a scenario, the perf DB and shares."""

    demands: tuple[ModelDemand, ...]
    availability: dict[str, int]
    gpus_per_node: dict[str, int]
    node_free: dict[str, tuple[int, ...]] = attrs.field(factory=dict)
    """Free GPUs per node of each GPU type, from the cluster graph (C5); a type missing
    here fills nodes of ``gpus_per_node`` with its ``availability``."""
    budget_usd_per_hour: float | None = None
    """Total budget (joint mode)."""
    objective: str = "latency"
    latency_slo_s: float | None = None
    latency_grid_s: tuple[float, ...] = attrs.field(factory=latency_grid, repr=False)
    time_limit_s: float = 10.0
    latency_metric: str = "per-model"
    """``per-model`` (every model's P95 <= T) or ``system`` (pooled P95 <= T, C1'/C7/C8)."""
    levels: tuple[float, ...] = SYSTEM_LEVELS
    """Per-model quantile levels the ``system`` metric chooses from."""
    pooled: tuple[PooledDemand, ...] = ()
    """C8 rows (empty unless the routing share is left to the solver)."""

    def __attrs_post_init__(self) -> None:
        for g, free in self.node_free.items():
            if g in self.availability and sum(free) != self.availability[g]:
                raise InputError(
                    f"node_free.{g}: {list(free)} sums to {sum(free)}, not the {self.availability[g]} GPUs available",
                    hint="give availability as the sum of the nodes' free GPUs",
                )
        if self.objective not in ("latency", "cost"):
            raise InputError(f"objective: {self.objective!r}", hint="use 'latency' or 'cost'")
        if self.latency_metric not in LATENCY_METRICS:
            raise InputError(
                f"latency_metric: {self.latency_metric!r} is not a latency metric", hint=did_you_mean(self.latency_metric, LATENCY_METRICS)
            )
        if self.latency_metric == "system":
            if not self.levels or any(not 0 < q < 1 for q in self.levels) or max(self.levels) < PERCENTILE:
                raise InputError(
                    f"levels: {self.levels!r} must be quantile levels in (0, 1) reaching {PERCENTILE}", hint=f"e.g. {SYSTEM_LEVELS}"
                )
            for o in self.options():
                missing = [q for q in self.levels if q != PERCENTILE and q not in o.quantiles_s]
                if missing:
                    raise InputError(
                        f"latency_metric: system needs quantile curves at {missing} for config {o.key}",
                        hint="build the perf DB with quantile curves, or use latency_metric: per-model",
                    )
        if self.objective == "cost" and self.latency_slo_s is None:
            raise InputError("latency_slo_s: cost mode needs a latency SLO", hint="e.g. 8")
        if self.objective == "latency" and self.budget_usd_per_hour is None and any(d.budget_usd_per_hour is None for d in self.demands):
            raise InputError("budget_usd_per_hour: latency mode needs a budget", hint="give a total or per-model budgets")

    def packing_limits(self, gpu: str) -> dict[int, int]:
        """C5 rooms for ``gpu`` (TP block size -> GPUs), from its nodes' free GPUs."""
        return node_packing_limits(
            self.availability.get(gpu, 0), self.gpus_per_node.get(gpu, DEFAULT_GPUS_PER_NODE), self.node_free.get(gpu)
        )

    def packing_violations(self, gpu: str, gpus_by_tp: dict[int, int]) -> list[tuple[int, int, int]]:
        """:func:`packing_violations` for ``gpu`` under this problem's nodes."""
        return packing_violations(
            self.availability.get(gpu, 0), self.gpus_per_node.get(gpu, DEFAULT_GPUS_PER_NODE), gpus_by_tp, self.node_free.get(gpu)
        )

    def options(self) -> list[ConfigOption]:
        """Every model's candidate configs, in demand order."""
        return [o for d in self.demands for o in d.options]

    @property
    def active_levels(self) -> tuple[float, ...]:
        """Quantile levels a model may be held to: (0.95,) per model, the grid for ``system``."""
        return tuple(sorted(set(self.levels))) if self.latency_metric == "system" else (PERCENTILE,)

    def total_load_rps(self) -> float:
        """Sum of every model's load."""
        return sum(d.load_rps for d in self.demands)


@attrs.frozen(kw_only=True)
class SolveResult:
    """Outcome of one inner solve; never None, whatever happened."""

    status: SolveStatus
    """``optimal``, ``feasible``, ``infeasible``, ``time_limit`` or ``error``."""
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
        """Whether the solve found a plan (optimal, or feasible at the time limit)."""
        return self.status in ("optimal", "feasible") and self.counts is not None


class InnerBackend(Protocol):
    """What a solver plugin implements: the least cost at a given T (or infeasible)."""

    name: str

    def available(self) -> bool:
        """Whether the backend can run here (its solver library is installed)."""
        ...

    def min_cost(self, problem: DeploymentProblem, latency_s: float, *, relax: frozenset[str] = frozenset()) -> MinCost:
        """The least-cost counts at ``latency_s``. ``relax`` names constraints to drop
        (``budget``, ``availability``) for infeasibility diagnosis. Raises only
        :class:`SolverError` for a failure it declares."""
        ...


def model_levels(problem: DeploymentProblem, counts: dict[str, dict[str, int]], latency_s: float) -> dict[str, float | None]:
    """Per loaded model, the highest quantile level (of ``problem.active_levels``) its
    replicas in ``counts`` hold at ``latency_s`` for its load; None when none.

    Capacity falls as the level rises, so the levels a model holds are those up to this
    one: taking the highest per model maximises ``sum_m s_m q_m`` (C8) for given counts.
    That is how a plan's per-model levels are read back from any solver's counts.
    """
    out: dict[str, float | None] = {}
    for d in problem.demands:
        if d.load_rps <= 0:
            continue
        opts = {o.key: o for o in d.options}
        row = counts.get(d.model, {})
        best = None
        for q in problem.active_levels:
            if sum(x * opts[k].capacity(latency_s, q) for k, x in row.items()) >= d.load_rps - LOAD_TOL_RPS:
                best = q
        out[d.model] = best
    return out


def check_counts(problem: DeploymentProblem, counts: dict[str, dict[str, int]], latency_s: float, relax=frozenset()) -> str:
    """Re-check a candidate assignment against C1-C5 (C1'/C7/C8 for the pooled metric);
    returns '' if it satisfies them."""
    opts = {(o.model, o.key): o for o in problem.options()}
    total = 0.0
    used: dict[str, int] = {}
    levels = model_levels(problem, counts, latency_s)
    for d in problem.demands:
        cap, spend = 0.0, 0.0
        for key, x in counts.get(d.model, {}).items():
            o = opts[(d.model, key)]
            cap += x * o.capacity(latency_s, min(problem.active_levels))
            spend += x * o.usd_per_hour
            used[o.gpu] = used.get(o.gpu, 0) + x * o.num_gpus
        total += spend
        if d.load_rps > 0 and levels.get(d.model) is None:
            return f"{d.model} capacity {cap:.3f} < load {d.load_rps:.3f} req/s"
        if "budget" not in relax and d.budget_usd_per_hour is not None and spend > d.budget_usd_per_hour + BUDGET_TOL_USD_PER_HOUR:
            return f"{d.model} spends {spend:.2f} > its budget {d.budget_usd_per_hour:.2f}"
    for pool in problem.pooled:
        cap = sum(x * opts[(m, key)].capacity(latency_s) for m in pool.models for key, x in counts.get(m, {}).items())
        if cap < pool.load_rps - LOAD_TOL_RPS:
            return f"{'+'.join(pool.models)} capacity {cap:.3f} < pooled load {pool.load_rps:.3f} req/s"
    if "budget" not in relax and problem.budget_usd_per_hour is not None and total > problem.budget_usd_per_hour + BUDGET_TOL_USD_PER_HOUR:
        return f"total {total:.2f} > budget {problem.budget_usd_per_hour:.2f}"
    if "availability" not in relax:
        for g, n in used.items():
            if n > problem.availability.get(g, 0):
                return f"{g}: uses {n} > available {problem.availability.get(g, 0)}"
        by_tp: dict[str, dict[int, int]] = {}
        for d in problem.demands:
            for key, x in counts.get(d.model, {}).items():
                o = opts[(d.model, key)]
                by_tp.setdefault(o.gpu, {})
                by_tp[o.gpu][o.tp] = by_tp[o.gpu].get(o.tp, 0) + x * o.num_gpus
        for g, row in by_tp.items():
            for size, n, room in problem.packing_violations(g, row):
                return f"{g}: {n} GPUs in TP groups >= {size} exceed the node packing room {room}"
    if problem.latency_metric == "system":
        held = sum(d.load_rps * (levels.get(d.model) or 0.0) for d in problem.demands if d.load_rps > 0)
        if held < PERCENTILE * problem.total_load_rps() - LOAD_TOL_RPS:
            return f"pooled quantile {held / problem.total_load_rps():.4f} < {PERCENTILE} at {latency_s:g} s"
    return ""


def _quick_infeasible(problem: DeploymentProblem, latency_s: float) -> bool:
    """Necessary conditions: every loaded model has some capacity at T, and the cheapest
    fractional cover of each model fits the budget (an LP lower bound)."""
    lower = 0.0
    q = min(problem.active_levels)  # the most lenient level a model may be held to
    for d in problem.demands:
        if d.load_rps <= 0:
            continue
        best = min((o.usd_per_hour / c for o in d.options if (c := o.capacity(latency_s, q)) > 0), default=None)
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

    def at(T: float) -> MinCost:
        nonlocal solves
        if _quick_infeasible(problem, T):
            return _NO_PLAN
        solves += 1
        return backend.min_cost(problem, T)

    def done(r: MinCost, T: float) -> SolveResult:
        return SolveResult(
            status=r.status,
            counts=r.counts,
            latency_bound_s=T,
            cost_usd_per_hour=r.cost_usd_per_hour,
            wall_s=time.perf_counter() - t0,
            solves=solves,
            backend=backend.name,
        )

    try:
        if problem.objective == "cost":
            T = float(problem.latency_slo_s)
            r = at(T)
            if r.counts is None:
                return _infeasible(problem, backend, T, t0, solves, r.status)
            return done(r, T)
        grid = problem.latency_grid_s
        hi = len(grid) - 1
        r = at(grid[hi])
        if r.counts is None:
            return _infeasible(problem, backend, grid[hi], t0, solves, r.status)
        best_i, best = hi, r
        # quick lower end: no config of a loaded model has capacity below min P95 at zero load
        q = min(problem.active_levels)
        floor_t = max((min(o.curve(q)[0] for o in d.options) for d in problem.demands if d.load_rps > 0 and d.options), default=grid[0])
        lo = min(int(np.searchsorted(grid, floor_t, side="left")), hi)
        while lo < best_i:
            mid = (lo + best_i) // 2
            r = at(grid[mid])
            if r.counts is not None:
                best_i, best = mid, r
            else:
                lo = mid + 1
        return done(best, grid[best_i])
    except SolverError as exc:
        return _no_plan(backend, t0, solves, SolveStatus.ERROR, f"{backend.name}: {exc}")


def _no_plan(backend, t0, solves, status: SolveStatus, explanation: str) -> SolveResult:
    return SolveResult(
        status=status,
        counts=None,
        latency_bound_s=None,
        cost_usd_per_hour=None,
        wall_s=time.perf_counter() - t0,
        solves=solves,
        backend=backend.name,
        explanation=explanation,
    )


def _infeasible(problem, backend, T, t0, solves, status: SolveStatus) -> SolveResult:
    expl = explain_infeasible(problem, backend, T)
    st = status if status in (SolveStatus.TIME_LIMIT, SolveStatus.ERROR) else SolveStatus.INFEASIBLE
    return _no_plan(backend, t0, solves, st, expl)


def explain_infeasible(problem: DeploymentProblem, backend: InnerBackend, T: float) -> str:
    """Which constraint binds, and what would make the request feasible."""
    what = f"P95 <= {T:g} s" if problem.objective == "cost" else f"any latency up to {T:g} s"
    for d in problem.demands:
        if d.load_rps > 0 and d.options and all(o.ceiling_rps <= 0 for o in d.options):
            return (
                f"{d.model}: no config meets the P95 TTFT / TPOT SLOs (ttft_slo_s, tpot_slo_s) even at the lowest load; "
                "relax those SLOs or add faster GPUs"
            )
        if d.load_rps > 0 and not d.options:
            return (
                f"{d.model}: no replica config on the available GPU types "
                f"({', '.join(g for g, n in problem.availability.items() if n > 0)}) both fits in memory and has a stable load "
                "point with a converged P95 in the perf DB (points are kept only when stable and converged); "
                "add a GPU type with more memory or more GPUs per node"
            )
        q = min(problem.active_levels)
        if d.load_rps > 0 and all(o.capacity(T, q) <= 0 for o in d.options):
            best = min(o.curve(q)[0] for o in d.options)
            return (
                f"{d.model}: no config reaches {what} even at the lowest load (best zero-load P95 is {best:.2f} s); "
                f"raise latency_slo_s above {best:.2f} s or add faster GPUs"
            )
    nb = backend.min_cost(problem, T, relax=frozenset({"budget"}))
    c_nb, cost_nb = nb.counts, nb.cost_usd_per_hour
    if c_nb is not None:
        budget = problem.budget_usd_per_hour
        if budget is None:
            over = [
                d
                for d in problem.demands
                if d.budget_usd_per_hour is not None
                and sum(x * o.usd_per_hour for o in d.options for k, x in c_nb.get(d.model, {}).items() if o.key == k)
                > d.budget_usd_per_hour
            ]
            names = ", ".join(d.model for d in over) or "a model"
            return f"budget: the per-model budget of {names} is too small for {what}; the cheapest plan costs ${cost_nb:.2f}/h in total"
        return (
            f"budget_usd_per_hour: ${budget:.2f}/h is below the cheapest plan meeting {what}, "
            f"which costs ${cost_nb:.2f}/h; raise the budget to at least ${cost_nb:.2f}/h"
        )
    c_na = backend.min_cost(problem, T, relax=frozenset({"budget", "availability"})).counts
    if c_na is not None:
        need: dict[str, int] = {}
        for d in problem.demands:
            for o in d.options:
                x = c_na.get(d.model, {}).get(o.key, 0)
                need[o.gpu] = need.get(o.gpu, 0) + x * o.num_gpus
        short = [
            f"{g} needs {n} but {problem.availability.get(g, 0)} are available"
            for g, n in need.items()
            if n > problem.availability.get(g, 0)
        ]
        return (
            f"gpus: GPU availability is exhausted for {what} ({'; '.join(short) or 'node packing'}); "
            "make more of those GPUs available, add another GPU type, or lower the load"
        )
    return f"no plan meets {what}: the load exceeds what the available GPUs can serve; lower arrival_rate_per_s or add GPUs"
