"""The reproduction script on a tiny configuration, and the calibration file's freshness."""

import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_reproduce_paper_tiny(tmp_path):
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "reproduce_paper.py"), "--tiny", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    doc = (tmp_path / "docs" / "reproduction.md").read_text()
    for heading in ("Table 3 analogue", "Table 1 analogue", "main figure's analogue", "Table 2 analogue", "differ, and why"):
        assert heading in doc
    assert "$32.25" in doc  # the paper's figure beside ours
    assert (tmp_path / "results" / "reproduction.json").exists()
    assert (tmp_path / "docs" / "img" / "reproduction-latency.png").stat().st_size > 1000


def test_calibration_is_current():
    if importlib.util.find_spec("aiconfigurator_core") is None or importlib.util.find_spec("pyarrow") is None:
        pytest.skip("aiconfigurator-core (optional extra 'calibrate') is not installed")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "calibrate.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
