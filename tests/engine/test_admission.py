"""KV admission and KV memory rule of the engine profiles (``EngineProfile.kv_admission``,
``kv_memory_rule``): TensorRT-LLM's GUARANTEED_NO_EVICT reservation against vLLM's
admission by current use, and TensorRT-LLM's free-memory fraction."""

import math

import attrs
import numpy as np
import pytest

from boute.engine.engines import PROFILES, engine_flags
from boute.engine.errors import InputError
from boute.engine.replica import KV_BLOCK_TOKENS, NCCL_BYTES, RUNTIME_OVERHEAD_GIB, ReplicaConfig, ReplicaModel, steady_state_closed_loop
from boute.engine.simulator import ReplicaSim, simulate_closed_loop, simulate_replica
from boute.engine.workload import get_workload

TRT = PROFILES["trtllm"]
TRT_CURRENT = attrs.evolve(TRT, name="trtllm-max-utilization", kv_admission="current")


def _model(catalog, profile, *, model="Llama-3.1-8B", gpu="H100-SXM", tp=1, weight_dtype="bf16", kv_dtype="bf16", max_model_len=4096):
    cfg = ReplicaConfig(model=model, gpu=gpu, tp=tp, weight_dtype=weight_dtype, kv_dtype=kv_dtype, engine="trtllm")
    return ReplicaModel(catalog.model(model), catalog.gpu(gpu), cfg, max_model_len=max_model_len, engine=profile)


def _run(sim: ReplicaSim, t_stop: float = math.inf, check=None) -> None:
    """Run ``sim`` iteration by iteration, calling ``check`` after each."""
    while sim.t < t_stop and (sim.running or sim.waiting):
        if not sim._iterate(t_stop):
            break
        if check is not None:
            check(sim)


# ------------------------------------------------------------------ profiles


def test_trtllm_profile_reserves_full_output_on_free_memory_and_cites_it():
    assert (TRT.kv_admission, TRT.kv_memory_rule, TRT.gpu_memory_utilization) == ("full-output", "free", 0.9)
    cited = " ".join(TRT.sources)
    assert "GUARANTEED_NO_EVICT" in cited and "free_gpu_memory_fraction" in cited and "read 2026-11-29" in cited
    for name, p in PROFILES.items():
        if p.engine != "trtllm":
            assert (p.kv_admission, p.kv_memory_rule) == ("current", "total"), name


def test_bad_admission_and_memory_rule_values_raise():
    with pytest.raises(InputError, match=r"kv_admission='full' is unknown.*did you mean 'full-output'"):
        attrs.evolve(TRT, kv_admission="full")
    with pytest.raises(InputError, match=r"kv_memory_rule='fre' is unknown.*did you mean 'free'"):
        attrs.evolve(TRT, kv_memory_rule="fre")
    with pytest.raises(InputError, match=r"kv_admission=3 is unknown"):
        attrs.evolve(TRT, kv_admission=3)


def test_engine_flags_refuse_what_the_launch_flags_cannot_set():
    """trtllm-serve has no flag for MAX_UTILIZATION, and vLLM's memory fraction is of the total."""
    with pytest.raises(InputError, match=r"kv_admission='current' cannot be set by trtllm launch flags"):
        engine_flags(TRT_CURRENT)
    with pytest.raises(InputError, match=r"kv_memory_rule='total' cannot be set by trtllm launch flags"):
        engine_flags(attrs.evolve(TRT, kv_memory_rule="total"))
    with pytest.raises(InputError, match=r"kv_memory_rule='free' cannot be set by vllm launch flags"):
        engine_flags(attrs.evolve(PROFILES["vllm-v1"], kv_memory_rule="free"))
    with pytest.raises(InputError, match=r"kv_admission='full-output' cannot be set by sglang launch flags"):
        engine_flags(attrs.evolve(PROFILES["sglang"], kv_admission="full-output"))
    flags = engine_flags("trtllm", tp=1)
    assert flags[flags.index("--kv_cache_free_gpu_memory_fraction") + 1] == "0.90"


# ------------------------------------------------------------------ memory rule


def _by_hand(catalog, tp, weight_dtype_bytes, kv_dtype_bytes, tokens, seqs):
    """Weights, workspace, runtime and KV bytes per token of Llama-3.1-70B per GPU (PP 1),
    written out from the model's dimensions (engine/replica.py module docstring)."""
    m = catalog.model("Llama-3.1-70B")
    weights = m.num_layers * m.layer_params / tp * weight_dtype_bytes + 2 * m.vocab_size * m.hidden_size / tp * 2.0
    workspace = tokens * (4 * m.hidden_size + 2 * m.intermediate_size / tp) * 2.0 + seqs * m.vocab_size / tp * 4.0
    runtime = RUNTIME_OVERHEAD_GIB * 2**30 + NCCL_BYTES[tp]
    kv_per_token = 2 * m.num_layers * (m.num_kv_heads / tp) * m.head_dim * kv_dtype_bytes
    return weights, workspace, runtime, kv_per_token


@pytest.mark.parametrize("tp", [1, 2])
def test_free_rule_kv_capacity_by_hand(catalog, tp):
    """TensorRT-LLM: KV = 0.9 x (memory - weights - workspace - runtime); vLLM: 0.9 x memory - the rest."""
    mem = catalog.gpu("H200").memory_bytes
    trt = _model(catalog, TRT, model="Llama-3.1-70B", gpu="H200", tp=tp, weight_dtype="fp8", kv_dtype="fp8", max_model_len=9216)
    w, s, o, per_tok = _by_hand(catalog, tp, 1.0, 1.0, trt.max_num_batched_tokens, trt.max_num_seqs)
    expected = int(0.9 * (mem - w - s - o) // per_tok // KV_BLOCK_TOKENS * KV_BLOCK_TOKENS)
    rep = trt.memory()
    assert rep.kv_capacity_tokens == expected
    assert rep.usable_bytes == pytest.approx(w + s + o + 0.9 * (mem - w - s - o), rel=1e-12)
    vllm = _model(
        catalog, PROFILES["vllm-v1"], model="Llama-3.1-70B", gpu="H200", tp=tp, weight_dtype="fp8", kv_dtype="fp8", max_model_len=9216
    )
    w, s, o, per_tok = _by_hand(catalog, tp, 1.0, 1.0, vllm.max_num_batched_tokens, vllm.max_num_seqs)
    assert vllm.memory().kv_capacity_tokens == int((0.9 * mem - w - s - o) // per_tok // KV_BLOCK_TOKENS * KV_BLOCK_TOKENS)


def test_h200_70b_fp8_cache_holds_the_measured_trtllm_concurrency(catalog):
    """aiconfigurator-core 0.12.0 systems/silicon_sample.csv, H200 TP1 Llama-3.1-70B FP8 on
    TensorRT-LLM: 32 clients of 1024 + 8192 tokens run without a queue (TTFT 449 ms), 64 queue
    (79.5 s), and 128 clients of 1024 + 1024 do not queue (1.9 s). With an FP8 KV cache the
    free-memory rule holds 32 but not 64 full reservations, and all 128 short ones."""
    cap = _model(catalog, TRT, model="Llama-3.1-70B", gpu="H200", weight_dtype="fp8", kv_dtype="fp8", max_model_len=9216).memory()
    assert 32 * 9216 <= cap.kv_capacity_tokens < 64 * 9216
    assert cap.kv_capacity_tokens >= 128 * 2048


def test_memory_shortage_under_the_free_rule_names_the_device_memory(catalog):
    rep = _model(catalog, TRT, model="Llama-3.1-70B", gpu="L4", max_model_len=4096).memory()
    assert not rep.feasible and rep.kv_capacity_tokens == 0
    assert f"exceed the usable {catalog.gpu('L4').memory_bytes / 2**30:.1f} GiB" in rep.reason


# ------------------------------------------------------------------ admission


def test_full_output_queues_a_request_that_current_admission_serves_at_once(catalog):
    """A (100 + 1000 tokens) runs; B (100 + 1000) arrives when A is 80 % done in a 1500-token
    cache. Current use (A ~900 + B 100) admits B and the cache never runs short; the two
    reservations (2 x 1100) do not fit, so under full-output B waits for A to finish."""
    firsts = {}
    for prof in (TRT, TRT_CURRENT):
        m = _model(catalog, prof)
        alone = ReplicaSim(m, 1500)
        alone.submit(0.0, 100, 1000)
        alone.run_until(math.inf)
        t_b = 0.8 * alone.finish[0]
        sim = ReplicaSim(m, 1500)
        sim.submit(0.0, 100, 1000)
        sim.run_until(t_b)
        sim.submit(t_b, 100, 1000)
        sim.run_until(math.inf)
        assert sim.preemptions == 0 and not math.isnan(sim.finish[1])
        firsts[prof.kv_admission] = (sim.first[1], sim.finish[0])
    b_first, a_finish = firsts["full-output"]
    assert b_first > a_finish  # B's first token comes after A released its reservation
    b_first, a_finish = firsts["current"]
    assert b_first < a_finish


def test_closed_loop_full_output_queues_where_current_admission_preempts(catalog):
    """24 clients of 200 + 1000 tokens in a 20,000-token cache: reservations admit 16 at a time
    and the other 8 wait a whole request; admission by current use starts all 24 and then
    preempts when their contexts outgrow the cache."""
    res = {}
    for prof in (TRT, TRT_CURRENT):
        m = _model(catalog, prof)
        res[prof.kv_admission] = simulate_closed_loop(
            m, concurrency=24, num_requests=48, prompt_tokens=200, output_tokens=1000, kv_capacity_tokens=20_000
        )
    full, cur = res["full-output"], res["current"]
    assert full.preemptions == 0 and full.completed == 48
    assert cur.preemptions > 0 and cur.completed == 48
    # The first wave: 16 clients start at once, 8 wait about one request's decode (1000 steps).
    first_wave = np.sort(full.ttft_s[:24])
    assert first_wave[15] < 0.1 * first_wave[16]
    assert np.sort(cur.ttft_s[:24])[-1] < first_wave[16]


def test_full_output_never_preempts_and_reservations_bound_kv_use(catalog):
    """A random overloaded stream in a small cache: at every iteration the KV cache holds at
    most what was reserved, the reservations fit the cache, and no sequence is preempted."""
    m = _model(catalog, TRT)
    stream = get_workload("gsm8k").stream(40, 400, 3)
    sim = ReplicaSim(m, 12_000)

    def check(s):
        assert 0 <= s.kv_used <= s.reserved <= s.kv_cap

    for a, p, o in zip(stream.arrival_s.tolist(), stream.prompt_tokens.tolist(), stream.output_tokens.tolist()):
        sim.submit(a, p, o)
        _run(sim, a, check)
    _run(sim, math.inf, check)
    assert sim.preemptions == 0 and sim.reserved == 0 and sim.kv_used == 0
    assert not any(math.isnan(f) for f in sim.finish)


@pytest.mark.parametrize("base", ["vllm-v1", "vllm-0.6", "vllm-0.6-ms10", "sglang"])
def test_full_output_holds_under_every_scheduling_policy(catalog, base):
    """Reservation admission combined with chunked mixed batches, prefill-first and multi-step
    scheduling: the same invariants, every request served, nothing preempted."""
    prof = attrs.evolve(PROFILES[base], kv_admission="full-output")
    m = ReplicaModel(
        catalog.model("Llama-3.1-8B"), catalog.gpu("H100-SXM"), ReplicaConfig(model="Llama-3.1-8B", gpu="H100-SXM"), engine=prof
    )
    stream = get_workload("gsm8k").stream(40, 300, 7)
    sim = ReplicaSim(m, 9_000)
    peak = [0]

    def check(s):
        assert 0 <= s.kv_used <= s.reserved <= s.kv_cap
        peak[0] = max(peak[0], s.reserved)

    for a, p, o in zip(stream.arrival_s.tolist(), stream.prompt_tokens.tolist(), stream.output_tokens.tolist()):
        sim.submit(a, p, o)
        _run(sim, a, check)
    _run(sim, math.inf, check)
    assert peak[0] > 0.95 * sim.kv_cap  # the reservations did bind
    assert sim.preemptions == 0 and sim.reserved == 0 and not any(math.isnan(f) for f in sim.finish)


def test_chunked_full_output_reserves_from_the_first_chunk(catalog):
    """With chunked prefill a partly prefilled prompt already holds its reservation."""
    prof = attrs.evolve(TRT, chunked_prefill=True, max_num_batched_tokens=512)
    sim = ReplicaSim(_model(catalog, prof), 6000)
    sim.submit(0.0, 2000, 1000)  # 3000 reserved from its first 512-token chunk
    sim.submit(0.0, 2000, 1000)  # 3000 more: fits exactly
    sim.submit(0.0, 100, 10)  # 110 more does not fit: waits for the first to finish
    seen = []
    _run(sim, math.inf, lambda s: seen.append((s.reserved, s.prefilled[0], s.prefilled[2])))
    assert any(r == 3000 and 0 < p0 < 2000 for r, p0, _ in seen)
    assert max(r for r, _, _ in seen) == 6000
    assert sim.first[2] > min(sim.finish[0], sim.finish[1])
    assert sim.preemptions == 0 and sim.reserved == 0


def test_a_request_larger_than_the_cache_is_dropped_not_deadlocked(catalog):
    """Prompt + output above the whole cache can never be admitted under full-output: it is
    dropped as failed (no finish time) and the queue behind it is served."""
    sim = ReplicaSim(_model(catalog, TRT), 1000)
    sim.submit(0.0, 100, 200)
    sim.submit(0.0, 500, 600)  # 1100 > 1000 tokens: the prompt fits, the reservation never does
    sim.submit(0.0, 100, 200)
    sim.run_until(math.inf)
    assert not math.isnan(sim.finish[0]) and math.isnan(sim.finish[1]) and not math.isnan(sim.finish[2])
    assert sim.outstanding == 0 and sim.reserved == 0 and sim.preemptions == 0


def test_full_output_equals_current_admission_when_reservations_never_bind(catalog):
    """With a cache that holds every reservation the two policies schedule identically:
    bit-identical latencies (the reservation check changes nothing else)."""
    stream = get_workload("gsm8k").stream(20, 300, 5)
    out = []
    for prof in (TRT, TRT_CURRENT):
        r = simulate_replica(_model(catalog, prof), stream, kv_capacity_tokens=2_000_000)
        out.append(np.concatenate([r.ttft_s, r.tpot_s, r.e2e_s, [r.duration_s, r.busy_s]]))
    assert np.array_equal(out[0], out[1])


def test_steady_state_seats_full_reservations(catalog):
    """The closed form holds kv // (isl + osl) clients under full-output, kv // (isl + osl / 2) otherwise."""
    m = _model(catalog, TRT, max_model_len=9216)
    kv = m.memory().kv_capacity_tokens
    full = steady_state_closed_loop(m, 64, 1024, 8192)
    cur = steady_state_closed_loop(_model(catalog, TRT_CURRENT, max_model_len=9216), 64, 1024, 8192)
    assert full["effective_concurrency"] == kv // 9216 < 64
    assert cur["effective_concurrency"] == min(64, kv // (1024 + 4096)) > full["effective_concurrency"]
