"""Quality data: per-query quality tables, their loaders and calibrated synthetic generators.

A :class:`QualityTable` holds one row per query and one column per model (cheapest
first): correctness in percent or a judge score, with optional router scores from the
file. It comes from RouteLLM's GSM8K / MT-Bench labels (a derived copy ships with boute),
from a user CSV/JSONL (:func:`load_quality_file`), or from a generator that reproduces
published accuracies (:func:`calibrated_gsm8k`, :func:`calibrated_mt_bench`).
:func:`auc` measures how well router scores separate queries that gain from a stronger
model. The router over these tables lives in :mod:`boute.engine.routing`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import pathlib
from statistics import NormalDist

import attrs
import numpy as np

from boute.engine.errors import InputError, read_utf8_text

__all__ = [
    "QualityTable",
    "auc",
    "load_routellm_gsm8k",
    "load_routellm_mt_bench",
    "load_quality_file",
    "calibrated_gsm8k",
    "calibrated_mt_bench",
    "MAX_SCORE_ABS",
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
        """Number of queries (rows)."""
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


# ----------------------------------------------------------------------------- loaders
GSM8K_UNIT = "accuracy %"
MT_BENCH_UNIT = "judge score (1-10)"


def load_routellm_gsm8k(path: str | pathlib.Path | None = None) -> QualityTable:
    """RouteLLM's GSM8K correctness per question and model: the copy shipped with boute
    (derived, no text) by default, or RouteLLM's own CSV (``prompt``, one True/False column
    per model, responses) at ``path``."""
    if path is None:
        rows = _package_rows("routellm_gsm8k.csv")
        cols = [c for c in rows[0] if c not in ("question", "prompt_sha256")]
        q = np.array([[100.0 * int(r[c]) for c in cols] for r in rows])
        src = f"RouteLLM gsm8k_responses.csv ({len(rows)} questions; lm-sys/RouteLLM 0b64fdaf, shipped derived)"
        return _weakest_first(cols, q, GSM8K_UNIT, src)
    p = _routellm_file(path)
    with p.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    cols = [c for c in rows[0] if c != "prompt" and {r[c] for r in rows[:50]} <= {"True", "False"}]
    q = np.array([[100.0 if r[c] == "True" else 0.0 for c in cols] for r in rows])
    return _weakest_first(cols, q, GSM8K_UNIT, f"RouteLLM gsm8k_responses.csv ({len(rows)} questions)")


def load_routellm_mt_bench(path: str | pathlib.Path | None = None) -> QualityTable:
    """RouteLLM's MT-Bench judgements JSONL: one judge score (1-10) per question, turn and model.
    A query is a (question, turn) pair. Default: the copy shipped with boute (scores only);
    ``path``: RouteLLM's own judgements.jsonl."""
    table: dict[tuple, dict[str, float]] = {}
    if path is None:
        for r in _package_rows("routellm_mt_bench.csv"):
            table.setdefault((int(r["question_id"]), int(r["turn"])), {})[r["model"]] = float(r["score"])
        return _judgements(table, "RouteLLM mt_bench judgements ({n} question-turns; lm-sys/RouteLLM 0b64fdaf, shipped derived)")
    for line in _routellm_file(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        table.setdefault((r["question_id"], r["turn"]), {})[r["model"]] = float(r["score"])
    return _judgements(table, "RouteLLM mt_bench judgements ({n} question-turns)")


def _routellm_file(path: str | pathlib.Path) -> pathlib.Path:
    p = pathlib.Path(path)
    if not p.is_file():
        raise InputError(
            f"quality.data: {str(p)!r} not found", hint="give the path of RouteLLM's own file, or none for the copy shipped with boute"
        )
    return p


def _weakest_first(models, q: np.ndarray, unit: str, source: str) -> QualityTable:
    """A table with its columns ordered by mean quality, weakest (cheapest) first."""
    order = np.argsort(q.mean(axis=0))
    return QualityTable(models=tuple(models[i] for i in order), quality=q[:, order], unit=unit, source=source)


def _judgements(table: dict[tuple, dict[str, float]], source: str) -> QualityTable:
    """Judge scores keyed by (question, turn) -> model, keeping the queries every model answered."""
    models = sorted({m for v in table.values() for m in v})
    keys = sorted(k for k, v in table.items() if len(v) == len(models))
    q = np.array([[table[k][m] for m in models] for k in keys])
    return _weakest_first(models, q, MT_BENCH_UNIT, source.format(n=len(keys)))


def _package_rows(name: str) -> list[dict[str, str]]:
    from importlib.resources import files

    text = files("boute.engine").joinpath(PACKAGE_DATA, name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


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
    text = read_utf8_text(p, "quality.data")
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


RHO_MAX = 0.99
"""Upper end of the copula correlation searched: below 1, so each model keeps its own
noise (sqrt(1 - rho^2) > 0)."""
RHO_BISECTION_STEPS = 30
"""Halvings of [0, RHO_MAX] (to ~1e-9 in rho, far below the sampling error of the
conditional rate it matches)."""
SHIFT_BISECTION_STEPS = 50
"""Halvings of the judge-score shift range MT_BENCH_SHIFT_RANGE (30 / 2^50 ~ 3e-14)."""
MT_BENCH_SHIFT_RANGE = (-10.0, 20.0)
"""Shifts of the latent score searched: wide enough to move a 1-10 score to either end."""
MT_BENCH_RHO = 0.6
"""Correlation of the models' judge scores: 0.594 between the two models of RouteLLM's
MT-Bench judgements shipped with boute (160 question-turns; lm-sys/RouteLLM 0b64fdaf)."""
MT_BENCH_SD = 1.8
"""Latent spread of a judge score before rounding and clipping to 1-10: assumed, not
fitted (the shipped RouteLLM judgements' clipped scores have SD 2.0 and 2.7)."""


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

    lo, hi = 0.0, RHO_MAX
    for _ in range(RHO_BISECTION_STEPS):  # P(weak right | strong wrong) falls as rho rises
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
    models: tuple[str, ...], means: tuple[float, ...], *, n: int = 2000, seed: int = 0, rho: float = MT_BENCH_RHO, sd: float = MT_BENCH_SD
) -> QualityTable:
    """Synthetic judge scores (integers 1-10) with the given means and a shared latent
    query difficulty (correlation ``rho``, :data:`MT_BENCH_RHO`; per-model latent spread
    ``sd``, :data:`MT_BENCH_SD`)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)[:, None]
    e = rng.standard_normal((n, len(means)))
    lat = rho * z + math.sqrt(1 - rho * rho) * e
    out = np.empty_like(lat)
    for m, mu in enumerate(means):
        col = lat[:, m] * sd
        # shift so the rounded, clipped scores have the target mean (bisection)
        lo, hi = MT_BENCH_SHIFT_RANGE
        for _ in range(SHIFT_BISECTION_STEPS):
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
