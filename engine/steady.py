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

* **Probability scale** (:func:`estimate_quantiles_prob`, what the perf DB uses). The
  value-scale interval above needs a density at the quantile; where the distribution has a
  gap there (azure-code's bimodal output lengths), batch quantiles jump across it and the
  interval never shrinks. Instead, for every threshold ``t`` the batch means of the
  indicator ``1{X <= t}`` give ``F(t)`` with a sectioning interval, and inverting that test
  gives the quantile's interval (the "batching" quantile interval of Asmussen & Glynn ch.
  IV.3 applied to indicators). Its upper end is the smallest ``t`` with "P(X > t) <= 1 -
  level" at the stated confidence (:func:`exceedance_ucb` checks one ``t``), and its
  probability-scale half-width shrinks like ``1 / sqrt(n)`` whatever the shape. A lag-1
  test of the batch means flags batches shorter than the correlation time.
* **Warm-up detection.** :func:`mser_warmup` (MSER-5) finds where a run that starts empty
  has filled up, for runs whose fill-up is longer than the fixed warm-up fraction.

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
    "estimate_quantiles_prob",
    "exceedance_ucb",
    "mser_warmup",
    "trend_test",
    "P_TOL",
    "MIN_BATCHES",
    "MIN_TAIL_SAMPLES",
]

QUANTILE_LEVELS = (0.5, 0.9, 0.95, 0.99)
"""Quantile levels the performance DB stores for end-to-end latency."""
MIN_BATCHES = 5
"""Fewer batches than this give no interval worth the name (t_{3, 0.975} = 3.18)."""
LAG1_Z = 2.326
"""One-sided 1 % normal quantile of the lag-1 batch-correlation test."""
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
    """The interval is within the requested tolerance: relative half-width on the value scale
    (:func:`estimate_quantile`) or half-width on the probability scale
    (:func:`estimate_quantiles_prob`)."""
    half_width_p: float = math.nan
    """Probability-scale half-width of ``F(value_s)`` (:func:`estimate_quantiles_prob` only; NaN otherwise)."""
    lag1: float = math.nan
    """Lag-1 autocorrelation of the batch means of ``1{X <= value_s}`` (:func:`estimate_quantiles_prob`
    only): near 0 (about -1/b) when the batches are long enough to be nearly independent."""

    @property
    def batches_independent(self) -> bool:
        """The batches pass a one-sided test of lag-1 autocorrelation at 1 % (``r1 <=
        z_0.99 / sqrt(b) - 1 / b``): batches shorter than the process's correlation time
        make the interval too narrow, and this is how that shows. False without batches."""
        if not self.batches:
            return False
        if math.isnan(self.lag1):
            return True  # value-scale estimates do not test it
        return self.lag1 <= LAG1_Z / math.sqrt(self.batches) - 1.0 / self.batches

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


# ----------------------------------------------------------------------------- probability scale
P_TOL = 0.01
"""Default probability-scale tolerance: the tail probability at the quantile estimate is known
to within +-1 percentage point (for P95: P(X > q) in [4 %, 6 %])."""
WINDOW = 0.1
"""Thresholds tested lie at empirical levels >= ``level - WINDOW`` (below, the test is moot)."""


def _batches(x: np.ndarray, level: float, batches: int) -> int:
    min_batch = int(math.ceil(MIN_TAIL_SAMPLES / (1.0 - level)))
    return min(batches, x.size // min_batch)


def _post_warmup(samples, warmup_fraction: float) -> np.ndarray:
    x = np.asarray(samples, dtype=float).ravel()
    y = x[int(len(x) * warmup_fraction) :]
    return y if y.size else x[-1:]


@attrs.frozen(kw_only=True)
class _CdfBands:
    """Empirical CDF of the batched samples at their distinct values, with sectioning bands."""

    t: np.ndarray
    """Distinct sample values from the window up (increasing)."""
    f: np.ndarray
    """Empirical CDF at ``t`` (all batched samples)."""
    hw: np.ndarray
    """Half-width of the ``confidence`` interval of the CDF at ``t``."""
    p: np.ndarray
    """Per-batch CDF at ``t`` (rows: thresholds, columns: batches in time order)."""
    lowest: float


def _cdf_bands(x: np.ndarray, b: int, confidence: float, from_level: float) -> _CdfBands:
    """Sectioning on the probability scale: for each threshold ``t`` the batch means of the
    indicator ``1{X <= t}`` give ``F(t)`` with a Student-t interval. Computed for every
    distinct value at or above the empirical ``from_level`` quantile with one sort and a
    cumulative count per batch (O(n b)), not one search per batch and threshold."""
    n = x.size
    m = n // b
    flat = x[n - m * b :]
    N = flat.size
    k0 = max(0, min(N - 1, int(math.floor(from_level * N)) - 1))
    # Only the upper part needs sorting: partition at the window's start, sort the rest.
    part = np.argpartition(flat, k0) if k0 else np.arange(N)
    top = part[k0:]
    top = top[np.argsort(flat[top], kind="stable")]
    vals = flat[top]
    bid = top // m
    counts = np.zeros((N - k0, b), dtype=np.int32)
    counts[np.arange(N - k0), bid] = 1
    np.cumsum(counts, axis=0, out=counts)
    counts += np.bincount(part[:k0] // m, minlength=b).astype(np.int32)  # samples below the window, per batch
    tv = vals
    # A threshold counts every sample equal to it: keep the last row of each run of ties.
    last = np.ones(tv.size, dtype=bool)
    last[:-1] = tv[1:] != tv[:-1]
    p = counts[last] / float(m)
    f = p.mean(axis=1)
    s = np.sqrt(np.sum((p - f[:, None]) ** 2, axis=1) / (b - 1))
    hw = float(stdtrit(b - 1, 0.5 + confidence / 2.0)) * s / math.sqrt(b)
    return _CdfBands(t=tv[last], f=f, hw=hw, p=p, lowest=float(flat.min()))


def _invert(bands: _CdfBands, level: float, q: float) -> tuple[float, float, float, float]:
    """(lower bound, upper bound, probability half-width at ``q``, lag-1 autocorrelation of
    the batch indicator means at ``q``) of the ``level`` quantile.

    Upper bound: the smallest threshold from which on every tested ``t`` has a lower
    confidence bound of ``F(t)`` >= ``level`` ("P(X <= t) >= level" holds with the stated
    confidence). Lower bound: the largest threshold below which every tested ``t`` has an
    upper bound < ``level``; when the first tested threshold already fails, the smallest
    sample (a wide, safe interval)."""
    t, f, hw = bands.t, bands.f, bands.hw
    bad = np.flatnonzero(f - hw < level)
    hi = float(t[bad[-1] + 1]) if bad.size else float(t[0])  # the largest t has F = 1, hw = 0: never bad
    above = np.flatnonzero(f + hw >= level)
    lo = float(t[above[0] - 1]) if above.size and above[0] > 0 else bands.lowest
    i = min(int(np.searchsorted(t, q, side="left")), t.size - 1)
    pj = bands.p[i] - f[i]
    den = float(np.dot(pj, pj))
    lag1 = float(np.dot(pj[1:], pj[:-1]) / den) if den > 0 else 0.0
    return min(lo, q), max(hi, q), float(hw[i]), lag1


def estimate_quantiles_prob(
    samples: Sequence[float] | np.ndarray,
    levels: Sequence[float] = (0.95,),
    *,
    warmup_fraction: float = 0.1,
    batches: int = 20,
    confidence: float = 0.95,
    p_tol: float = P_TOL,
    rel_tol: float = 0.05,
) -> dict[float, QuantileEstimate]:
    """Steady-state quantiles with intervals obtained on the PROBABILITY scale.

    The value-scale interval of :func:`estimate_quantile` (spread of batch quantiles) needs
    a density at the quantile: where the distribution has a gap at the quantile (bimodal
    output lengths, e.g. azure-code's jump from ~100 to ~450 tokens between its 95th and
    96th percentile) the batch quantiles jump between the two sides and the interval never
    shrinks. This estimator instead asks, for every threshold ``t``, how well ``F(t) =
    P(X <= t)`` is known: the batch means of the indicator ``1{X <= t}`` (sectioning, the
    same ``b`` time-contiguous batches, Student-t) give ``F(t)`` +- ``hw(t)``. Inverting
    that test gives the quantile's interval (``hi_s``: the smallest ``t`` from which on
    ``F(t) >= level`` holds with the stated confidence, i.e. "P(latency > hi_s) <= 1 -
    level"). The probability-scale interval shrinks like ``1 / sqrt(n)`` whatever the
    distribution's shape, so ``converged`` means ``hw(q_hat) <= p_tol`` (the tail
    probability at the estimate is known to within ``p_tol``, absolute) or, where the
    density is high and the value-scale interval is already tight, ``(hi - lo) / 2 <=
    rel_tol x q_hat``.

    Args:
        samples: values in ARRIVAL order (batches are time-contiguous).
        levels: quantile levels in (0, 1).
        warmup_fraction: leading fraction dropped as warm-up.
        batches: the most batches (fewer when short: each needs ``MIN_TAIL_SAMPLES / (1 -
            level)`` samples for the highest level).
        confidence: confidence of every interval.
        p_tol: probability-scale half-width at the estimate that counts as converged.
        rel_tol: value-scale relative half-width that counts as converged too.

    Returns:
        ``{level: QuantileEstimate}``; ``half_width_p`` is the probability-scale
        half-width. With fewer than ``MIN_BATCHES`` batches: the samples' range, not converged.
    """
    levels = tuple(float(v) for v in levels)
    if not levels:
        raise InputError("levels: empty", hint="e.g. (0.95,)")
    for lv in levels:
        _check(samples, lv, warmup_fraction, confidence)
    if batches < 2:
        raise InputError(f"batches: {batches!r} must be >= 2", hint="e.g. 20")
    if not 0.0 < p_tol < 1.0:
        raise InputError(f"p_tol: {p_tol!r} must be in (0, 1)", hint="e.g. 0.01")
    if not rel_tol > 0:
        raise InputError(f"rel_tol: {rel_tol!r} must be > 0", hint="e.g. 0.05")
    x = _post_warmup(samples, warmup_fraction)
    n = int(x.size)
    out: dict[float, QuantileEstimate] = {}
    by_b: dict[int, list[float]] = {}
    for lv in levels:  # higher levels need longer batches (more of them in the tail)
        by_b.setdefault(_batches(x, lv, batches), []).append(lv)
    for b, lvs in by_b.items():
        if b < MIN_BATCHES:
            lo, hi = float(x.min()), float(x.max())
            for lv in lvs:
                q = float(np.quantile(x, lv))
                out[lv] = QuantileEstimate(level=lv, value_s=q, lo_s=lo, hi_s=hi, n=n, batches=0, converged=False, half_width_p=1.0)
            continue
        bands = _cdf_bands(x, b, confidence, max(min(lvs) - WINDOW, 0.0))
        for lv in lvs:
            q = float(np.quantile(x, lv))
            lo, hi, hwp, lag1 = _invert(bands, lv, q)
            ok = hwp <= p_tol or (hi - lo) / 2.0 <= rel_tol * abs(q)
            out[lv] = QuantileEstimate(
                level=lv, value_s=q, lo_s=lo, hi_s=hi, n=n, batches=b, converged=bool(ok), half_width_p=hwp, lag1=lag1
            )
    return {lv: out[lv] for lv in levels}


def exceedance_ucb(
    samples: Sequence[float] | np.ndarray,
    threshold_s: float,
    *,
    warmup_fraction: float = 0.1,
    batches: int = 20,
    confidence: float = 0.95,
) -> float:
    """Upper confidence bound of ``P(X > threshold_s)`` at steady state (sectioning of the
    indicator ``1{X > threshold_s}`` over time-contiguous batches, Student-t at
    ``confidence``, the upper end of the two-sided interval). "Latency <= T at P95 holds" is ``exceedance_ucb(x, T) <= 0.05``.
    Returns 1.0 when fewer than ``MIN_BATCHES`` batches of ``MIN_TAIL_SAMPLES / 0.05``
    samples fit (no statement possible)."""
    _check(samples, 0.95, warmup_fraction, confidence)
    x = _post_warmup(samples, warmup_fraction)
    b = _batches(x, 0.95, batches)
    if b < MIN_BATCHES:
        return 1.0
    m = x.size // b
    e = (x[x.size - m * b :] > threshold_s).reshape(b, m).mean(axis=1)
    s = float(np.std(e, ddof=1))
    # The upper end of the same two-sided interval as :func:`estimate_quantiles_prob` uses, so
    # that ``exceedance_ucb(x, est.hi_s) <= 1 - level`` for its upper bound ``hi_s``.
    return float(min(1.0, e.mean() + float(stdtrit(b - 1, 0.5 + confidence / 2.0)) * s / math.sqrt(b)))


def mser_warmup(samples: Sequence[float] | np.ndarray, *, batch: int = 5, max_fraction: float = 0.5) -> int:
    """Samples to drop as warm-up by MSER-5 (White, "An effective truncation heuristic for
    bias reduction in simulation output", Simulation 69(6), 1997; Hoad, Robinson & Davies,
    "Automating warm-up length estimation", JORS 61, 2010): the means of consecutive batches
    of ``batch`` samples are truncated at the ``d`` that minimises ``sum_{i > d} (Y_i -
    mean_{>d})^2 / (m - d)^2``, the squared standard error of the remaining mean. A run
    that starts empty and fills up over many requests (long outputs at high load) needs a
    longer warm-up than a fixed fraction; MSER finds it from the run itself.

    Args:
        samples: values in ARRIVAL order (latencies, or queue lengths at each arrival).
        batch: samples per MSER batch (5 is the usual choice).
        max_fraction: the truncation searched is at most this share of the run (beyond it the
            run is too short to tell warm-up from a trend).

    Returns:
        The number of leading samples to drop (a multiple of ``batch``; 0 for short runs).
    """
    x = np.asarray(samples, dtype=float).ravel()
    m = x.size // batch
    if m < 4:
        return 0
    y = x[: m * batch].reshape(m, batch).mean(axis=1)
    # Suffix sums give the statistic for every truncation point at once.
    s1 = np.cumsum(y[::-1])[::-1]
    s2 = np.cumsum((y * y)[::-1])[::-1]
    cnt = np.arange(m, 0, -1, dtype=float)
    stat = (s2 - s1 * s1 / cnt) / (cnt * cnt)
    d_max = max(1, int(m * max_fraction))
    return int(np.argmin(stat[:d_max])) * batch
