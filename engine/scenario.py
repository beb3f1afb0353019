"""Scenarios: what the operator asks for, as a YAML/TOML file or Python objects.

Example (the built-in default, the BOute paper's setup)::

    name: boute-paper-gsm8k
    gpus: {H100-SXM: 8, RTX-PRO-6000: 8, RTX-5090: 16, RTX-4090: 16}   # GPUs available
    price_set: boute-paper          # a price table name; price_overrides: {H100-SXM: 2.5}
    models: [Llama-3.1-8B, Llama-3.1-70B]   # cheapest first
    workload: gsm8k                 # built-in name, or {trace: path.csv} (Azure format)
    arrival_rate_per_s: 6
    quality: {data: calibrated, router: oracle}   # or {data: file.csv, router: noisy, auc: 0.8}
    budget_usd_per_hour: 30
    quality_min: 87                 # in the quality data's unit (accuracy %, judge score)
    latency_slo_s: 8                # cost objective: P95 target
    objective: latency              # or cost
    seed: 0

Every field is checked; a bad one raises :class:`~boute.engine.errors.InputError` naming
the field, the value and the fix.
"""

from __future__ import annotations

import pathlib
import tomllib
from typing import Any

import attrs
import yaml

from boute.engine.errors import InputError, did_you_mean
from boute.engine.plugins import Catalog

__all__ = ["Scenario", "QualitySource", "load_scenario", "default_scenario", "OBJECTIVES", "MODES", "ROUTERS"]

OBJECTIVES = ("latency", "cost")
MODES = ("joint", "split")
ROUTERS = ("oracle", "random", "noisy", "file")
WEIGHT_DTYPES = ("bf16", "fp8")


@attrs.frozen(kw_only=True)
class QualitySource:
    """Where per-query quality comes from and which router scores queries."""

    data: str = "calibrated"
    """``calibrated`` (synthetic, reproducing published accuracies), ``routellm-gsm8k``,
    ``routellm-mt-bench`` (shipped with boute, derived from RouteLLM) or a CSV/JSONL path."""
    router: str = "oracle"
    """``oracle``, ``random``, ``noisy`` (with ``auc``) or ``file`` (scores in the data)."""
    auc: float = 0.8
    """Target AUC of the noisy router."""


@attrs.frozen(kw_only=True)
class Scenario:
    """A validated planning request. Build with :func:`load_scenario` or :meth:`from_dict`."""

    name: str = "scenario"
    gpus: dict[str, int]
    """Available GPUs per canonical GPU type name."""
    price_set: str = "boute-paper"
    price_overrides: dict[str, float] = attrs.field(factory=dict)
    models: tuple[str, ...]
    """Candidate LLMs, canonical names, cheapest (smallest) first."""
    workload: str = "gsm8k"
    """Built-in workload name, or a path to an Azure-format trace CSV."""
    arrival_rate_per_s: float
    quality: QualitySource = attrs.field(factory=QualitySource)
    budget_usd_per_hour: float | None = None
    quality_min: float | None = None
    latency_slo_s: float | None = None
    objective: str = "latency"
    mode: str = "joint"
    """``joint``: the inner MILP splits the total budget; ``split``: the outer loop also
    searches the per-model budget split (the paper's mode)."""
    weight_dtypes: tuple[str, ...] = ("bf16",)
    seed: int = 0
    max_trials: int = 30
    """Cap on outer-loop trials."""
    stall_trials: int = 20
    """Stop when the best feasible plan is unchanged for this many trials (the paper's rule)."""

    def price(self, catalog: Catalog, gpu: str) -> float:
        """USD per GPU-hour for ``gpu`` under this scenario."""
        if gpu in self.price_overrides:
            return self.price_overrides[gpu]
        return catalog.price(gpu, self.price_set).usd_per_gpu_hour

    @classmethod
    def from_dict(cls, raw: dict[str, Any], catalog: Catalog, *, base_dir: pathlib.Path | None = None) -> "Scenario":
        """Validate a plain dict (parsed YAML/TOML) against the catalog."""
        if not isinstance(raw, dict):
            raise InputError(f"scenario: expected a mapping of fields, got {type(raw).__name__}", hint="see the README's scenario example")
        _known_fields(raw, cls, "scenario")
        d = dict(raw)
        out: dict[str, Any] = {}
        out["name"] = _str(d.get("name", "scenario"), "name")
        # GPUs and availability.
        gpus = d.get("gpus")
        if not isinstance(gpus, dict) or not gpus:
            raise InputError(f"gpus: {gpus!r} must map GPU type names to available counts", hint="e.g. gpus: {H100-SXM: 8, RTX-4090: 16}")
        avail: dict[str, int] = {}
        for name, count in gpus.items():
            g = catalog.gpu(str(name), field=f"gpus.{name}")
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InputError(f"gpus.{name}: {count!r} must be a whole number of GPUs >= 0", hint="e.g. 8")
            if g.name in avail:
                raise InputError(f"gpus.{name}: {g.name} is listed twice", hint="give each GPU type once")
            avail[g.name] = count
        if sum(avail.values()) == 0:
            raise InputError("gpus: every availability count is 0", hint="make at least one GPU available")
        out["gpus"] = avail
        # Prices.
        price_set = _str(d.get("price_set", "boute-paper"), "price_set")
        if price_set not in catalog.price_sets:
            raise InputError(f"price_set: unknown price set {price_set!r}", hint=did_you_mean(price_set, catalog.price_sets))
        out["price_set"] = price_set
        overrides = d.get("price_overrides", {}) or {}
        if not isinstance(overrides, dict):
            raise InputError(f"price_overrides: {overrides!r} must map GPU names to USD per GPU-hour", hint="e.g. {H100-SXM: 2.5}")
        po: dict[str, float] = {}
        for name, price in overrides.items():
            g = catalog.gpu(str(name), field=f"price_overrides.{name}")
            po[g.name] = _pos(price, f"price_overrides.{name}", "USD per GPU-hour, e.g. 2.5")
        out["price_overrides"] = po
        # Models.
        models = d.get("models")
        if isinstance(models, str):
            models = [m.strip() for m in models.split(",") if m.strip()]
        if not isinstance(models, (list, tuple)) or not models:
            raise InputError(f"models: {models!r} must be a list of model names", hint="e.g. [Llama-3.1-8B, Llama-3.1-70B]")
        canon = [catalog.model(str(m), field="models").name for m in models]
        if len(set(canon)) != len(canon):
            raise InputError(f"models: {models!r} lists a model twice", hint="give each candidate model once")
        # Cheapest first: order by active parameters (cost per token).
        out["models"] = tuple(sorted(canon, key=lambda n: catalog.models[n].active_params))
        # Workload.
        wl = d.get("workload", "gsm8k")
        if isinstance(wl, dict):
            if set(wl) - {"trace"}:
                raise InputError(f"workload: unknown keys {sorted(set(wl) - {'trace'})}", hint="use workload: NAME or workload: {trace: FILE.csv}")
            path = pathlib.Path(str(wl.get("trace", "")))
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            if not path.is_file():
                raise InputError(f"workload.trace: file {str(path)!r} does not exist", hint="give the path of an Azure-format CSV")
            wl = str(path)
        else:
            from boute.engine.workload import builtin_workloads

            wl = _str(wl, "workload")
            if wl not in builtin_workloads():
                p = pathlib.Path(wl) if base_dir is None or pathlib.Path(wl).is_absolute() else base_dir / wl
                if wl.endswith(".csv") and p.is_file():
                    wl = str(p)
                else:
                    raise InputError(f"workload: unknown workload {wl!r}", hint=did_you_mean(wl, builtin_workloads()) + "; or {trace: FILE.csv}")
        out["workload"] = wl
        out["arrival_rate_per_s"] = _pos(d.get("arrival_rate_per_s"), "arrival_rate_per_s", "total requests per second, e.g. 6")
        # Quality source.
        q = d.get("quality", {}) or {}
        if isinstance(q, str):
            q = {"data": q}
        if not isinstance(q, dict):
            raise InputError(f"quality: {q!r} must be a mapping", hint="e.g. {data: calibrated, router: oracle}")
        _known_fields(q, QualitySource, "quality")
        router = _str(q.get("router", "oracle"), "quality.router")
        if router not in ROUTERS:
            raise InputError(f"quality.router: unknown router {router!r}", hint=did_you_mean(router, ROUTERS))
        auc = q.get("auc", 0.8)
        if isinstance(auc, bool) or not isinstance(auc, (int, float)) or not 0.5 <= auc <= 1.0:
            raise InputError(f"quality.auc: {auc!r} must be between 0.5 (random) and 1.0 (oracle)", hint="e.g. 0.8")
        data = _str(q.get("data", "calibrated"), "quality.data")
        if data not in ("calibrated", "routellm-gsm8k", "routellm-mt-bench"):
            p = pathlib.Path(data) if base_dir is None or pathlib.Path(data).is_absolute() else base_dir / data
            if not p.is_file():
                raise InputError(
                    f"quality.data: {data!r} is neither a built-in source nor an existing file",
                    hint="use calibrated, routellm-gsm8k, routellm-mt-bench or a CSV/JSONL path",
                )
            data = str(p)
        out["quality"] = QualitySource(data=data, router=router, auc=float(auc))
        # Targets.
        for key in ("budget_usd_per_hour", "latency_slo_s"):
            v = d.get(key)
            out[key] = None if v is None else _pos(v, key, "a positive number")
        qm = d.get("quality_min")
        if qm is not None and (isinstance(qm, bool) or not isinstance(qm, (int, float))):
            raise InputError(f"quality_min: {qm!r} must be a number in the quality data's unit", hint="e.g. 87 (accuracy %) or 8.1 (judge score)")
        out["quality_min"] = None if qm is None else float(qm)
        objective = _str(d.get("objective", "latency"), "objective")
        if objective not in OBJECTIVES:
            raise InputError(f"objective: {objective!r} is not an objective", hint=did_you_mean(objective, OBJECTIVES))
        out["objective"] = objective
        if objective == "latency" and out["budget_usd_per_hour"] is None:
            raise InputError("budget_usd_per_hour: the latency objective needs a budget", hint="add budget_usd_per_hour: 30, or use objective: cost")
        if objective == "cost" and out["latency_slo_s"] is None:
            raise InputError("latency_slo_s: the cost objective needs a P95 latency SLO", hint="add latency_slo_s: 8")
        mode = _str(d.get("mode", "joint"), "mode")
        if mode not in MODES:
            raise InputError(f"mode: {mode!r} is not a mode", hint=did_you_mean(mode, MODES))
        out["mode"] = mode
        wd = d.get("weight_dtypes", ["bf16"])
        if isinstance(wd, str):
            wd = [wd]
        if not isinstance(wd, (list, tuple)) or not wd or any(w not in WEIGHT_DTYPES for w in wd):
            raise InputError(f"weight_dtypes: {wd!r} must list dtypes from {WEIGHT_DTYPES}", hint="e.g. [bf16] or [bf16, fp8]")
        out["weight_dtypes"] = tuple(dict.fromkeys(wd))
        for key, default, lo in (("seed", 0, 0), ("max_trials", 30, 1), ("stall_trials", 20, 1)):
            v = d.get(key, default)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InputError(f"{key}: {v!r} must be an integer >= {lo}", hint=f"e.g. {default}")
            out[key] = v
        scen = cls(**out)
        # Every GPU needs a price.
        for g in scen.gpus:
            scen.price(catalog, g)
        return scen

    def to_dict(self) -> dict[str, Any]:
        """A plain dict that :meth:`from_dict` accepts (round-trips)."""
        d = attrs.asdict(self, recurse=True)
        d["models"] = list(self.models)
        d["weight_dtypes"] = list(self.weight_dtypes)
        return d


def _known_fields(raw: dict, cls: type, where: str) -> None:
    """Reject a key that is not a field of ``cls``, suggesting the closest ones."""
    fields = {a.name for a in attrs.fields(cls)}
    for key in raw:
        if key not in fields:
            raise InputError(f"{where}: unknown field {key!r}", hint=did_you_mean(str(key), fields))


def _str(v: Any, field: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise InputError(f"{field}: {v!r} must be a non-empty string", hint="see the README's scenario example")
    return v.strip()


def _pos(v: Any, field: str, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v != v or v == float("inf"):
        raise InputError(f"{field}: {v!r} must be a positive finite number", hint=what)
    return float(v)


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
    """The BOute paper's setup: 4 GPU types, $30/h, Llama-3.1-8B + 70B, GSM8K."""
    return Scenario.from_dict(DEFAULT, catalog)


def load_scenario(path: str | pathlib.Path, catalog: Catalog) -> Scenario:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) scenario file."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise InputError(f"--scenario: file {str(p)!r} does not exist", hint="give the path of a YAML or TOML scenario")
    text = p.read_text(encoding="utf-8", errors="replace")
    try:
        if p.suffix.lower() == ".toml":
            raw = tomllib.loads(text)
        elif p.suffix.lower() in (".yaml", ".yml"):
            raw = yaml.safe_load(text)
        else:
            raise InputError(f"--scenario: {p.name} has suffix {p.suffix!r}", hint="use .yaml, .yml or .toml")
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        first = " ".join(str(exc).split())[:160]
        raise InputError(f"--scenario: {p.name} is not valid {p.suffix.lstrip('.').upper()}: {first}", hint="fix the syntax at the position shown") from None
    return Scenario.from_dict(raw, catalog, base_dir=p.parent)
