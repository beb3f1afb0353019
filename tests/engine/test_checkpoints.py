"""Pre-quantized checkpoints: catalog entries, which precisions a model can be served in,
and the per-model quality charge (engine/checkpoints.py, engine/catalog.py)."""

import logging

import numpy as np
import pytest

from boute.engine.catalog import QuantizedCheckpoint
from boute.engine.checkpoints import (
    apply_model_precision_quality,
    model_precision_quality_change,
    serving_checkpoint,
    servable_weight_dtypes,
)
from boute.engine.engines import PRECISIONS
from boute.engine.errors import CatalogError, InputError
from boute.engine.quality import QualityTable
from boute.engine.scenario import Scenario
from tests.conftest import make_llm

W4A16 = {
    "Llama-3.1-8B": "neuralmagic/Meta-Llama-3.1-8B-Instruct-quantized.w4a16",
    "Llama-3.1-70B": "neuralmagic/Meta-Llama-3.1-70B-Instruct-quantized.w4a16",
    "Llama-3.1-405B": "neuralmagic/Meta-Llama-3.1-405B-Instruct-quantized.w4a16",
}


def _ck(**kw):
    base = dict(weight_dtype="int4", hf_id="org/test-w4a16", scheme="GPTQ W4A16", source="test", source_date="2026-01-01")
    base.update(kw)
    return QuantizedCheckpoint(**base)


def test_builtin_int4_checkpoints_are_the_evaluated_llama_ones(catalog):
    have = {m.name: m.quantized_checkpoint("int4").hf_id for m in catalog.models.values() if m.quantized_checkpoint("int4")}
    assert have == W4A16
    for name in W4A16:
        ck = catalog.model(name).quantized_checkpoint("int4")
        assert "2411.02355" in ck.quality_source and len(ck.recovery_pct) == 5 and ck.source_date == "2026-11-29"
    # the mean of the five published recoveries (8B: 93.0, 98.9, 96.1, 99.7, 97.4)
    assert catalog.model("Llama-3.1-8B").quantized_checkpoint("int4").quality_relative_change == pytest.approx(-0.0298)
    assert catalog.model("Llama-3.1-70B").quantized_checkpoint("int4").quality_relative_change == pytest.approx(-0.006)
    assert catalog.model("Llama-3.1-405B").quantized_checkpoint("int4").quality_relative_change == pytest.approx(-0.0116)
    assert catalog.model("Qwen2.5-7B").quantized_checkpoint("int4") is None


def test_generic_int4_figure_is_the_mean_of_the_evaluated_checkpoints(catalog):
    figs = [catalog.model(m).quantized_checkpoint("int4").quality_relative_change for m in W4A16]
    assert PRECISIONS["int4"].quality_relative_change == pytest.approx(np.mean(figs), abs=1e-4)
    assert PRECISIONS["int4"].needs_checkpoint and PRECISIONS["int4"].vllm_quantization is None
    assert not PRECISIONS["fp8"].needs_checkpoint and not PRECISIONS["bf16"].needs_checkpoint


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"recovery_pct": (("Arena-Hard", 250.0),)}, r"recovery_pct' entry \('Arena-Hard', 250.0\) must be \(evaluation, percent"),
        ({"recovery_pct": (("", 99.0),)}, r"recovery_pct' entry"),
        ({"recovery_pct": (("Arena-Hard", 99.0),)}, r"recovery figures need a 'quality_source'"),
        ({"hf_id": " "}, r"field 'hf_id' = ' ' must be a non-empty string"),
        ({"weight_dtype": "int-4"}, r"field 'weight_dtype' = 'int-4' is not a precision.*did you mean 'int4'"),
        ({"source_date": "29.11.2026"}, r"field 'source_date' = '29.11.2026' is not an ISO date"),
    ],
)
def test_bad_checkpoint_fields_name_the_field(kw, match):
    with pytest.raises(CatalogError, match=match):
        _ck(**kw)


@pytest.mark.parametrize(
    "cks,match",
    [
        ((_ck(), _ck(hf_id="org/other")), r"lists weight_dtype 'int4' twice"),
        ((_ck(weight_dtype="bf16"),), r"lists weight_dtype 'bf16' \(the hf_id is the BF16 checkpoint\)"),
        (("org/test-w4a16",), r"holds 'org/test-w4a16', not a QuantizedCheckpoint"),
    ],
)
def test_bad_checkpoint_lists_are_catalog_errors(cks, match):
    with pytest.raises(CatalogError, match=match):
        make_llm(quantized_checkpoints=cks)


def test_serving_checkpoint_per_precision(catalog):
    llama = catalog.model("Llama-3.1-70B")
    assert serving_checkpoint(llama, "bf16") == llama.hf_id
    assert serving_checkpoint(llama, "fp8") == llama.hf_id  # vLLM quantizes to FP8 at load
    assert serving_checkpoint(llama, "int4") == W4A16["Llama-3.1-70B"]
    with pytest.raises(InputError, match=r"weight_dtypes: Qwen2.5-7B has no pre-quantized int4 checkpoint.*add one to its"):
        serving_checkpoint(catalog.model("Qwen2.5-7B"), "int4")
    with pytest.raises(InputError, match=r"weight_dtype: 'int3' is not a supported precision"):
        serving_checkpoint(llama, "int3")


def test_servable_dtypes_drop_int4_with_a_warning_or_fail_when_nothing_is_left(catalog, caplog):
    qwen = catalog.model("Qwen2.5-7B")
    with caplog.at_level(logging.WARNING, logger="boute"):
        assert servable_weight_dtypes(qwen, ("bf16", "int4"), warn=True) == ("bf16",)
    assert "Qwen2.5-7B has no pre-quantized int4 checkpoint" in caplog.text
    assert servable_weight_dtypes(catalog.model("Llama-3.1-8B"), ("bf16", "int4")) == ("bf16", "int4")
    with pytest.raises(InputError, match=r"Qwen2.5-7B has no pre-quantized int4 checkpoint.*pick a model with one \(Llama-3.1-8B"):
        servable_weight_dtypes(qwen, ("int4",), catalog_models=catalog.models.values())
    with pytest.raises(InputError, match=r"no other allowed precision.*add a checkpoint to the model's LLMSpec.quantized_checkpoints"):
        servable_weight_dtypes(qwen, ("int4",))


def test_scenario_allows_int4_and_plans_a_model_without_a_checkpoint_in_bf16(catalog, small_dict, caplog):
    with caplog.at_level(logging.WARNING, logger="boute"):
        sc = Scenario.from_dict({**small_dict, "models": ["Qwen2.5-7B", "Llama-3.1-70B"], "weight_dtypes": ["bf16", "int4"]}, catalog)
    assert sc.weight_dtypes == ("bf16", "int4")
    assert "Qwen2.5-7B has no pre-quantized int4 checkpoint in the model catalog; planned without int4" in caplog.text
    assert Scenario.from_dict(sc.to_dict(), catalog) == sc


def test_quality_change_uses_the_checkpoints_own_evaluation(catalog):
    llama8 = catalog.model("Llama-3.1-8B")
    assert model_precision_quality_change(llama8, ("bf16", "fp8"))[0] == 0.0
    assert model_precision_quality_change(llama8, ("bf16", "int4"))[0] == pytest.approx(-0.0298)
    # a model that cannot run int4 is not charged its loss
    assert model_precision_quality_change(catalog.model("Qwen2.5-7B"), ("bf16", "int4"))[0] == 0.0
    # a checkpoint without a published evaluation falls back to the generic figure, with a warning
    plugin = make_llm(quantized_checkpoints=(_ck(),))
    change, warns = model_precision_quality_change(plugin, ("int4",))
    assert change == PRECISIONS["int4"].quality_relative_change
    assert any("org/test-w4a16 has no published evaluation" in w for w in warns)


def test_apply_scales_each_models_column(catalog, caplog):
    q = np.array([[80.0, 90.0], [70.0, 100.0]])
    t = QualityTable(models=("Qwen2.5-7B", "Llama-3.1-70B"), quality=q, unit="accuracy %")
    llms = [catalog.model("Qwen2.5-7B"), catalog.model("Llama-3.1-70B")]
    assert apply_model_precision_quality(t, llms, ("bf16", "fp8")) is t
    with caplog.at_level(logging.WARNING, logger="boute"):
        out = apply_model_precision_quality(t, llms, ("bf16", "int4"))
    np.testing.assert_allclose(out.quality, q * np.array([1.0, 0.994])[None, :])
    assert "Llama-3.1-70B per-query quality scaled by 0.9940" in caplog.text
    with pytest.raises(InputError, match=r"models: the quality table's model 'Qwen2.5-7B' is not among the planned models"):
        apply_model_precision_quality(t, llms[1:], ("bf16", "int4"))


def test_perfdb_enumerates_int4_only_where_a_checkpoint_exists(catalog):
    from boute.engine.perfdb import build_perfdb
    from boute.engine.workload import get_workload

    db = build_perfdb(
        [catalog.model("Llama-3.1-8B"), catalog.model("Qwen2.5-7B")],
        [catalog.gpu("H100")],
        get_workload("gsm8k"),
        weight_dtypes=("bf16", "int4"),
        max_gpus_per_replica={"H100-SXM": 1},
        use_cache=False,
        workers=1,
    )
    assert sorted(db.curves) == [
        "Llama-3.1-8B@H100-SXM:tp1pp1:bf16/bf16",
        "Llama-3.1-8B@H100-SXM:tp1pp1:int4/bf16",
        "Qwen2.5-7B@H100-SXM:tp1pp1:bf16/bf16",
    ]
    # int4 memory: 0.5 + 2/128 bytes per quantized weight (embeddings and LM head stay BF16)
    bf16, int4 = (db.curves[f"Llama-3.1-8B@H100-SXM:tp1pp1:{d}/bf16"] for d in ("bf16", "int4"))
    assert int4.kv_capacity_tokens > bf16.kv_capacity_tokens


def test_int4_needs_marlin_capable_gpus(catalog):
    from boute.engine.replica import ReplicaConfig, ReplicaModel

    def mem(gpu):
        cfg = ReplicaConfig(model="Llama-3.1-8B", gpu=gpu, weight_dtype="int4")
        return ReplicaModel(catalog.model("Llama-3.1-8B"), catalog.gpu(gpu), cfg, max_model_len=4096).memory()

    t4 = mem("T4")
    assert not t4.feasible and "no Marlin INT4 kernels" in t4.reason
    assert mem("A10G").feasible  # Ampere: Marlin
