"""Scenario parsing and its bad-input errors (each one line, naming field and fix)."""

import pytest
import yaml

from boute.engine.errors import InputError
from boute.engine.scenario import Scenario, default_scenario, load_scenario


def test_default_is_the_paper_setup(catalog):
    s = default_scenario(catalog)
    assert s.gpus == {"H100-SXM": 8, "RTX-PRO-6000": 8, "RTX-5090": 16, "RTX-4090": 16}
    assert s.models == ("Llama-3.1-8B", "Llama-3.1-70B") and s.budget_usd_per_hour == 30.0 and s.workload == "gsm8k"


def test_round_trip_and_yaml_and_toml(catalog, small_dict, tmp_path):
    s = Scenario.from_dict(small_dict, catalog)
    assert Scenario.from_dict(s.to_dict(), catalog) == s
    y = tmp_path / "s.yaml"
    y.write_text(yaml.safe_dump(small_dict))
    assert load_scenario(y, catalog) == s
    t = tmp_path / "s.toml"
    t.write_text('name = "t"\nmodels = ["Llama-3.1-8B"]\narrival_rate_per_s = 2.0\nbudget_usd_per_hour = 10.0\n[gpus]\nH100 = 2\n')
    assert load_scenario(t, catalog).gpus == {"H100-SXM": 2}


def test_models_are_ordered_cheapest_first(catalog, small_dict):
    small_dict["models"] = ["Llama-3.1-70B", "Llama-3.1-8B"]
    assert Scenario.from_dict(small_dict, catalog).models == ("Llama-3.1-8B", "Llama-3.1-70B")


BAD = [
    ({"gpus": {"H100": 8, "RTX9090": 2}}, r"gpus\.RTX9090: unknown GPU type 'RTX9090'.*did you mean"),
    ({"gpus": {"H100": -1}}, r"gpus\.H100: -1 must be a whole number"),
    ({"gpus": {"H100": 0}}, r"gpus: every availability count is 0"),
    ({"models": ["Llama-3.1-8b", "Lama-70B"]}, r"models: unknown model 'Lama-70B'.*did you mean"),
    ({"budget_usd_per_hour": -30}, r"budget_usd_per_hour: -30 must be a positive"),
    ({"arrival_rate_per_s": 0}, r"arrival_rate_per_s: 0 must be a positive"),
    ({"objective": "throughput"}, r"objective: 'throughput' is not an objective"),
    ({"price_set": "runpd"}, r"price_set: unknown price set 'runpd'.*did you mean 'runpod'"),
    ({"workload": "gsm9k"}, r"workload: unknown workload 'gsm9k'.*did you mean 'gsm8k'"),
    ({"budgett_usd_per_hour": 3}, r"scenario: unknown field 'budgett_usd_per_hour'.*did you mean 'budget_usd_per_hour'"),
    ({"quality": {"router": "perfect"}}, r"quality.router: unknown router 'perfect'"),
    ({"quality": {"auc": 1.5}}, r"quality.auc: 1.5 must be between"),
    ({"seed": -1}, r"seed: -1 must be an integer >= 0"),
    ({"objective": "cost", "latency_slo_s": None}, r"latency_slo_s: the cost objective needs a P95 latency SLO"),
    ({"gpus": {"T4": 4}}, r"price_set: 'boute-paper' has no price for GPU 'T4'"),
    ({"price_overrides": {"H100": -2}}, r"price_overrides.H100: -2 must be a positive"),
    ({"models": ["Llama-3.1-8B", "llama-8b"]}, r"models: .* lists a model twice"),
    ({"weight_dtypes": ["int4"]}, r"weight_dtypes: \['int4'\] must list dtypes"),
    ({"mode": "both"}, r"mode: 'both' is not a mode"),
    ({"quality_min": "high"}, r"quality_min: 'high' must be a number"),
]


@pytest.mark.parametrize("patch,match", BAD)
def test_bad_scenarios_give_one_line_errors(catalog, small_dict, patch, match):
    small_dict.update(patch)
    with pytest.raises(InputError, match=match) as exc:
        Scenario.from_dict(small_dict, catalog)
    assert "\n" not in exc.value.one_line() and exc.value.hint


def test_bad_files(catalog, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_scenario(tmp_path / "nope.yaml", catalog)
    bad = tmp_path / "bad.yaml"
    bad.write_text("gpus: {H100: 8\nmodels: [")
    with pytest.raises(InputError, match="is not valid YAML"):
        load_scenario(bad, catalog)
    txt = tmp_path / "s.txt"
    txt.write_text("x")
    with pytest.raises(InputError, match="use .yaml, .yml or .toml"):
        load_scenario(txt, catalog)
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(InputError, match="expected a mapping"):
        load_scenario(lst, catalog)


def test_trace_workload_path_relative_to_file(catalog, tmp_path, small_dict):
    csv = tmp_path / "t.csv"
    csv.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.0,100,10\n2023-11-16 18:15:47.0,200,20\n2023-11-16 18:15:49.0,50,5\n")
    small_dict["workload"] = {"trace": "t.csv"}
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(small_dict))
    assert load_scenario(f, catalog).workload == str(csv)
