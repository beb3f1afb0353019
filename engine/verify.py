"""Independent verification of a plan: re-derive every constraint from the catalogs.

Nothing here trusts the solver: prices come from the scenario's price table, GPU counts
from the plan's replicas, memory fit from a fresh stage-1 model, quality from the
router on the per-query data, and latency from a whole-system stage-2 re-simulation
(every model's replica mix behind a capacity-proportional balancer, at the loads the
routing shares imply).
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
from boute.engine.simulator import simulate_pool, summarize
from boute.engine.workload import Workload

__all__ = ["verify_allocation", "resimulate"]

VERIFY_REQUESTS = 3000


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
    if scenario.budget_usd_per_hour is not None:  # both objectives honour a given budget
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


def resimulate(
    scenario: Scenario,
    catalog: Catalog,
    workload: Workload,
    shares,
    counts: dict[str, dict[str, tuple[ReplicaConfig, int]]],
    weights: dict[str, dict[str, float]],
    max_model_len: int,
    *,
    n_requests: int = VERIFY_REQUESTS,
    seed: int = 0,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Whole-system stage-2 simulation of a plan: (system metrics, per-model metrics).

    Each model gets its share of one arrival stream's requests (a Bernoulli split of the
    stream, as the router's score bands split a random query order), served by its
    replica mix behind a capacity-proportional balancer.
    """
    rate = scenario.arrival_rate_per_s
    stream = workload.stream(rate, n_requests, seed)
    rng = np.random.default_rng(seed + 1)
    s = np.asarray(shares, dtype=float)
    pick = rng.choice(len(s), size=len(stream), p=s / s.sum())
    all_e2e, all_ttft, all_tpot = [], [], []
    per_model: dict[str, dict[str, float]] = {}
    for i, m in enumerate(scenario.models):
        sel = pick == i
        if not sel.any() or not counts.get(m):
            continue
        sub = attrs.evolve(stream, arrival_s=stream.arrival_s[sel], prompt_tokens=stream.prompt_tokens[sel], output_tokens=stream.output_tokens[sel])
        llm = catalog.model(m)
        reps, w = [], []
        for key, (cfg, n) in counts[m].items():
            rm = ReplicaModel(llm, catalog.gpu(cfg.gpu), cfg, max_model_len=max_model_len)
            kv = rm.memory().kv_capacity_tokens
            for _ in range(n):
                reps.append((rm, kv))
                w.append(max(weights[m].get(key, 1.0), 1e-9))
        res = simulate_pool(reps, sub, weights=w, warmup_fraction=0.1)
        per_model[m] = summarize(res)
        all_e2e.append(res.e2e_s)
        all_ttft.append(res.ttft_s)
        all_tpot.append(res.tpot_s)
    e2e = np.concatenate(all_e2e) if all_e2e else np.array([math.inf])
    ttft = np.concatenate(all_ttft) if all_ttft else np.array([math.inf])
    tpot = np.concatenate(all_tpot) if all_tpot else np.array([math.inf])
    system = {
        "p50_s": float(np.percentile(e2e, 50)), "p95_s": float(np.percentile(e2e, 95)), "p99_s": float(np.percentile(e2e, 99)),
        "mean_s": float(np.mean(e2e)), "ttft_mean_s": float(np.mean(ttft)), "tpot_mean_s": float(np.mean(tpot)),
        "requests": float(len(e2e)),
    }
    return system, per_model
