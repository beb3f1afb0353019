"""End to end: a scenario allowing int4 plans, verifies and writes deploy files that serve
the pre-quantized checkpoint for every int4 replica (and the model's own for the rest)."""

import pathlib

import pytest
import yaml

from boute.engine.artifacts import write_artifacts
from boute.engine.planner import Planner
from boute.engine.scenario import Scenario

BASE_ID = "meta-llama/Llama-3.1-8B-Instruct"
W4A16_ID = "neuralmagic/Meta-Llama-3.1-8B-Instruct-quantized.w4a16"

# Two RTX 4090s at the paper's price, the budget for both: int4 streams a quarter of BF16's
# weight bytes, so under the latency objective its replicas are faster at the same cost.
INT4_SMALL = {
    "name": "int4-small",
    "gpus": {"RTX-4090": 2},
    "price_set": "boute-paper",
    "models": ["Llama-3.1-8B"],
    "workload": "gsm8k",
    "arrival_rate_per_s": 1.0,
    "budget_usd_per_hour": 1.5,
    "objective": "latency",
    "weight_dtypes": ["bf16", "int4"],
    "seed": 0,
    "max_trials": 3,
    "stall_trials": 2,
}


@pytest.fixture(scope="module")
def int4_plan(catalog):
    sc = Scenario.from_dict(INT4_SMALL, catalog)
    pl = Planner(sc, catalog)
    assert {c.config.weight_dtype for c in pl.perfdb.curves.values()} == {"bf16", "int4"}
    return pl.plan(baselines=False)


def test_int4_plan_verifies_and_names_the_checkpoint(int4_plan):
    plan = int4_plan
    assert plan.verification.ok and plan.verification.latency_verified
    groups = [g for d in plan.deployments for g in d.groups]
    int4 = [g for g in groups if g.weight_dtype == "int4"]
    assert int4, "the scenario is built so that int4 replicas win; none were planned"
    for g in groups:
        assert g.checkpoint == (W4A16_ID if g.weight_dtype == "int4" else "")
        assert "--quantization" not in g.engine_flags  # the checkpoint carries its scheme
    names = {c.name for c in plan.verification.checks}
    for g in int4:
        assert f"memory {g.config}" in names and f"precision {g.config}" in names


def test_int4_deploy_files_serve_the_checkpoint_under_the_models_id(int4_plan, tmp_path):
    paths = write_artifacts(int4_plan, tmp_path)
    text = {name: pathlib.Path(p).read_text() for name, p in paths.items() if name.startswith("deploy/")}
    n_int4 = sum(g.replicas for d in int4_plan.deployments for g in d.groups if g.weight_dtype == "int4")
    shell = "".join(t for n, t in text.items() if n.endswith(".sh"))
    assert shell.count(f"vllm serve {W4A16_ID} --served-model-name {BASE_ID} ") == n_int4
    sky = {n: yaml.safe_load(t) for n, t in text.items() if n.startswith("deploy/skypilot/")}
    assert sky and any("-int4" in n for n in sky)
    for n, doc in sky.items():
        assert (f"vllm serve {W4A16_ID} --served-model-name {BASE_ID} " in doc["run"]) == ("-int4" in n)
    k8s = [d for n, t in text.items() if n.startswith("deploy/k8s/") for d in yaml.safe_load_all(t)]
    args = [d["spec"]["template"]["spec"]["containers"][0]["args"] for d in k8s if d and d.get("kind") == "Deployment"]
    assert args and all((a[:3] == [W4A16_ID, "--served-model-name", BASE_ID]) == (a[0] == W4A16_ID) for a in args)
    assert sum(a[0] == W4A16_ID for a in args) == sum(1 for d in int4_plan.deployments for g in d.groups if g.weight_dtype == "int4")
    lite = yaml.safe_load(text["deploy/litellm/litellm-shell.yaml"])
    # every endpoint of the model answers to the model's own id, whatever checkpoint it serves
    assert {m["litellm_params"]["model"] for m in lite["model_list"]} == {f"hosted_vllm/{BASE_ID}"}
