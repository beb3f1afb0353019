#!/usr/bin/env python3
"""Benchmark the outer loop: the exact path, BO against a simplex-grid optimum, the
ablation of the structural pieces, and the stopping rules.

Parts (``--part``, default all; each merges its figures into results/planner.json and
rewrites the planner section of docs/performance.md from the whole file; ``--quick`` only
prints):

* ``default``: the default scenario (two models, joint mode) planned end to end with the
  exact path (perf DB from the cache, baselines and verification included), against the
  exhaustive 101-share grid in the same run (gap), and BO / random search on the same
  one-dimensional problem with the paper's stopping rule (time to stop).
* ``three``: a three-model scenario (Llama-3.1 8B / 70B / 405B, FP8, GSM8K labels
  synthetic), the reference optimum from an exhaustive simplex grid (every MILP answer
  cached on disk, evaluated by ``--workers`` processes), and BO with every structural
  piece over ``--seeds`` seeds: gap, MILP evaluations and seconds to within 1 %, time to
  stop.
* ``absorb``: the same problem with the last routing dimension solved exactly inside each
  evaluation (a grid over the remaining dimension as a second reference, then BO over it).
* ``ablation``: the default scenario in split mode (two routing dimensions: share and
  budget split) with each structural piece switched off in turn, and all off ("w/o
  structural info"), against its exact optimum: trials and seconds to within 1 %
  (``--ablation-seeds`` seeds, ``--ablation-cap`` trials each; minutes on 2 cores).
* ``stopping``: ten variants of the three-model scenario planned the default way
  (``absorb``), each against its exhaustive line grid; one BO run per variant with the
  paper's rule (best unchanged for 20 trials, capped at ``--cap`` trials, the stop reason
  says which fired) and the EI rule computed on every batch without acting, to read off
  where the checked EI rule (the planner's default) and the earlier unchecked one would
  have stopped and the plan each had then.
* ``pooled``: the same read-off on the paper reproduction's ten pooled-metric rows
  (scripts/reproduce_paper.py: two models, system-wide P95 or cost, BO over the share),
  against the 101-share grid (``--pooled-seeds`` BO runs per row, ``--pooled-cap`` trials
  each): where the unchecked EI rule stopped BO early.
* ``axcost``: Ax's CPU per generation with its default acquisition optimisation and the
  planner's.

    python scripts/bench_planner.py [--part default|three|absorb|ablation|stopping|pooled|axcost|all|doc] [--quick]

Wall-clock figures depend on the machine and its load: the script records both.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import pathlib
import sys
import time
from concurrent.futures import ProcessPoolExecutor

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from _perfdoc import update_section  # noqa: E402

RESULTS = ROOT / "results" / "planner.json"
THREE = {
    "name": "three-models-gsm8k",
    "gpus": {"H100-SXM": 16, "RTX-PRO-6000": 8, "RTX-4090": 16},
    "models": ["Llama-3.1-8B", "Llama-3.1-70B", "Llama-3.1-405B"],
    "weight_dtypes": ["fp8"],
    "budget_usd_per_hour": 60.0,
    "quality_min": 95.5,
    "arrival_rate_per_s": 6.0,
}
ABLATION = [
    ("all pieces", True),
    ("w/o bound", {"bound": False}),
    ("w/o seeds", {"seeds": False}),
    ("w/o preference", {"preference": False}),
    ("w/o transform", {"transform": False}),
    ("w/o structural info", False),
]
STOP_VARIANTS = [
    {},
    {"quality_min": 95.0},
    {"quality_min": 96.0},
    {"arrival_rate_per_s": 4.0},
    {"arrival_rate_per_s": 8.0},
    {"budget_usd_per_hour": 50.0},
    {"budget_usd_per_hour": 80.0},
    {"quality_min": 95.0, "arrival_rate_per_s": 8.0},
    {"quality_min": 96.0, "budget_usd_per_hour": 80.0},
    {"seed": 1},
]
EI_THRESHOLDS = (0.002, 0.005, 0.01)
EI_STOP = 0.005  # the planner's default (boute.engine.planner.EI_STOP), asserted in main()
"""Thresholds of the EI rule compared (relative expected improvement; 0.005 is the default)."""


def _load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}


def _public(x):
    """``x`` without the in-memory keys (``_loop``: the loop's trials, for read-offs)."""
    if isinstance(x, dict):
        return {k: _public(v) for k, v in x.items() if not str(k).startswith("_")}
    if isinstance(x, list | tuple):
        return [_public(v) for v in x]
    return x


def _save(res: dict) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(_public(res), indent=1, default=str))


def _machine() -> dict:
    import subprocess

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "cpus": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit,
    }


def three_scenario(cat, **over):
    from boute.engine import Scenario, default_scenario

    return Scenario.from_dict({**default_scenario(cat).to_dict(), **THREE, **over}, cat)


def run_loop(planner, **kw) -> dict:
    """One outer-loop run with a time stamp (wall and CPU) per trial, through the
    planner's public observer hook."""
    t0, c0 = time.perf_counter(), time.process_time()
    stamps, cpu = [], []

    def observe(_trial) -> None:
        stamps.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)

    loop, _ = planner.optimize(on_trial=observe, **kw)
    total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    best = loop.trials[loop.best_index] if loop.best_index is not None else None
    return {
        "trials": len(loop.trials),
        "stop": loop.stop_reason,
        "total_s": total,
        "total_cpu_s": total_cpu,
        "best": best.objective if best else math.inf,
        "best_quality": best.quality if best else None,
        "best_shares": list(best.payload.shares) if best else None,
        "best_at_trial": loop.best_at_trial,
        "milp_solves": int(sum(t.payload.result.solves for t in loop.trials)),
        # time in the inner solves vs everything else (Ax's generation and bookkeeping)
        "milp_s": float(sum(t.payload.result.wall_s for t in loop.trials)),
        "trace": [t.objective if t.feasible else None for t in loop.trials],
        "stamps": stamps,
        "cpu_stamps": cpu,
        "ehvi": [t.ehvi for t in loop.trials],
        "ei": [t.ei for t in loop.trials],
        # the GP's (mean, sd) of each proposal when proposed, and what Ax was told (model units)
        "predicted": [t.predicted for t in loop.trials],
        "reported": [t.reported for t in loop.trials],
        # every read-off of the EI rule replays the optimiser's own decision on these trials
        "_loop": loop,
    }


RULE_VARIANTS = ("unchecked", "checked", "check only", "minimum only")
"""Read-off variants of the EI rule: ``unchecked`` (the earlier default: EI below the
threshold), ``checked`` (the planner's default: :func:`~boute.engine.optimizer.ei_rule_fires`),
and each of its two guards alone (the predictive check without the minimum sample, the
minimum sample without the check), to show what each guard buys."""


def rule_stop(r: dict, thr: float, *, check: bool | None = None, variant: str | None = None):
    """Where the EI rule at threshold ``thr`` would have stopped a run made with
    ``ei_stop=0`` (EI computed for every batch, never acting): the optimiser's own
    decision (:func:`boute.engine.optimizer.ei_rule_fires`, ``check=False``: the earlier,
    unchecked rule) replayed before each batch. Returns (trials evaluated, wall s, CPU s,
    best so far) or None; the stopping rules decide only when to stop, not what to
    propose, so the run's trials up to that point are the ones a run with the rule on makes."""
    from boute.engine.optimizer import EI_MIN_POINTS_PER_DIM, ei_rule_fires

    variant = variant or ("checked" if check else "unchecked")
    if variant not in RULE_VARIANTS:
        raise ValueError(f"rule variant {variant!r} is not one of {RULE_VARIANTS}")
    loop, best = r["_loop"], math.inf
    trials = loop.trials
    for i, t in enumerate(trials):
        new_batch = t.batch is not None and (i == 0 or trials[i - 1].batch != t.batch)
        if new_batch and best < math.inf:
            if variant == "minimum only":
                fires = t.ei is not None and t.ei < thr and i >= EI_MIN_POINTS_PER_DIM * loop.dims
            else:
                fires = ei_rule_fires(
                    list(trials[:i]),
                    t.ei,
                    thr,
                    best=best,
                    log_objective=loop.log_objective,
                    check=variant != "unchecked",
                    dims=0 if variant == "check only" else loop.dims,
                )
            if fires:
                return i, r["stamps"][i - 1], r["cpu_stamps"][i - 1], best
        if t.feasible:
            best = min(best, t.objective)
    return None


def _batch_miss_sd(r: dict, start: int) -> float | None:
    """The largest |outcome - GP mean| / GP sd over the batch starting at trial ``start``
    (None where it has no prediction)."""
    trials = r["_loop"].trials
    if start >= len(trials) or trials[start].batch is None:
        return None
    zs = [
        abs(t.reported - t.predicted[0]) / max(t.predicted[1], 1e-12)
        for t in trials[start:]
        if t.batch == trials[start].batch and t.predicted is not None and t.reported is not None
    ]
    return max(zs) if zs else None


def _paper_cell(r: dict, ref: float) -> dict:
    """The paper's rule (best unchanged for 20 trials, or the cap) on run ``r``: trials, time, plan, gap to ``ref``."""
    return {
        "trials": r["trials"],
        "s": r["total_s"],
        "cpu_s": r["total_cpu_s"],
        "best": r["best"],
        "gap_pct": (r["best"] / ref - 1) * 100,
        "stop": r["stop"],
    }


def _stop_cell(at, ref: float) -> dict | None:
    return None if at is None else {"trials": at[0], "s": at[1], "cpu_s": at[2], "best": at[3], "gap_pct": (at[3] / ref - 1) * 100}


def cpu_to_within(run: dict, ref: float, pct: float = 1.0):
    """CPU seconds (this process) until the running best is within ``pct`` % of ``ref``."""
    n = to_within(run, ref, pct)[0]
    return None if n is None else run["cpu_stamps"][n - 1]


def to_within(run: dict, ref: float, pct: float = 1.0):
    """(trials, seconds) until the running best is within ``pct`` % of ``ref``."""
    best = math.inf
    for i, v in enumerate(run["trace"]):
        if v is not None:
            best = min(best, v)
        if best <= ref * (1 + pct / 100) + 1e-12:
            return i + 1, run["stamps"][i] if i < len(run["stamps"]) else None
    return None, None


# ----------------------------------------------------------------------------- default
def part_default(res: dict, quick: bool) -> None:
    from boute.engine import Planner, default_scenario, load_catalog

    cat = load_catalog()
    base = default_scenario(cat)
    Planner(base, cat)  # make sure the perf DB is cached before timing
    t0, c0 = time.perf_counter(), time.process_time()
    planner = Planner(base, cat)
    loop, opt_s = planner.optimize(strategy="exact")
    plan = planner.finish(loop, opt_s, strategy="exact", structure=True)
    plan_s, plan_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    exact = loop.trials[loop.best_index]
    grid = run_loop(planner, strategy="grid", structure=False, grid_steps=100)
    out = {
        "machine": _machine(),
        "scenario": base.name,
        "exact": {
            "plan_s": plan_s,
            "plan_cpu_s": plan_cpu_s,
            "optimizer_s": opt_s,
            "best": exact.objective,
            "quality": exact.quality,
            "shares": list(exact.payload.shares),
            "milp_solves": plan.stats.inner_solves,
            "baselines_s": plan.stats.baselines_s,
            "verify_s": plan.stats.verify_s,
            "verified": plan.verification.ok,
            "simulated_p95_s": (plan.simulated.p95_s if plan.simulated else None),
        },
        "grid": {k: v for k, v in grid.items() if k not in ("trace", "stamps", "ehvi")},
    }
    out["exact"]["gap_pct"] = (exact.objective / grid["best"] - 1) * 100
    if not quick:
        for name, strat in (("bo", "bo"), ("random", "random")):
            r = run_loop(planner, strategy=strat, structure=True, max_trials=100, stall_trials=20)
            r["gap_pct"] = (r["best"] / exact.objective - 1) * 100
            out[name] = {k: v for k, v in r.items() if k not in ("trace", "stamps", "ehvi")}
    res["default"] = out
    print(
        f"default: exact plan {plan_s:.2f} s (optimiser {opt_s:.2f} s, {plan.stats.inner_solves} MILPs), "
        f"best {exact.objective:.3f} s; grid {grid['best']:.3f} s in {grid['total_s']:.1f} s; gap {out['exact']['gap_pct']:.3f} %"
    )


# ----------------------------------------------------------------------------- simplex grid
def _grid_worker(args):
    scenario_dict, points = args
    from boute.engine import Planner, Scenario, load_catalog

    cat = load_catalog()
    pl = Planner(Scenario.from_dict(scenario_dict, cat), cat)
    out = []
    for p in points:
        t = pl.trial(p)
        out.append((p, t.objective if t.feasible else None, t.quality, int(t.payload.result.solves)))
    return out


def simplex_reference(sc, steps: int, workers: int) -> dict:
    """Exhaustive simplex grid; every MILP answer cached under the boute cache dir."""
    from boute.engine import Planner, load_catalog
    from boute.engine.perfdb import cache_dir

    key = hashlib.sha256(json.dumps([sc.to_dict(), steps], sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = cache_dir() / f"simplex-{key}.json"
    cached = json.loads(path.read_text()) if path.is_file() else {}
    pl = Planner(sc, load_catalog())
    pts = pl.simplex_grid(steps)
    todo = [p for p in pts if json.dumps(p, sort_keys=True) not in cached]
    t0 = time.perf_counter()
    if todo:
        chunks = [todo[i::workers] for i in range(workers)]
        with ProcessPoolExecutor(max_workers=workers) as ex:
            for part in ex.map(_grid_worker, [(sc.to_dict(), c) for c in chunks if c]):
                for p, obj, q, solves in part:
                    cached[json.dumps(p, sort_keys=True)] = [obj, q, solves]
        path.write_text(json.dumps(cached))
    wall = time.perf_counter() - t0
    rows = [cached[json.dumps(p, sort_keys=True)] for p in pts]
    feas = [
        (o, q, json.loads(k))
        for k, (o, q, _) in ((json.dumps(p, sort_keys=True), cached[json.dumps(p, sort_keys=True)]) for p in pts)
        if o is not None
    ]
    best = min(feas, key=lambda r: (r[0], -r[1]))
    return {
        "steps": steps,
        "points": len(pts),
        "milp_solves": int(sum(r[2] for r in rows)),
        "best": best[0],
        "best_quality": best[1],
        "best_shares": [round(v, 4) for v in pl.params_to_point(best[2])[0]],
        "wall_s": wall,
        "from_cache": not todo,
        "workers": workers,
    }


def part_three(res: dict, quick: bool, steps: int, workers: int, seeds: int, cap: int) -> None:
    from boute.engine import Planner, load_catalog

    cat = load_catalog()
    sc = three_scenario(cat)
    ref = simplex_reference(sc, steps, workers)  # the grid and the runs below: absorb off (two dimensions)
    print(f"three: simplex grid ({ref['points']} points, step 1/{steps}) best {ref['best']:.3f} s, {ref['wall_s']:.0f} s")
    pl = Planner(sc, cat)
    runs = []
    for s in range(1 if quick else seeds):
        r = run_loop(pl, strategy="bo", structure=True, max_trials=cap, stall_trials=20, seed=s, absorb=False)
        r["gap_pct"] = (r["best"] / ref["best"] - 1) * 100
        r["trials_to_1pct"], r["s_to_1pct"] = to_within(r, ref["best"])
        runs.append(r)
        print(
            f"  bo seed {s}: best {r['best']:.3f} s (gap {r['gap_pct']:.2f} %), within 1 % after {r['trials_to_1pct']} trials / "
            f"{r['s_to_1pct']} s; stopped at {r['trials']} trials / {r['total_s']:.1f} s ({r['stop']})"
        )
    rnd = run_loop(pl, strategy="random", structure=True, max_trials=cap, stall_trials=20, absorb=False)
    rnd["gap_pct"] = (rnd["best"] / ref["best"] - 1) * 100
    rnd["trials_to_1pct"], rnd["s_to_1pct"] = to_within(rnd, ref["best"])
    res["three"] = {"machine": _machine(), "scenario": THREE, "reference": ref, "bo": runs, "random": rnd}


def part_absorb(res: dict, quick: bool, steps: int, seeds: int, cap: int) -> None:
    """The last routing dimension solved exactly inside each evaluation (``absorb``): a
    grid over the cheapest model's share with exact lines (a second reference), then BO
    over that one dimension."""
    from boute.engine import Planner, load_catalog

    cat = load_catalog()
    sc = three_scenario(cat)
    pl = Planner(sc, cat)
    simplex = res["three"]["reference"]
    line_grid = run_loop(pl, strategy="grid", absorb=True, grid_steps=steps)
    ref = min(simplex["best"], line_grid["best"])
    runs = []
    for s in range(1 if quick else seeds):
        r = run_loop(pl, strategy="bo", absorb=True, max_trials=cap, stall_trials=20, seed=s)
        r["gap_pct"] = (r["best"] / simplex["best"] - 1) * 100
        r["gap_best_known_pct"] = (r["best"] / ref - 1) * 100
        r["trials_to_1pct"], r["s_to_1pct"] = to_within(r, simplex["best"])
        runs.append({k: v for k, v in r.items() if k not in ("stamps",)})
        print(
            f"absorb bo seed {s}: best {r['best']:.3f} s (gap to simplex grid {r['gap_pct']:.2f} %), within 1 % after "
            f"{r['trials_to_1pct']} trials / {r['s_to_1pct']} s; stopped {r['trials']} trials / {r['total_s']:.1f} s ({r['stop']})"
        )
    rnd = run_loop(pl, strategy="random", absorb=True, max_trials=cap, stall_trials=20)
    rnd["gap_pct"] = (rnd["best"] / simplex["best"] - 1) * 100
    rnd["trials_to_1pct"], rnd["s_to_1pct"] = to_within(rnd, simplex["best"])
    res["absorb"] = {
        "machine": _machine(),
        "line_grid": {k: v for k, v in line_grid.items() if k not in ("stamps", "trace", "ehvi")},
        "best_known": ref,
        "bo": runs,
        "random": {k: v for k, v in rnd.items() if k not in ("stamps",)},
    }
    print(
        f"absorb: line grid ({line_grid['trials']} evaluations, {line_grid['milp_solves']} MILPs) best {line_grid['best']:.3f} s "
        f"in {line_grid['total_s']:.1f} s; simplex grid {simplex['best']:.3f} s"
    )


def part_axcost(res: dict, trials: int = 13) -> None:
    """Ax's cost per generation with its default acquisition optimisation (20 restarts,
    1024 raw samples) and with the planner's (``optimizer.ACQF_RESTARTS``), on the same
    seeded three-model run (``absorb``, the EI rule computed but not acting): CPU and wall
    between consecutive trials, where the GP generations stand out."""
    import boute.engine.optimizer as opt
    from boute.engine import Planner, load_catalog

    cat = load_catalog()
    pl = Planner(three_scenario(cat), cat)
    out = {"machine": _machine(), "trials": trials, "runs": []}
    default = opt.run_outer_loop.__kwdefaults__["acqf_restarts"]
    try:
        for setting in ((20, 1024), tuple(opt.ACQF_RESTARTS)):
            opt.run_outer_loop.__kwdefaults__["acqf_restarts"] = setting
            r = run_loop(pl, strategy="bo", absorb=True, max_trials=trials, stall_trials=trials, seed=0, ei_stop=0.0)
            gaps = [r["cpu_stamps"][i] - r["cpu_stamps"][i - 1] for i in range(1, len(r["cpu_stamps"]))]
            gen = sorted(gaps)[-3:]  # the GP generations (the other gaps are one line evaluation each)
            out["runs"].append(
                {
                    "restarts_raw_samples": list(setting),
                    "total_s": r["total_s"],
                    "total_cpu_s": r["total_cpu_s"],
                    "milp_s": r["milp_s"],
                    "generation_cpu_s": gen,
                    "trace": r["trace"],
                    "best": r["best"],
                }
            )
            print(
                f"axcost {setting}: {r['total_cpu_s']:.1f} s CPU, {r['total_s']:.1f} s wall, generations {[round(g, 1) for g in gen]} s CPU",
                flush=True,
            )
    finally:
        opt.run_outer_loop.__kwdefaults__["acqf_restarts"] = default
    res["axcost"] = out


def split_scenario(cat):
    """The default scenario in split mode: two routing dimensions (the strong model's
    share and the budget split), whose exact optimum the exact path gives."""
    from boute.engine import Scenario, default_scenario

    return Scenario.from_dict(dict(default_scenario(cat).to_dict(), mode="split"), cat)


def part_ablation(res: dict, quick: bool, seeds: int, cap: int) -> None:
    """Each structural piece switched off in turn, then all of them, on a problem of two
    routing dimensions: the default scenario in split mode (share and budget split in the
    outer loop), against its exact optimum (the exact path); ``seeds`` seeds, ``cap``
    trials each (the EI and stall rules may stop a run sooner): trials and seconds to
    within 1 %. (The three-model problem with both dimensions outer, ``three``, is not
    within 1 % after 30 trials even with every piece, so it cannot rank the pieces.)"""
    from boute.engine import Planner, load_catalog

    cat = load_catalog()
    sc = split_scenario(cat)
    pl = Planner(sc, cat)
    exact, _ = pl.optimize(strategy="exact")
    ref = exact.trials[exact.best_index].objective
    rows = []
    for name, structure in ABLATION:
        runs = []
        for s in range(1 if quick else seeds):
            r = run_loop(pl, strategy="bo", structure=structure, max_trials=cap, stall_trials=20, seed=s)
            r["gap_pct"] = (r["best"] / ref - 1) * 100
            r["trials_to_1pct"], r["s_to_1pct"] = to_within(r, ref)
            r["cpu_s_to_1pct"] = cpu_to_within(r, ref)
            r["trials_to_5pct"], r["s_to_5pct"] = to_within(r, ref, 5.0)
            runs.append(r)
        rows.append({"config": name, "structure": structure, "runs": runs})
        print(
            f"ablation {name}: "
            + "; ".join(
                f"1 % after {r['trials_to_1pct']} trials / {_f(r['s_to_1pct'])} s ({_f(r['cpu_s_to_1pct'])} s CPU), gap {r['gap_pct']:.2f} %, "
                f"{r['trials']} trials ({r['stop']})"
                for r in runs
            ),
            flush=True,
        )
    res["ablation"] = {
        "machine": _machine(),
        "problem": "default scenario, split mode (2 dimensions)",
        "reference": ref,
        "cap": cap,
        "rows": rows,
    }


def part_stopping(res: dict, quick: bool, cap: int, line_steps: int = 10) -> None:
    """Ten variants of the three-model scenario, each planned the default way (``absorb``:
    one outer dimension). Reference per variant: the exhaustive line grid (every
    cheapest-model share in steps of ``1 / line_steps``, each line solved exactly). One BO run per
    variant with the paper's rule (capped at ``cap``; the stop reason says which fired),
    the EI rule computed for every batch but not acting (``ei_stop=0``), so that where it
    would have stopped, and the plan it had then, is read off the same run."""
    from boute.engine import Planner, load_catalog

    cat = load_catalog()
    rows = []
    for over in STOP_VARIANTS[: 2 if quick else None]:
        sc = three_scenario(cat, **over)
        pl = Planner(sc, cat)
        grid = run_loop(pl, strategy="grid", absorb=True, grid_steps=line_steps)
        ref = grid["best"]
        r = run_loop(pl, strategy="bo", max_trials=cap, stall_trials=20, seed=sc.seed, ei_stop=0.0)
        row = {
            "variant": over,
            "reference": ref,
            "reference_evaluations": grid["trials"],
            "paper": _paper_cell(r, ref),
            "trials_to_1pct": to_within(r, ref)[0],
            "s_to_1pct": to_within(r, ref)[1],
            "ei": [e for e in r["ei"]],
        }
        for thr in EI_THRESHOLDS:  # the unchecked rule (before the predictive check), kept for comparison
            row[f"ei<{thr}"] = _stop_cell(rule_stop(r, thr, check=False), ref)
        row[f"checked<{EI_STOP}"] = _stop_cell(rule_stop(r, EI_STOP, check=True), ref)  # the planner's default
        row["check_only"] = _stop_cell(rule_stop(r, EI_STOP, variant="check only"), ref)
        row["minimum_only"] = _stop_cell(rule_stop(r, EI_STOP, variant="minimum only"), ref)
        rows.append(row)
        print(
            f"stopping {over}: ref {ref:.3f} s; paper rule {r['trials']} trials / {r['total_s']:.1f} s, gap {row['paper']['gap_pct']:.2f} % "
            f"({r['stop']}); "
            + "; ".join(
                f"EI<{t}: {row[f'ei<{t}'] and (row[f'ei<{t}']['trials'], round(row[f'ei<{t}']['gap_pct'], 2))}" for t in EI_THRESHOLDS
            )
            + f"; checked EI<{EI_STOP}: {_brief(row[f'checked<{EI_STOP}'])}",
            flush=True,
        )
    res["stopping"] = {
        "machine": _machine(),
        "rows": rows,
        "thresholds": EI_THRESHOLDS,
        "checked_threshold": EI_STOP,
        "cap": cap,
        "line_steps": line_steps,
    }


def _brief(cell) -> str:
    return "never" if cell is None else f"{cell['trials']} trials, {cell['gap_pct']:+.2f} %"


def pooled_rows(cat):
    """The paper reproduction's pooled-metric rows (scripts/reproduce_paper.py): its four
    Table 3 rows (cost mode, 64 GPUs of each type) and six latency rows ($30/h, the GPUs
    the budget rents), at the operating point results/reproduction.json records; RouteLLM's
    labels, the noisy router at AUC 0.8, seed 0, as that script runs them."""
    import reproduce_paper as rp

    rates = {
        wl: v["rate_rps"] for wl, v in json.loads((ROOT / "results" / "reproduction.json").read_text())["operating_point"]["rates"].items()
    }
    cfg = {"data": "routellm", "auc": 0.8, "seed": 0, "bo_trials": 40, "budget": rp.PAPER_BUDGET_USD_PER_HOUR}
    rows = [
        (
            f"{wl} ({q:g}, {slo:g} s)",
            rp.scenario(
                cat, cfg, wl, q, rate=rates[wl], gpus=dict.fromkeys(rp.PAPER_GPUS, rp.COST_POOL_PER_TYPE), objective="cost", slo=slo
            ),
        )
        for wl, q, slo in rp.PAPER_T3
    ]
    at_budget = rp.gpus_at_budget(cat, cfg["budget"])
    rows += [
        (f"{wl} {q:g}", rp.scenario(cat, cfg, wl, q, rate=rates[wl], gpus=at_budget))
        for wl in rp.PAPER_TARGETS
        for q in rp.PAPER_TARGETS[wl]
    ]
    return rows, rates


def part_pooled(res: dict, quick: bool, cap: int, seeds: int = 2) -> None:
    """The rows where the unchecked EI rule stopped BO early: the paper reproduction's
    pooled-metric rows (two models, system-wide P95 or cost; the exact path does not apply,
    so the planner's default is BO). Reference: the 101-share grid, each share solved
    exactly. One BO run per row and seed (``seeds`` seeds from the scenario's) with
    ``ei_stop=0`` (the paper's rule acts, capped at ``cap``), every EI rule variant
    (:data:`RULE_VARIANTS`) read off the same run."""
    from boute.engine import Planner, load_catalog

    cat = load_catalog()
    rows_in, rates = pooled_rows(cat)
    rows = []
    for key, sc in rows_in[: 2 if quick else None]:
        pl = Planner(sc, cat)
        grid = run_loop(pl, strategy="grid", grid_steps=100)
        ref = grid["best"]
        for seed in range(sc.seed, sc.seed + (1 if quick else seeds)):
            r = run_loop(pl, strategy="bo", max_trials=cap, stall_trials=20, seed=seed, ei_stop=0.0)
            row = {
                "row": key,
                "seed": seed,
                "objective": sc.objective,
                "reference": ref,
                "reference_s": grid["total_s"],
                "reference_cpu_s": grid["total_cpu_s"],
                "reference_evaluations": grid["trials"],
                "paper": _paper_cell(r, ref),
                "trials_to_1pct": to_within(r, ref)[0],
                "unchecked": _stop_cell(rule_stop(r, EI_STOP, check=False), ref),
                "checked": _stop_cell(rule_stop(r, EI_STOP, check=True), ref),
                "check_only": _stop_cell(rule_stop(r, EI_STOP, variant="check only"), ref),
                "minimum_only": _stop_cell(rule_stop(r, EI_STOP, variant="minimum only"), ref),
                "ei": r["ei"],
                "predicted": r["predicted"],
                "reported": r["reported"],
            }
            if row["unchecked"]:  # how far off the GP that satisfied the unchecked rule was on the batch it proposed then
                row["unchecked"]["next_batch_miss_sd"] = _batch_miss_sd(r, row["unchecked"]["trials"])
            rows.append(row)
            print(
                f"pooled {key} seed {seed}: grid {ref:.4g} ({grid['total_s']:.0f} s); paper rule {r['trials']} trials, "
                f"gap {row['paper']['gap_pct']:+.2f} %; " + "; ".join(f"{v}: {_brief(row[v.replace(' ', '_')])}" for v in RULE_VARIANTS),
                flush=True,
            )
    res["pooled"] = {"machine": _machine(), "rows": rows, "threshold": EI_STOP, "cap": cap, "rates": rates, "seeds": seeds}


# ----------------------------------------------------------------------------- doc
def _f(v, fmt="{:.1f}"):
    return "-" if v is None else fmt.format(v)


def _miss_range(rows: list[dict]) -> str:
    """The range over rows, where the unchecked rule stopped more than 1 % above the
    reference, of the largest miss (in posterior sd) of the batch proposed at the stop."""
    z = [
        r["unchecked"]["next_batch_miss_sd"]
        for r in rows
        if r.get("unchecked") and r["unchecked"]["gap_pct"] > 1.0 + 1e-9 and r["unchecked"].get("next_batch_miss_sd") is not None
    ]
    return "-" if not z else f"{min(z):.1f}-{max(z):.0f}"


def _cell(v) -> str:
    return "never" if v is None else f"{v['trials']} / {v['s']:.0f} s ({v['cpu_s']:.0f} s CPU) / {v['gap_pct']:+.2f} %"


def _rule_summary(rows: list[dict], key: str, name: str, ref: str) -> str:
    """One sentence: where a read-off rule fired, how many trials it saved against the
    paper's rule, and its plans' gaps."""
    fired = [r for r in rows if r.get(key)]
    if not fired:
        return f"{name[0].upper() + name[1:]} never fired in the {len(rows)} runs. "
    saved = [r["paper"]["trials"] - r[key]["trials"] for r in fired]
    gaps = [r[key]["gap_pct"] for r in fired]
    over = sum(g > 1.0 + 1e-9 for g in gaps)
    return (
        f"{name[0].upper() + name[1:]} fired in {len(fired)} of {len(rows)} runs, {min(saved)}-{max(saved)} trials before the paper's rule or its cap "
        f"({sum(r[key]['cpu_s'] for r in fired):.0f} s CPU in all against {sum(r['paper']['cpu_s'] for r in fired):.0f} s); "
        f"gap of its plan to {ref}: worst {max(gaps):+.2f} %, over 1 % in {over} of them. "
    )


def _doc(res: dict) -> None:
    parts = ["## Outer loop (`python scripts/bench_planner.py`)\n"]
    d = res.get("default")
    if d:
        e, g = d["exact"], d["grid"]
        parts.append(f"""### Default scenario: the exact path

Two models in joint mode have one routing dimension, and `boute solve` answers it exactly
(`--strategy auto` picks `exact`; see `Planner.exact_routing`: the share becomes a continuous
variable of the MILP through one pooled row, so a binary search over the latency grid
gives the optimum over every share meeting the quality target). Measured on
{d["machine"]["cpus"]} CPUs at load {d["machine"]["loadavg_1m"]:.1f} ({d["machine"]["date"]}, commit {d["machine"].get("commit", "h14 at 36dd5ea, before merging main (new perf DB)")}), perf DB from the cache:

| | best P95 bound | quality | gap to the grid | MILP solves | wall |
|---|---:|---:|---:|---:|---:|
| exact, whole plan (optimiser, frontier, 4 baselines, verification, re-simulation) | {e["best"]:.3f} s | {e["quality"]:.2f} | {e["gap_pct"]:.2f} % | {e["milp_solves"]} | {e["plan_s"]:.2f} s ({_f(e.get("plan_cpu_s"), "{:.2f}")} s CPU) |
| exact, optimiser only | | | | | {e["optimizer_s"]:.2f} s |
| exhaustive grid, 101 shares (same run) | {g["best"]:.3f} s | {g["best_quality"]:.2f} | reference | {g["milp_solves"]} | {g["total_s"]:.1f} s |
""")
        rows = []
        for name in ("bo", "random"):
            if name in d:
                r = d[name]
                rows.append(
                    f"| {name} (structure on) | {r['best']:.3f} s | {r['gap_pct']:.2f} % | {r['best_at_trial']} | {r['trials']} | "
                    f"{r['total_s']:.1f} s ({_f(r.get('total_cpu_s'))} s CPU) | {r['stop']} |"
                )
        if rows:
            parts.append(
                """BO and random search on the same one-dimensional problem, with the planner's default stopping
(the paper's rule, best unchanged for 20 trials, and for BO the checked EI rule, whichever fires
first; a cap of 100):

| strategy | best | gap to exact | best at trial | trials run | time to stop | stop reason |
|---|---:|---:|---:|---:|---:|---|
"""
                + "\n".join(rows)
                + "\n"
            )
    t = res.get("three")
    if t:
        ref = t["reference"]
        rows = []
        for i, r in enumerate(t["bo"]):
            rows.append(
                f"| BO, seed {i} | {r['best']:.3f} s | {r['gap_pct']:.2f} % | {_f(r['trials_to_1pct'], '{}')} | {_f(r['s_to_1pct'])} s | "
                f"{r['trials']} | {r['milp_solves']} | {r['total_s']:.1f} s | {r.get('milp_s', 0):.1f} s | {r['stop']} |"
            )
        r = t["random"]
        rows.append(
            f"| random | {r['best']:.3f} s | {r['gap_pct']:.2f} % | {_f(r['trials_to_1pct'], '{}')} | {_f(r['s_to_1pct'])} s | "
            f"{r['trials']} | {r['milp_solves']} | {r['total_s']:.1f} s | {r.get('milp_s', 0):.1f} s | {r['stop']} |"
        )
        sc = t["scenario"]
        parts.append(
            f"""### Three models: BO against the simplex-grid optimum

Scenario: {", ".join(sc["models"])} (FP8 weights), GPUs {sc["gpus"]}, ${sc["budget_usd_per_hour"]:g}/h,
{sc["arrival_rate_per_s"]:g} req/s, GSM8K quality >= {sc["quality_min"]:g} %. The per-query labels are
synthetic (calibrated on Meta's published accuracies, `CALIBRATED_QUALITY`). Reference: every
routing on the simplex in steps of 1/{ref["steps"]} ({ref["points"]} points, {ref["milp_solves"]} MILP solves,
{ref["workers"]} processes, {ref["wall_s"]:.0f} s{" from the answer cache" if ref["from_cache"] else ""}): best {ref["best"]:.3f} s at shares
{ref["best_shares"]}. BO with every structural piece, stopped by the EI rule (expected improvement
below 0.5 % of the best plan) or the paper's rule (best unchanged for 20 trials), whichever
fires first, or a cap (the stop reason says which); wall times on a shared machine; machine: {t["machine"]["cpus"]} CPUs at load {t["machine"]["loadavg_1m"]:.1f}, commit {t["machine"].get("commit", "h14 at 36dd5ea, before merging main (new perf DB)")}.

| run | best | gap to grid | trials to 1 % | seconds to 1 % | trials run | MILP solves | time to stop | of which inner solves | stop reason |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---|
"""
            + "\n".join(rows)
            + f"""

Ax's own cost per trial is the time to stop minus the inner solves, divided by the trials.
The done-when target: within 1 % of the grid optimum using at most {ref["points"] // 5} evaluations (1/5
of the grid's {ref["points"]}) and at most 23.5 s to stop (the paper's 3-GPU-type figure).
"""
        )
    ax = res.get("axcost")
    if ax:
        rows = []
        for r in ax["runs"]:
            same = "same trials as the first row" if r["trace"] == ax["runs"][0]["trace"] else "different trials"
            rows.append(
                f"| {r['restarts_raw_samples'][0]} / {r['restarts_raw_samples'][1]} | "
                + ", ".join(f"{g:.1f}" for g in r["generation_cpu_s"])
                + f" | {r['total_cpu_s']:.1f} s | {r['total_s']:.1f} s | {r['milp_s']:.1f} s | {r['best']:.3f} s ({same}) |"
            )
        parts.append(
            f"""### Ax's cost per trial

Each BO generation fits the GP and optimises qLogNEHVI for a batch of three
(`BO_BATCH`). Same seeded three-model run (`absorb`, {ax["trials"]} trials) with Ax's default
acquisition optimisation and with the planner's (`optimizer.ACQF_RESTARTS`); the three
largest CPU gaps between consecutive trials are the GP generations. Machine: {ax["machine"]["cpus"]}
CPUs at load {ax["machine"]["loadavg_1m"]:.1f} (shared), commit {ax["machine"]["commit"]}.

| restarts / raw samples | CPU per generation (s) | run CPU | run wall | inner solves | best |
|---|---|---:|---:|---:|---|
"""
            + "\n".join(rows)
            + "\n"
        )
    ab = res.get("absorb")
    if ab and t:
        lg = ab["line_grid"]
        rows = []
        for i, r in enumerate(ab["bo"]):
            n = r["trials_to_1pct"]
            cpu1 = r["cpu_stamps"][n - 1] if n and r.get("cpu_stamps") else None
            rows.append(
                f"| BO over one dimension, seed {i} | {r['best']:.3f} s | {r['gap_pct']:.2f} % | {_f(n, '{}')} | "
                f"{_f(r['s_to_1pct'])} s ({_f(cpu1)} s CPU) | {r['trials']} | {r['milp_solves']} | {r['total_s']:.1f} s "
                f"({_f(r.get('total_cpu_s'))} s CPU) | {r['stop']} |"
            )
        r = ab["random"]
        rows.append(
            f"| random over one dimension | {r['best']:.3f} s | {r['gap_pct']:.2f} % | {_f(r['trials_to_1pct'], '{}')} | "
            f"{_f(r['s_to_1pct'])} s | {r['trials']} | {r['milp_solves']} | {r['total_s']:.1f} s | {r['stop']} |"
        )
        rows.append(
            f"| grid over one dimension ({lg['trials']} evaluations incl. seeds) | {lg['best']:.3f} s | "
            f"{(lg['best'] / t['reference']['best'] - 1) * 100:.2f} % | - | - | {lg['trials']} | {lg['milp_solves']} | {lg['total_s']:.1f} s | {lg['stop']} |"
        )
        parts.append(
            """### Three models, the last dimension absorbed by the exact solve

`optimize(absorb=True)`: the outer loop fixes the cheapest model's share; the split of the
rest between the two stronger models is solved exactly inside each evaluation (the exact
path's argument along that line: quality intervals, one pooled MILP search each). One
dimension fewer, each evaluation a line instead of a point, at a similar number of MILPs.
The default for three or more models; stopped by the EI rule or the paper's rule, whichever
fires first (the stop reason says which). Gaps against the simplex grid above (negative:
better than every lattice point). CPU: this process's user + system time (the machine was
shared; its load is in the three-model section):

| run | best | gap to simplex grid | evaluations to 1 % | seconds to 1 % | evaluations | MILP solves | time to stop | stop reason |
|---|---:|---:|---:|---:|---:|---:|---:|---|
"""
            + "\n".join(rows)
            + "\n"
        )
    a = res.get("ablation")
    if a:
        rows = []
        for row in a["rows"]:
            rs = row["runs"]
            tr = [r["trials_to_1pct"] for r in rs]
            ss = [r["s_to_1pct"] for r in rs]
            cs = [r.get("cpu_s_to_1pct") for r in rs]
            gaps = ", ".join("{:.2f}".format(r["gap_pct"]) for r in rs)
            stops = ", ".join("{:.0f}".format(r["total_s"]) for r in rs)
            trs = ", ".join(_f(v, "{}") for v in tr)
            sss = ", ".join(_f(v) for v in ss)
            css = ", ".join(_f(v) for v in cs)
            trials = ", ".join(str(r["trials"]) for r in rs)
            t5 = ", ".join(_f(r.get("trials_to_5pct"), "{}") for r in rs)
            s5 = ", ".join(_f(r.get("s_to_5pct")) for r in rs)
            rows.append(f"| {row['config']} | {trs} | {sss} | {css} | {t5} | {s5} | {gaps} | {trials} | {stops} |")
        parts.append(
            f"""### Ablation of the structural pieces (two routing dimensions)

Problem: {a.get("problem", "three models, two dimensions")}: the strong model's share and the
budget split are both searched by BO, against the exact optimum ({a["reference"]:.3f} s, the
exact path). Each piece switched off in turn (`Planner.optimize(structure={{...}})`), then all
of them ("w/o structural info", the paper's Table 2 row); each run capped at {a.get("cap", "-")} trials
(the EI and stall rules may stop it sooner). Per seed: trials and seconds until the best plan
is within 1 % of the optimum ("-": not within 1 % before stopping), the final gap, trials run
and the time to stop. Machine: {a["machine"]["cpus"]} CPUs at load {a["machine"]["loadavg_1m"]:.1f} (shared:
wall figures inflated), commit {a["machine"]["commit"]}.

| configuration | trials to 1 % | seconds to 1 % (wall) | CPU s to 1 % | trials to 5 % | seconds to 5 % | final gap % | trials run | time to stop (s) |
|---|---|---|---|---|---|---|---|---|
"""
            + "\n".join(rows)
            + """

Reading (two seeds, cap 15, quiet rerun of 2026-11-29 04:15 UTC: indicative only): every
seed routing carries the joint optimum's budget split (`Planner.joint_split`, budget lifted
to the cluster's price). With all pieces, seed 0 reaches the exact optimum (within 1 % after
8 trials) and seed 1 ends 2.0 % above it; without `bound` both seeds end within 1 % (after 8
and 11 trials); without `seeds` or `transform` one seed ends 6-9 % above; without
`preference` both end 10.5 % above; with no structural information both end 21-22 % above.
Seed-to-seed noise is as large as the single pieces' effects at this budget, so the table
ranks only `preference` and structure as a whole. The exact path (the default for two
models, in either mode) answers this problem exactly; BO over two dimensions needs more
trials than this affordable run gives it.

What each piece is: `bound` restricts the cheapest model's share to what can still meet the
quality target (a valid bound for every k); `seeds` start at the quality-boundary routings
(the routing inverse); `preference` adds a seed routing load in proportion to what each
model's most cost-efficient GPU pool sustains; `transform` reports log latency to Ax and an
inner problem without plan as a penalty instead of a failed trial (a failed trial carries no
data, and the GP re-proposed the same points).
"""
        )
    s = res.get("stopping")
    if s and "reference" in (s["rows"] or [{}])[0]:
        ct = s.get("checked_threshold")
        rows = []
        for row in s["rows"]:
            p = row["paper"]
            cells = [_cell(row.get(f"ei<{thr}")) for thr in s["thresholds"]]
            if ct is not None:
                cells.append(_cell(row.get(f"checked<{ct}")))
            rows.append(
                f"| {json.dumps(row['variant'])} | {row['reference']:.3f} s | {_f(row['trials_to_1pct'], '{}')} | "
                f"{p['trials']} / {p['s']:.0f} s ({p['cpu_s']:.0f} s CPU) / {p['gap_pct']:+.2f} % | " + " | ".join(cells) + " |"
            )
        summary = _rule_summary(s["rows"], "ei<0.005", "the unchecked rule at 0.005", "the line grid")
        if ct is not None:
            summary += _rule_summary(s["rows"], f"checked<{ct}", f"the checked rule at {ct} (the default)", "the line grid")
            if any("check_only" in r for r in s["rows"]):
                summary += "Each guard alone: " + _rule_summary(
                    s["rows"], "check_only", "the predictive check without the minimum sample", "the line grid"
                )
                summary += _rule_summary(s["rows"], "minimum_only", "the minimum sample without the check", "the line grid")
        heads = [f"EI < {t} (unchecked)" for t in s["thresholds"]] + ([f"EI < {ct}, checked (default)"] if ct is not None else [])
        parts.append(
            f"""### Stopping rules (ten three-model variants)

Each variant of the three-model scenario is planned the default way (`absorb`: one outer
dimension). Reference: the exhaustive line grid (the cheapest model's share in steps of
1/{s.get("line_steps", 20)}, each line solved exactly; negative gaps: BO found a share between grid points). One
BO run per variant, seeded, with the paper's rule (best unchanged for 20 trials) and a cap
of {s["cap"]} trials; the stop reason says which fired, so a cap never silently replaces the
rule. The EI rule (`ei_stop`, the planner's default beside the stall rule) stops before a
batch once the GP's largest constrained expected improvement over the best plan is below a
fraction of it (`optimizer.expected_improvement`): it asks the single-objective question
the planner answers. The EHVI of the two-objective front (kept in the results file as
`ehvi`) does not fall once the latency optimum is found (it keeps rewarding plans of
higher quality and latency), so it is not used as a rule. The default rule is *checked*
(`optimizer.ei_rule_fires`): it acts only once the GP has seen 10 points per free
dimension (`EI_MIN_POINTS_PER_DIM`, Loeppky, Sacks and Welch 2009) and has predicted its
latest batch within 3 posterior sd plus the threshold (`PREDICTIVE_CHECK_Z`); the
*unchecked* rule (EI below the threshold, nothing else) is the earlier default, kept for
comparison. Both are read off the same run, in which EI is computed on every batch
without acting (`ei_stop=0`), by replaying the optimiser's own decision before each batch
(`bench_planner.rule_stop`); the rules decide only when to stop, not what to propose.
Each cell: trials / time / gap of the plan it had to the reference. Machine: {s["machine"]["cpus"]} CPUs at load
{s["machine"]["loadavg_1m"]:.1f} (shared: wall figures inflated; CPU is this process's), commit {s["machine"]["commit"]}.

| variant | line grid optimum | trials to 1 % | paper rule: trials / time / gap | """
            + " | ".join(heads)
            + """ |
|---|---:|---:|---|"""
            + "---|" * len(heads)
            + "\n"
            + "\n".join(rows)
            + "\n\n"
            + summary
            + "Where a rule never fired, the paper's rule stopped the run; in the planner both rules run, whichever fires first.\n"
        )
    pq = res.get("pooled")
    if pq:
        rows = []
        for row in pq["rows"]:
            p = row["paper"]
            unit = "USD/h" if row["objective"] == "cost" else "s"
            rows.append(
                f"| {row['row']} | {row.get('seed', 0)} | {row['objective']} | {row['reference']:.3f} {unit} ({row['reference_evaluations']} shares, "
                f"{row['reference_cpu_s']:.0f} s CPU) | {_f(row['trials_to_1pct'], '{}')} | "
                f"{p['trials']} / {p['s']:.0f} s ({p['cpu_s']:.0f} s CPU) / {p['gap_pct']:+.2f} % | "
                f"{_cell(row['unchecked'])} | {_cell(row['checked'])} |"
            )
        summary = _rule_summary(pq["rows"], "unchecked", f"the unchecked rule at {pq['threshold']}", "the 101-share grid")
        summary += _rule_summary(pq["rows"], "checked", f"the checked rule at {pq['threshold']} (the default)", "the 101-share grid")
        summary += "\n\nEach guard alone (read off the same runs): " + _rule_summary(
            pq["rows"], "check_only", "the predictive check without the minimum sample", "the grid"
        )
        summary += _rule_summary(pq["rows"], "minimum_only", "the minimum sample without the check", "the grid") + "\n"
        parts.append(
            f"""### Stopping rules on the paper reproduction's pooled-metric rows

The rows where the unchecked EI rule stopped BO early: scripts/reproduce_paper.py's four
Table 3 rows (cost mode, 64 GPUs of each type) and six latency rows ($30/h), two models
optimised on the pooled (system-wide) P95, where the exact path does not apply and the
planner's default is BO (one dimension, the strong model's share). Operating point as in
results/reproduction.json ({", ".join(f"{k} {v:g} req/s" for k, v in pq["rates"].items())}); RouteLLM's labels,
noisy router at AUC 0.8. Reference: the 101-share grid, each share solved exactly.
One BO run per row and seed ({pq.get("seeds", 1)} seeds) with the paper's rule (cap {pq["cap"]}), every EI rule read off it as in
the section above. Why the unchecked rule failed here: the inner optimum is a staircase in
the share (integer replica counts, a latency grid), and the noise-free GP, fitted to the
seeds and the first batch, interpolates it as a smooth curve, with posterior sd near zero
between two close points of similar value. In the runs where the unchecked rule stopped
more than 1 % above the grid, the batch that same GP proposed at the stop (evaluated in
this run) missed its predictions by {_miss_range(pq["rows"])} posterior sd (the largest miss
in each row's batch; `Trial.predicted` against `Trial.reported`): the GP's confidence was unfounded, which
is what the predictive check tests before the rule may act. Each
cell: trials / time / gap to the grid. Machine: {pq["machine"]["cpus"]} CPUs at load
{pq["machine"]["loadavg_1m"]:.1f} (shared: wall figures inflated; CPU is this process's), commit {pq["machine"]["commit"]}.

| row | seed | objective | 101-share grid | trials to 1 % | paper rule: trials / time / gap | EI < {pq["threshold"]} (unchecked) | EI < {pq["threshold"]}, checked (default) |
|---|---:|---|---:|---:|---|---|---|
"""
            + "\n".join(rows)
            + "\n\n"
            + summary
        )
    missing = [name for name in ("ablation", "stopping", "pooled") if name not in res]
    if missing:
        parts.append(
            "### Not yet measured\n\n"
            + "\n".join(
                f"- `{name}`: implemented, not run on the reference machine yet: `python scripts/bench_planner.py --part {name}`"
                for name in missing
            )
            + "\n"
        )
    update_section("planner", "\n".join(parts))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--part", default="all", choices=["default", "three", "absorb", "ablation", "stopping", "pooled", "axcost", "all", "doc"]
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="one seed, fewer variants; a smoke run: prints its figures but writes neither results/planner.json nor the doc",
    )
    ap.add_argument("--grid-steps", type=int, default=20, help="simplex grid resolution for the reference")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--cap", type=int, default=60, help="trial cap per BO run (reported when it fires)")
    ap.add_argument("--ablation-seeds", type=int, default=2)
    ap.add_argument("--ablation-cap", type=int, default=15, help="trial cap per ablation run (kept small: minutes on 2 cores)")
    ap.add_argument("--pooled-cap", type=int, default=40, help="trial cap per BO run of --part pooled (reproduce_paper.py's default)")
    ap.add_argument("--pooled-seeds", type=int, default=2, help="BO seeds per row of --part pooled (default 2)")
    args = ap.parse_args()
    from boute.engine.planner import EI_STOP as planner_ei_stop

    if planner_ei_stop != EI_STOP:
        raise SystemExit(f"bench_planner.EI_STOP {EI_STOP} differs from the planner's default {planner_ei_stop}: update it")
    res = _load()
    parts = ["default", "three", "absorb", "ablation", "stopping", "pooled", "axcost"] if args.part == "all" else [args.part]
    for part in parts:
        if part == "default":
            part_default(res, args.quick)
        elif part == "three":
            part_three(res, args.quick, args.grid_steps, args.workers, args.seeds, args.cap)
        elif part == "absorb":
            part_absorb(res, args.quick, args.grid_steps, args.seeds, args.cap)
        elif part == "ablation":
            part_ablation(res, args.quick, args.ablation_seeds, args.ablation_cap)
        elif part == "stopping":
            part_stopping(res, args.quick, args.cap)
        elif part == "pooled":
            part_pooled(res, args.quick, args.pooled_cap, args.pooled_seeds)
        elif part == "axcost":
            part_axcost(res)
        if args.quick:
            continue  # a smoke run must not replace the full runs' figures
        _save(res)
        _doc(res)  # after every part, so an interrupted run still documents what it measured
    if args.quick:
        print("--quick: figures printed only; results/planner.json and docs/performance.md keep the full runs")
        return 0
    _doc(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
