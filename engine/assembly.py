"""Building the typed :class:`~boute.engine.plan.Plan` from the planner's pieces.

Kept apart from the planner so that the plan's content (engine flags, pools, provenance,
frontier deployments) has one home; the planner calls :func:`build_plan`.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from boute.engine.checkpoints import serving_checkpoint
from boute.engine.cluster import pool_of
from boute.engine.engines import engine_flags, get_profile
from boute.engine.plan import (
    BaselineResult,
    EngineSettings,
    GpuPool,
    ModelDeployment,
    ParetoPoint,
    Plan,
    Provenance,
    ReplicaGroup,
    ResimMetrics,
    SolveStats,
    Verification,
)
from boute.engine.simulator import DISPATCH_POLICY
from boute.engine.replica import ReplicaConfig

__all__ = ["build_plan", "engine_settings", "config_flags", "deployments_for", "boute_version", "ALTERNATIVES", "VLLM_VERSION", "VLLM_PINS"]

# The vLLM release whose defaults engine/replica.py models (vllm/config, v0.10-0.11, read
# 2026-11-27); deploy files pin it so the served engine is the one boute modelled.
VLLM_VERSION = "0.11.0"
VLLM_PINS = {"vllm-v1": VLLM_VERSION, "vllm-0.6": "0.6.6", "vllm-0.6-ms10": "0.6.6", "vllm-0.5": "0.5.5"}
"""The vLLM release each vLLM profile's deploy files pin (the last patch of the series the
profile's scheduler was read from; engine/engines.py cites the sources)."""

ALTERNATIVES = 3
"""Next-best feasible trials kept in the plan (cheap: their inner solutions exist)."""


@functools.cache
def boute_version() -> str:
    """The installed boute's version (``0+unknown`` when run from a tree without metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("boute")
    except PackageNotFoundError:
        return "0+unknown"


def engine_settings(max_model_len: int, profile: str = "vllm-v1") -> EngineSettings:
    """The serving engine every replica runs: the profile the perf DB simulated, pinned.

    The flags shared by every replica are only ``--max-model-len``; the rest (token budget,
    sequence cap, scheduling, precision) depend on the GPU and come per replica group from
    :func:`config_flags`, so a deployed server runs with the limits boute simulated.
    """
    p = get_profile(profile)
    return EngineSettings(
        name=p.engine, version=VLLM_PINS.get(p.name, p.version), profile=p.name, flags=("--max-model-len", str(max_model_len))
    )


def config_flags(cfg: ReplicaConfig, gpu) -> tuple[str, ...]:
    """One config's launch flags from its engine profile (beyond model, TP/PP and port).

    They are :func:`boute.engine.engines.engine_flags` for the config's GPU (vLLM picks its
    token budget and sequence cap by GPU memory), without the parallelism flags the
    launchers add themselves.
    """
    flags = engine_flags(
        cfg.engine,
        tp=cfg.tp,
        pp=cfg.pp,
        weight_dtype=cfg.weight_dtype,
        kv_dtype=cfg.kv_dtype,
        gpu_memory_gib=gpu.memory_gib,
        gpu_name=gpu.name,
        parallel=False,
    )
    return tuple(flags)


def _checkpoint(llm, weight_dtype: str) -> str:
    """The pre-quantized checkpoint a replica in ``weight_dtype`` serves, or "" for the model's own."""
    ck = serving_checkpoint(llm, weight_dtype)
    return "" if ck == llm.hf_id else ck


def router_scale(router_name: str) -> str:
    """What the router thresholds are measured in."""
    if router_name == "file":
        return "scores of the file router (the quality data's 'score' column); a real router producing those scores reads these thresholds"
    return (
        f"synthetic {router_name} scorer (boute's own scale: no external router reads these thresholds; "
        "calibrate a real router to the plan's shares)"
    )


def deployments_for(
    planner,
    ev,
    latency_bound_s: float,
    per_model: dict[str, Any] | None = None,
    *,
    capacities: dict[str, dict[str, float]] | None = None,
    levels: dict[str, float] | None = None,
) -> tuple[ModelDeployment, ...]:
    """Each model's replica groups for an evaluation's inner solution.

    Args:
        capacities: model -> config key -> one replica's capacity at the bound as the inner
            problem saw it (derated, at the model's quantile level); default: the perf DB's
            P95 capacity at ``latency_bound_s``.
        levels: model -> latency quantile its replicas hold (default 0.95).
    """
    sc, cat = planner.scenario, planner.catalog
    out = []
    for i, m in enumerate(sc.models):
        groups = []
        for key, n in ev.result.counts.get(m, {}).items():
            curve = planner.perfdb.curves[key]
            cfg = curve.config
            groups.append(
                ReplicaGroup(
                    config=key,
                    gpu=cfg.gpu,
                    tp=cfg.tp,
                    pp=cfg.pp,
                    weight_dtype=cfg.weight_dtype,
                    kv_dtype=cfg.kv_dtype,
                    replicas=int(n),
                    gpus=int(n) * cfg.num_gpus,
                    usd_per_hour=int(n) * cfg.num_gpus * sc.price(cat, cfg.gpu),
                    kv_capacity_tokens=curve.kv_capacity_tokens,
                    capacity_rps_at_bound=float(capacities[m][key] if capacities else curve.capacity(latency_bound_s)),
                    spec_only=cat.gpu(cfg.gpu).spec_only,
                    engine_flags=config_flags(cfg, cat.gpu(cfg.gpu)),
                    checkpoint=_checkpoint(cat.model(m), cfg.weight_dtype),
                )
            )
        sim = (per_model or {}).get(m)
        out.append(
            ModelDeployment(
                model=m,
                hf_id=cat.model(m).hf_id,
                load_share=float(ev.shares[i]),
                load_rps=float(ev.shares[i]) * sc.arrival_rate_per_s,
                budget_usd_per_hour=sum(g.usd_per_hour for g in groups),
                groups=tuple(groups),
                simulated=sim if isinstance(sim, ResimMetrics) or sim is None else ResimMetrics.from_summary(sim),
                quantile_level=float((levels or {}).get(m, 0.95)),
            )
        )
    return tuple(out)


def point_for(planner, ev) -> ParetoPoint:
    """An evaluated (feasible) routing as a frontier point or alternative, with deployments."""
    T = float(ev.result.latency_bound_s)
    return ParetoPoint(
        shares=tuple(ev.shares),
        quality=float(ev.quality),
        p95_bound_s=T,
        cost_usd_per_hour=float(ev.result.cost_usd_per_hour),
        budget_split=ev.budget_split,
        thresholds=tuple(float(t) for t in planner.router.thresholds(ev.shares)),
        deployments=deployments_for(planner, ev, T),
    )


def alternatives_for(planner, trials, best_index: int | None, n: int = ALTERNATIVES) -> tuple[ParetoPoint, ...]:
    """The ``n`` next-best feasible trials by the objective (distinct routings)."""
    feas = sorted((t for i, t in enumerate(trials) if t.feasible and i != best_index), key=lambda t: (t.objective, -t.quality))
    out, seen = [], set()
    if best_index is not None:
        seen.add(tuple(round(v, 9) for v in trials[best_index].payload.shares))
    for t in feas:
        key = tuple(round(v, 9) for v in t.payload.shares)
        if key in seen:
            continue
        seen.add(key)
        out.append(point_for(planner, t.payload))
        if len(out) == n:
            break
    return tuple(out)


def pools_for(planner) -> tuple[GpuPool, ...]:
    """Every GPU type of the scenario with availability, nodes, links and price."""
    sc, cat = planner.scenario, planner.catalog
    out = []
    for g in sc.gpus:
        if g in sc.price_overrides:
            src = "price_overrides in the scenario"
        else:
            e = cat.price(g, sc.price_set)
            src = f"{e.price_set}: {e.provider}, {e.source_date} ({e.source})"
        out.append(pool_of(sc, cat, g, usd_per_gpu_hour=float(sc.price(cat, g)), price_source=src))
    return tuple(out)


def stats_from(d: dict[str, Any] | SolveStats | None) -> SolveStats | None:
    """The planner's stats dict as a :class:`SolveStats` (None stays None)."""
    if d is None or isinstance(d, SolveStats):
        return d
    from boute.engine.plan import _converter

    return _converter().structure(dict(d), SolveStats)


def build_plan(
    planner,
    ev,
    *,
    checks: dict[str, Any],
    simulated: dict[str, Any] | None,
    per_model: dict[str, Any] | None,
    pareto=(),
    alternatives=(),
    baselines: dict[str, dict[str, Any]] | None = None,
    stats: dict[str, Any] | SolveStats | None = None,
    capacities: dict[str, dict[str, float]] | None = None,
    levels: dict[str, float] | None = None,
) -> Plan:
    """The typed plan for an evaluation whose allocation passed verification (its latency
    checks are in ``checks``; the planner acts on a failure)."""
    sc, cat = planner.scenario, planner.catalog
    T = float(ev.result.latency_bound_s)
    deployments = deployments_for(planner, ev, T, per_model, capacities=capacities, levels=levels)
    used = {g.gpu for d in deployments for g in d.groups}
    st = stats_from(stats) or SolveStats(
        strategy="none",
        structure=False,
        solver=planner.solver.name,
        trials=0,
        best_at_trial=None,
        stop_reason="assembled directly",
        inner_solves=int(ev.result.solves),
        perfdb_s=round(planner.perfdb_s, 3),
        perfdb_from_cache=planner.perfdb.from_cache,
        perfdb_configs=len(planner.perfdb.curves),
        optimizer_s=0.0,
    )
    return Plan(
        scenario=sc.name,
        objective=sc.objective,
        mode=sc.mode,
        models=tuple(sc.models),
        shares=tuple(float(v) for v in ev.shares),
        thresholds=tuple(float(t) for t in planner.router.thresholds(ev.shares)),
        router=planner.router.name,
        router_scale=router_scale(planner.router.name),
        quality=float(ev.quality),
        quality_unit=planner.table.unit,
        quality_min=sc.quality_min,
        deployments=deployments,
        cost_usd_per_hour=float(checks["cost_usd_per_hour"]),
        budget_usd_per_hour=sc.budget_usd_per_hour,
        latency_slo_s=sc.latency_slo_s,
        p95_bound_s=T,
        simulated=ResimMetrics.from_summary(simulated),
        dispatch_policy=DISPATCH_POLICY,
        max_model_len=int(planner.perfdb.max_model_len),
        engine=engine_settings(int(planner.perfdb.max_model_len), sc.engine),
        pools=pools_for(planner),
        pareto=tuple(pareto),
        alternatives=tuple(alternatives),
        baselines=tuple(BaselineResult.from_summary(k, v) for k, v in (baselines or {}).items()),
        stats=st,
        verification=Verification.from_checks(checks),
        spec_only_gpus=tuple(sorted(g for g in used if cat.gpu(g).spec_only)),
        provenance=Provenance(boute_version=boute_version(), perfdb_key=planner.perfdb.key, price_set=sc.price_set, seed=sc.seed),
        inputs=json.loads(json.dumps(sc.to_dict(), default=str)),
        latency_metric=sc.latency_metric,
        ttft_slo_s=sc.ttft_slo_s,
        tpot_slo_s=sc.tpot_slo_s,
    )
