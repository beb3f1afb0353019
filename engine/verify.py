"""Independent verification of a plan: re-derive every constraint from the catalogs.

Nothing here trusts the solver: prices come from the scenario's price table, GPU counts
from the plan's replicas, memory fit from a fresh stage-1 model, quality from the
router on the per-query data, and latency from a whole-system stage-2 re-simulation.

**Latency check** (:func:`resimulate`). The scenario's request stream is split among the
models by the routing shares (independent coin flips, as the router's score bands split a
random query order; for Poisson arrivals that is exactly one independent Poisson stream
per model, simulated as such); each model's requests are dispatched to its
replicas by the plan's one dispatch policy, weighted random with the replicas' capacities
at the bound as weights (:data:`~boute.engine.simulator.DISPATCH_POLICY`), and every
replica is simulated. Each promised quantile (every model's P95 <= bound, or the pooled
P95 <= bound; P95 TTFT / TPOT <= their SLOs) is estimated at steady state with a
confidence interval (:func:`~boute.engine.steady.estimate_quantiles_prob` on the probability scale: warm-up dropped,
batch-means sectioning; the pooled P95 as the load-share mixture of the models, see
:func:`mixture_quantile`). The run starts with ``VERIFY_REQUESTS`` requests per model and
doubles, up to ``VERIFY_MAX_REQUESTS`` per model, while an
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
from scipy.special import stdtrit

from boute.engine.errors import InputError
from boute.engine.checkpoints import serving_checkpoint
from boute.engine.plugins import Catalog
from boute.engine.cluster import node_free_by_type
from boute.engine.problem import node_packing_limits
from boute.engine.replica import ReplicaConfig, ReplicaModel
from boute.engine.routing import Router
from boute.engine.scenario import Scenario
from boute.engine.simulator import SimResult, simulate_pool, summarize
from boute.engine.steady import MIN_BATCHES, MIN_TAIL_SAMPLES, QuantileEstimate, estimate_quantiles_prob
from boute.engine.workload import Workload

__all__ = ["verify_allocation", "resimulate", "mixture_quantile", "Promise", "Resimulation", "VERIFY_REQUESTS", "VERIFY_MAX_REQUESTS"]

VERIFY_REQUESTS = 20_000
"""Requests per model in the first re-simulation (the issue's floor for a converged P95;
a 20,000-request pool run costs about 0.3-0.7 s on one core, measured 2026-11-28)."""
VERIFY_MAX_REQUESTS = 160_000
"""Cap per model when the run doubles for convergence (non-Poisson arrivals: on the one
split stream, all models together, twice this)."""
WARMUP_FRACTION = 0.1
"""Leading share of each model's requests dropped as warm-up (the system starts empty)."""
REL_TOL = 0.05
"""Converged when the P95 interval's half-width is within 5 % of the estimate (95 % confidence)."""
MIN_DERATE_RATIO = 1.02
"""Least overshoot a derating round acts on, so that a marginal failure still moves the plan."""
MAX_DERATE_RATIO = 2.0
"""Most overshoot one round acts on: an overloaded replica's latency ratio (often 10-100x)
says little about its true capacity, so one round at most halves it and the next re-checks."""


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
            if cfg.weight_dtype != "bf16":
                add(f"precision {key}", *_precision_check(scenario, llm, cfg.weight_dtype))
    if scenario.budget_usd_per_hour is not None:  # both objectives honour a given budget
        add("budget", cost <= scenario.budget_usd_per_hour + 1e-6, f"${cost:.2f}/h vs budget ${scenario.budget_usd_per_hour:.2f}/h")
    if budget_split is not None and scenario.budget_usd_per_hour is not None:
        for m, frac in zip(scenario.models, budget_split):
            lim = frac * scenario.budget_usd_per_hour
            add(f"model budget {m}", per_model_cost.get(m, 0.0) <= lim + 1e-6, f"${per_model_cost.get(m, 0.0):.2f}/h vs ${lim:.2f}/h")
    node_free = node_free_by_type(scenario, catalog)  # C5 from the cluster graph
    for g, n in used.items():
        add(f"availability {g}", n <= scenario.gpus.get(g, 0), f"{n} used of {scenario.gpus.get(g, 0)}")
        for size, room in node_packing_limits(scenario.gpus.get(g, 0), catalog.gpu(g).gpus_per_node, node_free.get(g)).items():
            big = sum(k * cfg.num_gpus for row in counts.values() for cfg, k in row.values() if cfg.gpu == g and cfg.tp >= size)
            if big:
                add(f"node packing {g} TP>={size}", big <= room, f"{big} GPUs in TP groups >= {size}, room {room}")
    for m, sh in zip(scenario.models, s):
        if sh > 1e-9:
            add(f"served {m}", bool(counts.get(m)), f"share {sh:.4f} needs replicas")
    return {"ok": all(c["ok"] for c in checks), "checks": checks, "cost_usd_per_hour": cost, "quality": q}


def _precision_check(scenario: Scenario, llm, weight_dtype: str) -> tuple[bool, str]:
    """Whether the scenario allows ``weight_dtype`` and the catalog has what serves it
    (a pre-quantized checkpoint where the precision needs one)."""
    if weight_dtype not in scenario.weight_dtypes:
        return False, f"{weight_dtype} is not among the scenario's weight_dtypes {list(scenario.weight_dtypes)}"
    try:
        ck = serving_checkpoint(llm, weight_dtype)
    except InputError as e:
        return False, str(e)
    return True, f"{weight_dtype} allowed; serves {ck}"


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
    """Config key -> capacity factor (< 1) for the configs to derate after a failed check:
    the load one replica carried, as a share of its capacity, divided by the measured
    overshoot (measured / limit, at most ``MAX_DERATE_RATIO`` per round). Cutting the
    capacity below the load the replica failed at is what makes a re-solve add capacity;
    cutting only the capacity could leave the same failing plan feasible."""
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
    # The probability-scale interval (as the perf DB's points use): it converges where the
    # latency distribution has a gap at its P95 (azure-code's output lengths), where the
    # value-scale spread of batch quantiles never shrinks.
    return estimate_quantiles_prob(x, (level,), warmup_fraction=0.0, rel_tol=REL_TOL)[level]


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
    return {
        f"{prefix}_s": e.value_s,
        f"{prefix}_lo_s": e.lo_s,
        f"{prefix}_hi_s": e.hi_s,
        f"{prefix}_requests": e.n,
        f"{prefix}_batches": e.batches,
        f"{prefix}_converged": e.converged,
    }


def _check(name: str, what: str, e: QuantileEstimate | None, limit_s: float, model: str | None) -> dict[str, Any]:
    ok = _passes(e, limit_s)
    if e is None:
        detail = f"{what}: no completed request"
    else:
        detail = (
            f"{what} {e.value_s:.3f} s (95 % CI {e.lo_s:.3f}-{e.hi_s:.3f} s, {e.n} requests"
            f"{'' if e.converged else ', not converged'}) vs limit {limit_s:.3f} s"
        )
    return {
        "name": name,
        "ok": ok,
        "detail": detail,
        "model": model,
        "limit_s": limit_s,
        "measured_s": None if e is None else e.value_s,
        "ratio": None if ok else _ratio(e, limit_s),
    }


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
        max_requests: cap per model (twice it on one split stream for non-Poisson arrivals).
        seed: seed of the stream, the router split and the dispatch draws.
    """
    s = np.asarray(shares, dtype=float)
    s = np.clip(s, 0, None) / s.sum()
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
    n = n_requests
    rounds = 0
    while True:
        rounds += 1
        results, total = _run(scenario, workload, s, pools, n, max_requests, seed)
        ests = _estimates(results, s, scenario.models, promise)
        done = all(_conclusive(e, lim) for e, lim in ests)
        if done or n >= max_requests:
            break
        n = min(2 * n, max_requests)
    return _report(scenario, s, pools, results, promise, total, rounds)


def _run(scenario, workload, s, pools, n, max_requests, seed) -> tuple[dict[str, SimResult], int]:
    """Simulate every model's pool; returns the results and the requests simulated.

    Poisson arrivals: the router's independent split of a Poisson stream gives each model
    an independent Poisson stream of rate ``s_m lambda`` (splitting theorem), so each model
    is simulated on its own stream of ``n`` requests, and a model with a small share
    costs no more requests than the others. Other arrival processes are not closed under
    splitting: one stream is split as the router would, sized so that the smallest loaded
    share gets about ``n`` requests, at most ``2 max_requests`` in all.
    """
    rate = scenario.arrival_rate_per_s
    subs: dict[str, Any] = {}
    if workload.arrival == "poisson":
        for i, m in enumerate(scenario.models):
            if s[i] > 1e-12 and m in pools:
                subs[m] = workload.stream(rate * s[i], n, seed + 7919 * (i + 1))
    else:
        s_min = min((s[i] for i, m in enumerate(scenario.models) if s[i] > 1e-12 and m in pools), default=1.0)
        stream = workload.stream(rate, int(min(math.ceil(n / s_min), 2 * max(max_requests, n))), seed)
        pick = np.random.default_rng(seed + 1).choice(len(s), size=len(stream), p=s)
        for i, m in enumerate(scenario.models):
            sel = pick == i
            if sel.any() and m in pools:
                subs[m] = attrs.evolve(
                    stream,
                    arrival_s=stream.arrival_s[sel],
                    prompt_tokens=stream.prompt_tokens[sel],
                    output_tokens=stream.output_tokens[sel],
                )
    out = {}
    for i, m in enumerate(scenario.models):
        if m in subs:
            reps, w, _ = pools[m]
            out[m] = simulate_pool(reps, subs[m], weights=w, seed=seed + 2 + i, warmup_fraction=WARMUP_FRACTION)
    return out, sum(len(x) for x in subs.values())


def mixture_quantile(
    samples: list[np.ndarray],
    weights,
    level: float = 0.95,
    *,
    batches: int = 20,
    confidence: float = 0.95,
    rel_tol: float = REL_TOL,
) -> QuantileEstimate:
    """Quantile of a mixture of populations with given weights, with a sectioning interval.

    The pooled latency of several models is the mixture ``F = sum_m w_m F_m`` (``w_m`` the
    load shares), whatever each model's sample count. Point estimate: the ``level``
    quantile of the weighted empirical CDF (each of model m's ``n_m`` samples weighs
    ``w_m / n_m``). Interval: every model's samples (arrival order, warm-up already
    dropped) are cut into the same number ``b`` of contiguous batches; batch ``j`` of all
    models gives one mixture quantile ``q_j``, and ``q_hat +- t_{b-1} S / sqrt(b)`` with
    ``S^2 = sum_j (q_j - q_hat)^2 / (b - 1)``, as
    :func:`~boute.engine.steady.estimate_quantile` does for one population. The models'
    runs are independent, so batches need not be aligned in time.
    """
    parts = [(np.asarray(x, dtype=float), float(wt)) for x, wt in zip(samples, weights) if wt > 0 and len(x)]
    if not parts:
        raise InputError("samples: no population with samples and a positive weight", hint="simulate at least one request")
    tot = sum(wt for _, wt in parts)
    parts = [(x, wt / tot) for x, wt in parts]

    def q_of(group) -> float:
        x = np.concatenate([g for g, _ in group])
        ww = np.concatenate([np.full(len(g), wt / len(g)) for g, wt in group])
        order = np.argsort(x, kind="stable")
        cum = np.cumsum(ww[order])
        return float(x[order][min(int(np.searchsorted(cum, level * cum[-1] - 1e-12)), len(x) - 1)])

    q = q_of(parts)
    n = int(sum(len(x) for x, _ in parts))
    min_batch = int(math.ceil(MIN_TAIL_SAMPLES / (1.0 - level)))
    b = min(batches, min(len(x) for x, _ in parts) // min_batch)
    if b < MIN_BATCHES:
        lo = float(min(x.min() for x, _ in parts))
        hi = float(max(x.max() for x, _ in parts))
        return QuantileEstimate(level=level, value_s=q, lo_s=lo, hi_s=hi, n=n, batches=0, converged=False)
    sections = [(x[len(x) - (len(x) // b) * b :].reshape(b, len(x) // b), wt) for x, wt in parts]
    qj = np.array([q_of([(sec[j], wt) for sec, wt in sections]) for j in range(b)])
    sd = math.sqrt(float(np.sum((qj - q) ** 2)) / (b - 1))
    hw = float(stdtrit(b - 1, 0.5 + confidence / 2.0)) * sd / math.sqrt(b)
    return QuantileEstimate(level=level, value_s=q, lo_s=max(q - hw, 0.0), hi_s=q + hw, n=n, batches=b, converged=hw <= rel_tol * abs(q))


def _pooled(results: dict[str, SimResult], s, models, field: str, level: float = 0.95) -> QuantileEstimate | None:
    """The pooled (all requests) quantile of ``field``: the load-share mixture of the models."""
    share = {m: s[i] for i, m in enumerate(models)}
    parts = [(getattr(r, field), share[m]) for m, r in results.items() if len(getattr(r, field))]
    if not parts:
        return None
    return mixture_quantile([x for x, _ in parts], [w for _, w in parts], level)


def _estimates(results, s, models, promise: Promise | None) -> list[tuple[QuantileEstimate | None, float | None]]:
    """Every estimate the stopping rule watches, with its limit (None: only converge)."""
    out = []
    if promise is None or promise.latency_metric == "per-model":
        for r in results.values():
            out.append((_estimate(r.e2e_s), None if promise is None else promise.bound_s))
    if promise is not None and promise.latency_metric == "system":
        out.append((_pooled(results, s, models, "e2e_s"), promise.bound_s))
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
    ratios: dict[str, float] = {}  # config key -> measured / limit
    owner: dict[str, str] = {}

    def blame(m: str, x: np.ndarray, level: float, limit_s: float, model_ratio: float) -> None:
        """Derate the configs of ``m`` whose own requests exceed the limit; all of them if none does."""
        r = results[m]
        keys = np.asarray(pools[m][2])[r.replica]
        hit = False
        for key in dict.fromkeys(pools[m][2]):
            sub = x[keys == key]
            if len(sub) and (q := float(np.quantile(sub, level))) > limit_s:
                ratios[key] = max(ratios.get(key, 1.0), q / limit_s, MIN_DERATE_RATIO)
                owner[key] = m
                hit = True
        if not hit:
            for key in dict.fromkeys(pools[m][2]):
                ratios[key] = max(ratios.get(key, 1.0), model_ratio)
                owner[key] = m

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
                        ratios[key] = max(ratios.get(key, 1.0), c["ratio"])
                        owner[key] = m
    models = scenario.models
    pooled = _pooled(results, s, models, "e2e_s")
    system: dict[str, Any] = {"requests": float(total), "runs": float(rounds)}
    if pooled is not None:
        share = {m: s[i] for i, m in enumerate(models)}
        wsum = sum(share[m] for m in results)

        def mix_mean(field: str) -> float:
            return float(sum(share[m] * per_model[m][field] for m in results) / wsum)

        ttft, tpot = _pooled(results, s, models, "ttft_s"), _pooled(results, s, models, "tpot_s")
        system.update(
            {
                "p50_s": _pooled(results, s, models, "e2e_s", 0.5).value_s,
                "p95_s": pooled.value_s,
                "p99_s": _pooled(results, s, models, "e2e_s", 0.99).value_s,
                "mean_s": mix_mean("mean_s"),
                "ttft_mean_s": mix_mean("ttft_mean_s"),
                "ttft_p95_s": ttft.value_s if ttft else math.inf,
                "tpot_mean_s": mix_mean("tpot_mean_s"),
                "tpot_p95_s": tpot.value_s if tpot else math.inf,
                "throughput_rps": float(sum(r.throughput_rps for r in results.values())),
                "completed": float(sum(r.completed for r in results.values())),
            }
        )
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
                        ratios[key] = max(ratios.get(key, 1.0), c["ratio"])
                        owner[key] = m
    for i, m in enumerate(scenario.models):
        if s[i] > 1e-12 and m not in results:
            checks.append(
                {
                    "name": f"latency {m}",
                    "ok": False,
                    "detail": f"{m} has share {s[i]:.4f} but served no request",
                    "model": m,
                    "limit_s": None,
                    "measured_s": None,
                    "ratio": None,
                }
            )
    derate = {}
    for key, ratio in ratios.items():
        m = owner[key]
        carried = min(scenario.arrival_rate_per_s * s[models.index(m)] / sum(pools[m][1]), 1.0)  # load / capacity
        derate[key] = float(carried / min(ratio, MAX_DERATE_RATIO))
    return Resimulation(system=system, per_model=per_model, checks=tuple(checks), derate=derate, requests=total, rounds=rounds)
