"""Fuzz tests (issue 18): every generated input ends in exactly one of a valid value or
verified plan (exit 0), a one-line error naming the field (exit 2), or a one-line
infeasibility (exit 3). Never another exception, never "internal error", never a value
outside the documented ranges.

About 2,500 generated inputs, deterministic (``derandomize=True``). Most fail validation
in microseconds; scenario fields, files and flags are checked without planning, and a
small set of CLI runs plans end to end over a one-GPU-type pool whose perf DBs are
built once per session.
"""

from __future__ import annotations

import itertools
import json
import math
import pathlib
import tempfile

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from boute.engine.cli import _parser, _request, main
from boute.engine.errors import BouteError, InputError
from boute.engine.quality import load_quality_file
from boute.engine.routing import make_router
from boute.engine.scenario import (
    MAX_ARRIVAL_RATE_PER_S,
    MAX_BUDGET_USD_PER_HOUR,
    MAX_LATENCY_SLO_S,
    MAX_PRICE_USD_PER_GPU_HOUR,
    MIN_ARRIVAL_RATE_PER_S,
    Scenario,
    load_scenario,
)
from boute.engine.workload import MAX_TOKENS_PER_REQUEST, load_azure_trace
from tests.conftest import SMALL

FUZZ = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
TMP = pathlib.Path(tempfile.mkdtemp(prefix="boute-fuzz-"))
_n = itertools.count()
M = ("Llama-3.1-8B", "Llama-3.1-70B")
FIELDS = {
    "scenario",
    "--scenario",
    "name",
    "gpus",
    "price_set",
    "price_overrides",
    "models",
    "workload",
    "arrival_rate_per_s",
    "quality",
    "budget_usd_per_hour",
    "quality_min",
    "latency_slo_s",
    "objective",
    "mode",
    "weight_dtypes",
    "seed",
    "max_trials",
    "stall_trials",
    "budget",
    "latency_metric",
    "ttft_slo_s",
    "tpot_slo_s",
}


def _fresh(suffix: str) -> pathlib.Path:
    return TMP / f"f{next(_n)}{suffix}"


def _one_line(exc: BouteError, *, prefixes: set[str] | None = None) -> None:
    line = exc.one_line()
    event(f"error {exc.message.split(':', 1)[0]}")
    assert "\n" not in line and exc.hint, line
    if prefixes is not None:
        head = exc.message.split(":", 1)[0].split(".", 1)[0]
        assert head in prefixes, line


# ----------------------------------------------------------------------------- values
GOOD_TRACE = _fresh(".csv")
GOOD_TRACE.write_text(
    "TIMESTAMP,ContextTokens,GeneratedTokens\n" + "".join(f"2023-11-16 18:15:{i:02d}.0,{100 + 10 * i},{10 + i}\n" for i in range(10))
)
GOOD_QUALITY = _fresh(".csv")
GOOD_QUALITY.write_text("Llama-3.1-8B,Llama-3.1-70B,score\n" + "".join(f"{i % 2},{int(i % 3 > 0)},{i / 7}\n" for i in range(12)))

ODD = [math.nan, math.inf, -math.inf, 0, -1, 1e308, -1e308, 1e-12, True, False, "6", "", None, [], {}, [1], "nan"]
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**12), 10**12), st.sampled_from(ODD), st.floats(0.001, 100.0)
)
containers = st.sampled_from([None, 0, "", [], {}, False, "x", [1, 2], 3.5])
gpu_names = st.sampled_from(["H100", "H100-SXM", "h100", "RTX-4090", "RTX4090", "A100", "RTX9090", "T4", "", "L40S"])
model_names = st.sampled_from(["Llama-3.1-8B", "Llama-3.1-70B", "llama-3.1-8b", "Llama-4", "", "Mixtral-8x7B", "GPT-9"])
counts = st.one_of(st.integers(-3, 20), st.integers(10**6 - 1, 10**7), st.sampled_from(ODD))

field_values = {
    "name": st.one_of(st.text(max_size=6), containers),
    "gpus": st.one_of(st.dictionaries(gpu_names, counts, max_size=3), containers),
    "price_set": st.sampled_from(["boute-paper", "runpod", "aws", "runpd", "", None, 0, ["aws"]]),
    "price_overrides": st.one_of(st.dictionaries(gpu_names, numbers, max_size=2), containers),
    "models": st.one_of(st.lists(model_names, max_size=3), st.text(max_size=10), containers),
    "workload": st.sampled_from(
        [
            "gsm8k",
            "mt-bench",
            "azure-conv",
            "azure-code",
            "gsm9k",
            "x.csv",
            "",
            None,
            3,
            {"trace": ""},
            {"trace": "nope.csv"},
            {"trace": str(GOOD_TRACE)},
            {"trace": 1},
            {"trace": str(GOOD_TRACE), "x": 1},
            {},
            str(GOOD_TRACE),
        ]
    ),
    "arrival_rate_per_s": numbers,
    "quality": st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "data": st.sampled_from(["calibrated", "routellm-gsm8k", "routellm-mt-bench", str(GOOD_QUALITY), "no.csv", "", None, 1]),
                "router": st.sampled_from(["oracle", "random", "noisy", "file", "psychic", "", None]),
                "auc": numbers,
                "rooter": st.just("oracle"),
            },
        ),
        containers,
        st.sampled_from(["calibrated", "routellm-gsm8k"]),
    ),
    "budget_usd_per_hour": numbers,
    "quality_min": numbers,
    "latency_slo_s": numbers,
    "objective": st.sampled_from(["latency", "cost", "speed", "", None, 1, "Latency"]),
    "mode": st.sampled_from(["joint", "split", "both", "", None]),
    "weight_dtypes": st.one_of(
        st.lists(st.sampled_from(["bf16", "fp8", "int4", ""]), max_size=3), st.sampled_from(["bf16", "fp8", "", None, 0])
    ),
    "seed": st.one_of(st.integers(-5, 2**64), st.floats(0, 5), containers),
    "max_trials": st.one_of(st.integers(-2, 10**6), containers),
    "stall_trials": st.one_of(st.integers(-2, 10**6), containers),
    "latency_metric": st.sampled_from(["per-model", "system", "pooled", "", None]),
    "ttft_slo_s": numbers,
    "tpot_slo_s": numbers,
    "budgett_usd_per_hour": st.just(3),
    "rate": st.just(3),
}
GOOD = {  # valid values, so that a good share of the generated scenarios validate
    "gpus": st.dictionaries(st.sampled_from(["H100", "RTX-4090", "A100", "H200"]), st.integers(0, 16), min_size=1, max_size=3),
    "models": st.lists(st.sampled_from(["Llama-3.1-8B", "Llama-3.1-70B"]), min_size=1, max_size=2, unique=True),
    "arrival_rate_per_s": st.floats(MIN_ARRIVAL_RATE_PER_S, MAX_ARRIVAL_RATE_PER_S),
    "budget_usd_per_hour": st.floats(0.01, 1e6),
    "latency_slo_s": st.floats(0.01, MAX_LATENCY_SLO_S),
    "quality_min": st.floats(-1e6, 1e6),
    "price_overrides": st.dictionaries(st.sampled_from(["H100", "RTX-4090"]), st.floats(0.01, 1000), max_size=2),
    "objective": st.sampled_from(["latency", "cost"]),
    "seed": st.integers(0, 2**32 - 1),
}
field_values = {k: st.one_of(GOOD[k], v) if k in GOOD else v for k, v in field_values.items()}
scenario_dicts = st.tuples(
    st.dictionaries(st.sampled_from(sorted(field_values)), st.none(), max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries({k: field_values[k] for k in keys})
    ),
    st.sets(st.sampled_from(["gpus", "models", "arrival_rate_per_s", "budget_usd_per_hour", "latency_slo_s"]), max_size=1),
).map(lambda pd: {**{k: v for k, v in SMALL.items() if k not in pd[1]}, **pd[0]})


def _check_valid(s: Scenario, catalog) -> None:
    """A scenario that validated holds only values inside the documented ranges."""
    event("valid")
    assert MIN_ARRIVAL_RATE_PER_S <= s.arrival_rate_per_s <= MAX_ARRIVAL_RATE_PER_S
    assert s.budget_usd_per_hour is None or 0 < s.budget_usd_per_hour <= MAX_BUDGET_USD_PER_HOUR
    assert s.latency_slo_s is None or 0 < s.latency_slo_s <= MAX_LATENCY_SLO_S
    assert s.quality_min is None or math.isfinite(s.quality_min)
    assert s.gpus and sum(s.gpus.values()) > 0 and all(g in catalog.gpus for g in s.gpus)
    assert all(m in catalog.models for m in s.models) and len(set(s.models)) == len(s.models)
    for g in s.gpus:
        assert 0 < s.price(catalog, g) <= MAX_PRICE_USD_PER_GPU_HOUR
    assert 0.5 <= s.quality.auc <= 1.0 and s.objective in ("latency", "cost") and s.mode in ("joint", "split")
    assert s.latency_metric in ("per-model", "system")
    assert all(v is None or 0 < v <= MAX_LATENCY_SLO_S for v in (s.ttft_slo_s, s.tpot_slo_s))
    assert (s.budget_usd_per_hour is not None) if s.objective == "latency" else (s.latency_slo_s is not None)
    assert Scenario.from_dict(s.to_dict(), catalog) == s and s.with_overrides(catalog) == s


# ----------------------------------------------------------------------------- 1. scenario fields (800)
@settings(max_examples=800, **FUZZ)
@given(scenario_dicts)
def test_fuzz_scenario_fields(catalog, raw):
    try:
        s = Scenario.from_dict(raw, catalog)
    except InputError as exc:
        _one_line(exc, prefixes=FIELDS)
        return
    _check_valid(s, catalog)


# ----------------------------------------------------------------------------- 2. scenario files (300)
@settings(max_examples=300, **FUZZ)
@given(
    scenario_dicts,
    st.sampled_from([".yaml", ".yml", ".toml", ".txt"]),
    st.one_of(st.just([]), st.lists(st.tuples(st.integers(0, 400), st.binary(min_size=1, max_size=3)), max_size=2)),
    st.booleans(),
)
def test_fuzz_scenario_files(catalog, raw, suffix, inserts, duplicate_key):
    try:
        text = yaml.safe_dump(raw, allow_unicode=False).encode()
    except yaml.YAMLError:
        return
    if duplicate_key:
        text += b"\nseed: 1\nseed: 2\n"
    for pos, junk in inserts:
        text = text[:pos] + junk + text[pos:]
    f = _fresh(suffix)
    f.write_bytes(text)
    try:
        s = load_scenario(f, catalog)
    except InputError as exc:
        _one_line(exc, prefixes=FIELDS)
        return
    _check_valid(s, catalog)


# ----------------------------------------------------------------------------- 3. traces (400)
timestamps = st.one_of(
    st.builds(lambda s: f"2023-11-16 18:{s // 60:02d}:{s % 60:02d}.{s % 1000:03d}", st.integers(0, 3599)),
    st.builds(lambda s: f"2023-11-16 18:{s // 60:02d}:{s % 60:02d}.{s % 1000:03d}", st.integers(0, 3599)),
    st.sampled_from(["", "yesterday", "2023-13-45 00:00:00", "0001-01-01 00:00:00", "9999-12-31 23:59:59", "nan"]),
)
tokens = st.one_of(
    st.integers(1, 5000).map(str),
    st.integers(1, 5000).map(str),
    st.integers(1, 5000).map(str),
    st.integers(-3, 30).map(str),
    st.integers(MAX_TOKENS_PER_REQUEST - 2, MAX_TOKENS_PER_REQUEST + 2).map(str),
    st.sampled_from(["", "1.5", "1e3", "abc", " 7 ", "+3", "-0", "nan", "٣"]),
)
good_ts = st.builds(lambda s: f"2023-11-16 18:{s // 60:02d}:{s % 60:02d}.{s % 1000:03d}", st.integers(0, 3599))
good_tokens = st.integers(1, 20_000).map(str)
headers = st.sampled_from(
    ["\ufeffTIMESTAMP,ContextTokens,GeneratedTokens", "ContextTokens,TIMESTAMP,GeneratedTokens", "TIMESTAMP,ContextTokens", "", "a,b,c"]
)


@settings(max_examples=400, **FUZZ)
@given(
    st.one_of(st.just("TIMESTAMP,ContextTokens,GeneratedTokens"), headers),
    st.one_of(
        st.lists(st.tuples(good_ts, good_tokens, good_tokens), min_size=3, max_size=8),
        st.lists(st.tuples(good_ts, good_tokens, good_tokens), min_size=3, max_size=8).flatmap(
            lambda rows: st.tuples(timestamps, tokens, tokens).map(lambda bad: rows + [bad])
        ),
        st.lists(st.tuples(timestamps, tokens, tokens), max_size=8),
    ),
    st.one_of(st.just(b""), st.just(b""), st.binary(max_size=3)),
    st.integers(0, 200),
)
def test_fuzz_trace_files(header, rows, junk, pos):
    cols = header.lstrip("\ufeff").split(",")
    lines = [header]
    for ts, c, g in rows:
        cell = {"TIMESTAMP": ts, "ContextTokens": c, "GeneratedTokens": g}
        lines.append(",".join(cell.get(k, "1") for k in cols))
    data = ("\n".join(lines) + "\n").encode()
    data = data[:pos] + junk + data[pos:]
    f = _fresh(".csv")
    f.write_bytes(data)
    try:
        w = load_azure_trace(f)
    except InputError as exc:
        _one_line(exc, prefixes={"workload"})
        return
    event("valid")
    assert 2 <= w.max_model_len <= 2 * MAX_TOKENS_PER_REQUEST
    s = w.stream(1.0, 20, seed=0)
    assert (s.prompt_tokens >= 1).all() and (s.output_tokens >= 1).all() and np.isfinite(s.arrival_s).all()


# ----------------------------------------------------------------------------- 4. quality files (400)
cells = st.one_of(
    st.sampled_from(["0", "1"]),
    st.sampled_from(["0", "1", "True", "False", "7.5"]),
    st.sampled_from(["0", "1", "True", "False", "nan", "inf", "-inf", "1e308", "", "abc", "0.5", "7", "10"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**7), 10**7).map(str),
)
json_cells = st.one_of(
    st.integers(0, 1),
    st.integers(1, 10),
    st.integers(-2, 12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.sampled_from(["1", "True", "x", [1], {"a": 1}]),
)
csv_quality = st.tuples(
    st.one_of(
        st.just([*M, "score"]),
        st.just(list(M)),
        st.lists(st.sampled_from([*M, "score", "prompt", "id", "x", ""]), min_size=1, max_size=4, unique=True),
    ),
    st.lists(st.lists(cells, min_size=1, max_size=5), max_size=8),
).map(lambda hr: ("\n".join([",".join(hr[0])] + [",".join(r) for r in hr[1]]) + "\n").encode())
good_csv_quality = st.lists(
    st.tuples(st.sampled_from(["0", "1", "True", "False"]), st.sampled_from(["0", "1"]), st.floats(-1e6, 1e6).map(repr)),
    min_size=2,
    max_size=12,
).map(lambda rows: ("Llama-3.1-8B,Llama-3.1-70B,score\n" + "".join(",".join(r) + "\n" for r in rows)).encode())
jsonl_lines = st.one_of(
    st.fixed_dictionaries({M[0]: st.integers(0, 1), M[1]: st.integers(0, 1)}).map(json.dumps),
    st.fixed_dictionaries({M[0]: json_cells, M[1]: json_cells}, optional={"score": json_cells}).map(json.dumps),
    st.fixed_dictionaries({}, optional={M[0]: json_cells, M[1]: json_cells}).map(json.dumps),
    st.sampled_from(["[1, 0]", "{bad", '"text"', "", "null", "3", '{"Llama-3.1-8B": 1e999, "Llama-3.1-70B": 1}']),
)
jsonl_quality = st.lists(jsonl_lines, min_size=1, max_size=8).map(lambda ls: ("\n".join(ls) + "\n").encode())


@settings(max_examples=400, **FUZZ)
@given(
    st.one_of(
        good_csv_quality.map(lambda b: (".csv", b)), csv_quality.map(lambda b: (".csv", b)), jsonl_quality.map(lambda b: (".jsonl", b))
    ),
    st.one_of(st.just(b""), st.binary(max_size=2)),
    st.sampled_from(["oracle", "random", "noisy", "file"]),
    st.floats(0.0, 1.0),
)
def test_fuzz_quality_files(content, junk, router, strong):
    suffix, data = content
    f = _fresh(suffix)
    f.write_bytes(data + junk)
    try:
        r = make_router(load_quality_file(f).select(M), router, auc_target=0.75, seed=0)
    except InputError as exc:
        _one_line(exc, prefixes={"quality", "quality data"})
        return
    event("valid")
    shares = (1.0 - strong, strong)
    q = r.quality(shares)
    t = r.thresholds(shares)
    assert math.isfinite(q) and all(math.isfinite(x) for x in t)
    if router != "file":  # file scores may tie, so a cut cannot always split them
        assert r.quality_at_thresholds(t) >= q - 1e-9


# ----------------------------------------------------------------------------- 5. CLI flags (600)
SCEN = _fresh(".yaml")
SCEN.write_text(yaml.safe_dump(SMALL))
BADYAML = _fresh(".yaml")
BADYAML.write_text("gpus: {H100: 8\n")
FLAGS = {
    "--scenario": [str(SCEN), "", "/nonexistent.yaml", str(BADYAML), str(TMP)],
    "--objective": ["latency", "cost", "speed", ""],
    "--budget": ["30", "-5", "0", "nan", "inf", "1e308", "abc", "", "0.001"],
    "--quality-min": ["89", "nan", "-1", "1e9", "x", "0"],
    "--slo": ["8", "0", "-1", "nan", "601", "1e-9"],
    "--gpus": [
        "H100=8",
        "H100=8,H100=8",
        "H100=8,H100-SXM=8",
        "",
        ",",
        "H100",
        "H100=x",
        "H100=-1",
        "RTX9090=2",
        "H100=8,RTX4090=16",
        "h100=0",
        "H100=99999999",
        "=3",
        "H100=1_0",
    ],
    "--price-set": ["boute-paper", "runpod", "aws", "gcp", ""],
    "--models": ["Llama-3.1-8B", "Llama-3.1-8B,Llama-3.1-70B", "", "Llama-4", "a,,b", "Llama-3.1-8B,llama-8b"],
    "--workload": ["gsm8k", "mt-bench", "nope", "", str(GOOD_TRACE), "missing.csv"],
    "--rate": ["6", "0", "1e-9", "1e6", "nan", "-1", "x"],
    "--router": ["oracle", "random", "noisy", "file", "psychic", ""],
    "--auc": ["0.8", "0.4", "nan", "1.5"],
    "--mode": ["joint", "split", "both", ""],
    "--seed": ["0", "-1", "x", "99999999999999"],
    "--max-trials": ["1", "0", "-3", "x"],
    "--strategy": ["bo", "random", "grid", "anneal", ""],
    "--out": [str(TMP / "out"), "/dev/null", "/dev/null/x", ""],
    "--frobnicate": ["1"],
}
argvs = st.lists(st.tuples(st.sampled_from(sorted(FLAGS)), st.one_of(st.just(0), st.integers(0, 99))), max_size=5).map(
    lambda picks: [x for flag, i in picks for x in (flag, FLAGS[flag][i % len(FLAGS[flag])])]
)


@settings(max_examples=600, **FUZZ)
@given(argvs)
def test_fuzz_cli_flags(catalog, argv):
    """Everything ``boute solve`` checks before planning, for any flag combination."""
    try:
        args = _parser().parse_args(["solve", *argv])
        sc, out = _request(args, catalog)
    except InputError as exc:
        _one_line(exc)
        return
    _check_valid(sc, catalog)
    if "--rate" in argv:
        assert sc.arrival_rate_per_s == float(argv[len(argv) - 1 - argv[::-1].index("--rate") + 1])


# ----------------------------------------------------------------------------- 6. end to end (24)
TINY = _fresh(".yaml")
TINY.write_text(
    yaml.safe_dump(
        {
            "name": "fuzz",
            "gpus": {"H100-SXM": 8},
            "models": list(M),
            "arrival_rate_per_s": 2.0,
            "quality": {"data": "calibrated", "router": "noisy", "auc": 0.8},
            "budget_usd_per_hour": 40.0,
            "quality_min": 89.0,
            "latency_slo_s": 8.0,
            "max_trials": 2,
            "stall_trials": 2,
        }
    )
)
E2E = {
    "--budget": ["40", "8", "3", "nan"],
    "--rate": ["2", "0.5", "500", "1e-9"],
    "--objective": ["latency", "cost"],
    "--slo": ["8", "0.5"],
    "--quality-min": ["89", "96", "99"],
    "--mode": ["joint", "split"],
    "--router": ["noisy", "oracle"],
    "--strategy": ["random", "grid"],
    "--models": ["Llama-3.1-8B,Llama-3.1-70B", "Llama-3.1-8B"],
}


@pytest.mark.slow
@settings(max_examples=24, **FUZZ)
@given(st.lists(st.tuples(st.sampled_from(sorted(E2E)), st.integers(0, 99)), max_size=4))
def test_fuzz_cli_end_to_end(capsys, picks):
    argv = [x for flag, i in picks for x in (flag, E2E[flag][i % len(E2E[flag])])]
    out_dir = _fresh("")
    base = ["--scenario", str(TINY), "--strategy", "random", "--no-baselines", "--out", str(out_dir)]
    rc = main([*base, *argv])
    out, err = capsys.readouterr()
    assert rc in (0, 2, 3), err
    event(f"exit {rc}")
    if rc == 0:
        plan = json.loads((out_dir / "plan.json").read_text())
        assert plan["verification"]["ok"] and err == ""
        if plan["budget_usd_per_hour"] is not None:
            assert plan["cost_usd_per_hour"] <= plan["budget_usd_per_hour"] + 1e-6
        if plan["quality_min"] is not None:
            assert plan["quality"] >= plan["quality_min"] - 1e-6
        assert len(plan["thresholds"]) == len(plan["models"]) - 1
    else:
        assert err.count("\n") == 1 and err.startswith("error: ") and "internal error" not in err and "Traceback" not in err
        assert "report this as a bug" not in err and "$0.00/h" not in err
        if rc == 3 and "least budget" in err:
            import re

            given = float(re.search(r"\$([0-9.]+)/h is below", err).group(1))
            assert float(re.search(r"least budget .*: \$([0-9.]+)/h", err).group(1)) > given
