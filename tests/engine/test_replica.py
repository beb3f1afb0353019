"""Stage 1: memory fit at known boundaries, monotonicity, links, spec-only marks."""

import numpy as np
import pytest

from boute.engine.errors import InputError
from boute.engine.replica import ReplicaConfig, ReplicaModel, candidate_configs, steady_state_closed_loop


def rm(catalog, model, gpu, tp=1, pp=1, wd="bf16", max_len=8192, **kw):
    cfg = ReplicaConfig(model=model, gpu=catalog.gpu(gpu).name, tp=tp, pp=pp, weight_dtype=wd)
    return ReplicaModel(catalog.model(model), catalog.gpu(gpu), cfg, max_model_len=max_len, **kw)


def test_70b_bf16_weights_about_131_gib(catalog):
    mem = rm(catalog, "Llama-3.1-70B", "H100").memory()
    assert 128 < mem.weight_bytes / 2**30 < 134
    assert not mem.feasible and "exceed the usable" in mem.reason


def test_70b_fits_tp4_h100_with_long_context(catalog):
    mem = rm(catalog, "Llama-3.1-70B", "H100", tp=4, max_len=131072).memory()
    assert mem.feasible and mem.kv_capacity_tokens >= 131072


def test_70b_on_one_rtx_pro_6000_only_in_fp8(catalog):
    assert not rm(catalog, "Llama-3.1-70B", "RTX-PRO-6000", wd="bf16").memory().feasible
    assert rm(catalog, "Llama-3.1-70B", "RTX-PRO-6000", wd="fp8").memory().feasible


def test_config_must_hold_one_full_request(catalog):
    small = rm(catalog, "Llama-3.1-8B", "RTX-4090", max_len=4096).memory()
    huge = rm(catalog, "Llama-3.1-8B", "RTX-4090", max_len=131072).memory()
    assert small.feasible and not huge.feasible and "fewer than one 131072-token request" in huge.reason


def test_tp_structural_limits(catalog):
    assert "exceeds the 8 GPUs" in rm(catalog, "Llama-3.1-70B", "H100", tp=16).memory().reason
    assert "does not divide" in rm(catalog, "Qwen2.5-7B", "H100", tp=8).memory().reason  # 28 heads


def test_more_batch_longer_step_more_tp_less_weight(catalog):
    m = rm(catalog, "Llama-3.1-8B", "H100")
    steps = m.decode_step_time(np.array([1, 8, 64, 256]), 1024)
    assert np.all(np.diff(steps) > 0)
    w = [rm(catalog, "Llama-3.1-70B", "H100", tp=tp).memory().weight_bytes for tp in (1, 2, 4, 8)]
    assert all(a > b for a, b in zip(w, w[1:]))
    pre = m.prefill_time(np.array([128, 1024, 4096]))
    assert np.all(np.diff(pre) > 0)


def test_allreduce_costs_more_on_pcie_than_nvlink(catalog):
    nv = rm(catalog, "Llama-3.1-8B", "H100-SXM", tp=2)
    pcie = rm(catalog, "Llama-3.1-8B", "H100-PCIe", tp=2)
    tokens = np.array([1.0, 512.0, 4096.0])
    assert np.all(pcie._allreduce_time(tokens) > nv._allreduce_time(tokens))
    nop2p = rm(catalog, "Llama-3.1-8B", "RTX-4090", tp=2)
    l40s = rm(catalog, "Llama-3.1-8B", "L40S", tp=2)  # same PCIe Gen4 link but P2P
    assert np.all(nop2p._allreduce_time(tokens) > l40s._allreduce_time(tokens))


def test_step_tables_match_iteration_time(catalog):
    m = rm(catalog, "Llama-3.1-70B", "H100", tp=4)
    t = m.step_tables(9000, 300)
    for p, pairs, b, c in [(0, 0, 16, 16 * 900), (512, 512 * 256, 8, 8000), (4096, 4096 * 2048, 0, 0)]:
        sampled = b + (p > 0)
        fast = (
            t.token_s[p + b]
            + t.pair_s * pairs
            + (t.prefill0_s if p else 0)
            + (t.decode0_s if b else 0)
            + t.sample_s[sampled]
            + t.beta_s * c
        )
        fast = float(m.with_cpu(fast, sampled, decode_only=p == 0))  # the engine's CPU side of the step
        assert fast == pytest.approx(float(m.iteration_time(p, pairs, b, c)), rel=1e-9)


def test_moe_counts_active_experts(catalog):
    mix = rm(catalog, "Mixtral-8x7B", "H100", tp=2, max_len=4096)
    dense47 = mix.llm.params
    # one decode step reads far less than all weights' worth of compute at batch 1
    assert mix.llm.active_params < dense47 / 3
    assert mix.decode_step_time(1, 1000) < mix.decode_step_time(64, 1000)


def test_spec_only_marked(catalog):
    for name in ("RTX-5090", "RTX-4090", "A10G", "L4", "T4", "H100-PCIe"):
        assert catalog.gpu(name).spec_only
    from boute.engine.cli import main

    assert main(["predict", "--model", "Llama-3.1-8B", "--gpu", "RTX-5090", "--json"]) == 0


def test_candidate_configs_smallest_first(catalog):
    cfgs = candidate_configs(catalog.model("Llama-3.1-70B"), catalog.gpu("H100"), max_model_len=4096)
    assert [c.tp for c, _ in cfgs] == sorted(c.tp for c, _ in cfgs)
    assert all(m.feasible for _, m in cfgs)


def test_bad_inputs(catalog):
    with pytest.raises(InputError, match="weight_dtype"):
        rm(catalog, "Llama-3.1-8B", "H100", wd="int3")
    with pytest.raises(InputError, match="gpu_memory_utilization"):
        rm(catalog, "Llama-3.1-8B", "H100", gpu_memory_utilization=1.5)


def test_steady_state_kv_limit_queues(catalog):
    m = rm(catalog, "Llama-3.1-70B", "H100", tp=2, max_len=9216)
    few = steady_state_closed_loop(m, 4, 8192, 1024)
    many = steady_state_closed_loop(m, 64, 8192, 1024)
    assert many["effective_concurrency"] < 64 and many["ttft_s"] > 5 * few["ttft_s"]
