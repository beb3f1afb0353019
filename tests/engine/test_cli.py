"""The CLI end to end: plan, schema-valid JSON, deployable artifacts, one-line errors."""

import json
import shlex

import jsonschema
import pytest
import yaml

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
    lines = [
        line.split(" ", 1)[1]
        for f in sorted((dep / "shell").glob("launch-*.sh"))
        for line in f.read_text().splitlines()
        if line.startswith("CUDA_VISIBLE_DEVICES=") and " vllm serve " in line
    ]
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
        # issue 18: empty values, duplicate keys, unsupported combinations, bad --out
        (["--gpus", "H100=8,H100=8"], "--gpus: H100 is given twice"),
        (["--gpus", "H100=8,H100-SXM=8"], "gpus.H100-SXM: H100-SXM is listed twice"),
        (["--gpus", ""], "--gpus: '' is empty"),
        (["--gpus", "H100=8,"], "--gpus: 'H100=8,' has an empty item"),
        (["--gpus", "H100=-1"], "count '-1' for H100 is not a whole number"),
        (["--models", ""], "--models: '' is empty"),
        (["--models", "Llama-3.1-8B,,Llama-3.1-70B"], "has an empty item"),
        (["--models", "Llama-3.1-8B,llama-8b"], "lists a model twice"),
        (["--scenario", ""], "--scenario: '' is not a file name"),
        (["--router", ""], "quality.router: unknown router ''"),
        (["--workload", ""], "workload: '' must be a built-in name"),
        (["--price-set", ""], "price_set: '' must be a non-empty string"),
        (["--budget", "nan"], "budget_usd_per_hour: nan must be a positive finite number"),
        (["--rate", "inf"], "arrival_rate_per_s: inf must be a positive finite number"),
        (["--rate", "1e-9"], "arrival_rate_per_s: 1e-09 must be a positive finite number >= 0.001"),
        (["--rate", "1e6"], "arrival_rate_per_s: 1000000.0 is above the largest accepted value"),
        (["--quality-min", "nan"], "quality_min: nan must be a number"),
        (["--auc", "nan"], "quality.auc: nan must be between"),
        (["--seed", "-1"], "seed: -1 must be an integer >= 0"),
        (["--max-trials", "0"], "max_trials: 0 must be an integer >= 1"),
        # issue 14: grid now searches any request (one model, split mode, a simplex for k >= 3);
        # exact is the strategy with limits
        (
            ["--models", "Llama-3.1-8B,Llama-3.1-70B,Qwen2.5-7B", "--strategy", "exact"],
            "strategy: 'exact' searches at most one routing dimension; 3 models have 2",
        ),
        (["--strategy", "exactt"], "--strategy: 'exactt' is not a strategy (hint: did you mean 'exact'"),
        (["--out", "/dev/null"], "--out: '/dev/null' is not a folder"),
        (["--out", "/dev/null/x/y"], "--out: '/dev/null/x/y' is under '/dev/null', which is not a folder"),
        (["--out", ""], "--out: '' is not a folder name"),
        (["--budget", "30", "--budget", "40"], "--budget: given twice"),
        (["--gpus", "H100=8", "--gpus", "H100=4"], "--gpus: given twice"),
    ],
)
def test_bad_flags_one_line_exit_2(capsys, tmp_path, argv, match):
    rc, out, err = run(capsys, *([] if "--out" in argv else ["--out", str(tmp_path / "o")]), *argv)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and match in err


def test_infeasible_exit_3(capsys, tmp_path, scenario_file):
    rc, _, err = run(capsys, "--scenario", str(scenario_file), "--budget", "0.5", "--strategy", "random", "--out", str(tmp_path))
    assert rc == 3 and "below the least budget" in err and err.count("\n") == 1


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


BAD_FILES = [
    ("gpus: {H100: 8, RTX9090: 2}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 10\n", "unknown GPU type 'RTX9090'"),
    ("gpus: {H100: 8}\nmodels: [Llama-9B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 10\n", "unknown model 'Llama-9B'"),
    ("gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: -1\nbudget_usd_per_hour: 10\n", "arrival_rate_per_s: -1"),
    ("gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 0\n", "budget_usd_per_hour: 0"),
    ("gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\n", "the latency objective needs a budget"),
    ("gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nobjective: cost\n", "needs a P95 latency SLO"),
    (
        "gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 10\nprice_set: ebay\n",
        "unknown price set 'ebay'",
    ),
    (
        "gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 10\nworkload: chat\n",
        "unknown workload 'chat'",
    ),
    (
        "gpus: {H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 10\nquality: {router: psychic}\n",
        "unknown router",
    ),
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


def test_bad_data_files_one_line_exit_2(capsys, tmp_path):
    """Trace and quality files from the issue: each a one-line error, never 'internal error'."""
    head = "gpus: {H100: 8}\nmodels: [Llama-3.1-8B, Llama-3.1-70B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 40\n"
    cases = {
        "zero.csv": (
            b"TIMESTAMP,ContextTokens,GeneratedTokens\n" + b"2023-11-16 18:15:46.0,0,0\n" * 3,
            "workload: {trace: zero.csv}",
            "ContextTokens = 0",
        ),
        "bin.csv": (b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.0,1\xff,1\n", "workload: {trace: bin.csv}", "not UTF-8"),
        "q.csv": (b"Llama-3.1-8B,Llama-3.1-70B\n1e308,1\n0,1\n", "quality: {data: q.csv}", "'1e308' is not a finite number"),
        "n.csv": (b"Llama-3.1-8B,Llama-3.1-70B\nnan,1\n0,1\n", "quality: {data: n.csv}", "'nan' is not a finite number"),
        "s.csv": (b"Llama-3.1-8B,Llama-3.1-70B,score\n1,1,nan\n0,1,1\n", "quality: {data: s.csv, router: file}", "column 'score' = 'nan'"),
        "b.csv": (b"Llama-3.1-8B,Llama-3.1-70B\n1,1\n\xff,1\n", "quality: {data: b.csv}", "not UTF-8"),
        "i.jsonl": (b'{"Llama-3.1-8B": 1, "Llama-3.1-70B": 1}\n{bad\n', "quality: {data: i.jsonl}", "line 2 is not valid JSON"),
        "l.jsonl": (b"[1, 1]\n[0, 1]\n", "quality: {data: l.jsonl}", "line 1 is a list"),
    }
    for name, (data, line, match) in cases.items():
        (tmp_path / name).write_bytes(data)
        f = tmp_path / f"{name}.yaml"
        f.write_text(head + line + "\n")
        rc, _, err = run(capsys, "--scenario", str(f), "--out", str(tmp_path / "o"))
        assert rc == 2 and err.count("\n") == 1 and match in err, (name, err)


def test_cost_objective_honours_the_budget(capsys, tmp_path, scenario_file):
    rc, _, err = run(
        capsys,
        "--scenario",
        str(scenario_file),
        "--objective",
        "cost",
        "--slo",
        "10",
        "--budget",
        "3",
        "--strategy",
        "random",
        "--no-baselines",
        "--out",
        str(tmp_path / "o"),
    )
    assert rc == 3 and "budget_usd_per_hour: $3.00/h is below the least budget" in err and err.count("\n") == 1
    rc, out, err = run(
        capsys,
        "--scenario",
        str(scenario_file),
        "--objective",
        "cost",
        "--slo",
        "10",
        "--budget",
        "30",
        "--strategy",
        "random",
        "--no-baselines",
        "--json",
        "--out",
        str(tmp_path / "o"),
    )
    plan = json.loads(out)
    assert rc == 0 and plan["cost_usd_per_hour"] <= 30 and any(c["name"] == "budget" and c["ok"] for c in plan["verification"]["checks"])


def test_unwritable_cache_warns_once(capsys, caplog, tmp_path, monkeypatch):
    f = tmp_path / "one.yaml"  # a one-model, one-GPU-type pool: its perf DB (rebuilt each run here) is small
    f.write_text(yaml.safe_dump(dict(SMALL, gpus={"H100-SXM": 2}, models=["Llama-3.1-8B"], quality_min=None, max_trials=1)))
    monkeypatch.setenv("BOUTE_CACHE_DIR", "/dev/null/cache")
    for _ in range(2):
        rc, _, _ = run(capsys, "--scenario", str(f), "--strategy", "random", "--no-baselines", "--out", str(tmp_path / "o"))
        assert rc == 0
    warned = [r for r in caplog.records if "cannot write the perf DB cache under /dev/null/cache" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelname == "WARNING" and "BOUTE_CACHE_DIR" in warned[0].getMessage()
