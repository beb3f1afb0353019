"""The built-in LLM catalog: parameter counts derived from the architecture."""

import pytest

from boute.engine.errors import CatalogError
from tests.conftest import make_llm

REQUIRED = [
    "Llama-3.1-8B",
    "Llama-3.1-70B",
    "Llama-3.1-405B",
    "Qwen2.5-7B",
    "Qwen2.5-72B",
    "Mistral-7B",
    "Mixtral-8x7B",
    "Qwen3-8B",
    "Qwen3-32B",
]


@pytest.mark.parametrize("name", REQUIRED)
def test_derived_params_within_one_percent(catalog, name):
    m = catalog.model(name)
    assert abs(m.params / 1e9 / m.published_params_b - 1) <= 0.01
    assert m.source and m.source_date and m.hf_id


def test_llama_pair_exact_figures(catalog):
    assert round(catalog.model("Llama-3.1-8B").params / 1e9, 2) == 8.03
    assert round(catalog.model("Llama-3.1-70B").params / 1e9, 2) == 70.55


def test_mixtral_active_params(catalog):
    m = catalog.model("Mixtral-8x7B")
    assert m.is_moe and m.experts_per_token == 2
    assert 12.8 < m.active_params / 1e9 < 13.0  # 12.9 B active (Mistral AI)


def test_lookup_by_hf_id(catalog):
    assert catalog.model("meta-llama/Llama-3.1-70B-Instruct").name == "Llama-3.1-70B"


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("num_layers", 0, "num_layers"),
        ("hidden_size", -1, "hidden_size"),
        ("num_kv_heads", 5, "not a multiple"),
        ("vocab_size", 1.5, "vocab_size"),
        ("published_params_b", 9.0, "differs from published"),
        ("experts_per_token", 2, "exceeds num_experts"),
        ("max_context_tokens", 0, "max_context_tokens"),
        ("source_date", "yesterday", "ISO date"),
    ],
)
def test_each_bad_llm_field_is_rejected(field, value, match):
    with pytest.raises(CatalogError, match=match):
        make_llm(**{field: value})


def test_llama_405b_fits_only_where_it_should(catalog):
    from boute.engine.replica import candidate_configs

    m = catalog.model("Llama-3.1-405B")
    assert abs(m.params / 1e9 / 405.0 - 1) <= 0.01

    def fits(gpu, dtype, max_gpus):
        return [
            (c.tp, c.pp) for c, _ in candidate_configs(m, catalog.gpu(gpu), weight_dtypes=(dtype,), max_model_len=4096, max_gpus=max_gpus)
        ]

    assert (8, 1) in fits("H100-SXM", "fp8", 8)  # one 8 x H100 node in FP8 (Meta's FP8 checkpoint)
    assert fits("H100-SXM", "bf16", 8) == []  # ~811 GB of BF16 weights exceed 8 x 80 GB
    assert (8, 1) in fits("H200", "bf16", 8)  # 8 x 141 GB holds BF16
    assert fits("RTX-4090", "fp8", 16) == [] and fits("RTX-4090", "bf16", 16) == []
