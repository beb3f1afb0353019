"""Deploy files, loaded by the real tools' own schemas and loaders (optional extras
``artifacts-test``: skypilot, kubernetes-validate, litellm; CI installs them), and the
launch scripts run against a fake ``vllm`` and ``curl``."""

import copy
import os
import pathlib
import subprocess

import pytest
import yaml

from boute.engine.artifacts import (
    SKYPILOT_RESOURCES,
    k8s_manifests,
    launch_scripts,
    litellm_config,
    router_config,
    skypilot_services,
    write_artifacts,
    write_target,
)
from boute.engine.errors import InputError
from tests.engine.plan_factory import group, make_plan, plan_4090_x13


def two_model_plan():
    return make_plan(
        [
            group("RTX-4090", 1, 3, cap=0.5),
            group("H100-SXM", 1, 2, cap=0.9),
            group("H100-SXM", 4, 1, model="Llama-3.1-70B", cap=1.7, fp8=True),
        ],
        {"RTX-4090": (8, 8), "H100-SXM": (8, 8)},
        shares=(0.7, 0.3),
    )


# ----------------------------------------------------------------------------- shell
FAKE_VLLM = """#!/usr/bin/env bash
port=""; while [ $# -gt 0 ]; do [ "$1" = --port ] && port=$2; shift; done
echo "$CUDA_VISIBLE_DEVICES $port" >> "$RECORD"
if [ "$port" = "$DIE_PORT" ]; then sleep 1; exit 7; fi
exec sleep 30
"""


def _fake_bin(tmp_path: pathlib.Path) -> pathlib.Path:
    b = tmp_path / "bin"
    b.mkdir()
    (b / "vllm").write_text(FAKE_VLLM)
    (b / "curl").write_text("#!/usr/bin/env bash\nexit 0\n")
    for f in b.iterdir():
        f.chmod(0o755)
    return b


def _run_scripts(tmp_path, scripts: dict[str, str], die_port: str, env_extra=None):
    binp = _fake_bin(tmp_path)
    record = tmp_path / "record.txt"
    env = {
        **os.environ,
        "PATH": f"{binp}:{os.environ['PATH']}",
        "RECORD": str(record),
        "DIE_PORT": die_port,
        "HF_TOKEN": "hf_test",
        "LOG_DIR": str(tmp_path / "logs"),
        **(env_extra or {}),
    }
    results = {}
    for name, text in scripts.items():
        if not name.endswith(".sh"):
            continue
        f = tmp_path / name
        f.write_text(text)
        res = subprocess.run(["bash", str(f)], env=env, capture_output=True, text=True, timeout=60)
        results[name] = res
    return results, record.read_text().splitlines() if record.exists() else []


def test_thirteen_4090_scripts_start_each_replica_once_on_its_own_gpu(tmp_path):
    scripts = launch_scripts(plan_4090_x13())
    assert sorted(scripts) == ["hosts.txt", "launch-rtx-4090-0.sh", "launch-rtx-4090-1.sh"]
    # each server dies after a second (port 8000 exits 7): the script must notice and fail
    results, started = _run_scripts(tmp_path, scripts, die_port="8000")
    assert len(started) == 13
    per_host = {"launch-rtx-4090-0.sh": 8, "launch-rtx-4090-1.sh": 5}
    for name, n in per_host.items():
        text = scripts[name]
        assert text.count("vllm serve") == n and "CUDA_VISIBLE_DEVICES=" in text and "HF_TOKEN" in text
        assert "/health" in text and "\nwait\n" not in text
        assert results[name].returncode == 7, results[name].stderr
        assert "stopping the others" in results[name].stderr
    # 8 + 5 distinct (GPU, port) pairs per host: ports 8000.., GPUs 0..
    assert sorted(started) == sorted([f"{i} {8000 + i}" for i in range(8)] + [f"{i} {8000 + i}" for i in range(5)])


def test_launch_script_needs_hf_token(tmp_path):
    scripts = {k: v for k, v in launch_scripts(plan_4090_x13()).items() if k == "launch-rtx-4090-1.sh"}
    results, started = _run_scripts(tmp_path, scripts, die_port="none", env_extra={"HF_TOKEN": ""})
    res = results["launch-rtx-4090-1.sh"]
    assert res.returncode != 0 and "export HF_TOKEN" in res.stderr and not started


def test_launch_script_fails_when_a_server_dies_before_ready(tmp_path):
    scripts = {k: v for k, v in launch_scripts(plan_4090_x13()).items() if k == "launch-rtx-4090-1.sh"}
    binp = _fake_bin(tmp_path)
    (binp / "curl").write_text("#!/usr/bin/env bash\nexit 7\n")  # never ready
    f = tmp_path / "l.sh"
    f.write_text(scripts["launch-rtx-4090-1.sh"].replace("sleep 5;", "sleep 0.2;"))
    env = {
        **os.environ,
        "PATH": f"{binp}:{os.environ['PATH']}",
        "RECORD": str(tmp_path / "r"),
        "DIE_PORT": "8000",
        "HF_TOKEN": "x",
        "LOG_DIR": str(tmp_path / "logs"),
    }
    res = subprocess.run(["bash", str(f)], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "died while starting" in res.stderr


def test_launch_scripts_parse_in_bash(tmp_path):
    for name, text in launch_scripts(two_model_plan()).items():
        if name.endswith(".sh"):
            f = tmp_path / name
            f.write_text(text)
            subprocess.run(["bash", "-n", str(f)], check=True)


# ----------------------------------------------------------------------------- SkyPilot
@pytest.fixture(scope="module")
def sky():
    return pytest.importorskip("sky", reason="skypilot is in the artifacts-test extra")


def _load_service(sky, doc):
    from sky.utils import common_utils, schemas

    common_utils.validate_schema(doc, schemas.get_task_schema(), "task: ")
    common_utils.validate_schema(doc["service"], schemas.get_service_schema(), "service: ")
    return sky.Task.from_yaml_config(copy.deepcopy(doc))  # it pops keys from its argument


def test_skypilot_services_load_and_rent_what_was_planned(sky):
    docs = skypilot_services(plan_4090_x13())
    assert len(docs) == 1
    task = _load_service(sky, next(iter(docs.values())))
    spec = task.service
    assert spec.min_replicas == spec.max_replicas == 13 and spec.readiness_path == "/health"
    assert spec.target_qps_per_replica == pytest.approx(0.6)
    (res,) = task.resources
    assert res.accelerators == {"RTX4090": 1} and task.num_nodes == 1  # 13 replicas x 1 GPU = 13 GPUs, not 16
    doc = next(iter(docs.values()))
    assert "vllm==" in doc["setup"] and doc["secrets"] == {"HF_TOKEN": None}


def test_skypilot_h100_sxm_never_rents_pcie(sky):
    docs = skypilot_services(two_model_plan())
    assert len(docs) == 3  # one service per model and replica config
    for doc in docs.values():
        task = _load_service(sky, doc)
        for r in task.resources:
            if "H100" in str(r.accelerators):
                acc = next(iter(r.accelerators))
                assert acc == "H100-SXM" or (acc == "H100" and str(r.cloud).lower() in ("aws", "gcp", "azure")), r
    assert all(acc != "H100" or cloud in ("aws", "gcp", "azure") for acc, cloud in SKYPILOT_RESOURCES["H100-SXM"])


def test_skypilot_multi_node_replica(sky):
    docs = skypilot_services(make_plan([group("H100-SXM", 8, 1, pp=2, model="Llama-3.1-70B")], {"H100-SXM": (16, 8)}))
    task = _load_service(sky, next(iter(docs.values())))
    assert task.num_nodes == 2 and "SKYPILOT_NODE_RANK" in task.run and "--distributed-executor-backend ray" in task.run


def test_skypilot_unknown_gpu():
    p = make_plan([group("B300", 1, 1)], {"B300": (8, 8)})
    with pytest.raises(InputError, match="no SkyPilot accelerator name known for GPU type 'B300'"):
        skypilot_services(p)


# ----------------------------------------------------------------------------- Kubernetes
def test_k8s_manifests_pass_the_openapi_schema():
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is in the artifacts-test extra")
    files = k8s_manifests(two_model_plan())
    assert len(files) == 3
    for docs in files.values():
        for doc in docs:
            kv.validate(doc, "1.31", strict=True)
        dep = docs[0]
        c = dep["spec"]["template"]["spec"]["containers"][0]
        assert c["resources"]["limits"]["nvidia.com/gpu"] >= 1 and c["readinessProbe"]["httpGet"]["path"] == "/health"
        assert dep["spec"]["template"]["spec"]["nodeSelector"]["nvidia.com/gpu.product"].startswith("NVIDIA-")
    fp8 = [
        d
        for docs in files.values()
        for d in docs
        if d["kind"] == "Deployment" and "--quantization" in d["spec"]["template"]["spec"]["containers"][0]["args"]
    ]
    assert len(fp8) == 1 and fp8[0]["spec"]["replicas"] == 1


def test_k8s_refuses_multi_node_replicas():
    with pytest.raises(InputError, match="more than one 8-GPU node"):
        k8s_manifests(make_plan([group("H100-SXM", 8, 1, pp=2)], {"H100-SXM": (16, 8)}))


# ----------------------------------------------------------------------------- routers
@pytest.fixture(scope="module")
def litellm_types():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch at import
    pytest.importorskip("litellm", reason="litellm is in the artifacts-test extra")
    from litellm.proxy._types import ConfigYAML

    return ConfigYAML


@pytest.mark.parametrize("backend", ["shell", "skypilot", "k8s"])
def test_litellm_config_loads_with_weights_as_capacity(litellm_types, backend):
    import litellm

    doc = litellm_config(two_model_plan(), backend)
    cfg = litellm_types.model_validate(doc)
    assert cfg.router_settings.routing_strategy == "simple-shuffle"
    router = litellm.Router(model_list=doc["model_list"], routing_strategy="simple-shuffle")
    assert len(router.get_model_list()) == len(doc["model_list"])
    w = {}
    for m in doc["model_list"]:
        w.setdefault(m["model_name"], []).append(m["litellm_params"]["weight"])
    if backend == "shell":  # one endpoint per replica, weight = its capacity at the bound
        assert sorted(w["Llama-3.1-8B"]) == [0.5, 0.5, 0.5, 0.9, 0.9] and w["Llama-3.1-70B"] == [1.7]
    else:  # one endpoint per service: replicas x capacity
        assert sorted(w["Llama-3.1-8B"]) == [1.5, 1.8] and w["Llama-3.1-70B"] == [1.7]


def test_router_yaml_states_policy_scale_and_routellm():
    p = two_model_plan()
    doc = router_config(p)
    assert doc["dispatch_policy"]["name"] == "weighted-random" and doc["router"]["scale"] == p.router_scale
    assert "--strong-model-pct 0.3000" in doc["routellm"]["calibrate"]
    three = make_plan(
        [group("RTX-4090", 1, 1, model="A"), group("RTX-4090", 1, 1, model="B"), group("RTX-4090", 1, 1, model="C")], {"RTX-4090": (8, 8)}
    )
    assert "routellm" not in router_config(three)


# ----------------------------------------------------------------------------- files
def test_write_artifacts_layout(tmp_path):
    paths = write_artifacts(two_model_plan(), tmp_path, frontier_csv=True)
    for rel, p in paths.items():
        assert pathlib.Path(p) == tmp_path / rel and pathlib.Path(p).is_file(), rel
    assert {
        "plan.json",
        "plan.schema.json",
        "pareto.png",
        "frontier.csv",
        "deploy/shell/launch-rtx-4090-0.sh",
        "deploy/litellm/router.yaml",
        "deploy/litellm/routellm-calibrate.sh",
        "deploy/litellm/litellm-shell.yaml",
    } <= set(paths)
    assert any(k.startswith("deploy/skypilot/") for k in paths) and any(k.startswith("deploy/k8s/") for k in paths)
    assert os.access(paths["deploy/shell/launch-rtx-4090-0.sh"], os.X_OK)
    for k in paths:
        if k.endswith(".yaml"):
            assert list(yaml.safe_load_all(pathlib.Path(paths[k]).read_text()))


def test_unknown_target(tmp_path):
    with pytest.raises(InputError, match="--target: 'helm' is not a target"):
        write_target(two_model_plan(), "helm", tmp_path)


@pytest.mark.slow
def test_file_router_thresholds_are_on_the_file_scores_scale(tmp_path, catalog):
    """With a real router's scores (file router), the thresholds are cut points of those
    scores, and router.yaml says which scale they are on."""
    import numpy as np

    from boute.engine.planner import Planner
    from boute.engine.scenario import Scenario
    from tests.conftest import SMALL

    rng = np.random.default_rng(0)
    n = 400
    strong_right = rng.random(n) < 0.95
    weak_right = strong_right & (rng.random(n) < 0.85)
    score = np.clip(0.5 + 0.3 * (strong_right & ~weak_right) - 0.1 + 0.2 * rng.random(n), 0, 1)  # a win-rate-like score
    f = tmp_path / "q.csv"
    f.write_text(
        "Llama-3.1-8B,Llama-3.1-70B,score\n" + "".join(f"{int(w)},{int(s)},{v:.4f}\n" for w, s, v in zip(weak_right, strong_right, score))
    )
    sc = Scenario.from_dict(dict(SMALL, quality={"data": str(f), "router": "file"}, quality_min=None, max_trials=3), catalog)
    plan = Planner(sc, catalog).plan(strategy="random", baselines=False)
    (t,) = plan.thresholds
    assert plan.router == "file" and "file router" in plan.router_scale
    assert 0.0 <= t <= 1.0 and abs((score < t).mean() - plan.shares[0]) < 0.01  # a cut point of the file's scores
    doc = router_config(plan)
    assert doc["router"]["scale"] == plan.router_scale and doc["router"]["thresholds"] == [t]


# ----------------------------------------------------------------------------- int4
W4A16 = "neuralmagic/Meta-Llama-3.1-8B-Instruct-quantized.w4a16"


def _bf16_and_int4_plan():
    import attrs

    m, bf16 = group("RTX-4090", 1, 1)
    int4 = attrs.evolve(bf16, config="Llama-3.1-8B@RTX-4090:tp1pp1:int4/bf16", weight_dtype="int4", checkpoint=W4A16)
    return make_plan([(m, bf16), (m, int4)], {"RTX-4090": (8, 8)})


def test_int4_group_serves_its_checkpoint_under_the_models_id_in_every_target():
    plan = _bf16_and_int4_plan()
    base = "meta-llama/Llama-3.1-8B-Instruct"
    served = f"vllm serve {W4A16} --served-model-name {base} "
    (script,) = [t for n, t in launch_scripts(plan).items() if n.endswith(".sh")]
    assert script.count(served) == 1 and script.count(f"vllm serve {base} ") == 1
    sky = skypilot_services(plan)
    assert len(sky) == 2  # bf16 and int4 services of the same GPU and TP get distinct names
    for name, doc in sky.items():
        assert (served in doc["run"]) == ("-int4" in name)
    k8s = k8s_manifests(plan)
    assert len(k8s) == 2
    args = {n: docs[0]["spec"]["template"]["spec"]["containers"][0]["args"] for n, docs in k8s.items()}
    assert {n: a[:3] for n, a in args.items()} == {
        "llama-3-1-8b-rtx-4090-tp1pp1.yaml": [base, "--tensor-parallel-size", "1"],
        "llama-3-1-8b-rtx-4090-tp1pp1-int4.yaml": [W4A16, "--served-model-name", base],
    }
    assert {m["litellm_params"]["model"] for m in litellm_config(plan)["model_list"]} == {f"hosted_vllm/{base}"}
