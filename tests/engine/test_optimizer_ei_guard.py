"""The EI stopping rule's guard: it may stop the loop only after the GP has seen
``EI_MIN_POINTS_PER_DIM`` points per free dimension and has predicted its latest batch
within its own uncertainty (optimizer.ei_rule_fires); the unchecked rule stopped BO
after one GP batch on staircase objectives (docs/performance.md, stopping rules)."""

import math

import numpy as np
import pytest

from boute.engine.optimizer import (
    EI_MIN_POINTS_PER_DIM,
    PREDICTIVE_CHECK_Z,
    Trial,
    ei_rule_fires,
    prediction_held,
    run_outer_loop,
)


def _trials(n: int, *, last_batch_error_sd: float, sd: float = 0.01, batch_size: int = 3) -> list[Trial]:
    """``n`` trials in log units, the last ``batch_size`` of them one GP batch whose outcome
    lies ``last_batch_error_sd`` posterior standard deviations from its prediction."""
    out = [Trial(index=i, params={"u0": i / n}, source="seed", feasible=True, objective=2.0, reported=math.log(2.0)) for i in range(n)]
    for t in out[-batch_size:]:
        t.batch, t.source = 1, "bo"
        t.predicted = (t.reported - last_batch_error_sd * sd, sd)
    return out


def test_no_ei_stop_before_the_minimum_sample():
    need = EI_MIN_POINTS_PER_DIM
    ok = dict(best=2.0, log_objective=True)
    assert not ei_rule_fires(_trials(need - 1, last_batch_error_sd=0.0), 1e-6, 0.005, **ok)
    assert ei_rule_fires(_trials(need, last_batch_error_sd=0.0), 1e-6, 0.005, **ok)
    # the minimum scales with the free dimensions
    assert not ei_rule_fires(_trials(2 * need - 1, last_batch_error_sd=0.0), 1e-6, 0.005, dims=2, **ok)
    assert ei_rule_fires(_trials(2 * need, last_batch_error_sd=0.0), 1e-6, 0.005, dims=2, **ok)
    # the unchecked rule (kept for comparison) has no minimum and no check
    assert ei_rule_fires(_trials(4, last_batch_error_sd=50.0), 1e-6, 0.005, check=False, **ok)


def test_no_ei_stop_after_a_missed_prediction():
    ok = dict(best=2.0, log_objective=True)
    n = EI_MIN_POINTS_PER_DIM + 5
    tol_sd = math.log1p(0.005) / 0.01  # the threshold itself, in posterior sds of these trials
    assert ei_rule_fires(_trials(n, last_batch_error_sd=PREDICTIVE_CHECK_Z + 0.9 * tol_sd), 1e-4, 0.005, **ok)
    assert not ei_rule_fires(_trials(n, last_batch_error_sd=PREDICTIVE_CHECK_Z + 1.1 * tol_sd), 1e-4, 0.005, **ok)
    # EI at or above the threshold never stops; neither does a missing EI
    assert not ei_rule_fires(_trials(n, last_batch_error_sd=0.0), 0.005, 0.005, **ok)
    assert not ei_rule_fires(_trials(n, last_batch_error_sd=0.0), None, 0.005, **ok)


def test_no_ei_stop_without_a_checked_batch():
    ok = dict(best=2.0, log_objective=True)
    seeds_only = [Trial(index=i, params={}, source="seed", feasible=True, objective=2.0, reported=0.7) for i in range(20)]
    assert not ei_rule_fires(seeds_only, 1e-6, 0.005, **ok)
    failed = _trials(20, last_batch_error_sd=0.0)
    for t in failed[-3:]:
        t.reported = None  # marked failed: nothing to compare
    assert not ei_rule_fires(failed, 1e-6, 0.005, **ok)
    # only the latest batch counts: an earlier miss does not block, a latest miss does
    trials = _trials(20, last_batch_error_sd=0.0)
    trials[-6].batch, trials[-6].predicted = 0, (trials[-6].reported + 1.0, 0.01)
    assert ei_rule_fires(trials, 1e-6, 0.005, **ok)


def test_prediction_held_in_linear_units():
    t = Trial(index=0, params={}, source="bo", predicted=(10.0, 0.1), reported=10.345)
    assert prediction_held(t, tol=0.05) is True  # 0.345 <= 3 * 0.1 + 0.05
    assert prediction_held(t, tol=0.04) is False
    assert prediction_held(Trial(index=0, params={}, source="bo", reported=1.0), tol=0.0) is None
    assert prediction_held(Trial(index=0, params={}, source="bo", predicted=(1.0, 0.1)), tol=0.0) is None
    # linear units: the tolerance is the threshold times the best plan
    lin = [Trial(index=i, params={}, source="seed", feasible=True, objective=10.0, reported=10.0) for i in range(12)]
    for x in lin[-3:]:
        x.batch, x.predicted = 2, (10.0 - 0.345, 0.1)
    assert ei_rule_fires(lin, 1e-4, 0.005, best=10.0, log_objective=False)  # 0.345 <= 0.3 + 0.05
    assert not ei_rule_fires(lin, 1e-4, 0.004, best=10.0, log_objective=False)  # 0.345 > 0.3 + 0.04


def _staircase(u: float) -> float:
    """A cost-like staircase in the share: integer replicas of two models (cheap model
    ceil(40 u / 7) at 1 USD, strong model ceil(40 (1 - u) / 9) at 4 USD). Its optimum, 9,
    lies on [0.775, 0.8] and between the seeds 0.475 (15) and 0.88 (10), where a smooth GP
    fitted to six spread-out points sees a smooth descent."""
    return math.ceil(40 * u / 7 - 1e-9) + 4.0 * math.ceil(40 * (1 - u) / 9 - 1e-9)


STAIR_HI = 0.95
STAIR_SEEDS = [{"u0": STAIR_HI}, {"u0": STAIR_HI / 2}, {"u0": 0.88}]
STAIR_OPT = min(_staircase(v) for v in np.linspace(0.0, STAIR_HI, 2001))


def _evaluate(p):
    y = _staircase(p["u0"])
    return Trial(index=-1, params=p, source="", feasible=True, objective=y, observed=y, quality=95.0)


def _stair_loop(**kw):
    return run_outer_loop(
        [("u0", 0.0, STAIR_HI)],
        _evaluate,
        seeds=STAIR_SEEDS,
        strategy="bo",
        stall_trials=20,
        batch=3,
        log_objective=True,
        ei_stop=0.005,
        seed=0,
        **kw,
    )


@pytest.mark.slow
def test_unchecked_ei_rule_stops_a_staircase_early():
    loop = _stair_loop(max_trials=15, ei_check=False)
    best = loop.trials[loop.best_index].objective
    assert STAIR_OPT == 9.0
    assert loop.stop_reason.startswith("expected improvement") and len(loop.trials) < EI_MIN_POINTS_PER_DIM
    assert best / STAIR_OPT - 1 > 0.05  # stopped with a plan over 5 % worse than the grid's


@pytest.mark.slow
def test_checked_ei_rule_reaches_the_staircase_optimum():
    loop = _stair_loop(max_trials=15)
    best = loop.trials[loop.best_index].objective
    assert best <= STAIR_OPT * 1.01
    assert not loop.stop_reason.startswith("expected improvement") or len(loop.trials) >= EI_MIN_POINTS_PER_DIM
    # the run's own records replay the guard: before every batch of the first ten points the rule could not fire
    for i, t in enumerate(loop.trials):
        if t.batch is not None and t.ei is not None and (i == 0 or loop.trials[i - 1].batch != t.batch) and i < EI_MIN_POINTS_PER_DIM:
            assert not ei_rule_fires(list(loop.trials[:i]), t.ei, 0.005, best=STAIR_OPT, log_objective=True)
