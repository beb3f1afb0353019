"""The soundness benchmark on its CI-sized setting: it plans, re-simulates on a fresh seed
and writes its results file and doc."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_bench_soundness_quick(tmp_path):
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_soundness.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    res = json.loads((tmp_path / "results" / "soundness.json").read_text())
    s = res["summary"]
    assert s["scenarios_planned"] == 4 and s["quick"]
    for row in res["plans"]:
        assert row["fresh_requests"] >= 4000 and row["bound_s"] > 0
        assert row["worst_ratio"] == pytest.approx(max(row["p95_fresh_s"].values()) / row["bound_s"])
    assert r.returncode == (0 if s["exceeding_5pct"] == 0 else 1), r.stderr[-2000:]
    doc = (tmp_path / "docs" / "verification.md").read_text()
    assert "weighted random" in doc and "--quick" in doc
