"""The performance DB: steady-state latency quantiles against load for every replica config.

For each candidate model, each GPU type of the scenario and each feasible (TP, PP,
dtype), one replica is simulated (stage 2):

1. **Sustainable throughput, measured directly.** A saturated run: a queue of the
   workload's length mix is submitted at once and the completion rate is measured while
   the queue is never empty (from the 10 % completion to the moment the last request is
   admitted). That is ``saturation_rps``; a load at or above it is unstable by definition
   and is never simulated.
2. **Load points, each a steady-state estimate.** At each rate the replica serves the
   workload's own arrival process (Poisson, gamma or the trace's gaps) scaled to that
   rate. Warm-up: the first 10 % of the requests, or more where MSER-5
   (:func:`boute.engine.steady.mser_warmup`) sees the run still filling up. The P95's
   interval is computed on the PROBABILITY scale
   (:func:`boute.engine.steady.estimate_quantiles_prob`: batch means of ``1{latency <=
   t}`` over 20 time-contiguous batches, Student-t, inverted into an interval of the
   quantile), so it converges whatever the shape of the distribution (a gap at the P95, as
   in azure-code, made the value-scale interval never shrink). The run is extended (2,000
   requests, then x1.5) until the interval converges (``P(latency <= estimate)`` known to
   +-``P_TOL``, or the value half-width <= ``REL_TOL``), a request cap, or instability.
3. **What is kept.** A point is kept when it is stable (no significant growth of latency or
   queue over the run, :func:`boute.engine.steady.trend_test`; no request waiting longer
   than ``LATENCY_CAP_S``) and its interval is valid (at least 5 batches whose means pass a
   lag-1 independence test). It need not have converged: near saturation the cap is too
   short for that, and such a point (run for at least ``MIN_UNCONVERGED`` requests, or
   projected not to converge within the cap) is kept with its wider upper bound, which is
   still a sound statement "P(latency > UCB) <= 5 % at 95 % confidence", the only thing a
   capacity at T needs (a load is admissible at T when the UCB of P(latency > T) is <= 5 %;
   the stored UCB is the smallest such T). Requiring convergence made capacities stop where
   the estimate stopped converging, 14-28 % below where latency reaches T. A point whose
   batches stay correlated up to the cap, or that is unstable, is excluded, and so is every
   higher load.
4. **Adaptive grid.** A ladder of loads (few points where the curve is flat), then
   bisection between the last kept point and the first excluded one, so the kept points
   reach close to the replica's stable limit.

Stored per kept point: point estimates and upper confidence bounds (UCB) of end-to-end
P50/P90/P95/P99, P95 TTFT, P95 TPOT (per request ``(finish - first token) / (output -
1)``, only requests with at least two output tokens), and the means. The curves the
planner uses are monotone envelopes (running maxima over rate) of the UCBs, so
``capacity(T)``, the largest rate whose UCB is <= T, is well defined. It interpolates
linearly only between two kept points: latency is convex in load near saturation, so the
chord lies above the curve and the interpolated capacity errs low. It never goes beyond
the last kept (stable, valid-interval) point, and never extrapolates from the saturation rate.

**Per-replica arrival assumption.** Each replica sees the workload's arrival process at
the replica's share of the rate. For Poisson workloads this is exactly what
weighted-random dispatch produces (a random split of a Poisson process is Poisson); for
bursty gamma or trace arrivals a random split smooths bursts, so the per-replica stream
assumed here is at least as bursty as the real one: conservative.

The same seeded request stream (scaled in time) is used at every rate (common random
numbers), so curves are smooth in rate and the build is deterministic. Configs are built
in parallel by a process pool (default) or, optionally, by Ray (``backend="ray"``, for
catalogs that outgrow one machine; same results).

The DB is cached on disk keyed by a SHA-256 of every input (model and GPU specs with
calibration, configs, workload, seed, the estimator's settings) and of the source of the
code that computes it; the file stores its key and a checksum of its payload, so a stale
or corrupt cache is detected and rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pathlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed

import attrs
import numpy as np

from boute.engine.catalog import GPUType, LLMSpec
from boute.engine.checkpoints import servable_weight_dtypes
from boute.engine.errors import InputError
from boute.engine.problem import capacity_at
from boute.engine.replica import ReplicaConfig, ReplicaModel, candidate_configs
from boute.engine.simulator import ReplicaSim
from boute.engine.steady import QUANTILE_LEVELS, estimate_quantiles_prob, mser_warmup, trend_test
from boute.engine.workload import Workload

__all__ = ["PerfDB", "ConfigCurve", "build_perfdb", "cache_dir", "tpot_samples", "BACKENDS", "LOAD_FRACTIONS"]

log = logging.getLogger(__name__)

# Coarse ladder of offered load as a fraction of the measured saturation throughput:
# sparse where the curve is flat, denser towards saturation; bisection refines after it.
# It stops at 96 %: closer to saturation the queue's relaxation time exceeds what a capped
# run shows, and a stable-looking run understates the steady state (8B on H100 TP2, gsm8k:
# at 98 % a 20,000-request point gave a P95 UCB of 9.6 s where 60,000-request runs on four
# fresh seeds give 11.0-12.0 s; at 96 %, UCB 9.1 s against 8.7-9.3 s).
LOAD_FRACTIONS = (0.1, 0.3, 0.5, 0.65, 0.75, 0.83, 0.89, 0.93, 0.96)
BISECTIONS = 2
CLOSE_ON_UNCONVERGED = False
BATCHES = 20
"""Time-contiguous batches a point's run is sectioned into (fewer when too short for the tail)."""
MIN_REQUESTS = 2000
"""Requests simulated before the first convergence check of a point."""
MIN_SPAN = 20.0
"""A kept point's run after warm-up lasts at least this many times its P95 latency."""
MIN_UNCONVERGED = 6000
"""A point whose P95 has not converged is kept (through its upper bound) only after at least
this many requests: near saturation, short runs' batches are too short to trust."""
MAX_REQUESTS = 20000
"""Cap on requests per load point; a point whose batches are still correlated by then is excluded."""
HOPELESS = 1.3
"""A point whose projected need exceeds this multiple of the cap is abandoned early."""
GROWTH = 1.3
"""Requests are extended by this factor between convergence checks."""
SATURATION_REQUESTS = 3000
WARMUP_FRACTION = 0.1
REL_TOL = 0.05
"""Relative half-width of the value-scale interval (reported; the stop rule is ``P_TOL``)."""
P_TOL = 0.01
"""A point converges when ``P(latency <= P95 estimate)`` is known to +-1 percentage point."""
CONFIDENCE = 0.95
LATENCY_CAP_S = 600.0
FORMAT_VERSION = 3
BACKENDS = ("process", "ray")
METRICS = ("e2e", "ttft", "tpot")


def cache_dir() -> pathlib.Path:
    """``$BOUTE_CACHE_DIR``, else ``~/.cache/boute``."""
    env = os.environ.get("BOUTE_CACHE_DIR")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "boute"


@attrs.frozen(kw_only=True)
class ConfigCurve:
    """One replica config's steady-state latency against offered load (kept points only)."""

    config: ReplicaConfig
    kv_capacity_tokens: int
    max_model_len: int
    rates_rps: tuple[float, ...]
    """Offered loads of the kept points (stable, valid interval), increasing."""
    p95_s: tuple[float, ...]
    """Monotone envelope (running max over rate) of the P95 end-to-end upper confidence bound."""
    mean_s: tuple[float, ...]
    """Monotone envelope of mean end-to-end latency."""
    ttft_mean_s: tuple[float, ...]
    tpot_mean_s: tuple[float, ...]
    """Mean TPOT over requests with at least two output tokens."""
    p95_point_s: tuple[float, ...] = ()
    """P95 end-to-end point estimate per rate (not an envelope)."""
    p95_halfwidth_s: tuple[float, ...] = ()
    """Half-width of the P95 confidence interval per rate (seconds, value scale)."""
    p95_halfwidth_p: tuple[float, ...] = ()
    """Half-width of the interval of ``P(latency <= P95 estimate)`` per rate (probability
    scale)."""
    converged: tuple[bool, ...] = ()
    """Per rate: the P95 interval met the tolerance (probability half-width <= ``P_TOL`` or
    value half-width <= ``REL_TOL``). A kept point that did not (near saturation, where the
    request cap is too short for that) still has a valid interval and enters capacities
    only through its upper bound."""
    quantiles_s: dict[str, dict[float, tuple[float, ...]]] = attrs.field(factory=dict)
    """``{metric: {level: UCB envelope per rate}}`` for e2e (all ``QUANTILE_LEVELS``), ttft and tpot (0.95)."""
    saturation_rps: float = 0.0
    """Sustainable throughput of the replica on the workload's length mix (saturated run)."""
    requests: tuple[int, ...] = ()
    """Requests simulated per kept point."""
    excluded: tuple[tuple[float, str], ...] = ()
    """(rate, reason) of simulated points that were not kept: unstable or correlated batches up to the cap."""

    def capacity(self, latency_s: float, *, metric: str = "e2e", level: float = 0.95) -> float:
        """Largest arrival rate (req/s) one replica sustains with the ``level`` quantile of
        ``metric`` latency (upper confidence bound) <= ``latency_s``; 0 if no kept point does.

        Args:
            latency_s: the latency target (seconds).
            metric: ``e2e``, ``ttft`` or ``tpot``.
            level: quantile level stored for that metric (e2e: any of ``QUANTILE_LEVELS``).
        """
        curve = self.curve(metric, level)
        if not self.rates_rps:
            return 0.0
        return capacity_at(self.rates_rps, curve, latency_s)

    def curve(self, metric: str = "e2e", level: float = 0.95) -> tuple[float, ...]:
        """The monotone UCB envelope of one stored quantile, per rate."""
        if metric not in self.quantiles_s:
            if metric == "e2e" and level == 0.95:
                return self.p95_s
            raise InputError(f"metric: {metric!r} is not stored in the perf DB", hint=f"use one of {', '.join(METRICS)}")
        row = self.quantiles_s[metric]
        if level not in row:
            raise InputError(f"level: {level!r} is not stored for {metric}", hint=f"stored levels: {', '.join(f'{x:g}' for x in row)}")
        return row[level]


# ----------------------------------------------------------------------------- simulation
def _saturation_rps(rm: ReplicaModel, kv: int, workload: Workload, seed: int) -> float:
    """Completions per second of a replica whose queue never empties (the workload's mix)."""
    s = workload.stream(1.0, SATURATION_REQUESTS, seed + 7919)
    sim = ReplicaSim(rm, kv)
    for p, o in zip(s.prompt_tokens.tolist(), s.output_tokens.tolist()):
        sim.submit(0.0, p, o)
    sim.run_until(math.inf)
    fin = np.array(sim.finish)
    first = np.array(sim.first)
    fin = np.sort(fin[~np.isnan(fin)])
    if fin.size < 10:
        return 0.0
    t_a = fin[int(0.1 * fin.size)]
    t_b = float(np.nanmax(first))  # the last admission: the queue is non-empty before it
    if not t_b > t_a:
        t_a, t_b = 0.0, float(fin[-1])
    t_a = float(t_a)
    done = int(np.sum((fin > t_a) & (fin <= t_b)))
    return float(done / (t_b - t_a) if t_b > t_a and done else fin.size / float(fin[-1]))


def _run_point(rm: ReplicaModel, kv: int, base, rate: float) -> dict:
    """Serve the base stream at ``rate`` until the P95 converges, the cap, or instability."""
    arr = (base.arrival_s / rate).tolist()
    pr, out = base.prompt_tokens.tolist(), base.output_tokens.tolist()
    sim = ReplicaSim(rm, kv)
    in_system = []
    n_sent, target = 0, MIN_REQUESTS
    verdict = None
    kw = dict(warmup_fraction=WARMUP_FRACTION, confidence=CONFIDENCE, p_tol=P_TOL, rel_tol=REL_TOL, batches=BATCHES)
    while True:
        while n_sent < target:
            a = arr[n_sent]
            sim.run_until(a)
            sim.submit(a, pr[n_sent], out[n_sent])
            in_system.append(sim.outstanding)
            n_sent += 1
            if sim.waiting and a - sim.arrival[sim.waiting[0]] > LATENCY_CAP_S:
                verdict = f"oldest waiting request waited > {LATENCY_CAP_S:g} s"
                break
        if verdict:
            break
        # Latencies of the completed arrival-order prefix are final.
        fin = np.array(sim.finish[:n_sent])
        nan = np.flatnonzero(np.isnan(fin))
        k = int(nan[0]) if nan.size else n_sent
        if k < MIN_REQUESTS // 2:
            # The replica has not even finished half of the first requests: it is far behind.
            if n_sent >= MAX_REQUESTS:
                verdict = "fewer than half the requests completed"
                break
            target = min(int(target * GROWTH), MAX_REQUESTS)
            continue
        e2e = fin[:k] - np.array(sim.arrival[:k])
        queue = np.asarray(in_system[:k], dtype=float)
        # Warm-up: at least WARMUP_FRACTION, longer where MSER-5 sees the run still filling up
        # (long outputs at high load take many requests to reach steady state; a fixed 10 %
        # of a short run mistook that fill-up for a growing queue).
        wf = max(WARMUP_FRACTION, mser_warmup(e2e) / k, mser_warmup(queue) / k)
        kw["warmup_fraction"] = wf
        if trend_test(e2e, warmup_fraction=wf).growing:
            verdict = "latency grows over the run"
            break
        if trend_test(queue, warmup_fraction=wf).growing:
            verdict = "queue grows over the run"
            break
        est = estimate_quantiles_prob(e2e, (0.95,), **kw)[0.95]
        # Valid: enough batches, nearly independent ones, and a run (after warm-up) that spans
        # many latencies: a short run at high load looks stable while the queue is still far
        # from its steady state (mt-bench 70B on 8 x H100 at 89 % load: 2,600 requests spanning
        # 3 P95s gave a UCB of 16.4 s where 40,000-request runs give 16.6-18.2 s).
        span_s = sim.arrival[k - 1] - sim.arrival[int(k * kw["warmup_fraction"])]
        valid = est.batches_independent and span_s >= MIN_SPAN * est.value_s
        if est.converged and valid:
            break
        # The half-width shrinks like 1 / sqrt(n): a point that would need far more than the
        # cap to converge stops now rather than at the cap (the estimate of the need is noisy,
        # hence the factor of slack). It is still kept when its interval is valid: its upper
        # bound is a sound (if wider) statement "P(latency > UCB) <= 5 %", which is all a
        # capacity at T needs.
        need = k * (est.half_width_p / P_TOL) ** 2
        if (valid and need > HOPELESS * MAX_REQUESTS and n_sent >= MIN_UNCONVERGED) or n_sent >= MAX_REQUESTS:
            if valid:
                break
            # Correlated batches are extended (longer batches) up to the cap, then excluded.
            if not est.batches:
                verdict = f"too few completed requests for an interval ({k})"
            elif not est.batches_independent:
                verdict = f"batch means correlated (lag-1 r = {est.lag1:.2f}) after {n_sent} requests"
            else:
                verdict = f"run spans only {span_s / est.value_s:.1f} P95 latencies after {n_sent} requests (need {MIN_SPAN:g})"
            break
        target = min(int(target * GROWTH), MAX_REQUESTS)
    if verdict:
        return {"rate": rate, "ok": False, "why": verdict, "n": n_sent}
    first = np.array(sim.first[:k])
    arrival = np.array(sim.arrival[:k])
    outs = np.array(sim.output[:k])
    ttft = first - arrival
    tpot = tpot_samples(first, fin[:k], outs)
    w = int(k * kw["warmup_fraction"])
    e2e_q = estimate_quantiles_prob(e2e, QUANTILE_LEVELS, **kw)
    ttft_q = estimate_quantiles_prob(ttft, (0.95,), **kw)[0.95]
    tpot_q = estimate_quantiles_prob(tpot, (0.95,), **kw)[0.95] if tpot.size else None
    tpot_post = tpot[int(tpot.size * kw["warmup_fraction"]) :]
    return {
        "rate": rate,
        "ok": True,
        "n": n_sent,
        "p95": float(e2e_q[0.95].value_s),
        "hw": float(e2e_q[0.95].half_width_s),
        "hwp": float(e2e_q[0.95].half_width_p),
        "warmup": float(kw["warmup_fraction"]),
        "conv": bool(e2e_q[0.95].converged),
        "e2e": {str(lv): q.hi_s for lv, q in e2e_q.items()},
        "ttft": ttft_q.hi_s,
        "tpot": tpot_q.hi_s if tpot_q else 0.0,
        "mean": float(np.mean(e2e[w:])),
        "ttft_mean": float(np.mean(ttft[w:])),
        "tpot_mean": float(np.mean(tpot_post)) if tpot_post.size else 0.0,
    }


def tpot_samples(first_s: np.ndarray, finish_s: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
    """Per-request time per output token after the first, ``(finish - first) / (output - 1)``,
    for requests with at least two output tokens only (a one-token answer has no
    inter-token time: counting it as 0 would flatter the mean and the quantiles)."""
    multi = np.asarray(output_tokens) >= 2
    return (np.asarray(finish_s)[multi] - np.asarray(first_s)[multi]) / (np.asarray(output_tokens)[multi] - 1)


def _simulate_config(args) -> dict:
    llm, gpu, cfg, workload, max_model_len, seed = args
    rm = ReplicaModel(llm, gpu, cfg, max_model_len=max_model_len)
    kv = rm.memory().kv_capacity_tokens
    sat = _saturation_rps(rm, kv, workload, seed)
    base = workload.stream(1.0, MAX_REQUESTS, seed)
    points: dict[float, dict] = {}

    def run(f: float) -> dict:
        if f not in points:
            points[f] = _run_point(rm, kv, base, float(sat * f))
        return points[f]

    good, bad, closed = 0.0, None, False
    for f in LOAD_FRACTIONS:
        p = run(f)
        if p["ok"]:
            good = f
            if not p["conv"] and CLOSE_ON_UNCONVERGED:
                # Stable, with a valid but wide interval: near saturation, where the cap is too
                # short for convergence. It is the last point; higher loads are not simulated.
                closed = True
                break
        else:
            bad = f
            break
    if good == 0.0 and bad is not None:  # even the lowest rung failed: walk down
        f = bad
        for _ in range(4):
            f = round(f / 2.0, 6)
            if run(f)["ok"]:
                good = f
                break
            bad = f
    if good > 0.0 and not closed and bad is not None:
        for _ in range(BISECTIONS):
            mid = round((good + bad) / 2.0, 6)
            if mid >= 1.0 or mid in points:
                break
            if run(mid)["ok"]:
                good = mid
            else:
                bad = mid
    kept = sorted((f, p) for f, p in points.items() if p["ok"] and f <= good)
    # Only the prefix below the first failure counts (a later "ok" beyond a failure is not trusted).
    first_bad = min((f for f, p in points.items() if not p["ok"]), default=math.inf)
    kept = [(f, p) for f, p in kept if f < first_bad]
    excluded = sorted((p["rate"], p["why"]) for p in points.values() if not p["ok"])
    env = lambda xs: np.maximum.accumulate(np.asarray(xs, dtype=float)).tolist() if xs else []  # noqa: E731
    ps = [p for _, p in kept]
    return {
        "key": cfg.key,
        "kv": kv,
        "sat": sat,
        "rates": [p["rate"] for p in ps],
        "n": [p["n"] for p in ps],
        "p95": env([p["e2e"]["0.95"] for p in ps]),
        "p95_point": [p["p95"] for p in ps],
        "p95_hw": [p["hw"] for p in ps],
        "p95_hwp": [p["hwp"] for p in ps],
        "conv": [p["conv"] for p in ps],
        "q": {
            "e2e": {str(lv): env([p["e2e"][str(lv)] for p in ps]) for lv in QUANTILE_LEVELS},
            "ttft": {"0.95": env([p["ttft"] for p in ps])},
            "tpot": {"0.95": env([p["tpot"] for p in ps])},
        },
        "mean": env([p["mean"] for p in ps]),
        "ttft_mean": [p["ttft_mean"] for p in ps],
        "tpot_mean": [p["tpot_mean"] for p in ps],
        "excluded": excluded,
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
        """The usable configs of ``model``: those with at least one kept (stable, valid-interval)
        load point. A config without one has no capacity the planner could rely on."""
        return [c for c in self.curves.values() if c.config.model == model and c.rates_rps]

    def table(self, slos_s=(2.0, 5.0, 10.0, 20.0)) -> list[dict]:
        """Rows (config, KV tokens, sustainable rate, capacity at a few SLOs) for printing."""
        rows = []
        for c in self.curves.values():
            row = {"config": c.config.key, "kv_tokens": c.kv_capacity_tokens, "sat_rps": round(c.saturation_rps, 3)}
            for t in slos_s:
                row[f"cap@{t:g}s"] = round(c.capacity(t), 3)
            rows.append(row)
        return rows


def _code_version() -> str:
    h = hashlib.sha256()
    here = pathlib.Path(__file__).resolve().parent
    for name in ("perfdb.py", "steady.py", "simulator.py", "replica.py", "workload.py", "engines.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _settings() -> dict:
    return {
        "fractions": LOAD_FRACTIONS,
        "bisections": BISECTIONS,
        "min_n": MIN_REQUESTS,
        "max_n": MAX_REQUESTS,
        "growth": GROWTH,
        "hopeless": HOPELESS,
        "min_unconverged": MIN_UNCONVERGED,
        "min_span": MIN_SPAN,
        "sat_n": SATURATION_REQUESTS,
        "warmup": WARMUP_FRACTION,
        "rel_tol": REL_TOL,
        "p_tol": P_TOL,
        "batches": BATCHES,
        "confidence": CONFIDENCE,
        "cap": LATENCY_CAP_S,
        "levels": QUANTILE_LEVELS,
    }


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
    backend: str = "process",
    engine: str | None = None,
) -> PerfDB:
    """Build (or load from cache) the DB for every feasible config of ``models`` x ``gpus``.

    Args:
        max_gpus_per_replica: per GPU type, the most GPUs one replica may use (its
            availability); larger configs are skipped.
        workers: processes for the cold build (default: all cores).
        progress: called with (done, total) as configs finish.
        backend: ``process`` (a local process pool) or ``ray`` (tasks on the Ray cluster
            that ``ray.init`` connects to; needs ``pip install 'boute[ray]'``). Same results.
        engine: engine profile name (engine/engines.py; default vllm-v1), part of every
            config and of the cache key.
    """
    import time

    from boute.engine.engines import get_profile

    profile = get_profile(engine)

    if backend not in BACKENDS:
        raise InputError(f"backend: {backend!r} is not a perf DB backend", hint=f"use one of {', '.join(BACKENDS)}")
    t0 = time.perf_counter()
    max_len = workload.max_model_len
    jobs = []
    for llm in models:
        # Only the precisions this model can be deployed in (int4 needs its pre-quantized checkpoint).
        dtypes = servable_weight_dtypes(llm, weight_dtypes)
        for gpu in gpus:
            cap = (max_gpus_per_replica or {}).get(gpu.name)
            for cfg, _mem in candidate_configs(llm, gpu, weight_dtypes=dtypes, max_model_len=max_len, max_gpus=cap, engine=profile.name):
                jobs.append((llm, gpu, cfg, workload, max_len, seed))
    key = _digest(
        {
            "v": FORMAT_VERSION,
            "code": _code_version(),
            "jobs": [(attrs.asdict(j[0]), attrs.asdict(j[1]), attrs.asdict(j[2])) for j in jobs],
            "workload": attrs.asdict(workload),
            "seed": seed,
            "settings": _settings(),
            "engine": profile.identity(),
        }
    )
    path = cache_dir() / f"perfdb-{key[:24]}.json"
    if use_cache:
        cached = _read_cache(path, key)
        if cached is not None:
            curves = {r["key"]: _curve(r, jobs) for r in cached}
            return PerfDB(
                curves=curves, workload=workload.name, max_model_len=max_len, key=key, build_s=time.perf_counter() - t0, from_cache=True
            )
    if backend == "ray":
        results = _run_ray(jobs, progress)
    else:
        results = _run_local(jobs, workers, progress)
    if use_cache:
        _write_cache(path, key, results)
    curves = {r["key"]: _curve(r, jobs) for r in results}
    return PerfDB(curves=curves, workload=workload.name, max_model_len=max_len, key=key, build_s=time.perf_counter() - t0)


def _run_local(jobs, workers, progress) -> list[dict]:
    n_workers = workers or os.cpu_count() or 1
    out: list[dict | None] = [None] * len(jobs)
    if n_workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=min(n_workers, len(jobs))) as pool:
            futs = {pool.submit(_simulate_config, j): i for i, j in enumerate(jobs)}
            for done, fut in enumerate(as_completed(futs), 1):
                out[futs[fut]] = fut.result()
                if progress:
                    progress(done, len(jobs))
    else:
        for i, j in enumerate(jobs):
            out[i] = _simulate_config(j)
            if progress:
                progress(i + 1, len(jobs))
    return out  # type: ignore[return-value]


def _run_ray(jobs, progress) -> list[dict]:
    try:
        import ray
    except ImportError:
        raise InputError("backend: 'ray' needs the ray package", hint="pip install 'boute[ray]', or use backend='process'") from None
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    task = ray.remote(_simulate_config)
    refs = [task.remote(j) for j in jobs]
    index = {r: i for i, r in enumerate(refs)}
    out: list[dict | None] = [None] * len(jobs)
    pending, done = list(refs), 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for r in ready:
            out[index[r]] = ray.get(r)
            done += 1
            if progress:
                progress(done, len(jobs))
    return out  # type: ignore[return-value]


def _curve(r: dict, jobs) -> ConfigCurve:
    cfg = next(j[2] for j in jobs if j[2].key == r["key"])
    q = {m: {float(lv): tuple(v) for lv, v in row.items()} for m, row in r["q"].items()}
    return ConfigCurve(
        config=cfg,
        kv_capacity_tokens=int(r["kv"]),
        max_model_len=int(jobs[0][4]),
        rates_rps=tuple(r["rates"]),
        p95_s=tuple(r["p95"]),
        mean_s=tuple(r["mean"]),
        ttft_mean_s=tuple(r["ttft_mean"]),
        tpot_mean_s=tuple(r["tpot_mean"]),
        p95_point_s=tuple(r["p95_point"]),
        p95_halfwidth_s=tuple(r["p95_hw"]),
        p95_halfwidth_p=tuple(r["p95_hwp"]),
        converged=tuple(bool(x) for x in r["conv"]),
        quantiles_s=q,
        saturation_rps=float(r["sat"]),
        requests=tuple(int(x) for x in r["n"]),
        excluded=tuple((float(a), str(b)) for a, b in r["excluded"]),
    )


def _read_cache(path: pathlib.Path, key: str):
    try:
        doc = json.loads(path.read_text())
        payload = doc["payload"]
        if doc.get("key") != key or doc.get("checksum") != _digest(payload):
            log.warning("perf DB cache %s is stale or corrupt; rebuilding", path)
            return None
        return payload
    except (FileNotFoundError, NotADirectoryError):  # no cache yet (an unusable folder is reported on write)
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
    except OSError as exc:  # a read-only home must not stop planning; say so once per folder
        if str(path.parent) not in _UNWRITABLE_WARNED:
            _UNWRITABLE_WARNED.add(str(path.parent))
            log.warning(
                "cannot write the perf DB cache under %s (%s): it is rebuilt on every run; set BOUTE_CACHE_DIR to a writable folder",
                path.parent,
                exc.strerror or exc,
            )


_UNWRITABLE_WARNED: set[str] = set()
