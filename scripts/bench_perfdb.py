#!/usr/bin/env python3
"""Benchmark: build the default scenario's performance DB cold, then load it from cache.

Writes ``results/perfdb.json`` and the perf-DB section of ``docs/performance.md``.
Targets (issue): cold build <= 30 s on 2 cores, cache load <= 1 s (medians of 5 runs).

    python scripts/bench_perfdb.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from _perfdoc import update_section  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from boute.engine import default_scenario, load_catalog
    from boute.engine.perfdb import LOAD_FRACTIONS, SIM_REQUESTS, build_perfdb
    from boute.engine.workload import get_workload

    cat = load_catalog()
    sc = default_scenario(cat)
    models = [cat.model(m) for m in sc.models]
    gpus = [cat.gpu(g) for g in sc.gpus]
    cold, warm = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            os.environ["BOUTE_CACHE_DIR"] = d
            t = time.perf_counter()
            db = build_perfdb(models, gpus, get_workload(sc.workload), max_gpus_per_replica=sc.gpus)
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            db2 = build_perfdb(models, gpus, get_workload(sc.workload), max_gpus_per_replica=sc.gpus)
            warm.append(time.perf_counter() - t)
            assert db2.from_cache and db2.curves == db.curves
    res = {"configs": len(db.curves), "load_points": len(LOAD_FRACTIONS), "requests_per_point": SIM_REQUESTS,
           "simulations": len(db.curves) * len(LOAD_FRACTIONS), "cold_s": cold, "warm_s": warm,
           "cold_median_s": statistics.median(cold), "warm_median_s": statistics.median(warm), "cores": os.cpu_count()}
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "perfdb.json").write_text(json.dumps(res, indent=1))
    print(f"perf DB: {res['configs']} configs x {res['load_points']} loads = {res['simulations']} simulations of {SIM_REQUESTS} requests; "
          f"cold median {res['cold_median_s']:.2f} s, cache load median {res['warm_median_s'] * 1e3:.1f} ms ({args.runs} runs, {res['cores']} cores)")
    rows = "\n".join(f"| {c.config.key} | {c.kv_capacity_tokens} | " + " | ".join(f"{c.capacity(t):.2f}" for t in (2, 5, 10, 20)) + " |"
                     for c in db.curves.values())
    update_section("perfdb", f"""## Performance DB (`python scripts/bench_perfdb.py`)

Default scenario (2 models x 4 GPU types, every feasible TP/PP): {res['configs']} replica configs x
{res['load_points']} load points = {res['simulations']} stage-2 simulations of {SIM_REQUESTS} requests each.

| | median of {args.runs} | runs (s) | target |
|---|---:|---|---|
| cold build, {res['cores']} cores | {res['cold_median_s']:.2f} s | {', '.join(f'{x:.2f}' for x in cold)} | <= 30 s |
| load from cache | {res['warm_median_s'] * 1e3:.1f} ms | {', '.join(f'{x * 1e3:.1f} ms' for x in warm)} | <= 1 s |

The DB as a table (`boute perfdb`): capacity in req/s of one replica at a P95 target.

| config | KV tokens | cap @ 2 s | cap @ 5 s | cap @ 10 s | cap @ 20 s |
|---|---:|---:|---:|---:|---:|
{rows}
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
