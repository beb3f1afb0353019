"""Quality-aware routing: the score-band router and the load-fraction encoding.

A routing policy is a point on the simplex of load shares ``s`` (one per model, cheapest
first). Queries are ordered by a router score (higher: more benefit from a stronger
model); the lowest ``s_1`` fraction goes to model 1, the next ``s_2`` to model 2, and so
on: score bands with ``k - 1`` cut points, which for two models is RouteLLM's threshold
router. Shares map to thresholds by score quantiles exactly, and ``quality(s)`` is
the mean per-query quality of the assigned models, computed from prefix sums over the
score order (fractional boundaries interpolate linearly, so the curve is continuous).

The optimiser sees stick-breaking coordinates ``u`` in ``[0, 1]^(k-1)``:
``s_1 = u_1, s_j = u_j * (1 - s_1 - ... - s_(j-1)), s_k = rest``.

The quality data a router reads (tables, loaders, synthetic generators, :func:`auc`)
lives in :mod:`boute.engine.quality`; its names stay importable from here for code
written before the split (a ``DeprecationWarning`` says where they moved).
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np

from boute.engine.errors import InputError
import boute.engine.quality as _quality
from boute.engine.quality import QualityTable, auc

__all__ = [
    "Router",
    "shares_from_sticks",
    "sticks_from_shares",
    "make_router",
    "oracle_scores",
]

_MOVED_TO_QUALITY = frozenset(_quality.__all__) | {"PACKAGE_DATA"}
"""Names that moved to :mod:`boute.engine.quality` (issue 16); forwarded by ``__getattr__``."""


QUALITY_TOL = 1e-12
"""Slack when comparing quality figures reached by different float paths (prefix sums,
interpolation): about 100 ulp at quality 100 (float64 ulp there is 1.4e-14), far below
any difference a query makes (100 / n for n <= 10^7 queries)."""
TARGET_TOL = 1e-9
"""A share meets ``quality_min`` when its quality is at least ``quality_min - TARGET_TOL``;
the interval ends are nudged inward until this holds (verify re-checks quality with 1e-6)."""
SHARE_TOL = 1e-9
"""Slack of a share vector: entries >= -SHARE_TOL, and float round-off below it counts as 0."""
SHARE_SUM_TOL = 1e-6
"""A share vector sums to 1 within this (shares pass through JSON and Ax as floats)."""
NUDGE_STEPS = 60
"""Inward nudges of an interpolated crossing; each moves it by QUALITY_TOL + TARGET_TOL of
the interval, so 60 cover far more than the round-off of one interpolation."""
BISECTION_STEPS = 60
"""Halvings of the noisy router's noise scale (from NOISE_SCALE_MAX: 1e3 / 2^60 ~ 1e-15,
below float resolution)."""
NOISE_SCALE_MAX = 1e3
"""Largest noise, in standard deviations of the oracle score: at 1000x the scores are
random for any AUC target (AUC 0.5)."""
LADDER_WEIGHT = 0.5
"""Weight of the gains at every step up the model ladder in the oracle score for three or
more models (a design choice: the strongest-vs-cheapest benefit stays the main term)."""
TIE_JITTER = 1e-6
"""Random jitter that breaks ties between equal oracle scores (benefits differ by at
least 1e-6 of a quality unit only on data with such resolution)."""


def __getattr__(name: str):
    """Forward a name that moved to :mod:`boute.engine.quality`, with a DeprecationWarning."""
    if name in _MOVED_TO_QUALITY:
        warnings.warn(f"boute.engine.routing.{name} moved to boute.engine.quality.{name}", DeprecationWarning, stacklevel=2)
        return getattr(_quality, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Router:
    """Score-band router over a :class:`QualityTable` with exact, fast quality curves.

    Args:
        table: per-query quality (models cheapest first).
        scores: one score per query (higher: needs a stronger model).
        name: a label (``oracle``, ``random``, ``noisy AUC 0.80``, ``file``).
    """

    def __init__(self, table: QualityTable, scores: np.ndarray, name: str) -> None:
        self.table, self.name = table, name
        self.scores = np.asarray(scores, dtype=float)
        self.k = len(table.models)
        order = np.argsort(scores, kind="mergesort")
        self.sorted_scores = np.asarray(scores, dtype=float)[order]
        q = table.quality[order]
        n = table.n
        # cum[j, m] = sum of model m's quality over the j lowest-scored queries.
        self.cum = np.vstack([np.zeros(self.k), np.cumsum(q, axis=0)])
        self.n = n
        if self.k == 2:
            # Quality as a function of the strong share x = j / n (j queries to strong):
            # (W[0:n-j] + S[n-j:n]) / n, for j = 0..n.
            j = np.arange(n + 1)
            w = self.cum[n - j, 0]
            s = self.cum[n, 1] - self.cum[n - j, 1]
            self._curve2 = (w + s) / n
            # running max from the right: best quality reachable with share >= x
            self._best_from = np.maximum.accumulate(self._curve2[::-1])[::-1]

    def _cum_at(self, pos: float, m: int) -> float:
        """Prefix sum at a fractional position (linear between queries)."""
        lo = int(math.floor(pos))
        if lo >= self.n:
            return float(self.cum[self.n, m])
        frac = pos - lo
        return float(self.cum[lo, m] + frac * (self.cum[lo + 1, m] - self.cum[lo, m]))

    def quality(self, shares) -> float:
        """Mean quality when model j answers a ``shares[j]`` fraction of queries."""
        s = _check_shares(shares, self.k)
        bounds = np.concatenate([[0.0], np.cumsum(s)]) * self.n
        bounds[-1] = self.n
        total = 0.0
        for m in range(self.k):
            total += self._cum_at(bounds[m + 1], m) - self._cum_at(bounds[m], m)
        return total / self.n

    def thresholds(self, shares) -> list[float]:
        """The ``k - 1`` score cut points: query -> model j when t_(j-1) <= score < t_j.

        A deployed router sends whole queries, so each cut falls between two queries:
        the fractional boundary ``n * cumsum(shares)`` is rounded down or up, whichever
        gives the higher quality on the data (the safe side for ``quality_min``). Quality
        is linear between neighbouring boundaries, so the rounded cuts reach at least
        :meth:`quality` of ``shares``, which the plan reports and checks against
        ``quality_min``. Each cut sits midway between its two neighbouring scores.
        """
        s = _check_shares(shares, self.k)
        bounds = np.cumsum(s)[:-1] * self.n
        choices = [sorted({int(math.floor(b)), min(int(math.ceil(b)), self.n)}) for b in bounds]
        best_cuts, best_q = None, -math.inf
        for combo in itertools.product(*choices):
            if any(a > b for a, b in zip(combo, combo[1:])):
                continue
            cuts = [self._cut_at(j) for j in combo]
            q = self.quality_at_thresholds(cuts)
            if q > best_q + QUALITY_TOL:
                best_cuts, best_q = cuts, q
        return best_cuts if best_cuts is not None else [self._cut_at(int(round(b))) for b in bounds]

    def _cut_at(self, j: int) -> float:
        """A score threshold below which exactly the ``j`` lowest-scored queries fall
        (fewer where scores tie across the boundary)."""
        v = self.sorted_scores
        if j <= 0:
            return float(v[0])
        if j >= self.n:
            return float(np.nextafter(v[-1], math.inf))
        return float(v[j - 1] + (v[j] - v[j - 1]) / 2)

    def quality_at_thresholds(self, thresholds) -> float:
        """Mean quality when queries are routed by score cut points, as deployed:
        query -> model j when t_(j-1) <= score < t_j."""
        t = np.asarray(thresholds, dtype=float)
        if t.shape != (self.k - 1,) or not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
            raise InputError(f"thresholds: {list(t)} must be {self.k - 1} finite, non-decreasing cut points", hint="one per model boundary")
        j = np.concatenate([[0], np.searchsorted(self.sorted_scores, t, side="left"), [self.n]])
        total = sum(self.cum[j[m + 1], m] - self.cum[j[m], m] for m in range(self.k))
        return float(total / self.n)

    def curve(self, points: int = 101) -> tuple[np.ndarray, np.ndarray]:
        """(strong-model share, quality) for two models."""
        self._need2()
        x = np.linspace(0, 1, points)
        return x, np.array([self.quality([1 - v, v]) for v in x])

    def min_strong_share(self, quality_min: float) -> float | None:
        """Least strong-model share whose quality meets ``quality_min`` (two models);
        None if no share reaches it. Exact on the per-query data (linear between queries)."""
        self._need2()
        c = self._curve2
        ok = np.nonzero(c >= quality_min - QUALITY_TOL)[0]
        if len(ok) == 0:
            return None
        j = int(ok[0])
        if j == 0:
            return 0.0
        # interpolate between j-1 and j
        a, b = c[j - 1], c[j]
        frac = 1.0 if b == a else (quality_min - a) / (b - a)
        return float((j - 1 + min(max(frac, 0.0), 1.0)) / self.n)

    def quality_intervals(self, quality_min: float | None) -> list[tuple[float, float]]:
        """The strong-model shares meeting ``quality_min`` (two models), exactly: the
        quality curve is linear between the shares ``j / n``, so its super-level set is a
        union of closed intervals whose ends are those points or crossings inside one
        segment. Sorted, disjoint; empty when no share reaches the target. Every end
        ``x`` satisfies ``quality([1 - x, x]) >= quality_min - TARGET_TOL``."""
        self._need2()
        if quality_min is None:
            return [(0.0, 1.0)]
        c, n = self._curve2, self.n
        ok = c >= quality_min - QUALITY_TOL
        out: list[tuple[float, float]] = []
        j = 0
        while j <= n:
            if not ok[j]:
                j += 1
                continue
            start = j
            while j + 1 <= n and ok[j + 1]:
                j += 1
            lo, hi = start / n, j / n
            if start > 0:  # crossing inside segment (start-1, start), curve rising
                a, b = c[start - 1], c[start]
                lo = (start - 1 + (quality_min - a) / (b - a)) / n
            if j < n:  # crossing inside segment (j, j+1), curve falling
                a, b = c[j], c[j + 1]
                hi = (j + (a - quality_min) / (a - b)) / n
            out.append((self._inward(lo, hi, quality_min, True), self._inward(lo, hi, quality_min, False)))
            j += 1
        return out

    def _inward(self, lo: float, hi: float, quality_min: float, low_end: bool) -> float:
        """Nudge an interpolated crossing inward until rounding cannot put it below target."""
        x = lo if low_end else hi
        for _ in range(NUDGE_STEPS):
            if self.quality([1.0 - x, x]) >= quality_min - TARGET_TOL:
                return x
            x = min(x + QUALITY_TOL + TARGET_TOL * (hi - lo), hi) if low_end else max(x - QUALITY_TOL - TARGET_TOL * (hi - lo), lo)
        return x

    def best_share_in(self, lo: float, hi: float) -> float:
        """The strong share in ``[lo, hi]`` with the highest quality (two models; the
        largest such share on ties: more load on the stronger model costs no quality)."""
        self._need2()
        n = self.n
        cand = [lo, hi] + [j / n for j in range(int(math.ceil(lo * n)), int(math.floor(hi * n)) + 1)]
        qs = [self.quality([1.0 - x, x]) for x in cand]
        best = max(qs)
        return max(x for x, q in zip(cand, qs) if q >= best - QUALITY_TOL)

    def _line(self, prefix, x: float) -> np.ndarray:
        """Shares with the first ``k - 2`` fixed at ``prefix`` and ``x`` on the strongest."""
        rest = 1.0 - float(np.sum(prefix))
        return np.concatenate([np.asarray(prefix, dtype=float), [max(rest - x, 0.0), x]])

    def line_points(self, prefix) -> tuple[np.ndarray, np.ndarray]:
        """The strongest model's shares ``x`` in ``[0, 1 - sum(prefix)]`` at which the last
        cut point sits on a query boundary (plus both ends), and the quality there: with
        the first ``k - 2`` shares fixed, quality is linear in ``x`` between these points."""
        n = self.n
        rest = 1.0 - float(np.sum(prefix))
        j_lo = int(math.ceil(n * (1.0 - rest) - SHARE_TOL))
        xs = sorted({0.0, max(rest, 0.0)} | {1.0 - j / n for j in range(j_lo, n + 1) if 1.0 - j / n <= rest + QUALITY_TOL})
        xs = np.array([min(max(x, 0.0), rest) for x in xs])
        return xs, np.array([self.quality(self._line(prefix, x)) for x in xs])

    def line_intervals(self, prefix, quality_min: float | None) -> list[tuple[float, float]]:
        """:meth:`quality_intervals` along a line: the strongest model's shares meeting
        ``quality_min`` when the first ``k - 2`` shares are fixed at ``prefix`` and the rest
        is split between the last two models (exact, the same argument)."""
        rest = 1.0 - float(np.sum(prefix))
        if quality_min is None:
            return [(0.0, rest)]
        xs, qs = self.line_points(prefix)
        ok = qs >= quality_min - QUALITY_TOL
        out, i = [], 0
        while i < len(xs):
            if not ok[i]:
                i += 1
                continue
            start = i
            while i + 1 < len(xs) and ok[i + 1]:
                i += 1
            lo, hi = xs[start], xs[i]
            if start > 0:
                a, b = qs[start - 1], qs[start]
                lo = xs[start - 1] + (quality_min - a) / (b - a) * (xs[start] - xs[start - 1])
            if i + 1 < len(xs):
                a, b = qs[i], qs[i + 1]
                hi = xs[i] + (a - quality_min) / (a - b) * (xs[i + 1] - xs[i])
            out.append((self._line_inward(prefix, lo, hi, quality_min, True), self._line_inward(prefix, lo, hi, quality_min, False)))
            i += 1
        return out

    def _line_inward(self, prefix, lo: float, hi: float, quality_min: float, low_end: bool) -> float:
        x = lo if low_end else hi
        for _ in range(NUDGE_STEPS):
            if self.quality(self._line(prefix, x)) >= quality_min - TARGET_TOL:
                return float(x)
            x = min(x + QUALITY_TOL + TARGET_TOL * (hi - lo), hi) if low_end else max(x - QUALITY_TOL - TARGET_TOL * (hi - lo), lo)
        return float(x)

    def best_on_line(self, prefix, lo: float, hi: float) -> float:
        """The strongest model's share in ``[lo, hi]`` (first shares fixed at ``prefix``)
        with the highest quality; the largest on ties."""
        xs, _ = self.line_points(prefix)
        cand = [lo, hi] + [x for x in xs if lo <= x <= hi]
        qs = [self.quality(self._line(prefix, x)) for x in cand]
        best = max(qs)
        return float(max(x for x, q in zip(cand, qs) if q >= best - QUALITY_TOL))

    def sub_router(self, models: tuple[str, ...]) -> "Router":
        """The same score order over a subset of the models (their quality columns)."""
        return Router(self.table.select(models), self.scores, self.name)

    def max_weak_share(self, quality_min: float | None) -> float:
        """An upper bound on the cheapest model's share (the first stick coordinate) for
        any routing meeting ``quality_min``, for every ``k``: with the lowest-scored
        ``u n`` queries on the cheapest model, quality is at most what the rest would
        score if each went to its best other model; the bound is the largest ``u`` whose
        optimistic quality meets the target (exact for two models). -1 when none does."""
        if quality_min is None:
            return 1.0
        q = self.table.quality[np.argsort(self.scores, kind="mergesort")]
        best_rest = q[:, 1:].max(axis=1) if self.k > 1 else q[:, 0]
        rest_cum = np.concatenate([[0.0], np.cumsum(best_rest)])
        j = np.arange(self.n + 1)
        ub = (self.cum[j, 0] + rest_cum[-1] - rest_cum[j]) / self.n
        ok = np.nonzero(ub >= quality_min - QUALITY_TOL)[0]
        if len(ok) == 0:
            return -1.0
        top = int(ok[-1])
        if top == self.n:
            return 1.0
        a, b = ub[top], ub[top + 1]  # falling through the target inside (top, top + 1)
        frac = 0.0 if a == b else (a - quality_min) / (a - b)
        return float((top + min(max(frac, 0.0), 1.0)) / self.n)

    def max_quality(self) -> float:
        """The best quality any share vector reaches (two models: over the curve)."""
        if self.k == 2:
            return float(self._curve2.max())
        return float(self.table.quality.max(axis=1).mean()) if self.name == "oracle" else float(self.table.mean().max())

    def _need2(self) -> None:
        if self.k != 2:
            raise InputError(f"router: this needs exactly two models, have {self.k}", hint="use quality(shares) for k >= 3")


def _check_shares(shares, k: int) -> np.ndarray:
    s = np.asarray(shares, dtype=float)
    if s.shape != (k,) or np.any(s < -SHARE_TOL) or abs(s.sum() - 1.0) > SHARE_SUM_TOL:
        raise InputError(f"shares: {list(np.round(s, 6))} must be {k} non-negative numbers summing to 1", hint="a point on the simplex")
    return np.clip(s, 0.0, 1.0)


def shares_from_sticks(u) -> np.ndarray:
    """Stick-breaking: ``k - 1`` coordinates in [0, 1] -> ``k`` shares on the simplex."""
    u = np.asarray(u, dtype=float)
    if np.any(u < 0) or np.any(u > 1):
        raise InputError(f"stick coordinates {list(u)} must lie in [0, 1]", hint="each is a fraction of what is left")
    out, rest = [], 1.0
    for v in u:
        out.append(rest * v)
        rest -= rest * v
    out.append(rest)
    return np.array(out)


def sticks_from_shares(s) -> np.ndarray:
    """Inverse of :func:`shares_from_sticks` (a coordinate is 0 where nothing is left)."""
    s = _check_shares(s, len(np.asarray(s)))
    out, rest = [], 1.0
    for v in s[:-1]:
        out.append(0.0 if rest <= QUALITY_TOL else min(v / rest, 1.0))
        rest -= v
    return np.array(out)


# ----------------------------------------------------------------------------- scores
def oracle_scores(table: QualityTable, rng: np.random.Generator) -> np.ndarray:
    """Benefit of the strongest over the cheapest model; ties broken by a tiny jitter."""
    q = table.quality
    benefit = q[:, -1] - q[:, 0]
    if table.quality.shape[1] > 2:  # reward gains at every step up the ladder
        benefit = benefit + LADDER_WEIGHT * (q[:, 1:] - q[:, :-1]).clip(min=0).sum(axis=1) / q.shape[1]
    return benefit + TIE_JITTER * rng.random(len(benefit))


def make_router(table: QualityTable, kind: str = "oracle", *, auc_target: float = 0.8, seed: int = 0) -> Router:
    """Build a router: ``oracle``, ``random``, ``noisy`` (oracle + noise at ``auc_target``) or ``file``."""
    rng = np.random.default_rng(seed)
    if kind == "oracle":
        return Router(table, oracle_scores(table, rng), "oracle")
    if kind == "random":
        return Router(table, rng.random(table.n), "random")
    if kind == "file":
        if table.scores is None:
            raise InputError(
                "quality.router: 'file' needs router scores in the quality data", hint="add a 'score' column, or use oracle/noisy"
            )
        return Router(table, table.scores, "file")
    if kind == "noisy":
        base = oracle_scores(table, rng)
        benefit = table.quality[:, -1] - table.quality[:, 0]
        positive = benefit > 0
        z = rng.standard_normal(table.n)
        spread = float(np.std(base)) or 1.0
        # Bisection on the noise scale for the target AUC (same noise draw: monotone).
        lo, hi = 0.0, NOISE_SCALE_MAX
        for _ in range(BISECTION_STEPS):
            mid = (lo + hi) / 2
            if auc(base + mid * spread * z, positive) > auc_target:
                lo = mid
            else:
                hi = mid
        sc = base + lo * spread * z
        return Router(table, sc, f"noisy AUC {auc(sc, positive):.2f}")
    raise InputError(f"quality.router: unknown router {kind!r}", hint="use oracle, random, noisy or file")
