"""Quality-aware routing: per-query quality data, routers and the load-fraction encoding.

A routing policy is a point on the simplex of load shares ``s`` (one per model, cheapest
first). Queries are ordered by a router score (higher: more benefit from a stronger
model); the lowest ``s_1`` fraction goes to model 1, the next ``s_2`` to model 2, and so
on: score bands with ``k - 1`` cut points, which for two models is RouteLLM's threshold
router. Shares map to thresholds by score quantiles exactly, and ``quality(s)`` is
the mean per-query quality of the assigned models, computed from prefix sums over the
score order (fractional boundaries interpolate linearly, so the curve is continuous).

The optimiser sees stick-breaking coordinates ``u`` in ``[0, 1]^(k-1)``:
``s_1 = u_1, s_j = u_j * (1 - s_1 - ... - s_(j-1)), s_k = rest``.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import pathlib
from statistics import NormalDist

import attrs
import numpy as np

from boute.engine.errors import InputError

__all__ = [
    "QualityTable",
    "Router",
    "load_routellm_gsm8k",
    "load_routellm_mt_bench",
    "load_quality_file",
    "calibrated_gsm8k",
    "calibrated_mt_bench",
    "shares_from_sticks",
    "sticks_from_shares",
    "make_router",
    "auc",
]

PACKAGE_DATA = "data"
"""Folder inside boute.engine with the derived RouteLLM routing data (see its README.md)."""


@attrs.frozen(kw_only=True)
class QualityTable:
    """Per-query quality of each model (columns cheapest first) and optional router scores."""

    models: tuple[str, ...]
    quality: np.ndarray = attrs.field(eq=False)
    """Shape (queries, models): correctness in percent (0 or 100) or a judge score."""
    unit: str
    """``accuracy %`` or ``judge score (1-10)``."""
    scores: np.ndarray | None = attrs.field(default=None, eq=False)
    """Router scores per query from a file (higher: route to a stronger model)."""
    source: str = ""

    def __attrs_post_init__(self) -> None:
        q = self.quality
        if q.ndim != 2 or q.shape[1] != len(self.models) or q.shape[0] < 2:
            raise InputError(
                f"quality data: shape {q.shape} does not match {len(self.models)} models with >= 2 queries",
                hint="one row per query, one column per model",
            )
        if self.scores is not None and self.scores.shape != (q.shape[0],):
            raise InputError("quality data: router scores must have one value per query", hint="check the score column")
        if not np.all(np.isfinite(q)):
            raise InputError("quality data: every quality figure must be a finite number", hint="drop or fix NaN/inf cells")
        if self.scores is not None and not np.all(np.isfinite(self.scores)):
            raise InputError("quality data: every router score must be a finite number", hint="drop or fix NaN/inf scores")

    @property
    def n(self) -> int:
        return int(self.quality.shape[0])

    def mean(self) -> np.ndarray:
        """Each model's mean quality over all queries."""
        return self.quality.mean(axis=0)

    def select(self, models: tuple[str, ...]) -> "QualityTable":
        """The table restricted to ``models`` in that order."""
        idx = []
        for m in models:
            if m not in self.models:
                raise InputError(
                    f"quality data: has no column for model {m!r} (it has {', '.join(self.models)})",
                    hint="use quality data that covers every candidate model, or the calibrated generator",
                )
            idx.append(self.models.index(m))
        return attrs.evolve(self, models=tuple(models), quality=self.quality[:, idx])


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = scores[positive], scores[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return 0.5
    allv = np.concatenate([pos, neg])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(len(allv))
    sorted_v = allv[order]
    # average ranks for ties
    _, start, counts = np.unique(sorted_v, return_index=True, return_counts=True)
    avg = start + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


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
            if q > best_q + 1e-12:
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
        ok = np.nonzero(c >= quality_min - 1e-12)[0]
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
        ``x`` satisfies ``quality([1 - x, x]) >= quality_min - 1e-9``."""
        self._need2()
        if quality_min is None:
            return [(0.0, 1.0)]
        c, n = self._curve2, self.n
        ok = c >= quality_min - 1e-12
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
        for _ in range(60):
            if self.quality([1.0 - x, x]) >= quality_min - 1e-9:
                return x
            x = min(x + 1e-12 + 1e-9 * (hi - lo), hi) if low_end else max(x - 1e-12 - 1e-9 * (hi - lo), lo)
        return x

    def best_share_in(self, lo: float, hi: float) -> float:
        """The strong share in ``[lo, hi]`` with the highest quality (two models; the
        largest such share on ties: more load on the stronger model costs no quality)."""
        self._need2()
        n = self.n
        cand = [lo, hi] + [j / n for j in range(int(math.ceil(lo * n)), int(math.floor(hi * n)) + 1)]
        qs = [self.quality([1.0 - x, x]) for x in cand]
        best = max(qs)
        return max(x for x, q in zip(cand, qs) if q >= best - 1e-12)

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
        j_lo = int(math.ceil(n * (1.0 - rest) - 1e-9))
        xs = sorted({0.0, max(rest, 0.0)} | {1.0 - j / n for j in range(j_lo, n + 1) if 1.0 - j / n <= rest + 1e-12})
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
        ok = qs >= quality_min - 1e-12
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
        for _ in range(60):
            if self.quality(self._line(prefix, x)) >= quality_min - 1e-9:
                return float(x)
            x = min(x + 1e-12 + 1e-9 * (hi - lo), hi) if low_end else max(x - 1e-12 - 1e-9 * (hi - lo), lo)
        return float(x)

    def best_on_line(self, prefix, lo: float, hi: float) -> float:
        """The strongest model's share in ``[lo, hi]`` (first shares fixed at ``prefix``)
        with the highest quality; the largest on ties."""
        xs, _ = self.line_points(prefix)
        cand = [lo, hi] + [x for x in xs if lo <= x <= hi]
        qs = [self.quality(self._line(prefix, x)) for x in cand]
        best = max(qs)
        return float(max(x for x, q in zip(cand, qs) if q >= best - 1e-12))

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
        ok = np.nonzero(ub >= quality_min - 1e-12)[0]
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
    if s.shape != (k,) or np.any(s < -1e-9) or abs(s.sum() - 1.0) > 1e-6:
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
        out.append(0.0 if rest <= 1e-12 else min(v / rest, 1.0))
        rest -= v
    return np.array(out)


# ----------------------------------------------------------------------------- scores
def oracle_scores(table: QualityTable, rng: np.random.Generator) -> np.ndarray:
    """Benefit of the strongest over the cheapest model; ties broken by a tiny jitter."""
    q = table.quality
    benefit = q[:, -1] - q[:, 0]
    if table.quality.shape[1] > 2:  # reward gains at every step up the ladder
        benefit = benefit + 0.5 * (q[:, 1:] - q[:, :-1]).clip(min=0).sum(axis=1) / q.shape[1]
    return benefit + 1e-6 * rng.random(len(benefit))


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
        lo, hi = 0.0, 1e3
        for _ in range(60):
            mid = (lo + hi) / 2
            if auc(base + mid * spread * z, positive) > auc_target:
                lo = mid
            else:
                hi = mid
        sc = base + lo * spread * z
        return Router(table, sc, f"noisy AUC {auc(sc, positive):.2f}")
    raise InputError(f"quality.router: unknown router {kind!r}", hint="use oracle, random, noisy or file")


# ----------------------------------------------------------------------------- loaders
def load_routellm_gsm8k(path: str | pathlib.Path | None = None) -> QualityTable:
    """RouteLLM's GSM8K correctness per question and model: the copy shipped with boute
    (derived, no text) by default, or RouteLLM's own CSV (``prompt``, one True/False column
    per model, responses) at ``path``."""
    if path is None:
        return _builtin_gsm8k()
    p = pathlib.Path(path)
    if not p.is_file():
        raise InputError(
            f"quality.data: {str(p)!r} not found", hint="give the path of RouteLLM's own file, or none for the copy shipped with boute"
        )
    with p.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    cols = [c for c in rows[0] if c != "prompt" and {r[c] for r in rows[:50]} <= {"True", "False"}]
    q = np.array([[100.0 if r[c] == "True" else 0.0 for c in cols] for r in rows])
    order = np.argsort(q.mean(axis=0))  # weakest first
    return QualityTable(
        models=tuple(cols[i] for i in order),
        quality=q[:, order],
        unit="accuracy %",
        source=f"RouteLLM gsm8k_responses.csv ({len(rows)} questions)",
    )


def load_routellm_mt_bench(path: str | pathlib.Path | None = None) -> QualityTable:
    """RouteLLM's MT-Bench judgements JSONL: one judge score (1-10) per question, turn and model.
    A query is a (question, turn) pair. Default: the copy shipped with boute (scores only);
    ``path``: RouteLLM's own judgements.jsonl."""
    if path is None:
        return _builtin_mt_bench()
    p = pathlib.Path(path)
    if not p.is_file():
        raise InputError(
            f"quality.data: {str(p)!r} not found", hint="give the path of RouteLLM's own file, or none for the copy shipped with boute"
        )
    table: dict[tuple, dict[str, float]] = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        table.setdefault((r["question_id"], r["turn"]), {})[r["model"]] = float(r["score"])
    models = sorted({m for v in table.values() for m in v})
    keys = sorted(k for k, v in table.items() if len(v) == len(models))
    q = np.array([[table[k][m] for m in models] for k in keys])
    order = np.argsort(q.mean(axis=0))
    return QualityTable(
        models=tuple(models[i] for i in order),
        quality=q[:, order],
        unit="judge score (1-10)",
        source=f"RouteLLM mt_bench judgements ({len(keys)} question-turns)",
    )


def _package_rows(name: str) -> list[dict[str, str]]:
    from importlib.resources import files

    text = files("boute.engine").joinpath(PACKAGE_DATA, name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _builtin_gsm8k() -> QualityTable:
    rows = _package_rows("routellm_gsm8k.csv")
    cols = [c for c in rows[0] if c not in ("question", "prompt_sha256")]
    q = np.array([[100.0 * int(r[c]) for c in cols] for r in rows])
    order = np.argsort(q.mean(axis=0))  # weakest first
    return QualityTable(
        models=tuple(cols[i] for i in order),
        quality=q[:, order],
        unit="accuracy %",
        source=f"RouteLLM gsm8k_responses.csv ({len(rows)} questions; lm-sys/RouteLLM 0b64fdaf, shipped derived)",
    )


def _builtin_mt_bench() -> QualityTable:
    table: dict[tuple, dict[str, float]] = {}
    for r in _package_rows("routellm_mt_bench.csv"):
        table.setdefault((int(r["question_id"]), int(r["turn"])), {})[r["model"]] = float(r["score"])
    models = sorted({m for v in table.values() for m in v})
    keys = sorted(k for k, v in table.items() if len(v) == len(models))
    q = np.array([[table[k][m] for m in models] for k in keys])
    order = np.argsort(q.mean(axis=0))
    return QualityTable(
        models=tuple(models[i] for i in order),
        quality=q[:, order],
        unit="judge score (1-10)",
        source=f"RouteLLM mt_bench judgements ({len(keys)} question-turns; lm-sys/RouteLLM 0b64fdaf, shipped derived)",
    )


MAX_SCORE_ABS = 1e12
"""Bound on a router score's magnitude: score thresholds interpolate between neighbours,
which stays finite and ordered far inside float64's range."""


def load_quality_file(path: str | pathlib.Path, models: tuple[str, ...] | None = None) -> QualityTable:
    """A plain CSV or JSONL: one row per query, one numeric column per model (named as
    the catalog's model), optional ``score`` column (router score); correctness given as
    0/1 or True/False becomes percent.

    The file must be UTF-8; every JSONL line a JSON object; every quality cell a finite
    number of magnitude at most ``MAX_QUALITY_ABS`` (1e6) and every score a finite
    number of magnitude at most :data:`MAX_SCORE_ABS`. A bad cell raises
    :class:`InputError` naming its row and column.
    """
    from boute.engine.scenario import MAX_QUALITY_ABS

    p = pathlib.Path(path)
    if not p.is_file():
        raise InputError(f"quality.data: {str(p)!r} not found", hint="give a CSV or JSONL path")
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"quality.data: {p.name} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})",
            hint="save the file as UTF-8",
        ) from None
    except OSError as exc:
        raise InputError(f"quality.data: cannot read {str(p)!r}: {exc.strerror}", hint="check the path and its permissions") from None
    rows: list[dict] = []
    if p.suffix.lower() == ".jsonl":
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError as exc:
                raise InputError(f"quality.data: {p.name} line {n} is not valid JSON: {exc.msg}", hint="one JSON object per line") from None
            if not isinstance(r, dict) or not all(isinstance(k, str) for k in r):
                raise InputError(
                    f"quality.data: {p.name} line {n} is a {type(r).__name__}, not a JSON object",
                    hint='one object per line, e.g. {"Llama-3.1-8B": 1, "Llama-3.1-70B": 1}',
                )
            rows.append(r)
    else:
        try:
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise InputError(f"quality.data: {p.name} is not a valid CSV: {exc}", hint="one row per query, one column per model") from None
    if not rows:
        raise InputError(f"quality.data: {p.name} has no rows", hint="one row per query")
    cols = [c for c in rows[0] if c not in ("score", "prompt", "query", "id")]
    if models is not None:
        cols = list(models)
    if any(c is None or not str(c).strip() for c in cols):
        raise InputError(f"quality.data: {p.name} has a column without a name", hint="name every column after a model (or score)")

    def num(v, c, i, bound):
        if isinstance(v, bool) or v in ("True", "False", "true", "false"):
            return 100.0 if str(v).lower() == "true" else 0.0
        try:
            x = float(v) if isinstance(v, (int, float, str)) else None
        except (ValueError, OverflowError):
            x = None
        if x is None or not math.isfinite(x) or abs(x) > bound:
            raise InputError(
                f"quality.data: {p.name} row {i + 1} column {c!r} = {v!r} is not a finite number of magnitude <= {bound:g}",
                hint="use 0/1, True/False or a score",
            ) from None
        return x

    try:
        q = np.array([[num(r[c], c, i, MAX_QUALITY_ABS) for c in cols] for i, r in enumerate(rows)], dtype=float)
        scores = None
        if "score" in rows[0]:
            scores = np.array([num(r["score"], "score", i, MAX_SCORE_ABS) for i, r in enumerate(rows)], dtype=float)
    except KeyError as exc:
        raise InputError(
            f"quality.data: {p.name} has no column {exc.args[0]!r} in some row", hint=f"columns: {', '.join(map(str, rows[0]))}"
        ) from None
    binary = bool(np.isin(q, (0.0, 1.0)).all())
    if binary:
        q = q * 100.0
    return QualityTable(
        models=tuple(cols),
        quality=q,
        unit="accuracy %" if binary or q.max() > 10 else "judge score (1-10)",
        scores=scores,
        source=f"file {p.name}",
    )


# ----------------------------------------------------------------------------- generators
def _copula_correct(acc: np.ndarray, rho: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Correctness for models with accuracies ``acc`` sharing a latent difficulty (Gaussian
    copula with correlation ``rho``): query i is right for model m iff
    rho z_i + sqrt(1 - rho^2) e_im < Phi^-1(acc_m)."""
    z = rng.standard_normal(n)[:, None]
    e = rng.standard_normal((n, len(acc)))
    lat = rho * z + math.sqrt(1 - rho * rho) * e
    thr = np.array([NormalDist().inv_cdf(a) for a in acc])
    return lat < thr


def calibrated_gsm8k(
    models: tuple[str, ...], accuracies: tuple[float, ...], *, n: int = 4000, seed: int = 0, weak_right_given_strong_wrong: float = 95 / 189
) -> QualityTable:
    """Synthetic per-query correctness reproducing published accuracies and a realistic joint.

    Item-response style: one latent difficulty per query shared by all models (Gaussian
    copula). Its correlation is chosen so that, where the strongest model is wrong, the
    weakest is right as often as in RouteLLM's real GSM8K labels (95 of 189 questions,
    50.3 %). Accuracies are matched exactly by adjusting the per-model threshold on the
    drawn sample. Documented as synthetic.
    """
    acc = np.asarray(accuracies, dtype=float) / 100.0
    rng_seed = np.random.SeedSequence(seed)

    def cond(rho: float) -> float:
        c = _copula_correct(acc, rho, n, np.random.default_rng(rng_seed))
        wrong_strong = ~c[:, -1]
        return float(c[wrong_strong, 0].mean()) if wrong_strong.any() else 1.0

    lo, hi = 0.0, 0.99
    for _ in range(30):  # P(weak right | strong wrong) falls as rho rises
        mid = (lo + hi) / 2
        if cond(mid) > weak_right_given_strong_wrong:
            lo = mid
        else:
            hi = mid
    rho = (lo + hi) / 2
    rng = np.random.default_rng(rng_seed)
    z = rng.standard_normal(n)[:, None]
    e = rng.standard_normal((n, len(acc)))
    lat = rho * z + math.sqrt(1 - rho * rho) * e
    # exact accuracies on the sample: the acc_m quantile of each latent column
    correct = np.zeros_like(lat, dtype=bool)
    for m, a in enumerate(acc):
        k = int(round(a * n))
        idx = np.argsort(lat[:, m], kind="mergesort")[:k]
        correct[idx, m] = True
    return QualityTable(
        models=tuple(models),
        quality=correct * 100.0,
        unit="accuracy %",
        source=f"calibrated synthetic GSM8K (n={n}, seed={seed}, copula rho={rho:.3f}) reproducing "
        + ", ".join(f"{m} {a * 100:.1f} %" for m, a in zip(models, acc)),
    )


def calibrated_mt_bench(
    models: tuple[str, ...], means: tuple[float, ...], *, n: int = 2000, seed: int = 0, rho: float = 0.6, sd: float = 1.8
) -> QualityTable:
    """Synthetic judge scores (integers 1-10) with the given means and a shared latent
    query difficulty (correlation ``rho``; per-model spread ``sd``, about MT-Bench's)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)[:, None]
    e = rng.standard_normal((n, len(means)))
    lat = rho * z + math.sqrt(1 - rho * rho) * e
    out = np.empty_like(lat)
    for m, mu in enumerate(means):
        col = lat[:, m] * sd
        # shift so the rounded, clipped scores have the target mean (bisection)
        lo, hi = -10.0, 20.0
        for _ in range(50):
            mid = (lo + hi) / 2
            if np.clip(np.rint(col + mid), 1, 10).mean() < mu:
                lo = mid
            else:
                hi = mid
        out[:, m] = np.clip(np.rint(col + (lo + hi) / 2), 1, 10)
    return QualityTable(
        models=tuple(models),
        quality=out,
        unit="judge score (1-10)",
        source=f"calibrated synthetic MT-Bench scores (n={n}, seed={seed}, means {means})",
    )
