"""Routing: exact quantile mapping, router curves, encoding (quality data: test_quality.py)."""

import numpy as np
import pytest

from boute.engine.errors import InputError
from boute.engine.quality import QualityTable, calibrated_gsm8k
from boute.engine.routing import Router, make_router, shares_from_sticks, sticks_from_shares


def hand_table():
    # 4 queries; weak right on q0,q1; strong right on q1,q2,q3
    q = np.array([[100, 0], [100, 100], [0, 100], [0, 100]], dtype=float)
    return QualityTable(models=("weak", "strong"), quality=q, unit="accuracy %")


def test_quantile_mapping_exact_on_hand_data():
    r = Router(hand_table(), np.array([0.1, 0.2, 0.3, 0.4]), "hand")
    assert r.quality([1, 0]) == 50.0 and r.quality([0, 1]) == 75.0
    # strong takes the top half (q2, q3): all four right
    assert r.quality([0.5, 0.5]) == 100.0
    # a quarter: q3 to strong -> q0,q1 weak right, q2 weak wrong, q3 strong right
    assert r.quality([0.75, 0.25]) == 75.0
    # fractional boundary interpolates linearly
    assert r.quality([0.625, 0.375]) == pytest.approx(87.5)
    assert r.thresholds([0.5, 0.5]) == [pytest.approx(np.quantile([0.1, 0.2, 0.3, 0.4], 0.5))]
    assert r.min_strong_share(100.0) == pytest.approx(0.5)
    assert r.min_strong_share(87.5) == pytest.approx(0.375)
    assert r.min_strong_share(101) is None


def test_oracle_monotone_concave_random_linear():
    t = calibrated_gsm8k(("a", "b"), (84.5, 95.1), n=2000, seed=3)
    x, y = make_router(t, "oracle").curve(201)
    d = np.diff(y)
    assert np.all(d[: np.argmax(y)] >= -1e-9)  # rises to its best
    assert np.all(np.diff(d) <= 1e-6)  # concave
    xr, yr = make_router(t, "random", seed=1).curve(11)
    line = yr[0] + (yr[-1] - yr[0]) * xr
    assert np.max(np.abs(yr - line)) < 1.5  # linear up to sampling noise


def test_noisy_router_hits_target_auc():
    t = calibrated_gsm8k(("a", "b"), (84.5, 95.1), n=4000, seed=0)
    for target in (0.65, 0.8, 0.9):
        r = make_router(t, "noisy", auc_target=target, seed=0)
        assert abs(float(r.name.split()[-1]) - target) <= 0.01
    o, n, rnd = (make_router(t, k, auc_target=0.8).min_strong_share(92) for k in ("oracle", "noisy", "random"))
    assert o < n < rnd


def test_three_models_stick_breaking_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(100):
        s = rng.dirichlet([1, 1, 1])
        assert np.allclose(shares_from_sticks(sticks_from_shares(s)), s)
    u = rng.random((50, 2))
    for row in u:
        s = shares_from_sticks(row)
        assert s.min() >= 0 and abs(s.sum() - 1) < 1e-12
        assert np.allclose(sticks_from_shares(s), row)


def test_three_model_bands_quality():
    q = np.array([[0, 0, 100], [0, 100, 100], [100, 100, 100]], dtype=float)
    t = QualityTable(models=("s", "m", "l"), quality=q, unit="accuracy %")
    r = Router(t, np.array([3.0, 2.0, 1.0]), "hand")  # hardest query scores highest
    assert r.quality([1 / 3, 1 / 3, 1 / 3]) == pytest.approx(100.0)
    assert len(r.thresholds([0.2, 0.3, 0.5])) == 2
    with pytest.raises(InputError, match="summing to 1"):
        r.quality([0.5, 0.6, 0.0])


def test_quality_intervals_match_dense_sampling():
    import numpy as np

    from boute.engine.quality import calibrated_gsm8k
    from boute.engine.routing import make_router

    t = calibrated_gsm8k(("a", "b"), (84.5, 95.1), n=400, seed=1)
    for kind in ("oracle", "random", "noisy"):
        r = make_router(t, kind, auc_target=0.7, seed=2)
        for q in (86.0, 89.0, 93.0):
            iv = r.quality_intervals(q)
            for a, b in iv:
                assert a <= b and r.quality([1 - a, a]) >= q - 1e-9 and r.quality([1 - b, b]) >= q - 1e-9
            for x in np.linspace(0, 1, 2001):
                inside = any(a - 1e-12 <= x <= b + 1e-12 for a, b in iv)
                assert inside == (r.quality([1 - x, x]) >= q - 1e-9) or abs(r.quality([1 - x, x]) - q) < 1e-6
            if iv:
                assert iv[0][0] == pytest.approx(r.min_strong_share(q), abs=1e-9)
    assert make_router(t, "oracle").quality_intervals(None) == [(0.0, 1.0)]
    assert make_router(t, "oracle").quality_intervals(99.9) == []


def test_max_weak_share_is_a_valid_bound_for_three_models():
    import numpy as np

    from boute.engine.quality import calibrated_gsm8k
    from boute.engine.routing import make_router, shares_from_sticks

    t = calibrated_gsm8k(("a", "b", "c"), (84.5, 95.1, 96.8), n=500, seed=3)
    for kind in ("oracle", "noisy"):
        r = make_router(t, kind, seed=0)
        for q in (88.0, 92.0, 95.0):
            hi = r.max_weak_share(q)
            rng = np.random.default_rng(1)
            for u in rng.uniform(size=(400, 2)):
                if u[0] > hi + 1e-9:
                    assert r.quality(shares_from_sticks(u)) < q
    two = make_router(calibrated_gsm8k(("a", "b"), (84.5, 95.1), n=500, seed=3), "oracle")
    assert two.max_weak_share(90.0) == pytest.approx(1 - two.min_strong_share(90.0), abs=1e-9)
    assert two.max_weak_share(99.99) == -1.0


def test_line_intervals_match_dense_sampling_and_reduce_to_two_models():
    import numpy as np

    from boute.engine.quality import calibrated_gsm8k
    from boute.engine.routing import make_router

    t3 = calibrated_gsm8k(("a", "b", "c"), (84.5, 95.1, 96.8), n=300, seed=5)
    r = make_router(t3, "noisy", auc_target=0.75, seed=1)
    for prefix, q in (((0.3,), 92.0), ((0.1,), 95.0), ((0.6,), 90.0)):
        iv = r.line_intervals(prefix, q)
        rest = 1 - prefix[0]
        for x in np.linspace(0, rest, 1201):
            val = r.quality([prefix[0], rest - x, x])
            inside = any(a - 1e-12 <= x <= b + 1e-12 for a, b in iv)
            assert inside == (val >= q - 1e-9) or abs(val - q) < 1e-6
        for a, b in iv:
            x = r.best_on_line(prefix, a, b)
            assert a <= x <= b and r.quality([prefix[0], rest - x, x]) >= q - 1e-9
    r2 = make_router(calibrated_gsm8k(("a", "b"), (84.5, 95.1), n=300, seed=5), "noisy", seed=1)
    for (a, b), (c, d) in zip(r2.line_intervals((), 90.0), r2.quality_intervals(90.0)):
        assert a == pytest.approx(c, abs=1e-9) and b == pytest.approx(d, abs=1e-9)
