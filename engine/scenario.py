"""Scenarios: what the operator asks for, as a YAML/TOML file or Python objects.

Example (the built-in default: the BOute paper's GPU types, models, workload and budget; load, GPU counts and router are boute's own)::

    name: boute-paper-gsm8k
    gpus: {H100-SXM: 8, RTX-PRO-6000: 8, RTX-5090: 16, RTX-4090: 16}   # GPUs available
    # or per node (then gpus is their free GPUs per type; give one of the two):
    # nodes: {a: {gpu: H100-SXM, gpus: 8, free: 6}, b: {gpu: RTX-4090, gpus: 8}}
    price_set: boute-paper          # a price table name; price_overrides: {H100-SXM: 2.5}
    models: [Llama-3.1-8B, Llama-3.1-70B]   # cheapest first
    workload: gsm8k                 # built-in name, or {trace: path.csv} (Azure format)
    arrival_rate_per_s: 6
    quality: {data: calibrated, router: oracle}   # or {data: file.csv, router: noisy, auc: 0.8}
    budget_usd_per_hour: 30
    quality_min: 87                 # in the quality data's unit (accuracy %, judge score)
    latency_slo_s: 8                # cost objective: P95 target
    latency_metric: per-model       # or system (P95 of all requests pooled)
    objective: latency              # or cost
    seed: 0

:class:`Scenario` validates itself: every field has a validator (type, range, NaN and
infinity refused) and one cross-field check ties the objective to its target, so no
instance, however built (``Scenario(...)``, :meth:`Scenario.from_dict`,
:meth:`Scenario.with_overrides`, ``attrs.evolve``), holds a bad value. What needs the
catalog (GPU and model names, price sets, file paths) is checked by ``from_dict``.
A bad value raises :class:`~boute.engine.errors.InputError` naming the field, the value
and the fix. Explicit is explicit: a value the user wrote is never replaced by a default
(``quality: 0`` or ``price_overrides: []`` is an error, not "use the default").
"""

from __future__ import annotations

import math
import pathlib
import re
import tomllib
from typing import Any

import attrs
import yaml

from boute.engine.checkpoints import servable_weight_dtypes
from boute.engine.engines import PROFILES as ENGINE_PROFILES
from boute.engine.errors import InputError, did_you_mean, read_utf8_text
from boute.engine.plugins import Catalog

__all__ = [
    "Scenario",
    "QualitySource",
    "Node",
    "load_scenario",
    "default_scenario",
    "OBJECTIVES",
    "MODES",
    "ROUTERS",
    "MIN_ARRIVAL_RATE_PER_S",
    "MAX_ARRIVAL_RATE_PER_S",
    "MAX_PRICE_USD_PER_GPU_HOUR",
    "MAX_GPUS_PER_TYPE",
    "MAX_GPUS_PER_NODE",
    "MAX_BUDGET_USD_PER_HOUR",
    "MAX_LATENCY_SLO_S",
    "MAX_QUALITY_ABS",
    "LATENCY_METRICS",
]

OBJECTIVES = ("latency", "cost")
MODES = ("joint", "split")
ROUTERS = ("oracle", "random", "noisy", "file")
WEIGHT_DTYPES = ("bf16", "fp8", "int4")
"""Weight precisions a scenario may allow (engine/engines.py ``PRECISIONS``). ``int4`` is served
from a model's pre-quantized checkpoint (engine/checkpoints.py): a model without one is
planned without int4 (a warning), or is an error when no other allowed precision remains."""
BUILTIN_QUALITY = ("calibrated", "routellm-gsm8k", "routellm-mt-bench")
LATENCY_METRICS = ("per-model", "system")

# Ranges checked where numbers enter. Each bound is far outside any real request and
# inside what the arithmetic downstream handles exactly; the argument is next to it.
MIN_ARRIVAL_RATE_PER_S = 1e-3
"""3.6 requests an hour. Below it a P95 over an hour of traffic rests on fewer than four
requests, and per-model loads fall towards the MILP's feasibility tolerance (HiGHS
``primal_feasibility_tolerance`` 1e-7), where "no replica" passes C1 by rounding."""
MAX_ARRIVAL_RATE_PER_S = 1e5
"""About 3.5x ChatGPT's reported 2.5 billion prompts a day (~29,000 req/s; Axios,
2025-07-21), the largest published LLM service load."""
MAX_PRICE_USD_PER_GPU_HOUR = 1000.0
"""About 125x the dearest catalog price (AWS H200 on-demand, $7.91/GPU-h, 2025-07): room
for any real offer, while 1e308 would overflow the cost sums to infinity."""
MAX_GPUS_PER_TYPE = 1_000_000
"""Ten times the largest single clusters announced (about 10^5 GPUs, 2024)."""
MAX_GPUS_PER_NODE = 72
"""The largest single fast-link (NVLink) domain sold: NVIDIA GB200 NVL72, 72 GPUs in one
NVLink domain (NVIDIA GB200 NVL72 product page, 2024). A node in ``nodes`` is one such
domain: tensor-parallel groups stay inside it."""
NODE_NAME_PATTERN = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
"""A DNS label (RFC 1123): node names become host names in the deploy artifacts."""
MAX_BUDGET_USD_PER_HOUR = 1e9
"""Above the largest pool at the highest price (MAX_GPUS_PER_TYPE x
MAX_PRICE_USD_PER_GPU_HOUR); keeps the MILP's coefficients within 1e9 of each other."""
MAX_LATENCY_SLO_S = 600.0
"""The top of the inner solver's latency grid (``problem.latency_grid``): the perf DB
says nothing beyond it."""
MAX_QUALITY_ABS = 1e6
"""Bound on a quality figure's magnitude (accuracy % is 0-100, judge scores 1-10). Router
prefix sums over 10^7 queries of such values stay below 2^53, so they remain exact."""
MAX_SEED = 2**32 - 1
"""numpy, torch and Ax all accept seeds up to this."""
MAX_TRIALS = 100_000


# ----------------------------------------------------------------------------- validators
def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _name(attribute, where: str | None) -> str:
    return where or attribute.name


def _positive(hi: float, what: str, lo: float = 0.0, *, where: str | None = None):
    """Validator: a finite number in (lo, hi] (lo exclusive when 0)."""

    def check(_inst, attribute, v) -> None:
        field = _name(attribute, where)
        if not _is_num(v) or not math.isfinite(v):
            raise InputError(f"{field}: {v!r} must be a positive finite number", hint=what)
        if not v > 0 or v < lo:
            raise InputError(f"{field}: {v!r} must be a positive finite number" + (f" >= {lo:g}" if lo else ""), hint=what)
        if v > hi:
            raise InputError(f"{field}: {v!r} is above the largest accepted value {hi:g}", hint=what)

    return check


def _optional(check):
    def opt(inst, attribute, v) -> None:
        if v is not None:
            check(inst, attribute, v)

    return opt


def _nonempty_str(_inst, attribute, v) -> None:
    if not isinstance(v, str) or not v.strip():
        raise InputError(f"{attribute.name}: {v!r} must be a non-empty string", hint="see the README's scenario example")


def _one_of(choices: tuple[str, ...], message: str, where: str | None = None):
    """Validator: one of ``choices``; ``message`` formats the value as ``{v}``."""

    def check(_inst, attribute, v) -> None:
        field = _name(attribute, where)
        if not isinstance(v, str) or v not in choices:
            raise InputError(f"{field}: " + message.format(v=repr(v)), hint=did_you_mean(str(v), choices))

    return check


def _int_in(lo: int, hi: int, example: int):
    def check(_inst, attribute, v) -> None:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise InputError(
                f"{attribute.name}: {v!r} must be an integer >= {lo}"
                + (f" and <= {hi}" if v is not None and _is_num(v) and v > hi else ""),
                hint=f"e.g. {example}",
            )

    return check


def _check_gpus(_inst, _attribute, v) -> None:
    if not isinstance(v, dict) or not v:
        raise InputError(f"gpus: {v!r} must map GPU type names to available counts", hint="e.g. gpus: {H100-SXM: 8, RTX-4090: 16}")
    for name, count in v.items():
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"gpus: GPU type name {name!r} must be a non-empty string", hint="e.g. H100-SXM")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_GPUS_PER_TYPE:
            raise InputError(
                f"gpus.{name}: {count!r} must be a whole number of GPUs >= 0"
                + (f" and <= {MAX_GPUS_PER_TYPE:,}" if _is_num(count) and count > 0 else ""),
                hint="e.g. 8",
            )
    if sum(v.values()) == 0:
        raise InputError("gpus: every availability count is 0", hint="make at least one GPU available")


def _check_prices(_inst, _attribute, v) -> None:
    if not isinstance(v, dict):
        raise InputError(f"price_overrides: {v!r} must map GPU names to USD per GPU-hour", hint="e.g. {H100-SXM: 2.5}; {} for none")
    for name, price in v.items():
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"price_overrides: GPU type name {name!r} must be a non-empty string", hint="e.g. H100-SXM")
        _positive(MAX_PRICE_USD_PER_GPU_HOUR, "USD per GPU-hour, e.g. 2.5", where=f"price_overrides.{name}")(None, None, price)


def _check_models(_inst, _attribute, v) -> None:
    if not isinstance(v, tuple) or not v or any(not isinstance(m, str) or not m.strip() for m in v):
        raise InputError(f"models: {v!r} must be a non-empty list of model names", hint="e.g. [Llama-3.1-8B, Llama-3.1-70B]")
    if len(set(v)) != len(v):
        raise InputError(f"models: {list(v)!r} lists a model twice", hint="give each candidate model once")


def _check_dtypes(_inst, _attribute, v) -> None:
    if not isinstance(v, tuple) or not v or any(w not in WEIGHT_DTYPES for w in v) or len(set(v)) != len(v):
        raise InputError(
            f"weight_dtypes: {list(v) if isinstance(v, tuple) else v!r} must list dtypes from {WEIGHT_DTYPES}, each once",
            hint="e.g. [bf16] or [bf16, fp8] or [bf16, int4]",
        )


def _check_quality_min(_inst, _attribute, v) -> None:
    if v is None:
        return
    if not _is_num(v) or not math.isfinite(v) or abs(v) > MAX_QUALITY_ABS:
        raise InputError(
            f"quality_min: {v!r} must be a number in the quality data's unit (finite, magnitude <= {MAX_QUALITY_ABS:g})",
            hint="e.g. 87 (accuracy %) or 8.1 (judge score)",
        )


def _check_auc(_inst, _attribute, v) -> None:
    if not _is_num(v) or not 0.5 <= v <= 1.0:  # NaN fails both comparisons
        raise InputError(f"quality.auc: {v!r} must be between 0.5 (random) and 1.0 (oracle)", hint="e.g. 0.8")


def _check_data(_inst, _attribute, v) -> None:
    if not isinstance(v, str) or not v.strip():
        raise InputError(
            f"quality.data: {v!r} must be a non-empty string", hint="use " + ", ".join(BUILTIN_QUALITY) + " or a CSV/JSONL path"
        )


# ----------------------------------------------------------------------------- types
@attrs.frozen(kw_only=True)
class QualitySource:
    """Where per-query quality comes from and which router scores queries."""

    data: str = attrs.field(default="calibrated", validator=_check_data)
    """``calibrated`` (synthetic, reproducing published accuracies), ``routellm-gsm8k``,
    ``routellm-mt-bench`` (shipped with boute, derived from RouteLLM) or a CSV/JSONL path."""
    router: str = attrs.field(default="oracle", validator=_one_of(ROUTERS, "unknown router {v}", "quality.router"))
    """``oracle``, ``random``, ``noisy`` (with ``auc``) or ``file`` (scores in the data)."""
    auc: float = attrs.field(default=0.8, validator=_check_auc)
    """Target AUC of the noisy router."""


def _check_quality(_inst, _attribute, v) -> None:
    if not isinstance(v, QualitySource):
        raise InputError(
            f"quality: {v!r} must be a QualitySource", hint="build it with QualitySource(...), or give a mapping to Scenario.from_dict"
        )


def _check_node_name(_inst, _attribute, v) -> None:
    if not isinstance(v, str) or not re.fullmatch(NODE_NAME_PATTERN, v):
        raise InputError(
            f"nodes: node name {v!r} must be a DNS label (lower-case letters, digits and '-', at most 63)",
            hint="e.g. node-a; it becomes the host name in the deploy files",
        )


def _check_node_gpus(inst, _attribute, v) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_GPUS_PER_NODE:
        raise InputError(
            f"nodes.{inst.name}.gpus: {v!r} must be a whole number of GPUs from 1 to {MAX_GPUS_PER_NODE}",
            hint="the GPUs in the node (one fast-link domain), e.g. 8",
        )


def _check_node_free(inst, _attribute, v) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= inst.gpus:
        raise InputError(
            f"nodes.{inst.name}.free: {v!r} must be a whole number from 0 to the node's {inst.gpus} GPUs",
            hint=f"the node's GPUs this plan may use, e.g. {inst.gpus}",
        )


def _check_node_gpu(inst, _attribute, v) -> None:
    if not isinstance(v, str) or not v.strip():
        raise InputError(f"nodes.{inst.name}.gpu: {v!r} must be a GPU type name", hint="e.g. gpu: H100-SXM")


@attrs.frozen(kw_only=True)
class Node:
    """One server of the cluster: ``gpus`` GPUs of one type in one fast-link domain
    (NVLink or PCIe inside the node; the network between nodes), of which ``free`` may be
    used ("node a: 8 x H100, 6 free"). The free GPUs are taken to be the node's lowest
    local indices (``CUDA_VISIBLE_DEVICES`` 0 .. free - 1) in the deploy files."""

    name: str = attrs.field(validator=_check_node_name)
    """Host name (a DNS label)."""
    gpu: str = attrs.field(validator=_check_node_gpu)
    """Canonical GPU type name."""
    gpus: int = attrs.field(validator=_check_node_gpus)
    """GPUs in the node, 1 to MAX_GPUS_PER_NODE."""
    free: int = attrs.field(validator=_check_node_free)
    """GPUs this plan may use, 0 to ``gpus``."""


def _check_nodes(_inst, _attribute, v) -> None:
    if not isinstance(v, tuple) or any(not isinstance(n, Node) for n in v):
        raise InputError(f"nodes: {v!r} must be a tuple of Node values", hint="or give a mapping to Scenario.from_dict")
    names = [n.name for n in v]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise InputError(f"nodes: node {dup!r} is given twice", hint="give every node a distinct name")


def gpus_of_nodes(nodes: tuple[Node, ...]) -> dict[str, int]:
    """Free GPUs per GPU type over ``nodes`` (in order of first appearance)."""
    out: dict[str, int] = {}
    for n in nodes:
        out[n.gpu] = out.get(n.gpu, 0) + n.free
    return out


@attrs.frozen(kw_only=True)
class Scenario:
    """A validated planning request. Build with :func:`load_scenario`, :meth:`from_dict`
    or :meth:`with_overrides`; every field is checked on construction."""

    name: str = attrs.field(default="scenario", validator=_nonempty_str)
    gpus: dict[str, int] = attrs.field(validator=_check_gpus)
    """Available GPUs per canonical GPU type name (0 to MAX_GPUS_PER_TYPE each, not all 0);
    with ``nodes``, the free GPUs of the nodes of each type."""
    nodes: tuple[Node, ...] = attrs.field(default=(), validator=_check_nodes)
    """The cluster node by node (empty: ``gpus`` fills nodes of the catalog's
    ``gpus_per_node``, whole nodes first). See :mod:`boute.engine.cluster`."""
    price_set: str = attrs.field(default="boute-paper", validator=_nonempty_str)
    price_overrides: dict[str, float] = attrs.field(factory=dict, validator=_check_prices)
    """USD per GPU-hour by canonical GPU name, in (0, MAX_PRICE_USD_PER_GPU_HOUR]."""
    models: tuple[str, ...] = attrs.field(validator=_check_models)
    """Candidate LLMs, canonical names, cheapest (smallest) first."""
    workload: str = attrs.field(default="gsm8k", validator=_nonempty_str)
    """Built-in workload name, or a path to an Azure-format trace CSV."""
    arrival_rate_per_s: float = attrs.field(
        validator=_positive(
            MAX_ARRIVAL_RATE_PER_S,
            f"total requests per second between {MIN_ARRIVAL_RATE_PER_S:g} and {MAX_ARRIVAL_RATE_PER_S:g}, e.g. 6",
            lo=MIN_ARRIVAL_RATE_PER_S,
        )
    )
    quality: QualitySource = attrs.field(factory=QualitySource, validator=_check_quality)
    budget_usd_per_hour: float | None = attrs.field(
        default=None, validator=_optional(_positive(MAX_BUDGET_USD_PER_HOUR, "a positive number of USD per hour, e.g. 30"))
    )
    quality_min: float | None = attrs.field(default=None, validator=_check_quality_min)
    latency_slo_s: float | None = attrs.field(
        default=None, validator=_optional(_positive(MAX_LATENCY_SLO_S, f"a P95 target in seconds, at most {MAX_LATENCY_SLO_S:g}, e.g. 8"))
    )
    objective: str = attrs.field(default="latency", validator=_one_of(OBJECTIVES, "{v} is not an objective"))
    mode: str = attrs.field(default="joint", validator=_one_of(MODES, "{v} is not a mode"))
    """``joint``: the inner MILP splits the total budget; ``split``: the outer loop also
    searches the per-model budget split (the paper's mode)."""
    weight_dtypes: tuple[str, ...] = attrs.field(default=("bf16",), validator=_check_dtypes)
    engine: str = attrs.field(default="vllm-v1", validator=_one_of(tuple(ENGINE_PROFILES), "{v} is not an engine profile"))
    """Serving engine profile (engine/engines.py): the scheduling, limits and CPU costs the
    performance DB assumes and the engine flags the deploy artifacts should write."""
    seed: int = attrs.field(default=0, validator=_int_in(0, MAX_SEED, 0))
    max_trials: int = attrs.field(default=30, validator=_int_in(1, MAX_TRIALS, 30))
    """Cap on outer-loop trials."""
    stall_trials: int = attrs.field(default=20, validator=_int_in(1, MAX_TRIALS, 20))
    """Stop when the best feasible plan is unchanged for this many trials (the paper's rule)."""
    latency_metric: str = attrs.field(default="per-model", validator=_one_of(LATENCY_METRICS, "{v} is not a latency metric"))
    """What the latency bound/SLO is about: ``per-model`` (every model's P95, default) or
    ``system`` (the P95 of all requests pooled, the BOute paper's system latency)."""
    ttft_slo_s: float | None = attrs.field(
        default=None, validator=_optional(_positive(MAX_LATENCY_SLO_S, "a P95 time to first token in seconds, e.g. 1.0"))
    )
    """P95 time-to-first-token SLO (seconds), a constraint in either objective."""
    tpot_slo_s: float | None = attrs.field(
        default=None, validator=_optional(_positive(MAX_LATENCY_SLO_S, "a P95 time per output token in seconds, e.g. 0.05"))
    )
    """P95 time-per-output-token SLO (seconds per token), a constraint in either objective."""

    def __attrs_post_init__(self) -> None:
        # Cross-field rules: given per node, the totals are the nodes' free GPUs ...
        if self.nodes and gpus_of_nodes(self.nodes) != self.gpus:
            raise InputError(
                f"gpus: {self.gpus} disagrees with the free GPUs of the nodes {gpus_of_nodes(self.nodes)}",
                hint="give either gpus or nodes (gpus is then derived)",
            )
        # ... and each objective needs its target.
        if self.objective == "latency" and self.budget_usd_per_hour is None:
            raise InputError(
                "budget_usd_per_hour: the latency objective needs a budget", hint="add budget_usd_per_hour: 30, or use objective: cost"
            )
        if self.objective == "cost" and self.latency_slo_s is None:
            raise InputError("latency_slo_s: the cost objective needs a P95 latency SLO", hint="add latency_slo_s: 8")

    def price(self, catalog: Catalog, gpu: str) -> float:
        """USD per GPU-hour for ``gpu`` under this scenario."""
        if gpu in self.price_overrides:
            return self.price_overrides[gpu]
        return catalog.price(gpu, self.price_set).usd_per_gpu_hour

    @classmethod
    def from_dict(cls, raw: dict[str, Any], catalog: Catalog, *, base_dir: pathlib.Path | None = None) -> "Scenario":
        """Validate a plain dict (parsed YAML/TOML) against the catalog.

        Names are canonicalised (GPU and model aliases), paths resolved against
        ``base_dir``; every value is then checked by the type's validators. A field the
        dict leaves out takes its default; a field it gives is used as given.
        """
        if not isinstance(raw, dict):
            raise InputError(f"scenario: expected a mapping of fields, got {type(raw).__name__}", hint="see the README's scenario example")
        _known_fields(raw, cls, "scenario")
        out: dict[str, Any] = dict(raw)
        if "nodes" in raw:
            out["nodes"] = _nodes_from(raw["nodes"], catalog)
            if "gpus" not in raw:  # derived; the validator checks a given one agrees
                raw = dict(raw, gpus=gpus_of_nodes(out["nodes"]))
        for key in ("gpus", "models", "arrival_rate_per_s"):
            if key not in raw:
                raise InputError(
                    f"{key}: missing",
                    hint={
                        "gpus": "e.g. gpus: {H100-SXM: 8}",
                        "models": "e.g. models: [Llama-3.1-8B]",
                        "arrival_rate_per_s": "e.g. arrival_rate_per_s: 6",
                    }[key],
                )
        # GPUs: canonical names, each once.
        gpus = raw["gpus"]
        _check_gpus(None, None, gpus)
        avail: dict[str, int] = {}
        for name, count in gpus.items():
            g = catalog.gpu(str(name), field=f"gpus.{name}")
            if g.name in avail:
                raise InputError(f"gpus.{name}: {g.name} is listed twice", hint="give each GPU type once")
            avail[g.name] = count
        out["gpus"] = avail
        if "price_set" in raw:
            ps = raw["price_set"]
            if isinstance(ps, str) and ps.strip() and ps not in catalog.price_sets:
                raise InputError(f"price_set: unknown price set {ps!r}", hint=did_you_mean(ps, catalog.price_sets))
        if "price_overrides" in raw:
            po = raw["price_overrides"]
            _check_prices(None, None, po)
            canon_po: dict[str, float] = {}
            for name, price in po.items():
                g = catalog.gpu(str(name), field=f"price_overrides.{name}")
                if g.name in canon_po:
                    raise InputError(f"price_overrides.{name}: {g.name} is listed twice", hint="give each GPU type once")
                canon_po[g.name] = price
            out["price_overrides"] = canon_po
        # Models: canonical names, cheapest (fewest active parameters) first.
        models = raw["models"]
        if isinstance(models, str):
            models = [m.strip() for m in models.split(",")]
        if not isinstance(models, (list, tuple)):
            raise InputError(f"models: {models!r} must be a list of model names", hint="e.g. [Llama-3.1-8B, Llama-3.1-70B]")
        _check_models(None, None, tuple(models))
        canon = [catalog.model(m, field="models").name for m in models]
        if len(set(canon)) != len(canon):
            raise InputError(f"models: {list(models)!r} lists a model twice", hint="give each candidate model once")
        out["models"] = tuple(sorted(canon, key=lambda n: catalog.models[n].active_params))
        if "workload" in raw:
            out["workload"] = _resolve_workload(raw["workload"], base_dir)
        if "quality" in raw:
            q = raw["quality"]
            if isinstance(q, str) and q.strip():
                q = {"data": q}
            if not isinstance(q, dict) or not q:
                raise InputError(
                    f"quality: {q!r} must be a non-empty mapping (or a data source name)", hint="e.g. {data: calibrated, router: oracle}"
                )
            _known_fields(q, QualitySource, "quality")
            q = dict(q)
            if "data" in q:
                q["data"] = _resolve_quality_data(q["data"], base_dir)
            out["quality"] = QualitySource(**q)
        if "weight_dtypes" in raw:
            wd = raw["weight_dtypes"]
            if isinstance(wd, str):
                wd = [wd]
            if not isinstance(wd, (list, tuple)):
                raise InputError(f"weight_dtypes: {wd!r} must list dtypes from {WEIGHT_DTYPES}", hint="e.g. [bf16] or [bf16, fp8]")
            out["weight_dtypes"] = tuple(wd)
            _check_dtypes(None, None, out["weight_dtypes"])
            for m in out["models"]:  # precisions served from a pre-quantized checkpoint need one
                servable_weight_dtypes(catalog.models[m], out["weight_dtypes"], catalog_models=catalog.models.values(), warn=True)
        scen = cls(**out)
        # Every GPU needs a price.
        for g in scen.gpus:
            scen.price(catalog, g)
        return scen

    def with_overrides(self, catalog: Catalog | None = None, /, *, base_dir: pathlib.Path | None = None, **changes: Any) -> "Scenario":
        """A copy with ``changes`` applied, validated exactly like a scenario file.

        Args:
            catalog: checks GPU and model names, price sets and prices (default: the
                installed plugins' catalog).
            base_dir: folder that relative file paths in ``changes`` are relative to
                (default: the current directory).
            **changes: field name -> value, written as in a scenario file (names may be
                aliases). ``quality`` may give only the keys it changes
                (``quality={"router": "noisy"}``).

        Raises:
            InputError: an unknown field or a bad value.
        """
        if catalog is None:
            from boute.engine.plugins import load_catalog

            catalog = load_catalog()
        _known_fields(changes, Scenario, "scenario")
        d = self.to_dict()
        q = changes.get("quality")
        if isinstance(q, dict) and q:
            _known_fields(q, QualitySource, "quality")
            changes = dict(changes, quality={**d["quality"], **q})
        # gpus and nodes describe the same GPUs: changing one replaces the other.
        if "gpus" in changes and "nodes" not in changes:
            d.pop("nodes", None)
        if "nodes" in changes and "gpus" not in changes:
            d.pop("gpus", None)
        d.update(changes)
        return Scenario.from_dict(d, catalog, base_dir=base_dir)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict that :meth:`from_dict` accepts (round-trips)."""
        d = attrs.asdict(self, recurse=True)
        if self.nodes:
            d["nodes"] = {n.name: {"gpu": n.gpu, "gpus": n.gpus, "free": n.free} for n in self.nodes}
        else:
            del d["nodes"]
        d["models"] = list(self.models)
        d["weight_dtypes"] = list(self.weight_dtypes)
        return d


NODE_FIELDS = ("gpu", "gpus", "free")
"""The keys of one node in a scenario's ``nodes`` mapping (the name is the key)."""


def _nodes_from(raw: Any, catalog: Catalog) -> tuple[Node, ...]:
    """``nodes`` as written in a scenario (name -> {gpu, gpus, free}) as Node values."""
    if not isinstance(raw, dict) or not raw:
        raise InputError(
            f"nodes: {raw!r} must map node names to {{gpu, gpus, free}}", hint="e.g. nodes: {a: {gpu: H100-SXM, gpus: 8, free: 6}}"
        )
    out = []
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            raise InputError(f"nodes.{name}: {spec!r} must be a mapping {{gpu, gpus, free}}", hint="e.g. {gpu: H100-SXM, gpus: 8, free: 6}")
        for key in spec:
            if key not in NODE_FIELDS:
                raise InputError(f"nodes.{name}: unknown field {key!r}", hint=did_you_mean(str(key), NODE_FIELDS))
        for key in ("gpu", "gpus"):
            if key not in spec:
                raise InputError(f"nodes.{name}.{key}: missing", hint="e.g. {gpu: H100-SXM, gpus: 8, free: 6}")
        gpu = spec["gpu"]
        if isinstance(gpu, str) and gpu.strip():
            gpu = catalog.gpu(gpu, field=f"nodes.{name}.gpu").name
        out.append(Node(name=name, gpu=gpu, gpus=spec["gpus"], free=spec.get("free", spec["gpus"])))
    return tuple(out)


def _resolve(path: str, base_dir: pathlib.Path | None) -> pathlib.Path:
    p = pathlib.Path(path)
    return p if base_dir is None or p.is_absolute() else base_dir / p


def _resolve_workload(wl: Any, base_dir: pathlib.Path | None) -> str:
    from boute.engine.workload import builtin_workloads

    if isinstance(wl, dict):
        if set(wl) != {"trace"}:
            raise InputError(
                f"workload: {wl!r} must be a built-in name or {{trace: FILE.csv}}", hint="use workload: NAME or workload: {trace: FILE.csv}"
            )
        tr = wl["trace"]
        if not isinstance(tr, str) or not tr.strip():
            raise InputError(
                f"workload.trace: {tr!r} must be the path of an Azure-format CSV", hint="e.g. {trace: AzureLLMInferenceTrace_conv.csv}"
            )
        path = _resolve(tr, base_dir)
        if not path.is_file():
            raise InputError(f"workload.trace: file {str(path)!r} does not exist", hint="give the path of an Azure-format CSV")
        return str(path)
    if not isinstance(wl, str) or not wl.strip():
        raise InputError(
            f"workload: {wl!r} must be a built-in name or {{trace: FILE.csv}}", hint=did_you_mean(str(wl), builtin_workloads())
        )
    if wl in builtin_workloads():
        return wl
    p = _resolve(wl, base_dir)
    if wl.endswith(".csv") and p.is_file():
        return str(p)
    raise InputError(f"workload: unknown workload {wl!r}", hint=did_you_mean(wl, builtin_workloads()) + "; or {trace: FILE.csv}")


def _resolve_quality_data(data: Any, base_dir: pathlib.Path | None) -> Any:
    if not isinstance(data, str) or not data.strip() or data in BUILTIN_QUALITY:
        return data  # the validator names a bad value
    p = _resolve(data, base_dir)
    if not p.is_file():
        raise InputError(
            f"quality.data: {data!r} is neither a built-in source nor an existing file",
            hint="use " + ", ".join(BUILTIN_QUALITY) + " or a CSV/JSONL path",
        )
    return str(p)


def _known_fields(raw: dict, cls: type, where: str) -> None:
    """Reject a key that is not a field of ``cls``, suggesting the closest ones."""
    fields = {a.name for a in attrs.fields(cls)}
    for key in raw:
        if key not in fields:
            raise InputError(f"{where}: unknown field {key!r}", hint=did_you_mean(str(key), fields))


DEFAULT = {
    "name": "boute-paper-gsm8k",
    "gpus": {"H100-SXM": 8, "RTX-PRO-6000": 8, "RTX-5090": 16, "RTX-4090": 16},
    "price_set": "boute-paper",
    "models": ["Llama-3.1-8B", "Llama-3.1-70B"],
    "workload": "gsm8k",
    "arrival_rate_per_s": 6.0,
    "quality": {"data": "calibrated", "router": "noisy", "auc": 0.8},
    "budget_usd_per_hour": 30.0,
    "quality_min": 89.0,
    "latency_slo_s": 8.0,
    "objective": "latency",
    "mode": "joint",
    "seed": 0,
}


def default_scenario(catalog: Catalog) -> Scenario:
    """The default scenario: the BOute paper's 4 GPU types, $30/h, Llama-3.1-8B + 70B and
    GSM8K; its load (6 req/s), GPU counts and router are boute's own, not the paper's."""
    return Scenario.from_dict(DEFAULT, catalog)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML keeps the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            dup = key in seen
        except TypeError:  # an unhashable key: let the base loader report it
            break
        if dup:
            raise InputError(f"--scenario: key {key!r} is given twice (line {key_node.start_mark.line + 1})", hint="give each field once")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_scenario(path: str | pathlib.Path, catalog: Catalog) -> Scenario:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) scenario file."""
    if not str(path).strip():
        raise InputError(
            "--scenario: '' is not a file name", hint="give the path of a YAML or TOML scenario, or leave --scenario out for the default"
        )
    p = pathlib.Path(path)
    if not p.is_file():
        raise InputError(f"--scenario: file {str(p)!r} does not exist", hint="give the path of a YAML or TOML scenario")
    if p.suffix.lower() not in (".toml", ".yaml", ".yml"):
        raise InputError(f"--scenario: {p.name} has suffix {p.suffix!r}", hint="use .yaml, .yml or .toml")
    text = read_utf8_text(p, "--scenario", bom=False)
    try:
        raw = tomllib.loads(text) if p.suffix.lower() == ".toml" else yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        first = " ".join(str(exc).split())[:160]
        raise InputError(
            f"--scenario: {p.name} is not valid {p.suffix.lstrip('.').upper()}: {first}", hint="fix the syntax at the position shown"
        ) from None
    return Scenario.from_dict(raw, catalog, base_dir=p.parent)
