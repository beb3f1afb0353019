#!/usr/bin/env python3
"""Benchmark: the steady-state performance DB — build time, the capacity table, and its
capacities checked against long runs.

1. The default scenario's DB built cold, then loaded from cache (medians of ``--runs``).
   Targets (issue 12): cold build <= 30 s on 2 cores, cache load <= 1 s.
2. Long-context scenarios (issue 18 item 6): the default scenario's 2 models x 4 GPU types
   on ``azure-conv`` and ``azure-code``, built cold once each. Target: <= 60 s on 2 cores.
3. Capacity vs long-run truth (issue 12's two examples): a replica is run with
   ``--truth-requests`` requests on a fresh seed at the DB's capacity for T, and at the
   capacity the previous DB listed; the long run's P95 is compared with T.

Writes ``results/perfdb.json`` and the perf-DB section of ``docs/performance.md``.

    python scripts/bench_perfdb.py [--runs 5] [--truth-requests 24000] [--skip-long]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from _perfdoc import update_section  # noqa: E402

# Issue 12's examples: (workload, config key, latency target T (s), capacity the first
# perf DB (1,200 requests per point, 120 %-of-saturation clamp) listed at T, capacity the
# value-scale steady-state DB listed (main d32aeb4, results/perfdb.json of that commit:
# points kept only when the P95's value interval converged)).
EXAMPLES = (
    ("gsm8k", "Llama-3.1-8B@H100-SXM:tp2pp1:bf16/bf16", 10.0, 60.28, 43.75),
    ("mt-bench", "Llama-3.1-70B@H100-SXM:tp8pp1:bf16/bf16", 15.0, 49.3, 32.72),
)
TRUTH_SEED = 20261129


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the build's worker pool)."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _build(models, gpus, workload, sc, cache: bool, cpu: list | None = None):
    from boute.engine.perfdb import build_perfdb

    t, c = time.perf_counter(), _cpu_s()
    db = build_perfdb(models, gpus, workload, max_gpus_per_replica=sc.gpus, seed=sc.seed, use_cache=cache)
    if cpu is not None:
        cpu.append(_cpu_s() - c)
    return db, time.perf_counter() - t


def _long_run(cat, curve, workload, rate: float, n: int) -> dict:
    """P95 (and CI) of a long run of one replica at ``rate`` on a fresh seed."""
    from boute.engine.replica import ReplicaModel
    from boute.engine.simulator import simulate_replica
    from boute.engine.steady import estimate_quantile

    cfg = curve.config
    rm = ReplicaModel(cat.model(cfg.model), cat.gpu(cfg.gpu), cfg, max_model_len=curve.max_model_len)
    t = time.perf_counter()
    res = simulate_replica(rm, workload.stream(rate, n, TRUTH_SEED), kv_capacity_tokens=curve.kv_capacity_tokens, warmup_fraction=0.0)
    est = estimate_quantile(res.e2e_s, 0.95)  # e2e_s is in arrival order
    return {
        "rate_rps": rate,
        "requests": n,
        "p95_s": est.value_s,
        "p95_lo_s": est.lo_s,
        "p95_hi_s": est.hi_s,
        "converged": est.converged,
        "completed": res.completed,
        "sim_s": time.perf_counter() - t,
    }


def _true_capacity(cat, curve, workload, T: float, lo: float, hi: float, n: int, steps: int = 7) -> float:
    """Largest rate whose long-run P95 point estimate is <= T, by bisection on [lo, hi]."""
    if lo <= 0 or _long_run(cat, curve, workload, lo, n)["p95_s"] > T:
        return lo
    for _ in range(steps):
        mid = (lo + hi) / 2
        if _long_run(cat, curve, workload, mid, n)["p95_s"] <= T:
            lo = mid
        else:
            hi = mid
    return lo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--truth-requests", type=int, default=24000)
    ap.add_argument("--skip-long", action="store_true", help="skip the long-context build timings")
    ap.add_argument("--note", default="", help="a sentence on the machine's state (e.g. 'loaded by other jobs'), printed in the doc")
    ap.add_argument("--render-only", action="store_true", help="rewrite the doc section from results/perfdb.json without running")
    args = ap.parse_args()
    if args.render_only:
        res = json.loads((ROOT / "results" / "perfdb.json").read_text())
        _doc(res, len(res["cold_s"]))
        return 0
    from boute.engine import default_scenario, load_catalog
    from boute.engine import perfdb as P
    from boute.engine.workload import get_workload

    cat = load_catalog()
    sc = default_scenario(cat)
    models = [cat.model(m) for m in sc.models]
    gpus = [cat.gpu(g) for g in sc.gpus]
    cold, warm, cold_cpu = [], [], []
    old_cache = os.environ.get("BOUTE_CACHE_DIR")
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            os.environ["BOUTE_CACHE_DIR"] = d
            db, t_cold = _build(models, gpus, get_workload(sc.workload), sc, True, cold_cpu)
            db2, t_warm = _build(models, gpus, get_workload(sc.workload), sc, True)
            cold.append(t_cold)
            warm.append(t_warm)
            assert db2.from_cache and db2.curves == db.curves
    long_ctx = {}
    if not args.skip_long:
        for w in ("azure-conv", "azure-code"):
            lcpu: list = []
            ldb, t = _build(models, gpus, get_workload(w), sc, False, lcpu)
            long_ctx[w] = {
                "configs": len(ldb.curves),
                "converged_points": sum(sum(c.converged) for c in ldb.curves.values()),
                "configs_with_points": sum(1 for c in ldb.curves.values() if c.rates_rps),
                "cold_s": t,
                "cpu_s": lcpu[0],
                "kept_points": sum(len(c.rates_rps) for c in ldb.curves.values()),
                "requests": sum(sum(c.requests) for c in ldb.curves.values()),
            }
            print(f"{w}: {len(ldb.curves)} configs cold in {t:.1f} s", flush=True)
    if old_cache is not None:
        os.environ["BOUTE_CACHE_DIR"] = old_cache
    else:
        os.environ.pop("BOUTE_CACHE_DIR", None)

    truth = []
    for wname, key, T, old_cap, value_cap in EXAMPLES:
        wl = get_workload(wname)
        edb = db if wname == sc.workload else _build(models, gpus, wl, sc, True)[0]
        c = edb.curves[key]
        new_cap = c.capacity(T)
        row = {
            "workload": wname,
            "config": key,
            "T_s": T,
            "old_capacity_rps": old_cap,
            "value_scale_capacity_rps": value_cap,
            "new_capacity_rps": new_cap,
            "saturation_rps": c.saturation_rps,
            "db_p95_ucb_at_new_s": c.p95_s[c.rates_rps.index(new_cap)] if new_cap in c.rates_rps else None,
            "at_new": _long_run(cat, c, wl, new_cap, args.truth_requests) if new_cap > 0 else None,
            "at_old": _long_run(cat, c, wl, old_cap, args.truth_requests),
            "long_run_capacity_rps": _true_capacity(cat, c, wl, T, new_cap, min(old_cap, c.saturation_rps), args.truth_requests),
        }
        row["conservative_by"] = 1.0 - new_cap / row["long_run_capacity_rps"] if row["long_run_capacity_rps"] > 0 else None
        row["value_scale_conservative_by"] = 1.0 - value_cap / row["long_run_capacity_rps"] if row["long_run_capacity_rps"] > 0 else None
        truth.append(row)
        print(
            f"{key} ({wname}), T = {T:g} s: old {old_cap} req/s -> long-run P95 {row['at_old']['p95_s']:.1f} s; "
            f"new {new_cap:.2f} req/s -> long-run P95 {row['at_new']['p95_s']:.2f} s; long-run capacity {row['long_run_capacity_rps']:.2f}",
            flush=True,
        )

    curves = list(db.curves.values())
    res = {
        "configs": len(curves),
        "kept_points": sum(len(c.rates_rps) for c in curves),
        "converged_points": sum(sum(c.converged) for c in curves),
        "excluded_points": sum(len(c.excluded) for c in curves),
        "requests_kept_points": sum(sum(c.requests) for c in curves),
        "requests_per_kept_point": {
            "min": min(min(c.requests) for c in curves),
            "median": statistics.median([r for c in curves for r in c.requests]),
            "max": max(max(c.requests) for c in curves),
        },
        "settings": P._settings(),
        "cold_s": cold,
        "warm_s": warm,
        "cold_median_s": statistics.median(cold),
        "cold_cpu_s": cold_cpu,
        "cold_cpu_median_s": statistics.median(cold_cpu),
        "warm_median_s": statistics.median(warm),
        "cores": os.cpu_count(),
        "long_context": long_ctx,
        "truth": truth,
        "note": args.note,
        "table": [
            {
                "config": c.config.key,
                "kv_tokens": c.kv_capacity_tokens,
                "saturation_rps": c.saturation_rps,
                "rates_rps": c.rates_rps,
                "p95_ucb_s": c.p95_s,
                "p95_point_s": c.p95_point_s,
                "p95_halfwidth_s": c.p95_halfwidth_s,
                "p95_halfwidth_p": c.p95_halfwidth_p,
                "converged": c.converged,
                "requests": c.requests,
                "excluded": c.excluded,
            }
            for c in curves
        ],
    }
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "perfdb.json").write_text(json.dumps(res, indent=1))
    print(
        f"perf DB: {res['configs']} configs, {res['kept_points']} kept points ({res['excluded_points']} excluded); "
        f"cold median {res['cold_median_s']:.2f} s, cache load median {res['warm_median_s'] * 1e3:.1f} ms ({args.runs} runs, {res['cores']} cores)"
    )
    _doc(res, args.runs)
    return 0


def _doc(res: dict, runs: int) -> None:
    s = res["settings"]
    rq = res["requests_per_kept_point"]
    rows = "\n".join(
        f"| {r['config']} | {r['kv_tokens']} | {r['saturation_rps']:.2f} | {len(r['rates_rps'])} | "
        f"{r['rates_rps'][-1] / r['saturation_rps']:.0%} | " + " | ".join(f"{_cap(r, t):.2f}" for t in (2, 5, 10, 20)) + " |"
        for r in res["table"]
    )
    lc = "\n".join(
        f"| {w} | {v['configs']} | {v.get('configs_with_points', '')} | {v['kept_points']} | {v.get('converged_points', '')} | "
        f"{v['requests']:,} | {v['cold_s']:.1f} s | {v['cpu_s']:.1f} s | <= 60 s |"
        for w, v in res["long_context"].items()
    )
    truth = "\n".join(
        f"| {t['config']} ({t['workload']}) | {t['T_s']:g} s | {t['old_capacity_rps']:.2f} | {t['at_old']['p95_s']:.1f} s | "
        f"{t.get('value_scale_capacity_rps', float('nan')):.2f} | "
        f"{t['new_capacity_rps']:.2f} | {t['at_new']['p95_s']:.2f} s [{t['at_new']['p95_lo_s']:.2f}, {t['at_new']['p95_hi_s']:.2f}] | "
        f"{t['long_run_capacity_rps']:.2f} | {_pct(t.get('value_scale_conservative_by'))} | {_pct(t.get('conservative_by'))} | {t['saturation_rps']:.2f} |"
        for t in res["truth"]
        if t["at_new"]
    )
    note = f"\n\nMachine state: {res['note']}" if res["note"] else ""
    empty = [w for w, v in res["long_context"].items() if v["kept_points"] == 0]
    gap = ""
    for w in empty:
        gap += f"\n\n{w}: no config has a kept load point (an open limitation of this run)."
    conv = res.get("converged_points", res["kept_points"])
    update_section(
        "perfdb",
        f"""## Performance DB (`python scripts/bench_perfdb.py`)

Each point of the DB is a steady-state estimate (`engine/steady.py`). Warm-up: {s["warmup"]:.0%} of
the requests, or more where MSER-5 sees the run still filling up. The P95's {s["confidence"]:.0%}
confidence interval is computed on the probability scale: for every threshold t, the batch means
of 1{{latency <= t}} over up to {s.get("batches", 20)} time-contiguous batches give P(latency <= t) with a
Student-t interval; inverting that test gives the quantile's interval, whose upper end (UCB) is
the smallest t with "P(latency > t) <= 5 %" at {s["confidence"]:.0%} confidence. The run is extended
({s["min_n"]:,} requests, then x{s["growth"]}, at most {s["max_n"]:,}) until the interval converges
(P(latency <= estimate) known to +-{s.get("p_tol", 0.01) * 100:g} percentage points, or the value
half-width <= {s["rel_tol"]:.0%}). A point is kept when it is stable (no significant growth of latency
or queue over the run, no request waiting > {s["cap"]:g} s, rate below the replica's sustainable
throughput measured by a saturated run) and its interval is valid (batch means pass a lag-1
independence test, and the run after warm-up spans at least {s.get("min_span", 0):g} P95 latencies: a
short run at high load looks stable while the queue is still filling); near saturation a point
that does not converge within the cap is kept after at least {s.get("min_unconverged", 0):,} requests
with its wider UCB, which is still a sound bound (a load is admissible at T when the UCB of
P(latency > T) is <= 5 %; requiring convergence, as before, stopped capacities where the estimate
stopped converging). Loads: a ladder of {len(s["fractions"])} fractions of the sustainable throughput
up to {max(s["fractions"]):.0%} (closer to saturation a capped run understates the steady state: at 98 %
on 8B/H100 TP2 a 20,000-request point's UCB was 9.6 s where 60,000-request runs give 11.0-12.0 s),
stopped at the first excluded point, then {s["bisections"]} bisection steps towards it. The curves are monotone envelopes
of the UCBs; capacity at T is the largest kept load whose P95 UCB is <= T (linear between two kept
points), never beyond the last kept point.

Default scenario (2 models x 4 GPU types, every feasible TP/PP): {res["configs"]} replica configs,
{res["kept_points"]} kept points ({conv} converged, {res["excluded_points"]} simulated points excluded),
{res["requests_kept_points"]:,} requests simulated for the kept points (per kept point: min
{rq["min"]:,}, median {rq["median"]:,.0f}, max {rq["max"]:,}).

| | median of {runs} | runs (s) | target |
|---|---:|---|---|
| cold build, {res["cores"]} cores | {res["cold_median_s"]:.2f} s | {", ".join(f"{x:.2f}" for x in res["cold_s"])} | <= 30 s |
| CPU time of the cold build (all processes) | {res["cold_cpu_median_s"]:.1f} s | {", ".join(f"{x:.1f}" for x in res["cold_cpu_s"])} | |
| load from cache | {res["warm_median_s"] * 1e3:.1f} ms | {", ".join(f"{x * 1e3:.1f} ms" for x in res["warm_s"])} | <= 1 s |

Long-context workloads, same 2 models x 4 GPU types, one cold build each (azure-code's output
lengths jump from ~100 tokens at their 95th percentile to ~450 at the 96th, so its end-to-end P95
sits in a gap of the distribution: the value-scale interval used before never converged there and
kept 3 points over 30 configs):

| workload | configs | configs with points | kept points | converged | requests | cold build | CPU time | target |
|---|---:|---:|---:|---:|---:|---:|---:|---|
{lc}{gap}

Capacity against a long run ({res["truth"][0]["at_new"]["requests"]:,} requests of one replica on a fresh
seed, P95 with its 95 % interval): the first DB's listing (1,200 requests per point, capacity up
to a 120 % clamp of an estimated saturation rate), the value-scale steady-state DB's capacity
(points kept only when the P95's value interval converged), this DB's capacity, and the long-run
capacity (largest rate whose long-run P95 estimate is <= T, 7 bisection steps of long runs): the
DB's capacity should lie below it; "conservative by" is 1 - capacity / long-run capacity.

| config (workload) | T | first listing (req/s) | long-run P95 there | value-scale DB (req/s) | this DB (req/s) | long-run P95 there | long-run capacity (req/s) | value-scale conservative by | this DB conservative by | sustainable (req/s) |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{truth}

The DB as a table (`boute perfdb`): sustainable throughput, kept points, the last kept load as
a share of the sustainable throughput, and capacity in req/s of one replica at a P95 target.

| config | KV tokens | sustainable (req/s) | kept points | last kept | cap @ 2 s | cap @ 5 s | cap @ 10 s | cap @ 20 s |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
{rows}{note}
""",
    )


def _pct(x) -> str:
    return "" if x is None else f"{x:.1%}"


def _cap(r: dict, t: float) -> float:
    from boute.engine.problem import capacity_at

    return capacity_at(r["rates_rps"], r["p95_ucb_s"], t) if r["rates_rps"] else 0.0


if __name__ == "__main__":
    sys.exit(main())
