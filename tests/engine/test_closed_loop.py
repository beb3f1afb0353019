"""The closed-loop benchmark driver: when its clients start, and what that does to TTFT."""

import numpy as np
import pytest

from boute.engine.errors import InputError
from boute.engine.replica import ReplicaConfig, ReplicaModel
from boute.engine.simulator import CLIENT_STARTS, closed_loop_runs, simulate_closed_loop


def _h200_70b(catalog, tp=4):
    cfg = ReplicaConfig(model="Llama-3.1-70B", gpu="H200", tp=tp, weight_dtype="fp8", engine="trtllm")
    return ReplicaModel(catalog.model("Llama-3.1-70B"), catalog.gpu("H200"), cfg, max_model_len=9216)


def _run(m, **kw):
    args = dict(concurrency=16, num_requests=64, prompt_tokens=8192, output_tokens=256)
    args.update(kw)
    return simulate_closed_loop(m, **args)


def test_even_start_is_the_old_staggered_loop(catalog):
    m = _h200_70b(catalog)
    old = _run(m, staggered=True)
    new = _run(m, start="even")
    assert np.array_equal(old.ttft_s, new.ttft_s) and np.array_equal(old.tpot_s, new.tpot_s)
    assert np.array_equal(_run(m).ttft_s, _run(m, start="together").ttft_s)


def test_random_start_is_seeded(catalog):
    m = _h200_70b(catalog)
    a, b = _run(m, start="random", seed=3), _run(m, start="random", seed=3)
    assert np.array_equal(a.ttft_s, b.ttft_s)
    assert not np.array_equal(a.ttft_s, _run(m, start="random", seed=4).ttft_s)


def test_random_phases_make_long_prompts_wait_behind_each_other(catalog):
    # 16 clients with 8K-token prompts: evenly spread, each prompt finds the engine free of
    # other prompts; at random phases some arrive together and the later one waits. The
    # first token then comes later on average, while the work (and so the request rate)
    # stays about the same.
    m = _h200_70b(catalog)
    even = _run(m, start="even", num_requests=160).summary()
    rand = [_run(m, start="random", seed=s, num_requests=160).summary() for s in range(3)]
    assert np.mean([r["ttft_mean_s"] for r in rand]) > 1.1 * even["ttft_mean_s"]
    for r in rand:
        assert r["throughput_rps"] == pytest.approx(even["throughput_rps"], rel=0.1)


def test_bad_start_names_the_field_and_suggests(catalog):
    m = _h200_70b(catalog)
    assert CLIENT_STARTS == ("together", "even", "random")
    with pytest.raises(InputError, match=r"start: 'randm' is not a client start.*did you mean 'random'"):
        _run(m, start="randm")
    with pytest.raises(InputError, match=r"start='random' with staggered=True: the two disagree"):
        _run(m, start="random", staggered=True)


def test_closed_loop_runs_average_enough_clients():
    assert closed_loop_runs(8, 4) == (32, 16)
    assert closed_loop_runs(512, 4) == (2048, 1)
    assert closed_loop_runs(100, 4) == (400, 2)
    assert closed_loop_runs(1, 0.5) == (2, 128)


def test_arrangements_are_independent_draws_reported_together(catalog):
    m = _h200_70b(catalog)
    both = _run(m, start="random", seed=5, arrangements=2)
    a, b = _run(m, start="random", seed=5), _run(m, start="random", seed=6)
    assert np.array_equal(both.ttft_s, np.concatenate([a.ttft_s, b.ttft_s]))
    assert both.completed == a.completed + b.completed
    assert both.throughput_rps == pytest.approx((a.completed + b.completed) / (a.duration_s + b.duration_s))
    with pytest.raises(InputError, match=r"arrangements=2 with start='even': only random starts differ by draw"):
        _run(m, start="even", arrangements=2)
    with pytest.raises(InputError, match=r"arrangements: 0 must be an integer >= 1"):
        _run(m, start="random", arrangements=0)
