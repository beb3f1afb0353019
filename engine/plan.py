"""The planner's answer as frozen values: routing, deployment, predicted metrics,
frontier, baselines, verification, provenance and the inputs it was made from.

A :class:`Plan` is self-sufficient: :func:`boute.engine.artifacts.write_artifacts`
needs nothing else, and ``plan.json`` (``Plan.to_dict()``) holds everything needed to
regenerate every deploy file (``boute deploy plan.json --target ...``):
``Plan.from_dict(plan.to_dict()) == plan`` holds exactly (JSON floats round-trip).

Every type here is an ``attrs.frozen`` value; sequences are tuples. (De)serialisation
uses cattrs with unknown keys forbidden, so a misspelt or stale field in a hand-edited
plan.json is an error naming it, never silently dropped.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from boute.engine.errors import InputError

__all__ = [
    "SCHEMA_VERSION",
    "Plan",
    "ModelDeployment",
    "ReplicaGroup",
    "ParetoPoint",
    "Check",
    "LatencyFailure",
    "Verification",
    "ResimMetrics",
    "BaselineResult",
    "AllocationEntry",
    "SolveStats",
    "EngineSettings",
    "GpuPool",
    "PoolNode",
    "Provenance",
    "DISPATCH_POLICIES",
    "json_schema",
]

SCHEMA_VERSION = "2.0"

DISPATCH_POLICIES = ("weighted-random",)
"""How a model's requests are spread over its replicas. ``weighted-random``: each request
goes to replica r with probability w_r / sum(w), w_r = the replica's capacity at the
plan's latency bound. The perf DB's capacity split (C1) and the re-simulation assume it;
LiteLLM's ``simple-shuffle`` with per-deployment ``weight`` implements it."""


def _finite_or_none(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@attrs.frozen(kw_only=True)
class Check:
    """One independent verification check."""

    name: str
    """e.g. ``budget``, ``availability H100-SXM``, ``latency Llama-3.1-8B``."""
    ok: bool
    detail: str
    """What was compared, in words and numbers."""
    model: str | None = None
    """The model a latency check is about (None: the whole system, or not a latency check)."""
    limit_s: float | None = None
    """A latency check's promised limit."""
    measured_s: float | None = None
    """A latency check's re-simulated value."""
    ratio: float | None = None
    """measured / limit of a failed latency check (what the planner derates by)."""


@attrs.frozen(kw_only=True)
class Verification:
    """The result of re-deriving every constraint from the catalogs (engine/verify.py)."""

    ok: bool
    """True when every check passed."""
    checks: tuple[Check, ...]
    cost_usd_per_hour: float
    """Cost re-derived from the price table and the replicas."""
    quality: float
    """Quality re-derived by the router on the per-query data."""
    latency_verified: bool | None = None
    """Whether the latency promise was checked by re-simulation (None: not recorded)."""
    latency_requests: int | None = None
    """Requests the latency re-simulation ran."""
    derate: dict[str, float] = attrs.field(factory=dict)
    """Config key -> capacity factor a failed latency check asks for (empty when it passed)."""

    @classmethod
    def from_checks(cls, d: dict[str, Any]) -> Verification:
        """From verify_allocation's ``{"ok", "checks": [{"name", "ok", "detail", ...}], ...}``."""
        checks = tuple(
            Check(
                name=str(c["name"]),
                ok=bool(c["ok"]),
                detail=str(c["detail"]),
                model=c.get("model"),
                limit_s=_finite_or_none(c.get("limit_s")),
                measured_s=_finite_or_none(c.get("measured_s")),
                ratio=_finite_or_none(c.get("ratio")),
            )
            for c in d["checks"]
        )
        lat = d.get("latency_requests")
        return cls(
            ok=bool(d["ok"]),
            checks=checks,
            cost_usd_per_hour=float(d["cost_usd_per_hour"]),
            quality=float(d["quality"]),
            latency_verified=d.get("latency_verified"),
            latency_requests=None if lat is None else int(lat),
            derate={str(k): float(v) for k, v in (d.get("derate") or {}).items()},
        )

    def failed(self) -> tuple[Check, ...]:
        """The checks that did not pass."""
        return tuple(c for c in self.checks if not c.ok)


@attrs.frozen(kw_only=True)
class ResimMetrics:
    """Latency metrics of a stage-2 re-simulation (seconds). ``None``: not measured, or no
    request completed (an infinite percentile is stored as ``None``)."""

    p95_s: float | None
    """P95 end-to-end latency."""
    mean_s: float | None = None
    p50_s: float | None = None
    p99_s: float | None = None
    p95_lo_s: float | None = None
    """Lower end of the P95's confidence interval (when the re-simulation gives one)."""
    p95_hi_s: float | None = None
    """Upper end of the P95's confidence interval."""
    p95_requests: int | None = None
    """Requests the P95 estimate rests on."""
    p95_batches: int | None = None
    """Batches of the P95's interval estimate."""
    p95_converged: bool | None = None
    """Whether the P95 interval met its target width."""
    max_model_p95_s: float | None = None
    """Largest per-model P95 (system metrics only)."""
    requests: int | None = None
    """Requests the re-simulation generated (system metrics)."""
    runs: int | None = None
    """Re-simulation rounds (each with fresh arrivals) until the estimates converged."""
    completed: int | None = None
    """Requests completed after the warm-up: what the percentiles are computed over."""
    ttft_mean_s: float | None = None
    ttft_p95_s: float | None = None
    tpot_mean_s: float | None = None
    tpot_p95_s: float | None = None
    ttft_p95_hi_s: float | None = None
    tpot_p95_hi_s: float | None = None
    throughput_rps: float | None = None
    utilization: float | None = None
    """Busy fraction of the simulated replicas."""
    preemptions: int | None = None

    @classmethod
    def from_summary(cls, d: dict[str, Any] | None) -> ResimMetrics | None:
        """From a simulator summary dict (``summarize`` / ``resimulate``); None for an empty one.

        Raises:
            ValueError: a key that is not a metric here (a new simulator metric must be
                added as a field, not dropped silently).
        """
        if not d:
            return None
        names = {a.name for a in attrs.fields(cls)}
        kw: dict[str, Any] = {}
        for k, v in d.items():
            if k not in names:
                raise ValueError(f"ResimMetrics: unknown metric {k!r}; add it as a field")
            if k in ("requests", "runs", "completed", "preemptions", "p95_requests", "p95_batches"):
                kw[k] = None if v is None or not math.isfinite(float(v)) else int(v)
            elif k == "p95_converged":
                kw[k] = None if v is None else bool(v)
            else:
                kw[k] = _finite_or_none(v)
        kw.setdefault("p95_s", None)
        return cls(**kw)


@attrs.frozen(kw_only=True)
class AllocationEntry:
    """``replicas`` replicas of perf-DB config ``config`` for ``model``."""

    model: str
    config: str
    replicas: int


@attrs.frozen(kw_only=True)
class BaselineResult:
    """One of the paper's baselines answered by the same inner solver and simulator."""

    name: str
    feasible: bool
    reason: str = ""
    """Why it is infeasible (empty when feasible)."""
    shares: tuple[float, ...] = ()
    quality: float | None = None
    p95_bound_s: float | None = None
    cost_usd_per_hour: float | None = None
    allocation: tuple[AllocationEntry, ...] = ()
    simulated: ResimMetrics | None = None
    verification_error: str = ""
    """Set when the baseline's allocation failed independent verification."""
    latency_verified: bool | None = None
    """Whether its re-simulation held its own bound (None: not re-simulated)."""

    @classmethod
    def from_summary(cls, name: str, d: dict[str, Any]) -> BaselineResult:
        """From engine/baselines.py's summary dict."""
        if not d.get("feasible"):
            return cls(name=name, feasible=False, reason=str(d.get("reason", "")))
        sim = d.get("simulated")
        if isinstance(sim, dict):
            sim = ResimMetrics.from_summary(sim)
        alloc = tuple(
            AllocationEntry(model=m, config=k, replicas=int(n)) for m, row in (d.get("allocation") or {}).items() for k, n in row.items()
        )
        return cls(
            name=name,
            feasible=True,
            shares=tuple(float(v) for v in d["shares"]),
            quality=float(d["quality"]),
            p95_bound_s=float(d["p95_bound_s"]),
            cost_usd_per_hour=float(d["cost_usd_per_hour"]),
            allocation=alloc,
            simulated=sim,
            verification_error=str(d.get("verification_error", "")),
            latency_verified=d.get("latency_verified"),
        )


@attrs.frozen(kw_only=True)
class LatencyFailure:
    """One failed latency re-simulation before the planner derated and re-solved."""

    round: int
    bound_s: float
    cost_usd_per_hour: float
    failed: tuple[str, ...]
    """The failing checks, in words."""
    derate: dict[str, float] = attrs.field(factory=dict)
    """Config key -> capacity factor applied after this round."""


@attrs.frozen(kw_only=True)
class SolveStats:
    """How the plan was found and how long each stage took (wall-clock, this machine)."""

    strategy: str
    """Outer-loop strategy (``bo``, ``random``, ``grid``, ...)."""
    structure: bool
    """Structural seeds and pruning on."""
    solver: str
    """Inner solver backend."""
    trials: int
    best_at_trial: int | None
    stop_reason: str
    inner_solves: int
    perfdb_s: float
    perfdb_from_cache: bool
    perfdb_configs: int
    optimizer_s: float
    baselines_s: float | None = None
    verify_s: float | None = None
    derate_rounds: int | None = None
    """Rounds of derate-and-re-solve after failed latency checks (None: not recorded)."""
    derated_capacity: dict[str, float] = attrs.field(factory=dict)
    """Config key -> capacity factor the final plan was solved with (empty: none derated)."""
    latency_failures: tuple[LatencyFailure, ...] = ()
    """What failed in each derating round."""
    structure_pieces: dict[str, bool] = attrs.field(factory=dict)
    """Which structural pieces of the outer loop were on (``bound``, ``seeds``, ``preference``, ``transform``)."""
    plan_wall_s: float | None = None
    """Wall time of the whole plan (perf DB, search, verification, baselines), when the CLI measured it."""
    plan_cpu_s: float | None = None
    """CPU time of the planning process over the same span (a shared machine inflates wall time, not this)."""


@attrs.frozen(kw_only=True)
class EngineSettings:
    """The serving engine every replica runs, with the flags boute modelled."""

    name: str
    """``vllm``."""
    version: str
    """The engine release the flags and the stage-1 defaults were read from (pinned in deploy files)."""
    profile: str
    """Engine profile name (what the replica model was calibrated for)."""
    flags: tuple[str, ...]
    """Flags common to every replica (``--max-model-len ...``), beyond model, parallelism and port."""


@attrs.frozen(kw_only=True)
class ReplicaGroup:
    """``replicas`` identical replicas of one config."""

    config: str
    """Perf-DB config key."""
    gpu: str
    tp: int
    pp: int
    weight_dtype: str
    kv_dtype: str
    replicas: int
    gpus: int
    """GPUs of the whole group (replicas x TP x PP)."""
    usd_per_hour: float
    kv_capacity_tokens: int
    capacity_rps_at_bound: float
    """What one replica sustains at the plan's latency bound (perf DB): its dispatch weight."""
    spec_only: bool
    """True when this GPU has no measured calibration (spec-sheet roofline)."""
    engine_flags: tuple[str, ...] = ()
    """Engine flags specific to this config (``--quantization fp8``, ``--kv-cache-dtype fp8``)."""
    checkpoint: str = ""
    """Hugging Face id these replicas serve when it is not the model's ``hf_id``: the model
    catalog's pre-quantized checkpoint for ``weight_dtype`` (int4); empty: the model's own.
    The deploy files serve it under the model's ``hf_id`` (``--served-model-name``)."""

    @property
    def gpus_per_replica(self) -> int:
        """GPUs one replica needs: TP x PP."""
        return self.tp * self.pp


@attrs.frozen(kw_only=True)
class ModelDeployment:
    """One model's share of the load and the replicas that serve it."""

    model: str
    hf_id: str
    load_share: float
    load_rps: float
    budget_usd_per_hour: float
    """What this model's replicas cost."""
    groups: tuple[ReplicaGroup, ...]
    simulated: ResimMetrics | None = None
    """This model's re-simulated latency metrics (P95 with its 95 % interval, mean, TTFT, TPOT;
    None when not re-simulated)."""
    quantile_level: float = 0.95
    """Quantile of this model's latency its replicas hold at the bound (0.95 for the
    per-model metric; the MILP's pick for the pooled ``system`` metric)."""

    def allocation(self) -> str:
        """e.g. ``8 x RTX-5090 + 4 x H100-SXM``."""
        per: dict[str, int] = {}
        for g in self.groups:
            per[g.gpu] = per.get(g.gpu, 0) + g.gpus
        return " + ".join(f"{n} x {gpu}" for gpu, n in per.items()) or "-"


@attrs.frozen(kw_only=True)
class ParetoPoint:
    """An evaluated routing with its exact inner solution (a frontier point or an alternative)."""

    shares: tuple[float, ...]
    quality: float
    p95_bound_s: float
    cost_usd_per_hour: float
    budget_split: tuple[float, ...] | None = None
    thresholds: tuple[float, ...] = ()
    deployments: tuple[ModelDeployment, ...] = ()
    """Its replicas (not re-simulated: ``simulated`` is None)."""


@attrs.frozen(kw_only=True)
class PoolNode:
    """One node of a GPU pool as the scenario gave it ("node a: 8 x H100, 6 free")."""

    name: str
    """Host name (a DNS label)."""
    gpus: int
    """GPUs in the node."""
    free: int
    """GPUs the plan may use (the node's lowest local indices)."""


@attrs.frozen(kw_only=True)
class GpuPool:
    """One GPU type of the scenario as the plan saw it."""

    gpu: str
    available: int
    gpus_per_node: int
    """Node size: a TP group stays inside one node (C5)."""
    usd_per_gpu_hour: float
    price_source: str
    """Price set (and date) the price came from."""
    spec_only: bool
    nodes: tuple[PoolNode, ...] = ()
    """The pool node by node when the scenario gave it; empty: ``available`` GPUs fill
    nodes of ``gpus_per_node``, whole nodes first (:func:`boute.engine.cluster.cluster_graph`)."""
    intra_node_link: str | None = None
    """``nvlink`` or ``pcie``: what joins the GPUs of one node (the GPU catalog's; None in
    plans written before it was recorded)."""
    intra_node_bandwidth_gb_per_s: float | None = None
    """Per-direction bandwidth between two GPUs of one node, GB/s (GPU catalog)."""
    p2p: bool | None = None
    """Whether GPUs of one node reach each other peer-to-peer (PCIe without P2P goes through host memory)."""
    inter_node_bandwidth_gb_per_s: float | None = None
    """Per-GPU, one-direction network bandwidth between nodes, GB/s (GPU catalog)."""


@attrs.frozen(kw_only=True)
class Provenance:
    """What produced the plan."""

    boute_version: str
    perfdb_key: str
    """Content hash of the performance DB (its cache key)."""
    price_set: str
    seed: int


@attrs.frozen(kw_only=True)
class Plan:
    """A verified routing + deployment plan."""

    scenario: str
    objective: str
    mode: str
    models: tuple[str, ...]
    shares: tuple[float, ...]
    thresholds: tuple[float, ...]
    """Router score cut points (on the scale of ``router_scale``)."""
    router: str
    router_scale: str
    """What the thresholds are measured in: a synthetic scorer's scale, or the file router's scores."""
    quality: float
    quality_unit: str
    quality_min: float | None
    deployments: tuple[ModelDeployment, ...]
    cost_usd_per_hour: float
    budget_usd_per_hour: float | None
    latency_slo_s: float | None
    p95_bound_s: float
    """P95 guaranteed by the inner MILP on the perf DB."""
    simulated: ResimMetrics | None
    """Whole-system re-simulation (None when verification by simulation was skipped)."""
    dispatch_policy: str
    """How requests spread over a model's replicas (one of :data:`DISPATCH_POLICIES`)."""
    max_model_len: int
    """Context length every replica is sized for (``--max-model-len``)."""
    engine: EngineSettings
    pools: tuple[GpuPool, ...]
    """The scenario's GPU types: availability, node size, price."""
    pareto: tuple[ParetoPoint, ...]
    alternatives: tuple[ParetoPoint, ...]
    """Next-best feasible trials by the objective, with their deployments."""
    baselines: tuple[BaselineResult, ...]
    stats: SolveStats
    verification: Verification
    spec_only_gpus: tuple[str, ...]
    provenance: Provenance
    inputs: dict[str, Any] = attrs.field(eq=True)
    """The scenario as ``Scenario.to_dict()`` (re-plannable input)."""
    latency_metric: str = "per-model"
    """What ``p95_bound_s`` bounds: every model's P95 (``per-model``) or all requests pooled (``system``)."""
    ttft_slo_s: float | None = None
    """P95 time-to-first-token SLO the plan meets (verified by re-simulation), if any."""
    tpot_slo_s: float | None = None
    """P95 time-per-output-token SLO the plan meets (verified by re-simulation), if any."""

    def __attrs_post_init__(self) -> None:
        if self.dispatch_policy not in DISPATCH_POLICIES:
            raise InputError(
                f"dispatch_policy: {self.dispatch_policy!r} is not a policy", hint=f"use one of {', '.join(DISPATCH_POLICIES)}"
            )

    @property
    def p95_s(self) -> float:
        """Re-simulated P95 when there is one, else the MILP bound."""
        if self.simulated is not None and self.simulated.p95_s is not None:
            return self.simulated.p95_s
        return self.p95_bound_s

    def pool(self, gpu: str) -> GpuPool:
        """The pool of GPU type ``gpu``."""
        for p in self.pools:
            if p.gpu == gpu:
                return p
        raise InputError(f"plan: no GPU pool {gpu!r}", hint=f"pools: {', '.join(p.gpu for p in self.pools)}")

    def baseline(self, name: str) -> BaselineResult:
        """The baseline called ``name``."""
        for b in self.baselines:
            if b.name == name:
                return b
        raise InputError(f"plan: no baseline {name!r}", hint=f"baselines: {', '.join(b.name for b in self.baselines) or 'none'}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (plan.json); :meth:`from_dict` restores an equal plan."""
        d = _converter().unstructure(self)
        return {"schema_version": SCHEMA_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        """Read a plan.json document.

        Raises:
            InputError: wrong schema version, a missing or unknown field, or a bad value.
        """
        import cattrs

        if not isinstance(d, dict):
            raise InputError(f"plan: expected a JSON object, got {type(d).__name__}", hint="give a plan.json written by boute")
        ver = d.get("schema_version")
        if ver != SCHEMA_VERSION:
            raise InputError(
                f"plan: schema_version {ver!r} is not {SCHEMA_VERSION!r}",
                hint="re-run 'boute solve' with this boute version to write a current plan.json",
            )
        body = {k: v for k, v in d.items() if k != "schema_version"}
        try:
            return _converter().structure(body, cls)
        except cattrs.BaseValidationError as exc:
            msgs = cattrs.transform_error(exc, path="plan")
            raise InputError(f"plan: {msgs[0] if msgs else exc}", hint="give a plan.json written by this boute version") from None
        except InputError:
            raise


_CONVERTER = None


def _converter():
    """A cattrs converter that forbids unknown keys (cached: building it costs ~1 ms)."""
    global _CONVERTER
    if _CONVERTER is None:
        import cattrs

        _CONVERTER = cattrs.Converter(forbid_extra_keys=True)
    return _CONVERTER


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of plan.json, derived from the types above.

    engine/plan.schema.json is this, written by scripts/make_plan_schema.py; a test keeps
    the two equal.
    """
    import types
    import typing

    defs: dict[str, Any] = {}

    def of(tp) -> dict[str, Any]:
        origin = typing.get_origin(tp)
        if tp is str:
            return {"type": "string"}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is float:
            return {"type": "number"}
        if tp is Any:
            return {}
        if origin in (typing.Union, types.UnionType):
            args = typing.get_args(tp)
            return {"anyOf": [of(a) if a is not type(None) else {"type": "null"} for a in args]}
        if origin is tuple:
            args = typing.get_args(tp)
            return {"type": "array", "items": of(args[0])}
        if origin is dict:
            return {"type": "object"}
        if attrs.has(tp):
            name = tp.__name__
            if name not in defs:
                defs[name] = {}
                defs[name] = obj(tp)
            return {"$ref": f"#/$defs/{name}"}
        raise TypeError(f"json_schema: no mapping for {tp!r}")

    def obj(cls) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        fields = attrs.fields(cls)
        return {
            "type": "object",
            "description": (cls.__doc__ or "").strip().split("\n")[0],
            "properties": {f.name: of(hints[f.name]) for f in fields},
            "required": [f.name for f in fields if f.default is attrs.NOTHING],
            "additionalProperties": False,
        }

    top = obj(Plan)
    top["properties"] = {"schema_version": {"const": SCHEMA_VERSION}, **top["properties"]}
    top["required"] = ["schema_version", *top["required"]]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "boute plan",
        **top,
        "description": f"A verified routing + deployment plan written by boute (schema_version {SCHEMA_VERSION}); "
        "generated from boute.engine.plan by scripts/make_plan_schema.py.",
        "$defs": dict(sorted(defs.items())),
    }
