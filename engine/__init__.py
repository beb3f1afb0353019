"""boute's engine: scenario, replica model, load simulator, perf DB, routing, planner.

The public surface is the names in ``__all__`` (pinned by tests/engine/test_public_api.py).
Heavy parts (Pyomo, Ax, matplotlib) load lazily: ``import boute.engine`` stays fast and
a solve without the outer loop needs no torch.
"""

from __future__ import annotations

from typing import Any

from boute.engine.errors import BouteError, InfeasibleError, InputError
from boute.engine.plugins import Catalog, load_catalog
from boute.engine.scenario import Scenario, default_scenario, load_scenario

__all__ = [
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

_LAZY = {"Plan": "boute.engine.plan", "Planner": "boute.engine.planner", "plan": "boute.engine.planner", "main": "boute.engine.cli"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'boute.engine' has no attribute {name!r}")
