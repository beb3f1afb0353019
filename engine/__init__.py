"""boute's engine: scenario, replica model, load simulator, perf DB, routing, planner.

Public surface (pinned by tests/engine/test_public_api.py)."""

from boute.engine.errors import BouteError
from boute.engine.plugins import Catalog, load_catalog

__all__ = ["BouteError", "Catalog", "load_catalog"]
