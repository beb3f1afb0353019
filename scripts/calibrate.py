#!/usr/bin/env python3
"""Fit boute's per-GPU efficiency constants on NVIDIA's measured operator tables.

Reads aiconfigurator-core's silicon tables (``pip install 'boute[calibrate]'``) for the
vLLM backend of every measured system, fits each operator's roofline constants by grid
search on the median absolute log error, and writes ``gpus/calibration.py`` (a
generated, sourced module the default install reads; it needs no aiconfigurator-core).
For H100 SXM and H200 it also fits the GEMM and all-reduce constants on TensorRT-LLM's and
SGLang's own kernel tables (``ENGINE_KERNELS``): a replica whose engine profile runs those
kernels uses them (``Calibration.for_engine``); attention stays the vLLM fit.

    python scripts/calibrate.py            # rewrite gpus/calibration.py
    python scripts/calibrate.py --check    # refit and fail if the file is stale

Operators and models (all times in seconds; P peak FLOP/s, BW bytes/s from the spec):
  GEMM (bf16, m x n x k): max(2mnk / (P e_c), (2nk + 2m(n+k)) / (BW e_m)) + t0
  context attention:      4 * b * s^2/2 * heads * hd / (P a_c) + a0
  generation attention:   b * ctx * 2 * kv_heads * hd * 2 / (BW a_m) + a0
  all-reduce (n GPUs):    lat + 2 (n-1)/n * bytes / (link * e_ar)
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "gpus" / "calibration.py"
AIC_VERSION = "0.12.0"

# boute GPU name -> (aiconfigurator system folder, peak bf16 / fp8 TFLOPS, HBM GB/s, link GB/s),
# the same spec figures as gpus/catalog.py
MEASURED = {
    "H100-SXM": ("h100_sxm", 989.0, 1978.0, 3350.0, 450.0),
    "H200": ("h200_sxm", 989.0, 1978.0, 4800.0, 450.0),
    "A100-80GB-SXM": ("a100_sxm", 312.0, None, 2039.0, 300.0),
    "L40S": ("l40s", 362.05, 733.0, 864.0, 32.0),
    "RTX-PRO-6000": ("rtx_pro_6000_server", 467.8, 935.6, 1792.0, 64.0),
}
# Spec-only GPUs borrow from the closest measured architecture (compute/memory) and the
# closest link kind (all-reduce).
BORROW = {
    "H100-PCIe": ("H100-SXM", "RTX-PRO-6000"),
    "RTX-5090": ("RTX-PRO-6000", "RTX-PRO-6000"),
    "RTX-4090": ("L40S", "L40S"),
    "L4": ("L40S", "L40S"),
    "A10G": ("A100-80GB-SXM", "L40S"),
    "T4": ("A100-80GB-SXM", "L40S"),
}


def _newest(folder: pathlib.Path) -> pathlib.Path:
    return _newest_of(list(folder.iterdir()))


def _newest_of(dirs: list) -> pathlib.Path:
    versions = sorted(dirs, key=lambda p: tuple(int(x) if x.isdigit() else 0 for x in p.name.replace("rc", ".").split(".")))
    return versions[-1]


def _plain_attention(df):
    """BF16-KV, full-window, head_dim-128 rows (the shapes of the catalog's models)."""
    keep = (df.kv_cache_dtype == "bfloat16") & (df.head_dim == 128)
    if "window_size" in df.columns:
        keep &= df.window_size == 0
    return df[keep]


M_BUCKETS = 16  # log2(m) = 0 .. 15, i.e. m = 1 .. 32768 tokens


def _m_curve(g, dtype: str, peak: float, bw: float, wbytes: float):
    """Achieved fraction of the roofline time, per log2(m) bucket, for GEMMs with
    n, k >= 1024 (the catalog models' projection shapes): median of roofline/measured."""
    x = g[(g.gemm_dtype == dtype) & (g.n >= 1024) & (g.k >= 1024)]
    if not len(x):
        return None
    m, n, k, t = (x[c].to_numpy(float) for c in ("m", "n", "k", "latency"))
    t = t * 1e-3
    roof = np.maximum(2 * m * n * k / peak, (n * k * wbytes + 2 * m * (n + k)) / bw)
    ratio = roof / t
    lm = np.rint(np.log2(m)).astype(int)
    curve = []
    for b in range(M_BUCKETS):
        sel = ratio[lm == b]
        curve.append(float(np.median(sel)) if len(sel) else (curve[-1] if curve else 0.5))
    return tuple(round(min(max(c, 0.01), 1.0), 4) for c in curve)


def _mal(pred: np.ndarray, meas: np.ndarray) -> float:
    return float(np.median(np.abs(np.log(pred / meas))))


def _grid(fn, grids):
    best, arg = np.inf, None
    for a in grids[0]:
        for b in grids[1]:
            for c in grids[2] if len(grids) > 2 else [None]:
                err = fn(a, b, c)
                if err < best:
                    best, arg = err, (a, b, c)
    return arg, best


def fit_system(
    data_root: pathlib.Path, system: str, peak_tflops: float, fp8_tflops: float | None, hbm: float, link: float, engine: str = "vllm"
) -> dict:
    import pyarrow.parquet as pq

    P, BW, LINK = peak_tflops * 1e12, hbm * 1e9, link * 1e9
    base = data_root / system
    out: dict = {}
    eff = np.linspace(0.3, 1.0, 36)
    t0s = np.array([2, 4, 6, 8, 10, 15, 20, 30]) * 1e-6

    g_all = pq.read_table(_newest(base / "gemm" / engine) / "gemm_perf.parquet").to_pandas()
    g = g_all[(g_all.gemm_dtype == "bfloat16") & (g_all.n >= 512) & (g_all.k >= 512)]
    g = g.sample(n=min(len(g), 20000), random_state=0)
    m, n, k, t = (g[c].to_numpy(float) for c in ("m", "n", "k", "latency"))
    t = t * 1e-3
    flops, byts = 2 * m * n * k, 2 * n * k + 2 * m * (n + k)
    (ec, em, t0), err = _grid(lambda a, b, c: _mal(np.maximum(flops / (P * a), byts / (BW * b)) + c, t), (eff, eff, t0s))
    out.update(gemm_compute_efficiency=ec, gemm_memory_efficiency=em, gemm_overhead_us=t0 * 1e6, gemm_mal=err, gemm_rows=len(g))

    g8 = g_all[(g_all.gemm_dtype == "fp8") & (g_all.n >= 512) & (g_all.k >= 512)]
    if len(g8) and fp8_tflops:
        g8 = g8.sample(n=min(len(g8), 20000), random_state=0)
        m, n, k, t = (g8[c].to_numpy(float) for c in ("m", "n", "k", "latency"))
        t = t * 1e-3
        flops, byts = 2 * m * n * k, n * k + 2 * m * (n + k)
        P8 = fp8_tflops * 1e12
        (ec8, em8, t08), err8 = _grid(
            lambda a, b, c: _mal(np.maximum(flops / (P8 * a), byts / (BW * b)) + c, t), (np.linspace(0.1, 1.0, 46), eff, t0s)
        )
        out.update(fp8_gemm_compute_efficiency=ec8, fp8_gemm_memory_efficiency=em8, fp8_gemm_overhead_us=t08 * 1e6, fp8_gemm_mal=err8)
    else:
        out.update(fp8_gemm_compute_efficiency=None, fp8_gemm_memory_efficiency=None, fp8_gemm_overhead_us=None, fp8_gemm_mal=float("nan"))

    for dtype, key, peak_f, wbytes in (
        ("bfloat16", "gemm_efficiency_by_log2_m", P, 2.0),
        ("fp8", "fp8_gemm_efficiency_by_log2_m", (fp8_tflops or 0) * 1e12, 1.0),
    ):
        out[key] = _m_curve(g_all, dtype, peak_f, BW, wbytes) if peak_f else None

    adir = _newest(base / "attention" / engine)
    a = pq.read_table(adir / "context_attention_perf.parquet").to_pandas()
    a = _plain_attention(a)
    b, s, hq, hd, t = (a[c].to_numpy(float) for c in ("batch_size", "isl", "num_heads", "head_dim", "latency"))
    t = t * 1e-3
    fl = 4 * b * s * s / 2 * hq * hd
    (ac, _, a0), err = _grid(lambda x, _y, c: _mal(fl / (P * x) + c, t), (eff, [1.0], t0s))
    out.update(attention_compute_efficiency=ac, attention_overhead_us=a0 * 1e6, ctx_attn_mal=err)

    d = pq.read_table(adir / "generation_attention_perf.parquet").to_pandas()
    d = _plain_attention(d)
    b, ctx, hkv, hd, t = (d[c].to_numpy(float) for c in ("batch_size", "step", "num_key_value_heads", "head_dim", "latency"))
    ctx = ctx + d["isl"].to_numpy(float)
    t = t * 1e-3
    by = b * ctx * 2 * hkv * hd * 2
    (am, _, _), err = _grid(lambda x, _y, c: _mal(by / (BW * x) + a0, t), (eff, [1.0], [a0]))
    out.update(attention_memory_efficiency=am, gen_attn_mal=err)

    # The engine's own all-reduce table where aiconfigurator has one (TensorRT-LLM's fused
    # kernels are faster than vLLM's custom all-reduce), else vLLM's.
    cdir = base / "comm" / engine
    have = [d for d in cdir.iterdir() if (d / "custom_allreduce_perf.parquet").is_file()] if cdir.is_dir() else []
    if not have:
        cdir = base / "comm" / "vllm"
        have = [d for d in cdir.iterdir() if (d / "custom_allreduce_perf.parquet").is_file()]
    cver = _newest_of(have)
    c = pq.read_table(cver / "custom_allreduce_perf.parquet").to_pandas()
    if "backend" in c.columns and c.backend.str.contains("graph").any():
        c = c[c.backend.str.contains("graph")]  # vLLM's table: CUDA-graph replays, as served
    ng, size, t = (c[x].to_numpy(float) for x in ("num_gpus", "message_size", "latency"))
    t, byts = t * 1e-3, size * 2.0
    lats = np.array([3, 5, 8, 10, 15, 20, 30, 50]) * 1e-6
    (ear, _, lat), err = _grid(lambda x, _y, lat_s: _mal(lat_s + 2 * (ng - 1) / ng * byts / (LINK * x), t), (eff, [1.0], lats))
    out.update(allreduce_bandwidth_efficiency=ear, allreduce_latency_us=lat * 1e6, allreduce_mal=err)
    out["tables"] = (
        f"{system}: gemm/{engine}/{_newest(base / 'gemm' / engine).name}, attention/{engine}/{adir.name}, comm/{cdir.name}/{cver.name}"
    )
    return out


# Engines whose own kernel tables give per-engine overrides of the GEMM and all-reduce
# constants (attention stays the vLLM fit), for the GPUs with silicon serving rows.
ENGINE_KERNELS = ("trtllm", "sglang")
ENGINE_GPUS = ("H100-SXM", "H200")
# GEMM constants only: the one-parameter decode-attention fit is poor on the other engines'
# tables (median |log error| 0.30-0.35 against vLLM's 0.19), so attention stays vLLM's.
ENGINE_FIELDS = (
    "gemm_compute_efficiency",
    "gemm_memory_efficiency",
    "gemm_overhead_us",
    "fp8_gemm_compute_efficiency",
    "fp8_gemm_memory_efficiency",
    "fp8_gemm_overhead_us",
    "gemm_efficiency_by_log2_m",
    "fp8_gemm_efficiency_by_log2_m",
    "allreduce_latency_us",
    "allreduce_bandwidth_efficiency",
)

FIELDS = (
    "gemm_compute_efficiency",
    "gemm_memory_efficiency",
    "gemm_overhead_us",
    "attention_compute_efficiency",
    "attention_memory_efficiency",
    "attention_overhead_us",
    "allreduce_latency_us",
    "allreduce_bandwidth_efficiency",
    "fp8_gemm_compute_efficiency",
    "fp8_gemm_memory_efficiency",
    "fp8_gemm_overhead_us",
    "gemm_efficiency_by_log2_m",
    "fp8_gemm_efficiency_by_log2_m",
)


def _fmt(v) -> str:
    if v is None:
        return "None"
    if isinstance(v, tuple):
        return "(" + ", ".join(repr(x) for x in v) + ")"
    return repr(round(float(v), 4))


def render(fits: dict[str, dict], today: str, engine_fits: dict | None = None) -> str:
    lines = [
        '"""Calibration constants per GPU type. GENERATED by scripts/calibrate.py: do not edit.',
        "",
        f"Source: aiconfigurator-core {AIC_VERSION} (PyPI, Apache-2.0), NVIDIA's measured per-operator",
        "silicon tables for the vLLM backend; fitted by grid search on the median absolute log",
        f"error on {today}. Fit errors (median |log(pred/measured)|) are kept beside each entry.",
        "Spec-only GPUs borrow compute/memory efficiencies from the closest measured architecture",
        "and all-reduce constants from the closest link kind; they are marked measured=False.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from boute.engine.catalog import Calibration",
        "from boute.gpus.kernel_fits import apply_kernel_fits",
        "",
        f'_SOURCE = "aiconfigurator-core {AIC_VERSION} silicon tables, fitted by scripts/calibrate.py"',
        f'_DATE = "{today}"',
        "",
        "MEASURED = {",
    ]
    for name, f in fits.items():
        lines.append(
            f"    # {f['tables']}; fit errors: gemm {f['gemm_mal']:.3f}, context attention "
            f"{f['ctx_attn_mal']:.3f}, generation attention {f['gen_attn_mal']:.3f}, all-reduce {f['allreduce_mal']:.3f}, "
            f"fp8 gemm {f['fp8_gemm_mal']:.3f}"
        )
        body = ", ".join(f"{k}={_fmt(f[k])}" for k in FIELDS)
        lines.append(f'    "{name}": dict({body}),')
    lines += [
        "}",
        "",
        "# Per-engine kernel constants (the engine's own aiconfigurator tables), applied by",
        "# Calibration.for_engine() when a replica's engine profile runs those kernels.",
        "ENGINE_KERNELS = {",
    ]
    for (name, eng), f in sorted((engine_fits or {}).items()):
        lines.append(
            f"    # {f['tables']}; fit errors: gemm {f['gemm_mal']:.3f}, context attention {f['ctx_attn_mal']:.3f}, "
            f"generation attention {f['gen_attn_mal']:.3f}, all-reduce {f['allreduce_mal']:.3f}, fp8 gemm {f['fp8_gemm_mal']:.3f}"
        )
        body = ", ".join(f"({k!r}, {_fmt(f[k])})" for k in ENGINE_FIELDS)
        lines.append(f'    ("{name}", "{eng}"): ({body}),')
    lines += ["}", "", "# spec-only GPU -> (borrow compute/memory from, borrow all-reduce from)", f"BORROW = {BORROW!r}", ""]
    lines += [
        '_ARCH_FALLBACK = {"hopper": "H100-SXM", "ampere": "A100-80GB-SXM", "ada": "L40S",',
        '                  "blackwell": "RTX-PRO-6000", "turing": "A100-80GB-SXM"}',
        "",
        "",
        "def calibration_for(name: str, architecture: str) -> Calibration:",
        '    """The calibration of GPU ``name``: measured, or borrowed and marked spec-only."""',
        "    engines = tuple((eng, pairs) for (gpu, eng), pairs in sorted(ENGINE_KERNELS.items()) if gpu == name)",
        "    if name in MEASURED:",
        "        values, engines, note, replaced = apply_kernel_fits(name, MEASURED[name], engines)",
        "        return Calibration(measured=True, source=_SOURCE + note, source_date=_DATE, engine_kernels=engines, replaced=replaced, **values)",
        '    compute_from, link_from = BORROW.get(name, (_ARCH_FALLBACK.get(architecture, "H100-SXM"), "L40S"))',
        "    values = dict(MEASURED[compute_from])",
        '    for key in ("allreduce_latency_us", "allreduce_bandwidth_efficiency"):',
        "        values[key] = MEASURED[link_from][key]",
        "    return Calibration(",
        "        measured=False,",
        '        source=f"spec-only: efficiencies borrowed from {compute_from} (compute/memory) and {link_from} "',
        '        f"(all-reduce); {_SOURCE}",',
        "        source_date=_DATE,",
        "        **values,",
        "    )",
        "",
    ]
    return "\n".join(lines)


def _ruff_formatted(text: str) -> str:
    """``text`` as the repository's ruff format writes it (the committed file is formatted,
    so --check compares like with like); unchanged where ruff is not installed."""
    try:
        r = subprocess.run(
            [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(OUT), "-"],
            input=text,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
    except (OSError, subprocess.CalledProcessError):
        return text
    return r.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="fail if gpus/calibration.py differs from a fresh fit")
    ap.add_argument("--date", default=None, help="date written into the file (default: today)")
    args = ap.parse_args()
    spec = importlib.util.find_spec("aiconfigurator_core")
    if spec is None:
        print("error: aiconfigurator-core is not installed (hint: pip install 'aiconfigurator-core==0.12.0' pyarrow)", file=sys.stderr)
        return 2
    data_root = pathlib.Path(spec.submodule_search_locations[0]) / "systems" / "data"
    fits = {}
    engine_fits = {}
    for name, (system, peak, peak8, hbm, link) in MEASURED.items():
        fits[name] = fit_system(data_root, system, peak, peak8, hbm, link)
        if name in ENGINE_GPUS:
            for eng in ENGINE_KERNELS:
                if (data_root / system / "gemm" / eng).is_dir() and (data_root / system / "attention" / eng).is_dir():
                    engine_fits[(name, eng)] = fit_system(data_root, system, peak, peak8, hbm, link, engine=eng)
        f = fits[name]
        print(
            f"{name:14s} gemm e_c={f['gemm_compute_efficiency']:.2f} e_m={f['gemm_memory_efficiency']:.2f} "
            f"t0={f['gemm_overhead_us']:.0f}us (err {f['gemm_mal']:.3f}) | ctx-attn {f['attention_compute_efficiency']:.2f} "
            f"(err {f['ctx_attn_mal']:.3f}) | gen-attn {f['attention_memory_efficiency']:.2f} (err {f['gen_attn_mal']:.3f}) "
            f"| allreduce {f['allreduce_bandwidth_efficiency']:.2f} {f['allreduce_latency_us']:.0f}us (err {f['allreduce_mal']:.3f}) "
            f"| fp8 gemm {f['fp8_gemm_compute_efficiency']} {f['fp8_gemm_memory_efficiency']} (err {f['fp8_gemm_mal']:.3f})"
        )
    old_date = None
    if OUT.exists():
        for line in OUT.read_text().splitlines():
            if line.startswith("_DATE = "):
                old_date = line.split('"')[1]
    today = args.date or (old_date if args.check and old_date else datetime.date.today().isoformat())
    text = _ruff_formatted(render(fits, today, engine_fits))
    if args.check:
        same = OUT.exists() and OUT.read_text() == text
        print("gpus/calibration.py is up to date" if same else "gpus/calibration.py is STALE: rerun scripts/calibrate.py")
        return 0 if same else 1
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
