"""Stage 2's streaming server (``EngineProfile.frontend_per_output_token_us``): exactness of
the disabled model, saturation, the closed loop, and the closed form over decode runs."""

import hashlib

import attrs
import numpy as np
import pytest

from boute.engine import simulator as simulator_module
from boute.engine.engines import PROFILES
from boute.engine.errors import InputError
from boute.engine.replica import ReplicaConfig, ReplicaModel
from boute.engine.simulator import ReplicaSim, simulate_closed_loop, simulate_replica
from boute.engine.workload import RequestStream, get_workload


def _model(catalog, engine: str, *, c_us: float | None = None, gpu: str = "H100-SXM", tp: int = 1, **kw) -> ReplicaModel:
    prof = PROFILES[engine] if c_us is None else attrs.evolve(PROFILES[engine], frontend_per_output_token_us=c_us)
    cfg = ReplicaConfig(model="Llama-3.1-8B", gpu=gpu, tp=tp, engine=engine)
    return ReplicaModel(catalog.model("Llama-3.1-8B"), catalog.gpu(gpu), cfg, max_model_len=4096, engine=prof, **kw)


def scenarios(catalog, c_us: float | None = None) -> dict:
    """Small runs through every driver and scheduling path; each maps a simulator module to
    the arrays it produces (``c_us``: the streaming cost; None leaves the field unset)."""
    w = get_workload("gsm8k")

    def replica(engine, rate):
        def run(sim_mod):
            r = sim_mod.simulate_replica(_model(catalog, engine, c_us=c_us), w.stream(rate, 300, 5))
            return [r.ttft_s, r.tpot_s, r.e2e_s, np.array([r.duration_s, r.busy_s, r.preemptions])]

        return run

    def closed(engine, staggered):
        def run(sim_mod):
            m = _model(catalog, engine, c_us=c_us, gpu="H200", tp=2)
            r = sim_mod.simulate_closed_loop(
                m, concurrency=48, num_requests=144, prompt_tokens=1000, output_tokens=200, staggered=staggered
            )
            return [r.ttft_s, r.tpot_s, r.e2e_s, np.array([r.duration_s, r.busy_s])]

        return run

    def bench(sim_mod):
        s = w.stream(30, 200, 9)
        sim = sim_mod.simulate_bench(
            _model(catalog, "vllm-v1", c_us=c_us),
            arrival_s=s.arrival_s,
            prompt_tokens=s.prompt_tokens,
            output_tokens=s.output_tokens,
            max_concurrency=32,
        )
        v, wt = sim.itl_samples()
        return [np.array(sim.first), np.array(sim.finish), np.array(sim.arrival), v, wt]

    def pool(sim_mod):
        reps = [(_model(catalog, "vllm-v1", c_us=c_us), 60_000), (_model(catalog, "sglang", c_us=c_us), 60_000)]
        r = sim_mod.simulate_pool(reps, w.stream(20, 300, 4), weights=[1.0, 2.0], seed=1)
        return [r.ttft_s, r.tpot_s, r.e2e_s, r.arrival_s, np.array([r.duration_s, r.busy_s, r.throughput_rps])]

    return {
        "replica vllm-v1 (mixed, async)": replica("vllm-v1", 14),
        "replica sglang (prefill-first)": replica("sglang", 14),
        "replica vllm-0.6-ms10 (multi-step)": replica("vllm-0.6-ms10", 10),
        "replica trtllm overloaded": replica("trtllm", 60),
        "closed loop sglang staggered": closed("sglang", True),
        "closed loop trtllm synchronised": closed("trtllm", False),
        "bench vllm-v1 max-concurrency with ITL": bench,
        "pool vllm-v1 + sglang": pool,
    }


def digest(arrays) -> str:
    """SHA-256 of the arrays' exact float64 bytes (bit-identity, not closeness)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes())
        h.update(b"|")
    return h.hexdigest()[:16]


# Digests of the same runs by the simulator before the streaming model existed (commit
# e87e996, engine/simulator.py loaded from git and run on the same catalog). The streaming
# model must not change a single bit of any result while its cost is 0: the perf DB, the
# planner and the soundness figures depend on it.
BEFORE_STREAMING = {
    "replica vllm-v1 (mixed, async)": "b29352ec9b1bd70e",
    "replica sglang (prefill-first)": "8a569c656c286983",
    "replica vllm-0.6-ms10 (multi-step)": "8a7170f7d6097847",
    "replica trtllm overloaded": "b0c7aa2b8b93ed19",
    "closed loop sglang staggered": "97f8eb0d3ab5acb0",
    "closed loop trtllm synchronised": "6ea4cd57a9c4860f",
    "bench vllm-v1 max-concurrency with ITL": "fd47d7f6fe550288",
    "pool vllm-v1 + sglang": "ce18f7551e517885",
}


@pytest.mark.parametrize("name", sorted(BEFORE_STREAMING))
def test_zero_cost_is_bit_identical_to_the_code_before_it(catalog, name):
    unset = scenarios(catalog)[name](simulator_module)
    zero = scenarios(catalog, c_us=0.0)[name](simulator_module)
    assert digest(unset) == digest(zero) == BEFORE_STREAMING[name]


def test_negative_cost_is_rejected():
    with pytest.raises(InputError, match="frontend_per_output_token_us=-1.0 must be a number >= 0"):
        attrs.evolve(PROFILES["sglang"], frontend_per_output_token_us=-1.0)


def test_saturated_stream_caps_output_tokens_per_second(catalog):
    """Open loop, offered three times what the stream can send: the client receives exactly
    1/c tokens per second, while the engine itself finished long before."""
    c_us = 2000.0  # 500 tokens/s, far below what one H100 decodes
    m = _model(catalog, "vllm-v1", c_us=c_us)
    n, out = 300, 100
    stream = RequestStream(arrival_s=np.arange(n) / 15.0, prompt_tokens=np.full(n, 200), output_tokens=np.full(n, out))
    r = simulate_replica(m, stream, warmup_fraction=0.0)
    assert r.completed == n
    tokens_per_s = n * out / r.duration_s
    assert tokens_per_s == pytest.approx(1e6 / c_us, rel=0.02)
    # The last request reaches its client when the stream has sent every token: n * out * c
    # after the first one was emitted.
    assert r.e2e_s[-1] + stream.arrival_s[-1] == pytest.approx(n * out * c_us * 1e-6, rel=0.02)
    engine = ReplicaSim(_model(catalog, "vllm-v1", c_us=0.0), m.memory().kv_capacity_tokens)
    for a in stream.arrival_s.tolist():
        engine.submit(a, 200, out)
        engine.run_until(a)
    engine.run_until(float("inf"))
    assert engine.t < 0.5 * r.duration_s  # the GPU was never the bottleneck


@pytest.mark.parametrize("staggered", [False, True])
def test_closed_loop_with_a_fast_gpu_runs_at_the_stream_rate(catalog, staggered):
    """N clients, a GPU far faster than the stream: throughput 1/c tokens/s and (Little's
    law) a request's latency N * out * c. How that latency splits into TTFT and TPOT
    depends on how well the clients stay in step: a request admitted a few iterations
    before the others gets many tokens ahead in the FIFO, so TPOT stays at or below N c
    (every other request's token between two of its own) and above the engine's own
    TPOT, and the rest of the wait moves into TTFT."""
    c_us, N, out = 500.0, 64, 300
    c = c_us * 1e-6
    kw = dict(concurrency=N, num_requests=8 * N, prompt_tokens=100, output_tokens=out, staggered=staggered)
    r = simulate_closed_loop(_model(catalog, "trtllm", c_us=c_us, gpu="H200", tp=2), **kw)
    gpu_only = simulate_closed_loop(_model(catalog, "trtllm", c_us=0.0, gpu="H200", tp=2), **kw)
    # A staggered start leaves the stream idle for part of the first clients' ramp-up.
    assert r.completed * out / r.duration_s == pytest.approx(1 / c, rel=0.03 if not staggered else 0.08)
    assert r.mean_s == pytest.approx(N * out * c, rel=0.05)
    assert gpu_only.mean_s < 0.3 * r.mean_s  # the GPU alone would be more than 3x faster
    tpot = float(np.mean(r.tpot_s))
    assert float(np.mean(gpu_only.tpot_s)) < tpot <= N * c * 1.03
    assert float(np.mean(r.ttft_s)) == pytest.approx(r.mean_s - (out - 1) * tpot, rel=1e-9)


def test_cheap_stream_changes_results_by_under_one_percent(catalog):
    """A streaming cost far below the engine's per-token time barely matters."""
    for engine in ("vllm-v1", "sglang"):
        base = simulate_closed_loop(
            _model(catalog, engine, c_us=0.0), concurrency=32, num_requests=128, prompt_tokens=800, output_tokens=200, staggered=True
        )
        cheap = simulate_closed_loop(
            _model(catalog, engine, c_us=0.5), concurrency=32, num_requests=128, prompt_tokens=800, output_tokens=200, staggered=True
        )
        for field in ("ttft_s", "tpot_s", "e2e_s"):
            a, b = float(np.mean(getattr(base, field))), float(np.mean(getattr(cheap, field)))
            assert b == pytest.approx(a, rel=0.01), (engine, field)
        assert cheap.throughput_rps == pytest.approx(base.throughput_rps, rel=0.01)


def _per_step(F, t0, steps, bc):
    """Lindley's recursion step by step: the reference for the closed form."""
    t = t0
    for d in steps:
        t += d
        F = max(F, t) + bc
    return F


@pytest.mark.parametrize("seed", range(6))
def test_closed_form_over_a_run_of_steps_equals_the_per_step_recursion(seed):
    """ReplicaSim's k-step closed form (``_stream_after_run``) against the recursion over
    every step, for non-decreasing step times (growing context, or a CPU floor)."""
    rng = np.random.default_rng(seed)
    for _ in range(200):
        k = int(rng.integers(1, 400))
        first = float(rng.uniform(1e-3, 0.03))
        growth = float(rng.choice([0.0, rng.uniform(0, 2e-5)]))
        floor = float(rng.choice([0.0, rng.uniform(0, 0.04)]))
        steps = np.maximum(first + growth * np.arange(k), floor)
        t0 = float(rng.uniform(0, 10))
        F0 = float(rng.choice([-np.inf, rng.uniform(0, 20)]))
        bc = float(rng.uniform(0, 0.05))
        got = simulator_module._stream_after_run(F0, t0, float(steps[0]), t0 + float(steps.sum()), k, bc)
        assert got == pytest.approx(_per_step(F0, t0, steps.tolist(), bc), rel=1e-12, abs=1e-12)


def test_bench_client_slot_frees_when_the_last_token_arrives(catalog):
    """``vllm bench serve --max-concurrency 1``: each request is sent when the previous one's
    last token reached the client, after the streaming backlog, not when the engine ended it."""
    from boute.engine.simulator import simulate_bench

    n = 6
    sim = simulate_bench(
        _model(catalog, "vllm-v1", c_us=20_000.0),
        arrival_s=np.zeros(n),
        prompt_tokens=np.full(n, 300),
        output_tokens=np.full(n, 200),
        max_concurrency=1,
    )
    assert sim.arrival[1:] == sim.finish[:-1]
    # 200 tokens at 20 ms each (the engine decodes one in under 10 ms): the stream sets the
    # pace, plus the next prompt's front-end and prefill.
    assert np.diff(sim.finish) == pytest.approx(np.full(n - 1, 4.0), rel=0.03)
    assert sim.finish[-1] > sim.t + 1.0  # the engine was done long before the client
