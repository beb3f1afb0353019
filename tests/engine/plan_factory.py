"""A hand-built :class:`Plan` for artifact tests (no planner run needed)."""

from __future__ import annotations

from boute.engine.assembly import engine_settings
from boute.engine.plan import (
    Check,
    EngineSettings,
    GpuPool,
    ModelDeployment,
    Plan,
    Provenance,
    ReplicaGroup,
    ResimMetrics,
    SolveStats,
    Verification,
)

HF = {"Llama-3.1-8B": "meta-llama/Llama-3.1-8B-Instruct", "Llama-3.1-70B": "meta-llama/Llama-3.1-70B-Instruct"}


def group(
    gpu: str, tp: int, replicas: int, *, model: str = "Llama-3.1-8B", pp: int = 1, cap: float = 1.0, price: float = 0.75, fp8: bool = False
) -> tuple[str, ReplicaGroup]:
    dt = "fp8" if fp8 else "bf16"
    return model, ReplicaGroup(
        config=f"{model}@{gpu}:tp{tp}pp{pp}:{dt}/bf16",
        gpu=gpu,
        tp=tp,
        pp=pp,
        weight_dtype=dt,
        kv_dtype="bf16",
        replicas=replicas,
        gpus=replicas * tp * pp,
        usd_per_hour=replicas * tp * pp * price,
        kv_capacity_tokens=100000,
        capacity_rps_at_bound=cap,
        spec_only=False,
        engine_flags=("--quantization", "fp8") if fp8 else (),
    )


def make_plan(groups, pools: dict[str, tuple[int, int]], *, shares=None, engine: EngineSettings | None = None) -> Plan:
    """``groups``: [(model, ReplicaGroup)]; ``pools``: gpu -> (available, gpus_per_node)."""
    models = tuple(dict.fromkeys(m for m, _ in groups))
    shares = shares or tuple(1.0 / len(models) for _ in models)
    deps = tuple(
        ModelDeployment(
            model=m,
            hf_id=HF.get(m, f"org/{m}"),
            load_share=s,
            load_rps=6 * s,
            budget_usd_per_hour=sum(g.usd_per_hour for mm, g in groups if mm == m),
            groups=tuple(g for mm, g in groups if mm == m),
            simulated=ResimMetrics(p95_s=2.0, mean_s=1.0, completed=100),
        )
        for m, s in zip(models, shares)
    )
    cost = sum(d.budget_usd_per_hour for d in deps)
    return Plan(
        scenario="test",
        objective="latency",
        mode="joint",
        models=models,
        shares=tuple(shares),
        thresholds=tuple(0.5 for _ in models[1:]),
        router="file",
        router_scale="file router scores",
        quality=90.0,
        quality_unit="accuracy %",
        quality_min=None,
        deployments=deps,
        cost_usd_per_hour=cost,
        budget_usd_per_hour=cost + 1,
        latency_slo_s=None,
        p95_bound_s=2.5,
        simulated=ResimMetrics(p95_s=2.2, mean_s=1.1, completed=1000),
        dispatch_policy="weighted-random",
        max_model_len=4096,
        engine=engine or engine_settings(4096),
        pools=tuple(
            GpuPool(gpu=g, available=a, gpus_per_node=n, usd_per_gpu_hour=0.75, price_source="test", spec_only=False)
            for g, (a, n) in pools.items()
        ),
        pareto=(),
        alternatives=(),
        baselines=(),
        stats=SolveStats(
            strategy="random",
            structure=True,
            solver="highs",
            trials=1,
            best_at_trial=0,
            stop_reason="max_trials",
            inner_solves=1,
            perfdb_s=0.0,
            perfdb_from_cache=True,
            perfdb_configs=1,
            optimizer_s=0.0,
        ),
        verification=Verification(ok=True, checks=(Check(name="budget", ok=True, detail="ok"),), cost_usd_per_hour=cost, quality=90.0),
        spec_only_gpus=(),
        provenance=Provenance(boute_version="0.1.0", perfdb_key="k" * 64, price_set="runpod", seed=0),
        inputs={"name": "test"},
    )


def plan_4090_x13() -> Plan:
    """The issue's case: 13 RTX 4090 replicas (TP1) of the 8B model on two 8-GPU nodes."""
    return make_plan([group("RTX-4090", 1, 13, cap=0.6)], {"RTX-4090": (16, 8)})
