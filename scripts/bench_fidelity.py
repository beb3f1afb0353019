#!/usr/bin/env python3
"""Fidelity of stage 1 + stage 2 against measured end-to-end runs.

Reads the end-to-end rows of aiconfigurator-core's ``systems/silicon_sample.csv``
(NVIDIA's measured TTFT/TPOT for fixed-concurrency benchmarks; needs
``pip install 'boute[calibrate]'``) for the Llama-3.1 models on the GPUs boute has
measured calibration for, predicts each row, and writes:

* ``results/fidelity.json``: every row with prediction and measurement;
* ``docs/fidelity.md``: median / p90 absolute percentage error per GPU, model, backend,
  dtype and metric, and the scatter plot ``docs/img/fidelity.png``.

Two predictors are reported:

* ``sim``: the stage-2 simulator run as the benchmark runs: ``concurrency`` clients start
  together and each completion starts the next request, ``10 x concurrency`` requests in
  all (the benchmark's request count is not published; 10 rounds is our assumption, and
  the doc shows how TTFT depends on it);
* ``steady``: the closed-form steady state of the same closed loop
  (``boute.engine.replica.steady_state_closed_loop``), which ignores the start-up burst.

Rows are also checked against a physical bound: the prefill FLOPs the measured rate
implies must stay under the best GEMM throughput the GPU reaches in NVIDIA's own tables. Rows above it cannot be explained without
prefix caching (vLLM enables it by default, and benchmark prompts may share prefixes);
they are reported and flagged, never dropped.

    python scripts/bench_fidelity.py            # all rows (about a minute)
    python scripts/bench_fidelity.py --rounds 3 # another assumption for the request count
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import pathlib
import sys
import time

import numpy as np

from boute.engine import load_catalog

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The highest fraction of dense peak any large GEMM reaches in NVIDIA's own vLLM operator
# tables (aiconfigurator-core 0.12.0, gemm_perf.parquet, m = n = k = 8192): H100 BF16 880 of
# 989 TFLOPS (0.89), H200 FP8 1317 of 1978 (0.67). Prefill cannot run faster than its GEMMs.
BEST_GEMM_FRACTION = {"bf16": 0.89, "fp8": 0.67}

SYSTEMS = {"h100_sxm": "H100-SXM", "h200_sxm": "H200", "a100_sxm": "A100-80GB-SXM", "l40s": "L40S", "rtx_pro_6000_server": "RTX-PRO-6000"}


def load_rows(path: pathlib.Path) -> list[dict]:
    rows = []
    with path.open() as fh:
        for r in csv.DictReader(fh):
            if "Llama-3.1" not in r["model_path"] or r["mode"] != "agg" or r["system"] not in SYSTEMS:
                continue
            if int(r["pp_size"] or 1) != 1 or int(r["attention_dp_size"] or 1) != 1:
                continue
            rows.append(r)
    return rows


def predict(rows, rounds: float):
    from boute.engine.replica import ReplicaConfig, ReplicaModel, steady_state_closed_loop
    from boute.engine.simulator import simulate_closed_loop

    cat = load_catalog()
    out = []
    for r in rows:
        model = "Llama-3.1-8B" if "8B" in r["model_path"] else "Llama-3.1-70B"
        wd = "fp8" if r["gemm_quant_mode"] in ("fp8", "fp8_block") else "bf16"
        gpu = cat.gpu(SYSTEMS[r["system"]])
        isl, osl, b, tp = int(r["isl"]), int(r["osl"]), int(r["batch_size"]), int(r["tp_size"])
        cfg = ReplicaConfig(model=model, gpu=gpu.name, tp=tp, pp=1, weight_dtype=wd)
        rm = ReplicaModel(cat.model(model), gpu, cfg, max_model_len=isl + osl)
        mem = rm.memory()
        row = {"model": model, "gpu": gpu.name, "backend": r["backend"], "dtype": wd, "isl": isl, "osl": osl, "batch": b, "tp": tp,
               "measured_ttft_ms": float(r["silicon_ttft_ms"]), "measured_tpot_ms": float(r["silicon_tpot_ms"]), "fits": mem.feasible}
        if not mem.feasible:
            row["reason"] = mem.reason
            out.append(row)
            continue
        ss = steady_state_closed_loop(rm, b, isl, osl)
        sim = simulate_closed_loop(rm, concurrency=b, num_requests=int(round(b * rounds)), prompt_tokens=isl, output_tokens=osl).summary()
        # physical bound: prefill FLOPs/s implied by the measured request rate vs dense peak
        rate = b / (row["measured_ttft_ms"] / 1e3 + (osl - 1) * row["measured_tpot_ms"] / 1e3)
        flops = rate * isl * 2 * cat.model(model).active_params
        peak = gpu.peak_tflops(wd) * 1e12 * tp * BEST_GEMM_FRACTION[wd]
        row.update(steady_ttft_ms=ss["ttft_s"] * 1e3, steady_tpot_ms=ss["tpot_s"] * 1e3,
                   sim_ttft_ms=sim["ttft_mean_s"] * 1e3, sim_tpot_ms=sim["tpot_mean_s"] * 1e3,
                   implied_prefill_fraction_of_peak=flops / peak)
        out.append(row)
    return out


def ape(pred, meas):
    return abs(pred / meas - 1) * 100


def summarize(rows, key):
    groups: dict = {}
    for r in rows:
        if not r["fits"]:
            continue
        groups.setdefault(key(r), []).append(r)
    table = []
    for k, rs in sorted(groups.items()):
        rec = {"group": k, "rows": len(rs)}
        for pred in ("sim", "steady"):
            for m in ("ttft", "tpot"):
                e = np.array([ape(r[f"{pred}_{m}_ms"], r[f"measured_{m}_ms"]) for r in rs])
                rec[f"{pred}_{m}_median"] = float(np.median(e))
                rec[f"{pred}_{m}_p90"] = float(np.percentile(e, 90))
        table.append(rec)
    return table


def plot(rows, path: pathlib.Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), dpi=110)
    colors = {"H100-SXM": "tab:blue", "H200": "tab:orange"}
    for ax, m in zip(axes, ("ttft", "tpot")):
        for gpu, c in colors.items():
            rs = [r for r in rows if r["fits"] and r["gpu"] == gpu]
            ok = [r for r in rs if r["implied_prefill_fraction_of_peak"] <= 1.0]
            bad = [r for r in rs if r["implied_prefill_fraction_of_peak"] > 1.0]
            ax.scatter([r[f"measured_{m}_ms"] for r in ok], [r[f"sim_{m}_ms"] for r in ok], s=10, color=c, alpha=0.6, label=gpu)
            if bad:
                ax.scatter([r[f"measured_{m}_ms"] for r in bad], [r[f"sim_{m}_ms"] for r in bad], s=18, marker="x", color=c,
                           label=f"{gpu}: above FLOP bound")
        lo = min(min(r[f"measured_{m}_ms"], r[f"sim_{m}_ms"]) for r in rows if r["fits"])
        hi = max(max(r[f"measured_{m}_ms"], r[f"sim_{m}_ms"]) for r in rows if r["fits"])
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"measured {m.upper()} (ms)")
        ax.set_ylabel(f"predicted {m.upper()} (ms, simulated)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle("boute stage 1 + 2 vs aiconfigurator-core silicon_sample.csv (Llama-3.1)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=float, default=10.0, help="requests per client in the simulated benchmark (default 10)")
    ap.add_argument("--no-doc", action="store_true", help="only print the summary")
    args = ap.parse_args()
    spec = importlib.util.find_spec("aiconfigurator_core")
    if spec is None:
        print("error: aiconfigurator-core is not installed (hint: pip install 'aiconfigurator-core==0.12.0' pyarrow)", file=sys.stderr)
        return 2
    sample = pathlib.Path(spec.submodule_search_locations[0]) / "systems" / "silicon_sample.csv"
    t0 = time.perf_counter()
    rows = predict(load_rows(sample), args.rounds)
    took = time.perf_counter() - t0
    by_group = summarize(rows, lambda r: (r["gpu"], r["model"], r["backend"], r["dtype"]))
    by_gpu = summarize(rows, lambda r: (r["gpu"],))
    physical = [r for r in rows if r["fits"] and r["implied_prefill_fraction_of_peak"] <= 1.0]
    by_gpu_phys = summarize(physical, lambda r: (r["gpu"],))
    # sensitivity of the simulated TTFT to the assumed request count
    sens = {}
    for rr in (1, 3, 10, 30):
        sub = predict([r for r in load_rows(sample) if r["system"] == "h100_sxm" and "8B" in r["model_path"]][::6], rr)
        e = [ape(r["sim_ttft_ms"], r["measured_ttft_ms"]) for r in sub if r["fits"]]
        b = [r["sim_ttft_ms"] / r["measured_ttft_ms"] - 1 for r in sub if r["fits"]]
        sens[rr] = (float(np.median(e)), float(np.median(b)) * 100)
    from boute.engine.replica import ReplicaConfig, ReplicaModel

    cat = load_catalog()
    m = ReplicaModel(cat.model("Llama-3.1-70B"), cat.gpu("H100"), ReplicaConfig(model="Llama-3.1-70B", gpu="H100-SXM", tp=4), max_model_len=4096)
    n = 100_000
    bs = np.random.default_rng(0).integers(1, 256, n)
    ctx = bs * 1500
    t1 = time.perf_counter()
    m.iteration_time(np.zeros(n), np.zeros(n), bs, ctx)
    per_point_us = (time.perf_counter() - t1) / n * 1e6
    tab = m.step_tables(9000, 300)
    t1 = time.perf_counter()
    acc = 0.0
    for b, c in zip(bs[:20000].tolist(), ctx[:20000].tolist()):
        acc += tab.token_s[b] + tab.decode0_s + tab.sample_s[b] + tab.beta_s * c
    per_scalar_us = (time.perf_counter() - t1) / 20000 * 1e6
    result = {"rows": rows, "by_group": by_group, "by_gpu": by_gpu, "by_gpu_physical": by_gpu_phys, "rounds": args.rounds,
              "sensitivity_ttft_rounds": sens, "predict_us_vectorised": per_point_us, "predict_us_simulator_scalar": per_scalar_us,
              "seconds": took}
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "fidelity.json").write_text(json.dumps(result, indent=1, default=str))
    for rec in by_gpu:
        print(f"{rec['group'][0]:10s} rows {rec['rows']:4d}  TTFT median {rec['sim_ttft_median']:.1f} %  TPOT median {rec['sim_tpot_median']:.1f} % "
              f"(steady-state: {rec['steady_ttft_median']:.1f} % / {rec['steady_tpot_median']:.1f} %)")
    print(f"one prediction: {per_point_us:.3f} us vectorised, {per_scalar_us:.3f} us per simulator step; {took:.1f} s total")
    if not args.no_doc:
        plot(rows, ROOT / "docs" / "img" / "fidelity.png")
        write_doc(result)
    return 0


def _t(records, label):
    lines = [f"| {label} | rows | TTFT median | TTFT p90 | TPOT median | TPOT p90 | steady TTFT median | steady TPOT median |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        lines.append(f"| {' / '.join(r['group'])} | {r['rows']} | {r['sim_ttft_median']:.1f} % | {r['sim_ttft_p90']:.1f} % | "
                     f"{r['sim_tpot_median']:.1f} % | {r['sim_tpot_p90']:.1f} % | {r['steady_ttft_median']:.1f} % | {r['steady_tpot_median']:.1f} % |")
    return "\n".join(lines)


def write_doc(res):
    rows = res["rows"]
    n_fit = sum(r["fits"] for r in rows)
    over = [r for r in rows if r["fits"] and r["implied_prefill_fraction_of_peak"] > 1.0]
    over_groups = sorted({(r["gpu"], r["model"], r["backend"], r["dtype"]) for r in over})
    sens = "\n".join(f"| {k} | {v[0]:.1f} % | {v[1]:+.1f} % |" for k, v in res["sensitivity_ttft_rounds"].items())
    parts = []
    for rec in res["by_gpu"]:
        g = rec["group"][0]
        ok = [m.upper() for m in ("ttft", "tpot") if rec[f"sim_{m}_median"] <= 10.0]
        bad = [f"{m.upper()} {rec[f'sim_{m}_median']:.1f} %" for m in ("ttft", "tpot") if rec[f"sim_{m}_median"] > 10.0]
        parts.append(f"{g}: " + (f"{' and '.join(ok)} within it" if ok else "neither metric within it") + (f", {', '.join(bad)} median" if bad else ""))
    text = FIDELITY_TEMPLATE.format(target="; ".join(parts),
        n=len(rows), n_fit=n_fit, by_gpu=_t(res["by_gpu"], "GPU"), by_gpu_phys=_t(res["by_gpu_physical"], "GPU"),
        by_group=_t(res["by_group"], "GPU / model / backend / dtype"), n_over=len(over),
        over_groups=", ".join(" / ".join(g) for g in over_groups) or "none", rounds=res["rounds"], sens=sens,
        us=res["predict_us_vectorised"], us2=res["predict_us_simulator_scalar"],
    )
    (ROOT / "docs" / "fidelity.md").write_text(text)


FIDELITY_TEMPLATE = """# Fidelity: boute's predictions against measured GPUs

Generated by `python scripts/bench_fidelity.py` (needs the optional extra:
`pip install 'aiconfigurator-core==0.12.0' pyarrow`); raw rows in `results/fidelity.json`.

## What is compared

NVIDIA's `aiconfigurator-core` 0.12.0 ships `systems/silicon_sample.csv`: measured mean TTFT
and TPOT of end-to-end serving benchmarks at fixed concurrency. We take every aggregated
(non-disaggregated), PP1 row of the Llama-3.1 models on GPUs boute has measured calibration
for: {n} rows ({n_fit} fit in memory under boute's model), H100 SXM and H200, backends
TensorRT-LLM, vLLM and SGLang, BF16 and FP8. The calibration constants were fitted on a
different data set (the per-operator GEMM / attention / all-reduce tables, see
`scripts/calibrate.py`), never on these rows.

Predicted ("sim") = boute's stage 2 simulating the benchmark: `concurrency` clients start
together, each completion starts the next request, `{rounds:g} x concurrency` requests in
all. "steady" = the closed-form steady state of the same loop (no start-up burst).

## Errors per GPU (median / p90 absolute percentage error)

{by_gpu}

Only rows consistent with the best GEMM throughput measured on the GPU (see below):

{by_gpu_phys}

## Errors per group

{by_group}

![predicted vs measured](img/fidelity.png)

## Findings

- **TPOT (the decode step) is where the physics holds best** on H100: both the BF16
  Llama-3.1-8B rows (TensorRT-LLM) and the FP8 Llama-3.1-70B rows (vLLM, the kernels the
  calibration comes from) are within about 8 % median. On H200 every row is FP8 and the
  errors are larger: boute's FP8 GEMM efficiencies come from vLLM's per-tensor CUTLASS
  table, which reaches only 45-50 % of the FP8 peak in the scalar fit, while TensorRT-LLM's
  and SGLang's own FP8 kernels run faster than that, and the vLLM 8B FP8 group contains the
  rows flagged below.
- **{n_over} rows imply more prefill FLOP/s than the best large GEMM reaches in NVIDIA's own
  operator tables** (89 % of BF16 peak, 67 % of FP8 peak) ({over_groups}). No model built on
  those kernels can reach them; the likeliest cause is prefix caching (on by default in
  vLLM and SGLang) with benchmark prompts that share prefixes. They are kept in the tables
  above and marked with crosses in the plot.
- **TTFT depends on the benchmark protocol**, which the CSV does not record: how many
  requests were sent per client decides how much of the start-up burst (all clients
  prefilling at once) is averaged in. Median TTFT error on a sample of H100 8B rows against
  the assumed rounds per client:

| rounds per client | median APE | median bias |
|---:|---:|---:|
{sens}

  The issue's target (median <= 10 % on TTFT and TPOT for every measured GPU) is **not met**:
  {target}. Calibrating on these end-to-end rows would
  close the gap on paper but would fit the rows, not the physics, so we did not.
- Speed: one (config, batch, context) prediction costs {us:.3f} us vectorised over 100,000
  points with numpy, and {us2:.3f} us per iteration inside the simulator (precomputed tables).

## What is not here

- GPUs without measured calibration (RTX 5090, RTX 4090, A10G, L4, T4, H100 PCIe) are
  `spec-only`: spec-sheet rooflines with efficiencies borrowed from the closest measured
  architecture, and every prediction shown for them says so.
- No public vLLM serving measurement beyond this CSV could be fetched from this machine (no
  network); no GPU was available to this task to measure our own.
"""


if __name__ == "__main__":
    sys.exit(main())
