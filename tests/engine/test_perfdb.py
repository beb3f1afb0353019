"""The performance DB: monotone curves, exact inverse, cache keyed, stale cache rebuilt."""

import json

import pytest

from boute.engine.perfdb import build_perfdb, cache_dir
from boute.engine.workload import get_workload


@pytest.fixture(scope="module")
def db(catalog):
    return build_perfdb([catalog.model("Llama-3.1-8B")], [catalog.gpu("H100"), catalog.gpu("RTX-4090")], get_workload("gsm8k"),
                        max_gpus_per_replica={"H100-SXM": 2, "RTX-4090": 2})


def test_curves_monotone_and_grid_fine(db):
    assert len(db.curves) >= 3
    for c in db.curves.values():
        assert len(c.rates_rps) >= 3
        assert all(b >= a for a, b in zip(c.p95_s, c.p95_s[1:]))
        assert c.rates_rps[-1] < c.saturation_rps
        assert all(b > a for a, b in zip(c.rates_rps, c.rates_rps[1:]))


def test_capacity_is_the_inverse(db):
    for c in db.curves.values():
        for i in range(1, len(c.rates_rps) - 1):
            T = c.p95_s[i]
            if c.p95_s[i + 1] > T:  # strictly rising step
                assert c.capacity(T) == pytest.approx(c.rates_rps[i], rel=1e-9)
        assert c.capacity(c.p95_s[0] * 0.5) == 0.0
        caps = [c.capacity(t) for t in (1, 2, 5, 10, 30)]
        assert caps == sorted(caps)


def test_cache_hit_and_stale_detection(catalog, db):
    args = ([catalog.model("Llama-3.1-8B")], [catalog.gpu("H100"), catalog.gpu("RTX-4090")], get_workload("gsm8k"))
    kw = dict(max_gpus_per_replica={"H100-SXM": 2, "RTX-4090": 2})
    again = build_perfdb(*args, **kw)
    assert again.from_cache and again.key == db.key
    path = next(cache_dir().glob(f"perfdb-{db.key[:24]}.json"))
    doc = json.loads(path.read_text())
    doc["payload"][0]["p95"][0] = -1.0  # tamper: checksum no longer matches
    path.write_text(json.dumps(doc))
    rebuilt = build_perfdb(*args, **kw)
    assert not rebuilt.from_cache and rebuilt.curves == db.curves
    path.write_text("{not json")
    assert not build_perfdb(*args, **kw).from_cache
    other = build_perfdb(*args, seed=1, **kw)
    assert other.key != db.key


def test_table_prints_capacity(db):
    rows = db.table()
    assert rows and {"config", "kv_tokens", "cap@5s"} <= set(rows[0])
