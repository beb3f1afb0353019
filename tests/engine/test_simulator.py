"""Stage 2: queueing theory, load and length monotonicity, trace replay, determinism."""

import math

import attrs
import numpy as np
import pytest

from boute.engine.errors import InputError
from boute.engine.replica import ReplicaConfig, ReplicaModel
from boute.engine.simulator import ReplicaSim, simulate_closed_loop, simulate_pool, simulate_replica
from boute.engine.workload import LengthDist, RequestStream, Workload, get_workload, load_azure_trace
from tests.conftest import need_shared


@pytest.fixture(scope="module")
def h100_8b(catalog):
    cfg = ReplicaConfig(model="Llama-3.1-8B", gpu="H100-SXM")
    return ReplicaModel(catalog.model("Llama-3.1-8B"), catalog.gpu("H100"), cfg, max_model_len=4096)


def test_mg1_mean_latency_matches_pollaczek_khinchine(catalog):
    """Batch size 1 (max_num_seqs = 1): the replica is an M/G/1 queue. Service time of a
    request is its prefill plus its decode steps, computed from stage 1; the simulated
    mean latency must match W = lambda E[S^2] / (2 (1 - rho)) + E[S] within 2 %. (The
    engine's CPU and front-end costs are set to zero: this checks the queue, not them.)"""
    from boute.engine.engines import PROFILES

    cfg = ReplicaConfig(model="Llama-3.1-8B", gpu="H100-SXM")
    bare = attrs.evolve(
        PROFILES["vllm-v1"],
        step_cpu_base_us=0.0,
        step_cpu_per_seq_us=0.0,
        step_cpu_tp_us=0.0,
        step_exposed_us=0.0,
        frontend_request_us=0.0,
        frontend_per_prompt_token_us=0.0,
    )
    m = ReplicaModel(catalog.model("Llama-3.1-8B"), catalog.gpu("H100"), cfg, max_model_len=4096, max_num_seqs=1, engine=bare)
    rng = np.random.default_rng(1)
    n = 40000
    prompt = np.full(n, 256)
    out = rng.geometric(1 / 60, n)  # exponential-like output lengths
    tab = m.step_tables(m.max_num_batched_tokens + 2, 2)
    pre = tab.token_s[256] + tab.pair_s * 256 * 128 + tab.prefill0_s + tab.sample_s[1]
    a = tab.token_s[1] + tab.decode0_s + tab.sample_s[1]
    k = out - 1
    c0 = 257.0
    service = pre + k * a + tab.beta_s * (k * c0 + k * (k - 1) / 2)
    es, es2 = service.mean(), (service**2).mean()
    lam = 0.5 / es
    arrivals = np.cumsum(rng.exponential(1 / lam, n))
    res = simulate_replica(m, RequestStream(arrival_s=arrivals, prompt_tokens=prompt, output_tokens=out), warmup_fraction=0.05)
    theory = lam * es2 / (2 * (1 - lam * es)) + es
    assert res.mean_s == pytest.approx(theory, rel=0.02)


def test_p95_rises_with_load_and_output_length(h100_8b):
    w = get_workload("gsm8k")
    p = [simulate_replica(h100_8b, w.stream(r, 1500, 0)).p95_s for r in (2, 10, 25)]
    assert p[0] < p[1] < p[2]
    longer = attrs.evolve(w, output=LengthDist(mean_tokens=400, p95_tokens=700, min_tokens=16, max_tokens=1024))
    assert simulate_replica(h100_8b, longer.stream(10, 1500, 0)).p95_s > p[1]


def test_same_seed_identical(h100_8b):
    w = get_workload("gsm8k")
    a = simulate_replica(h100_8b, w.stream(12, 800, 7))
    b = simulate_replica(h100_8b, w.stream(12, 800, 7))
    assert np.array_equal(a.e2e_s, b.e2e_s)


def test_all_requests_complete_and_kv_never_exceeded(h100_8b):
    s = get_workload("gsm8k").stream(20, 1000, 3)
    sim = ReplicaSim(h100_8b, kv_capacity_tokens=20000)
    peak = 0
    for t, p, o in zip(s.arrival_s, s.prompt_tokens, s.output_tokens):
        sim.run_until(t)
        peak = max(peak, sim.kv_used)
        assert sim.n_partial == sum(1 for r in sim.waiting if sim.prefilled[r] > 0)
        sim.submit(t, p, o)
    sim.run_until(math.inf)
    assert sim.kv_used == 0 and sim.n_partial == 0
    assert peak <= 20000 and sim.outstanding == 0 and not any(math.isnan(f) for f in sim.finish)
    assert sim.preemptions > 0  # a small cache forces recompute preemption


def test_azure_conv_trace_bounded_at_half_capacity_growing_at_twice(h100_8b):
    path = need_shared("azure-llm-2023", "AzureLLMInferenceTrace_conv.csv")
    w = load_azure_trace(path, max_rows=6000)
    sat = simulate_closed_loop(
        h100_8b, concurrency=256, num_requests=1500, prompt_tokens=int(w.prompt.mean()), output_tokens=int(w.output.mean())
    ).throughput_rps
    half = simulate_replica(h100_8b, w.stream(0.5 * sat, 3000, 0), warmup_fraction=0.0)
    double = simulate_replica(h100_8b, w.stream(2.0 * sat, 3000, 0), warmup_fraction=0.0)
    q = lambda r: r.e2e_s  # noqa: E731
    h, d = q(half), q(double)
    # bounded: late requests wait no longer than early ones; growing: latency climbs through the run
    assert np.mean(h[-500:]) < 3 * np.mean(h[:500]) + 1
    thirds = [np.mean(part) for part in np.array_split(d, 3)]
    assert thirds[0] < thirds[1] < thirds[2] and thirds[2] > 3 * thirds[0]


def test_pool_proportional_and_jsq(catalog, h100_8b):
    cfg = ReplicaConfig(model="Llama-3.1-8B", gpu="RTX-4090")
    slow = ReplicaModel(catalog.model("Llama-3.1-8B"), catalog.gpu("RTX-4090"), cfg, max_model_len=4096)
    s = get_workload("gsm8k").stream(10, 2000, 0)
    reps = [(h100_8b, h100_8b.memory().kv_capacity_tokens), (slow, slow.memory().kv_capacity_tokens)]
    even = simulate_pool(reps, s, weights=[1, 1])
    prop = simulate_pool(reps, s, weights=[10, 1])
    jsq = simulate_pool(reps, s, policy="jsq", weights=[10, 1])
    assert prop.p95_s < even.p95_s and jsq.completed == prop.completed == len(s) - int(0.1 * len(s))


def test_workload_builtins_and_trace_errors(tmp_path):
    for name in ("gsm8k", "mt-bench", "azure-conv", "azure-code"):
        w = get_workload(name)
        s = w.stream(5, 200, 0)
        assert len(s) == 200 and np.all(np.diff(s.arrival_s) >= 0) and w.source
    assert 1150 < get_workload("gsm8k").stream(1, 5000, 0).prompt_tokens.mean() < 1230
    mt = get_workload("mt-bench").stream(1, 20000, 0).prompt_tokens
    assert 60 < mt.mean() < 72 and 180 < np.percentile(mt, 95) < 230
    bad = tmp_path / "bad.csv"
    bad.write_text("time,tokens\n1,2\n")
    from boute.engine.errors import InputError

    with pytest.raises(InputError, match="not TIMESTAMP,ContextTokens,GeneratedTokens"):
        load_azure_trace(bad)
    with pytest.raises(InputError, match="unknown workload 'gsm'"):
        get_workload("gsm")
    with pytest.raises(InputError, match="arrival_rate_per_s"):
        get_workload("gsm8k").stream(0, 10, 0)


def test_bursty_gamma_has_its_cv():
    w = Workload(
        name="b",
        prompt=LengthDist(mean_tokens=100, p95_tokens=150),
        output=LengthDist(mean_tokens=10, p95_tokens=20),
        arrival="gamma",
        arrival_cv=3.0,
    )
    gaps = np.diff(w.stream(2.0, 50000, 0).arrival_s)
    assert gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.1)
    assert 1 / gaps.mean() == pytest.approx(2.0, rel=0.05)


def test_azure_loader_real_file():
    path = need_shared("azure-llm-2023", "AzureLLMInferenceTrace_code.csv")
    w = load_azure_trace(path)
    assert w.arrival == "trace" and 2.4 < w.default_rate_per_s < 2.7
    assert 1900 < w.prompt.mean() < 2200


def test_oversized_prompt_is_dropped_without_leaking_kv(h100_8b):
    """A prompt larger than the whole cache cannot be served; dropping it must free the
    KV tokens its partial prefill took, so later requests are still served."""
    sim = ReplicaSim(h100_8b, kv_capacity_tokens=1000)
    sim.submit(0.0, 5000, 10)  # never fits
    for i in range(5):
        sim.run_until(1.0 + i)
        sim.submit(1.0 + i, 200, 20)
    sim.run_until(math.inf)
    assert math.isnan(sim.finish[0])
    assert all(not math.isnan(f) for f in sim.finish[1:])
    assert sim.kv_used == 0 and sim.outstanding == 0


def test_prompt_that_fills_the_whole_cache_is_dropped_not_spun_on(h100_8b):
    """A prompt of exactly the cache size prefills to the last slot and can never take its
    first token; with nothing running it must be dropped (it used to spin forever)."""
    kv = 1000
    sim = ReplicaSim(h100_8b, kv)
    sim.submit(0.0, kv, 5)
    sim.run_until(1.0)
    sim.submit(1.0, 100, 5)
    sim.run_until(math.inf)
    assert math.isnan(sim.finish[0]) and not math.isnan(sim.finish[1])
    assert sim.outstanding == 0 and sim.kv_used == 0 and sim.n_partial == 0


def test_weighted_random_dispatch_is_seeded_and_splits_by_weight(h100_8b):
    kv = h100_8b.memory().kv_capacity_tokens
    s = get_workload("gsm8k").stream(6, 6000, 0)
    reps = [(h100_8b, kv)] * 3
    a = simulate_pool(reps, s, weights=[3, 2, 1], seed=5, warmup_fraction=0.0)
    b = simulate_pool(reps, s, weights=[3, 2, 1], seed=5, warmup_fraction=0.0)
    c = simulate_pool(reps, s, weights=[3, 2, 1], seed=6, warmup_fraction=0.0)
    assert np.array_equal(a.replica, b.replica) and np.array_equal(a.e2e_s, b.e2e_s)
    assert not np.array_equal(a.replica, c.replica)
    share = np.bincount(a.replica, minlength=3) / len(a.replica)
    # binomial sd of a share over 6,000 requests is below 0.007: 4 sd
    assert np.allclose(share, [0.5, 1 / 3, 1 / 6], atol=0.028)
    assert np.all(np.diff(a.arrival_s) >= 0)  # arrival order
    with pytest.raises(InputError, match="policy: 'random' is not a dispatch policy"):
        simulate_pool(reps, s, policy="random")
    with pytest.raises(InputError, match="weights: .* one positive finite number per replica"):
        simulate_pool(reps, s, weights=[1, 0, 1])


def test_pool_utilisation_counts_only_post_warmup_busy_time(h100_8b):
    """A pool run whose warm-up is most of the stream: busy time before it is not counted,
    so utilisation stays a fraction of the post-warm-up span."""
    kv = h100_8b.memory().kv_capacity_tokens
    s = get_workload("gsm8k").stream(4, 3000, 0)
    for warm in (0.0, 0.5, 0.9):
        r = simulate_pool([(h100_8b, kv)] * 2, s, warmup_fraction=warm)
        assert 0.0 < r.utilization <= 1.0
        assert r.busy_s <= r.duration_s


def test_tpot_skips_one_token_outputs(h100_8b):
    kv = h100_8b.memory().kv_capacity_tokens
    arr = np.arange(200) * 0.5
    out = np.where(np.arange(200) % 2 == 0, 1, 64)
    s = RequestStream(arrival_s=arr, prompt_tokens=np.full(200, 128), output_tokens=out)
    pool = simulate_pool([(h100_8b, kv)], s, warmup_fraction=0.0)
    one = simulate_replica(h100_8b, s, warmup_fraction=0.0)
    for r in (pool, one):
        assert len(r.tpot_s) == 100 and np.all(r.tpot_s > 0)
        summ = r.summary()
        assert summ["tpot_mean_s"] == pytest.approx(float(np.mean(r.tpot_s))) and summ["tpot_mean_s"] > 0.001


def test_pool_throughput_is_the_steady_state_departure_rate(h100_8b):
    """A short stable run's throughput is its arrival rate (the drain after the last arrival
    is not counted: completed / (time of the last completion) would be biased low); an
    overloaded pool's throughput is what it sustains, well below the offered rate."""
    kv = h100_8b.memory().kv_capacity_tokens
    w = get_workload("gsm8k")
    stable = simulate_pool([(h100_8b, kv)] * 2, w.stream(8.0, 2000, 0))
    assert stable.throughput_rps == pytest.approx(8.0, rel=0.08)
    assert stable.completed / stable.duration_s < stable.throughput_rps  # the drain-inclusive figure is lower
    sat = simulate_closed_loop(h100_8b, concurrency=256, num_requests=1500, prompt_tokens=200, output_tokens=250).throughput_rps
    over = simulate_pool([(h100_8b, kv)], w.stream(4.0 * sat, 3000, 0))
    assert over.throughput_rps < 0.6 * 4.0 * sat
