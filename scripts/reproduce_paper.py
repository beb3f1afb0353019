#!/usr/bin/env python3
"""Reproduce the BOute paper's evaluation on boute's simulator, beside the paper's figures.

Writes results/reproduction.json, docs/img/reproduction-latency.png and
docs/reproduction.md with four tables:

1. Table 3 analogue: USD/h each system needs to meet (quality, P95) targets (cost mode);
2. Table 1 analogue: load share, budget share and GPUs per model at $30/h;
3. the main figure's analogue: P95 and mean latency of each system at $30/h across targets;
4. Table 2 analogue: time to converge at 3/24 ... 6/48 GPU types/GPUs with and without
   structural information and with a cold vs cached performance DB, then beyond the paper:
   11 GPU types / 1,000 GPUs / 4 models.

No input is tuned to match the paper. Prices are the paper-implied set (derived from its
Table 1 at a fully spent $30/h; L40S and A100 at RunPod list prices), the load is the
default scenario's 6 req/s, the router a noisy oracle at AUC 0.8, the quality data
calibrated to published accuracies (GSM8K) or assumed judge means (MT-Bench: 7.9 / 8.9).
Routing for two models in joint mode is searched on the exhaustive grid (101 shares, each
solved exactly), which scripts/bench_planner.py shows BO reaches (0 % gap); BO itself is
timed in part 4.

    python scripts/reproduce_paper.py            # full (about 10 minutes on 2 cores)
    python scripts/reproduce_paper.py --tiny     # smoke test (tests/test_scripts.py)
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import time


ROOT = pathlib.Path(__file__).resolve().parents[1]

PAPER_T3 = {  # USD/h, BOute arXiv 2602.10729 Table 3
    ("gsm8k", 87, 8): {"boute": 32.25, "Stand-Alone-Homo": 61.83, "BOute-Homo": 38.41},
    ("gsm8k", 91, 12): {"boute": 32.18, "Stand-Alone-Homo": 41.21, "BOute-Homo": 36.07},
    ("mt-bench", 8.1, 10): {"boute": 30.98, "Stand-Alone-Homo": 79.93, "BOute-Homo": 36.33},
    ("mt-bench", 8.5, 15): {"boute": 31.23, "Stand-Alone-Homo": 53.29, "BOute-Homo": 38.31},
}
PAPER_T2 = {"3 types / 24 GPUs": "23.5 s", "4 types / 32 GPUs": "32.5 s", "5 types / 40 GPUs": "48.6 s", "6 types / 48 GPUs": "1.2 min"}
SYSTEMS = ("boute", "Stand-Alone-Homo", "Stand-Alone-Hetero", "RouteLLM", "BOute-Homo")
GPUS4 = ("H100-SXM", "RTX-PRO-6000", "RTX-5090", "RTX-4090")


def scenario(cat, workload, quality_min, *, objective="latency", slo=None, gpus=None, budget=30.0, extra=None):
    from boute.engine import default_scenario

    base = default_scenario(cat)
    return base.with_overrides(
        cat,
        workload=workload,
        quality_min=quality_min,
        objective=objective,
        latency_slo_s=slo,
        budget_usd_per_hour=budget if objective == "latency" else None,
        gpus=gpus or base.gpus,
        **(extra or {}),
    )


def solve_all(planner, verify=True):
    """boute (exhaustive routing grid, all GPU types) and the four baselines."""
    from boute.engine.baselines import _summary, run_baselines

    loop, secs = planner.optimize(strategy="grid")
    best = loop.trials[loop.best_index].payload if loop.best_index is not None else None
    out = {"boute": _summary(planner, best, verify)}
    out["boute"]["optimizer_s"] = secs
    out.update(run_baselines(planner, verify=verify))
    return out


def table3(cat, tiny):
    from boute.engine import Planner

    rows = {}
    cases = list(PAPER_T3)[:1] if tiny else list(PAPER_T3)
    for wl, q, slo in cases:
        sc = scenario(cat, wl, q, objective="cost", slo=slo, gpus={g: 64 for g in GPUS4})
        res = solve_all(Planner(sc, cat), verify=not tiny)
        rows[f"{wl} ({q}, {slo} s)"] = {
            "ours": {k: v.get("cost_usd_per_hour") if v.get("feasible") else None for k, v in res.items()},
            "paper": PAPER_T3[(wl, q, slo)],
            "detail": res,
        }
        print(f"table 3 {wl} q={q} slo={slo}: " + ", ".join(f"{k} {_usd(rows[f'{wl} ({q}, {slo} s)']['ours'][k])}" for k in SYSTEMS))
    return rows


def latency_at_budget(cat, tiny):
    from boute.engine import Planner

    out = {}
    cases = (
        [("gsm8k", 89)] if tiny else [("gsm8k", 87), ("gsm8k", 89), ("gsm8k", 91), ("mt-bench", 8.1), ("mt-bench", 8.3), ("mt-bench", 8.5)]
    )
    for wl, q in cases:
        sc = scenario(cat, wl, q)
        planner = Planner(sc, cat)
        res = solve_all(planner, verify=True)
        plan = None
        if res["boute"].get("feasible"):
            loop, _ = planner.optimize(strategy="grid")
            plan = planner.assemble(loop.trials[loop.best_index].payload)
        out[f"{wl} {q}"] = {"systems": res, "table1": _table1(plan) if plan else None}
        b = res["boute"]
        print(
            f"$30/h {wl} q={q}: boute bound {b.get('p95_bound_s', math.nan):.2f} s, sim {b.get('simulated', {}).get('p95_s', math.nan):.2f} s"
        )
    return out


def _table1(plan):
    return [
        {
            "model": d.model,
            "load_share": d.load_share,
            "budget_usd": d.budget_usd_per_hour,
            "budget_share": d.budget_usd_per_hour / plan.cost_usd_per_hour,
            "allocation": d.allocation(),
            "configs": [f"{g.gpu} TP{g.tp} PP{g.pp} x{g.replicas}" for g in d.groups],
        }
        for d in plan.deployments
    ]


# Table 2's scales: 3 to 6 GPU types of 8 GPUs each (the paper's GPU types, then L40S and A100).
SCALES = [
    ("3 types / 24 GPUs", {"H100-SXM": 8, "RTX-PRO-6000": 8, "RTX-4090": 8}),
    ("4 types / 32 GPUs", {"H100-SXM": 8, "RTX-PRO-6000": 8, "RTX-5090": 8, "RTX-4090": 8}),
    ("5 types / 40 GPUs", {"H100-SXM": 8, "RTX-PRO-6000": 8, "RTX-5090": 8, "RTX-4090": 8, "L40S": 8}),
    ("6 types / 48 GPUs", {"H100-SXM": 8, "RTX-PRO-6000": 8, "RTX-5090": 8, "RTX-4090": 8, "L40S": 8, "A100-80GB-SXM": 8}),
]
# L40S and A100 are not in the paper-implied price set: RunPod's list prices (gpus/prices.py).
EXTRA_PRICES = {"L40S": 0.86, "A100-80GB-SXM": 1.49}


def table2(cat, tiny):
    """Convergence: BO with/without structure, cached vs cold perf DB; then beyond the paper."""
    import os
    import tempfile

    from boute.engine import Planner
    from boute.engine.quality import calibrated_gsm8k

    extra_prices, scales = EXTRA_PRICES, SCALES
    out = []
    trials = 8 if tiny else 40
    for label, gpus in scales[:1] if tiny else scales:
        sc = scenario(
            cat,
            "gsm8k",
            89,
            gpus=gpus,
            extra={"price_overrides": {g: p for g, p in extra_prices.items() if g in gpus}, "max_trials": trials},
        )
        with tempfile.TemporaryDirectory() as d:
            old = os.environ.get("BOUTE_CACHE_DIR")
            os.environ["BOUTE_CACHE_DIR"] = d
            t0 = time.perf_counter()
            planner = Planner(sc, cat)
            cold_db = time.perf_counter() - t0
            if old is None:
                os.environ.pop("BOUTE_CACHE_DIR", None)
            else:
                os.environ["BOUTE_CACHE_DIR"] = old
        row = {"scale": label, "configs": len(planner.perfdb.curves), "cold_db_s": cold_db}
        grid, _ = planner.optimize(strategy="grid")
        opt = grid.trials[grid.best_index].objective
        for name, struct in (("structure", True), ("no_structure", False)):
            t0 = time.perf_counter()
            loop, _ = planner.optimize(strategy="bo", structure=struct)
            total = time.perf_counter() - t0
            best = loop.trials[loop.best_index]
            row[name] = {
                "trials": len(loop.trials),
                "best_at": loop.best_at_trial,
                "stop_s": total,
                "gap_pct": (best.objective / opt - 1) * 100,
            }
        out.append(row)
        print(f"table 2 {label}: {row}")
    beyond = None
    if not tiny:
        models = ("Llama-3.1-8B", "Qwen3-8B", "Qwen3-32B", "Llama-3.1-70B")
        gpus = {g: n for g, n in zip(cat.gpus, (91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 90))}
        sc = scenario(cat, "gsm8k", 90).with_overrides(
            cat,
            models=list(models),
            gpus=gpus,
            price_set="aws",
            price_overrides={"H100-PCIe": 2.39, "RTX-PRO-6000": 1.79, "RTX-5090": 0.89, "RTX-4090": 0.69},
            arrival_rate_per_s=100.0,
            budget_usd_per_hour=800.0,
            max_trials=40,
        )
        # ILLUSTRATIVE accuracies for a timing test, not quality claims: the two Llama figures are
        # Meta's; the Qwen3 ones are placeholders between them.
        table = calibrated_gsm8k(models, (84.5, 88.0, 92.0, 95.1), seed=0)
        with tempfile.TemporaryDirectory() as d:  # a cold build, not a cache hit from another script
            old = os.environ.get("BOUTE_CACHE_DIR")
            os.environ["BOUTE_CACHE_DIR"] = d
            t0 = time.perf_counter()
            planner = Planner(sc, cat, quality_table=table)
            db_s = time.perf_counter() - t0
            if old is None:
                os.environ.pop("BOUTE_CACHE_DIR", None)
            else:
                os.environ["BOUTE_CACHE_DIR"] = old
        t0 = time.perf_counter()
        loop, _ = planner.optimize(strategy="bo")
        bo_s = time.perf_counter() - t0
        best = loop.trials[loop.best_index] if loop.best_index is not None else None
        beyond = {
            "gpu_types": len(gpus),
            "gpus": sum(gpus.values()),
            "models": len(models),
            "configs": len(planner.perfdb.curves),
            "perfdb_s": db_s,
            "bo_s": bo_s,
            "trials": len(loop.trials),
            "best_at": loop.best_at_trial,
            "best_p95_bound_s": best.objective if best else None,
            "stop": loop.stop_reason,
            "inner_solves": int(sum(t.payload.result.solves for t in loop.trials)),
        }
        print(f"beyond: {beyond}")
    return out, beyond


def _usd(x):
    return "-" if x is None else f"${x:.2f}"


def plot_latency(lat, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {"gsm8k": [], "mt-bench": []}
    for k, v in lat.items():
        wl, q = k.split()
        groups[wl].append((float(q), v["systems"]))
    groups = {k: v for k, v in groups.items() if v}
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4), dpi=110, squeeze=False)
    for ax, (wl, pts) in zip(axes[0], groups.items()):
        for name in SYSTEMS:
            xs = [q for q, s in pts if s[name].get("feasible") and "simulated" in s[name]]
            ys = [s[name]["simulated"]["p95_s"] for q, s in pts if s[name].get("feasible") and "simulated" in s[name]]
            if xs:
                ax.plot(xs, ys, "-o", label=name)
        ax.set_title(f"{wl}: simulated P95 at $30/h".replace("$", r"\$"))
        ax.set_xlabel("quality target")
        ax.set_ylabel("P95 (s)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_doc(res):
    t3 = res["table3"]
    lines = [
        "| target | " + " | ".join(SYSTEMS) + " | paper: BOute / Stand-Alone-Homo / BOute-Homo |",
        "|---|" + "---:|" * (len(SYSTEMS) + 1),
    ]
    for k, v in t3.items():
        p = v["paper"]
        lines.append(
            f"| {k} | "
            + " | ".join(_usd(v["ours"][s]) for s in SYSTEMS)
            + f" | ${p['boute']:.2f} / ${p['Stand-Alone-Homo']:.2f} / ${p['BOute-Homo']:.2f} |"
        )
    savings = []
    for k, v in t3.items():
        o = v["ours"]
        if o["boute"]:
            others = [o[s] for s in SYSTEMS[1:] if o[s]]
            if others:
                savings.append((k, 100 * (1 - o["boute"] / min(others)), 100 * (1 - o["boute"] / max(others))))
    sav = "; ".join(f"{k}: {lo:.0f}-{hi:.0f} %" for k, lo, hi in savings) or "-"
    t1 = ["| target | model | load share | budget share | GPUs | configs |", "|---|---|---:|---:|---|---|"]
    for k, v in res["latency"].items():
        for row in v["table1"] or []:
            t1.append(
                f"| {k} | {row['model']} | {100 * row['load_share']:.1f} % | {100 * row['budget_share']:.0f} % (${row['budget_usd']:.2f}) | "
                f"{row['allocation']} | {', '.join(row['configs'])} |"
            )
    lat = ["| target | " + " | ".join(f"{s} P95 bound / sim / mean" for s in SYSTEMS) + " |", "|---|" + "---|" * len(SYSTEMS)]
    for k, v in res["latency"].items():
        cells = []
        for s in SYSTEMS:
            b = v["systems"][s]
            if b.get("feasible"):
                sim = b.get("simulated", {})
                cells.append(f"{b['p95_bound_s']:.2f} / {sim.get('p95_s', math.nan):.2f} / {sim.get('mean_s', math.nan):.2f} s")
            else:
                cells.append("infeasible")
        lat.append(f"| {k} | " + " | ".join(cells) + " |")
    ratios = []
    for k, v in res["latency"].items():
        b = v["systems"]["boute"]
        if b.get("feasible"):
            worst = [v["systems"][s]["p95_bound_s"] for s in SYSTEMS[1:] if v["systems"][s].get("feasible")]
            if worst:
                ratios.append((k, max(worst) / b["p95_bound_s"], min(worst) / b["p95_bound_s"]))
    t2 = [
        "| scale | configs | cold perf DB | BO+structure: trials (best at) / time to stop / gap | without structure | paper |",
        "|---|---:|---:|---|---|---|",
    ]
    for r in res["table2"]:
        s, n = r["structure"], r["no_structure"]
        t2.append(
            f"| {r['scale']} | {r['configs']} | {r['cold_db_s']:.1f} s | {s['trials']} ({s['best_at']}) / {s['stop_s']:.1f} s / {s['gap_pct']:.2f} % | "
            f"{n['trials']} ({n['best_at']}) / {n['stop_s']:.1f} s / {n['gap_pct']:.2f} % | {PAPER_T2[r['scale']]} |"
        )
    by = res.get("beyond")
    beyond = (
        "not run (--tiny)"
        if not by
        else f"{by['gpu_types']} GPU types, {by['gpus']} GPUs, {by['models']} models, {by['configs']} replica configs: perf DB {by['perfdb_s']:.0f} s "
        f"(cold), BO {by['bo_s']:.0f} s for {by['trials']} trials ({by['inner_solves']} MILP solves; best at trial {by['best_at']}, "
        f"P95 bound {by['best_p95_bound_s']:.2f} s, {by['stop']})."
    )
    text = DOC.format(
        t3="\n".join(lines),
        savings=sav,
        t1="\n".join(t1),
        lat="\n".join(lat),
        ratios="; ".join(f"{k}: {lo:.2f}x-{hi:.2f}x" for k, hi, lo in ratios) or "-",
        t2="\n".join(t2),
        beyond=beyond,
        secs=res["seconds"],
    )
    (ROOT / "docs" / "reproduction.md").write_text(text)


DOC = """# Reproducing the BOute paper on boute's simulator

Generated by `python scripts/reproduce_paper.py` in {secs:.0f} s on 2 CPU cores (raw figures in
`results/reproduction.json`). The paper's figures come from its own testbed and simulator;
ours from boute's stage-1/2 models (see docs/fidelity.md for how far those are from real
GPUs). **No input was tuned to match the paper.**

Set-up shared by every row: Llama-3.1-8B + Llama-3.1-70B; GSM8K (8-shot prompts, ~1,190
input tokens) or MT-Bench lengths; 6 req/s Poisson; a noisy router of AUC 0.8 over quality
data calibrated to published GSM8K accuracies (84.5 % / 95.1 %) or assumed MT-Bench judge
means (7.9 / 8.9); the paper-implied price set (H100 $3.07, RTX PRO 6000 $2.00, RTX 5090
$0.91, RTX 4090 $0.75 per GPU-hour, derived from its Table 1). Baselines as defined in
`engine/baselines.py`; every plan is verified and re-simulated.

## 1. Cost to meet (quality, P95) targets (Table 3 analogue)

Cost mode, 64 GPUs of each of the four types available (so single-type baselines are not
availability-bound); USD/h of the cheapest verified plan meeting both targets.

{t3}

boute's saving against the baselines (cheapest to dearest): {savings}. The paper reports
15-61 % (38 % average).

## 2. Load and budget split at $30/h (Table 1 analogue)

{t1}

## 3. Latency at $30/h (the main figure's analogue)

P95 as the MILP's per-model bound / the whole-system re-simulation / simulated mean.

{lat}

![latency](img/reproduction-latency.png)

boute's P95 bound against the baselines' (best to worst baseline): {ratios}. The paper
reports up to 2.57x lower P95 and 1.58x lower mean.

## 4. Time to converge (Table 2 analogue), and beyond the paper

BO (Ax, three proposals per GP fit) on the latency objective at quality >= 89, stopping
when the best plan is unchanged for 20 trials (the paper's rule) or at 40 trials; the gap
is against the exhaustive routing grid. "Cold perf DB" is the one-off build of the
performance DB for that scale; cached, it loads in about 10 ms, so the loop itself never
simulates (the paper: 3.6-8.9 min without its structural information and about 12 min
without its DB).

{t2}

Beyond the paper: {beyond}

## 5. Where boute's numbers differ, and why

- **Simulator.** boute's stage 1 is calibrated on NVIDIA's operator tables, not on the
  paper's testbed; spec-only GPUs (RTX 5090, RTX 4090) borrow efficiencies from the RTX PRO
  6000 and L40S. In boute's model Llama-3.1-70B always lands on H100s (TP8 at $30/h: NVLink
  all-reduce and HBM bandwidth beat PCIe cards without P2P), the 8B model on an RTX PRO 6000
  or RTX 5090 group, and the RTX 4090 is never chosen (24 GB leaves little KV cache after the
  8B model's 16 GB of weights). The paper spreads both models over more GPU types; its
  simulator values the GeForce cards more than ours does. Stand-Alone-Hetero equals
  Stand-Alone-Homo here for the same reason: the best heterogeneous 70B-only plan is all-H100.
- **Prices.** The paper-implied prices are derived by us from its Table 1 (assuming the
  budget is fully spent), not stated by the paper.
- **Load.** The paper's arrival rate is not restated here; 6 req/s is boute's default. Costs
  scale with it.
- **Router.** A noisy oracle at AUC 0.8 stands in for the paper's RouteLLM router; the
  calibrated quality data is synthetic. Targets such as GSM8K 91 need a smaller strong share
  with a better router (docs/routing.md).
- **Latency metric.** boute optimises the per-model P95 bound (every model's requests meet
  it); the pooled P95 of all requests, which mixes a fast small model with a slower large one,
  can be lower, and can favour baselines that send most traffic to the small model. Both are
  shown.
- **Routing search.** Parts 1-3 search routing on an exhaustive grid of 101 shares (exact for
  two models in joint mode, about 9 s); part 4 and scripts/bench_planner.py show the BO loop
  reaches the same optimum.
"""


def main() -> int:
    global ROOT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="one case per part, for tests")
    ap.add_argument("--out", default=str(ROOT), help="folder to write results/ and docs/ under (default: the repo)")
    args = ap.parse_args()
    ROOT = pathlib.Path(args.out)
    from boute.engine import load_catalog

    cat = load_catalog()
    t0 = time.perf_counter()
    res = {"table3": table3(cat, args.tiny), "latency": latency_at_budget(cat, args.tiny)}
    res["table2"], res["beyond"] = table2(cat, args.tiny)
    res["seconds"] = time.perf_counter() - t0
    (ROOT / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
    (ROOT / "results" / "reproduction.json").write_text(json.dumps(res, indent=1, default=str))
    plot_latency(res["latency"], ROOT / "docs" / "img" / "reproduction-latency.png")
    write_doc(res)
    print(f"done in {res['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
