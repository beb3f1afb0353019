"""The planner: routing x deployment co-optimisation, verified.

:class:`Planner` holds what is expensive (workload, router, perf DB, solver with its
persistent MILP) so that another scheduler can keep it alive and re-plan cheaply when
the arrival rate or the quality target changes; :func:`plan` is the one-shot form.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from boute.engine.checkpoints import apply_model_precision_quality
from boute.engine.errors import InfeasibleError, InputError, did_you_mean
from boute.engine.infeasible import explain_no_plan
from boute.engine.optimizer import LoopResult, Trial, _better, pareto_front, run_outer_loop
from boute.engine.perfdb import PerfDB, build_perfdb
from boute.engine.assembly import alternatives_for, build_plan, point_for
from boute.engine.plan import LatencyFailure, Plan
from boute.engine.plugins import Catalog, load_catalog
from boute.engine.problem import (
    PERCENTILE,
    ConfigOption,
    DeploymentProblem,
    ModelDemand,
    PooledDemand,
    SolveResult,
    capacity_at,
    model_levels,
    solve_problem,
)
from boute.engine.cluster import node_free_by_type
from boute.engine.replica import ReplicaConfig
from boute.engine.quality import (
    QualityTable,
    calibrated_gsm8k,
    calibrated_mt_bench,
    load_quality_file,
    load_routellm_gsm8k,
    load_routellm_mt_bench,
)
from boute.engine.routing import make_router, shares_from_sticks, sticks_from_shares
from boute.engine.scenario import Scenario
from boute.engine.solvers import get_solver
from boute.engine.verify import VERIFY_REQUESTS, Promise, Resimulation, resimulate, verify_allocation
from boute.engine.workload import Workload, get_workload, load_azure_trace

__all__ = [
    "Planner",
    "plan",
    "search_space",
    "preference_seed",
    "proportional_split",
    "params_to_point",
    "Evaluation",
    "CALIBRATED_QUALITY",
    "BO_BATCH",
    "MAX_DERATE_ROUNDS",
    "STRATEGIES",
    "STRUCTURE",
]

STRATEGIES = ("exact", "bo", "random", "grid")
STRUCTURE = ("bound", "seeds", "preference", "transform")
"""The switchable structural pieces of the outer loop (search_space, run_outer_loop)."""

# Proposals per Ax generation call: one GP fit serves three trials. Measured on the default
# scenario (2 cores): 24 trials in 59 s with batch 1, 24 s with batch 3, same best plan
# (docs/performance.md, scripts/bench_planner.py).
BO_BATCH = 3

# The EI rule's threshold (Planner.optimize, optimizer.expected_improvement): stop once the
# GP expects less than 0.5 % improvement of the best plan from any point, half the 1 %
# at which the benchmarks call a plan converged (docs/performance.md, stopping rules).
EI_STOP = 0.005

# Per-model loads below this count as zero: ten times HiGHS's default primal feasibility
# tolerance (1e-7), so a "needs no replica" rounding can never hide a real load.
MIN_LOAD_RPS = 1e-6
# Derate-and-re-solve rounds after a failed latency re-simulation before giving up: each
# round cuts the offending capacities by at least the measured overshoot, so a plan that
# still fails after three is far from what the perf DB predicts (reported, not returned).
MAX_DERATE_ROUNDS = 3

log = logging.getLogger(__name__)

# Published accuracies for the calibrated generator: GSM8K 8-shot CoT (em_maj1@1) of the
# instruction-tuned models from Meta's Llama 3.1 model card (2024-07,
# github.com/meta-llama/llama-models/blob/main/models/llama3_1/MODEL_CARD.md: 8B 84.5,
# 70B 95.1, 405B 96.8) and Qwen2.5-7B-Instruct's 91.6 from the Qwen2.5 release post
# (qwenlm.github.io/blog/qwen2.5-llm/, 2024-09-19); assumed MT-Bench judge means (no
# authoritative figure exists for Llama-3.1; the BOute paper's targets of 8.1-8.5 suggest
# about 7.9 and 8.9). No public per-query results for three or more of these models are
# reachable from here (RouteLLM's files cover two models per benchmark), so with three
# or more models the per-query labels are synthetic: a shared-difficulty copula matched to
# these accuracies (quality.calibrated_gsm8k).
CALIBRATED_QUALITY = {
    "gsm8k": {"Llama-3.1-8B": 84.5, "Llama-3.1-70B": 95.1, "Llama-3.1-405B": 96.8, "Qwen2.5-7B": 91.6},
    "mt-bench": {"Llama-3.1-8B": 7.9, "Llama-3.1-70B": 8.9},
}


@attrs.frozen(kw_only=True)
class Evaluation:
    """One (routing, budget split) point answered by the inner solver."""

    shares: tuple[float, ...]
    budget_split: tuple[float, ...] | None
    quality: float
    result: SolveResult
    derate: dict[str, float] = attrs.field(factory=dict)
    """Config key -> capacity factor (< 1) the inner problem was solved with (after a
    failed latency verification; empty otherwise)."""

    @property
    def feasible(self) -> bool:
        """The inner problem has a plan (whatever its quality)."""
        return self.result.ok


class Planner:
    """Plans for one scenario; reusable across re-plans.

    Args:
        scenario: the validated request.
        catalog: GPU/model/price catalog (default: installed plugins).
        solver: name of a ``boute.solvers`` backend.
        use_cache: read/write the perf DB cache.
        progress: ``progress(stage, done, total)`` callback for CLIs.
        quality_table: per-query quality to use instead of the scenario's source.
    """

    def __init__(
        self,
        scenario: Scenario,
        catalog: Catalog | None = None,
        *,
        solver: str = "highs",
        use_cache: bool = True,
        progress: Callable[[str, int, int], None] | None = None,
        quality_table: QualityTable | None = None,
        perfdb: PerfDB | None = None,
    ) -> None:
        self.catalog = catalog or load_catalog()
        self.scenario = scenario
        self.progress = progress
        self.solver = get_solver(solver)
        self.workload = self._workload()
        # Precision variants' published quality effects, per model and its checkpoints (engine/checkpoints.py), one place.
        self.table = apply_model_precision_quality(
            (quality_table or self._quality_table()).select(scenario.models),
            [self.catalog.model(m) for m in scenario.models],
            scenario.weight_dtypes,
        )
        self.router = make_router(self.table, scenario.quality.router, auc_target=scenario.quality.auc, seed=scenario.seed)
        t0 = time.perf_counter()
        self.perfdb = perfdb or build_perfdb(
            [self.catalog.model(m) for m in scenario.models],
            [self.catalog.gpu(g) for g, n in scenario.gpus.items() if n > 0],
            self.workload,
            weight_dtypes=scenario.weight_dtypes,
            engine=scenario.engine,
            seed=scenario.seed,
            max_gpus_per_replica={g: n for g, n in scenario.gpus.items()},
            use_cache=use_cache,
            progress=(lambda d, t: progress("perf DB", d, t)) if progress else None,
        )
        self.perfdb_s = time.perf_counter() - t0
        self._options = self._build_options()

    # ------------------------------------------------------------------ inputs
    def _workload(self) -> Workload:
        w = self.scenario.workload
        return load_azure_trace(w) if w.endswith(".csv") else get_workload(w)

    def _quality_table(self) -> QualityTable:
        src, models = self.scenario.quality.data, self.scenario.models
        if src == "routellm-gsm8k":
            t = load_routellm_gsm8k()
            return attrs.evolve(t, models=models) if len(models) == 2 else t
        if src == "routellm-mt-bench":
            t = load_routellm_mt_bench()
            return attrs.evolve(t, models=models) if len(models) == 2 else t
        if src != "calibrated":
            return load_quality_file(src)
        kind = "mt-bench" if self.workload.name == "mt-bench" else "gsm8k"
        known = CALIBRATED_QUALITY[kind]
        missing = [m for m in models if m not in known]
        if missing:
            raise InputError(
                f"quality.data: the calibrated generator has no published {kind} figure for {', '.join(missing)}",
                hint=f"it knows {', '.join(known)}; give per-query quality data (quality: {{data: FILE.csv}})",
            )
        if kind == "mt-bench":
            return calibrated_mt_bench(models, tuple(known[m] for m in models), seed=self.scenario.seed)
        return calibrated_gsm8k(models, tuple(known[m] for m in models), seed=self.scenario.seed)

    def _build_options(self) -> dict[str, tuple[ConfigOption, ...]]:
        """Every model's configs as inner-problem options: the perf DB's P95 (upper
        confidence) envelope, its other end-to-end quantile curves (pooled metric) and the
        rate ceiling the scenario's P95 TTFT / TPOT SLOs impose."""
        sc = self.scenario
        out = {}
        for m in sc.models:
            opts = []
            for c in self.perfdb.for_model(m):
                price = sc.price(self.catalog, c.config.gpu)
                e2e = c.quantiles_s.get("e2e", {})
                ceiling = math.inf
                if sc.ttft_slo_s is not None:
                    ceiling = min(ceiling, capacity_at(c.rates_rps, c.curve("ttft", PERCENTILE), sc.ttft_slo_s))
                if sc.tpot_slo_s is not None:
                    ceiling = min(ceiling, capacity_at(c.rates_rps, c.curve("tpot", PERCENTILE), sc.tpot_slo_s))
                opts.append(
                    ConfigOption(
                        key=c.config.key,
                        model=m,
                        gpu=c.config.gpu,
                        tp=c.config.tp,
                        pp=c.config.pp,
                        usd_per_hour=price * c.config.num_gpus,
                        rates_rps=c.rates_rps,
                        p95_s=c.p95_s,
                        quantiles_s={q: tuple(v) for q, v in e2e.items() if q != PERCENTILE},
                        ceiling_rps=ceiling,
                    )
                )
            out[m] = tuple(opts)
        return out

    # ------------------------------------------------------------------ inner
    def problem(
        self,
        shares,
        budget_split=None,
        *,
        objective: str | None = None,
        gpus: tuple[str, ...] | None = None,
        derate: dict[str, float] | None = None,
    ) -> DeploymentProblem:
        """The inner problem for routing ``shares`` (and per-model budget split).

        Args:
            derate: config key -> capacity factor (< 1) learned from a failed latency
                verification; the planner's own options are never changed by it.
        """
        sc = self.scenario
        objective = objective or sc.objective
        demands = []
        for i, m in enumerate(sc.models):
            opts = self._options[m] if gpus is None else tuple(o for o in self._options[m] if o.gpu in gpus)
            if derate:
                opts = tuple(attrs.evolve(o, capacity_scale=derate[o.key]) if o.key in derate else o for o in opts)
            mb = None
            if budget_split is not None and sc.budget_usd_per_hour is not None:
                mb = float(budget_split[i]) * sc.budget_usd_per_hour
            demands.append(ModelDemand(model=m, load_rps=float(shares[i]) * sc.arrival_rate_per_s, options=opts, budget_usd_per_hour=mb))
        total = sc.budget_usd_per_hour if budget_split is None else None  # C3 in both objectives: a given budget binds
        avail = dict(sc.gpus) if gpus is None else {g: n for g, n in sc.gpus.items() if g in gpus}
        return DeploymentProblem(
            demands=tuple(demands),
            availability=avail,
            gpus_per_node={g: self.catalog.gpu(g).gpus_per_node for g in sc.gpus},
            node_free={g: f for g, f in node_free_by_type(sc, self.catalog).items() if g in avail},
            budget_usd_per_hour=total,
            objective=objective,
            latency_slo_s=sc.latency_slo_s,
            latency_metric=sc.latency_metric,
        )

    def evaluate(
        self,
        shares,
        budget_split=None,
        *,
        objective: str | None = None,
        gpus: tuple[str, ...] | None = None,
        derate: dict[str, float] | None = None,
    ) -> Evaluation:
        """Answer one routing (and budget split) exactly with the inner solver."""
        s = np.asarray(shares, dtype=float)
        s = np.clip(s, 0, None) / s.sum()
        # A load below MIN_LOAD_RPS passes C1 with no replica inside the MILP's feasibility
        # tolerance, yet verification (rightly) wants replicas for any share: call it zero.
        s = np.where(s * self.scenario.arrival_rate_per_s < MIN_LOAD_RPS, 0.0, s)
        s = s / s.sum()
        q = self.router.quality(s)
        res = solve_problem(self.problem(s, budget_split, objective=objective, gpus=gpus, derate=derate), self.solver)
        return Evaluation(
            shares=tuple(float(v) for v in s),
            budget_split=None if budget_split is None else tuple(float(v) for v in budget_split),
            quality=q,
            result=res,
            derate=dict(derate or {}),
        )

    def min_strong_share(self) -> float:
        """Least share of the strongest model meeting the quality target (two models)."""
        qmin = self.scenario.quality_min
        if qmin is None:
            return 0.0
        x = self.router.min_strong_share(qmin)
        if x is None:
            raise self._unreachable()
        return x

    def _unreachable(self) -> InfeasibleError:
        return _unreachable(self.scenario, self.router)

    # ------------------------------------------------------------------ outer
    def routing_dims(self) -> int:
        """Dimensions the outer loop would search: ``k - 1`` shares, plus ``k - 1``
        budget coordinates in split mode."""
        k = len(self.scenario.models)
        return (k - 1) * (2 if self.scenario.mode == "split" and self.scenario.budget_usd_per_hour is not None else 1)

    def space(self, structure: bool | dict[str, bool] = True):
        """The outer loop's search space and structural seeds (see :func:`search_space`);
        split mode's seed budget split is the joint optimum's (:meth:`joint_split`)."""
        return search_space(self.scenario, self.router, self._options, structure, split_prior=self.joint_split)

    def joint_split(self, shares) -> np.ndarray:
        """The budget split of the joint-mode optimum at ``shares`` with the budget lifted
        to the whole cluster's price (each model's share of the spend), or :func:`proportional_split` where that
        problem has no plan. Why: split mode's optimum equals joint mode's (a per-model
        budget split is eliminated exactly, see :meth:`exact_routing`), so the joint solve's
        split is the best split for this routing; one inner solve per seed."""
        # without the budget: the seeds (and so the trials) must not depend on it, so that
        # the least budget an infeasible request is told (explain_no_plan) is the one that
        # the same search then meets
        sc = self.scenario
        whole_cluster = sum(sc.price(self.catalog, g) * n for g, n in sc.gpus.items())  # a budget that never binds
        prob = attrs.evolve(self.problem(shares), budget_usd_per_hour=whole_cluster)
        split = self._split_of(solve_problem(prob, self.solver))
        return np.asarray(split) if split is not None else proportional_split(self.scenario, self._options, shares)

    def params_to_point(self, p: dict[str, float]):
        """Routing shares and budget split (or None) of outer-loop parameters."""
        return params_to_point(self.scenario, p)

    def trial(self, p: dict[str, float]) -> Trial:
        """Answer outer-loop parameters exactly: one inner solve, as an optimiser trial."""
        shares, split = self.params_to_point(p)
        return self._trial_of(self.evaluate(shares, split), p)

    def _trial_of(self, ev: Evaluation, p: dict[str, float], source: str = "") -> Trial:
        t = Trial(index=-1, params=p, source=source, payload=ev, quality=ev.quality)
        if ev.feasible:
            t.observed = ev.result.latency_bound_s if self.scenario.objective == "latency" else ev.result.cost_usd_per_hour
        qmin = self.scenario.quality_min
        if qmin is not None and ev.quality < qmin - 1e-9:
            t.reason = f"quality {ev.quality:.3f} < {qmin}"
        elif not ev.feasible:
            t.reason = ev.result.explanation or ev.result.status
        else:
            t.feasible = True
            t.objective = ev.result.latency_bound_s if self.scenario.objective == "latency" else ev.result.cost_usd_per_hour
        return t

    def simplex_grid(self, steps: int) -> list[dict[str, float]]:
        """Every routing on the simplex with shares in multiples of ``1 / steps`` (and, in
        split mode, every budget split on the same lattice), as outer-loop parameters:
        the exhaustive reference for ``k >= 3``."""
        k = len(self.scenario.models)
        split = self.scenario.mode == "split" and self.scenario.budget_usd_per_hour is not None

        def lattice(dim: int):
            return _compositions(steps, dim)

        pts = []
        for c in lattice(k):
            u = sticks_from_shares(np.asarray(c, dtype=float) / steps)
            base = {f"u{i}": float(v) for i, v in enumerate(u)}
            if not split:
                pts.append(base)
                continue
            for bc in lattice(k):
                bu = sticks_from_shares(np.asarray(bc, dtype=float) / steps)
                pts.append({**base, **{f"b{i}": float(v) for i, v in enumerate(bu)}})
        return pts

    def optimize(
        self,
        *,
        strategy: str = "auto",
        structure: bool | dict[str, bool] = True,
        max_trials: int | None = None,
        stall_trials: int | None = None,
        seed: int | None = None,
        grid_steps: int | None = None,
        frontier_points: int = 4,
        ehvi_stop: float | None = None,
        ei_stop: float | None = EI_STOP,
        absorb: bool | None = None,
        on_trial: Callable[[Trial], None] | None = None,
    ):
        """Run the outer loop; returns (LoopResult, seconds).

        Args:
            strategy: ``auto`` (``exact`` for at most one routing dimension, else ``bo``),
                ``exact``, ``bo``, ``random`` or ``grid``.
            structure: the structural pieces (:data:`STRUCTURE`; ``True`` all, ``False``
                none, or a dict switching each): see :meth:`_space`; ``transform`` is the
                output transformation (Ax sees log latency/cost, and an inner problem
                without a plan as a penalty instead of a failed trial).
            grid_steps: lattice resolution of ``grid`` (default 100 for one routing
                dimension, 10 otherwise).
            ehvi_stop: the hypervolume rule for ``bo`` (see ``run_outer_loop``; off by
                default: the EHVI of a two-objective front does not fall once the
                latency optimum is found, see docs/performance.md).
            ei_stop: the principled stopping rule for ``bo`` beside the paper's stall rule
                (whichever fires first; the stop reason says which): stop once the GP's
                constrained expected improvement is below this fraction of the best plan
                (:func:`~boute.engine.optimizer.expected_improvement`), the GP has seen
                ten points per free dimension and it predicted its latest batch within
                its own uncertainty (:func:`~boute.engine.optimizer.ei_rule_fires`);
                None: off, 0: computed for every batch (``Trial.ei``) but never stopping.
            absorb: for ``k >= 3``, solve the last routing dimension (and split mode's
                budget) exactly inside each evaluation (:meth:`line_trial`), so the
                outer loop searches ``k - 2`` dimensions. Default (None): on for
                ``k >= 3``. Measured on the three-model benchmark (docs/performance.md,
                2026-11-29): BO over the two plain dimensions was 4 % above the
                simplex-grid optimum after 30 trials; with ``absorb`` it was within 1 %
                after 5-6 evaluations and the EI rule stopped it at the optimum after
                16-25 evaluations (3 seeds; the checked rule at the same trials as the
                unchecked one).
            frontier_points: ``exact`` also solves the frontier at this many quality
                levels above the optimum's (for the plan's Pareto plot).
            on_trial: observer called with every trial in order, right after it is
                evaluated (the exact path: after its few solves, all at once); the public
                hook for benchmarks and progress displays.
        """
        sc = self.scenario
        k = len(sc.models)
        strategy = self.resolve_strategy(strategy)
        t0 = time.perf_counter()
        if strategy == "exact":
            loop = self.exact_routing(frontier_points=frontier_points)
            for t in loop.trials if on_trial is not None else ():
                on_trial(t)
            return loop, time.perf_counter() - t0
        space, seeds = self.space(structure)
        candidates = None
        if strategy == "grid" and (k >= 3 or self.routing_dims() > 1):
            candidates = self.simplex_grid(grid_steps or 10)
        evaluate = self.trial
        if absorb is None:
            absorb = k >= 3 and sc.latency_metric == "per-model"
        if absorb and k >= 3 and sc.latency_metric != "per-model":
            raise InputError(
                f"absorb: needs the per-model latency metric (this request uses {sc.latency_metric!r})",
                hint="absorb=False searches every dimension with the outer loop",
            )
        if absorb and k >= 3:
            # the last stick and the budget sticks leave the outer loop (solved exactly)
            keep = {f"u{i}" for i in range(k - 2)}
            space = [d for d in space if d[0] in keep]
            seeds = list(
                {
                    tuple(sorted((n, round(v, 9)) for n, v in p.items() if n in keep)): {n: v for n, v in p.items() if n in keep}
                    for p in seeds
                }.values()
            )
            if candidates is not None:
                candidates = list(
                    {
                        tuple(sorted((n, round(v, 9)) for n, v in p.items() if n in keep)): {n: v for n, v in p.items() if n in keep}
                        for p in candidates
                    }.values()
                )
            evaluate = self.line_trial
        res = run_outer_loop(
            space,
            evaluate,
            seeds=seeds,
            strategy=strategy,
            ehvi_stop=ehvi_stop,
            ei_stop=ei_stop,
            quality_in_evaluation=bool(absorb and k >= 3),
            max_trials=max_trials or sc.max_trials,
            stall_trials=stall_trials or sc.stall_trials,
            seed=sc.seed if seed is None else seed,
            quality_ref=sc.quality_min,
            objective_name="p95" if sc.objective == "latency" else "cost",
            batch=BO_BATCH,
            progress=(lambda d, t: self.progress("optimiser", d, t)) if self.progress else None,
            grid_points=(grid_steps or 100) + 1,
            candidates=candidates,
            log_objective=_pieces(structure)["transform"],
            on_trial=on_trial,
        )
        return res, time.perf_counter() - t0

    def resolve_strategy(self, strategy: str) -> str:
        """See :func:`resolve_strategy`."""
        return resolve_strategy(strategy, len(self.scenario.models), self.scenario.latency_metric)

    # ------------------------------------------------------------------ exact path
    def exact_routing(self, gpus: tuple[str, ...] | None = None, *, frontier_points: int = 0) -> LoopResult:
        """The exact optimum for at most one routing dimension, without Ax.

        One model: no routing; one inner solve is the answer.

        Two models (joint or split mode): let ``x`` be the strong model's share and
        ``Lambda`` the total rate. The quality curve of the score-band router is linear
        between the shares ``j / n``, so the shares meeting ``quality_min`` are a finite
        union of intervals ``Q = U [a_i, b_i]`` (:meth:`Router.quality_intervals`; one
        interval on the default scenario). For a latency target ``T`` and replica counts
        ``y``, the loads ``Lambda (1 - x)`` and ``Lambda x`` are linear in ``x``, so some
        ``x`` in ``[a, b]`` is served iff ``C_w(y, T) >= Lambda (1 - b)``,
        ``C_s(y, T) >= Lambda a`` and ``C_w + C_s >= Lambda`` (Fourier-Motzkin
        elimination of ``x``): one MILP, C1 plus the pooled row C6 of
        :mod:`boute.engine.problem`. Its feasibility is monotone in ``T`` (capacities
        are non-decreasing in ``T``), so the inner solver's binary search over the
        latency grid returns ``min_{x in [a, b]} T*(x)`` exactly, and the least cost at
        it over every ``x`` in the interval; the cost objective is one MILP at the SLO.
        The best interval is the optimum over ``Q``: no share, however fine the grid,
        does better (tested against fine grids on random instances). Split mode has the
        same optimum: per-model budgets ``B_m`` with ``sum B_m = B`` are eliminated the
        same way (``spend_m <= B_m`` for some split iff ``sum spend_m <= B``), and the
        plan's split gives each model its spend plus a proportional share of the slack.

        With ``frontier_points``, the same solve at evenly spaced higher quality targets
        gives exact points of the latency-quality frontier (each the least objective at
        quality >= its level); one of them wins only on the quality tie-break.

        The share reported is, within the interval of shares the optimal replicas serve,
        the one of highest quality on the router's curve (the quality tie-break); other
        allocations with the same objective are not enumerated. About ``log2`` of the
        latency grid MILPs per quality interval (10 on the default scenario); later
        intervals only search below the incumbent.

        Args:
            gpus: restrict every replica to these GPU types (None: the scenario's); the
                BOute-Homo baseline plans each GPU type alone this way.
            frontier_points: quality levels of the latency-quality frontier to solve
                besides the optimum (0: the optimum only).

        Returns:
            The trials (the optimum and the frontier points) as a :class:`LoopResult`.
        """
        sc = self.scenario
        k = len(sc.models)
        if k == 1:
            ev = self.evaluate([1.0], [1.0] if self._split() else None, gpus=gpus)
            t = self._trial_of(ev, {}, "exact")
            ok = t.feasible
            t.index = 0
            return LoopResult(
                trials=(t,), stop_reason="exact: one model, nothing to route", best_index=0 if ok else None, best_at_trial=1 if ok else None
            )
        if k > 2:
            raise InputError(
                f"strategy: 'exact' searches at most one routing dimension; {k} models have {k - 1}",
                hint="use bo (default for three or more models), random or grid",
            )
        intervals = self.router.quality_intervals(sc.quality_min)
        if not intervals:
            raise self._unreachable()
        trials = self._exact_search(intervals, gpus)
        best = _best_of(trials)
        reason = f"exact: {len(intervals)} quality interval(s) searched"
        if best is not None and frontier_points > 0 and self.router.max_quality() > best.quality + 1e-9:
            # The latency-quality frontier above the optimum, exactly at evenly spaced quality
            # levels (epsilon-constraint): the least objective with quality >= each level.
            # Highest level first: its objective caps the lower levels' (fewer MILPs each).
            q_top, ceiling = self.router.max_quality(), None
            for level in np.linspace(best.quality, q_top, frontier_points + 1)[:0:-1]:
                more = self._exact_search(
                    self.router.quality_intervals(float(level)), gpus, floor=best.objective, ceiling=ceiling, source="exact-frontier"
                )
                trials += more
                top = _best_of(more)
                ceiling = top.objective if top is not None else ceiling
            reason += f", frontier at {frontier_points} quality levels"
        for i, t in enumerate(trials):
            t.index = i
        best = _best_of(trials)
        return LoopResult(
            trials=tuple(trials),
            stop_reason=reason,
            best_index=None if best is None else best.index,
            best_at_trial=None if best is None else best.index + 1,
        )

    def _exact_search(
        self, intervals, gpus=None, *, floor: float | None = None, ceiling: float | None = None, source: str = "exact", prefix=()
    ) -> list[Trial]:
        """One pooled solve per quality interval (see :meth:`exact_routing`); the best first, later
        intervals searched only at or below the incumbent; ``floor``: no objective below it
        exists (latency grid starts there); ``ceiling``: a feasible objective is known there."""
        sc = self.scenario
        lam = sc.arrival_rate_per_s
        trials: list[Trial] = []
        best: Trial | None = None
        for a, b in intervals:
            prob = self._pooled_problem(a, b, gpus, prefix)
            if sc.objective == "latency":
                lo = -math.inf if floor is None else floor * (1 - 1e-9)
                top = ceiling if best is None else best.objective
                top = math.inf if top is None else top * (1 + 1e-9)
                prob = attrs.evolve(prob, latency_grid_s=tuple(t for t in prob.latency_grid_s if lo <= t <= top))
                if not prob.latency_grid_s:
                    continue
            res = solve_problem(prob, self.solver)
            x = a
            if res.ok:
                T = float(res.latency_bound_s)
                opts = {(o.model, o.key): o for o in prob.options()}  # the MILP's capacities (SLO ceilings included)
                cap = {m: sum(n * opts[(m, key)].capacity(T) for key, n in res.counts.get(m, {}).items()) for m in sc.models}
                rest = 1.0 - float(np.sum(prefix))
                lo_x = max(a, rest - cap[sc.models[-2]] / lam)
                hi_x = min(b, cap[sc.models[-1]] / lam)
                if prefix:
                    x = self.router.best_on_line(prefix, lo_x, max(lo_x, hi_x))
                else:
                    x = self.router.best_share_in(lo_x, max(lo_x, hi_x))
            shares = tuple(float(v) for v in self.router._line(prefix, x)) if prefix else (1.0 - x, x)
            ev = Evaluation(
                shares=shares, budget_split=self._split_of(res) if self._split() else None, quality=self.router.quality(shares), result=res
            )
            params = {f"u{i}": float(v) for i, v in enumerate(sticks_from_shares(shares))}
            if ev.budget_split is not None:
                params.update({f"b{i}": float(v) for i, v in enumerate(sticks_from_shares(ev.budget_split))})
            t = self._trial_of(ev, params, source)
            trials.append(t)
            if t.feasible and _better(t, best):
                best = t
        return trials

    def _split(self) -> bool:
        return self.scenario.mode == "split" and self.scenario.budget_usd_per_hour is not None

    def _pooled_problem(self, a: float, b: float, gpus: tuple[str, ...] | None = None, prefix=()) -> DeploymentProblem:
        """The last two models' split free (strongest share in ``[a, b]``), the others at
        ``prefix``: C1 at the interval's ends plus one C6 row over the last two."""
        rest = 1.0 - float(np.sum(prefix))
        base = self.problem((*prefix, rest - b, a), gpus=gpus)  # joint budget: the split is eliminated too
        pool = PooledDemand(models=tuple(self.scenario.models[-2:]), load_rps=rest * self.scenario.arrival_rate_per_s)
        return attrs.evolve(base, pooled=(pool,))

    def line_trial(self, p: dict[str, float]) -> Trial:
        """The ``absorb`` evaluation for ``k >= 3``: the outer parameters fix the first
        ``k - 2`` shares; the split of the rest between the last two models is solved
        exactly, as in :meth:`exact_routing` (quality intervals along the line, one pooled MILP
        search each). One outer dimension fewer for the same kind of inner work."""
        k = len(self.scenario.models)
        u = [min(max(p[f"u{i}"], 0.0), 1.0) for i in range(k - 2)]
        prefix = tuple(float(v) for v in shares_from_sticks(u)[: k - 2])
        intervals = self.router.line_intervals(prefix, self.scenario.quality_min)
        trials = self._exact_search(intervals, prefix=prefix, source="") if intervals else []
        best = _best_of(trials)
        if best is None and trials:
            best = trials[0]
        if best is None:
            shares = self.router._line(prefix, 1.0 - float(np.sum(prefix)))
            res = SolveResult(
                status="infeasible",
                counts=None,
                latency_bound_s=None,
                cost_usd_per_hour=None,
                wall_s=0.0,
                solves=0,
                backend=self.solver.name,
                explanation="quality target unreachable with these first shares",
            )
            ev = Evaluation(shares=tuple(float(v) for v in shares), budget_split=None, quality=self.router.quality(shares), result=res)
            best = self._trial_of(ev, dict(p))
        total = sum(t.payload.result.solves for t in trials)
        best.payload = attrs.evolve(best.payload, result=attrs.evolve(best.payload.result, solves=total))
        best.params = dict(p)
        return best

    def _split_of(self, res: SolveResult) -> tuple[float, ...] | None:
        """Per-model budget split serving ``res``: each model's spend plus a share of the slack."""
        if not res.ok:
            return None
        spend = np.array(
            [
                sum(n * o.usd_per_hour for o in self._options[m] for key, n in res.counts.get(m, {}).items() if o.key == key)
                for m in self.scenario.models
            ]
        )
        if spend.sum() <= 0:
            return tuple(1.0 / len(spend) for _ in spend)
        return tuple(float(v) for v in spend / spend.sum())

    # ------------------------------------------------------------------ plan
    def plan(
        self,
        *,
        strategy: str = "auto",
        structure: bool = True,
        baselines: bool = True,
        verify: bool = True,
        on_trial: Callable[[Trial], None] | None = None,
    ) -> Plan:
        """Optimise, verify and return the plan (raises InfeasibleError if none exists).

        ``on_trial`` observes every outer-loop trial (see :meth:`optimize`)."""
        strategy = self.resolve_strategy(strategy)
        loop, opt_s = self.optimize(strategy=strategy, structure=structure, on_trial=on_trial)
        return self.finish(loop, opt_s, strategy=strategy, structure=structure, baselines=baselines, verify=verify)

    def finish(self, loop, opt_s: float, *, strategy: str, structure: bool, baselines: bool = True, verify: bool = True) -> Plan:
        """Turn a finished outer loop into a verified plan with frontier, baselines and stats."""
        if loop.best_index is None:
            raise explain_no_plan(self, loop.trials).error()
        best: Evaluation = loop.trials[loop.best_index].payload
        stats = {
            "perfdb_s": round(self.perfdb_s, 3),
            "perfdb_from_cache": self.perfdb.from_cache,
            "perfdb_configs": len(self.perfdb.curves),
            "optimizer_s": round(opt_s, 3),
            "trials": len(loop.trials),
            "best_at_trial": loop.best_at_trial,
            "stop_reason": loop.stop_reason,
            "strategy": strategy,
            "structure": all(_pieces(structure).values()),
            "structure_pieces": _pieces(structure),
            "solver": self.solver.name,
            "inner_solves": int(sum(t.payload.result.solves for t in loop.trials)),
        }
        pareto = tuple(point_for(self, t.payload) for t in pareto_front(loop.trials))
        alternatives = alternatives_for(self, loop.trials, loop.best_index)
        base = {}
        if baselines:
            from boute.engine.baselines import run_baselines

            t0 = time.perf_counter()
            base = run_baselines(self, verify=verify)
            stats["baselines_s"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        out = self.verified(best, pareto=pareto, baselines=base, stats=stats, verify=verify, alternatives=alternatives)
        return attrs.evolve(out, stats=attrs.evolve(out.stats, verify_s=round(time.perf_counter() - t0, 3)))

    def config_of(self, key: str) -> ReplicaConfig:
        """The replica config of a perf DB key."""
        return self.perfdb.curves[key].config

    def verified(self, ev: Evaluation, *, pareto=(), baselines=None, stats=None, verify: bool = True, alternatives=()) -> Plan:
        """Assemble ``ev`` and check its latency by re-simulation; while that fails, derate
        the offending configs' capacities by the measured ratio (below the load they
        failed at, see :class:`~boute.engine.verify.Resimulation`) and re-solve the same
        routing, at most ``MAX_DERATE_ROUNDS`` times. Deterministic: the re-simulation is
        seeded, so the same request derates the same way.

        Raises:
            InfeasibleError: the plan still fails after the last round, or derating leaves
                no feasible deployment for this routing. A failing plan is never returned.
        """
        derate: dict[str, float] = dict(ev.derate)
        history: list[LatencyFailure] = []
        for rnd in range(MAX_DERATE_ROUNDS + 1):
            out = self.assemble(ev, pareto=pareto, baselines=baselines, stats=stats, verify=verify, alternatives=alternatives)
            if out.verification.ok:
                break
            failed = out.verification.failed()
            history.append(
                LatencyFailure(
                    round=rnd,
                    bound_s=out.p95_bound_s,
                    cost_usd_per_hour=out.cost_usd_per_hour,
                    failed=tuple(c.detail if c.model is None else f"{c.name}: {c.detail}" for c in failed),
                    derate={k: round(v, 4) for k, v in out.verification.derate.items()},
                )
            )
            what = "; ".join(f"{c.name}: {c.detail}" for c in failed)
            if rnd == MAX_DERATE_ROUNDS or not out.verification.derate:
                raise InfeasibleError(
                    f"the plan failed its latency re-simulation after {rnd} derating round(s): {what}",
                    hint="raise latency_slo_s or the budget, lower the arrival rate, or add GPUs",
                )
            log.info("latency verification failed (%s); derating %s", what, out.verification.derate)
            for key, factor in out.verification.derate.items():
                derate[key] = derate.get(key, 1.0) * factor
            ev = self.evaluate(ev.shares, ev.budget_split, derate=derate)
            if not ev.feasible:
                raise InfeasibleError(
                    f"the plan failed its latency re-simulation ({what}) and, with the failing configs derated, "
                    f"this routing has no deployment: {ev.result.explanation}",
                    hint="raise latency_slo_s or the budget, lower the arrival rate, or add GPUs",
                )
        return attrs.evolve(
            out,
            stats=attrs.evolve(
                out.stats,
                derate_rounds=len(history),
                derated_capacity={k: round(v, 4) for k, v in sorted(derate.items())},
                latency_failures=tuple(history),
            ),
        )

    def assemble(
        self,
        ev: Evaluation,
        *,
        pareto=(),
        baselines=None,
        stats=None,
        verify: bool = True,
        seed: int | None = None,
        alternatives=(),
        requests: int = VERIFY_REQUESTS,
    ) -> Plan:
        """Turn an evaluation into a :class:`Plan`, checked by :mod:`boute.engine.verify`.

        The allocation checks (budget, availability, packing, memory, shares, quality) must
        pass, else this raises: they re-derive what the solver guaranteed. With ``verify``
        the plan is also re-simulated as a whole system and every latency promise is a
        named check; a failure there is returned in ``plan.verification`` (``ok`` False,
        with the capacities to derate) for :meth:`verified` to act on. ``requests``: the
        re-simulation's first run per model (it still grows until every estimate is
        converged or conclusive); a plan's own verification keeps the default floor.
        """
        sc, r = self.scenario, ev.result
        if not r.ok:
            raise InfeasibleError(f"cannot assemble an infeasible evaluation: {r.explanation}", hint="check the request")
        T = float(r.latency_bound_s)
        counts = {m: {k: (self.config_of(k), n) for k, n in row.items()} for m, row in r.counts.items()}
        prob = self.problem(ev.shares, ev.budget_split, derate=ev.derate)
        opts = {(o.model, o.key): o for o in prob.options()}
        levels = {m: q if q is not None else PERCENTILE for m, q in model_levels(prob, r.counts, T).items()}
        cap = {m: {k: opts[(m, k)].capacity(T, levels.get(m, PERCENTILE)) for k in row} for m, row in r.counts.items()}
        checks = verify_allocation(
            sc, self.catalog, self.router, ev.shares, counts, self.perfdb.max_model_len, budget_split=ev.budget_split
        )
        if not checks["ok"]:
            bad = "; ".join(f"{c['name']}: {c['detail']}" for c in checks["checks"] if not c["ok"])
            raise InfeasibleError(f"plan failed independent verification: {bad}", hint="report this as a bug in boute")
        checks["latency_verified"] = bool(verify)
        sim, per_model = ({}, {})
        if verify:
            promise = Promise(
                bound_s=T, latency_metric=sc.latency_metric, levels=levels, ttft_slo_s=sc.ttft_slo_s, tpot_slo_s=sc.tpot_slo_s
            )
            res: Resimulation = resimulate(
                sc,
                self.catalog,
                self.workload,
                ev.shares,
                counts,
                cap,
                self.perfdb.max_model_len,
                promise=promise,
                seed=sc.seed if seed is None else seed,
                n_requests=requests,
            )
            sim, per_model = res.system, res.per_model
            checks["checks"] = list(checks["checks"]) + list(res.checks)
            checks["ok"] = bool(checks["ok"] and res.ok)
            checks["derate"] = dict(res.derate)
            checks["latency_requests"] = res.requests
        return build_plan(
            self,
            ev,
            checks=checks,
            simulated=sim,
            per_model=per_model,
            pareto=pareto,
            alternatives=alternatives,
            baselines=baselines,
            stats=stats,
            capacities=cap,
            levels=levels,
        )

    def replan(self, *, arrival_rate_per_s: float | None = None, quality_min: float | None = None, **kw) -> Plan:
        """Re-plan after a change of load or quality target, reusing the perf DB and solver."""
        changes = {}
        if arrival_rate_per_s is not None:
            if not arrival_rate_per_s > 0:
                raise InputError(f"arrival_rate_per_s: {arrival_rate_per_s!r} must be > 0", hint="requests per second")
            changes["arrival_rate_per_s"] = float(arrival_rate_per_s)
        if quality_min is not None:
            changes["quality_min"] = float(quality_min)
        self.scenario = self.scenario.with_overrides(self.catalog, **changes)
        self._options = self._build_options()
        return self.plan(**kw)


def plan(scenario: Scenario, catalog: Catalog | None = None, **kw: Any) -> Plan:
    """One-shot: build a :class:`Planner` and return its verified plan."""
    plan_kw = {k: kw.pop(k) for k in ("strategy", "structure", "baselines", "verify", "on_trial") if k in kw}
    return Planner(scenario, catalog, **kw).plan(**plan_kw)


def resolve_strategy(strategy: str, n_models: int, latency_metric: str = "per-model") -> str:
    """``auto`` -> ``exact`` for at most two models (at most one routing dimension once
    split mode's budget is eliminated) under the per-model latency metric, ``grid`` for
    two models under the ``system`` metric (its pooled quantile constraint is not linear
    in the share, so the share cannot be left to the MILP), else ``bo``; other names
    checked, and ``exact`` refused where it does not apply (one line, before any perf DB
    is built)."""
    if strategy == "auto":
        if n_models <= 1:
            return "exact"
        if n_models == 2:
            return "exact" if latency_metric == "per-model" else "grid"
        return "bo"
    if strategy not in STRATEGIES:
        raise InputError(f"strategy: {strategy!r} is not a strategy", hint=did_you_mean(strategy, STRATEGIES + ("auto",)))
    if strategy == "exact" and n_models > 2:
        raise InputError(
            f"strategy: 'exact' searches at most one routing dimension; {n_models} models have {n_models - 1}",
            hint="use bo (default for three or more models), random or grid",
        )
    if strategy == "exact" and n_models == 2 and latency_metric != "per-model":
        raise InputError(
            f"strategy: 'exact' needs the per-model latency metric (this request uses {latency_metric!r})",
            hint="use grid (exhaustive over the routing share) or bo",
        )
    return strategy


def _pieces(structure: bool | dict[str, bool]) -> dict[str, bool]:
    if isinstance(structure, dict):
        unknown = set(structure) - set(STRUCTURE)
        if unknown:
            raise InputError(f"structure: unknown piece {sorted(unknown)[0]!r}", hint=did_you_mean(sorted(unknown)[0], STRUCTURE))
        return {p: bool(structure.get(p, True)) for p in STRUCTURE}
    return {p: bool(structure) for p in STRUCTURE}


def _unreachable(scenario: Scenario, router) -> InfeasibleError:
    qmin = scenario.quality_min
    return InfeasibleError(
        f"quality_min: {qmin} exceeds the best quality any routing reaches with the {router.name} router "
        f"({router.max_quality():.2f} {router.table.unit})",
        hint=f"lower quality_min to at most {router.max_quality():.2f} or use a better router/model",
    )


def _best_of(trials) -> Trial | None:
    best = None
    for t in trials:
        if t.feasible and _better(t, best):
            best = t
    return best


def _compositions(total: int, parts: int):
    """Every tuple of ``parts`` non-negative integers summing to ``total``."""
    if parts == 1:
        yield (total,)
        return
    for i in range(total + 1):
        for rest in _compositions(total - i, parts - 1):
            yield (i, *rest)


def search_space(
    scenario: Scenario,
    router,
    options: dict[str, tuple[ConfigOption, ...]],
    structure: bool | dict[str, bool] = True,
    *,
    split_prior: Callable[[np.ndarray], np.ndarray] | None = None,
):
    """Search space (stick-breaking coordinates ``u``, budget sticks ``b``) and seeds.

    A pure function of the request, its router and the inner problem's options (no
    planner state): ``[(name, low, high)]`` and a list of seed parameter dicts.

    ``structure`` switches the structural pieces (``True``: all, ``False``: none, or
    a dict over :data:`STRUCTURE`):

    * ``bound`` (load-fraction encoding with the quality requirement as a hard
      constraint of the space): the first stick, the cheapest model's share, is
      bounded by :meth:`Router.max_weak_share`, valid for every ``k`` (exact for two).
      Budget and GPU limits stay hard constraints of the inner MILP either way.
    * ``seeds`` (the routing inverse): the quality-boundary routing on each edge from
      the cheapest model to a stronger one, the midpoint of the strongest edge, and
      the centroid for ``k >= 3``; split mode seeds each routing with ``split_prior(shares)``
      (the planner passes :meth:`Planner.joint_split`, the joint optimum's split), or
      without it the cost-proportional split (:func:`proportional_split`).
    * ``preference`` (model-GPU preference, heterogeneous-GPU awareness): one more seed,
      see :func:`preference_seed`.
    * ``transform`` (output transformation) is applied by the loop, not here.
    """
    pieces = _pieces(structure)
    k = len(scenario.models)
    split = scenario.mode == "split" and scenario.budget_usd_per_hour is not None
    qmin = scenario.quality_min
    space, seeds = [], []
    hi = 1.0
    if k >= 2:
        if pieces["bound"]:
            hi = router.max_weak_share(qmin)
            if hi < 0:
                raise _unreachable(scenario, router)
        space.append(("u0", 0.0, hi))
        space += [(f"u{i}", 0.0, 1.0) for i in range(1, k - 1)]
    if split:
        space += [(f"b{i}", 0.0, 1.0) for i in range(k - 1)]
    if k < 2 or not (pieces["seeds"] or pieces["preference"]):
        return space, seeds
    routes, edge = [], None
    for j in range(1, k):
        sub = router.sub_router((scenario.models[0], scenario.models[j])) if k > 2 else router
        x = 0.0 if qmin is None else sub.min_strong_share(qmin)
        if x is None:
            continue
        s = np.zeros(k)
        s[0], s[j] = 1.0 - x, x
        if j == k - 1:
            edge = s
        if pieces["seeds"]:
            routes.append(s)
            if j == k - 1:
                s2 = np.zeros(k)
                s2[0], s2[j] = 0.5 * (1.0 - x), 1.0 - 0.5 * (1.0 - x)
                routes.append(s2)
    if pieces["seeds"] and k >= 3:
        routes.append(np.full(k, 1.0 / k))
    if pieces["preference"]:
        routes.append(preference_seed(scenario, router, options, edge))
    seen = set()
    for r in routes:
        u = sticks_from_shares(r)
        u[0] = min(u[0], hi)
        p = {f"u{i}": float(v) for i, v in enumerate(u)}
        if (key := tuple(round(v, 9) for v in p.values())) in seen:
            continue  # a repeated point teaches the GP nothing and conditions it badly
        seen.add(key)
        if split:
            seed_shares = shares_from_sticks(u)
            prop = split_prior(seed_shares) if split_prior is not None else proportional_split(scenario, options, seed_shares)
            p.update({f"b{i}": float(v) for i, v in enumerate(sticks_from_shares(prop))})
        seeds.append(p)
    return space, seeds


def preference_seed(scenario: Scenario, router, options: dict[str, tuple[ConfigOption, ...]], edge) -> np.ndarray:
    """Model-GPU preference as a starting routing.

    Each model prefers the GPU type where it serves a request per second most cheaply
    (least USD/h per req/s at twice its best zero-load P95, a target it can meet).
    Give each model the pool of its preferred type (split evenly between models
    preferring the same type; at least one replica, at most an even share of the
    budget) and route in proportion to the rate that pool sustains; then, if
    that misses the quality target, move towards the strongest model alone (or, when
    that misses it too, towards ``edge``, the quality-boundary routing on the
    cheapest-strongest edge) by bisection until it meets it. Why: on heterogeneous GPUs a model's load should match the capacity of
    the hardware it is efficient on; the MILP then refines the GPU mix exactly.
    """
    sc = scenario
    k = len(sc.models)
    pref: list[tuple[ConfigOption, float] | None] = []
    for m in sc.models:
        opts = [o for o in options[m] if sc.gpus.get(o.gpu, 0) >= o.num_gpus]
        if not opts:
            pref.append(None)
            continue
        # a latency target each model can meet: twice its best zero-load P95
        target = 2.0 * min(o.p95_s[0] for o in opts)
        scored = [(o.usd_per_hour / c, o) for o in opts if (c := o.capacity(target)) > 0]
        pref.append((min(scored, key=lambda t: t[0])[1], target) if scored else None)
    sharing: dict[str, int] = {}
    for po in pref:
        if po is not None:
            sharing[po[0].gpu] = sharing.get(po[0].gpu, 0) + 1
    rate = []
    for po in pref:
        if po is None:
            rate.append(0.0)
            continue
        o, target = po
        replicas = (sc.gpus[o.gpu] // sharing[o.gpu]) // o.num_gpus
        if sc.budget_usd_per_hour is not None:
            replicas = min(replicas, int(sc.budget_usd_per_hour / len(pref) // o.usd_per_hour))
        rate.append(max(replicas, 1) * o.capacity(target))
    w = np.asarray(rate, dtype=float)
    s = w / w.sum() if w.sum() > 0 else np.full(k, 1.0 / k)
    qmin = sc.quality_min
    if qmin is None or router.quality(s) >= qmin:
        return s
    top = np.zeros(k)
    top[-1] = 1.0  # towards the strongest model, keeping the cheaper ones' proportions
    if router.quality(top) >= qmin:
        edge = top
    if edge is None:
        return s
    lo, hi = 0.0, 1.0  # quality(s) < qmin at 0, >= qmin at 1 (the edge meets it)
    for _ in range(30):
        mid = (lo + hi) / 2
        if router.quality((1 - mid) * s + mid * edge) >= qmin:
            hi = mid
        else:
            lo = mid
    return (1 - hi) * s + hi * edge


def proportional_split(scenario: Scenario, options: dict[str, tuple[ConfigOption, ...]], shares) -> np.ndarray:
    """Budget split in proportion to each model's cost of serving its load (cheapest
    USD per req/s at a loose latency target), the paper's structural prior."""
    w = []
    for s, m in zip(shares, scenario.models):
        best = min((o.usd_per_hour / c for o in options[m] if (c := o.capacity(60.0)) > 0), default=1.0)
        w.append(max(s, 1e-6) * best)
    w = np.asarray(w)
    return w / w.sum()


def params_to_point(scenario: Scenario, p: dict[str, float]):
    """Routing shares (stick-breaking of ``u0..``) and, in split mode with a budget, the
    budget split (of ``b0..``) for outer-loop parameters ``p``; parameters are clipped to
    [0, 1]."""
    k = len(scenario.models)
    shares = shares_from_sticks([min(max(p[f"u{i}"], 0.0), 1.0) for i in range(k - 1)])
    split = None
    if scenario.mode == "split" and scenario.budget_usd_per_hour is not None:
        split = shares_from_sticks([min(max(p[f"b{i}"], 0.0), 1.0) for i in range(k - 1)])
    return shares, split
