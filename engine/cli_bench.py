"""``boute predict --bench`` and ``boute calibrate --from-bench``: boute against ``vllm bench serve``.

``predict --bench`` predicts a ``vllm bench serve`` run (N prompts, a request rate, ``inf``
= all at once, an optional ``--max-concurrency``, lengths from a dataset file or a
distribution) and writes the metrics vLLM's ``--save-result`` JSON holds, under the same
keys (read from vllm-project/vllm ``vllm/benchmarks/serve.py`` @ 009e6d4a,
``calculate_metrics`` and ``benchmark``: TPOT per request = (latency - TTFT) / (output - 1),
ITL = every gap between streamed tokens, throughputs over the run's duration, percentiles
by ``np.percentile``).

``calibrate --from-bench`` reads real ``--save-result`` JSON files (and aiconfigurator-style
CSV rows), predicts each run, prints the error per file and metric, and with ``--fit GPU``
fits that GPU's memory- and compute-side efficiency scales into a calibration plugin
module that records where its constants came from.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import json
import math
import pathlib
from typing import Any

import attrs
import numpy as np

from boute.engine.errors import InputError

__all__ = [
    "add_predict_options",
    "add_calibrate_parser",
    "cmd_predict_bench",
    "cmd_calibrate",
    "predict_bench",
    "load_bench_file",
    "BenchRun",
    "bench_metrics",
    "fit_gpu_scales",
    "served_context",
]

PCT = (50, 90, 99)


# ---------------------------------------------------------------- CLI wiring


def add_predict_options(p) -> None:
    """Options of ``boute predict`` added by this module (engine profile, benchmark mode)."""
    p.add_argument("--engine", default=None, help="engine profile: vllm-v1 (default), vllm-0.6, vllm-0.6-ms10, vllm-0.5, sglang, trtllm")
    g = p.add_argument_group("benchmark prediction (--bench): a `vllm bench serve` run")
    g.add_argument("--bench", action="store_true", help="predict a vllm bench serve run and print its metrics")
    g.add_argument("--num-prompts", type=int, default=1000, help="requests in the run (default 1000, as vLLM)")
    g.add_argument("--request-rate", type=float, default=math.inf, help="requests/s; inf (default) sends all at once")
    g.add_argument("--burstiness", type=float, default=1.0, help="gamma shape of inter-arrival times (1 = Poisson)")
    g.add_argument("--max-concurrency", type=int, default=None, help="client-side cap on requests in flight")
    g.add_argument(
        "--dataset",
        metavar="FILE",
        default=None,
        help="lengths from a file: a vLLM --save-result JSON (input_lens/output_lens), a CSV with "
        "prompt_tokens,output_tokens (or Azure ContextTokens,GeneratedTokens) columns",
    )
    g.add_argument(
        "--range-ratio",
        type=float,
        default=0.0,
        help="random dataset: lengths uniform in [len*(1-r), len*(1+r)] around --input-len/--output-len",
    )
    g.add_argument(
        "--server-max-model-len",
        type=int,
        default=None,
        help="the server's --max-model-len (default: the model's whole context if it fits, as vLLM does; it "
        "decides vLLM 0.5/0.6's own chunked-prefill default)",
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--save-result", metavar="FILE", default=None, help="write the predicted metrics as vLLM's JSON")


def add_calibrate_parser(sub) -> None:
    """The ``boute calibrate`` subcommand."""
    p = sub.add_parser(
        "calibrate",
        help="compare boute with real vllm bench serve results; fit a GPU's efficiencies",
        description="Import `vllm bench serve --save-result` JSON files (or aiconfigurator-style CSVs), "
        "print boute's prediction error per file and metric, optionally fit a GPU's efficiency scales.",
    )
    p.add_argument("--from-bench", nargs="+", required=True, metavar="FILE", help="JSON result files and/or CSV files")
    p.add_argument("--model", help="model of the runs (else the file's model_id / model_path)")
    p.add_argument("--gpu", help="GPU of the runs (else the file's 'gpu' metadata)")
    p.add_argument("--tp", type=int, default=None, help="tensor parallelism (else the file's 'tp' metadata, default 1)")
    p.add_argument("--dtype", default=None, help="weight dtype bf16/fp8/int4 (else the file's 'dtype' metadata, default bf16)")
    p.add_argument("--engine", default=None, help="engine profile (else the file's 'engine' metadata, default vllm-v1)")
    p.add_argument(
        "--server-max-model-len",
        type=int,
        default=None,
        help="the servers' --max-model-len (else the file's 'max_model_len' metadata, else the model's whole context if it fits)",
    )
    p.add_argument("--fit", metavar="GPU", default=None, help="fit this GPU's memory/compute efficiency scales on the files")
    p.add_argument("--out", metavar="FILE.py", default=None, help="where --fit writes the calibration plugin module")
    p.add_argument("--json", action="store_true", help="print the table as JSON")


# ---------------------------------------------------------------- runs


@attrs.frozen(kw_only=True)
class BenchRun:
    """One benchmark run to predict (and, when imported, its measured metrics)."""

    name: str
    model: str
    gpu: str
    tp: int
    weight_dtype: str
    engine: str
    prompt_tokens: tuple[int, ...]
    output_tokens: tuple[int, ...]
    request_rate: float = math.inf
    burstiness: float = 1.0
    max_concurrency: int | None = None
    closed_loop_rounds: int = 0
    """>0: a fixed-concurrency loop (aiconfigurator rows), that many requests per client."""
    server_max_model_len: int | None = None
    """The ``--max-model-len`` the server ran with; None: the engine's default, the model's
    whole context when the KV cache holds it (:func:`served_context`)."""
    measured: dict = attrs.field(factory=dict)
    """Metrics of the real run, under vLLM's keys (empty for a pure prediction)."""


def _arrivals(n: int, rate: float, burstiness: float, seed: int) -> np.ndarray:
    """Send times as vLLM's get_request draws them (gamma intervals, mean 1/rate)."""
    if math.isinf(rate):
        return np.zeros(n)
    rng = np.random.default_rng(seed)
    theta = 1.0 / (rate * burstiness)
    gaps = rng.gamma(shape=burstiness, scale=theta, size=n)
    gaps[0] = 0.0
    return np.cumsum(gaps)


def bench_metrics(sim, n_prompts: int) -> dict[str, Any]:
    """vLLM's ``--save-result`` metrics from a finished :func:`simulate_bench` simulator."""
    fin = np.array(sim.finish, dtype=float)
    ok = ~np.isnan(fin)
    arr = np.array(sim.arrival, dtype=float)
    first = np.array(sim.first, dtype=float)
    outl = np.array(sim.output, dtype=int)
    inl = np.array(sim.prompt, dtype=int)
    ttft = (first - arr)[ok]
    lat = (fin - arr)[ok]
    o = outl[ok]
    tpot = np.where(o > 1, (lat - ttft) / np.maximum(o - 1, 1), 0.0)[o > 1]
    dur = float(np.max(fin[ok]) - np.min(arr)) if ok.any() else 0.0
    itl_v, itl_w = sim.itl_samples()
    res: dict[str, Any] = {
        "duration": dur,
        "completed": int(ok.sum()),
        "failed": int((~ok).sum()),
        "total_input_tokens": int(inl[ok].sum()),
        "total_output_tokens": int(o.sum()),
        "request_throughput": ok.sum() / dur if dur > 0 else 0.0,
        "request_goodput": None,
        "output_throughput": o.sum() / dur if dur > 0 else 0.0,
        "total_token_throughput": (inl[ok].sum() + o.sum()) / dur if dur > 0 else 0.0,
        "input_lens": inl.tolist(),
        "output_lens": [int(x) if k else 0 for x, k in zip(outl, ok)],
        "ttfts": [float(x) if k else 0.0 for x, k in zip(first - arr, ok)],
        "latencies": [float(x) if k else 0.0 for x, k in zip(fin - arr, ok)],
        "num_prompts": n_prompts,
    }
    for key, vals in (("ttft", ttft), ("tpot", tpot), ("e2el", lat)):
        v = vals * 1e3 if len(vals) else np.zeros(1)
        res[f"mean_{key}_ms"] = float(np.mean(v))
        res[f"median_{key}_ms"] = float(np.median(v))
        res[f"std_{key}_ms"] = float(np.std(v))
        for p in PCT:
            res[f"p{p}_{key}_ms"] = float(np.percentile(v, p))
    if len(itl_v):
        v, w = itl_v * 1e3, itl_w
        order = np.argsort(v)
        v, w = v[order], w[order]
        cw = (np.cumsum(w) - 0.5 * w) / w.sum()
        mean = float(np.sum(v * w) / w.sum())
        res["mean_itl_ms"] = mean
        res["median_itl_ms"] = float(np.interp(0.5, cw, v))
        res["std_itl_ms"] = float(math.sqrt(max(np.sum(w * (v - mean) ** 2) / w.sum(), 0.0)))
        for p in PCT:
            res[f"p{p}_itl_ms"] = float(np.interp(p / 100, cw, v))
    else:
        for k in ("mean", "median", "std"):
            res[f"{k}_itl_ms"] = 0.0
        for p in PCT:
            res[f"p{p}_itl_ms"] = 0.0
    return res


def served_context(llm, gpu, cfg, longest: int, server_max_model_len: int | None = None):
    """``(ReplicaModel, served context)`` of a benchmarked server.

    A server started without ``--max-model-len`` serves the model's whole context, which
    sets engine defaults (vLLM V0 turns chunked prefill on above 32K tokens:
    :meth:`~boute.engine.engines.EngineProfile.serving`). It starts only if its KV cache holds
    one whole-context request; where it does not, the operator must have lowered the flag,
    and we take the run's longest request (``server_max_model_len`` overrides both).
    """
    from boute.engine.replica import ReplicaModel

    if server_max_model_len is not None:
        if server_max_model_len < longest:
            raise InputError(
                f"--server-max-model-len: {server_max_model_len} is below the run's longest request ({longest} tokens)",
                hint="the --max-model-len the server was started with",
            )
        rm = ReplicaModel(llm, gpu, cfg, max_model_len=longest, served_max_model_len=server_max_model_len)
        mem = rm.memory()
        if mem.feasible and mem.kv_capacity_tokens < server_max_model_len:
            raise InputError(
                f"--server-max-model-len: {server_max_model_len} exceeds the {mem.kv_capacity_tokens}-token KV cache of {llm.name} on "
                f"{cfg.tp} x {gpu.name} ({cfg.weight_dtype}); vLLM would not start",
                hint="the --max-model-len the server really ran with",
            )
        return rm, server_max_model_len
    full = int(llm.max_context_tokens)
    if full > longest:
        rm = ReplicaModel(llm, gpu, cfg, max_model_len=longest, served_max_model_len=full)
        if rm.memory().kv_capacity_tokens >= full:
            return rm, full
    return ReplicaModel(llm, gpu, cfg, max_model_len=longest, served_max_model_len=longest), longest


def predict_bench(run: BenchRun, catalog, *, seed: int = 0, gpu_override=None) -> dict[str, Any]:
    """Predicted ``--save-result`` metrics of ``run`` (``gpu_override``: a GPUType to use)."""
    from boute.engine.replica import ReplicaConfig
    from boute.engine.simulator import closed_loop_runs, simulate_bench, simulate_closed_loop

    llm = catalog.model(run.model, field="model")
    gpu = gpu_override if gpu_override is not None else catalog.gpu(run.gpu, field="gpu")
    pr = np.asarray(run.prompt_tokens, dtype=int)
    out = np.asarray(run.output_tokens, dtype=int)
    if len(pr) == 0 or len(pr) != len(out):
        raise InputError(
            f"{run.name}: needs as many prompt as output lengths (got {len(pr)} and {len(out)})",
            hint="input_lens and output_lens of the same run",
        )
    cfg = ReplicaConfig(model=llm.name, gpu=gpu.name, tp=run.tp, weight_dtype=run.weight_dtype, engine=run.engine)
    rm, served = served_context(llm, gpu, cfg, int((pr + out).max()), run.server_max_model_len)
    mem = rm.memory()
    if not mem.feasible:
        # Only a shortage of memory is helped by more GPUs; a structural problem needs another choice.
        raise InputError(
            f"{run.name}: {llm.name} on {run.tp} x {gpu.name} ({run.weight_dtype}) does not fit: {mem.reason}",
            hint="another GPU, precision or --tp" if mem.structural else "a larger --tp or another GPU",
        )
    if run.closed_loop_rounds:
        # The clients at random phases, as docs/fidelity.md predicts these rows (seeded).
        c = int(run.max_concurrency or 1)
        n, k = closed_loop_runs(c, run.closed_loop_rounds)
        res = simulate_closed_loop(
            rm,
            concurrency=c,
            num_requests=n,
            prompt_tokens=int(pr[0]),
            output_tokens=int(out[0]),
            start="random",
            seed=seed,
            arrangements=k,
        )
        s = res.summary()
        return {
            "mean_ttft_ms": s["ttft_mean_s"] * 1e3,
            "mean_tpot_ms": s["tpot_mean_s"] * 1e3,
            "request_throughput": s["throughput_rps"],
            "output_throughput": s["throughput_rps"] * float(out[0]),
        }
    arr = _arrivals(len(pr), run.request_rate, run.burstiness, seed)
    sim = simulate_bench(
        rm,
        arrival_s=arr,
        prompt_tokens=pr,
        output_tokens=out,
        max_concurrency=run.max_concurrency,
        kv_capacity_tokens=mem.kv_capacity_tokens,
    )
    res = bench_metrics(sim, len(pr))
    res.update({"request_rate": run.request_rate, "burstiness": run.burstiness, "max_concurrency": run.max_concurrency})
    res["boute_server"] = {
        "served_max_model_len": served,
        "scheduling": rm.engine.scheduling,
        "chunked_prefill": rm.engine.chunked_prefill,
        "max_num_batched_tokens": rm.max_num_batched_tokens,
        "max_num_seqs": rm.max_num_seqs,
        "kv_capacity_tokens": mem.kv_capacity_tokens,
    }
    return res


# ---------------------------------------------------------------- predict --bench


def _lengths_from_file(path: str) -> tuple[list[int], list[int]]:
    p = pathlib.Path(path)
    if not p.is_file():
        raise InputError(f"--dataset: file {path!r} does not exist", hint="a vLLM --save-result JSON or a CSV of lengths")
    if p.suffix.lower() == ".json":
        try:
            doc = json.loads(p.read_text())
        except ValueError as exc:
            raise InputError(f"--dataset: {p.name} is not valid JSON: {str(exc)[:80]}", hint="fix the file") from None
        if not isinstance(doc, dict) or "input_lens" not in doc or "output_lens" not in doc:
            raise InputError(f"--dataset: {p.name} has no input_lens/output_lens", hint="use a vllm bench serve --save-result file")
        return [int(x) for x in doc["input_lens"]], [int(x) for x in doc["output_lens"]]
    with p.open(newline="") as fh:
        rd = csv.DictReader(fh)
        cols = rd.fieldnames or []
        for a, b in (("prompt_tokens", "output_tokens"), ("ContextTokens", "GeneratedTokens"), ("input_len", "output_len")):
            if a in cols and b in cols:
                ins, outs = [], []
                for i, row in enumerate(rd):
                    try:
                        ins.append(int(row[a]))
                        outs.append(int(row[b]))
                    except (TypeError, ValueError):
                        raise InputError(
                            f"--dataset: {p.name} line {i + 2}: {row[a]!r}, {row[b]!r} are not token counts", hint="fix or drop that line"
                        ) from None
                return ins, outs
    raise InputError(f"--dataset: {p.name} has columns {cols}", hint="give prompt_tokens,output_tokens columns")


def cmd_predict_bench(args, catalog) -> int:
    """``boute predict --bench``: print (and save) the predicted vllm bench serve metrics."""
    from tabulate import tabulate

    from boute.engine.engines import get_profile

    for name in ("num_prompts", "input_len", "output_len"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')}: {getattr(args, name)} must be >= 1", hint="a positive integer")
    if not args.request_rate > 0:
        raise InputError(f"--request-rate: {args.request_rate!r} must be > 0", hint="requests per second, or inf")
    if not args.burstiness > 0:
        raise InputError(f"--burstiness: {args.burstiness!r} must be > 0", hint="1 is Poisson")
    if not 0 <= args.range_ratio < 1:
        raise InputError(f"--range-ratio: {args.range_ratio!r} must be in [0, 1)", hint="e.g. 0 or 0.5")
    if args.server_max_model_len is not None and args.server_max_model_len < 1:
        raise InputError(f"--server-max-model-len: {args.server_max_model_len} must be >= 1", hint="or leave it unset")
    if args.max_concurrency is not None and args.max_concurrency < 1:
        raise InputError(f"--max-concurrency: {args.max_concurrency} must be >= 1", hint="or leave it unset")
    profile = get_profile(args.engine, field="--engine")
    if args.dataset:
        ins, outs = _lengths_from_file(args.dataset)
        reps = math.ceil(args.num_prompts / max(len(ins), 1))
        ins, outs = (ins * reps)[: args.num_prompts], (outs * reps)[: args.num_prompts]
    else:
        rng = np.random.default_rng(args.seed)
        r = args.range_ratio

        def draw(m: int) -> list[int]:
            lo, hi = max(1, int(m * (1 - r))), max(1, int(m * (1 + r)))
            return rng.integers(lo, hi + 1, args.num_prompts).tolist()

        ins, outs = draw(args.input_len), draw(args.output_len)
    llm, gpu = catalog.model(args.model, field="--model"), catalog.gpu(args.gpu, field="--gpu")
    run = BenchRun(
        name="predict",
        model=llm.name,
        gpu=gpu.name,
        tp=args.tp,
        weight_dtype=args.dtype,
        engine=profile.name,
        prompt_tokens=tuple(ins),
        output_tokens=tuple(outs),
        request_rate=args.request_rate,
        burstiness=args.burstiness,
        max_concurrency=args.max_concurrency,
        server_max_model_len=args.server_max_model_len,
    )
    res = predict_bench(run, catalog, seed=args.seed)
    server = res.pop("boute_server")
    res = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S"),
        "backend": "vllm",
        "model_id": llm.hf_id,
        "tokenizer_id": llm.hf_id,
        **res,
        "boute": {
            "prediction": True,
            "gpu": gpu.name,
            "tp": args.tp,
            "dtype": args.dtype,
            "engine": profile.name,
            "spec_only": gpu.spec_only,
            "itls": "not written: per-token gaps are summarised in *_itl_ms",
            "server": server,
        },
    }
    if args.save_result:
        pathlib.Path(args.save_result).write_text(json.dumps(res, indent=1))
    if args.json:
        print(json.dumps({k: v for k, v in res.items() if not isinstance(v, list)}, indent=2))
        return 0
    keys = [
        "duration",
        "completed",
        "request_throughput",
        "output_throughput",
        "total_token_throughput",
        "mean_ttft_ms",
        "median_ttft_ms",
        "p99_ttft_ms",
        "mean_tpot_ms",
        "median_tpot_ms",
        "p99_tpot_ms",
        "mean_itl_ms",
        "median_itl_ms",
        "p99_itl_ms",
        "mean_e2el_ms",
        "median_e2el_ms",
        "p99_e2el_ms",
    ]
    print(tabulate([[k, f"{res[k]:.3f}" if isinstance(res[k], float) else res[k]] for k in keys], headers=["metric", "predicted"]))
    print(
        f"engine {profile.name}; {llm.name} on {args.tp} x {gpu.name} {args.dtype}; {args.num_prompts} prompts at "
        f"{'all at once' if math.isinf(args.request_rate) else f'{args.request_rate:g} req/s'}"
        + (f", max concurrency {args.max_concurrency}" if args.max_concurrency else "")
    )
    print(
        f"server as modelled: --max-model-len {server['served_max_model_len']}, "
        f"{'chunked prefill' if server['chunked_prefill'] else 'whole prompts'} ({server['scheduling']}), "
        f"{server['max_num_batched_tokens']} batched tokens, {server['max_num_seqs']} sequences, "
        f"KV cache {server['kv_capacity_tokens']} tokens"
    )
    if gpu.spec_only:
        print(f"spec-only: {gpu.name} has no measured calibration ({gpu.calibration.source})")
    return 0


# ---------------------------------------------------------------- calibrate --from-bench

COMPARED = (
    "mean_ttft_ms",
    "median_ttft_ms",
    "p99_ttft_ms",
    "mean_tpot_ms",
    "median_tpot_ms",
    "p99_tpot_ms",
    "mean_itl_ms",
    "median_itl_ms",
    "request_throughput",
    "output_throughput",
)

AIC_SYSTEMS = {
    "h100_sxm": "H100-SXM",
    "h200_sxm": "H200",
    "a100_sxm": "A100-80GB-SXM",
    "l40s": "L40S",
    "rtx_pro_6000_server": "RTX-PRO-6000",
}
AIC_BACKENDS = {"vllm": "vllm-v1", "sglang": "sglang", "trtllm": "trtllm"}


def _model_name(text: str, catalog) -> str:
    base = text.split("/")[-1]
    for m in catalog.models.values():
        for n in (m.name, m.hf_id.split("/")[-1], *m.aliases):
            if base.lower().startswith(n.lower()):
                return m.name
    return catalog.model(base, field="model").name


def load_bench_file(
    path: str, catalog, *, model=None, gpu=None, tp=None, dtype=None, engine=None, server_max_model_len=None
) -> list[BenchRun]:
    """Runs in one file: a vLLM ``--save-result`` JSON (one run; ``--metadata gpu=... tp=...
    dtype=... engine=... max_model_len=...`` keys are read) or an aiconfigurator-style CSV (one run per row)."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise InputError(f"--from-bench: file {path!r} does not exist", hint="give vllm bench serve --save-result files")
    if p.suffix.lower() == ".csv":
        return _load_aic_csv(p, catalog, gpu=gpu, engine=engine)
    try:
        doc = json.loads(p.read_text())
    except ValueError as exc:
        raise InputError(
            f"--from-bench: {p.name} is not valid JSON: {' '.join(str(exc).split())[:80]}",
            hint="give the file vllm bench serve --save-result wrote",
        ) from None
    if not isinstance(doc, dict):
        raise InputError(f"--from-bench: {p.name} is not a JSON object", hint="one --save-result file per run")
    need = ("input_lens", "output_lens", "mean_ttft_ms", "mean_tpot_ms", "request_throughput")
    missing = [k for k in need if k not in doc]
    if missing:
        raise InputError(f"--from-bench: {p.name} lacks {', '.join(missing)}", hint="vllm bench serve --save-result writes them")
    m = model or doc.get("model_id") or doc.get("model")
    if not m:
        raise InputError(f"--from-bench: {p.name} names no model", hint="pass --model")
    g = gpu or doc.get("gpu")
    if not g:
        raise InputError(
            f"--from-bench: {p.name} does not say which GPU ran it", hint="pass --gpu, or --metadata gpu=H100-SXM when benchmarking"
        )
    errs = doc.get("errors") or []
    ok = [not e for e in errs] if len(errs) == len(doc["input_lens"]) else [True] * len(doc["input_lens"])
    ins = [int(x) for x, k in zip(doc["input_lens"], ok) if k]
    outs = [int(x) for x, k in zip(doc["output_lens"], ok) if k]
    rate = doc.get("request_rate", "inf")
    rate = math.inf if rate in (None, "inf", "Infinity") else float(rate)
    mc = doc.get("max_concurrency")
    measured = {k: float(doc[k]) for k in COMPARED if isinstance(doc.get(k), (int, float))}
    return [
        BenchRun(
            name=p.name,
            model=_model_name(str(m), catalog),
            gpu=catalog.gpu(str(g), field="gpu").name,
            tp=int(tp or doc.get("tp", 1)),
            weight_dtype=str(dtype or doc.get("dtype", "bf16")),
            engine=str(engine or doc.get("engine", "vllm-v1")),
            prompt_tokens=tuple(ins),
            output_tokens=tuple(outs),
            request_rate=rate,
            burstiness=float(doc.get("burstiness", 1.0) or 1.0),
            max_concurrency=int(mc) if mc else None,
            server_max_model_len=_served_len(p.name, server_max_model_len or doc.get("max_model_len")),
            measured=measured,
        )
    ]


def _served_len(name: str, value) -> int | None:
    if value in (None, "", "auto"):
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or isinstance(value, bool):
        raise InputError(f"{name}: max_model_len {value!r} is not a token count", hint="an integer >= 1, or leave it out")
    return n


def _load_aic_csv(p: pathlib.Path, catalog, *, gpu=None, engine=None) -> list[BenchRun]:
    need = {"model_path", "system", "backend", "isl", "osl", "batch_size", "tp_size", "silicon_ttft_ms", "silicon_tpot_ms"}
    runs = []
    with p.open(newline="") as fh:
        rd = csv.DictReader(fh)
        if not rd.fieldnames or not need <= set(rd.fieldnames):
            raise InputError(
                f"--from-bench: {p.name} lacks columns {sorted(need - set(rd.fieldnames or []))}",
                hint="use aiconfigurator's silicon_sample.csv columns",
            )
        for i, r in enumerate(rd):
            if r.get("mode", "agg") != "agg" or int(r.get("pp_size") or 1) != 1:
                continue
            g = gpu or AIC_SYSTEMS.get(r["system"])
            if g is None:
                continue
            try:
                m = _model_name(r["model_path"], catalog)
            except InputError:
                continue
            q = r.get("gemm_quant_mode") or "bf16"
            b = int(float(r["batch_size"]))
            runs.append(
                BenchRun(
                    name=f"{p.name}:{i + 2}",
                    model=m,
                    gpu=catalog.gpu(g).name,
                    tp=int(float(r["tp_size"])),
                    weight_dtype="fp8" if q.startswith("fp8") else "bf16",
                    engine=engine or AIC_BACKENDS.get(r["backend"], "vllm-v1"),
                    prompt_tokens=(int(r["isl"]),),
                    output_tokens=(int(r["osl"]),),
                    max_concurrency=b,
                    closed_loop_rounds=4,
                    measured={"mean_ttft_ms": float(r["silicon_ttft_ms"]), "mean_tpot_ms": float(r["silicon_tpot_ms"])},
                )
            )
    if not runs:
        raise InputError(
            f"--from-bench: {p.name} has no aggregated PP1 row of a catalog model on a known GPU",
            hint="pass --gpu to name the GPU of every row",
        )
    return runs


def _errors(runs, catalog, gpu_override=None) -> list[dict]:
    rows = []
    for run in runs:
        pred = predict_bench(run, catalog, gpu_override=gpu_override if (gpu_override and gpu_override.name == run.gpu) else None)
        row = {"file": run.name, "gpu": run.gpu, "model": run.model, "tp": run.tp, "dtype": run.weight_dtype, "engine": run.engine}
        for k, meas in run.measured.items():
            if k in pred and meas:
                row[k] = {"measured": meas, "predicted": pred[k], "error_pct": (pred[k] / meas - 1) * 100}
        rows.append(row)
    return rows


def scaled_gpu(gpu, mem_scale: float, compute_scale: float):
    """``gpu`` with its memory-side efficiencies times ``mem_scale`` and compute-side ones
    times ``compute_scale`` (the per-M GEMM curve blends the two by log2 M: memory-bound
    at M <= 64, compute-bound at M >= 1024); every fraction capped at 1."""
    cal = gpu.calibration

    def c(x, s):
        return None if x is None else float(min(1.0, max(0.01, x * s)))

    def curve(cv):
        if cv is None:
            return None
        out = []
        for i, x in enumerate(cv):
            w = min(1.0, max(0.0, (i - 6) / 4.0))
            out.append(round(c(x, mem_scale ** (1 - w) * compute_scale**w), 4))
        return tuple(out)

    new = attrs.evolve(
        cal,
        gemm_memory_efficiency=c(cal.gemm_memory_efficiency, mem_scale),
        attention_memory_efficiency=c(cal.attention_memory_efficiency, mem_scale),
        gemm_compute_efficiency=c(cal.gemm_compute_efficiency, compute_scale),
        attention_compute_efficiency=c(cal.attention_compute_efficiency, compute_scale),
        fp8_gemm_memory_efficiency=c(cal.fp8_gemm_memory_efficiency, mem_scale),
        fp8_gemm_compute_efficiency=c(cal.fp8_gemm_compute_efficiency, compute_scale),
        gemm_efficiency_by_log2_m=curve(cal.gemm_efficiency_by_log2_m),
        fp8_gemm_efficiency_by_log2_m=curve(cal.fp8_gemm_efficiency_by_log2_m),
    )
    return attrs.evolve(gpu, calibration=new)


def _mal(rows, keys) -> float:
    e = [abs(math.log(r[k]["predicted"] / r[k]["measured"])) for r in rows for k in keys if k in r and r[k]["predicted"] > 0]
    return float(np.median(e)) if e else math.inf


def fit_gpu_scales(runs, catalog, gpu_name: str) -> dict:
    """Fit ``(mem_scale, compute_scale)`` of one GPU on ``runs``: the memory scale on TPOT
    (decode streams weights and KV), then the compute scale on TTFT and throughput, each
    by a grid search on the median absolute log error."""
    gpu = catalog.gpu(gpu_name, field="--fit")
    mine = [r for r in runs if r.gpu == gpu.name]
    if not mine:
        raise InputError(f"--fit: no run in the files is on {gpu.name}", hint="fit a GPU the files measured")
    grid = np.round(np.arange(0.4, 1.61, 0.05), 2)
    tpot_keys, ttft_keys = ("mean_tpot_ms", "median_tpot_ms"), ("mean_ttft_ms", "median_ttft_ms", "request_throughput")
    before = _errors(mine, catalog)
    best_m = min(grid, key=lambda s: _mal(_errors(mine, catalog, scaled_gpu(gpu, s, 1.0)), tpot_keys))
    best_c = min(grid, key=lambda s: _mal(_errors(mine, catalog, scaled_gpu(gpu, best_m, s)), ttft_keys))
    after = _errors(mine, catalog, scaled_gpu(gpu, best_m, best_c))
    return {
        "gpu": gpu.name,
        "mem_scale": float(best_m),
        "compute_scale": float(best_c),
        "runs": len(mine),
        "tpot_mal_before": _mal(before, tpot_keys),
        "tpot_mal_after": _mal(after, tpot_keys),
        "ttft_mal_before": _mal(before, ttft_keys),
        "ttft_mal_after": _mal(after, ttft_keys),
        "fitted_gpu": scaled_gpu(gpu, best_m, best_c),
    }


def render_plugin(fit: dict, files: list[str]) -> str:
    """A calibration plugin module: the fitted GPU under ``<name>-fitted``, with provenance."""
    g = fit["fitted_gpu"]
    today = datetime.date.today().isoformat()
    digests = [f"{pathlib.Path(f).name} sha256:{hashlib.sha256(pathlib.Path(f).read_bytes()).hexdigest()[:16]}" for f in files]
    src = (
        f"fitted by boute calibrate --from-bench on {fit['runs']} runs ({'; '.join(digests)}): memory-side efficiencies "
        f"x{fit['mem_scale']:.2f}, compute-side x{fit['compute_scale']:.2f} of {g.calibration.source}; median |log error| "
        f"TPOT {fit['tpot_mal_before']:.3f} -> {fit['tpot_mal_after']:.3f}, TTFT/throughput {fit['ttft_mal_before']:.3f} -> "
        f"{fit['ttft_mal_after']:.3f}"
    )
    cal = attrs.asdict(g.calibration)
    cal.update(measured=True, source=src, source_date=today)
    spec = attrs.asdict(g, recurse=False)
    spec.pop("calibration")
    spec.update(name=f"{g.name}-fitted", aliases=())
    return "\n".join(
        [
            f'"""Calibration plugin for {g.name}, GENERATED by `boute calibrate --from-bench --fit {g.name}` on {today}.',
            "",
            "Register it in your package's pyproject.toml:",
            "",
            '    [project.entry-points."boute.gpus"]',
            f'    {g.name.lower().replace("-", "_")}_fitted = "<this_module>:gpus"',
            "",
            f"Provenance: {src}",
            '"""',
            "",
            "from boute.engine.catalog import Calibration, GPUType",
            "",
            f"CALIBRATION = {cal!r}",
            f"SPEC = {spec!r}",
            "",
            "",
            "def gpus():",
            f'    """{g.name} with efficiencies fitted on measured benchmark runs."""',
            "    cal = dict(CALIBRATION)",
            "    for key in ('gemm_efficiency_by_log2_m', 'fp8_gemm_efficiency_by_log2_m'):",
            "        if cal[key] is not None:",
            "            cal[key] = tuple(cal[key])",
            "    return [GPUType(**SPEC, calibration=Calibration(**cal))]",
            "",
        ]
    )


def cmd_calibrate(args, catalog) -> int:
    """``boute calibrate --from-bench FILES``: errors per file and metric; ``--fit`` writes a plugin."""
    from tabulate import tabulate

    from boute.engine.engines import get_profile

    if args.engine:
        get_profile(args.engine, field="--engine")
    if args.tp is not None and args.tp < 1:
        raise InputError(f"--tp: {args.tp} must be >= 1", hint="e.g. 1, 2, 4 or 8")
    if args.fit and not args.out:
        raise InputError("--fit: needs --out FILE.py for the calibration plugin", hint="e.g. --out my_gpu_fit.py")
    runs = []
    for f in args.from_bench:
        runs += load_bench_file(
            f,
            catalog,
            model=args.model,
            gpu=args.gpu,
            tp=args.tp,
            dtype=args.dtype,
            engine=args.engine,
            server_max_model_len=args.server_max_model_len,
        )
    rows = _errors(runs, catalog)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        table = []
        for r in rows:
            for k in COMPARED:
                if k in r:
                    table.append(
                        [
                            r["file"],
                            f"{r['model']} {r['tp']}x{r['gpu']} {r['dtype']} {r['engine']}",
                            k,
                            f"{r[k]['measured']:.2f}",
                            f"{r[k]['predicted']:.2f}",
                            f"{r[k]['error_pct']:+.1f} %",
                        ]
                    )
        print(tabulate(table, headers=["file", "config", "metric", "measured", "predicted", "error"]))
        for k in COMPARED:
            e = [abs(r[k]["error_pct"]) for r in rows if k in r]
            if e:
                print(f"{k}: median |error| {np.median(e):.1f} % over {len(e)} runs")
    if args.fit:
        fit = fit_gpu_scales(runs, catalog, args.fit)
        pathlib.Path(args.out).write_text(render_plugin(fit, args.from_bench))
        print(
            f"fitted {fit['gpu']}: memory x{fit['mem_scale']:.2f}, compute x{fit['compute_scale']:.2f}; median |log error| "
            f"TPOT {fit['tpot_mal_before']:.3f} -> {fit['tpot_mal_after']:.3f}, TTFT/throughput "
            f"{fit['ttft_mal_before']:.3f} -> {fit['ttft_mal_after']:.3f}; wrote {args.out}"
        )
    return 0
