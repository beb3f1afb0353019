"""Steady-state output analysis of one simulation run: quantiles with confidence intervals.

A latency quantile read off one simulated run is a random variable: a few thousand
correlated samples, the first of which see an empty system. This module turns such a
run into a steady-state estimate with a stated confidence interval, and says when a run
is not in steady state at all (a queue that keeps growing).

Method (Asmussen & Glynn, *Stochastic Simulation: Algorithms and Analysis*, Springer
2007: ch. III.5a "sectioning", ch. IV.3 "batch means"; for quantiles of a steady-state
process see also Alexopoulos et al., "Sequest: a sequential procedure for estimating
steady-state quantiles", WSC 2014):

* **Warm-up.** The first ``warmup_fraction`` of the samples (in arrival order) is
  dropped: the run starts empty, so its first requests see less queueing than in
  steady state.
* **Point estimate.** The empirical quantile of all remaining samples.
* **Confidence interval by sectioning.** The remaining samples are cut into ``b``
  time-contiguous batches; each batch gives its own empirical quantile ``q_j``. Batches
  long compared with the process's correlation time are nearly independent and their
  quantiles nearly normal, so ``q_hat +- t_{b-1, (1+c)/2} S / sqrt(b)`` with
  ``S^2 = sum_j (q_j - q_hat)^2 / (b - 1)`` is an approximate ``c`` confidence interval
  (sectioning centres ``S`` on the all-sample estimate ``q_hat``, not on the mean of the
  ``q_j``: a batch quantile is biased for short batches, the all-sample one much less).
  A batch must hold enough samples for its tail (``MIN_TAIL_SAMPLES / (1 - level)``),
  so short runs get fewer batches, a wider Student-t interval, and are reported as not
  converged when fewer than ``MIN_BATCHES`` fit.
* **Convergence.** ``converged`` when the half-width is within ``rel_tol`` of the estimate.
* **Instability.** :func:`trend_test`: a least-squares slope of the batch means against
  batch index, significant at a strict level *and* large (the last batch's fitted mean
  exceeds the first's by more than ``min_growth``): the signature of a queue that grows
  for the whole run rather than of noise around a steady state.

Every result is finite: a run too short for an interval gets the range of its samples as
a (wide, not converged) interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np
from scipy.special import stdtrit

from boute.engine.errors import InputError

__all__ = [
    "QUANTILE_LEVELS",
    "QuantileEstimate",
    "TrendResult",
    "estimate_quantile",
    "trend_test",
    "MIN_BATCHES",
    "MIN_TAIL_SAMPLES",
]

QUANTILE_LEVELS = (0.5, 0.9, 0.95, 0.99)
"""Quantile levels the performance DB stores for end-to-end latency."""
MIN_BATCHES = 5
"""Fewer batches than this give no interval worth the name (t_{3, 0.975} = 3.18)."""
MIN_TAIL_SAMPLES = 5
"""Samples above the quantile that each batch must hold on average (e.g. 100 per batch for P95)."""


@attrs.frozen(kw_only=True)
class QuantileEstimate:
    """A steady-state quantile with its confidence interval."""

    level: float
    """Quantile level, e.g. 0.95."""
    value_s: float
    """Point estimate: the empirical quantile of the post-warm-up samples."""
    lo_s: float
    """Lower confidence bound."""
    hi_s: float
    """Upper confidence bound (what a latency promise should rest on)."""
    n: int
    """Post-warm-up samples used."""
    batches: int
    """Batches the interval was computed from (0 when too few samples for one)."""
    converged: bool
    """The interval's half-width is within the requested relative tolerance of the estimate."""

    @property
    def half_width_s(self) -> float:
        """Half the interval's width (seconds)."""
        return (self.hi_s - self.lo_s) / 2.0

    @property
    def half_width_rel(self) -> float:
        """Half-width relative to the point estimate (0 for a zero estimate with a zero-width interval)."""
        if self.value_s > 0:
            return self.half_width_s / self.value_s
        return 0.0 if self.half_width_s == 0 else math.inf


def _check(samples, level: float, warmup_fraction: float, confidence: float) -> np.ndarray:
    x = np.asarray(samples, dtype=float).ravel()
    if not 0.0 < level < 1.0:
        raise InputError(f"level: {level!r} must be in (0, 1)", hint="e.g. 0.95 for P95")
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence: {confidence!r} must be in (0, 1)", hint="e.g. 0.95")
    if not 0.0 <= warmup_fraction < 1.0:
        raise InputError(f"warmup_fraction: {warmup_fraction!r} must be in [0, 1)", hint="e.g. 0.1")
    if x.size == 0:
        raise InputError("samples: empty", hint="simulate at least one completed request")
    if not np.all(np.isfinite(x)):
        raise InputError("samples: contain NaN or inf", hint="pass only completed requests' latencies")
    return x


def estimate_quantile(
    samples: Sequence[float] | np.ndarray,
    level: float = 0.95,
    *,
    warmup_fraction: float = 0.1,
    batches: int = 20,
    confidence: float = 0.95,
    rel_tol: float = 0.05,
) -> QuantileEstimate:
    """Steady-state ``level`` quantile of ``samples`` with a ``confidence`` interval.

    Args:
        samples: per-request latencies (seconds) in ARRIVAL order, so that batches are
            time-contiguous.
        level: quantile level in (0, 1).
        warmup_fraction: leading fraction of the samples dropped as warm-up.
        batches: the most batches to section into (fewer when batches would be too
            short for the tail: each needs ``MIN_TAIL_SAMPLES / (1 - level)`` samples).
        confidence: confidence level of the interval.
        rel_tol: ``converged`` when the half-width is <= ``rel_tol`` x the estimate.

    Returns:
        The estimate; finite in every field. With fewer than ``MIN_BATCHES`` batches'
        worth of samples the interval is the samples' range and ``converged`` is False.
    """
    x = _check(samples, level, warmup_fraction, confidence)
    if batches < 2:
        raise InputError(f"batches: {batches!r} must be >= 2", hint="e.g. 20")
    if not rel_tol > 0:
        raise InputError(f"rel_tol: {rel_tol!r} must be > 0", hint="e.g. 0.05")
    x = x[int(len(x) * warmup_fraction) :]
    if x.size == 0:  # warm-up took everything (a single sample)
        x = np.asarray(samples, dtype=float).ravel()[-1:]
    n = int(x.size)
    q = float(np.quantile(x, level))
    min_batch = int(math.ceil(MIN_TAIL_SAMPLES / (1.0 - level)))
    b = min(batches, n // min_batch)
    if b < MIN_BATCHES:
        return QuantileEstimate(level=level, value_s=q, lo_s=float(x.min()), hi_s=float(x.max()), n=n, batches=0, converged=False)
    m = n // b
    # Drop the remainder from the front (the end of the warm-up) so batches are equal.
    sec = x[n - m * b :].reshape(b, m)
    qj = np.quantile(sec, level, axis=1)
    s = math.sqrt(float(np.sum((qj - q) ** 2)) / (b - 1))
    hw = float(stdtrit(b - 1, 0.5 + confidence / 2.0)) * s / math.sqrt(b)
    return QuantileEstimate(
        level=level, value_s=q, lo_s=max(q - hw, 0.0) if q >= 0 else q - hw, hi_s=q + hw, n=n, batches=b, converged=hw <= rel_tol * abs(q)
    )


@attrs.frozen(kw_only=True)
class TrendResult:
    """Whether a run's latencies grow over the run (a queue that is not in steady state)."""

    growing: bool
    """A significant and large upward trend."""
    slope_t: float
    """t statistic of the least-squares slope of batch means against batch index."""
    growth_rel: float
    """Fitted last-batch mean over fitted first-batch mean, minus 1."""
    batches: int


def trend_test(
    samples: Sequence[float] | np.ndarray,
    *,
    warmup_fraction: float = 0.1,
    batches: int = 20,
    confidence: float = 0.999,
    min_growth: float = 0.25,
) -> TrendResult:
    """Test per-request latencies (ARRIVAL order) for a queue that keeps growing.

    The post-warm-up samples are cut into ``batches`` contiguous batches; their means are
    regressed on the batch index. The run is ``growing`` when the slope is positive and
    significant (one-sided Student-t at ``confidence``: strict, because a false alarm
    removes a good load point) and the fitted mean rises by more than ``min_growth``
    (relative) from the first batch to the last (a practically large drift, not a
    statistically detectable wiggle of a long run).

    Args:
        samples: per-request latencies (seconds) in arrival order.
        warmup_fraction: leading fraction dropped.
        batches: number of batches (at least 3; fewer samples than batches: not growing).
        confidence: one-sided confidence of the slope test.
        min_growth: relative rise of the fitted mean over the run that counts as growth.
    """
    x = _check(samples, 0.5, warmup_fraction, confidence)
    if batches < 3:
        raise InputError(f"batches: {batches!r} must be >= 3", hint="e.g. 10")
    x = x[int(len(x) * warmup_fraction) :]
    m = x.size // batches
    if m < 1:
        return TrendResult(growing=False, slope_t=0.0, growth_rel=0.0, batches=0)
    y = x[x.size - m * batches :].reshape(batches, m).mean(axis=1)
    i = np.arange(batches, dtype=float)
    ic = i - i.mean()
    slope = float(np.dot(ic, y - y.mean()) / np.dot(ic, ic))
    fit = y.mean() + slope * ic
    resid = y - fit
    se = math.sqrt(float(np.dot(resid, resid)) / (batches - 2) / float(np.dot(ic, ic)))
    t = slope / se if se > 0 else (math.copysign(1e9, slope) if slope != 0 else 0.0)
    first, last = float(fit[0]), float(fit[-1])
    growth = (last - first) / abs(first) if first != 0 else (0.0 if last == first else 1e9)
    crit = float(stdtrit(batches - 2, confidence))
    return TrendResult(growing=bool(t > crit and growth > min_growth), slope_t=float(t), growth_rel=float(growth), batches=batches)
