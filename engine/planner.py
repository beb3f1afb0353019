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

from boute.engine.errors import InfeasibleError, InputError
from boute.engine.infeasible import explain_no_plan
from boute.engine.optimizer import Trial, pareto_front, run_outer_loop
from boute.engine.perfdb import PerfDB, build_perfdb
from boute.engine.assembly import alternatives_for, build_plan, point_for
from boute.engine.plan import LatencyFailure, Plan
from boute.engine.plugins import Catalog, load_catalog
from boute.engine.problem import (
    PERCENTILE, ConfigOption, DeploymentProblem, ModelDemand, SolveResult, capacity_at, model_levels, solve_problem,
)
from boute.engine.replica import ReplicaConfig
from boute.engine.routing import (
    QualityTable,
    calibrated_gsm8k,
    calibrated_mt_bench,
    load_quality_file,
    load_routellm_gsm8k,
    load_routellm_mt_bench,
    make_router,
    shares_from_sticks,
    sticks_from_shares,
)
from boute.engine.scenario import Scenario
from boute.engine.solvers import get_solver
from boute.engine.verify import Promise, Resimulation, resimulate, verify_allocation
from boute.engine.workload import Workload, get_workload, load_azure_trace

__all__ = ["Planner", "plan", "Evaluation", "CALIBRATED_QUALITY", "BO_BATCH", "MAX_DERATE_ROUNDS"]

# Proposals per Ax generation call: one GP fit serves three trials. Measured on the default
# scenario (2 cores): 24 trials in 59 s with batch 1, 24 s with batch 3, same best plan
# (docs/performance.md, scripts/bench_planner.py).
BO_BATCH = 3

# Per-model loads below this count as zero: ten times HiGHS's default primal feasibility
# tolerance (1e-7), so a "needs no replica" rounding can never hide a real load.
MIN_LOAD_RPS = 1e-6
# Derate-and-re-solve rounds after a failed latency re-simulation before giving up: each
# round cuts the offending capacities by at least the measured overshoot, so a plan that
# still fails after three is far from what the perf DB predicts (reported, not returned).
MAX_DERATE_ROUNDS = 3

log = logging.getLogger(__name__)

# Published accuracies for the calibrated generator (GSM8K 8-shot CoT, Meta's Llama 3.1
# model card, 2024-07) and assumed MT-Bench judge means (no authoritative figure exists
# for Llama-3.1; the BOute paper's targets of 8.1-8.5 suggest about 7.9 and 8.9).
CALIBRATED_QUALITY = {
    "gsm8k": {"Llama-3.1-8B": 84.5, "Llama-3.1-70B": 95.1},
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
        self.table = (quality_table or self._quality_table()).select(scenario.models)
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
                opts.append(ConfigOption(key=c.config.key, model=m, gpu=c.config.gpu, tp=c.config.tp, pp=c.config.pp,
                                         usd_per_hour=price * c.config.num_gpus, rates_rps=c.rates_rps, p95_s=c.p95_s,
                                         quantiles_s={q: tuple(v) for q, v in e2e.items() if q != PERCENTILE},
                                         ceiling_rps=ceiling))
            out[m] = tuple(opts)
        return out

    # ------------------------------------------------------------------ inner
    def problem(self, shares, budget_split=None, *, objective: str | None = None, gpus: tuple[str, ...] | None = None,
                derate: dict[str, float] | None = None) -> DeploymentProblem:
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
            demands=tuple(demands), availability=avail,
            gpus_per_node={g: self.catalog.gpu(g).gpus_per_node for g in sc.gpus},
            budget_usd_per_hour=total, objective=objective, latency_slo_s=sc.latency_slo_s,
            latency_metric=sc.latency_metric,
        )

    def evaluate(self, shares, budget_split=None, *, objective: str | None = None, gpus: tuple[str, ...] | None = None,
                 derate: dict[str, float] | None = None) -> Evaluation:
        """Answer one routing (and budget split) exactly with the inner solver."""
        s = np.asarray(shares, dtype=float)
        s = np.clip(s, 0, None) / s.sum()
        # A load below MIN_LOAD_RPS passes C1 with no replica inside the MILP's feasibility
        # tolerance, yet verification (rightly) wants replicas for any share: call it zero.
        s = np.where(s * self.scenario.arrival_rate_per_s < MIN_LOAD_RPS, 0.0, s)
        s = s / s.sum()
        q = self.router.quality(s)
        res = solve_problem(self.problem(s, budget_split, objective=objective, gpus=gpus, derate=derate), self.solver)
        return Evaluation(shares=tuple(float(v) for v in s), budget_split=None if budget_split is None else tuple(float(v) for v in budget_split),
                          quality=q, result=res, derate=dict(derate or {}))

    def min_strong_share(self) -> float:
        """Least share of the strongest model meeting the quality target (two models)."""
        qmin = self.scenario.quality_min
        if qmin is None:
            return 0.0
        x = self.router.min_strong_share(qmin)
        if x is None:
            raise InfeasibleError(
                f"quality_min: {qmin} exceeds the best quality any routing reaches with the {self.router.name} router "
                f"({self.router.max_quality():.2f} {self.table.unit})",
                hint=f"lower quality_min to at most {self.router.max_quality():.2f} or use a better router/model",
            )
        return x

    # ------------------------------------------------------------------ outer
    def _space(self, structure: bool):
        k = len(self.scenario.models)
        space, seeds = [], []
        split = self.scenario.mode == "split"
        if k == 2:
            hi = 1.0 - (self.min_strong_share() if structure else 0.0)
            space.append(("u0", 0.0, max(hi, 0.0)))
        else:
            space += [(f"u{i}", 0.0, 1.0) for i in range(k - 1)]
        if split:
            space += [(f"b{i}", 0.0, 1.0) for i in range(k - 1)]
        if structure:
            if k == 2:
                x = self.min_strong_share()
                seed_routes = [[1.0 - x], [0.5 * (1.0 - x)]]
            else:
                seed_routes = [[1.0 / (k - i) for i in range(k - 1)]]
            for r in seed_routes:
                p = {f"u{i}": float(v) for i, v in enumerate(r)}
                if split:
                    shares = shares_from_sticks(r)
                    prop = self._proportional_split(shares)
                    p.update({f"b{i}": float(v) for i, v in enumerate(sticks_from_shares(prop))})
                seeds.append(p)
        return space, seeds

    def _proportional_split(self, shares) -> np.ndarray:
        """Budget split in proportion to each model's cost of serving its load (cheapest
        USD per req/s at a loose latency target), the paper's structural prior."""
        w = []
        for s, m in zip(shares, self.scenario.models):
            best = min((o.usd_per_hour / c for o in self._options[m] if (c := o.capacity(60.0)) > 0), default=1.0)
            w.append(max(s, 1e-6) * best)
        w = np.asarray(w)
        return w / w.sum()

    def _params_to_point(self, p: dict[str, float]):
        k = len(self.scenario.models)
        shares = shares_from_sticks([min(max(p[f"u{i}"], 0.0), 1.0) for i in range(k - 1)])
        split = None
        if self.scenario.mode == "split":
            split = shares_from_sticks([min(max(p[f"b{i}"], 0.0), 1.0) for i in range(k - 1)])
        return shares, split

    def _trial(self, p: dict[str, float]) -> Trial:
        shares, split = self._params_to_point(p)
        ev = self.evaluate(shares, split)
        t = Trial(index=-1, params=p, source="", payload=ev, quality=ev.quality)
        qmin = self.scenario.quality_min
        if qmin is not None and ev.quality < qmin - 1e-9:
            t.reason = f"quality {ev.quality:.3f} < {qmin}"
        elif not ev.feasible:
            t.reason = ev.result.explanation or ev.result.status
        else:
            t.feasible = True
            t.objective = ev.result.latency_bound_s if self.scenario.objective == "latency" else ev.result.cost_usd_per_hour
        return t

    def optimize(self, *, strategy: str = "bo", structure: bool = True, max_trials: int | None = None,
                 stall_trials: int | None = None, seed: int | None = None):
        """Run the outer loop; returns (LoopResult, seconds)."""
        sc = self.scenario
        space, seeds = self._space(structure)
        t0 = time.perf_counter()
        res = run_outer_loop(
            space, self._trial, seeds=seeds if structure else [], strategy=strategy,
            max_trials=max_trials or sc.max_trials, stall_trials=stall_trials or sc.stall_trials,
            seed=sc.seed if seed is None else seed,
            quality_ref=sc.quality_min, objective_name="p95" if sc.objective == "latency" else "cost", batch=BO_BATCH,
            progress=(lambda d, t: self.progress("optimiser", d, t)) if self.progress else None,
        )
        return res, time.perf_counter() - t0

    # ------------------------------------------------------------------ plan
    def plan(self, *, strategy: str = "bo", structure: bool = True, baselines: bool = True, verify: bool = True) -> Plan:
        """Optimise, verify and return the plan (raises InfeasibleError if none exists)."""
        loop, opt_s = self.optimize(strategy=strategy, structure=structure)
        return self.finish(loop, opt_s, strategy=strategy, structure=structure, baselines=baselines, verify=verify)

    def finish(self, loop, opt_s: float, *, strategy: str, structure: bool, baselines: bool = True, verify: bool = True) -> Plan:
        """Turn a finished outer loop into a verified plan with frontier, baselines and stats."""
        if loop.best_index is None:
            raise explain_no_plan(self, loop.trials).error()
        best: Evaluation = loop.trials[loop.best_index].payload
        stats = {
            "perfdb_s": round(self.perfdb_s, 3), "perfdb_from_cache": self.perfdb.from_cache, "perfdb_configs": len(self.perfdb.curves),
            "optimizer_s": round(opt_s, 3), "trials": len(loop.trials), "best_at_trial": loop.best_at_trial,
            "stop_reason": loop.stop_reason, "strategy": strategy, "structure": structure, "solver": self.solver.name,
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
            history.append(LatencyFailure(
                round=rnd, bound_s=out.p95_bound_s, cost_usd_per_hour=out.cost_usd_per_hour,
                failed=tuple(c.detail if c.model is None else f"{c.name}: {c.detail}" for c in failed),
                derate={k: round(v, 4) for k, v in out.verification.derate.items()}))
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
        return attrs.evolve(out, stats=attrs.evolve(
            out.stats, derate_rounds=len(history), derated_capacity={k: round(v, 4) for k, v in sorted(derate.items())},
            latency_failures=tuple(history)))

    def assemble(self, ev: Evaluation, *, pareto=(), baselines=None, stats=None, verify: bool = True, seed: int | None = None,
                 alternatives=()) -> Plan:
        """Turn an evaluation into a :class:`Plan`, checked by :mod:`boute.engine.verify`.

        The allocation checks (budget, availability, packing, memory, shares, quality) must
        pass, else this raises: they re-derive what the solver guaranteed. With ``verify``
        the plan is also re-simulated as a whole system and every latency promise is a
        named check; a failure there is returned in ``plan.verification`` (``ok`` False,
        with the capacities to derate) for :meth:`verified` to act on.
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
        checks = verify_allocation(sc, self.catalog, self.router, ev.shares, counts, self.perfdb.max_model_len, budget_split=ev.budget_split)
        if not checks["ok"]:
            bad = "; ".join(f"{c['name']}: {c['detail']}" for c in checks["checks"] if not c["ok"])
            raise InfeasibleError(f"plan failed independent verification: {bad}", hint="report this as a bug in boute")
        checks["latency_verified"] = bool(verify)
        sim, per_model = ({}, {})
        if verify:
            promise = Promise(bound_s=T, latency_metric=sc.latency_metric, levels=levels, ttft_slo_s=sc.ttft_slo_s, tpot_slo_s=sc.tpot_slo_s)
            res: Resimulation = resimulate(sc, self.catalog, self.workload, ev.shares, counts, cap, self.perfdb.max_model_len,
                                           promise=promise, seed=sc.seed if seed is None else seed)
            sim, per_model = res.system, res.per_model
            checks["checks"] = list(checks["checks"]) + list(res.checks)
            checks["ok"] = bool(checks["ok"] and res.ok)
            checks["derate"] = dict(res.derate)
            checks["latency_requests"] = res.requests
        return build_plan(self, ev, checks=checks, simulated=sim, per_model=per_model, pareto=pareto, alternatives=alternatives,
                          baselines=baselines, stats=stats, capacities=cap, levels=levels)

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
    plan_kw = {k: kw.pop(k) for k in ("strategy", "structure", "baselines", "verify") if k in kw}
    return Planner(scenario, catalog, **kw).plan(**plan_kw)
