"""``boute deploy`` (deploy files from a plan.json) and ``boute sweep`` (a cost- or
latency-versus-load curve), registered by engine/cli.py."""

from __future__ import annotations

import argparse
import csv
import json
import math
import pathlib
import sys
from typing import Any

from boute.engine.errors import BouteError, InputError

__all__ = ["HelpFormatter", "add_deploy", "add_sweep", "cmd_deploy", "cmd_sweep", "SWEEP_OVER"]

SWEEP_OVER = {"rate": "arrival_rate_per_s", "budget": "budget_usd_per_hour"}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows ``(default: X)`` where an option has a real default (not None/False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        h = action.help or ""
        if "%(default)" in h or action.default in (None, False, argparse.SUPPRESS) or action.option_strings == []:
            return h
        return h + " (default: %(default)s)"


def add_deploy(sub) -> None:
    """Register ``boute deploy``."""
    from boute.engine.artifacts import TARGETS

    p = sub.add_parser(
        "deploy",
        help="write deploy files (shell, SkyPilot, Kubernetes, LiteLLM) from a plan.json",
        description="Regenerate deploy files from a plan.json alone (no re-planning).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("plan", metavar="PLAN_JSON", help="a plan.json written by 'boute solve'")
    p.add_argument(
        "--target",
        action="append",
        choices=TARGETS + ("all",),
        metavar="{" + ",".join(TARGETS) + ",all}",
        help="what to write (repeatable); all = every target",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="folder for the files, one subfolder per target when there are several (default: deploy/<target>/ next to the plan.json)",
    )


def cmd_deploy(args) -> int:
    """Write the chosen targets' files and print where they went."""
    from boute.engine.artifacts import TARGETS, write_target
    from boute.engine.plan import Plan

    path = pathlib.Path(args.plan)
    if not path.is_file():
        raise InputError(f"plan: {str(path)!r} not found", hint="give the plan.json that 'boute solve' wrote (out/plan.json)")
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise InputError(
            f"plan: {path.name} is not valid JSON ({exc.msg}, line {exc.lineno})", hint="give a plan.json written by boute"
        ) from None
    plan = Plan.from_dict(doc)
    targets = TARGETS if not args.target or "all" in args.target else tuple(dict.fromkeys(args.target))
    for t in targets:
        out = (
            pathlib.Path(args.out) / t
            if args.out and len(targets) > 1
            else pathlib.Path(args.out)
            if args.out
            else path.parent / "deploy" / t
        )
        paths = write_target(plan, t, out)
        print(f"{t}: wrote {len(paths)} file(s) under {out}/: {', '.join(sorted(paths))}")
    return 0


def add_sweep(sub) -> None:
    """Register ``boute sweep``."""
    p = sub.add_parser(
        "sweep",
        help="plan at several arrival rates or budgets: a cost/latency-versus-load curve",
        description="Re-plan the scenario at each value (the perf DB is built once) and write sweep.csv, sweep.json and sweep.png.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--over", choices=tuple(SWEEP_OVER), default="rate", help="the scenario field to vary")
    p.add_argument("--values", required=True, metavar="LIST", help="comma-separated values, e.g. 2,4,6,8 (req/s or USD/h)")
    p.add_argument("--scenario", metavar="FILE", help="YAML or TOML scenario file (default: the built-in scenario)")
    p.add_argument("--objective", metavar="{latency,cost}", help="latency (least P95 within budget) or cost (cheapest meeting --slo)")
    p.add_argument("--budget", type=float, metavar="USD_PER_H", help="hourly budget in USD")
    p.add_argument("--slo", type=float, metavar="SECONDS", help="P95 latency SLO (cost objective)")
    p.add_argument("--quality-min", type=float, metavar="Q", help="quality requirement in the data's unit")
    p.add_argument("--rate", type=float, metavar="RPS", help="total arrival rate (when sweeping the budget)")
    p.add_argument("--strategy", default="bo", metavar="{bo,random,grid}", help="outer-loop strategy")
    p.add_argument("--max-trials", type=int, metavar="N", help="cap on outer-loop trials per point")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--out", metavar="DIR", default="out/sweep", help="folder for sweep.csv, sweep.json, sweep.png")
    p.add_argument("--no-cache", action="store_true", help="rebuild the performance DB instead of reading the cache")


def _values(text: str) -> list[float]:
    out = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            v = float(part)
        except ValueError:
            raise InputError(f"--values: {part.strip()!r} is not a number", hint="e.g. --values 2,4,6,8") from None
        if not (math.isfinite(v) and v > 0):
            raise InputError(f"--values: {v:g} must be a positive number", hint="e.g. --values 2,4,6,8")
        out.append(v)
    if not out:
        raise InputError(f"--values: {text!r} lists no value", hint="e.g. --values 2,4,6,8")
    return out


def cmd_sweep(args, scenario_from_args) -> int:
    """Plan at each value; infeasible points are recorded with their reason, not dropped."""
    from tqdm import tqdm

    from boute.engine.planner import Planner
    from boute.engine.plugins import load_catalog
    from boute.engine.scenario import Scenario

    from boute.engine.optimizer import check_strategy

    values = _values(args.values)
    catalog = load_catalog()
    base = scenario_from_args(args, catalog)
    check_strategy(args.strategy, models=len(base.models), mode=base.mode)
    field = SWEEP_OVER[args.over]
    rows: list[dict[str, Any]] = []
    perfdb = None
    bar = tqdm(values, desc=f"sweep {args.over}", unit="point", file=sys.stderr, disable=not sys.stderr.isatty())
    for v in bar:
        sc = Scenario.from_dict({**base.to_dict(), field: v}, catalog)
        row: dict[str, Any] = {args.over: v}
        try:
            planner = Planner(sc, catalog, use_cache=not args.no_cache, perfdb=perfdb)
            perfdb = planner.perfdb
            plan = planner.plan(strategy=args.strategy, baselines=False)
            row.update(
                feasible=True,
                cost_usd_per_hour=plan.cost_usd_per_hour,
                p95_bound_s=plan.p95_bound_s,
                p95_sim_s=plan.simulated.p95_s if plan.simulated else None,
                quality=plan.quality,
                strong_share=plan.shares[-1],
                gpus=sum(g.gpus for d in plan.deployments for g in d.groups),
                reason="",
            )
        except BouteError as exc:
            if exc.exit_code != 3:  # bad input stays an error; only infeasibility is a data point
                raise
            row.update(
                feasible=False,
                cost_usd_per_hour=None,
                p95_bound_s=None,
                p95_sim_s=None,
                quality=None,
                strong_share=None,
                gpus=None,
                reason=exc.one_line(),
            )
        rows.append(row)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(
        json.dumps({"over": field, "objective": base.objective, "scenario": base.to_dict(), "points": rows}, indent=2, default=str) + "\n"
    )
    with (out / "sweep.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    _plot_sweep(rows, args.over, base.objective, out / "sweep.png")
    for r in rows:
        if r["feasible"]:
            print(
                f"{args.over} {r[args.over]:g}: USD {r['cost_usd_per_hour']:.2f}/h, P95 bound {r['p95_bound_s']:.2f} s, "
                f"quality {r['quality']:.2f}, {r['gpus']} GPUs"
            )
        else:
            print(f"{args.over} {r[args.over]:g}: infeasible ({r['reason']})")
    print(f"wrote {out / 'sweep.csv'}, {out / 'sweep.json'}, {out / 'sweep.png'}")
    return 0


def _plot_sweep(rows, over: str, objective: str, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["feasible"]]
    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=120)
    xlabel = "arrival rate (req/s)" if over == "rate" else "budget (USD/h)"
    if ok:
        ax.plot([r[over] for r in ok], [r["cost_usd_per_hour"] for r in ok], "-o", color="tab:blue", label="cost (USD/h)")
        ax2 = ax.twinx()
        ax2.plot([r[over] for r in ok], [r["p95_bound_s"] for r in ok], "--s", color="tab:red", label="P95 bound (s)")
        ax2.set_ylabel("P95 bound (s)", color="tab:red")
    bad = [r[over] for r in rows if not r["feasible"]]
    if bad:
        ax.scatter(bad, [0] * len(bad), marker="x", color="k", label="infeasible")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cost (USD/h)", color="tab:blue")
    ax.set_title(f"boute sweep over {over} ({objective} objective)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
