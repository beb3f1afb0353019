"""Files an operator deploys or reads, generated from a :class:`Plan` alone.

``write_artifacts(plan, out_dir)`` writes plan.json (+ its JSON schema), pareto.png and
every deploy target under ``out_dir/deploy/``; ``write_target(plan, target, dir)`` writes
one target (what ``boute deploy plan.json --target ...`` calls):

* ``shell``: one launch script per node (``launch-<host>.sh``). Each replica runs on its
  own GPUs (``CUDA_VISIBLE_DEVICES`` from :func:`boute.engine.cluster.place`, TP groups
  inside a node as the MILP's C5 assumes) and its own port; ``HF_TOKEN`` comes from the
  environment; the script waits for every ``/health``, and exits non-zero as soon as any
  server dies.
* ``skypilot``: one SkyServe service per model and replica config (SkyServe replicas are
  homogeneous): ``replicas`` fixed to boute's count, ``target_qps_per_replica`` = one
  replica's capacity at the plan's bound, ``/health`` readiness probe, vLLM pinned to the
  plan's engine version, ``HF_TOKEN`` as a secret. One replica rents exactly its
  ``TP x PP`` GPUs (a 13 x RTX 4090 TP1 plan rents 13 GPUs, not two 8-GPU nodes).
* ``k8s``: per model and GPU pool a Deployment + Service (``nvidia.com/gpu`` limits, a
  GPU Feature Discovery node selector, ``/health`` readiness probe, token from a Secret).
* ``litellm``: LiteLLM proxy configs (one per backend's endpoints) with per-endpoint
  ``weight`` = capacity at the bound under ``simple-shuffle`` (weighted random: the
  dispatch policy the perf DB and the re-simulation assume), ``router.yaml`` (the score
  bands, their scale, the dispatch policy) and, for two models, RouteLLM's calibration
  command (``--strong-model-pct`` = the plan's strong share).
"""

from __future__ import annotations

import csv
import io
import json
import pathlib
import re
import shlex

import yaml

from boute.engine.cluster import Placement, place
from boute.engine.errors import InputError
from boute.engine.plan import SCHEMA_VERSION, Plan, ReplicaGroup

__all__ = [
    "write_artifacts",
    "write_target",
    "TARGETS",
    "PLAN_SCHEMA",
    "SKYPILOT_RESOURCES",
    "K8S_GPU_PRODUCT",
    "vllm_argv",
    "launch_scripts",
    "skypilot_services",
    "k8s_manifests",
    "litellm_config",
    "router_config",
    "routellm_command",
    "frontier_rows",
]

TARGETS = ("shell", "skypilot", "k8s", "litellm")

PLAN_SCHEMA = pathlib.Path(__file__).with_name("plan.schema.json")

READY_TIMEOUT_S = 1800
"""How long a launch script waits for a server's /health (weights download + load + CUDA graphs)."""

# SkyPilot accelerator names that rent what boute modelled (skypilot 0.14.1 catalog
# fetchers, read 2026-11-28): RunPod lists the PCIe H100 as "H100" and the SXM part as
# "H100-SXM" (sky/catalog/data_fetchers/fetch_runpod.py, GPU_NAME_OVERRIDES
# 'H100-PCIe' -> 'H100'); Fluidstack likewise (fetch_fluidstack.py GPU_MAP
# 'H100_PCIE_80GB' -> 'H100', 'H100_SXM5_80GB' -> 'H100-SXM'); AWS p5, GCP a3-highgpu
# (sky/catalog/gcp_catalog.py) and Azure ND H100 v5 sell only SXM H100s under "H100".
# So an SXM H100 is "H100-SXM" anywhere, or "H100" only on aws/gcp/azure; a plain "H100"
# without a cloud could rent a PCIe card. Each entry: (accelerator, cloud or None).
SKYPILOT_RESOURCES: dict[str, tuple[tuple[str, str | None], ...]] = {
    "H100-SXM": (("H100-SXM", None), ("H100", "aws"), ("H100", "gcp"), ("H100", "azure")),
    "H100-PCIe": (("H100", "runpod"), ("H100", "fluidstack")),
    "H200": (("H200-SXM", None), ("H200", "aws"), ("H200", "gcp"), ("H200", "azure")),
    "A100-80GB-SXM": (("A100-80GB-SXM", None), ("A100-80GB", "aws"), ("A100-80GB", "gcp"), ("A100-80GB", "azure")),
    "L40S": (("L40S", None),),
    "RTX-PRO-6000": (("RTXPRO6000", None),),
    "RTX-5090": (("RTX5090", None),),
    "RTX-4090": (("RTX4090", None),),
    "A10G": (("A10G", None),),
    "L4": (("L4", None),),
    "T4": (("T4", None),),
}

# Kubernetes node labels set by NVIDIA GPU Feature Discovery (NVIDIA/k8s-device-plugin,
# gpu-feature-discovery: nvidia.com/gpu.product = the product name nvidia-smi reports with
# spaces replaced by '-'; values as seen on nodes, read 2026-11-28).
K8S_GPU_PRODUCT = {
    "H100-SXM": "NVIDIA-H100-80GB-HBM3",
    "H100-PCIe": "NVIDIA-H100-PCIe",
    "H200": "NVIDIA-H200",
    "A100-80GB-SXM": "NVIDIA-A100-SXM4-80GB",
    "L40S": "NVIDIA-L40S",
    "RTX-PRO-6000": "NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition",
    "RTX-5090": "NVIDIA-GeForce-RTX-5090",
    "RTX-4090": "NVIDIA-GeForce-RTX-4090",
    "A10G": "NVIDIA-A10G",
    "L4": "NVIDIA-L4",
    "T4": "Tesla-T4",
}

VLLM_IMAGE = "vllm/vllm-openai"
"""vLLM's official OpenAI-server image on Docker Hub, tagged ``v<version>``."""

HF_SECRET = "hf-token"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _need_vllm(plan: Plan) -> None:
    if plan.engine.name != "vllm":
        raise InputError(
            f"engine: the deploy files launch vLLM; the plan was made for the {plan.engine.profile!r} profile ({plan.engine.name})",
            hint="plan with --engine vllm-v1 (or vllm-0.6 / vllm-0.5) to get launch files, or start the servers yourself "
            "with boute.engine.engines.engine_flags(profile, ...)",
        )


def _model_args(hf_id: str, checkpoint: str) -> list[str]:
    """``vllm serve``'s model argument: a pre-quantized checkpoint is served under the
    model's own id, so that clients and the router name every replica of a model alike."""
    return [checkpoint, "--served-model-name", hf_id] if checkpoint else [hf_id]


def vllm_argv(plan: Plan, p: Placement) -> list[str]:
    """The ``vllm serve`` command of one replica."""
    _need_vllm(plan)
    argv = [
        "vllm",
        "serve",
        *_model_args(p.hf_id, p.checkpoint),
        "--tensor-parallel-size",
        str(p.tp),
        "--pipeline-parallel-size",
        str(p.pp),
        *plan.engine.flags,
        *p.engine_flags,
        "--host",
        "0.0.0.0",
        "--port",
        str(p.port),
    ]
    if not p.single_host:
        argv += ["--distributed-executor-backend", "ray"]
    return argv


def _group_argv(plan: Plan, hf_id: str, g: ReplicaGroup, port: int) -> list[str]:
    _need_vllm(plan)
    return [
        "vllm",
        "serve",
        *_model_args(hf_id, g.checkpoint),
        "--tensor-parallel-size",
        str(g.tp),
        "--pipeline-parallel-size",
        str(g.pp),
        *plan.engine.flags,
        *g.engine_flags,
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
    ]


# ----------------------------------------------------------------------------- shell
_SHELL_HEAD = """#!/usr/bin/env bash
# boute plan {scenario}: node {host} ({gpus} x {gpu}). Written by boute {version}.
# Run on that node with vLLM {engine_version} installed (pip install "vllm=={engine_version}")
# and HF_TOKEN exported (Llama 3.1 weights are gated on Hugging Face).
# Starts {n} vLLM server(s), waits for each /health, then exits non-zero as soon as any dies.
set -euo pipefail
: "${{HF_TOKEN:?export HF_TOKEN (a Hugging Face token with access to the models)}}"
export HF_TOKEN
READY_TIMEOUT_S=${{READY_TIMEOUT_S:-{timeout}}}
LOG_DIR=${{LOG_DIR:-logs}}
mkdir -p "$LOG_DIR"
pids=()
ports=()
cleanup() {{ for p in "${{pids[@]}}"; do kill "$p" 2>/dev/null || true; done; }}
trap cleanup EXIT INT TERM
"""

_SHELL_WAIT = """
wait_ready() {  # port pid: poll /health until it answers, fail if the server dies first
  local port=$1 pid=$2 t=0
  until curl -fsS -o /dev/null "http://127.0.0.1:${port}/health"; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "server on port ${port} died while starting (see $LOG_DIR)" >&2; return 1; fi
    if [ "$t" -ge "$READY_TIMEOUT_S" ]; then echo "server on port ${port} not ready after ${READY_TIMEOUT_S}s" >&2; return 1; fi
    sleep 5; t=$((t + 5))
  done
}
for i in "${!pids[@]}"; do
  [ "${ports[$i]}" = 0 ] && continue  # a Ray worker for another node's replica: no server here
  wait_ready "${ports[$i]}" "${pids[$i]}"
done
echo "all ${#pids[@]} server(s) on this node are ready"
# Block until the first server exits; any exit is a failure of the deployment.
rc=0
wait -n "${pids[@]}" || rc=$?
echo "a vLLM server exited (status ${rc}); stopping the others" >&2
exit $(( rc == 0 ? 1 : rc ))
"""


def launch_scripts(plan: Plan, placements: tuple[Placement, ...] | None = None) -> dict[str, str]:
    """``launch-<host>.sh`` per node that runs something, plus ``hosts.txt``."""
    pl = placements if placements is not None else place(plan)
    from boute.engine.cluster import cluster_graph

    graph = cluster_graph(plan)
    by_host: dict[str, list[Placement]] = {}
    workers: dict[str, list[Placement]] = {}
    for p in pl:
        by_host.setdefault(p.host, []).append(p)
        for h in p.hosts[1:]:
            workers.setdefault(h, []).append(p)
    files: dict[str, str] = {}
    for host in sorted(set(by_host) | set(workers)):
        node = graph.nodes[host]
        mine = by_host.get(host, [])
        lines = [
            _SHELL_HEAD.format(
                scenario=plan.scenario,
                host=host,
                gpus=node["gpus"],
                gpu=node["gpu"],
                version=plan.provenance.boute_version,
                engine_version=plan.engine.version,
                n=len(mine),
                timeout=READY_TIMEOUT_S,
            )
        ]
        for p in workers.get(host, []):
            lines.append(f"# pipeline stage(s) of {p.model} replica {p.replica} served from {p.host}: join its Ray cluster")
            lines.append(
                f"CUDA_VISIBLE_DEVICES={p.cuda_visible_devices(host)} ray start --address={p.host}:6379 --num-gpus="
                f"{len(p.cuda_visible_devices(host).split(','))} --block &"
            )
            lines.append("pids+=($!); ports+=(0)")
        for p in mine:
            log = f"$LOG_DIR/{_slug(p.model)}-{p.port}.log"
            lines.append(f"# {p.model} ({p.config}) replica {p.replica}: GPUs {p.cuda_visible_devices()} of {host}, port {p.port}")
            if not p.single_host:
                lines.append(
                    f"CUDA_VISIBLE_DEVICES={p.cuda_visible_devices()} ray start --head --port=6379 "
                    f"--num-gpus={len(p.cuda_visible_devices().split(','))}"
                )
            cmd = " ".join(shlex.quote(a) for a in vllm_argv(plan, p))
            lines.append(f'CUDA_VISIBLE_DEVICES={p.cuda_visible_devices()} {cmd} > "{log}" 2>&1 &')
            lines.append(f"pids+=($!); ports+=({p.port})")
        if not mine:  # a worker-only node: no /health of its own; fail when its Ray worker stops
            lines.append('rc=0; wait -n "${pids[@]}" || rc=$?; echo "ray worker exited (status ${rc})" >&2; exit $(( rc == 0 ? 1 : rc ))')
        else:
            lines.append(_SHELL_WAIT)
        files[f"launch-{host}.sh"] = "\n".join(lines).rstrip() + "\n"
    rows = ["# host  gpu_type  gpus  script  (name the machines so, or edit the endpoints in litellm-shell.yaml)"]
    for host in sorted(set(by_host) | set(workers)):
        node = graph.nodes[host]
        rows.append(f"{host}  {node['gpu']}  {node['gpus']}  launch-{host}.sh")
    files["hosts.txt"] = "\n".join(rows) + "\n"
    return files


# ----------------------------------------------------------------------------- SkyPilot
def _service_name(plan: Plan, model: str, g: ReplicaGroup) -> str:
    name = f"boute-{_slug(model)}-{_slug(g.gpu)}-tp{g.tp}pp{g.pp}" + ("" if g.weight_dtype == "bf16" else f"-{g.weight_dtype}")
    return name[:63].rstrip("-")


def _sky_resources(plan: Plan, g: ReplicaGroup, port: int) -> dict:
    node = plan.pool(g.gpu).gpus_per_node
    per_node = min(g.gpus_per_replica, node)
    options = SKYPILOT_RESOURCES.get(g.gpu)
    if options is None:
        raise InputError(
            f"skypilot: no SkyPilot accelerator name known for GPU type {g.gpu!r}",
            hint=f"known: {', '.join(SKYPILOT_RESOURCES)}; add it to SKYPILOT_RESOURCES",
        )
    res: dict = {"ports": port}
    alts = []
    for acc, cloud in options:
        r = {"accelerators": {acc: per_node}}
        if cloud:
            r["cloud"] = cloud
        alts.append(r)
    if len(alts) == 1:
        res.update(alts[0])
    else:
        res["any_of"] = alts
    return res


def skypilot_services(plan: Plan) -> dict[str, dict]:
    """One SkyServe service YAML per (model, replica config): file name -> document."""
    out = {}
    port = 8000
    for d in plan.deployments:
        for g in d.groups:
            node = plan.pool(g.gpu).gpus_per_node
            nodes = -(-g.gpus_per_replica // node)
            argv = _group_argv(plan, d.hf_id, g, port)
            if nodes > 1:
                argv += ["--distributed-executor-backend", "ray"]
                run = (
                    "set -euo pipefail\n"
                    'HEAD_IP=$(echo "$SKYPILOT_NODE_IPS" | head -n1)\n'
                    'if [ "$SKYPILOT_NODE_RANK" = 0 ]; then\n'
                    f"  ray start --head --port=6379 --num-gpus={min(g.gpus_per_replica, node)}\n"
                    f"  {' '.join(shlex.quote(a) for a in argv)}\n"
                    "else\n"
                    f"  ray start --address=$HEAD_IP:6379 --num-gpus={min(g.gpus_per_replica, node)} --block\n"
                    "fi\n"
                )
            else:
                run = " ".join(shlex.quote(a) for a in argv) + "\n"
            name = _service_name(plan, d.model, g)
            task = {
                "name": name,
                "service": {
                    "readiness_probe": {"path": "/health", "initial_delay_seconds": READY_TIMEOUT_S},
                    # fixed at boute's count (min = max); the QPS figure is one replica's
                    # capacity at the plan's P95 bound, what SkyServe's autoscaler would target
                    "replica_policy": {
                        "min_replicas": g.replicas,
                        "max_replicas": g.replicas,
                        "target_qps_per_replica": round(g.capacity_rps_at_bound, 4),
                    },
                    "load_balancing_policy": "round_robin",
                },
                "resources": _sky_resources(plan, g, port),
                "num_nodes": nodes,
                "secrets": {"HF_TOKEN": None},
                "setup": f'pip install "vllm=={plan.engine.version}"',
                "run": run,
            }
            out[f"{name}.yaml"] = task
    return out


# ----------------------------------------------------------------------------- Kubernetes
def k8s_manifests(plan: Plan, namespace: str = "default") -> dict[str, list[dict]]:
    """Per model and GPU config: a Deployment and a Service (file name -> documents)."""
    out = {}
    for d in plan.deployments:
        for g in d.groups:
            node = plan.pool(g.gpu).gpus_per_node
            if g.gpus_per_replica > node:
                raise InputError(
                    f"k8s: {d.model} on {g.gpu} needs {g.gpus_per_replica} GPUs per replica, more than one {node}-GPU node",
                    hint="a multi-node replica needs LeaderWorkerSet; use --target shell or skypilot for this plan",
                )
            name = _service_name(plan, d.model, g)[len("boute-") :]
            labels = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/part-of": "boute", "boute/service": name}
            argv = _group_argv(plan, d.hf_id, g, 8000)
            container = {
                "name": "vllm",
                "image": f"{VLLM_IMAGE}:v{plan.engine.version}",
                "command": argv[:2],
                "args": argv[2:],
                "ports": [{"containerPort": 8000, "name": "http"}],
                "env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": HF_SECRET, "key": "token"}}}],
                "resources": {"limits": {"nvidia.com/gpu": g.gpus_per_replica}, "requests": {"nvidia.com/gpu": g.gpus_per_replica}},
                "readinessProbe": {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 10, "failureThreshold": 3},
                "startupProbe": {
                    "httpGet": {"path": "/health", "port": 8000},
                    "periodSeconds": 10,
                    "failureThreshold": READY_TIMEOUT_S // 10,
                },
                "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
            }
            dep = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {
                    "replicas": g.replicas,
                    "selector": {"matchLabels": {"boute/service": name}},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "nodeSelector": {"nvidia.com/gpu.product": K8S_GPU_PRODUCT.get(g.gpu, g.gpu)},
                            "containers": [container],
                            # NCCL needs more shared memory than the container default
                            "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}],
                        },
                    },
                },
            }
            svc = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {"selector": {"boute/service": name}, "ports": [{"name": "http", "port": 8000, "targetPort": 8000}]},
            }
            out[f"{name}.yaml"] = [dep, svc]
    return out


# ----------------------------------------------------------------------------- routers
def _endpoints(plan: Plan, backend: str) -> list[tuple[str, str, float, str]]:
    """(model, api_base, weight, note) per endpoint a router dispatches to."""
    out = []
    if backend == "shell":
        for p in place(plan):
            out.append((p.model, p.endpoint, p.weight, f"{p.config} replica {p.replica}"))
        return out
    for d in plan.deployments:
        for g in d.groups:
            name = _service_name(plan, d.model, g)
            w = g.replicas * g.capacity_rps_at_bound
            if backend == "k8s":
                out.append((d.model, f"http://{name[len('boute-') :]}.default.svc.cluster.local:8000/v1", w, g.config))
            else:  # skypilot: the endpoint exists once the service is up (sky serve status --endpoint NAME)
                env = _slug(name).upper().replace("-", "_") + "_URL"
                out.append((d.model, f"os.environ/{env}", w, f"{g.config}; export {env}=http://$(sky serve status --endpoint {name})/v1"))
    return out


def litellm_config(plan: Plan, backend: str = "shell") -> dict:
    """A LiteLLM proxy config: one ``model_name`` per model, one deployment per endpoint,
    ``weight`` = capacity at the bound, ``simple-shuffle`` (weighted random)."""
    model_list = []
    hf = {d.model: d.hf_id for d in plan.deployments}
    for model, base, weight, _note in _endpoints(plan, backend):
        model_list.append(
            {
                "model_name": model,
                "litellm_params": {"model": f"hosted_vllm/{hf[model]}", "api_base": base, "weight": round(weight, 6)},
            }
        )
    return {
        "model_list": model_list,
        # simple-shuffle picks a deployment at random with probability proportional to
        # litellm_params.weight (litellm/router_strategy/simple_shuffle.py)
        "router_settings": {"routing_strategy": "simple-shuffle"},
    }


def routellm_command(plan: Plan, router: str = "mf") -> str | None:
    """RouteLLM's threshold calibration for the plan's strong share (two models), else None.

    ``python -m routellm.calibrate_threshold --task calibrate --routers mf
    --strong-model-pct X`` prints the threshold on that router's own scale (its strong-win
    probability) and the model name ``router-mf-<threshold>`` to request
    (lm-sys/RouteLLM routellm/calibrate_threshold.py and openai_server.py, commit 0b64fdaf).
    """
    if len(plan.models) != 2:
        return None
    pct = plan.shares[1]
    return (
        f"python -m routellm.calibrate_threshold --task calibrate --routers {router} "
        f"--strong-model-pct {pct:.4f} --config config.example.yaml"
    )


def router_config(plan: Plan) -> dict:
    """router.yaml: the score bands, the scale they are on, the dispatch policy."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "router": {
            "kind": "score-bands",
            "scorer": plan.router,
            "scale": plan.router_scale,
            "thresholds": list(plan.thresholds),
            "rule": "query -> models[j] where thresholds[j-1] <= score < thresholds[j] (cheapest first)",
        },
        "dispatch_policy": {
            "name": plan.dispatch_policy,
            "rule": "within a model, request -> replica r with probability w_r / sum(w); w_r = capacity at the P95 bound",
            "implemented_by": "LiteLLM simple-shuffle with litellm_params.weight (litellm-*.yaml)",
        },
        "models": [{"name": d.model, "hf_id": d.hf_id, "share": d.load_share} for d in plan.deployments],
    }
    cmd = routellm_command(plan)
    if cmd:
        doc["routellm"] = {
            "strong_model_pct": plan.shares[1],
            "calibrate": cmd,
            "note": "RouteLLM thresholds are on its router's scale ([0, 1] strong-win probability), not boute's; "
            "calibrate to the plan's strong share and request model router-<router>-<threshold>",
        }
    return doc


def _routellm_script(plan: Plan) -> str | None:
    cmd = routellm_command(plan)
    if cmd is None:
        return None
    weak, strong = plan.models
    return f"""#!/usr/bin/env bash
# RouteLLM (lm-sys/RouteLLM) for boute plan {plan.scenario}: send {plan.shares[1] * 100:.1f} % of queries to {strong}.
# 1. Calibrate the threshold on the mf router's own scale for that strong-model share:
set -euo pipefail
{cmd}
# 2. Serve, pointing both models at the LiteLLM proxy (litellm --config litellm-shell.yaml, port 4000):
#    python -m routellm.openai_server --routers mf --base-url http://localhost:4000/v1 --api-key "$LITELLM_KEY" \\
#        --strong-model {shlex.quote(strong)} --weak-model {shlex.quote(weak)}
#    and request model "router-mf-<threshold printed above>".
"""


# ----------------------------------------------------------------------------- files
def frontier_rows(plan: Plan) -> list[dict]:
    """The frontier (and alternatives) as flat rows for CSV."""
    rows = []
    for kind, pts in (("pareto", plan.pareto), ("alternative", plan.alternatives)):
        for p in pts:
            rows.append(
                {
                    "kind": kind,
                    "quality": p.quality,
                    "p95_bound_s": p.p95_bound_s,
                    "cost_usd_per_hour": p.cost_usd_per_hour,
                    **{f"share_{m}": s for m, s in zip(plan.models, p.shares)},
                    "allocation": "; ".join(f"{d.model}: {d.allocation()}" for d in p.deployments),
                }
            )
    return rows


def _write(path: pathlib.Path, text: str, executable: bool = False) -> str:
    path.write_text(text)
    if executable:
        path.chmod(0o755)
    return str(path)


def write_target(plan: Plan, target: str, out_dir: pathlib.Path) -> dict[str, str]:
    """Write one deploy target's files into ``out_dir``; returns name -> path."""
    if target not in TARGETS:
        from boute.engine.errors import did_you_mean

        raise InputError(f"--target: {target!r} is not a target", hint=did_you_mean(target, TARGETS))
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    if target == "shell":
        for name, text in launch_scripts(plan).items():
            paths[name] = _write(out_dir / name, text, executable=name.endswith(".sh"))
    elif target == "skypilot":
        for name, doc in skypilot_services(plan).items():
            paths[name] = _write(out_dir / name, yaml.safe_dump(doc, sort_keys=False))
    elif target == "k8s":
        for name, docs in k8s_manifests(plan).items():
            paths[name] = _write(out_dir / name, yaml.safe_dump_all(docs, sort_keys=False))
    else:
        for backend in ("shell", "skypilot", "k8s"):
            try:
                doc = litellm_config(plan, backend)
            except InputError:
                continue
            name = f"litellm-{backend}.yaml"
            paths[name] = _write(out_dir / name, yaml.safe_dump(doc, sort_keys=False))
        paths["router.yaml"] = _write(out_dir / "router.yaml", yaml.safe_dump(router_config(plan), sort_keys=False))
        script = _routellm_script(plan)
        if script:
            paths["routellm-calibrate.sh"] = _write(out_dir / "routellm-calibrate.sh", script, executable=True)
    return paths


def write_artifacts(plan: Plan, out_dir: pathlib.Path, *, trials=None, targets=TARGETS, frontier_csv: bool = False) -> dict[str, str]:
    """Write plan.json, its schema, pareto.png and every deploy target (``out_dir/deploy/<target>/``).

    Args:
        trials: the outer loop's trials, drawn as grey points in pareto.png (optional).
        frontier_csv: also write frontier.csv.
    Returns:
        file name (relative to ``out_dir``) -> path.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "plan.json": _write(out_dir / "plan.json", json.dumps(plan.to_dict(), indent=2) + "\n"),
        "plan.schema.json": _write(out_dir / "plan.schema.json", PLAN_SCHEMA.read_text()),
    }
    for target in targets:
        for name, p in write_target(plan, target, out_dir / "deploy" / target).items():
            paths[f"deploy/{target}/{name}"] = p
    if frontier_csv:
        rows = frontier_rows(plan)
        buf = io.StringIO()
        if rows:
            w = csv.DictWriter(buf, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        paths["frontier.csv"] = _write(out_dir / "frontier.csv", buf.getvalue())
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
    if plan.simulated is not None and plan.simulated.p95_s is not None:
        ax.scatter(
            [plan.quality],
            [plan.simulated.p95_s],
            marker="*",
            s=120,
            facecolor="none",
            edgecolor="tab:red",
            zorder=4,
            label="chosen plan (re-simulated)",
        )
    markers = ["s", "^", "D", "v"]
    for b, mk in zip(plan.baselines, markers):
        if b.feasible:
            ax.scatter([b.quality], [b.p95_bound_s], marker=mk, s=60, zorder=3, label=f"{b.name} (bound)")
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
