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
    ({"weight_dtypes": ["int3"]}, r"weight_dtypes: \['int3'\] must list dtypes"),
    (
        {"models": ["Qwen2.5-7B", "Llama-3.1-70B"], "weight_dtypes": ["int4"]},
        r"weight_dtypes: Qwen2.5-7B has no pre-quantized int4 checkpoint in the model catalog, and no other allowed precision"
        r".*Llama-3.1-8B, Llama-3.1-70B, Llama-3.1-405B",
    ),
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
    csv.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.0,100,10\n2023-11-16 18:15:47.0,200,20\n2023-11-16 18:15:49.0,50,5\n"
    )
    small_dict["workload"] = {"trace": "t.csv"}
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(small_dict))
    assert load_scenario(f, catalog).workload == str(csv)


# ---------------------------------------------------------------- validated on the type (issue 16 item 5, issue 18)
import math  # noqa: E402

import attrs  # noqa: E402

from boute.engine.scenario import MAX_ARRIVAL_RATE_PER_S, QualitySource  # noqa: E402

RANGE = [
    ({"arrival_rate_per_s": 1e-9}, r"arrival_rate_per_s: 1e-09 must be a positive finite number >= 0.001"),
    ({"arrival_rate_per_s": 1e6}, r"arrival_rate_per_s: 1000000.0 is above the largest accepted value 100000"),
    ({"arrival_rate_per_s": math.nan}, r"arrival_rate_per_s: nan must be a positive finite number"),
    ({"budget_usd_per_hour": math.inf}, r"budget_usd_per_hour: inf must be a positive finite number"),
    ({"budget_usd_per_hour": 1e308}, r"budget_usd_per_hour: 1e\+308 is above the largest accepted value"),
    ({"price_overrides": {"H100": 1e308}}, r"price_overrides.H100: 1e\+308 is above the largest accepted value 1000"),
    ({"price_overrides": {"H100": math.nan}}, r"price_overrides.H100: nan must be a positive finite number"),
    ({"latency_slo_s": 601}, r"latency_slo_s: 601 is above the largest accepted value 600"),
    ({"quality_min": math.nan}, r"quality_min: nan must be a number"),
    ({"quality_min": 1e308}, r"quality_min: 1e\+308 must be a number"),
    ({"quality": {"auc": math.nan}}, r"quality.auc: nan must be between"),
    ({"gpus": {"H100": 10**7}}, r"gpus.H100: 10000000 must be a whole number of GPUs >= 0 and <= 1,000,000"),
    ({"gpus": {"H100": 8.0}}, r"gpus.H100: 8.0 must be a whole number"),
    ({"seed": 2**40}, r"seed: 1099511627776 must be an integer >= 0 and <= 4294967295"),
    ({"max_trials": 0}, r"max_trials: 0 must be an integer >= 1"),
    ({"arrival_rate_per_s": True}, r"arrival_rate_per_s: True must be a positive finite number"),
]

FALSY = [
    ({"quality": 0}, r"quality: 0 must be a non-empty mapping"),
    ({"quality": {}}, r"quality: \{\} must be a non-empty mapping"),
    ({"quality": None}, r"quality: None must be a non-empty mapping"),
    ({"quality": ""}, r"quality: '' must be a non-empty mapping"),
    ({"price_overrides": []}, r"price_overrides: \[\] must map GPU names"),
    ({"price_overrides": None}, r"price_overrides: None must map GPU names"),
    ({"price_overrides": 0}, r"price_overrides: 0 must map GPU names"),
    ({"gpus": {}}, r"gpus: \{\} must map GPU type names"),
    ({"models": []}, r"models: \(\) must be a non-empty list"),
    ({"models": ""}, r"models: \(''\,\) must be a non-empty list"),
    ({"name": ""}, r"name: '' must be a non-empty string"),
    ({"workload": ""}, r"workload: '' must be a built-in name"),
    ({"workload": None}, r"workload: None must be a built-in name"),
    ({"weight_dtypes": []}, r"weight_dtypes: \[\] must list dtypes"),
    ({"objective": None}, r"objective: None is not an objective"),
    ({"mode": ""}, r"mode: '' is not a mode"),
    ({"seed": None}, r"seed: None must be an integer >= 0"),
    ({"price_set": ""}, r"price_set: '' must be a non-empty string"),
    ({"quality": {"data": ""}}, r"quality.data: '' must be a non-empty string"),
    ({"quality": {"router": None}}, r"quality.router: unknown router None"),
    ({"price_overrides": {"H100": 0}}, r"price_overrides.H100: 0 must be a positive finite number"),
]


@pytest.mark.parametrize("patch,match", RANGE + FALSY)
def test_numbers_are_range_checked_and_falsy_values_are_not_defaults(catalog, small_dict, patch, match):
    small_dict.update(patch)
    with pytest.raises(InputError, match=match) as exc:
        Scenario.from_dict(small_dict, catalog)
    assert "\n" not in exc.value.one_line() and exc.value.hint


def test_empty_price_overrides_mapping_is_the_value_no_overrides(catalog, small_dict):
    small_dict["price_overrides"] = {}
    assert Scenario.from_dict(small_dict, catalog).price_overrides == {}


def test_validators_guard_every_construction_path(catalog, small_dict):
    s = Scenario.from_dict(small_dict, catalog)
    with pytest.raises(InputError, match=r"arrival_rate_per_s: -1 must be a positive"):
        attrs.evolve(s, arrival_rate_per_s=-1)
    with pytest.raises(InputError, match=r"budget_usd_per_hour: the latency objective needs a budget"):
        attrs.evolve(s, budget_usd_per_hour=None)
    with pytest.raises(InputError, match=r"latency_slo_s: the cost objective needs a P95 latency SLO"):
        Scenario(gpus={"H100-SXM": 1}, models=("Llama-3.1-8B",), arrival_rate_per_s=1.0, objective="cost")
    with pytest.raises(InputError, match=r"quality.auc: 2 must be between"):
        QualitySource(auc=2)
    with pytest.raises(InputError, match=r"arrival_rate_per_s: 200000.0 is above"):
        Scenario(gpus={"H100-SXM": 1}, models=("Llama-3.1-8B",), arrival_rate_per_s=2 * MAX_ARRIVAL_RATE_PER_S, budget_usd_per_hour=1.0)


def test_with_overrides_revalidates_and_canonicalises(catalog, small_dict):
    s = Scenario.from_dict(small_dict, catalog)
    t = s.with_overrides(catalog, gpus={"H100": 4}, models=["llama-3.1-70b", "Llama-3.1-8B"], quality={"router": "oracle"})
    assert t.gpus == {"H100-SXM": 4} and t.models == ("Llama-3.1-8B", "Llama-3.1-70B")
    assert t.quality == attrs.evolve(s.quality, router="oracle")  # only the key given changes
    assert s.with_overrides(catalog) == s
    with pytest.raises(InputError, match=r"gpus.H200-SXM: unknown GPU type|gpus.RTX9090: unknown GPU type"):
        s.with_overrides(catalog, gpus={"RTX9090": 1})
    with pytest.raises(InputError, match=r"scenario: unknown field 'rate'.*did you mean"):
        s.with_overrides(catalog, rate=3)
    with pytest.raises(InputError, match=r"quality: unknown field 'routr'"):
        s.with_overrides(catalog, quality={"routr": "oracle"})
    with pytest.raises(InputError, match=r"gpus.H100-SXM: H100-SXM is listed twice"):
        s.with_overrides(catalog, gpus={"H100": 4, "H100-SXM": 4})


def test_replan_goes_through_with_overrides(small_planner):
    with pytest.raises(InputError, match=r"quality_min: nan must be a number"):
        small_planner.replan(quality_min=math.nan)


def test_yaml_duplicate_keys_and_non_utf8_files(catalog, tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text("gpus: {H100: 8, H100: 8}\nmodels: [Llama-3.1-8B]\narrival_rate_per_s: 1\nbudget_usd_per_hour: 10\n")
    with pytest.raises(InputError, match=r"--scenario: key 'H100' is given twice \(line 1\)"):
        load_scenario(dup, catalog)
    raw = tmp_path / "raw.yaml"
    raw.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(InputError, match=r"--scenario: raw.yaml is not UTF-8 text \(byte 0xe9 at offset 9\)"):
        load_scenario(raw, catalog)
    with pytest.raises(InputError, match=r"--scenario: '' is not a file name"):
        load_scenario("", catalog)


def test_with_overrides_defaults_to_the_installed_catalog(catalog, small_dict):
    s = Scenario.from_dict(small_dict, catalog)
    assert s.with_overrides(arrival_rate_per_s=3).arrival_rate_per_s == 3
    with pytest.raises(InputError, match=r"models: unknown model 'GPT-9'"):
        s.with_overrides(models=["GPT-9"])


NODES = {
    "node-a": {"gpu": "h100", "gpus": 8, "free": 6},
    "node-b": {"gpu": "H100-SXM", "gpus": 4},
    "node-c": {"gpu": "RTX-4090", "gpus": 8, "free": 3},
}


def test_nodes_give_availability_per_node(catalog, small_dict):
    small_dict.pop("gpus")
    sc = Scenario.from_dict(dict(small_dict, nodes=NODES), catalog)
    assert sc.gpus == {"H100-SXM": 10, "RTX-4090": 3}  # free GPUs per type; free defaults to the node's GPUs
    assert [(n.name, n.gpu, n.gpus, n.free) for n in sc.nodes] == [
        ("node-a", "H100-SXM", 8, 6),
        ("node-b", "H100-SXM", 4, 4),
        ("node-c", "RTX-4090", 8, 3),
    ]
    assert Scenario.from_dict(sc.to_dict(), catalog) == sc
    # gpus given beside nodes must agree; changing one replaces the other
    assert Scenario.from_dict(dict(small_dict, nodes=NODES, gpus={"H100-SXM": 10, "RTX-4090": 3}), catalog) == sc
    flat = sc.with_overrides(catalog, gpus={"H100-SXM": 4})
    assert flat.nodes == () and flat.gpus == {"H100-SXM": 4}
    renoded = flat.with_overrides(catalog, nodes={"x": {"gpu": "RTX-4090", "gpus": 2}})
    assert renoded.gpus == {"RTX-4090": 2}


@pytest.mark.parametrize(
    "nodes, match",
    [
        ([], r"nodes: \[\] must map node names"),
        ({"a": 5}, r"nodes.a: 5 must be a mapping"),
        ({"A_1": {"gpu": "H100-SXM", "gpus": 8}}, r"nodes: node name 'A_1' must be a DNS label"),
        ({"a": {"gpu": "H100-SXM", "gpus": 8, "free": 9}}, r"nodes.a.free: 9 must be a whole number from 0 to the node's 8 GPUs"),
        ({"a": {"gpu": "H100-SXM", "gpus": 73}}, r"nodes.a.gpus: 73 must be a whole number of GPUs from 1 to 72"),
        ({"a": {"gpu": "H100-SXM", "gpus": 2.5}}, r"nodes.a.gpus: 2.5 must be a whole number"),
        ({"a": {"gpu": "H100-SXMM", "gpus": 8}}, r"nodes.a.gpu: unknown GPU type 'H100-SXMM'.*did you mean 'H100-SXM'"),
        ({"a": {"gpu": "", "gpus": 8}}, r"nodes.a.gpu: '' must be a GPU type name"),
        ({"a": {"gpus": 8}}, r"nodes.a.gpu: missing"),
        ({"a": {"gpu": "H100-SXM"}}, r"nodes.a.gpus: missing"),
        ({"a": {"gpu": "H100-SXM", "gpus": 8, "fre": 1}}, r"nodes.a: unknown field 'fre'.*did you mean 'free'"),
        ({"a": {"gpu": "H100-SXM", "gpus": 8, "free": 0}}, r"gpus: every availability count is 0"),
    ],
)
def test_bad_nodes_give_one_line_errors(catalog, small_dict, nodes, match):
    small_dict.pop("gpus")
    with pytest.raises(InputError, match=match):
        Scenario.from_dict(dict(small_dict, nodes=nodes), catalog)


def test_gpus_must_agree_with_nodes_on_every_construction_path(catalog, small_dict):
    import attrs

    from boute.engine.scenario import Node

    with pytest.raises(InputError, match=r"gpus: \{'H100-SXM': 8\} disagrees with the free GPUs of the nodes \{'H100-SXM': 10"):
        Scenario.from_dict(dict(small_dict, nodes=NODES, gpus={"H100-SXM": 8}), catalog)
    sc = Scenario.from_dict(small_dict, catalog)
    with pytest.raises(InputError, match="disagrees with the free GPUs of the nodes"):
        attrs.evolve(sc, nodes=(Node(name="a", gpu="H100-SXM", gpus=8, free=2),))
    with pytest.raises(InputError, match="node 'a' is given twice"):
        n = Node(name="a", gpu="H100-SXM", gpus=8, free=4)
        attrs.evolve(sc, gpus={"H100-SXM": 8}, nodes=(n, n))
    with pytest.raises(InputError, match="nodes: .* must be a tuple of Node values"):
        attrs.evolve(sc, nodes=[{"gpu": "H100-SXM"}])


def test_nodes_from_a_yaml_file(catalog, small_dict, tmp_path):
    small_dict.pop("gpus")
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(dict(small_dict, nodes=NODES)))
    sc = load_scenario(f, catalog)
    assert sc.gpus == {"H100-SXM": 10, "RTX-4090": 3} and [n.name for n in sc.nodes] == ["node-a", "node-b", "node-c"]
    f.write_text(
        yaml.safe_dump(dict(small_dict)).replace("models:", "nodes:\n  a: {gpu: H100-SXM, gpus: 8}\n  a: {gpu: H100-SXM, gpus: 4}\nmodels:")
    )
    with pytest.raises(InputError, match="key 'a' is given twice"):
        load_scenario(f, catalog)
