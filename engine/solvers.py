"""Finding inner-solver backends through the ``boute.solvers`` entry point."""

from __future__ import annotations

import functools

from boute.engine.errors import InputError, PluginError, did_you_mean
from boute.engine.plugins import load_solver_classes

__all__ = ["get_solver", "solver_names"]


def solver_names() -> tuple[str, ...]:
    """Names of the registered inner solvers (``boute.solvers`` entry points), sorted."""
    return tuple(sorted(load_solver_classes()[0]))


@functools.cache
def get_solver(name: str = "highs"):
    """An instance of the registered solver ``name`` (cached: persistent models are reused)."""
    classes, problems = load_solver_classes()
    if name not in classes:
        extra = f"; failed plugins: {'; '.join(problems)}" if problems else ""
        raise InputError(f"solver: unknown solver {name!r}", hint=did_you_mean(name, classes) + extra)
    inst = classes[name]()
    if not inst.available():
        raise PluginError(f"solver: {name!r} is installed but cannot run here", hint="pip install highspy==1.16.0 pyomo==6.10.1")
    return inst
