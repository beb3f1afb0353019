"""Shared fixtures: tiny catalog factories, a per-session perf-DB cache, data paths."""

from __future__ import annotations

import os
import pathlib

import attrs
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("boute-cache")
    old = os.environ.get("BOUTE_CACHE_DIR")
    os.environ["BOUTE_CACHE_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("BOUTE_CACHE_DIR", None)
    else:
        os.environ["BOUTE_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def catalog():
    from boute.engine import load_catalog

    return load_catalog()


def need_shared(*parts: str) -> pathlib.Path:
    """Path under ../shared/data, or skip with a reason on machines without it."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"reference data {p} is absent (a fresh user machine has no ../shared/data)")
    return p


def make_gpu(**overrides):
    """A valid GPU type (H100-like) with fields overridden."""
    from boute.engine.catalog import Calibration, GPUType

    cal = Calibration(
        gemm_compute_efficiency=0.8,
        gemm_memory_efficiency=0.85,
        gemm_overhead_us=4.0,
        attention_compute_efficiency=0.5,
        attention_memory_efficiency=0.8,
        attention_overhead_us=10.0,
        allreduce_latency_us=5.0,
        allreduce_bandwidth_efficiency=0.7,
        measured=True,
        source="test factory",
        source_date="2026-01-01",
    )
    base = dict(
        name="TestGPU",
        architecture="hopper",
        memory_gib=80.0,
        hbm_bandwidth_gb_per_s=3350.0,
        bf16_tflops=989.0,
        fp8_tflops=1978.0,
        intra_node_link="nvlink",
        intra_node_bandwidth_gb_per_s=450.0,
        p2p=True,
        inter_node_bandwidth_gb_per_s=50.0,
        gpus_per_node=8,
        calibration=cal,
        source="test",
        source_date="2026-01-01",
    )
    base.update(overrides)
    return GPUType(**base)


def make_llm(**overrides):
    """A valid LLM spec (Llama-3.1-8B shape) with fields overridden."""
    from boute.engine.catalog import LLMSpec

    base = dict(
        name="TestLLM",
        hf_id="test/llm",
        num_layers=32,
        hidden_size=4096,
        num_attention_heads=32,
        num_kv_heads=8,
        head_dim=128,
        intermediate_size=14336,
        vocab_size=128256,
        max_context_tokens=8192,
        published_params_b=8.03,
        source="test",
        source_date="2026-01-01",
    )
    base.update(overrides)
    return LLMSpec(**base)


SMALL = {
    "name": "small",
    "gpus": {"H100-SXM": 8, "RTX-4090": 8},
    "price_set": "boute-paper",
    "models": ["Llama-3.1-8B", "Llama-3.1-70B"],
    "workload": "gsm8k",
    "arrival_rate_per_s": 3.0,
    "quality": {"data": "calibrated", "router": "noisy", "auc": 0.8},
    "budget_usd_per_hour": 30.0,
    "quality_min": 89.0,
    "latency_slo_s": 10.0,
    "objective": "latency",
    "seed": 0,
    "max_trials": 6,
    "stall_trials": 4,
}


@pytest.fixture
def small_dict():
    import copy

    return copy.deepcopy(SMALL)


@pytest.fixture(scope="session")
def small_planner(catalog):
    from boute.engine.planner import Planner
    from boute.engine.scenario import Scenario

    return Planner(Scenario.from_dict(SMALL, catalog), catalog)


__all__ = ["make_gpu", "make_llm", "need_shared", "SMALL", "attrs"]
