"""The outer loop: Ax multi-objective Bayesian optimisation (the only module importing Ax).

Each trial proposes routing (and, in split mode, budget-split) coordinates; the planner
answers it exactly with the inner MILP. Objectives: the latency bound (or cost) to
minimise and quality to maximise, reported noise-free (SEM 0). Trials whose inner
problem is infeasible are marked failed with the reason, never dropped or faked.

Strategies: ``bo`` (Ax, seeded), ``random`` (seeded uniform points, the control with the
same trial budget) and ``grid`` (every point of a given list: a 1-D routing grid, or the
planner's simplex grid for three or more models). The exact path for at most one routing
dimension lives in the planner (it needs no outer loop and never imports Ax).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from boute.engine.errors import InputError, did_you_mean

__all__ = [
    "Trial",
    "LoopResult",
    "run_outer_loop",
    "expected_improvement",
    "ei_rule_fires",
    "prediction_held",
    "PREDICTIVE_CHECK_Z",
    "EI_MIN_POINTS_PER_DIM",
    "pareto_front",
    "stop_message",
    "STRATEGIES",
    "check_strategy",
]

STRATEGIES = ("auto", "exact", "bo", "random", "grid")
"""``auto`` picks ``exact`` for one or two models and ``bo`` for more (the planner)."""


def check_strategy(strategy: str, *, models: int, mode: str) -> None:
    """Raise :class:`InputError` unless ``strategy`` can search this request's space.

    The one place that says which strategy supports which request: ``exact`` answers at
    most one routing dimension (one or two models, either mode: split mode's budget is
    eliminated exactly); ``bo``, ``random`` and ``grid`` search any number of models
    (``grid``: every routing on a simplex lattice for three or more). A new strategy adds
    its name to ``STRATEGIES`` and its limits here.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"--strategy: {strategy!r} is not a strategy", hint=did_you_mean(strategy, STRATEGIES))
    if strategy == "exact" and models > 2:
        raise InputError(
            f"strategy: 'exact' searches at most one routing dimension; {models} models have {models - 1}",
            hint="use bo (default for three or more models), random or grid",
        )


log = logging.getLogger(__name__)

INFEASIBLE_OBJECTIVE = 600.0
"""Penalty objective for a trial without any plan before any plan was seen (the top of
the latency grid, seconds)."""

ACQF_RESTARTS = (4, 128)
"""(restarts, raw samples) of the acquisition optimisation per generation, instead of Ax's
defaults (20, 1024): the outer loop searches one to a few dimensions, where 128 raw
samples cover the box densely. Measured on the three-model benchmark (one outer dimension,
13 trials, batches of 3, 2 shared cores at load 7.5, 2026-11-29): Ax's CPU per generation
fell from 3.2-6.4 s to 1.1-1.7 s, the run from 17.1 s to 7.5 s CPU (40 s to 18.5 s wall),
with the identical trial sequence and best plan."""

PREDICTIVE_CHECK_Z = 3.0
"""The EI rule's predictive check (:func:`ei_rule_fires`): a batch's outcome counts as
predicted when it lies within this many posterior standard deviations of the GP's mean
(plus the stopping threshold). For a calibrated GP each point fails with probability
0.27 %, a batch of three with under 1 %, so the check seldom delays a justified stop."""

EI_MIN_POINTS_PER_DIM = 10
"""Points per free dimension the GP must have seen before the EI rule may stop the loop
(seeds included): Loeppky, Sacks and Welch, "Choosing the sample size of a computer
experiment: a practical guide", Technometrics 51(4):366-376 (2009), the n = 10 d rule
for a GP surrogate's accuracy. See :func:`ei_rule_fires`."""

TORCH_THREADS = 1
"""Intra-op threads torch may use while Ax fits and optimises (see run_outer_loop)."""


@attrs.define(kw_only=True)
class Trial:
    """One evaluation of the outer loop: its parameters, where they came from, and the
    inner solve's answer (objective, quality, feasibility and the evaluation itself)."""

    index: int
    params: dict[str, float]
    source: str
    """``seed`` (structural), ``bo``, ``random`` or ``grid``."""
    feasible: bool = False
    objective: float = math.inf
    """Latency bound (s) or cost (USD/h): lower is better."""
    quality: float = -math.inf
    observed: float | None = None
    """The inner solve's objective even when the quality target is missed (None when
    the inner problem itself is infeasible): data the GP learns from."""
    reason: str = ""
    payload: Any = None
    ehvi: float | None = None
    """Ax's expected hypervolume improvement of the batch that proposed this trial
    (standardised outcome units; None for seeds and non-GP proposals)."""
    ei: float | None = None
    """The EI rule's relative expected improvement when this trial's batch was proposed
    (see :func:`expected_improvement`; None where it was not computed)."""
    batch: int | None = None
    """The Ax generation (batch) that proposed this trial, counted from 0; None for seeds."""
    predicted: tuple[float, float] | None = None
    """The GP's posterior (mean, standard deviation) of this trial's objective when it was
    proposed, in the units Ax models (log with the output transformation); None where the
    EI rule was not computed. The EI rule's predictive check compares it with ``reported``."""
    reported: float | None = None
    """The objective Ax was told, in its units (log with the output transformation, an
    inner problem without a plan as the penalty); None for a trial marked failed."""


@attrs.frozen(kw_only=True)
class LoopResult:
    """What the outer loop returns: every trial in order, why it stopped, and the best."""

    trials: tuple[Trial, ...]
    stop_reason: str
    best_index: int | None
    best_at_trial: int | None
    """Trial count at which the final best was first found."""
    dims: int = 0
    """Free dimensions the loop searched (the EI rule's minimum sample scales with it)."""
    log_objective: bool = False
    """Ax saw log(objective) (the output transformation): the units of ``Trial.predicted``."""


def _better(a: Trial, b: Trial | None, rel_tol: float = 1e-9) -> bool:
    """``a`` beats ``b``: a lower objective, or the same objective (within ``rel_tol``,
    relative) and a higher quality: the quality tie-break."""
    if b is None:
        return True
    tol = rel_tol * max(abs(b.objective), 1.0)
    if a.objective < b.objective - tol:
        return True
    return abs(a.objective - b.objective) <= tol and a.quality > b.quality + 1e-12


def pareto_front(trials) -> list[Trial]:
    """Feasible trials not dominated in (objective min, quality max)."""
    feas = sorted((t for t in trials if t.feasible), key=lambda t: (t.objective, -t.quality))
    out, best_q = [], -math.inf
    for t in feas:
        if t.quality > best_q + 1e-12:
            out.append(t)
            best_q = t.quality
    return out


def stop_message(
    kind: str, *, stall_trials: int, max_trials: int, ei: float | None = None, ei_stop: float | None = None, checked: bool = True
) -> str:
    """The one wording of each stop reason (reported in the plan's stats)."""
    if kind == "ei":
        held = f", the GP's last batch within {PREDICTIVE_CHECK_Z:g} sd of its prediction" if checked else ""
        return f"expected improvement {ei:.2%} of the best plan < {ei_stop:.2%}{held} (the EI rule)"
    if kind == "stall":
        return f"best unchanged for {stall_trials} trials (the paper's rule)"
    if kind == "cap":
        return f"trial cap {max_trials} reached before the stall rule (best unchanged for {stall_trials} trials) fired"
    raise ValueError(kind)


def prediction_held(t: Trial, tol: float) -> bool | None:
    """Did the GP predict this trial's outcome? ``|reported - mean| <= Z sd + tol``
    (:data:`PREDICTIVE_CHECK_Z`, model units); None when there was no prediction or
    nothing was reported (a failed trial)."""
    if t.predicted is None or t.reported is None:
        return None
    mu, sd = t.predicted
    return abs(t.reported - mu) <= PREDICTIVE_CHECK_Z * sd + tol


def ei_rule_fires(trials, ei: float | None, ei_stop: float, *, best: float, log_objective: bool, check: bool = True, dims: int = 1) -> bool:
    """The EI rule's decision before the next batch, from the trials evaluated so far.

    It fires when the GP's relative expected improvement ``ei`` (:func:`expected_improvement`)
    is below ``ei_stop`` and, with ``check``, the GP has seen at least
    :data:`EI_MIN_POINTS_PER_DIM` points per free dimension (``dims``) and has just
    predicted fresh data: every trial of the latest batch (proposed by the previous fit,
    evaluated since) lies within :data:`PREDICTIVE_CHECK_Z` posterior standard deviations
    of what that fit predicted for it, up to the threshold itself (``log(1 + ei_stop)`` in
    log units, ``ei_stop`` times the best plan otherwise), and at least one of them had a
    prediction. The check covers the objective; the quality model behind the constrained
    EI is not checked (quality is the router's smooth, known curve).

    Why the check: EI is only as good as the GP's uncertainty. The inner optimum is a
    staircase in the routing (integer replica counts, a latency grid), which a noise-free
    smooth GP fitted to a few spread-out points takes for a smooth curve, reporting
    near-zero uncertainty between two close points of similar value. On the paper
    reproduction's ten pooled-metric rows, two BO seeds each, the unchecked rule stopped
    10 of the 20 runs after 6-9 trials with the best plan 2.5-35 % above the 101-share
    grid's, and the batch that GP proposed at the stop missed its predictions by
    2.7-141 posterior sd (the largest miss per run; docs/performance.md, "Stopping rules
    on the paper reproduction's pooled-metric rows"; results/planner.json). An
    out-of-sample check on the points the model itself chose costs no evaluation and no
    fit, and means the rule can fire no earlier than the second GP batch. The minimum
    sample is Loeppky, Sacks and Welch's "n = 10 d" for a GP surrogate to be trusted
    (Technometrics 51(4), 2009): a check on the model's own, exploitative proposals can
    pass while a dip between two far-apart points is still unseen
    (tests/engine/test_optimizer_ei_guard.py's staircase). On those 20 runs the check
    alone let one stop 4 % above the grid, the minimum alone another 6 % above it; with
    both, none stopped more than 1 % above it (a step of the latency grid). On ten
    three-model variants the checked rule stopped exactly where the unchecked one did.
    ``check=False`` is the earlier, unchecked rule (kept for comparison).
    """
    if ei is None or not ei < ei_stop:
        return False
    if not check:
        return True
    if len(trials) < EI_MIN_POINTS_PER_DIM * dims:
        return False
    batches = [t.batch for t in trials if t.batch is not None]
    if not batches:
        return False
    tol = math.log1p(ei_stop) if log_objective else ei_stop * abs(best)
    held = [prediction_held(t, tol) for t in trials if t.batch == batches[-1]]
    held = [h for h in held if h is not None]
    return bool(held) and all(held)


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
    candidates: list[dict[str, float]] | None = None,
    log_objective: bool = False,
    ehvi_stop: float | None = None,
    on_trial: Callable[[Trial], None] | None = None,
    ei_stop: float | None = None,
    ei_check: bool = True,
    quality_in_evaluation: bool = False,
    acqf_restarts: tuple[int, int] | None = ACQF_RESTARTS,
) -> LoopResult:
    """Run the outer loop until ``stall_trials`` trials pass without a new best (the
    paper's rule), or the ``max_trials`` cap, whichever comes first; the stop reason
    says which.

    Args:
        space: (name, low, high) per parameter; a parameter with ``low == high`` is held
            fixed (Ax rejects empty ranges), and with no free parameter one evaluation
            is exhaustive.
        evaluate: maps parameters to a finished :class:`Trial` (feasible or not).
        seeds: structural starting points, evaluated first.
        strategy: ``bo``, ``random`` or ``grid``.
        candidates: the points ``grid`` evaluates (default: ``grid_points`` evenly
            spaced values of the one free parameter).
        log_objective: report ``log(objective)`` to Ax (the output transformation).
        ehvi_stop: also stop (``bo`` only) once a feasible plan exists and the GP's
            expected hypervolume improvement of the next batch (qLogNEHVI's optimised
            value, exponentiated; outcomes standardised by Ax) falls below this.
        ei_stop: the principled stopping rule (``bo`` only; see :func:`expected_improvement`):
            stop before evaluating a batch once a feasible plan exists and the GP's largest
            constrained expected improvement of the objective over the best plan, relative
            to it, is below this (0.005: the model expects less than 0.5 % from any point);
            0 computes it for every batch (``Trial.ei``) and never stops on it.
        ei_check: the EI rule acts only once the GP has seen
            :data:`EI_MIN_POINTS_PER_DIM` points per free dimension and predicted its
            latest batch within its own uncertainty (:func:`ei_rule_fires`); False: the
            unchecked rule (stops on the first EI below ``ei_stop``, kept for comparison).
        quality_in_evaluation: every evaluation already enforces the quality target
            (the planner's ``absorb`` mode), so the EI rule needs no quality model.
        acqf_restarts: (restarts, raw samples) of the acquisition optimisation per
            generation (None: Ax's defaults, 20 and 1024); see :data:`ACQF_RESTARTS`.
        on_trial: the public observer hook: called with every finished trial (seeds,
            proposals and grid points alike), in order, right after its evaluation and
            before the loop decides whether to stop; for progress displays and benchmarks
            (time stamps per trial) without reaching into the planner.
    """
    trials: list[Trial] = []
    state = {"best": None, "since": 0, "best_at": None}
    min_ei_trials = len(seeds) + 2  # the GP has seen the seeds and at least two more points
    fixed = {n: float(lo) for n, lo, hi in space if hi - lo <= 1e-12}
    free = [(n, float(lo), float(hi)) for n, lo, hi in space if hi - lo > 1e-12]

    def record(t: Trial) -> bool:
        t.index = len(trials)
        trials.append(t)
        if on_trial is not None:
            on_trial(t)
        if t.feasible and _better(t, state["best"]):
            state["best"], state["since"], state["best_at"] = t, 0, len(trials)
        else:
            state["since"] += 1
        if progress:
            progress(len(trials), max_trials)
        return len(trials) >= max_trials or (state["best"] is not None and state["since"] >= stall_trials)

    def finish(reason: str) -> LoopResult:
        b = state["best"]
        return LoopResult(
            trials=tuple(trials),
            stop_reason=reason,
            best_index=None if b is None else b.index,
            best_at_trial=state["best_at"],
            dims=len(free),
            log_objective=log_objective,
        )

    def stop_reason() -> str:
        stalled = state["best"] is not None and state["since"] >= stall_trials
        return stop_message("stall" if stalled else "cap", stall_trials=stall_trials, max_trials=max_trials)

    def run(p: dict[str, float], source: str) -> Trial:
        t = evaluate({**fixed, **p})
        t.source = source
        return t

    if strategy not in ("bo", "random", "grid"):
        raise ValueError(f"unknown strategy {strategy!r}")
    if not free and candidates is None:
        record(run({}, strategy))
        return finish("nothing to search: every parameter is fixed, one evaluation is exhaustive")

    for p in seeds:
        if record(run(dict(p), "seed")):
            return finish(stop_reason())

    if strategy == "grid":
        if candidates is None:
            if len(free) != 1:
                raise ValueError("grid strategy without candidates searches one parameter")
            name, lo, hi = free[0]
            candidates = [{name: float(v)} for v in np.linspace(lo, hi, grid_points)]
        for p in candidates:
            t = run(dict(p), "grid")
            t.index = len(trials)
            trials.append(t)
            if on_trial is not None:
                on_trial(t)
            if t.feasible and _better(t, state["best"]):
                state["best"], state["best_at"] = t, len(trials)
            if progress:
                progress(len(trials), len(candidates) + len(seeds))
        return finish("grid exhausted")

    if strategy == "random":
        rng = np.random.default_rng(seed)
        while True:
            p = {n: float(rng.uniform(lo, hi)) for n, lo, hi in free}
            if record(run(p, "random")):
                return finish(stop_reason())

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import botorch.acquisition.multi_objective.logei as botorch_logei
        import torch
        from ax import Client, RangeParameterConfig
        from ax.utils.common.logger import set_stderr_log_level

        # BoTorch 0.18 JIT-compiles a fused qLogNEHVI kernel (C++, -O3 -march=native) on first
        # use, under a lock file in ~/.cache/torch_extensions. Observed on the shared build
        # machine: the compile took over ten minutes under load, and a compile killed midway
        # left its lock behind, so every later BO run waited on it forever. The pure-PyTorch
        # path computes the same acquisition value; mark the load as attempted so it is used.
        botorch_logei._load_attempted = True

        # One intra-op thread: the GP fits here are tiny (tens of points), and torch's
        # thread pool spin-waits when the cores are shared. Measured on the 2-core build
        # machine under load (3-model scenario, 10 trials, batches of 3): one GP
        # generation took 30-60 s with torch's default 2 threads and about 5 s with 1.
        threads = torch.get_num_threads()
        torch.set_num_threads(TORCH_THREADS)
        try:
            set_stderr_log_level(logging.ERROR)  # "only N trials could be generated" is expected at phase switches
            client = Client(random_seed=seed)
            client.configure_experiment(
                parameters=[RangeParameterConfig(name=n, parameter_type="float", bounds=(lo, hi)) for n, lo, hi in free]
            )
            constraints = [f"quality >= {quality_ref}"] if quality_ref is not None else None
            client.configure_optimization(objective=f"-{objective_name}, quality", outcome_constraints=constraints)
            client.set_generation_strategy(_generation_strategy(seed, max(2, 5 - len(seeds)), acqf_restarts))

            def report(idx: int, t: Trial) -> None:
                seen = [x.observed for x in trials if x.observed is not None]
                penalty = 2.0 * max(seen) if seen else INFEASIBLE_OBJECTIVE
                t.reported = _report(client, idx, t, objective_name, log_objective, penalty if log_objective else None)

            for t in trials:
                idx = client.attach_trial(parameters={n: min(max(float(t.params[n]), lo), hi) for n, lo, hi in free})
                report(idx, t)
            generation = -1
            while True:
                proposals = client.get_next_trials(max_trials=batch)
                generation += 1
                if not proposals:
                    return finish("optimiser proposed nothing")
                ehvi = _expected_improvement(client, list(proposals))
                if ehvi_stop is not None and ehvi is not None and state["best"] is not None and ehvi < ehvi_stop:
                    return finish(f"expected hypervolume improvement {ehvi:.2g} < {ehvi_stop:g}")
                if ei_stop is not None and ehvi is not None and state["best"] is not None and len(trials) >= min_ei_trials:
                    ei, pred = _ei_and_predictions(
                        client,
                        free,
                        list(proposals.values()),
                        best=state["best"].objective,
                        objective_name=objective_name,
                        log_objective=log_objective,
                        quality_ref=None if quality_in_evaluation else quality_ref,
                        seed=seed,
                    )
                    if ei_rule_fires(
                        trials, ei, ei_stop, best=state["best"].objective, log_objective=log_objective, check=ei_check, dims=len(free)
                    ):
                        return finish(
                            stop_message("ei", stall_trials=stall_trials, max_trials=max_trials, ei=ei, ei_stop=ei_stop, checked=ei_check)
                        )
                else:
                    ei, pred = None, [None] * len(proposals)
                for (idx, params), guess in zip(proposals.items(), pred):
                    t = run({k: float(v) for k, v in params.items()}, "bo")
                    t.ehvi, t.ei, t.predicted, t.batch = ehvi, ei, guess, generation
                    report(idx, t)
                    if record(t):
                        return finish(stop_reason())
        finally:
            torch.set_num_threads(threads)


EI_CANDIDATES_PER_DIM = 256
"""Random candidate points per free dimension on which the EI rule maximises the
expected improvement (one dimension: an even grid of this many points)."""


def expected_improvement(
    client,
    free: list[tuple[str, float, float]],
    proposals: list[dict[str, Any]],
    *,
    best: float,
    objective_name: str,
    log_objective: bool,
    quality_ref: float | None,
    seed: int,
) -> float:
    """The GP's largest constrained expected improvement over the best plan, relative to it.

    The planner's question is single-objective (least latency or cost subject to the
    quality target), so the rule asks the GP that question, not the hypervolume one
    (which keeps rewarding plans of higher quality and higher latency, and never falls).
    For minimisation with posterior mean ``mu`` and standard deviation ``sigma`` of the
    objective Ax models (its log with the output transformation), and the incumbent
    ``f``: ``EI = (f - mu) Phi(z) + sigma phi(z)``, ``z = (f - mu) / sigma`` (Jones,
    Schonlau and Welch 1998), times the probability that the point meets the quality
    target under the GP's quality model (Gardner et al. 2014, constrained EI). In log
    units EI is already a relative improvement; otherwise it is divided by ``f``. The
    maximum runs over Ax's proposals and ``EI_CANDIDATES_PER_DIM`` points per free
    dimension (an even grid in one dimension, seeded uniform points otherwise). It uses
    the model Ax has just fitted for the proposals: no extra GP fit.
    """
    return _ei_and_predictions(
        client, free, proposals, best=best, objective_name=objective_name, log_objective=log_objective, quality_ref=quality_ref, seed=seed
    )[0]


def _ei_and_predictions(
    client,
    free: list[tuple[str, float, float]],
    proposals: list[dict[str, Any]],
    *,
    best: float,
    objective_name: str,
    log_objective: bool,
    quality_ref: float | None,
    seed: int,
) -> tuple[float, list[tuple[float, float]]]:
    """:func:`expected_improvement`, and the GP's (mean, sd) of each proposal's objective
    from the same prediction (model units)."""
    from scipy.special import ndtr

    d = len(free)
    if d == 1:
        n, lo, hi = free[0]
        pts = [{n: float(v)} for v in np.linspace(lo, hi, EI_CANDIDATES_PER_DIM)]
    else:
        rng = np.random.default_rng(seed + 104729)
        u = rng.uniform(size=(EI_CANDIDATES_PER_DIM * d, d))
        pts = [{n: float(lo + x * (hi - lo)) for (n, lo, hi), x in zip(free, row)} for row in u]
    pts += [{k: float(v) for k, v in p.items()} for p in proposals]
    pred = client.predict(pts)
    mu = np.array([p[objective_name][0] for p in pred], dtype=float)
    sd = np.array([p[objective_name][1] for p in pred], dtype=float)
    f = math.log(max(best, 1e-12)) if log_objective else best
    imp = f - mu
    sd = np.maximum(sd, 1e-12)
    z = imp / sd
    ei = imp * ndtr(z) + sd * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    if quality_ref is not None:
        mq = np.array([p["quality"][0] for p in pred], dtype=float)
        sq = np.maximum(np.array([p["quality"][1] for p in pred], dtype=float), 1e-12)
        ei = ei * ndtr((mq - quality_ref) / sq)
    top = float(np.max(ei))
    guesses = [(float(m), float(s)) for m, s in zip(mu[len(mu) - len(proposals) :], sd[len(sd) - len(proposals) :])]
    return (top if log_objective else top / max(abs(f), 1e-12)), guesses


def _generation_strategy(seed: int, initialization_budget: int, acqf_restarts: tuple[int, int] | None):
    """Ax's ``fast`` strategy (centre, Sobol, then BoTorch's modular GP with qLogNEHVI),
    with the acquisition optimiser's restarts and raw samples set when given."""
    from ax.api.utils.generation_strategy_dispatch import choose_generation_strategy
    from ax.api.utils.structs import GenerationStrategyDispatchStruct

    gs = choose_generation_strategy(
        GenerationStrategyDispatchStruct(method="fast", initialization_budget=initialization_budget, initialization_random_seed=seed)
    )
    if acqf_restarts is not None:
        restarts, raw = acqf_restarts
        for node in gs.nodes_by_name.values():
            for spec in node.generator_specs:
                if spec.generator_enum.name == "BOTORCH_MODULAR":
                    spec.generator_gen_kwargs["model_gen_options"] = {"optimizer_kwargs": {"num_restarts": restarts, "raw_samples": raw}}
    return gs


def _expected_improvement(client, indices: list[int]) -> float | None:
    """The acquisition value Ax recorded for the generator run behind ``indices``
    (None before the GP phase). qLogNEHVI's value is a log: exponentiate it."""
    vals = []
    for idx in indices:
        for gr in client._experiment.trials[idx].generator_runs:
            v = (gr.gen_metadata or {}).get("expected_acquisition_value")
            if v is not None:
                vals.extend(np.ravel(np.asarray(v, dtype=float)).tolist())
    if not vals:
        return None
    return float(np.exp(max(vals)))


def _report(client, idx: int, t: Trial, objective_name: str, log_objective: bool = False, penalty: float | None = None) -> float | None:
    """Tell Ax what a trial measured. Quality is always known (the router's curve); the
    objective is the inner solve's, also when the quality target is missed. With the
    output transformation (``penalty`` given) Ax sees ``log(objective)``, and an inner
    problem without any plan counts as ``penalty`` (twice the worst objective seen) rather
    than as a failed trial: a failed trial carries no data, so the GP proposes the same
    point again (observed: the loop re-proposed three infeasible points for 12 trials).
    Returns the objective reported, in Ax's units (None: marked failed)."""
    y = t.observed if t.observed is not None else (t.objective if t.feasible else penalty)
    if y is None or not math.isfinite(y) or not math.isfinite(t.quality):
        client.mark_trial_failed(trial_index=idx, failed_reason=t.reason or "infeasible")
        return None
    y = math.log(max(float(y), 1e-12)) if log_objective else float(y)
    client.complete_trial(trial_index=idx, raw_data={objective_name: (y, 0.0), "quality": (float(t.quality), 0.0)})
    return y
