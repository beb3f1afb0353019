"""The planner's answer: routing, deployment, predicted metrics, frontier, provenance."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Plan", "ModelDeployment", "ReplicaGroup", "ParetoPoint", "SCHEMA_VERSION"]

SCHEMA_VERSION = "1.0"


@attrs.frozen(kw_only=True)
class ReplicaGroup:
    """``replicas`` identical replicas of one config."""

    config: str
    gpu: str
    tp: int
    pp: int
    weight_dtype: str
    kv_dtype: str
    replicas: int
    gpus: int
    usd_per_hour: float
    kv_capacity_tokens: int
    capacity_rps_at_bound: float
    """What one replica sustains at the plan's latency bound (perf DB)."""
    spec_only: bool
    """True when this GPU has no measured calibration (spec-sheet roofline)."""


@attrs.frozen(kw_only=True)
class ModelDeployment:
    model: str
    hf_id: str
    load_share: float
    load_rps: float
    budget_usd_per_hour: float
    """What this model's replicas cost."""
    groups: tuple[ReplicaGroup, ...]
    simulated: dict[str, float] = attrs.field(factory=dict)
    """This model's re-simulated latency metrics (P95 with ``p95_lo_s``/``p95_hi_s``, its
    95 % interval, ``p95_requests`` and ``p95_converged``; mean, TTFT, TPOT, throughput)."""
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
    shares: tuple[float, ...]
    quality: float
    p95_bound_s: float
    cost_usd_per_hour: float
    budget_split: tuple[float, ...] | None = None


@attrs.frozen(kw_only=True)
class Plan:
    """A verified routing + deployment plan."""

    scenario: str
    objective: str
    mode: str
    models: tuple[str, ...]
    shares: tuple[float, ...]
    thresholds: tuple[float, ...]
    router: str
    quality: float
    quality_unit: str
    quality_min: float | None
    deployments: tuple[ModelDeployment, ...]
    cost_usd_per_hour: float
    budget_usd_per_hour: float | None
    latency_slo_s: float | None
    p95_bound_s: float
    """P95 guaranteed by the inner MILP on the perf DB."""
    simulated: dict[str, float]
    """Whole-system re-simulation: p95_s, mean_s, ttft_mean_s, tpot_mean_s, ..."""
    pareto: tuple[ParetoPoint, ...]
    baselines: dict[str, dict[str, Any]]
    stats: dict[str, Any]
    verification: dict[str, Any]
    spec_only_gpus: tuple[str, ...]
    dispatch_policy: str = "weighted-random"
    """How each model's requests are spread over its replicas (perf DB assumption,
    re-simulation and router.yaml alike): each request to replica i with probability
    proportional to ``capacity_rps_at_bound``."""
    latency_metric: str = "per-model"
    """What ``p95_bound_s`` bounds: every model's P95 (``per-model``) or all requests pooled (``system``)."""
    ttft_slo_s: float | None = None
    """P95 time-to-first-token SLO the plan meets (verified by re-simulation), if any."""
    tpot_slo_s: float | None = None
    """P95 time-per-output-token SLO the plan meets (verified by re-simulation), if any."""

    @property
    def p95_s(self) -> float:
        return self.simulated.get("p95_s", self.p95_bound_s)

    def to_dict(self) -> dict[str, Any]:
        d = attrs.asdict(self, recurse=True)
        d["schema_version"] = SCHEMA_VERSION
        return _clean(d)


def _clean(x):
    import math

    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            return _clean(x.item())
        except (AttributeError, ValueError):
            return x
    return x
