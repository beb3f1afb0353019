"""Packaging: the four subpackages install under one import name, never as top-level
generic names; the wheel builds and carries the package data."""

import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT


def test_editable_install_imports_four_subpackages():
    code = "import boute.engine, boute.solvers, boute.models, boute.gpus, importlib.util as u; print(u.find_spec('models'))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd="/").stdout
    assert out.strip() == "None"  # no generic top-level 'models' squatted


@pytest.mark.slow
def test_wheel_layout(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)], check=True, capture_output=True
    )
    wheel = next(tmp_path.glob("boute-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for pkg in ("engine", "solvers", "models", "gpus"):
        assert f"boute/{pkg}/__init__.py" in names
    assert "boute/engine/plan.schema.json" in names
    assert "boute/engine/data/routellm_gsm8k.csv" in names and "boute/engine/data/README.md" in names
    tops = {n.split("/")[0] for n in names}
    assert not tops & {"engine", "solvers", "models", "gpus", "tests", "scripts"}
    eps = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(eps).decode()
    for group in ("[boute.gpus]", "[boute.models]", "[boute.prices]", "[boute.solvers]", "[console_scripts]"):
        assert group in text
