"""Command line: ``boute solve`` (also ``scripts/solve.py``), ``boute predict``
(also ``scripts/predict.py``), ``boute catalog``, ``boute perfdb``, ``boute deploy`` and
``boute sweep``.

Every bad flag or file prints one line on stderr and exits 2 (also an empty value, an
option or ``--gpus`` key given twice, a ``--strategy`` the request does not support, an
``--out`` that is not a writable folder: all checked before planning); an infeasible
request exits 3 with the binding constraint and the figure that would fix it (least
budget, best achievable P95); nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import pathlib
import sys
import time
from typing import Any

import attrs

from boute.engine.assembly import boute_version
from boute.engine.cli_deploy import HelpFormatter, add_deploy, add_sweep, cmd_deploy, cmd_sweep
from boute.engine.errors import BouteError, InputError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise InputError(f"{self.prog}: {message}", hint=f"run '{self.prog} --help'")


class _Once(argparse.Action):
    """Store an option's value, refusing the option given twice (argparse keeps the last)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        seen = namespace.__dict__.setdefault("_given", set())
        if self.dest in seen:
            raise InputError(f"{option_string}: given twice", hint=f"give {option_string} once")
        seen.add(self.dest)
        setattr(namespace, self.dest, values)


def _add_solve(sub) -> None:
    p = sub.add_parser(
        "solve",
        help="plan routing + deployment for a scenario (default command)",
        formatter_class=HelpFormatter,
        description="Plan routing and deployment. With no options: the built-in default scenario "
        "(the BOute paper's GPU types, models, workload and budget: H100, RTX PRO 6000, RTX 5090, RTX 4090; $30/h; "
        "Llama-3.1-8B + 70B; GSM8K; its load, GPU counts and router are boute's own). "
        "An option left out takes the scenario's value.",
    )
    p.register("action", None, _Once)  # every valued option below may be given once
    p.add_argument("--scenario", metavar="FILE", help="YAML or TOML scenario file (fields: see README)")
    p.add_argument("--objective", metavar="{latency,cost}", help="latency (least P95 within budget) or cost (cheapest meeting --slo)")
    p.add_argument("--budget", type=float, metavar="USD_PER_H", help="hourly budget in USD")
    p.add_argument("--quality-min", type=float, metavar="Q", help="quality requirement in the data's unit (e.g. 89 for GSM8K %%)")
    p.add_argument("--slo", type=float, metavar="SECONDS", help="P95 latency SLO (cost objective)")
    p.add_argument("--gpus", metavar="LIST", help="GPU availability, e.g. H100=8,RTX5090=16 (replaces the scenario's pool)")
    p.add_argument("--price-set", metavar="NAME", help="price table: boute-paper, runpod, aws, ...")
    p.add_argument("--models", metavar="LIST", help="candidate models, e.g. Llama-3.1-8B,Llama-3.1-70B")
    p.add_argument("--workload", metavar="NAME", help="gsm8k, mt-bench, azure-conv, azure-code, or an Azure-format CSV")
    p.add_argument("--rate", type=float, metavar="RPS", help="total arrival rate, requests per second")
    p.add_argument("--router", metavar="{oracle,random,noisy,file}", help="router kind")
    p.add_argument("--auc", type=float, help="AUC of the noisy router")
    p.add_argument("--mode", metavar="{joint,split}", help="joint (MILP splits the budget) or split (BO also searches the split)")
    p.add_argument("--seed", type=int, help="random seed (same seed, same plan)")
    p.add_argument("--max-trials", type=int, metavar="N", help="cap on outer-loop trials")
    p.add_argument(
        "--strategy",
        default="auto",
        metavar="{auto,exact,bo,random,grid}",
        help="outer loop: auto (exact for one or two models, bo for more), exact, bo (Ax), random or grid",
    )
    p.add_argument("--no-structure", action="store_true", help="disable structural seeds and pruning (for comparison)")
    p.add_argument("--no-baselines", action="store_true", help="skip the four baselines")
    p.add_argument("--out", metavar="DIR", default="out", help="folder for plan.json, pareto.png and deploy/<target>/")
    p.add_argument("--frontier-csv", action="store_true", help="also write the frontier and alternatives to frontier.csv")
    p.add_argument("--json", action="store_true", help="print plan.json to stdout instead of the table")
    p.add_argument("--no-cache", action="store_true", help="rebuild the performance DB instead of reading the cache")


def _add_predict(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="what-if: one replica's memory, KV capacity, TTFT, TPOT, throughput",
        formatter_class=HelpFormatter,
        description="Predict one replica config before renting a GPU.",
    )
    p.add_argument("--model", required=True, help="e.g. Llama-3.1-70B")
    p.add_argument("--gpu", required=True, help="e.g. H100-SXM")
    p.add_argument("--tp", type=int, default=1)
    p.add_argument("--pp", type=int, default=1)
    p.add_argument("--dtype", default="bf16", help="weight dtype: bf16, fp8 or int4")
    p.add_argument("--kv-dtype", default="bf16", help="KV-cache dtype: bf16 or fp8")
    p.add_argument("--batch", type=int, default=32, help="concurrent requests")
    p.add_argument("--input-len", type=int, default=1024)
    p.add_argument("--output-len", type=int, default=256)
    p.add_argument("--json", action="store_true")
    from boute.engine.cli_bench import add_predict_options

    add_predict_options(p)


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="boute", description="Cost-efficient LLM serving planner over heterogeneous LLMs and GPUs.", formatter_class=HelpFormatter
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    ap.add_argument("--version", action="version", version=f"%(prog)s {boute_version()}")
    sub = ap.add_subparsers(dest="command", parser_class=_Parser)
    _add_solve(sub)
    _add_predict(sub)
    add_deploy(sub)
    add_sweep(sub)
    sub.add_parser("catalog", help="list GPU types, models and price sets with their sources")
    pdb = sub.add_parser("perfdb", help="print the performance DB of a scenario (capacity at a few SLOs)")
    pdb.add_argument("--scenario", metavar="FILE")
    from boute.engine.cli_bench import add_calibrate_parser

    add_calibrate_parser(sub)
    return ap


def _items(text: str, field: str, example: str) -> list[str]:
    """The comma-separated items of a list flag; an empty flag or item is an error."""
    if not text.strip():
        raise InputError(f"{field}: {text!r} is empty", hint=f"e.g. {field} {example}, or leave the flag out")
    items = [part.strip() for part in text.split(",")]
    if any(not part for part in items):
        raise InputError(f"{field}: {text!r} has an empty item", hint=f"e.g. {field} {example}")
    return items


def _pairs(text: str, field: str) -> dict[str, int]:
    """``NAME=COUNT,...`` as a dict; a name given twice is an error (aliases are checked
    again by the scenario, after canonicalisation)."""
    out: dict[str, int] = {}
    for part in _items(text, field, "H100=8,RTX5090=16"):
        if "=" not in part:
            raise InputError(f"{field}: {part!r} is not NAME=COUNT", hint="e.g. --gpus H100=8,RTX5090=16")
        k, v = (x.strip() for x in part.split("=", 1))
        if not k:
            raise InputError(f"{field}: {part!r} has no GPU name", hint="e.g. H100=8")
        if not v.isascii() or not v.isdigit():
            raise InputError(f"{field}: count {v!r} for {k} is not a whole number", hint="e.g. H100=8")
        if k in out:
            raise InputError(f"{field}: {k} is given twice", hint="give each GPU type once")
        out[k] = int(v)
    return out


# Flag -> scenario field, for the flags that set one field as given.
_FLAG_FIELDS = {
    "objective": "objective",
    "budget": "budget_usd_per_hour",
    "quality_min": "quality_min",
    "slo": "latency_slo_s",
    "price_set": "price_set",
    "workload": "workload",
    "rate": "arrival_rate_per_s",
    "mode": "mode",
    "seed": "seed",
    "max_trials": "max_trials",
}


def _scenario(args, catalog):
    """The scenario file (or the built-in default) with the flags applied, validated once."""
    from boute.engine.scenario import default_scenario, load_scenario

    given = getattr(args, "scenario", None)
    base = load_scenario(given, catalog) if given is not None else default_scenario(catalog)
    changes = {f: getattr(args, a) for a, f in _FLAG_FIELDS.items() if getattr(args, a, None) is not None}
    if getattr(args, "gpus", None) is not None:
        changes["gpus"] = _pairs(args.gpus, "--gpus")
    if getattr(args, "models", None) is not None:
        changes["models"] = _items(args.models, "--models", "Llama-3.1-8B,Llama-3.1-70B")
    quality = {k: getattr(args, k) for k in ("router", "auc") if getattr(args, k, None) is not None}
    if quality:
        changes["quality"] = quality
    if changes.get("objective") == "cost" and "budget_usd_per_hour" not in changes and given is None:
        changes["budget_usd_per_hour"] = None  # the default scenario's budget belongs to its latency objective
    return base.with_overrides(catalog, **changes)


def _check_out_dir(text: str) -> pathlib.Path:
    """``--out`` must be (or be creatable as) a writable folder: checked before planning."""
    if not text.strip():
        raise InputError("--out: '' is not a folder name", hint="e.g. --out out")
    path = pathlib.Path(text)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is" if probe == path else f"is under {str(probe)!r}, which is"
        raise InputError(f"--out: {text!r} {where} not a folder", hint="give a folder path, e.g. --out out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"--out: cannot write under {str(probe)!r} (permission denied)", hint="give a folder you can write to")
    return path


def _request(args, catalog):
    """Everything ``solve`` checks before planning: the scenario with its flags, the
    strategy for that scenario, and the output folder. Raises InputError."""
    from boute.engine.optimizer import check_strategy

    sc = _scenario(args, catalog)
    check_strategy(args.strategy, models=len(sc.models), mode=sc.mode)
    return sc, _check_out_dir(args.out)


def _progress_factory(enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def cb(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="step", leave=False, file=sys.stderr)
        bar.total = max(total, done)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return cb


def _fmt(x: float | None, nd: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def _metrics(m) -> dict[str, Any]:
    """A ResimMetrics as a dict of its measured (non-None) values; {} for None."""
    return {k: v for k, v in attrs.asdict(m).items() if v is not None} if m is not None else {}


def render_table(plan) -> str:
    """The plan as text: a Table-1-like view, metrics, and baselines beside it."""
    from tabulate import tabulate

    rows = []
    for d in plan.deployments:
        alloc = (
            " + ".join(
                f"{g.gpus} x {g.gpu}{'*' if g.spec_only else ''} (TP{g.tp} PP{g.pp}{'' if g.weight_dtype == 'bf16' else ' ' + g.weight_dtype.upper()}) x{g.replicas}"
                for g in d.groups
            )
            or "-"
        )
        share = d.budget_usd_per_hour / plan.cost_usd_per_hour if plan.cost_usd_per_hour else 0.0
        rows.append(
            [d.model, f"{d.load_share * 100:.1f} %", f"{d.load_rps:.2f}", f"${d.budget_usd_per_hour:.2f} ({share * 100:.0f} %)", alloc]
        )
    lines = [tabulate(rows, headers=["model", "load share", "req/s", "USD/h (budget share)", "allocated GPUs (config) x replicas"])]
    sim = _metrics(plan.simulated)
    lines.append("")
    lines.append(
        f"routing: {plan.router}, thresholds {[round(t, 4) for t in plan.thresholds]}; quality {plan.quality:.2f} {plan.quality_unit}"
        + (f" (required {plan.quality_min:g})" if plan.quality_min is not None else "")
    )
    bound = "pooled P95 (all requests)" if plan.latency_metric == "system" else "every model's P95"
    lines.append(
        f"latency: {bound} <= {plan.p95_bound_s:.2f} s (MILP bound); re-simulated ({plan.dispatch_policy} dispatch): "
        + ", ".join(
            f"{d.model} P95 {_fmt(_metrics(d.simulated).get('p95_s'))} s [{_fmt(_metrics(d.simulated).get('p95_lo_s'))}-{_fmt(_metrics(d.simulated).get('p95_hi_s'))}]"
            for d in plan.deployments
            if d.simulated
        )
        + f"; pooled P95 {_fmt(sim.get('p95_s'))} s, mean {_fmt(sim.get('mean_s'))} s, TTFT P95 {_fmt(sim.get('ttft_p95_s'), 3)} s, "
        f"TPOT P95 {_fmt(sim.get('tpot_p95_s') and sim['tpot_p95_s'] * 1e3, 1)} ms; cost ${plan.cost_usd_per_hour:.2f}/h"
        + (f" of ${plan.budget_usd_per_hour:.2f}/h" if plan.budget_usd_per_hour else "")
    )
    slos = []
    if plan.ttft_slo_s is not None:
        slos.append(f"P95 TTFT <= {plan.ttft_slo_s:g} s")
    if plan.tpot_slo_s is not None:
        slos.append(f"P95 TPOT <= {plan.tpot_slo_s * 1e3:g} ms")
    ver = plan.verification
    if ver.latency_verified:
        st = plan.stats
        line = f"verified: allocation re-derived and latency re-simulated ({int(ver.latency_requests or 0):,} requests"
        line += f"; {', '.join(slos)} checked" if slos else ""
        line += ")"
        if st.derate_rounds:
            line += (
                f"; the first plan failed its re-simulation, so {len(st.derated_capacity)} config(s) were derated "
                f"and re-solved in {st.derate_rounds} round(s)"
            )
        lines.append(line)
    if plan.spec_only_gpus:
        lines.append(
            f"* spec-only: no measured calibration for {', '.join(plan.spec_only_gpus)} (spec-sheet roofline, borrowed efficiencies)"
        )
    if plan.baselines:

        def metrics(s: dict) -> list[str]:
            tp = s.get("tpot_p95_s")
            return [
                _fmt(s.get("max_model_p95_s")),
                _fmt(s.get("p95_s")),
                _fmt(s.get("mean_s")),
                _fmt(s.get("ttft_p95_s"), 3),
                _fmt(tp * 1e3 if tp is not None else None, 1),
                _fmt(s.get("throughput_rps")),
            ]

        b_rows = [["boute (this plan)", f"{plan.quality:.2f}", f"{plan.p95_bound_s:.2f}", *metrics(sim), f"{plan.cost_usd_per_hour:.2f}"]]
        for b in plan.baselines:
            if b.feasible:
                mark = "" if b.latency_verified is not False else " (!)"
                b_rows.append(
                    [
                        b.name + mark,
                        f"{b.quality:.2f}",
                        f"{b.p95_bound_s:.2f}",
                        *metrics(_metrics(b.simulated)),
                        f"{b.cost_usd_per_hour:.2f}",
                    ]
                )
            else:
                b_rows.append([b.name, "-", "-", "-", "-", "-", "-", "-", "-", f"infeasible: {b.reason[:60]}"])
        lines.append("")
        lines.append(
            tabulate(
                b_rows,
                headers=[
                    "system",
                    "quality",
                    "P95 bound (s)",
                    "worst model P95 (s)",
                    "pooled P95 (s)",
                    "mean (s)",
                    "TTFT P95 (s)",
                    "TPOT P95 (ms)",
                    "req/s",
                    "USD/h",
                ],
            )
        )
        if any(b.latency_verified is False for b in plan.baselines if b.feasible):
            lines.append("(!) its re-simulation exceeds its own bound (baselines are not derated)")
    st = plan.stats
    lines.append("")
    lines.append(
        f"solver: {st.trials} trials ({st.strategy}, best at trial {st.best_at_trial}, {st.stop_reason}), "
        f"{st.inner_solves} MILP solves; perf DB {st.perfdb_configs} configs "
        f"({'cache' if st.perfdb_from_cache else 'built'} in {st.perfdb_s} s); optimiser {st.optimizer_s} s"
        + (f"; planned and verified in {st.plan_wall_s} s wall ({st.plan_cpu_s} s CPU)" if st.plan_wall_s is not None else "")
    )
    return "\n".join(lines)


def _cmd_solve(args) -> int:
    from boute.engine.artifacts import write_artifacts
    from boute.engine.planner import Planner
    from boute.engine.plugins import load_catalog

    catalog = load_catalog()
    sc, out_dir = _request(args, catalog)
    from boute.engine.planner import resolve_strategy

    strategy = resolve_strategy(args.strategy, len(sc.models), sc.latency_metric)
    interactive = sys.stderr.isatty() and not args.json
    t_start, cpu_start = time.perf_counter(), time.process_time()
    planner = Planner(sc, catalog, use_cache=not args.no_cache, progress=_progress_factory(interactive))
    plan = planner.plan(strategy=strategy, structure=not args.no_structure, baselines=not args.no_baselines)
    # CPU time of this process beside the wall time: on a shared machine the wall time includes waiting for cores
    plan = attrs.evolve(
        plan,
        stats=attrs.evolve(
            plan.stats, plan_wall_s=round(time.perf_counter() - t_start, 3), plan_cpu_s=round(time.process_time() - cpu_start, 3)
        ),
    )
    out = pathlib.Path(out_dir)
    try:
        paths = write_artifacts(plan, out, frontier_csv=args.frontier_csv)
    except OSError as exc:
        raise InputError(
            f"--out: cannot write the plan under {args.out!r}: {exc.strerror or exc}", hint="give a folder you can write to"
        ) from None
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        print(render_table(plan))
        print(_wrote(out, paths))
    return 0


def _wrote(out: pathlib.Path, paths: dict[str, str]) -> str:
    """Where every file went, grouped by folder (the paths are the ones written)."""
    groups: dict[str, list[str]] = {}
    for rel in paths:
        folder, _, name = rel.rpartition("/")
        groups.setdefault(folder, []).append(name)
    lines = ["", f"wrote under {out}/:"]
    for folder in sorted(groups):
        lines.append(f"  {folder + '/' if folder else './'}: {', '.join(sorted(groups[folder]))}")
    lines.append(
        f"deploy: see {out / 'deploy'}/ (shell: run each launch-<host>.sh on its node; or "
        f"'boute deploy {out / 'plan.json'} --target shell|skypilot|k8s|litellm')"
    )
    return "\n".join(lines)


def _cmd_predict(args) -> int:
    from tabulate import tabulate

    from boute.engine.plugins import load_catalog
    from boute.engine.replica import ReplicaConfig, ReplicaModel, steady_state_closed_loop

    catalog = load_catalog()
    if args.bench:
        from boute.engine.cli_bench import cmd_predict_bench

        return cmd_predict_bench(args, catalog)
    llm, gpu = catalog.model(args.model, field="--model"), catalog.gpu(args.gpu, field="--gpu")
    for name in ("batch", "input_len", "output_len"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')}: {getattr(args, name)} must be >= 1", hint="a positive integer")
    from boute.engine.engines import get_profile

    cfg = ReplicaConfig(
        model=llm.name,
        gpu=gpu.name,
        tp=args.tp,
        pp=args.pp,
        weight_dtype=args.dtype,
        kv_dtype=args.kv_dtype,
        engine=get_profile(args.engine, field="--engine").name,
    )
    rm = ReplicaModel(llm, gpu, cfg, max_model_len=args.input_len + args.output_len)
    mem = rm.memory()
    out: dict[str, Any] = {
        "model": llm.name,
        "gpu": gpu.name,
        "tp": args.tp,
        "pp": args.pp,
        "weight_dtype": args.dtype,
        "kv_dtype": args.kv_dtype,
        "spec_only": gpu.spec_only,
        "fits": mem.feasible,
        "reason": mem.reason,
        "weights_gib_per_gpu": mem.weight_bytes / 2**30,
        "workspace_gib_per_gpu": mem.workspace_bytes / 2**30,
        "runtime_gib_per_gpu": mem.overhead_bytes / 2**30,
        "usable_gib_per_gpu": mem.usable_bytes / 2**30,
        "kv_capacity_tokens": mem.kv_capacity_tokens,
    }
    if mem.feasible:
        ss = steady_state_closed_loop(rm, args.batch, args.input_len, args.output_len)
        out.update(
            {
                "batch": args.batch,
                "input_len": args.input_len,
                "output_len": args.output_len,
                "prefill_one_prompt_ms": float(rm.prefill_time(args.input_len)) * 1e3,
                "ttft_ms": ss["ttft_s"] * 1e3,
                "tpot_ms": ss["tpot_s"] * 1e3,
                "throughput_tokens_per_s": ss["throughput_rps"] * args.output_len,
                "throughput_rps": ss["throughput_rps"],
                "effective_batch": ss["effective_concurrency"],
            }
        )
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    if not mem.feasible:
        print(f"{llm.name} on {args.tp * args.pp} x {gpu.name} (TP{args.tp} PP{args.pp} {args.dtype}) does not fit: {mem.reason}")
        return 0
    rows = [[k, (f"{v:.3f}" if isinstance(v, float) else v)] for k, v in out.items() if k != "reason"]
    print(tabulate(rows, headers=["quantity", "value"]))
    if gpu.spec_only:
        print(f"spec-only: {gpu.name} has no measured calibration ({gpu.calibration.source})")
    return 0


def _cmd_catalog(_args) -> int:
    from tabulate import tabulate

    from boute.engine.plugins import load_catalog

    c = load_catalog()
    print(
        tabulate(
            [
                [
                    g.name,
                    f"{g.memory_gib:g}",
                    f"{g.hbm_bandwidth_gb_per_s:g}",
                    f"{g.bf16_tflops:g}",
                    _fmt(g.fp8_tflops, 1),
                    f"{g.intra_node_link}{'' if g.p2p else ' (no P2P)'}",
                    "spec-only" if g.spec_only else "measured",
                    g.source,
                ]
                for g in c.gpus.values()
            ],
            headers=["GPU", "GiB", "GB/s", "BF16 TF", "FP8 TF", "link", "calibration", "source"],
            maxcolwidths=[None] * 7 + [70],
        )
    )
    print()
    print(
        tabulate(
            [
                [
                    m.name,
                    f"{m.params / 1e9:.2f} B",
                    f"{m.published_params_b:g} B",
                    m.num_layers,
                    m.hidden_size,
                    f"{m.num_attention_heads}/{m.num_kv_heads}",
                    m.num_experts,
                    m.source,
                ]
                for m in c.models.values()
            ],
            headers=["model", "derived", "published", "layers", "hidden", "heads/kv", "experts", "source"],
            maxcolwidths=[None] * 7 + [70],
        )
    )
    print()
    print(
        tabulate(
            [[p.price_set, p.gpu, f"{p.usd_per_gpu_hour:.2f}", p.source_date, p.provider, p.note] for p in c.prices],
            headers=["price set", "GPU", "USD/GPU-h", "date", "provider", "note"],
        )
    )
    for prob in c.problems:
        print(f"plugin problem: {prob}", file=sys.stderr)
    return 0


def _cmd_perfdb(args) -> int:
    from tabulate import tabulate

    from boute.engine.planner import Planner
    from boute.engine.plugins import load_catalog

    catalog = load_catalog()
    planner = Planner(_scenario(args, catalog), catalog)
    print(tabulate(planner.perfdb.table(), headers="keys"))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``boute`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    known = {"solve", "predict", "catalog", "perfdb", "calibrate", "deploy", "sweep", "-h", "--help", "-v", "--verbose", "--version"}
    if not argv or argv[0] not in known:
        argv = ["solve", *argv]
    try:
        args = _parser().parse_args(argv)
        if getattr(args, "verbose", False):
            logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        else:
            logging.basicConfig(level=logging.ERROR, format="%(levelname)s: %(message)s")
            logging.getLogger("boute").setLevel(logging.WARNING)  # boute's own warnings (e.g. an unwritable cache) are shown
        cmd = args.command or "solve"
        if cmd == "calibrate":
            from boute.engine.cli_bench import cmd_calibrate
            from boute.engine.plugins import load_catalog

            return cmd_calibrate(args, load_catalog())
        return {
            "solve": _cmd_solve,
            "predict": _cmd_predict,
            "catalog": _cmd_catalog,
            "perfdb": _cmd_perfdb,
            "deploy": cmd_deploy,
            "sweep": lambda a: cmd_sweep(a, _scenario),
        }[cmd](args)
    except BouteError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        msg = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        print(f"error: internal error: {msg} (hint: rerun with -v and report it)", file=sys.stderr)
        return 1
