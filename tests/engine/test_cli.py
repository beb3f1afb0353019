"""The CLI end to end: plan, schema-valid JSON, deployable artifacts, one-line errors."""

import json
import shlex

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boute.engine.artifacts import PLAN_SCHEMA
from boute.engine.cli import main
from tests.conftest import SMALL


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def scenario_file(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(SMALL))
    return f


def test_cli_end_to_end(capsys, tmp_path, scenario_file):
    out_dir = tmp_path / "out"
    rc, out, err = run(capsys, "solve", "--scenario", str(scenario_file), "--strategy", "random", "--out", str(out_dir))
    assert rc == 0, err
    assert "load share" in out and "Stand-Alone-Homo" in out and "P95" in out
    plan = json.loads((out_dir / "plan.json").read_text())
    jsonschema.validate(plan, json.loads(PLAN_SCHEMA.read_text()))
    assert plan["schema_version"] == "2.0" and plan["verification"]["ok"]
    assert (out_dir / "pareto.png").stat().st_size > 1000
    dep = out_dir / "deploy"
    assert str(dep) in out  # the printed paths are the written ones
    router = yaml.safe_load((dep / "litellm" / "router.yaml").read_text())
    assert [m["name"] for m in router["models"]] == plan["models"]
    assert router["router"]["thresholds"] == plan["thresholds"]
    lines = [line.split(" ", 1)[1] for f in sorted((dep / "shell").glob("launch-*.sh"))
             for line in f.read_text().splitlines() if line.startswith("CUDA_VISIBLE_DEVICES=") and " vllm serve " in line]
    groups = [g for d in plan["deployments"] for g in d["groups"] for _ in range(g["replicas"])]
    assert len(lines) == len(groups)
    for line in lines:
        argv = shlex.split(line.split(" > ")[0])
        flag = lambda name: argv[argv.index(name) + 1]  # noqa: E731
        g = next(g for g in groups if g["tp"] == int(flag("--tensor-parallel-size")))
        assert int(flag("--pipeline-parallel-size")) == g["pp"]
        assert float(flag("--gpu-memory-utilization")) == 0.9
        assert int(flag("--max-model-len")) == plan["max_model_len"] > 1000
        assert ("--quantization" in argv) == (g["weight_dtype"] == "fp8")
    for f in (dep / "skypilot").glob("*.yaml"):
        task = yaml.safe_load(f.read_text())
        assert task["resources"] and task["num_nodes"] >= 1 and "vllm serve" in task["run"]


def test_cli_json_output(capsys, tmp_path, scenario_file):
    rc, out, _ = run(capsys, "--scenario", str(scenario_file), "--strategy", "random", "--no-baselines", "--json", "--out", str(tmp_path))
    assert rc == 0
    jsonschema.validate(json.loads(out), json.loads(PLAN_SCHEMA.read_text()))


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--gpus", "H100=8,RTX9090=2"], "unknown GPU type 'RTX9090'"),
        (["--gpus", "H100:8"], "is not NAME=COUNT"),
        (["--gpus", "H100=eight"], "is not a whole number"),
        (["--budget", "-5"], "budget_usd_per_hour: -5.0 must be a positive"),
        (["--objective", "speed"], "objective: 'speed' is not an objective"),
        (["--models", "Llama-3.1-8B,Llama-4"], "unknown model 'Llama-4'"),
        (["--price-set", "gcp"], "unknown price set 'gcp'"),
        (["--workload", "nope"], "unknown workload 'nope'"),
        (["--rate", "0"], "arrival_rate_per_s"),
        (["--scenario", "/nonexistent.yaml"], "does not exist"),
        (["--strategy", "anneal"], "is not a strategy"),
        (["--frobnicate"], "unrecognized arguments"),
        (["--budget", "abc"], "invalid float value"),
        (["--router", "psychic"], "unknown router 'psychic'"),
    ],
)
def test_bad_flags_one_line_exit_2(capsys, tmp_path, argv, match):
    rc, out, err = run(capsys, "--out", str(tmp_path), *argv)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and match in err


def test_infeasible_exit_3(capsys, tmp_path, scenario_file):
    rc, _, err = run(capsys, "--scenario", str(scenario_file), "--budget", "0.5", "--strategy", "random", "--out", str(tmp_path))
    assert rc == 3 and "below the cheapest plan" in err and err.count("\n") == 1


def test_predict_and_catalog(capsys):
    rc, out, _ = run(capsys, "predict", "--model", "Llama-3.1-70B", "--gpu", "H100", "--tp", "4", "--json")
    d = json.loads(out)
    assert rc == 0 and d["fits"] and d["tpot_ms"] > 0 and d["kv_capacity_tokens"] > 100000
    rc, out, _ = run(capsys, "predict", "--model", "Llama-3.1-70B", "--gpu", "H100")
    assert rc == 0 and "does not fit" in out
    rc, _, err = run(capsys, "predict", "--model", "Llama-3.1-70B", "--gpu", "H100", "--tp", "0")
    assert rc == 2 and "tp" in err
    rc, out, _ = run(capsys, "catalog")
    assert rc == 0 and "RTX-PRO-6000" in out and "spec-only" in out and "Mixtral-8x7B" in out and "boute-paper" in out


# ---------------------------------------------------------------------------- fuzz
field_values = {
    "budget_usd_per_hour": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 100), st.text(max_size=3)),
    "arrival_rate_per_s": st.one_of(st.floats(-1, 20), st.just(0), st.text(max_size=3), st.none()),
    "quality_min": st.one_of(st.floats(0, 120), st.none(), st.booleans()),
    "gpus": st.one_of(st.dictionaries(st.sampled_from(["H100", "RTX-4090", "H200", "Blah"]), st.integers(-2, 10), max_size=3),
                      st.text(max_size=4), st.none()),
    "models": st.one_of(st.lists(st.sampled_from(["Llama-3.1-8B", "Llama-3.1-70B", "GPT-9"]), max_size=3), st.integers()),
    "objective": st.sampled_from(["latency", "cost", "speed", ""]),
    "latency_slo_s": st.one_of(st.floats(-1, 30), st.none()),
    "seed": st.one_of(st.integers(-3, 5), st.floats(0, 1)),
    "price_set": st.sampled_from(["boute-paper", "runpod", "aws", "nope"]),
    "workload": st.sampled_from(["gsm8k", "mt-bench", "x"]),
    "extra_field": st.integers(),
}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(sorted(field_values)), st.none(), max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: field_values[k] for k in keys})))
def test_fuzz_scenarios_end_in_plan_or_one_line_error(tmp_path_factory, capsys, patch):
    sc = dict(SMALL, max_trials=2, stall_trials=2)
    sc.update(patch)
    d = tmp_path_factory.mktemp("fz")
    f = d / "s.yaml"
    try:
        f.write_text(yaml.safe_dump(sc))
    except yaml.YAMLError:
        return
    rc = main(["--scenario", str(f), "--strategy", "random", "--no-baselines", "--out", str(d / "o")])
    out, err = capsys.readouterr()
    assert rc in (0, 2, 3), err
    if rc == 0:
        plan = json.loads((d / "o" / "plan.json").read_text())
        assert plan["verification"]["ok"]
    else:
        assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


BAD_FILES = [
    ("gpus: {H100: 8, RTX9090: 2}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 10\n", "unknown GPU type 'RTX9090'"),
    ("gpus: {H100: 8}\nmodels: [Llama-9B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 10\n", "unknown model 'Llama-9B'"),
    ("gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: -1\nbudget_usd_per_hour: 10\n", "arrival_rate_per_s: -1"),
    ("gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 0\n", "budget_usd_per_hour: 0"),
    ("gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\n", "the latency objective needs a budget"),
    ("gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nobjective: cost\n", "needs a P95 latency SLO"),
    ("gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 10\nprice_set: ebay\n", "unknown price set 'ebay'"),
    ("gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 10\nworkload: chat\n", "unknown workload 'chat'"),
    ("gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 10\nquality: {router: psychic}\n", "unknown router"),
    ("gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 10\nsed: 3\n", "unknown field 'sed'"),
    ("gpus: {H100: 8\n", "is not valid YAML"),
    ("gpus: {T4: 4}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 10\n", "has no price for GPU 'T4'"),
]


@pytest.mark.parametrize("text,match", BAD_FILES)
def test_bad_scenario_files_one_line_exit_2(capsys, tmp_path, text, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    rc, _, err = run(capsys, "--scenario", str(f), "--out", str(tmp_path / "o"))
    assert rc == 2 and err.count("\n") == 1 and match in err, err
