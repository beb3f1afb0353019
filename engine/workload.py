"""Workloads: an arrival process and prompt/output length distributions, each sourced.

A :class:`Workload` draws a reproducible request stream (arrival times, prompt and
output tokens) for a given total arrival rate and seed. Lengths come from a quantile
table (piecewise-linear inverse CDF) or a lognormal fitted to a mean and a high
quantile; arrivals are Poisson, gamma-distributed (bursty, with a chosen coefficient
of variation) or a replay of a trace's timestamps rescaled to the requested rate.
"""

from __future__ import annotations

import csv
import datetime
import io
import math
import pathlib

import attrs
import numpy as np

from boute.engine.errors import InputError, did_you_mean, read_utf8_text

__all__ = ["Workload", "LengthDist", "RequestStream", "builtin_workloads", "get_workload", "load_azure_trace", "MAX_TOKENS_PER_REQUEST"]

ARRIVALS = ("poisson", "gamma", "trace")


@attrs.frozen(kw_only=True)
class LengthDist:
    """A token-length distribution: a quantile table, or a lognormal (mean, p95)."""

    quantiles: tuple[float, ...] = ()
    """Values at evenly spaced probabilities 0..1 (inverse CDF knots); empty for lognormal."""
    mean_tokens: float = 0.0
    p95_tokens: float = 0.0
    min_tokens: int = 1
    max_tokens: int = 1_000_000

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` whole token counts drawn from the distribution, clipped to [min_tokens, max_tokens]."""
        if self.quantiles:
            knots = np.asarray(self.quantiles, dtype=float)
            u = rng.random(n)
            x = np.interp(u, np.linspace(0, 1, len(knots)), knots)
        else:
            # lognormal with the given mean and 95th percentile: mean = exp(mu + s^2/2),
            # p95 = exp(mu + 1.6449 s)  ->  s^2/2 - 1.6449 s + ln(p95/mean) = 0 (smaller root).
            z = 1.6448536269514722
            disc = z * z - 2 * math.log(self.p95_tokens / self.mean_tokens)
            s = z - math.sqrt(max(disc, 0.0))
            mu = math.log(self.mean_tokens) - s * s / 2
            x = rng.lognormal(mu, s, n)
        return np.clip(np.rint(x), self.min_tokens, self.max_tokens).astype(np.int64)

    def mean(self) -> float:
        """The distribution's mean token count."""
        if self.quantiles:
            q = np.asarray(self.quantiles, dtype=float)
            return float(np.mean((q[1:] + q[:-1]) / 2))
        return self.mean_tokens

    def high(self) -> int:
        """A length no request exceeds (used as the replica's max_model_len)."""
        if self.quantiles:
            return int(min(self.max_tokens, math.ceil(max(self.quantiles))))
        return int(self.max_tokens)


@attrs.frozen(kw_only=True)
class RequestStream:
    """A concrete request stream: one row per request, sorted by arrival."""

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray

    def __len__(self) -> int:
        return len(self.arrival_s)


@attrs.frozen(kw_only=True)
class Workload:
    """A named workload: arrivals and lengths, with where its figures come from."""

    name: str
    prompt: LengthDist
    output: LengthDist
    arrival: str = "poisson"
    """``poisson``, ``gamma`` (bursty; set ``arrival_cv``) or ``trace``."""
    arrival_cv: float = 1.0
    """Coefficient of variation of inter-arrival times for ``gamma``."""
    trace_interarrivals_s: tuple[float, ...] = ()
    """For ``trace``: the trace's inter-arrival gaps (rescaled to the requested rate)."""
    default_rate_per_s: float = 1.0
    source: str = ""

    def __attrs_post_init__(self) -> None:
        if self.arrival not in ARRIVALS:
            raise InputError(f"workload.arrival: unknown arrival process {self.arrival!r}", hint=did_you_mean(self.arrival, ARRIVALS))
        if not self.arrival_cv > 0:
            raise InputError(f"workload.arrival_cv: {self.arrival_cv!r} must be > 0", hint="1.0 is Poisson; >1 is bursty")
        if self.arrival == "trace" and len(self.trace_interarrivals_s) < 2:
            raise InputError("workload: a 'trace' arrival needs the trace's timestamps", hint="load it with load_azure_trace()")

    @property
    def max_model_len(self) -> int:
        """The longest request the workload can send: the highest prompt plus the highest output."""
        return self.prompt.high() + self.output.high()

    def mean_tokens(self) -> tuple[float, float]:
        """Mean prompt and mean output tokens."""
        return self.prompt.mean(), self.output.mean()

    def interarrivals(self, rng: np.random.Generator, n: int, rate_per_s: float) -> np.ndarray:
        """``n`` gaps between arrivals (seconds) at ``rate_per_s`` under the workload's arrival process."""
        if self.arrival == "poisson":
            return rng.exponential(1.0 / rate_per_s, n)
        if self.arrival == "gamma":
            shape = 1.0 / self.arrival_cv**2
            return rng.gamma(shape, 1.0 / (shape * rate_per_s), n)
        gaps = np.asarray(self.trace_interarrivals_s, dtype=float)
        scale = (1.0 / rate_per_s) / gaps.mean()
        reps = math.ceil(n / len(gaps))
        return np.tile(gaps, reps)[:n] * scale

    def stream(self, rate_per_s: float, n: int, seed: int) -> RequestStream:
        """``n`` requests at ``rate_per_s`` total, reproducible for a seed."""
        if not rate_per_s > 0:
            raise InputError(f"arrival_rate_per_s: {rate_per_s!r} must be > 0", hint="requests per second, e.g. 4")
        rng = np.random.default_rng(seed)
        t = np.cumsum(self.interarrivals(rng, n, rate_per_s))
        return RequestStream(arrival_s=t, prompt_tokens=self.prompt.sample(rng, n), output_tokens=self.output.sample(rng, n))


_AZURE_SRC = (
    "Azure LLM inference trace 2023 (Patel et al., 'Splitwise', ISCA 2024; Azure/AzurePublicDataset "
    "b469a113, CC-BY-4.0): 5 %-step quantiles and mean rate computed from the CSV on 2026-11-27"
)


def builtin_workloads() -> dict[str, Workload]:
    """The built-in workloads, by name."""
    return {
        "gsm8k": Workload(
            name="gsm8k",
            # 8-shot chain-of-thought prompt: about 1,190 tokens (the exemplars are fixed, the
            # question varies by ~50-150 tokens); outputs 100-125 tokens on average.
            prompt=LengthDist(mean_tokens=1190, p95_tokens=1260, min_tokens=1050, max_tokens=1400),
            output=LengthDist(mean_tokens=112, p95_tokens=220, min_tokens=16, max_tokens=512),
            source="GSM8K 8-shot CoT (Cobbe et al. 2021; lm-evaluation-harness gsm8k_cot): prompt ~1,190 tokens, "
            "mean output 100-125 tokens (BOute arXiv 2602.10729 setup); spread is our assumption",
        ),
        "mt-bench": Workload(
            name="mt-bench",
            prompt=LengthDist(mean_tokens=66, p95_tokens=206, min_tokens=8, max_tokens=1024),
            output=LengthDist(mean_tokens=300, p95_tokens=700, min_tokens=16, max_tokens=1024),
            source="MT-Bench (Zheng et al. 2023, 80 questions): input mean 66 / p95 206 tokens, output mean "
            "270-365 tokens (we take 300); lognormal shape is our assumption",
        ),
        "azure-conv": Workload(
            name="azure-conv",
            prompt=LengthDist(
                quantiles=(
                    2,
                    181,
                    207,
                    372,
                    387,
                    396,
                    403,
                    414,
                    703,
                    984,
                    1020,
                    1045,
                    1071,
                    1097,
                    1130,
                    1189,
                    1315,
                    1876,
                    2734,
                    4083,
                    14050,
                ),
                max_tokens=14050,
            ),
            output=LengthDist(
                quantiles=(7, 41, 54, 67, 77, 85, 91, 96, 103, 113, 129, 151, 177, 217, 384, 395, 400, 411, 424, 451, 1000), max_tokens=1000
            ),
            arrival="gamma",
            arrival_cv=1.094,
            default_rate_per_s=5.53,
            source=_AZURE_SRC + "; conversation: 19,366 requests in 3,502 s (5.53 req/s), inter-arrival CV 1.09",
        ),
        "azure-code": Workload(
            name="azure-code",
            prompt=LengthDist(
                quantiles=(
                    3,
                    75,
                    147,
                    232,
                    385,
                    578,
                    770,
                    938,
                    1075,
                    1261,
                    1469,
                    1690,
                    1909,
                    2163,
                    2433,
                    2744,
                    3192,
                    3920,
                    5187,
                    7303,
                    7437,
                ),
                max_tokens=7437,
            ),
            output=LengthDist(quantiles=(6, 6, 7, 7, 8, 9, 9, 10, 11, 12, 13, 14, 16, 18, 20, 24, 29, 39, 55, 90, 1899), max_tokens=1899),
            arrival="gamma",
            arrival_cv=3.0,
            default_rate_per_s=2.57,
            source=_AZURE_SRC + "; code: 8,819 requests in 3,436 s (2.57 req/s); the trace's inter-arrival CV is "
            "13.2 (batch submissions); the built-in uses CV 3 (load the CSV to replay the real gaps)",
        ),
    }


def get_workload(name: str) -> Workload:
    """A built-in workload by name.

    Raises:
        InputError: an unknown name (with the closest names).
    """
    table = builtin_workloads()
    if name not in table:
        raise InputError(f"workload: unknown workload {name!r}", hint=did_you_mean(name, table) + "; or give trace: FILE.csv")
    return table[name]


MAX_TOKENS_PER_REQUEST = 10_000_000
"""Largest prompt or output length accepted in a trace: the longest context window of a
released model (Llama 4 Scout, 10M tokens; Meta, 2025-04-05)."""


def load_azure_trace(path: str | pathlib.Path, name: str | None = None, max_rows: int | None = None) -> Workload:
    """A workload that replays an Azure-format CSV (``TIMESTAMP,ContextTokens,GeneratedTokens``).

    Lengths become 101-point quantile tables and the inter-arrival gaps are replayed
    (rescaled to the rate asked for). Every row is checked: a timestamp, and token counts
    that are whole numbers from 1 to :data:`MAX_TOKENS_PER_REQUEST`; the file must be
    UTF-8 text. A bad row raises :class:`InputError` naming its line.
    """
    path = pathlib.Path(path)
    where = "workload.trace"
    if not path.is_file():
        raise InputError(f"{where}: file {str(path)!r} does not exist", hint="give the path of an Azure-format CSV")
    text = read_utf8_text(path, where, hint="save the trace as UTF-8 CSV")
    times, ctx, gen = [], [], []
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        need = {"TIMESTAMP", "ContextTokens", "GeneratedTokens"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise InputError(
                f"{where}: {path.name} has columns {reader.fieldnames}, not TIMESTAMP,ContextTokens,GeneratedTokens",
                hint="use the Azure LLM inference trace format",
            )
        for i, row in enumerate(reader):
            if max_rows is not None and i >= max_rows:
                break
            line = reader.line_num
            try:
                ts = datetime.datetime.fromisoformat(str(row["TIMESTAMP"]).strip()[:26]).timestamp()
                c, g = _tokens(row["ContextTokens"]), _tokens(row["GeneratedTokens"])
            except (ValueError, TypeError, OverflowError, OSError):
                raise InputError(
                    f"{where}: {path.name} line {line} is not a timestamp and two whole token counts: " + " ".join(repr(row)[:120].split()),
                    hint="fix or drop that line",
                ) from None
            for col, v in (("ContextTokens", c), ("GeneratedTokens", g)):
                if not 1 <= v <= MAX_TOKENS_PER_REQUEST:
                    raise InputError(
                        f"{where}: {path.name} line {line} {col} = {v} must be between 1 and {MAX_TOKENS_PER_REQUEST:,}",
                        hint="every request has a prompt and generates at least one token; fix or drop that line",
                    )
            times.append(ts)
            ctx.append(c)
            gen.append(g)
    except csv.Error as exc:
        raise InputError(f"{where}: {path.name} is not a valid CSV: {exc}", hint="use the Azure LLM inference trace format") from None
    if len(times) < 3:
        raise InputError(f"{where}: {path.name} has {len(times)} rows; need at least 3", hint="give a longer trace")
    t = np.sort(np.asarray(times))
    gaps = np.diff(t)
    gaps = np.where(gaps > 0, gaps, 1e-6)
    q = np.linspace(0, 100, 101)
    return Workload(
        name=name or path.stem,
        prompt=LengthDist(quantiles=tuple(np.percentile(ctx, q)), max_tokens=int(max(ctx))),
        output=LengthDist(quantiles=tuple(np.percentile(gen, q)), max_tokens=int(max(gen))),
        arrival="trace",
        trace_interarrivals_s=tuple(gaps),
        default_rate_per_s=float(len(t) / max(t[-1] - t[0], 1e-9)),
        source=f"replay of {path.name} ({len(t)} requests)",
    )


def _tokens(v) -> int:
    """A whole token count written as an integer (``12``, not ``12.5`` or ``1e3``)."""
    s = str(v).strip()
    if not s.lstrip("+-").isdigit() or not s.isascii():
        raise ValueError(s)
    return int(s)
