#!/usr/bin/env python3
"""Soundness benchmark: does a returned plan keep its latency promise on a fresh run?

Plans ``--n`` random feasible scenarios (both objectives, loads spread up to what the GPUs
can serve, 2-3 models, several GPU mixes and two workloads), then re-simulates every
returned plan as a whole system (router split, weighted-random dispatch, every replica)
with ``--requests`` requests per model on a seed the planner never saw, and compares each
model's P95 (the pooled P95 for ``latency_metric: system`` scenarios) with the plan's
promised bound. Target (issue 12): no plan exceeds a promised P95 by more than 5 %.

Scenarios sharing a GPU mix, model set and workload share one perf DB (built once, cached
on disk under ``$BOUTE_CACHE_DIR``). Quality data is a generated per-query CSV written by
this script (synthetic correctness with accuracies ordered by model size; the benchmark is
about latency, so only the ordering matters): the planner reads it like any user's file.

Writes ``results/soundness.json`` and ``docs/verification.md``.

    python scripts/bench_soundness.py            # 100 scenarios, 20,000 requests per model
    python scripts/bench_soundness.py --quick    # CI-sized smoke run (4 scenarios, one DB)
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import pathlib
import platform
import subprocess
import tempfile
import time

import attrs
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]

# GPU mixes (availability per type; prices from the runpod price set).
MIXES = {
    "H100+4090": {"H100-SXM": 8, "RTX-4090": 8},
    "A100+L40S": {"A100-80GB-SXM": 8, "L40S": 8},
    "H200+PRO6000": {"H200": 4, "RTX-PRO-6000": 8},
}
# (mix, models cheapest first, workload): one perf DB each.
GROUPS = (
    ("H100+4090", ("Llama-3.1-8B", "Llama-3.1-70B"), "gsm8k"),
    ("A100+L40S", ("Qwen2.5-7B", "Qwen2.5-72B"), "mt-bench"),
    ("H200+PRO6000", ("Mistral-7B", "Mixtral-8x7B"), "gsm8k"),
    ("H100+4090", ("Qwen3-8B", "Qwen3-32B", "Llama-3.1-70B"), "mt-bench"),
)
# Synthetic accuracies (percent) for the generated quality file: ordered by model size only.
# They are NOT published figures; the benchmark measures latency, not quality.
SYNTHETIC_ACCURACY = {
    "Llama-3.1-8B": 80.0,
    "Qwen2.5-7B": 81.0,
    "Qwen3-8B": 83.0,
    "Mistral-7B": 72.0,
    "Mixtral-8x7B": 80.0,
    "Qwen3-32B": 89.0,
    "Llama-3.1-70B": 93.0,
    "Qwen2.5-72B": 93.0,
}
TOLERANCE = 0.05
"""A plan fails the benchmark when a fresh run's P95 exceeds its promise by more than 5 %."""


def write_quality_csv(path: pathlib.Path, models: tuple[str, ...], seed: int) -> None:
    """Per-query 0/1 correctness for ``models`` (the calibrated generator's joint model)."""
    from boute.engine.quality import calibrated_gsm8k

    table = calibrated_gsm8k(models, tuple(SYNTHETIC_ACCURACY[m] for m in models), seed=seed)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(models)
        for row in table.quality:
            w.writerow([int(v >= 50) for v in row])


def max_rate(planner, shares, scale_hi: float = 1e4) -> float:
    """Highest total arrival rate at which the inner problem at ``shares`` is feasible
    (bisection on the rate; feasibility is monotone in it)."""
    from boute.engine.problem import ModelDemand, solve_problem

    base = planner.problem(shares)
    rate0 = planner.scenario.arrival_rate_per_s

    def ok(rate: float) -> bool:
        demands = tuple(
            ModelDemand(model=d.model, load_rps=d.load_rps * rate / rate0, options=d.options, budget_usd_per_hour=d.budget_usd_per_hour)
            for d in base.demands
        )
        return solve_problem(attrs.evolve(base, demands=demands), planner.solver).ok

    lo, hi = 0.0, 1.0
    while ok(hi) and hi < scale_hi:
        lo, hi = hi, hi * 2
    for _ in range(14):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def scenario_dict(index: int, mix: str, models, workload: str, qfile: pathlib.Path, objective: str, metric: str) -> dict:
    return {
        "name": f"sound-{index:03d}",
        "gpus": dict(MIXES[mix]),
        "price_set": "runpod",
        "models": list(models),
        "workload": workload,
        "arrival_rate_per_s": 1.0,
        "quality": {"data": str(qfile), "router": "noisy", "auc": 0.8},
        "objective": objective,
        "latency_metric": metric,
        "seed": index,
        "max_trials": 8,
        "stall_trials": 6,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100, help="feasible scenarios to plan")
    ap.add_argument("--requests", type=int, default=20_000, help="requests per model in the fresh re-simulation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="CI-sized: 4 scenarios, one perf DB, 4,000 requests")
    ap.add_argument("--out", type=pathlib.Path, default=ROOT, help="folder that receives results/ and docs/")
    ap.add_argument("--render-doc", action="store_true", help="only rewrite docs/verification.md from results/soundness.json")
    args = ap.parse_args()
    if args.render_doc:
        res = json.loads((args.out / "results" / "soundness.json").read_text())
        (args.out / "docs" / "verification.md").write_text(render_doc(res))
        return 0
    if args.quick:
        args.n, args.requests = 4, 4000

    from boute.engine import InfeasibleError, load_catalog
    from boute.engine.planner import Planner
    from boute.engine.scenario import Scenario
    from boute.engine.verify import Promise, resimulate

    commit = _commit()  # what the run measures (taken before it starts)
    cat = load_catalog()
    rng = np.random.default_rng(args.seed)
    groups = GROUPS[:1] if args.quick else GROUPS
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="boute-soundness-"))
    t_all = time.perf_counter()
    shared: dict[int, tuple] = {}
    rows, skipped = [], []
    attempts = 0
    while len(rows) < args.n and attempts < 4 * args.n:
        g = attempts % len(groups)
        attempts += 1
        mix, models, workload = groups[g]
        objective = "cost" if attempts % 2 else "latency"
        metric = "system" if attempts % 5 == 0 else "per-model"
        idx = attempts
        if g not in shared:
            qfile = tmp / f"quality-{g}.csv"
            write_quality_csv(qfile, models, seed=args.seed + g)
            probe = Scenario.from_dict({**scenario_dict(0, mix, models, workload, qfile, "cost", "per-model"), "latency_slo_s": 30.0}, cat)
            t0 = time.perf_counter()
            pl0 = Planner(probe, cat)
            shared[g] = (qfile, pl0.perfdb, pl0.table, round(time.perf_counter() - t0, 2))
            print(
                f"perf DB {mix} {'+'.join(models)} {workload}: {len(pl0.perfdb.curves)} configs, "
                f"{'cache' if pl0.perfdb.from_cache else 'built'} in {shared[g][3]} s",
                flush=True,
            )
        qfile, db, table, _ = shared[g]
        d = scenario_dict(idx, mix, models, workload, qfile, objective, metric)
        # A routing that meets the quality target: random shares; the target is their quality.
        k = len(models)
        s0 = rng.dirichlet(np.ones(k))
        probe = Planner(Scenario.from_dict({**d, "objective": "cost", "latency_slo_s": 30.0}, cat), cat, perfdb=db, quality_table=table)
        d["quality_min"] = round(float(probe.router.quality(s0)) - 0.05, 3)
        if objective == "cost":
            floor = max(min(c.p95_s[0] for c in db.for_model(m)) for m in models if db.for_model(m))
            d["latency_slo_s"] = round(float(floor * rng.uniform(1.5, 8.0)), 3)
        else:
            full = sum(n * d2 for g2, n in MIXES[mix].items() for d2 in [cat.price(g2, "runpod").usd_per_gpu_hour])
            d["budget_usd_per_hour"] = round(float(full * rng.uniform(0.3, 1.0)), 2)
        sizing = Planner(Scenario.from_dict(d, cat), cat, perfdb=db, quality_table=table)
        top = max_rate(sizing, s0)
        if not top > 0:
            skipped.append({"scenario": d["name"], "reason": "no load is servable at the drawn target"})
            continue
        load_frac = float(rng.uniform(0.1, 1.0))
        d["arrival_rate_per_s"] = round(top * load_frac, 4) or 1e-3
        sc = Scenario.from_dict(d, cat)
        planner = Planner(sc, cat, perfdb=db, quality_table=table)
        t0 = time.perf_counter()
        try:
            plan = planner.plan(strategy="random", baselines=False)
        except InfeasibleError as exc:
            skipped.append(
                {
                    "scenario": d["name"],
                    "objective": objective,
                    "load_fraction": load_frac,
                    "reason": exc.one_line()[:300],
                    "latency_refusal": "latency re-simulation" in exc.one_line(),
                }
            )
            continue
        plan_s = time.perf_counter() - t0
        counts = {
            dep.model: {gr.config: (planner.config_of(gr.config), gr.replicas) for gr in dep.groups}
            for dep in plan.deployments
            if dep.groups
        }
        weights = {dep.model: {gr.config: gr.capacity_rps_at_bound for gr in dep.groups} for dep in plan.deployments if dep.groups}
        levels = {dep.model: dep.quantile_level for dep in plan.deployments}
        promise = Promise(bound_s=plan.p95_bound_s, latency_metric=plan.latency_metric, levels=levels)
        t0 = time.perf_counter()
        fresh = resimulate(
            sc,
            cat,
            planner.workload,
            plan.shares,
            counts,
            weights,
            db.max_model_len,
            promise=promise,
            n_requests=args.requests,
            max_requests=args.requests,
            seed=1_000_003 + idx,
        )
        fresh_s = time.perf_counter() - t0
        if plan.latency_metric == "system":
            measured = {"(all requests)": fresh.system["p95_s"]}
            at_verify = {"(all requests)": plan.simulated.p95_s}
        else:
            measured = {m: v["p95_s"] for m, v in fresh.per_model.items()}
            at_verify = {dep.model: dep.simulated.p95_s for dep in plan.deployments if dep.simulated}
        ratio = max(v / plan.p95_bound_s for v in measured.values())
        rows.append(
            {
                "scenario": d["name"],
                "mix": mix,
                "models": list(models),
                "workload": workload,
                "objective": objective,
                "latency_metric": metric,
                "arrival_rate_per_s": d["arrival_rate_per_s"],
                "load_fraction_of_max": round(load_frac, 3),
                "max_rate_rps": round(top, 4),
                "shares": [round(x, 4) for x in plan.shares],
                "bound_s": plan.p95_bound_s,
                "cost_usd_per_hour": plan.cost_usd_per_hour,
                "derate_rounds": plan.stats.derate_rounds,
                "p95_at_verification_s": at_verify,
                "p95_fresh_s": measured,
                "worst_ratio": ratio,
                "fresh_requests": fresh.requests,
                "exceeds_5pct": ratio > 1 + TOLERANCE,
                "exceeds_bound": ratio > 1.0,
                "plan_s": round(plan_s, 2),
                "fresh_resim_s": round(fresh_s, 2),
            }
        )
        print(
            f"{d['name']} {objective:7s} {metric:9s} {mix:12s} load {load_frac:4.2f} of {top:7.2f} req/s: bound {plan.p95_bound_s:7.2f} s, "
            f"fresh worst {ratio:5.3f} x bound, derate rounds {plan.stats.derate_rounds}, plan {plan_s:.1f} s",
            flush=True,
        )
    wall = time.perf_counter() - t_all
    ratios = np.array([r["worst_ratio"] for r in rows]) if rows else np.array([math.nan])
    summary = {
        "scenarios_planned": len(rows),
        "attempts": attempts,
        "infeasible_or_refused": len(skipped),
        "refused_by_latency_check": sum(1 for s in skipped if s.get("latency_refusal")),
        "exceeding_5pct": int(sum(r["exceeds_5pct"] for r in rows)),
        "exceeding_bound": int(sum(r["exceeds_bound"] for r in rows)),
        "worst_ratio": float(np.max(ratios)),
        "median_ratio": float(np.median(ratios)),
        "p90_ratio": float(np.quantile(ratios, 0.9)),
        "derated_plans": int(sum(r["derate_rounds"] > 0 for r in rows)),
        "by_objective": {o: int(sum(r["objective"] == o for r in rows)) for o in ("latency", "cost")},
        "by_metric": {m: int(sum(r["latency_metric"] == m for r in rows)) for m in ("per-model", "system")},
        "requests_per_model": args.requests,
        "wall_s": round(wall, 1),
        "perf_dbs": [
            {
                "mix": groups[g][0],
                "models": list(groups[g][1]),
                "workload": groups[g][2],
                "configs": len(v[1].curves),
                "build_or_load_s": v[3],
                "from_cache": v[1].from_cache,
            }
            for g, v in sorted(shared.items())
        ],
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "quick": args.quick,
        "commit": commit,
    }
    out = {"summary": summary, "plans": rows, "skipped": skipped}
    (args.out / "results").mkdir(parents=True, exist_ok=True)
    (args.out / "results" / "soundness.json").write_text(json.dumps(out, indent=1, default=float))
    (args.out / "docs").mkdir(parents=True, exist_ok=True)
    (args.out / "docs" / "verification.md").write_text(render_doc(out))
    print(
        f"\n{len(rows)} plans; {summary['exceeding_5pct']} exceed a promised P95 by > 5 % "
        f"({summary['exceeding_bound']} exceed it at all); worst {summary['worst_ratio']:.3f} x bound; "
        f"{summary['derated_plans']} plans derated; {len(skipped)} scenarios infeasible or refused; {wall:.0f} s"
    )
    return 0 if summary["exceeding_5pct"] == 0 else 1


def _commit() -> str | None:
    """The git commit the benchmark ran on (None outside a clone)."""
    try:
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
    except OSError:
        return None
    if r.returncode != 0:
        return None
    return r.stdout.strip() + ("+uncommitted changes" if dirty.stdout.strip() else "")


def render_doc(res: dict) -> str:
    s = res["summary"]
    dbs = "\n".join(
        f"| {d['mix']} | {', '.join(d['models'])} | {d['workload']} | {d['configs']} | {d['build_or_load_s']} |" for d in s["perf_dbs"]
    )
    worst = sorted(res["plans"], key=lambda r: -r["worst_ratio"])[:8]
    worst_rows = "\n".join(
        f"| {r['scenario']} | {r['objective']} | {r['latency_metric']} | {r['mix']} | {r['load_fraction_of_max']:.2f} | {r['bound_s']:.2f} | "
        f"{max(r['p95_fresh_s'].values()):.2f} | {r['worst_ratio']:.3f} | {r['derate_rounds']} |"
        for r in worst
    )
    fails = [r for r in res["plans"] if r["exceeds_5pct"]]
    fail_text = (
        "None: no returned plan exceeded a promised P95 by more than 5 % on the fresh run."
        if not fails
        else "\n".join(
            f"- {r['scenario']}: {r['worst_ratio']:.3f} x its bound {r['bound_s']:.2f} s "
            f"({r['objective']}, {r['latency_metric']}, {r['mix']}, load {r['load_fraction_of_max']:.2f} of max)"
            for r in fails
        )
    )
    over = [r for r in res["plans"] if r["exceeds_bound"] and not r["exceeds_5pct"]]
    if over:
        fail_text += (
            "\n\nPlans above their bound by less than 5 % (the tolerance exists for these: the verification's "
            "estimate and the fresh run's are two samples of the same P95, each with a 95 % interval of about +-5 %):\n\n"
            + "\n".join(
                f"- {r['scenario']}: bound {r['bound_s']:.2f} s; at verification "
                + ", ".join(f"{m} {v:.2f} s" for m, v in r["p95_at_verification_s"].items())
                + "; fresh run "
                + ", ".join(f"{m} {v:.2f} s" for m, v in r["p95_fresh_s"].items())
                + f" ({r['worst_ratio']:.3f} x bound)"
                for r in over
            )
        )
    refused = [x for x in res["skipped"] if x.get("latency_refusal")]
    quick = " (a `--quick` smoke run: too small to support the claim below)" if s["quick"] else ""
    commit = f" on commit `{s['commit']}`" if s.get("commit") else ""
    return f"""# Verification: is a plan's latency promise kept?

Figures from `results/soundness.json`, written by `python scripts/bench_soundness.py`{quick}{commit}.

## What a plan promises and how it is checked

A plan promises a latency bound T: every model's P95 end-to-end latency <= T (default,
`latency_metric: per-model`) or the P95 over all requests pooled <= T (`latency_metric:
system`), and, when the scenario sets them, P95 TTFT / TPOT within `ttft_slo_s` /
`tpot_slo_s`. The inner MILP guarantees it on the perf DB (each replica's load within its
capacity at T, read from upper confidence envelopes). Before a plan is returned,
`engine/verify.py` checks the promise without trusting that model:

1. **Whole-system re-simulation.** The request stream is split among the models by the
   routing shares (for Poisson arrivals: one independent Poisson stream per model, the
   splitting theorem); each model's requests go to its replicas by the plan's one dispatch
   policy, **weighted random** with weights equal to each replica's capacity at T (the
   policy LiteLLM's `simple-shuffle` applies to per-deployment `weight`; it is also what
   the perf DB assumes, since a weighted-random split of a Poisson stream gives each
   replica a Poisson stream); every replica is simulated by stage 2.
2. **Converged estimates.** Each promised quantile is a steady-state estimate with a 95 %
   confidence interval (warm-up dropped, batch-means sectioning, `engine/steady.py`; the
   pooled P95 as the load-share mixture of the models). The run starts at 20,000 requests
   per model and doubles (up to 160,000) while an estimate is neither converged (half-width
   <= 5 %) nor conclusive (interval wholly on one side of its limit).
3. **Named checks.** `verification.checks` gains `latency <model>` (or `latency (all
   requests)`), `ttft <model>`, `tpot <model>`: each passes when the point estimate is
   within its limit and the estimate is converged or its upper bound is within the limit.
   `plan.json` carries each model's P95 with `p95_lo_s`, `p95_hi_s`, `p95_requests`.
4. **Derate and re-solve.** When a check fails, the configs whose own requests exceed the
   limit have their capacity cut below the load they failed at, by the measured overshoot
   (at most halved per round), and the same routing is re-solved; at most 3 rounds. A plan
   that still fails is refused (`InfeasibleError`, exit 3), never printed as verified.

## The benchmark

{s["scenarios_planned"]} random scenarios were planned ({s["by_objective"]["latency"]} latency objective,
{s["by_objective"]["cost"]} cost objective; {s["by_metric"]["system"]} with the pooled `system` metric), drawn
over the GPU mixes, model sets and workloads below. Each draws a random routing, sets
`quality_min` just below that routing's quality, draws the SLO (cost objective: 1.5-8 x
the slowest model's best zero-load P95) or the budget (latency objective: 30-100 % of the
whole mix's hourly price), finds by bisection the largest arrival rate the GPUs can serve
at that routing, and plans at a uniformly drawn 10-100 % of it: loads spread up to
saturation. The planner runs its `random` outer strategy (8 trials; the outer search does
not change what the check measures) with verification on. Every returned plan is then
re-simulated with {s["requests_per_model"]:,} requests per model on a seed the planner never
used, and its worst per-model (or pooled) P95 is compared with its bound.

| GPU mix | models | workload | configs | perf DB build or load (s) |
|---|---|---|---|---|
{dbs}

## Results

- Plans whose fresh-run P95 exceeds the promise by more than 5 %: **{s["exceeding_5pct"]} of {s["scenarios_planned"]}**
  (exceeding it at all: {s["exceeding_bound"]}).
- Fresh-run P95 / bound: median {s["median_ratio"]:.3f}, 90th percentile {s["p90_ratio"]:.3f}, worst {s["worst_ratio"]:.3f}.
- Plans the verification derated before returning: {s["derated_plans"]}.
- Scenarios with no returned plan: {s["infeasible_or_refused"]} of {s["attempts"]} drawn
  ({s["refused_by_latency_check"]} refused because the plan still failed its latency re-simulation after derating,
  the rest infeasible for the drawn target).
- Wall time {s["wall_s"]} s on {s["machine"]["cores"]} cores (shared with other jobs when measured:
  an upper bound of the quiet-machine figure).

Worst plans:

| scenario | objective | metric | mix | load (of max) | bound (s) | fresh P95 (s) | ratio | derate rounds |
|---|---|---|---|---|---|---|---|---|
{worst_rows}

### Failures explained

{fail_text}

Refused scenarios (no plan returned because its latency re-simulation kept failing): {len(refused)}.
"""


if __name__ == "__main__":
    raise SystemExit(main())
