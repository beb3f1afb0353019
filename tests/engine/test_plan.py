"""Plan: frozen typed values; to_dict/from_dict round-trip exactly (through JSON); bad
documents give one-line errors."""

import json

import attrs
import pytest

from boute.engine.errors import InputError
from boute.engine.plan import SCHEMA_VERSION, BaselineResult, Plan, ResimMetrics, Verification
from tests.engine.plan_factory import group, make_plan, plan_4090_x13


def _json_round_trip(p: Plan) -> Plan:
    return Plan.from_dict(json.loads(json.dumps(p.to_dict())))


def test_factory_plan_round_trips_exactly():
    p = make_plan(
        [group("RTX-4090", 1, 3), group("H100-SXM", 8, 1, model="Llama-3.1-70B", fp8=True)],
        {"RTX-4090": (8, 8), "H100-SXM": (8, 8)},
        shares=(0.6, 0.4),
    )
    assert _json_round_trip(p) == p
    assert p.to_dict()["schema_version"] == SCHEMA_VERSION


@pytest.mark.slow
def test_planned_plan_round_trips_exactly(small_planner):
    p = small_planner.plan(strategy="random")
    q = _json_round_trip(p)
    assert q == p
    # everything the deploy files need is in the plan itself
    assert p.engine.flags[:2] == ("--max-model-len", str(p.max_model_len)) and p.max_model_len > 1000
    assert {pool.gpu for pool in p.pools} == {"H100-SXM", "RTX-4090"} and all(pool.gpus_per_node == 8 for pool in p.pools)
    assert p.provenance.perfdb_key == small_planner.perfdb.key and p.provenance.boute_version
    assert p.inputs["arrival_rate_per_s"] == 3.0
    assert all(pt.deployments for pt in p.pareto) and all(pt.deployments for pt in p.alternatives)
    assert {b.name for b in p.baselines} == {"Stand-Alone-Homo", "Stand-Alone-Hetero", "RouteLLM", "BOute-Homo"}
    assert isinstance(p.verification, Verification) and p.verification.ok and not p.verification.failed()
    assert p.simulated is not None and p.simulated.p95_s > 0 and p.stats.verify_s is not None


def test_plan_is_frozen():
    p = plan_4090_x13()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.quality = 1.0
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.deployments[0].groups[0].replicas = 1


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: d.update(schema_version="1.0"), "schema_version '1.0' is not '2.0'"),
        (lambda d: d.update(plna=1), "plna"),
        (lambda d: d.pop("engine"), "engine"),
        (lambda d: d["deployments"][0]["groups"][0].update(tp="eight"), "tp"),
        (lambda d: d.update(dispatch_policy="round-robin"), "dispatch_policy: 'round-robin' is not a policy"),
    ],
)
def test_bad_plan_documents(mutate, match):
    d = json.loads(json.dumps(plan_4090_x13().to_dict()))
    mutate(d)
    with pytest.raises(InputError, match=match):
        Plan.from_dict(d)


def test_not_a_mapping():
    with pytest.raises(InputError, match="expected a JSON object"):
        Plan.from_dict([1, 2])


def test_resim_metrics_from_summary():
    m = ResimMetrics.from_summary({"p95_s": 2.0, "mean_s": float("inf"), "completed": 10.0, "preemptions": 0.0})
    assert m == ResimMetrics(p95_s=2.0, mean_s=None, completed=10, preemptions=0)
    assert ResimMetrics.from_summary({}) is None
    with pytest.raises(ValueError, match="unknown metric 'p42_s'"):
        ResimMetrics.from_summary({"p42_s": 1.0})


def test_baseline_from_summary():
    b = BaselineResult.from_summary("X", {"feasible": False, "reason": "too poor"})
    assert not b.feasible and b.reason == "too poor"
    b = BaselineResult.from_summary(
        "Y",
        {
            "feasible": True,
            "shares": [0, 1],
            "quality": 95.0,
            "p95_bound_s": 3.0,
            "cost_usd_per_hour": 24.0,
            "allocation": {"M": {"k": 2}},
            "simulated": {"p95_s": 2.9},
        },
    )
    assert b.allocation[0].replicas == 2 and b.simulated.p95_s == 2.9


def test_lookups():
    p = plan_4090_x13()
    assert p.pool("RTX-4090").gpus_per_node == 8
    with pytest.raises(InputError, match="no GPU pool 'H100'"):
        p.pool("H100")
    with pytest.raises(InputError, match="no baseline 'RouteLLM'"):
        p.baseline("RouteLLM")
    assert p.p95_s == 2.2


def test_schema_file_is_generated_from_the_types_and_validates_plans():
    import jsonschema

    from boute.engine.artifacts import PLAN_SCHEMA
    from boute.engine.plan import json_schema

    on_disk = json.loads(PLAN_SCHEMA.read_text())
    assert on_disk == json_schema(), "run scripts/make_plan_schema.py"
    doc = json.loads(json.dumps(plan_4090_x13().to_dict()))
    jsonschema.validate(doc, on_disk)
    doc["engine"]["extra"] = 1
    with pytest.raises(jsonschema.ValidationError, match="extra"):
        jsonschema.validate(doc, on_disk)
