"""The outer loop's bookkeeping: the quality tie-break, honest stop reasons, fixed
parameters, and what Ax is told about each trial."""

import math

import pytest

from boute.engine.optimizer import Trial, _better, _report, run_outer_loop, stop_message


def fake(objective_of, quality_of):
    def evaluate(p):
        v = p.get("u0", 0.0)
        t = Trial(index=-1, params=p, source="", quality=quality_of(v))
        obj = objective_of(v)
        if obj is not None:
            t.feasible, t.objective, t.observed = True, obj, obj
        else:
            t.reason = "no plan"
        return t

    return evaluate


def test_tie_break_prefers_higher_quality():
    a = Trial(index=0, params={}, source="", feasible=True, objective=2.0, quality=90.0)
    b = Trial(index=1, params={}, source="", feasible=True, objective=2.0, quality=91.0)
    c = Trial(index=2, params={}, source="", feasible=True, objective=1.9, quality=80.0)
    assert _better(b, a) and not _better(a, b) and _better(c, b) and not _better(b, c)
    loop = run_outer_loop([("u0", 0.0, 1.0)], fake(lambda v: 2.0, lambda v: 80 + 10 * v), strategy="random", max_trials=10, stall_trials=10)
    best = loop.trials[loop.best_index]
    assert best.quality == max(t.quality for t in loop.trials)


def test_cap_never_silently_replaces_the_stall_rule():
    loop = run_outer_loop([("u0", 0.0, 1.0)], fake(lambda v: 1.0 + v, lambda v: 90.0), strategy="random", max_trials=3, stall_trials=20)
    assert loop.stop_reason == stop_message("cap", stall_trials=20, max_trials=3)
    assert "trial cap 3 reached before the stall rule (best unchanged for 20 trials) fired" == loop.stop_reason
    loop = run_outer_loop([("u0", 0.0, 1.0)], fake(lambda v: 1.0, lambda v: 90.0), strategy="random", max_trials=50, stall_trials=4)
    assert loop.stop_reason == "best unchanged for 4 trials (the paper's rule)" and len(loop.trials) == 5


def test_fixed_parameters_need_one_evaluation():
    for strategy in ("bo", "random", "grid"):
        loop = run_outer_loop([("u0", 0.3, 0.3)], fake(lambda v: 1.0, lambda v: 90.0), strategy=strategy)
        assert len(loop.trials) == 1 and loop.trials[0].params == {"u0": 0.3}
        assert loop.stop_reason.startswith("nothing to search")


def test_unknown_strategy():
    with pytest.raises(ValueError, match="unknown strategy 'anneal'"):
        run_outer_loop([("u0", 0.0, 1.0)], fake(lambda v: 1.0, lambda v: 90.0), strategy="anneal")


class FakeClient:
    def __init__(self):
        self.calls = []

    def complete_trial(self, trial_index, raw_data):
        self.calls.append(("complete", trial_index, raw_data))

    def mark_trial_failed(self, trial_index, failed_reason):
        self.calls.append(("failed", trial_index, failed_reason))


def test_report_transform_and_penalty():
    c = FakeClient()
    ok = Trial(index=0, params={}, source="", feasible=True, objective=2.0, observed=2.0, quality=90.0)
    low_q = Trial(index=1, params={}, source="", objective=math.inf, observed=1.5, quality=85.0, reason="quality 85 < 89")
    none = Trial(index=2, params={}, source="", quality=95.0, reason="no plan")
    _report(c, 0, ok, "p95", True, 4.0)
    _report(c, 1, low_q, "p95", False)
    _report(c, 2, none, "p95", True, 4.0)
    _report(c, 3, none, "p95", False)
    assert c.calls[0] == ("complete", 0, {"p95": (math.log(2.0), 0.0), "quality": (90.0, 0.0)})
    assert c.calls[1] == ("complete", 1, {"p95": (1.5, 0.0), "quality": (85.0, 0.0)})  # data, not a failure
    assert c.calls[2] == ("complete", 2, {"p95": (math.log(4.0), 0.0), "quality": (95.0, 0.0)})  # the penalty
    assert c.calls[3] == ("failed", 3, "no plan")


class _FakeClient:
    """Stands in for Ax's client: a fixed posterior per point (mean, sd) by the point's u0."""

    def __init__(self, post):
        self.post = post

    def predict(self, points):
        return [self.post(p["u0"]) for p in points]


def test_expected_improvement_is_the_closed_form_and_constrained():
    from scipy.stats import norm

    from boute.engine.optimizer import expected_improvement

    mu, sd, f = 1.9, 0.1, 2.0
    client = _FakeClient(lambda u: {"p95": (mu, sd), "quality": (90.0 + 10 * u, 1.0)})
    z = (f - mu) / sd
    closed = ((f - mu) * norm.cdf(z) + sd * norm.pdf(z)) / f
    kw = dict(best=f, objective_name="p95", log_objective=False, seed=0)
    assert expected_improvement(client, [("u0", 0.0, 1.0)], [], quality_ref=None, **kw) == pytest.approx(closed)
    # the best candidate (u0 = 1, quality 100) meets 95 almost surely; at 200 nothing does
    assert expected_improvement(client, [("u0", 0.0, 1.0)], [], quality_ref=95.0, **kw) == pytest.approx(closed, rel=1e-6)
    assert expected_improvement(client, [("u0", 0.0, 1.0)], [], quality_ref=200.0, **kw) < 1e-12
    # with the output transformation the model is in log units and EI is already relative
    log_client = _FakeClient(lambda u: {"p95": (math.log(f), 1e-9), "quality": (95.0, 1.0)})
    assert (
        expected_improvement(log_client, [("u0", 0.0, 1.0)], [], quality_ref=None, best=f, objective_name="p95", log_objective=True, seed=0)
        < 1e-6
    )


def test_ei_stop_message_names_the_rule():
    msg = stop_message("ei", stall_trials=20, max_trials=30, ei=0.004, ei_stop=0.005)
    assert "EI rule" in msg and "0.40%" in msg and "0.50%" in msg


@pytest.mark.slow
def test_ei_rule_stops_a_converged_bo_run_before_the_stall_rule():
    loop = run_outer_loop(
        [("u0", 0.0, 1.0)],
        fake(lambda v: 1.0 + (v - 0.3) ** 2, lambda v: 95.0),
        strategy="bo",
        max_trials=40,
        stall_trials=40,
        batch=3,
        log_objective=True,
        ei_stop=0.005,
    )
    assert loop.stop_reason.startswith("expected improvement") and len(loop.trials) < 40
    # the guard: not before ten points per dimension, and only after a batch the GP predicted
    from boute.engine.optimizer import EI_MIN_POINTS_PER_DIM, PREDICTIVE_CHECK_Z

    assert len(loop.trials) >= EI_MIN_POINTS_PER_DIM and f"within {PREDICTIVE_CHECK_Z:g} sd" in loop.stop_reason
    assert loop.trials[loop.best_index].objective <= 1.01
    assert any(t.ei is not None for t in loop.trials)
