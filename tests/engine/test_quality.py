"""Quality data: RouteLLM labels, calibrated generators, AUC, the plain CSV loader, and the
names that moved here from routing.py (still importable there, with a warning)."""

import numpy as np
import pytest

from boute.engine.errors import InputError

from boute.engine.quality import (
    auc,
    calibrated_gsm8k,
    calibrated_mt_bench,
    load_quality_file,
    load_routellm_gsm8k,
    load_routellm_mt_bench,
)
from boute.engine.routing import make_router


def test_routellm_gsm8k_real_labels():
    t = load_routellm_gsm8k()
    assert t.n == 1319 and t.models[0].startswith("mistralai") and t.models[1].startswith("gpt-4")
    r = make_router(t, "oracle")
    assert round(r.quality([1, 0]), 1) == 63.8 and round(r.quality([0, 1]), 1) == 85.7
    assert round(r.max_quality(), 1) == 92.9
    q = t.quality
    assert ((q[:, 0] > 0) & (q[:, 1] == 0)).sum() == 95 and ((q[:, 0] == 0) & (q[:, 1] > 0)).sum() == 383


def test_routellm_mt_bench_real_judgements():
    t = load_routellm_mt_bench()
    assert t.n == 160 and t.unit.startswith("judge")
    assert 1 <= t.quality.min() and t.quality.max() <= 10


def test_calibrated_generator_reproduces_published_figures():
    t = calibrated_gsm8k(("Llama-3.1-8B", "Llama-3.1-70B"), (84.5, 95.1), n=4000, seed=0)
    assert t.mean().tolist() == [84.5, 95.1]
    q = t.quality
    strong_wrong = q[:, 1] == 0
    assert abs((q[strong_wrong, 0] > 0).mean() - 95 / 189) < 0.03
    m = calibrated_mt_bench(("a", "b"), (7.9, 8.9), seed=0)
    assert np.allclose(m.mean(), (7.9, 8.9), atol=0.02)


def test_auc_basic():
    assert auc(np.array([1.0, 2.0, 3.0, 4.0]), np.array([False, False, True, True])) == 1.0
    assert auc(np.array([1.0, 1.0]), np.array([True, False])) == 0.5


def test_plain_csv_loader(tmp_path):
    f = tmp_path / "q.csv"
    f.write_text("prompt,small,big,score\na,1,1,0.1\nb,0,1,0.9\nc,0,0,0.5\n")
    t = load_quality_file(f)
    assert t.models == ("small", "big") and t.quality[:, 1].tolist() == [100, 100, 0] and t.scores is not None
    with pytest.raises(InputError, match="no column 'huge'"):
        load_quality_file(f, models=("small", "huge"))
    assert make_router(t, "file").name == "file"


def test_moved_names_still_import_from_routing_with_a_warning():
    from boute.engine import quality, routing

    with pytest.warns(DeprecationWarning, match="moved to boute.engine.quality.calibrated_gsm8k"):
        from boute.engine.routing import calibrated_gsm8k as moved
    assert moved is quality.calibrated_gsm8k
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        routing.no_such_name  # noqa: B018
