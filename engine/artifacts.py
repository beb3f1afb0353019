"""Files an operator deploys or reads: plan.json (+ schema), pareto.png, vLLM launch
commands, a router config and one SkyPilot task per GPU pool."""

from __future__ import annotations

import json
import pathlib
import shlex

import yaml

from boute.engine.plan import SCHEMA_VERSION, Plan
from boute.engine.replica import DEFAULT_GPU_MEMORY_UTILIZATION, DEFAULT_MAX_NUM_BATCHED_TOKENS, DEFAULT_MAX_NUM_SEQS

__all__ = ["write_artifacts", "vllm_commands", "PLAN_SCHEMA", "SKYPILOT_ACCELERATOR"]

# SkyPilot accelerator names (skypilot docs, `sky show-gpus`, read 2026-11-27).
SKYPILOT_ACCELERATOR = {
    "H100-SXM": "H100", "H100-PCIe": "H100", "H200": "H200", "A100-80GB-SXM": "A100-80GB", "L40S": "L40S",
    "RTX-PRO-6000": "RTXPRO6000", "RTX-5090": "RTX5090", "RTX-4090": "RTX4090", "A10G": "A10G", "L4": "L4", "T4": "T4",
}

PLAN_SCHEMA = pathlib.Path(__file__).with_name("plan.schema.json")

BASE_PORT = 8000


def vllm_commands(plan: Plan, max_model_len: int) -> list[dict]:
    """One ``vllm serve`` command line per replica, with its endpoint."""
    out, port = [], BASE_PORT
    for d in plan.deployments:
        for g in d.groups:
            for r in range(g.replicas):
                args = [
                    "vllm", "serve", d.hf_id,
                    "--tensor-parallel-size", str(g.tp),
                    "--pipeline-parallel-size", str(g.pp),
                    "--max-model-len", str(max_model_len),
                    "--gpu-memory-utilization", f"{DEFAULT_GPU_MEMORY_UTILIZATION:.2f}",
                    "--max-num-seqs", str(DEFAULT_MAX_NUM_SEQS),
                    "--max-num-batched-tokens", str(DEFAULT_MAX_NUM_BATCHED_TOKENS),
                    "--port", str(port),
                ]
                if g.weight_dtype == "fp8":
                    args += ["--quantization", "fp8"]
                if g.kv_dtype == "fp8":
                    args += ["--kv-cache-dtype", "fp8"]
                out.append({"model": d.model, "config": g.config, "gpu": g.gpu, "replica": r, "gpus": g.tp * g.pp,
                            "port": port, "endpoint": f"http://{{host}}:{port}/v1", "argv": args,
                            "command": " ".join(shlex.quote(a) for a in args),
                            "weight": g.capacity_rps_at_bound})
                port += 1
    return out


def router_config(plan: Plan, cmds: list[dict]) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "router": {"kind": "score-bands", "scorer": plan.router, "thresholds": list(plan.thresholds),
                   "rule": "query -> models[j] where thresholds[j-1] <= score < thresholds[j] (cheapest first)"},
        "dispatch": {"policy": plan.dispatch_policy, "rule": "request -> endpoint i with probability weight_i / sum(weights) (LiteLLM simple-shuffle with weight)"},
        "models": [
            {"name": d.model, "hf_id": d.hf_id, "share": d.load_share,
             "endpoints": [{"url": c["endpoint"], "weight": c["weight"], "gpu": c["gpu"]} for c in cmds if c["model"] == d.model]}
            for d in plan.deployments
        ],
    }


def skypilot_tasks(plan: Plan, cmds: list[dict], gpus_per_node: dict[str, int]) -> dict[str, dict]:
    """One SkyPilot task per GPU pool: nodes sized to the pool, replicas' commands in ``run``."""
    tasks = {}
    for gpu in sorted({c["gpu"] for c in cmds}):
        mine = [c for c in cmds if c["gpu"] == gpu]
        total = sum(c["gpus"] for c in mine)
        per_node = gpus_per_node.get(gpu, 8)
        nodes = -(-total // per_node)
        per = min(per_node, total)
        run = "\n".join(f"{c['command']} &" for c in mine) + "\nwait\n"
        tasks[gpu] = {
            "name": f"boute-{plan.scenario}-{gpu}".lower().replace("_", "-"),
            "resources": {"accelerators": {SKYPILOT_ACCELERATOR.get(gpu, gpu): per}, "ports": [c["port"] for c in mine]},
            "num_nodes": nodes,
            "setup": "pip install vllm",
            "run": run,
        }
    return tasks


def write_artifacts(plan: Plan, out_dir: pathlib.Path, *, max_model_len: int, gpus_per_node: dict[str, int], trials=None) -> dict[str, str]:
    """Write every artifact; returns name -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    doc = plan.to_dict()
    (out_dir / "plan.json").write_text(json.dumps(doc, indent=2))
    paths["plan.json"] = str(out_dir / "plan.json")
    (out_dir / "plan.schema.json").write_text(PLAN_SCHEMA.read_text())
    paths["plan.schema.json"] = str(out_dir / "plan.schema.json")
    cmds = vllm_commands(plan, max_model_len)
    dep = out_dir / "deploy"
    dep.mkdir(exist_ok=True)
    lines = ["#!/usr/bin/env bash", f"# boute plan for {plan.scenario}: one vLLM server per replica", "set -euo pipefail"]
    for c in cmds:
        lines.append(f"# {c['model']} on {c['gpus']} x {c['gpu']} ({c['config']}), replica {c['replica']}")
        lines.append(c["command"] + " &")
    lines.append("wait")
    (dep / "launch.sh").write_text("\n".join(lines) + "\n")
    paths["launch.sh"] = str(dep / "launch.sh")
    (dep / "router.yaml").write_text(yaml.safe_dump(router_config(plan, cmds), sort_keys=False))
    paths["router.yaml"] = str(dep / "router.yaml")
    for gpu, task in skypilot_tasks(plan, cmds, gpus_per_node).items():
        p = dep / f"skypilot-{gpu}.yaml"
        p.write_text(yaml.safe_dump(task, sort_keys=False))
        paths[f"skypilot-{gpu}.yaml"] = str(p)
    paths["pareto.png"] = str(plot_pareto(plan, out_dir / "pareto.png", trials=trials))
    return paths


def plot_pareto(plan: Plan, path: pathlib.Path, trials=None) -> pathlib.Path:
    """P95 (bound) against quality: evaluated trials, the frontier, the plan, baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    if trials:
        pts = [(t.quality, t.objective) for t in trials if t.feasible and plan.objective == "latency"]
        if pts:
            ax.scatter(*zip(*pts), s=12, color="0.75", label="evaluated trials", zorder=1)
    if plan.pareto:
        fr = sorted((p.quality, p.p95_bound_s) for p in plan.pareto)
        ax.plot(*zip(*fr), "-o", color="tab:blue", ms=4, label="Pareto frontier (MILP P95 bound)", zorder=2)
    ax.scatter([plan.quality], [plan.p95_bound_s], marker="*", s=220, color="tab:red", zorder=4, label="chosen plan (bound)")
    if plan.simulated:
        ax.scatter([plan.quality], [plan.simulated["p95_s"]], marker="*", s=120, facecolor="none", edgecolor="tab:red", zorder=4,
                   label="chosen plan (re-simulated)")
    markers = ["s", "^", "D", "v"]
    for (name, b), mk in zip(plan.baselines.items(), markers):
        if b.get("feasible"):
            ax.scatter([b["quality"]], [b["p95_bound_s"]], marker=mk, s=60, zorder=3, label=f"{name} (bound)")
    if plan.quality_min is not None:
        ax.axvline(plan.quality_min, color="0.4", ls="--", lw=1, label="quality target")
    ax.set_xlabel(f"quality ({plan.quality_unit})")
    ax.set_ylabel("P95 end-to-end latency (s)")
    title = f"{plan.scenario}: USD {plan.cost_usd_per_hour:.2f}/h"  # no '$': matplotlib reads it as mathtext
    if plan.budget_usd_per_hour:
        title += f" of a USD {plan.budget_usd_per_hour:.0f}/h budget"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
