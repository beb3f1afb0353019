"""The outer loop: Ax multi-objective Bayesian optimisation (the only module importing Ax).

Each trial proposes routing (and, in split mode, budget-split) coordinates; the planner
answers it exactly with the inner MILP. Objectives: the latency bound (or cost) to
minimise and quality to maximise, reported noise-free (SEM 0). Trials whose inner
problem is infeasible are marked failed with the reason, never dropped or faked.

Strategies: ``bo`` (Ax, seeded), ``random`` (seeded uniform points, the control with the
same trial budget) and ``grid`` (exhaustive over a 1-D routing grid; ground truth for
two models in joint mode).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from boute.engine.errors import InputError

__all__ = ["Trial", "LoopResult", "run_outer_loop", "pareto_front", "STRATEGIES", "check_strategy"]

STRATEGIES = ("bo", "random", "grid")


def check_strategy(strategy: str, *, models: int, mode: str) -> None:
    """Raise :class:`InputError` unless ``strategy`` can search this request's space.

    The one place that says which strategy supports which request: ``grid`` walks a
    single routing parameter (two models, joint mode); ``bo`` and ``random`` search any
    space. A new strategy adds its name to ``STRATEGIES`` and its limits here.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"--strategy: {strategy!r} is not a strategy", hint="use " + ", ".join(STRATEGIES))
    if strategy == "grid" and (models != 2 or mode != "joint"):
        raise InputError(
            f"--strategy: grid searches one routing parameter (two models, joint mode); this request has {models} "
            f"model{'s' if models != 1 else ''} in {mode} mode",
            hint="use --strategy bo or random",
        )

log = logging.getLogger(__name__)


@attrs.define(kw_only=True)
class Trial:
    index: int
    params: dict[str, float]
    source: str
    """``seed`` (structural), ``bo``, ``random`` or ``grid``."""
    feasible: bool = False
    objective: float = math.inf
    """Latency bound (s) or cost (USD/h): lower is better."""
    quality: float = -math.inf
    reason: str = ""
    payload: Any = None


@attrs.frozen(kw_only=True)
class LoopResult:
    trials: tuple[Trial, ...]
    stop_reason: str
    best_index: int | None
    best_at_trial: int | None
    """Trial count at which the final best was first found."""


def _better(a: Trial, b: Trial | None) -> bool:
    if b is None:
        return True
    return (a.objective, -a.quality) < (b.objective - 1e-12, -b.quality)


def pareto_front(trials) -> list[Trial]:
    """Feasible trials not dominated in (objective min, quality max)."""
    feas = sorted((t for t in trials if t.feasible), key=lambda t: (t.objective, -t.quality))
    out, best_q = [], -math.inf
    for t in feas:
        if t.quality > best_q + 1e-12:
            out.append(t)
            best_q = t.quality
    return out


def run_outer_loop(
    space: list[tuple[str, float, float]],
    evaluate: Callable[[dict[str, float]], Trial],
    *,
    seeds: list[dict[str, float]] = (),
    strategy: str = "bo",
    max_trials: int = 30,
    stall_trials: int = 20,
    seed: int = 0,
    quality_ref: float | None = None,
    objective_name: str = "p95",
    batch: int = 1,
    progress: Callable[[int, int], None] | None = None,
    grid_points: int = 101,
) -> LoopResult:
    """Run the outer loop until ``stall_trials`` trials pass without a new best, or ``max_trials``.

    Args:
        space: (name, low, high) per parameter.
        evaluate: maps parameters to a finished :class:`Trial` (feasible or not).
        seeds: structural starting points, evaluated first.
    """
    trials: list[Trial] = []
    state = {"best": None, "since": 0, "best_at": None}

    def record(t: Trial) -> bool:
        t.index = len(trials)
        trials.append(t)
        if t.feasible and _better(t, state["best"]):
            state["best"], state["since"], state["best_at"] = t, 0, len(trials)
        else:
            state["since"] += 1
        if progress:
            progress(len(trials), max_trials)
        return len(trials) >= max_trials or (state["best"] is not None and state["since"] >= stall_trials)

    def finish(reason: str) -> LoopResult:
        b = state["best"]
        return LoopResult(trials=tuple(trials), stop_reason=reason, best_index=None if b is None else b.index, best_at_trial=state["best_at"])

    def stop_reason() -> str:
        return "max_trials" if len(trials) >= max_trials else f"no better plan in {stall_trials} trials"

    for p in seeds:
        t = evaluate(dict(p))
        t.source = "seed"
        if record(t):
            return finish(stop_reason())

    if not space:  # one model in joint mode: a single point, nothing to search
        if not trials:
            t = evaluate({})
            t.source = "seed"
            record(t)
        return finish("nothing to search (one point)")

    if strategy == "grid":
        if len(space) != 1:
            raise InputError(f"--strategy: grid searches one routing parameter; this space has {len(space)}", hint="use --strategy bo or random")
        name, lo, hi = space[0]
        for v in np.linspace(lo, hi, grid_points):
            t = evaluate({name: float(v)})
            t.source = "grid"
            trials.append(t)
            t.index = len(trials) - 1
            if t.feasible and _better(t, state["best"]):
                state["best"], state["best_at"] = t, len(trials)
        return finish("grid exhausted")

    if strategy == "random":
        rng = np.random.default_rng(seed)
        while True:
            p = {n: float(rng.uniform(lo, hi)) for n, lo, hi in space}
            t = evaluate(p)
            t.source = "random"
            if record(t):
                return finish(stop_reason())

    if strategy != "bo":
        raise InputError(f"--strategy: {strategy!r} is not a strategy", hint="use " + ", ".join(STRATEGIES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ax import Client, RangeParameterConfig
        from ax.utils.common.logger import set_stderr_log_level

        set_stderr_log_level(logging.ERROR)  # "only N trials could be generated" is expected at phase switches
        client = Client(random_seed=seed)
        client.configure_experiment(
            parameters=[RangeParameterConfig(name=n, parameter_type="float", bounds=(float(lo), float(hi))) for n, lo, hi in space]
        )
        constraints = [f"quality >= {quality_ref}"] if quality_ref is not None else None
        client.configure_optimization(objective=f"-{objective_name}, quality", outcome_constraints=constraints)
        client.configure_generation_strategy(method="fast", initialization_random_seed=seed,
                                             initialization_budget=max(2, 5 - len(seeds)))
        for t in trials:
            idx = client.attach_trial(parameters=t.params)
            _report(client, idx, t, objective_name)
        while True:
            proposals = client.get_next_trials(max_trials=batch)
            if not proposals:
                return finish("optimiser proposed nothing")
            for idx, params in proposals.items():
                t = evaluate({k: float(v) for k, v in params.items()})
                t.source = "bo"
                _report(client, idx, t, objective_name)
                if record(t):
                    return finish(stop_reason())


def _report(client, idx: int, t: Trial, objective_name: str) -> None:
    if t.feasible:
        client.complete_trial(trial_index=idx, raw_data={objective_name: (float(t.objective), 0.0), "quality": (float(t.quality), 0.0)})
    else:
        client.mark_trial_failed(trial_index=idx, failed_reason=t.reason or "infeasible")
