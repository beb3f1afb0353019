"""The engine's public surface is pinned; importing it stays light."""

import subprocess
import sys


def test_public_names_pinned():
    import boute.engine as e

    assert e.__all__ == [
        "BouteError",
        "InputError",
        "InfeasibleError",
        "Catalog",
        "load_catalog",
        "Scenario",
        "load_scenario",
        "default_scenario",
        "Plan",
        "Planner",
        "plan",
        "main",
    ]
    for name in e.__all__:
        assert getattr(e, name) is not None


def test_import_engine_does_not_import_heavy_modules():
    code = "import sys, boute.engine; print(any(m.split('.')[0] in ('ax', 'torch', 'pyomo', 'matplotlib') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "False"


def test_repeated_constants_agree():
    """Constants kept in two modules on purpose (so that solvers and `import boute.engine` stay
    light) must not drift apart."""
    from boute.engine import problem, scenario, steady

    assert problem.SYSTEM_LEVELS == steady.QUANTILE_LEVELS
    assert scenario.LATENCY_METRICS == problem.LATENCY_METRICS
