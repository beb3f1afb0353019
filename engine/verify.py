"""Independent verification of a plan: re-derive every constraint from the catalogs.

Nothing here trusts the solver: prices come from the scenario's price table, GPU counts
from the plan's replicas, memory fit from a fresh stage-1 model, quality from the
router on the per-query data, and latency from a whole-system stage-2 re-simulation.

**Latency check** (:func:`resimulate`). One request stream at the scenario's total rate
is split among the models by the routing shares (independent coin flips, as the router's
score bands split a random query order); each model's requests are dispatched to its
replicas by the plan's one dispatch policy, weighted random with the replicas' capacities
at the bound as weights (:data:`~boute.engine.simulator.DISPATCH_POLICY`), and every
replica is simulated. Each promised quantile (every model's P95 <= bound, or the pooled
P95 <= bound; P95 TTFT / TPOT <= their SLOs) is estimated at steady state with a
confidence interval (:func:`~boute.engine.steady.estimate_quantile`: warm-up dropped,
batch-means sectioning). The run starts with at least ``VERIFY_REQUESTS`` requests for
the smallest loaded model and doubles, up to ``VERIFY_MAX_REQUESTS`` in all, while an
estimate is neither converged (half-width <= 5 % at 95 %) nor conclusive (interval
wholly on one side of its limit). A promise passes when the point estimate is within
its limit and the estimate is converged or its upper confidence bound is within the
limit: so a plan passes only on evidence, never on an inconclusive run.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from boute.engine.plugins import Catalog
from boute.engine.replica import ReplicaConfig, ReplicaModel
from boute.engine.routing import Router
from boute.engine.scenario import Scenario
from boute.engine.simulator import SimResult, simulate_pool, summarize
from boute.engine.steady import QuantileEstimate, estimate_quantile
from boute.engine.workload import Workload

__all__ = ["verify_allocation", "resimulate", "Promise", "Resimulation", "VERIFY_REQUESTS", "VERIFY_MAX_REQUESTS"]

VERIFY_REQUESTS = 20_000
"""Requests for the smallest loaded model in the first re-simulation (the issue's floor
for a converged P95; a 20,000-request pool run costs about 0.3-0.7 s on one core)."""
VERIFY_MAX_REQUESTS = 320_000
"""Cap on the whole stream (all models) when the run grows for convergence."""
WARMUP_FRACTION = 0.1
"""Leading share of each model's requests dropped as warm-up (the system starts empty)."""
REL_TOL = 0.05
"""Converged when the P95 interval's half-width is within 5 % of the estimate (95 % confidence)."""
MIN_DERATE_RATIO = 1.02
"""Least capacity cut per derating round, so that a marginal failure still moves the plan."""


def verify_allocation(
    scenario: Scenario,
    catalog: Catalog,
    router: Router,
    shares,
    counts: dict[str, dict[str, tuple[ReplicaConfig, int]]],
    max_model_len: int,
    *,
    budget_split=None,
) -> dict[str, Any]:
    """Check budget, availability, node packing, memory fit, shares and quality.

    Args:
        counts: model -> config key -> (config, replicas).
    Returns:
        ``{"ok": bool, "checks": [{"name", "ok", "detail"}], ...}``.
    """
    checks = []

    def add(name: str, ok: bool, detail: str) -> None:
        checks.append({"name": name, "ok": bool(ok), "detail": detail})

    s = np.asarray(shares, dtype=float)
    add("shares", bool(np.all(s >= -1e-9) and abs(s.sum() - 1) < 1e-6), f"shares {np.round(s, 4).tolist()} sum to {s.sum():.6f}")
    q = router.quality(np.clip(s, 0, None) / s.sum())
    if scenario.quality_min is not None:
        add("quality", q >= scenario.quality_min - 1e-6, f"quality {q:.3f} vs required {scenario.quality_min}")
    cost = 0.0
    used: dict[str, int] = {}
    per_model_cost: dict[str, float] = {}
    for m, row in counts.items():
        llm = catalog.model(m)
        for key, (cfg, n) in row.items():
            gpu = catalog.gpu(cfg.gpu)
            price = scenario.price(catalog, gpu.name)
            c = n * cfg.num_gpus * price
            cost += c
            per_model_cost[m] = per_model_cost.get(m, 0.0) + c
            used[gpu.name] = used.get(gpu.name, 0) + n * cfg.num_gpus
            mem = ReplicaModel(llm, gpu, cfg, max_model_len=max_model_len).memory()
            add(f"memory {key}", mem.feasible, mem.reason or f"KV cache {mem.kv_capacity_tokens} tokens >= {max_model_len}")
            add(f"tp-in-node {key}", cfg.tp <= gpu.gpus_per_node, f"TP{cfg.tp} within {gpu.gpus_per_node}-GPU nodes")
    if scenario.budget_usd_per_hour is not None and scenario.objective == "latency":
        add("budget", cost <= scenario.budget_usd_per_hour + 1e-6, f"${cost:.2f}/h vs budget ${scenario.budget_usd_per_hour:.2f}/h")
    if budget_split is not None and scenario.budget_usd_per_hour is not None:
        for m, frac in zip(scenario.models, budget_split):
            lim = frac * scenario.budget_usd_per_hour
            add(f"model budget {m}", per_model_cost.get(m, 0.0) <= lim + 1e-6, f"${per_model_cost.get(m, 0.0):.2f}/h vs ${lim:.2f}/h")
    for g, n in used.items():
        add(f"availability {g}", n <= scenario.gpus.get(g, 0), f"{n} used of {scenario.gpus.get(g, 0)}")
        node = catalog.gpu(g).gpus_per_node
        avail = scenario.gpus.get(g, 0)
        for size in (2, 4, 8):
            if size > node:
                continue
            big = sum(k * cfg.num_gpus for row in counts.values() for cfg, k in row.values() if cfg.gpu == g and cfg.tp >= size)
            room = (avail // node) * node + ((avail % node) // size) * size
            if big:
                add(f"node packing {g} TP>={size}", big <= room, f"{big} GPUs in TP groups >= {size}, room {room}")
    for m, sh in zip(scenario.models, s):
        if sh > 1e-9:
            add(f"served {m}", bool(counts.get(m)), f"share {sh:.4f} needs replicas")
    return {"ok": all(c["ok"] for c in checks), "checks": checks, "cost_usd_per_hour": cost, "quality": q}


@attrs.frozen(kw_only=True)
class Promise:
    """The latency a plan promises, to be checked by re-simulation."""

    bound_s: float
    """End-to-end latency bound T (the MILP's bound; the SLO in cost mode)."""
    latency_metric: str = "per-model"
    """``per-model`` (every model's P95 <= T) or ``system`` (all requests pooled)."""
    levels: dict[str, float] = attrs.field(factory=dict)
    """Quantile level each model's replicas were sized for at T (0.95 per model; the MILP's
    choice for the pooled metric). Used to find offending configs when the pooled check fails."""
    ttft_slo_s: float | None = None
    tpot_slo_s: float | None = None


@attrs.frozen(kw_only=True)
class Resimulation:
    """Outcome of a whole-system re-simulation."""

    system: dict[str, Any]
    """All requests pooled: P50/P95/P99 (P95 with its interval), mean, TTFT, TPOT, throughput."""
    per_model: dict[str, dict[str, Any]]
    """Per model: the same metrics, P95 with its interval and sample count."""
    checks: tuple[dict[str, Any], ...]
    """One ``{"name", "ok", "detail", ...}`` per promised quantile (empty without a promise)."""
    derate: dict[str, float]
    """Config key -> measured / limit (> 1) for configs to derate after a failed check."""
    requests: int
    """Requests simulated in the final (largest) run, all models."""
    rounds: int
    """Runs it took (the stream doubles between runs)."""

    @property
    def ok(self) -> bool:
        """Every latency promise held."""
        return all(c["ok"] for c in self.checks)


def _estimate(x: np.ndarray, level: float = 0.95) -> QuantileEstimate | None:
    if len(x) == 0:
        return None
    return estimate_quantile(x, level, warmup_fraction=0.0, rel_tol=REL_TOL)


def _passes(e: QuantileEstimate | None, limit_s: float) -> bool:
    return e is not None and e.value_s <= limit_s and (e.converged or e.hi_s <= limit_s)


def _conclusive(e: QuantileEstimate | None, limit_s: float | None) -> bool:
    if e is None:
        return True
    if limit_s is None:
        return e.converged
    return e.converged or e.hi_s <= limit_s or e.lo_s > limit_s


def _ratio(e: QuantileEstimate | None, limit_s: float) -> float:
    """How far a failed estimate is above its limit (the derating ratio)."""
    if e is None:
        return MIN_DERATE_RATIO
    seen = e.value_s if e.value_s > limit_s else e.hi_s
    return max(seen / limit_s, MIN_DERATE_RATIO)


def _interval(prefix: str, e: QuantileEstimate | None) -> dict[str, Any]:
    if e is None:
        return {}
    return {f"{prefix}_s": e.value_s, f"{prefix}_lo_s": e.lo_s, f"{prefix}_hi_s": e.hi_s,
            f"{prefix}_requests": e.n, f"{prefix}_batches": e.batches, f"{prefix}_converged": e.converged}


def _check(name: str, what: str, e: QuantileEstimate | None, limit_s: float, model: str | None) -> dict[str, Any]:
    ok = _passes(e, limit_s)
    if e is None:
        detail = f"{what}: no completed request"
    else:
        detail = (f"{what} {e.value_s:.3f} s (95 % CI {e.lo_s:.3f}-{e.hi_s:.3f} s, {e.n} requests"
                  f"{'' if e.converged else ', not converged'}) vs limit {limit_s:.3f} s")
    return {"name": name, "ok": ok, "detail": detail, "model": model, "limit_s": limit_s,
            "measured_s": None if e is None else e.value_s, "ratio": None if ok else _ratio(e, limit_s)}


def resimulate(
    scenario: Scenario,
    catalog: Catalog,
    workload: Workload,
    shares,
    counts: dict[str, dict[str, tuple[ReplicaConfig, int]]],
    weights: dict[str, dict[str, float]],
    max_model_len: int,
    *,
    promise: Promise | None = None,
    n_requests: int = VERIFY_REQUESTS,
    max_requests: int = VERIFY_MAX_REQUESTS,
    seed: int = 0,
) -> Resimulation:
    """Whole-system stage-2 simulation of a plan, grown until its estimates converge.

    Args:
        counts: model -> config key -> (config, replicas).
        weights: model -> config key -> dispatch weight of one replica (its capacity at the bound).
        promise: what to check; None only measures (growing until every P95 converges).
        n_requests: requests for the smallest loaded model in the first run.
        max_requests: cap on the whole stream (all models).
        seed: seed of the stream, the router split and the dispatch draws.
    """
    s = np.asarray(shares, dtype=float)
    s = np.clip(s, 0, None) / s.sum()
    served = [i for i, m in enumerate(scenario.models) if s[i] > 1e-12 and counts.get(m)]
    pools = {}
    for m in scenario.models:
        if not counts.get(m):
            continue
        llm = catalog.model(m)
        reps, w, keys = [], [], []
        for key, (cfg, n) in counts[m].items():
            rm = ReplicaModel(llm, catalog.gpu(cfg.gpu), cfg, max_model_len=max_model_len)
            kv = rm.memory().kv_capacity_tokens
            for _ in range(n):
                reps.append((rm, kv))
                w.append(max(weights[m].get(key, 1.0), 1e-9))
                keys.append(key)
        pools[m] = (reps, w, keys)
    s_min = min((s[i] for i in served), default=1.0)
    total = int(min(max(math.ceil(n_requests / s_min), n_requests), max(max_requests, n_requests)))
    rounds = 0
    while True:
        rounds += 1
        results = _run(scenario, workload, s, pools, total, seed)
        ests = _estimates(results, promise)
        done = all(_conclusive(e, lim) for e, lim in ests)
        if done or total >= max_requests:
            break
        total = min(2 * total, max_requests)
    return _report(scenario, s, pools, results, promise, total, rounds)


def _run(scenario, workload, s, pools, total, seed) -> dict[str, SimResult]:
    rate = scenario.arrival_rate_per_s
    stream = workload.stream(rate, total, seed)
    pick = np.random.default_rng(seed + 1).choice(len(s), size=len(stream), p=s)
    out = {}
    for i, m in enumerate(scenario.models):
        sel = pick == i
        if not sel.any() or m not in pools:
            continue
        sub = attrs.evolve(stream, arrival_s=stream.arrival_s[sel], prompt_tokens=stream.prompt_tokens[sel],
                           output_tokens=stream.output_tokens[sel])
        reps, w, _ = pools[m]
        out[m] = simulate_pool(reps, sub, weights=w, seed=seed + 2 + i, warmup_fraction=WARMUP_FRACTION)
    return out


def _pooled(results: dict[str, SimResult], field: str) -> np.ndarray:
    """All models' samples of ``field`` merged in arrival order (for the pooled estimate)."""
    if not results:
        return np.array([])
    arr = np.concatenate([r.arrival_s for r in results.values()])
    x = np.concatenate([getattr(r, field) for r in results.values()])
    return x[np.argsort(arr, kind="stable")]


def _estimates(results, promise: Promise | None) -> list[tuple[QuantileEstimate | None, float | None]]:
    """Every estimate the stopping rule watches, with its limit (None: only converge)."""
    out = []
    if promise is None or promise.latency_metric == "per-model":
        for r in results.values():
            out.append((_estimate(r.e2e_s), None if promise is None else promise.bound_s))
    if promise is not None and promise.latency_metric == "system":
        out.append((_estimate(_pooled(results, "e2e_s")), promise.bound_s))
    if promise is not None:
        for r in results.values():
            if promise.ttft_slo_s is not None:
                out.append((_estimate(r.ttft_s), promise.ttft_slo_s))
            if promise.tpot_slo_s is not None:
                out.append((_estimate(r.tpot_s), promise.tpot_slo_s))
    return out


def _report(scenario, s, pools, results, promise: Promise | None, total: int, rounds: int) -> Resimulation:
    per_model: dict[str, dict[str, Any]] = {}
    checks: list[dict[str, Any]] = []
    derate: dict[str, float] = {}

    def blame(m: str, x: np.ndarray, level: float, limit_s: float, model_ratio: float) -> None:
        """Derate the configs of ``m`` whose own requests exceed the limit; all of them if none does."""
        r = results[m]
        keys = np.asarray(pools[m][2])[r.replica]
        hit = False
        for key in dict.fromkeys(pools[m][2]):
            sub = x[keys == key]
            if len(sub) and (q := float(np.quantile(sub, level))) > limit_s:
                derate[key] = max(derate.get(key, 1.0), q / limit_s, MIN_DERATE_RATIO)
                hit = True
        if not hit:
            for key in dict.fromkeys(pools[m][2]):
                derate[key] = max(derate.get(key, 1.0), model_ratio)

    for m, r in results.items():
        e = _estimate(r.e2e_s)
        d = summarize(r)
        d.update(_interval("p95", e))
        et, ep = _estimate(r.ttft_s), _estimate(r.tpot_s)
        if et is not None:
            d.update({"ttft_p95_s": et.value_s, "ttft_p95_hi_s": et.hi_s})
        if ep is not None:
            d.update({"tpot_p95_s": ep.value_s, "tpot_p95_hi_s": ep.hi_s})
        per_model[m] = d
        if promise is None:
            continue
        if promise.latency_metric == "per-model":
            c = _check(f"latency {m}", "P95", e, promise.bound_s, m)
            checks.append(c)
            if not c["ok"]:
                blame(m, r.e2e_s, 0.95, promise.bound_s, c["ratio"])
        for metric, slo, est, x in (("ttft", promise.ttft_slo_s, et, r.ttft_s), ("tpot", promise.tpot_slo_s, ep, r.tpot_s)):
            if slo is None:
                continue
            c = _check(f"{metric} {m}", f"P95 {metric.upper()}", est, slo, m)
            checks.append(c)
            if not c["ok"]:
                if metric == "ttft":
                    blame(m, x, 0.95, slo, c["ratio"])
                else:  # TPOT samples are not aligned with replicas (one-token outputs skipped)
                    for key in dict.fromkeys(pools[m][2]):
                        derate[key] = max(derate.get(key, 1.0), c["ratio"])
    e2e = _pooled(results, "e2e_s")
    pooled = _estimate(e2e)
    system: dict[str, Any] = {"requests": float(total), "runs": float(rounds)}
    if len(e2e):
        ttft, tpot = _pooled(results, "ttft_s"), np.concatenate([r.tpot_s for r in results.values()])
        system.update({
            "p50_s": float(np.quantile(e2e, 0.5)), "p95_s": pooled.value_s, "p99_s": float(np.quantile(e2e, 0.99)),
            "mean_s": float(np.mean(e2e)), "ttft_mean_s": float(np.mean(ttft)), "ttft_p95_s": float(np.quantile(ttft, 0.95)),
            "tpot_mean_s": float(np.mean(tpot)) if len(tpot) else math.inf,
            "tpot_p95_s": float(np.quantile(tpot, 0.95)) if len(tpot) else math.inf,
            "throughput_rps": float(sum(r.throughput_rps for r in results.values())),
            "completed": float(len(e2e)),
        })
        system.update({k: v for k, v in _interval("p95", pooled).items() if k != "p95_s"})
        system["max_model_p95_s"] = max(d["p95_s"] for d in per_model.values())
    else:
        system.update({"p95_s": math.inf, "mean_s": math.inf})
    if promise is not None and promise.latency_metric == "system":
        c = _check("latency (all requests)", "pooled P95", pooled, promise.bound_s, None)
        checks.append(c)
        if not c["ok"]:
            # the MILP held model m to its level q_m at T: blame the models that miss theirs
            blamed = False
            for m, r in results.items():
                q = promise.levels.get(m, 0.95)
                if len(r.e2e_s) and (v := float(np.quantile(r.e2e_s, q))) > promise.bound_s:
                    blame(m, r.e2e_s, q, promise.bound_s, max(v / promise.bound_s, MIN_DERATE_RATIO))
                    blamed = True
            if not blamed:
                for m in results:
                    for key in dict.fromkeys(pools[m][2]):
                        derate[key] = max(derate.get(key, 1.0), c["ratio"])
    for i, m in enumerate(scenario.models):
        if s[i] > 1e-12 and m not in results:
            checks.append({"name": f"latency {m}", "ok": False, "detail": f"{m} has share {s[i]:.4f} but served no request",
                           "model": m, "limit_s": None, "measured_s": None, "ratio": None})
    return Resimulation(system=system, per_model=per_model, checks=tuple(checks), derate=derate, requests=total, rounds=rounds)
