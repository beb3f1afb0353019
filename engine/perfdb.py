"""The performance DB: P95 (and mean, TTFT, TPOT) against load for every replica config.

For each candidate model, each GPU type of the scenario and each feasible (TP, PP,
dtype), one replica is simulated (stage 2) at a grid of arrival rates spanning 4 % to
120 % of its estimated saturation throughput. The same seeded request stream (scaled
in time) is used at every rate (common random numbers), and P95 is stored as its
running maximum over the grid, a monotone envelope, so that ``capacity(config, T)``,
the highest rate with P95 <= T, is well defined (linear interpolation between points).

The DB is cached on disk keyed by a SHA-256 of every input (model and GPU specs with
calibration, configs, workload, seed, grid, simulator settings) and of the source of
the code that computes it; the file stores its key and a checksum of its payload, so a
stale or corrupt cache is detected and rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import attrs
import numpy as np

from boute.engine.catalog import GPUType, LLMSpec
from boute.engine.problem import capacity_at
from boute.engine.replica import ReplicaConfig, ReplicaModel, candidate_configs, steady_state_closed_loop
from boute.engine.simulator import simulate_replica
from boute.engine.workload import Workload

__all__ = ["PerfDB", "ConfigCurve", "build_perfdb", "cache_dir", "LOAD_FRACTIONS"]

log = logging.getLogger(__name__)

# Offered load as a fraction of the estimated saturation throughput (24 points).
LOAD_FRACTIONS = tuple(np.round(np.concatenate([np.linspace(0.04, 0.8, 16), np.linspace(0.85, 1.2, 8)]), 4))
SIM_REQUESTS = 1200
WARMUP_FRACTION = 0.1
LATENCY_CAP_S = 600.0
FORMAT_VERSION = 1


def cache_dir() -> pathlib.Path:
    """``$BOUTE_CACHE_DIR``, else ``~/.cache/boute``."""
    env = os.environ.get("BOUTE_CACHE_DIR")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "boute"


@attrs.frozen(kw_only=True)
class ConfigCurve:
    """One replica config's latency against offered load."""

    config: ReplicaConfig
    kv_capacity_tokens: int
    max_model_len: int
    rates_rps: tuple[float, ...]
    p95_s: tuple[float, ...]
    """Monotone envelope (running max) of simulated P95 end-to-end latency."""
    mean_s: tuple[float, ...]
    ttft_mean_s: tuple[float, ...]
    tpot_mean_s: tuple[float, ...]

    def capacity(self, latency_s: float) -> float:
        """Highest arrival rate (req/s) one replica sustains with P95 <= ``latency_s``."""
        return capacity_at(self.rates_rps, self.p95_s, latency_s)


def _simulate_config(args) -> dict:
    llm, gpu, cfg, workload, max_model_len, seed = args
    rm = ReplicaModel(llm, gpu, cfg, max_model_len=max_model_len)
    mem = rm.memory()
    pin, pout = workload.mean_tokens()
    sat = steady_state_closed_loop(rm, rm.max_num_seqs, int(round(pin)), max(1, int(round(pout))))["throughput_rps"]
    base = workload.stream(1.0, SIM_REQUESTS, seed)
    rates, p95, mean, ttft, tpot = [], [], [], [], []
    for f in LOAD_FRACTIONS:
        rate = sat * float(f)
        stream = attrs.evolve(base, arrival_s=base.arrival_s / rate)
        res = simulate_replica(rm, stream, kv_capacity_tokens=mem.kv_capacity_tokens,
                               warmup_fraction=WARMUP_FRACTION, max_latency_s=LATENCY_CAP_S)
        s = res.summary()
        rates.append(rate)
        p95.append(s["p95_s"])
        mean.append(s["mean_s"])
        ttft.append(s["ttft_mean_s"])
        tpot.append(s["tpot_mean_s"])
    env = np.maximum.accumulate(np.asarray(p95))
    return {
        "key": cfg.key, "kv": mem.kv_capacity_tokens, "rates": rates, "p95": env.tolist(),
        "mean": np.maximum.accumulate(np.asarray(mean)).tolist(), "ttft": ttft, "tpot": tpot,
    }


@attrs.frozen(kw_only=True)
class PerfDB:
    """Curves per config key, plus what they were built from."""

    curves: dict[str, ConfigCurve]
    workload: str
    max_model_len: int
    key: str
    build_s: float = 0.0
    from_cache: bool = False

    def for_model(self, model: str) -> list[ConfigCurve]:
        return [c for c in self.curves.values() if c.config.model == model]

    def table(self, slos_s=(2.0, 5.0, 10.0, 20.0)) -> list[dict]:
        """Rows (config, KV tokens, capacity at a few SLOs) for printing."""
        rows = []
        for c in self.curves.values():
            row = {"config": c.config.key, "kv_tokens": c.kv_capacity_tokens}
            for t in slos_s:
                row[f"cap@{t:g}s"] = round(c.capacity(t), 3)
            rows.append(row)
        return rows


def _code_version() -> str:
    h = hashlib.sha256()
    here = pathlib.Path(__file__).resolve().parent
    for name in ("perfdb.py", "simulator.py", "replica.py", "workload.py", "engines.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def build_perfdb(
    models: list[LLMSpec],
    gpus: list[GPUType],
    workload: Workload,
    *,
    weight_dtypes: tuple[str, ...] = ("bf16",),
    seed: int = 0,
    max_gpus_per_replica: dict[str, int] | None = None,
    use_cache: bool = True,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    engine: str | None = None,
) -> PerfDB:
    """Build (or load from cache) the DB for every feasible config of ``models`` x ``gpus``.

    Args:
        max_gpus_per_replica: per GPU type, the most GPUs one replica may use (its
            availability); larger configs are skipped.
        workers: processes for the cold build (default: all cores).
        progress: called with (done, total) as configs finish.
        engine: engine profile name (engine/engines.py; default vllm-v1), part of every
            config and of the cache key.
    """
    from boute.engine.engines import get_profile

    profile = get_profile(engine)
    import time

    t0 = time.perf_counter()
    max_len = workload.max_model_len
    jobs = []
    for llm in models:
        for gpu in gpus:
            cap = (max_gpus_per_replica or {}).get(gpu.name)
            for cfg, _mem in candidate_configs(llm, gpu, weight_dtypes=weight_dtypes, max_model_len=max_len, max_gpus=cap,
                                               engine=profile.name):
                jobs.append((llm, gpu, cfg, workload, max_len, seed))
    key = _digest({
        "v": FORMAT_VERSION, "code": _code_version(), "jobs": [(attrs.asdict(j[0]), attrs.asdict(j[1]), attrs.asdict(j[2])) for j in jobs],
        "workload": attrs.asdict(workload), "seed": seed, "fractions": LOAD_FRACTIONS, "n": SIM_REQUESTS,
        "warmup": WARMUP_FRACTION, "cap": LATENCY_CAP_S, "engine": profile.identity(),
    })
    path = cache_dir() / f"perfdb-{key[:24]}.json"
    if use_cache:
        cached = _read_cache(path, key)
        if cached is not None:
            curves = {r["key"]: _curve(r, jobs) for r in cached}
            return PerfDB(curves=curves, workload=workload.name, max_model_len=max_len, key=key,
                          build_s=time.perf_counter() - t0, from_cache=True)
    results = []
    n_workers = workers or os.cpu_count() or 1
    if n_workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            for i, r in enumerate(pool.map(_simulate_config, jobs)):
                results.append(r)
                if progress:
                    progress(i + 1, len(jobs))
    else:
        for i, j in enumerate(jobs):
            results.append(_simulate_config(j))
            if progress:
                progress(i + 1, len(jobs))
    if use_cache:
        _write_cache(path, key, results)
    curves = {r["key"]: _curve(r, jobs) for r in results}
    return PerfDB(curves=curves, workload=workload.name, max_model_len=max_len, key=key, build_s=time.perf_counter() - t0)


def _curve(r: dict, jobs) -> ConfigCurve:
    cfg = next(j[2] for j in jobs if j[2].key == r["key"])
    return ConfigCurve(
        config=cfg, kv_capacity_tokens=int(r["kv"]), max_model_len=int(jobs[0][4]),
        rates_rps=tuple(r["rates"]), p95_s=tuple(r["p95"]), mean_s=tuple(r["mean"]),
        ttft_mean_s=tuple(r["ttft"]), tpot_mean_s=tuple(r["tpot"]),
    )


def _read_cache(path: pathlib.Path, key: str):
    try:
        doc = json.loads(path.read_text())
        payload = doc["payload"]
        if doc.get("key") != key or doc.get("checksum") != _digest(payload):
            log.warning("perf DB cache %s is stale or corrupt; rebuilding", path)
            return None
        return payload
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, OSError):
        log.warning("perf DB cache %s is unreadable; rebuilding", path)
        return None


def _write_cache(path: pathlib.Path, key: str, payload) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "checksum": _digest(payload), "payload": payload}))
        tmp.replace(path)
    except OSError as exc:  # a read-only home must not stop planning
        log.warning("could not write perf DB cache %s: %s", path, exc)
