"""Engine profiles: sourced fields, limits per GPU, flags, and what each policy does in the simulator."""

import math

import attrs
import numpy as np
import pytest

from boute.engine.engines import PRECISIONS, PROFILES, EngineProfile, engine_flags, get_precision, get_profile
from boute.engine.errors import InputError
from boute.engine.replica import ReplicaConfig, ReplicaModel
from boute.engine.simulator import ReplicaSim, simulate_bench, simulate_closed_loop


def _model(catalog, engine="vllm-v1", gpu="H100-SXM", model="Llama-3.1-8B", tp=1, **kw):
    cfg = ReplicaConfig(model=model, gpu=gpu, tp=tp, engine=engine if isinstance(engine, str) else "vllm-v1")
    prof = engine if isinstance(engine, EngineProfile) else None
    return ReplicaModel(catalog.model(model), catalog.gpu(gpu), cfg, max_model_len=4096, engine=prof, **kw)


def test_every_profile_is_sourced_and_valid():
    for p in PROFILES.values():
        assert p.sources and all(s.strip() for s in p.sources), p.name
        assert p.engine in ("vllm", "sglang", "trtllm")
    assert get_profile(None).name == "vllm-v1"


def test_unknown_profile_names_the_field_and_suggests():
    with pytest.raises(InputError, match=r"--engine: unknown engine profile 'vllm-06'.*did you mean 'vllm-0.6'"):
        get_profile("vllm-06", field="--engine")


def test_bad_profile_fields_raise():
    base = PROFILES["vllm-v1"]
    with pytest.raises(InputError, match="scheduling='fifo' is unknown"):
        attrs.evolve(base, scheduling="fifo")
    with pytest.raises(InputError, match="num_scheduler_steps=0 must be an integer >= 1"):
        attrs.evolve(base, num_scheduler_steps=0)
    with pytest.raises(InputError, match="step_cpu_base_us=-1 must be a number >= 0"):
        attrs.evolve(base, step_cpu_base_us=-1)
    with pytest.raises(InputError, match="limits_rule='x' is unknown"):
        attrs.evolve(base, limits_rule="x")


def test_vllm_v1_limits_follow_the_gpu(catalog):
    """vLLM V1: 8192 tokens / 1024 seqs on >= 70 GiB GPUs except A100, else 2048 / 256."""
    assert _model(catalog, gpu="H100-SXM").max_num_seqs == 1024
    assert _model(catalog, gpu="H100-SXM").max_num_batched_tokens == 8192
    a100 = _model(catalog, gpu="A100-80GB-SXM")
    assert (a100.max_num_batched_tokens, a100.max_num_seqs) == (2048, 256)
    v06 = _model(catalog, engine="vllm-0.6")
    assert v06.max_num_batched_tokens == 4096 and v06.max_num_seqs == 256  # max(max_model_len, 2048)


def test_engine_flags_match_the_profile():
    v1 = engine_flags("vllm-v1", tp=2, max_model_len=4096, weight_dtype="fp8", kv_dtype="fp8", gpu_name="H100-SXM")
    assert v1[v1.index("--max-num-seqs") + 1] == "1024" and "--enable-chunked-prefill" in v1
    assert "--async-scheduling" in v1 and v1[v1.index("--quantization") + 1] == "fp8" and "--kv-cache-dtype" in v1
    ms = engine_flags("vllm-0.6-ms10", max_model_len=4096)
    assert ms[ms.index("--num-scheduler-steps") + 1] == "10" and "--enable-chunked-prefill=False" in ms
    sg = engine_flags("sglang", tp=4, max_model_len=4096)
    assert sg[sg.index("--chunked-prefill-size") + 1] == "8192" and sg[sg.index("--tp-size") + 1] == "4"
    tr = engine_flags("trtllm", tp=8)
    assert tr[tr.index("--max_num_tokens") + 1] == "8192"
    # int4 is served from a pre-quantized checkpoint whose config names the scheme: vLLM picks
    # Marlin from it, and a --quantization flag that disagrees with it is an error.
    assert "--quantization" not in engine_flags("vllm-v1", weight_dtype="int4")
    assert "--quantization" not in engine_flags("sglang", weight_dtype="int4")


def test_step_cpu_is_added_when_sync_and_hidden_when_async(catalog):
    gpu_only = _model(catalog, engine=attrs.evolve(PROFILES["vllm-v1"], step_cpu_base_us=0.0, step_cpu_per_seq_us=0.0, step_exposed_us=0.0))
    base = float(gpu_only.decode_step_time(64, 1000))
    sync = _model(
        catalog, engine=attrs.evolve(PROFILES["vllm-0.6"], step_cpu_base_us=1000.0, step_cpu_per_seq_us=10.0, step_exposed_us=0.0)
    )
    assert float(sync.decode_step_time(64, 1000)) == pytest.approx(base + 1e-3 + 64 * 10e-6, rel=1e-9)
    hidden = _model(
        catalog, engine=attrs.evolve(PROFILES["vllm-v1"], step_cpu_base_us=1000.0, step_cpu_per_seq_us=0.0, step_exposed_us=0.0)
    )
    assert float(hidden.decode_step_time(64, 1000)) == pytest.approx(max(base, 1e-3), rel=1e-9)
    slow_cpu = _model(catalog, engine=attrs.evolve(PROFILES["vllm-v1"], step_cpu_base_us=50_000.0, step_exposed_us=0.0))
    assert float(slow_cpu.decode_step_time(64, 1000)) == pytest.approx(0.05 + 64 * 4e-6, rel=1e-9)
    ms = _model(
        catalog, engine=attrs.evolve(PROFILES["vllm-0.6-ms10"], step_cpu_base_us=1000.0, step_cpu_per_seq_us=0.0, step_exposed_us=0.0)
    )
    assert float(ms.decode_step_time(64, 1000)) == pytest.approx(base + 1e-4, rel=1e-9)


@pytest.mark.parametrize("engine", ["vllm-v1", "vllm-0.6", "vllm-0.6-ms10", "sglang", "trtllm", "vllm-0.5"])
def test_async_decode_runs_match_step_by_step(catalog, engine):
    """The closed-form jump over k decode steps equals k single steps (GPU, CPU, max)."""
    m = _model(catalog, engine=engine)
    a, b = ReplicaSim(m, 200_000), ReplicaSim(m, 200_000)
    for s in (a, b):
        for i in range(40):
            s.submit(0.0, 300 + 7 * i, 50 + 3 * i)
    a.run_until(math.inf)
    while b.running or b.waiting:
        if b._gpos == 0 and b._admissible():
            b._prefill_iteration()
        elif b.running:
            b._decode_steps(math.inf, max_steps=1)
        else:
            b._iterate(math.inf)
    assert np.allclose(a.finish, b.finish, rtol=1e-9) and np.allclose(a.first, b.first, rtol=1e-9)


def test_prefill_first_pauses_decodes_and_mixed_does_not(catalog):
    """A long prompt arriving mid-decode stretches the running request's inter-token gap
    under prefill-first (vLLM 0.6), not under chunked mixed batches (vLLM V1)."""
    gaps = {}
    for name in ("vllm-v1", "vllm-0.6"):
        m = _model(
            catalog,
            engine=attrs.evolve(PROFILES[name], max_num_batched_tokens=4096, frontend_request_us=0.0, frontend_per_prompt_token_us=0.0),
        )
        sim = simulate_bench(m, arrival_s=np.array([0.0, 0.05]), prompt_tokens=np.array([100, 4000]), output_tokens=np.array([200, 2]))
        v, w = sim.itl_samples()
        gaps[name] = float(v.max())
    assert gaps["vllm-0.6"] > gaps["vllm-v1"]


def test_multistep_delays_admission_to_the_group_end(catalog):
    one = _model(catalog, engine=attrs.evolve(PROFILES["vllm-0.6"], frontend_request_us=0.0, frontend_per_prompt_token_us=0.0))
    ten = _model(catalog, engine=attrs.evolve(PROFILES["vllm-0.6-ms10"], frontend_request_us=0.0, frontend_per_prompt_token_us=0.0))
    ttft = {}
    for k, m in (("1", one), ("10", ten)):
        sim = ReplicaSim(m, 100_000)
        sim.submit(0.0, 200, 500)
        sim.run_until(0.2)
        sim.submit(0.2, 200, 5)
        sim.run_until(math.inf)
        ttft[k] = sim.first[1] - sim.arrival[1]
    assert ttft["10"] > ttft["1"]


def test_front_end_is_one_fifo_server(catalog):
    """All-at-once requests reach the engine one front-end service time apart."""
    prof = attrs.evolve(PROFILES["vllm-v1"], frontend_request_us=2000.0, frontend_per_prompt_token_us=0.0)
    sim = ReplicaSim(_model(catalog, engine=prof), 100_000)
    for _ in range(5):
        sim.submit(0.0, 100, 10)
    assert sim.enter == pytest.approx([0.002, 0.004, 0.006, 0.008, 0.010])
    sim.run_until(math.inf)
    assert all(f >= e for f, e in zip(sim.first, sim.enter))


def test_closed_loop_staggered_is_the_steady_state(catalog):
    m = _model(catalog, engine="trtllm")
    burst = simulate_closed_loop(m, concurrency=32, num_requests=128, prompt_tokens=1024, output_tokens=128).summary()
    steady = simulate_closed_loop(m, concurrency=32, num_requests=128, prompt_tokens=1024, output_tokens=128, staggered=True).summary()
    assert steady["ttft_mean_s"] < burst["ttft_mean_s"]


def test_precisions_are_sourced_and_int4_streams_fewer_bytes(catalog):
    for p in PRECISIONS.values():
        assert p.quality_source and p.kernel_source
    assert get_precision("int4").weight_bytes < 0.6
    with pytest.raises(InputError, match="weight_dtype: 'int3' is not a supported precision"):
        get_precision("int3")
    bf16 = _model(catalog, gpu="A100-80GB-SXM")
    int4 = ReplicaModel(
        catalog.model("Llama-3.1-8B"),
        catalog.gpu("A100-80GB-SXM"),
        ReplicaConfig(model="Llama-3.1-8B", gpu="A100-80GB-SXM", weight_dtype="int4"),
        max_model_len=4096,
    )
    fp8_wo = ReplicaModel(
        catalog.model("Llama-3.1-8B"),
        catalog.gpu("A100-80GB-SXM"),
        ReplicaConfig(model="Llama-3.1-8B", gpu="A100-80GB-SXM", weight_dtype="fp8"),
        max_model_len=4096,
    )
    t = [float(x.decode_step_time(1, 500)) for x in (bf16, fp8_wo, int4)]
    assert t[0] > t[1] > t[2]  # weight streaming: 2 > 1 > ~0.52 bytes per weight
    assert int4.memory().weight_bytes < fp8_wo.memory().weight_bytes < bf16.memory().weight_bytes


def test_engine_profile_is_part_of_the_perf_db_key(catalog):
    from boute.engine.perfdb import build_perfdb
    from boute.engine.workload import get_workload

    kw = dict(max_gpus_per_replica={"H100-SXM": 1}, use_cache=False, workers=1)
    v1 = build_perfdb([catalog.model("Llama-3.1-8B")], [catalog.gpu("H100")], get_workload("gsm8k"), **kw)
    v06 = build_perfdb([catalog.model("Llama-3.1-8B")], [catalog.gpu("H100")], get_workload("gsm8k"), engine="vllm-0.6", **kw)
    assert v1.key != v06.key
    (c1,), (c06,) = v1.curves.values(), v06.curves.values()
    assert c1.config.engine == "vllm-v1" and c06.config.engine == "vllm-0.6" and c06.config.key.endswith(":vllm-0.6")
    assert c1.capacity(5.0) != c06.capacity(5.0)
    with pytest.raises(InputError, match="engine: unknown engine profile 'vlm'"):
        build_perfdb([catalog.model("Llama-3.1-8B")], [catalog.gpu("H100")], get_workload("gsm8k"), engine="vlm", **kw)


def test_scenario_engine_field(catalog):
    from boute.engine.scenario import DEFAULT, Scenario

    assert Scenario.from_dict(DEFAULT, catalog).engine == "vllm-v1"
    assert Scenario.from_dict({**DEFAULT, "engine": "sglang"}, catalog).engine == "sglang"
    with pytest.raises(InputError, match=r"engine: 'sgl' is not an engine profile.*did you mean 'sglang'"):
        Scenario.from_dict({**DEFAULT, "engine": "sgl"}, catalog)


def test_async_scheduling_admits_a_new_request_one_step_later(catalog):
    """vLLM V1's async scheduler (and SGLang's overlap loop) plans step n+1 while step n
    runs: a request arriving mid-step joins one step later than a synchronous engine allows."""
    ttft = {}
    for asyn in (True, False):
        prof = attrs.evolve(
            PROFILES["vllm-v1"],
            async_scheduling=asyn,
            step_cpu_base_us=0.0,
            step_cpu_per_seq_us=0.0,
            step_cpu_tp_us=0.0,
            frontend_request_us=0.0,
            frontend_per_prompt_token_us=0.0,
        )
        sim = ReplicaSim(_model(catalog, engine=prof), 100_000)
        for _ in range(8):
            sim.submit(0.0, 100, 400)
        sim.run_until(0.5)
        sim.submit(0.5, 100, 5)
        sim.run_until(math.inf)
        ttft[asyn] = sim.first[8] - sim.arrival[8]
    step = float(_model(catalog).decode_step_time(8, 3000))
    assert ttft[True] - ttft[False] == pytest.approx(step, rel=0.3)


def test_engine_kernels_apply_only_to_their_engine(catalog):
    cal = catalog.gpu("H200").calibration
    assert {name for name, _ in cal.engine_kernels} == {"trtllm", "sglang"}
    trt = cal.for_engine("trtllm")
    assert trt.fp8_gemm_compute_efficiency != cal.fp8_gemm_compute_efficiency and trt.engine_kernels == ()
    assert cal.for_engine("vllm") is cal
    assert trt.attention_memory_efficiency == cal.attention_memory_efficiency  # attention stays vLLM's
    v1 = _model(catalog, gpu="H200", engine=attrs.evolve(PROFILES["vllm-v1"], step_exposed_us=0.0))
    tr = _model(
        catalog,
        gpu="H200",
        engine=attrs.evolve(
            PROFILES["trtllm"],
            step_exposed_us=0.0,
            async_scheduling=True,
            step_cpu_base_us=600.0,
            step_cpu_per_seq_us=4.0,
            step_cpu_tp_us=100.0,
        ),
    )
    assert float(v1.prefill_time(2048)) != float(tr.prefill_time(2048))


def test_v0_turns_chunked_prefill_on_above_32k_served_context(catalog):
    """vLLM 0.5.3-0.6.x: a served context > 32K enables chunked prefill (PR #6666) with a
    512-token budget; boute's deploy flags (served = the longest request) keep it off."""
    llm, gpu = catalog.model("Llama-3.1-8B"), catalog.gpu("A100-SXM")
    cfg = ReplicaConfig(model=llm.name, gpu=gpu.name, engine="vllm-0.6")
    planned = ReplicaModel(llm, gpu, cfg, max_model_len=4096)
    assert planned.engine.scheduling == "prefill-first" and not planned.engine.chunked_prefill
    assert planned.max_num_batched_tokens == 4096
    default_launch = ReplicaModel(llm, gpu, cfg, max_model_len=4096, served_max_model_len=131072)
    assert default_launch.engine.scheduling == "mixed" and default_launch.engine.chunked_prefill
    assert (default_launch.max_num_batched_tokens, default_launch.max_num_seqs) == (512, 256)
    short = ReplicaModel(llm, gpu, cfg, max_model_len=4096, served_max_model_len=32768)
    assert not short.engine.chunked_prefill and short.max_num_batched_tokens == 32768
    # V1 and the other engines do not depend on the served context.
    for name in ("vllm-v1", "sglang", "trtllm"):
        assert PROFILES[name].serving(131072) is PROFILES[name]
    with pytest.raises(InputError, match=r"served_max_model_len: 1000 is below the longest request \(4096 tokens\)"):
        ReplicaModel(llm, gpu, cfg, max_model_len=4096, served_max_model_len=1000)
