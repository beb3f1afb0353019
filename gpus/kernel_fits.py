"""GEMM constants fitted on GPU kernel timings measured for this project.

aiconfigurator-core's operator tables (``gpus/calibration.py``) are the default source of
every GPU's efficiencies. Where this project measured a GPU's kernels itself, the GEMM
constants below replace them: they describe the silicon the serving rows ran on more
closely (the aiconfigurator FP8 fit streams large weight matrices at 68 % of HBM bandwidth
on H200; the measured FP8 kernels of Llama-3.1-70B's layers reach 75-83 %).

Fitted by ``scripts/bench_fidelity.py`` (``fit_kernel_tables``) on the Llama-3.1-8B shapes
only of the project's data set ``h200-kernels/gemm.csv`` (measured 2026-11-28 on one H200 SXM,
PyTorch 2.11: cuBLAS BF16, cuBLASLt per-tensor FP8), form ``max(flops / (peak e_c),
bytes / (bandwidth e_m)) + t0``, grid search on the time-weighted mean absolute log error
(each kernel weighted by its measured time, so the matrices that dominate a serving step
dominate the fit); the Llama-3.1-70B shapes are never fitted and are the held-out check
in docs/fidelity.md. The per-M efficiency curves are dropped for these GPUs: the scalar
roofline with a fixed cost predicted the held-out shapes better.
"""

from __future__ import annotations

KERNEL_TABLE_SOURCE = (
    "GEMM constants fitted on the Llama-3.1-8B shapes of the project's h200-kernels data set (H200 SXM, measured 2026-11-28, "
    "PyTorch 2.11 cuBLAS/cuBLASLt) by scripts/bench_fidelity.py fit_kernel_tables, 2026-11-29"
)

KERNEL_TABLE_FITS: dict[str, dict] = {
    "H200": dict(
        gemm_compute_efficiency=0.72,
        gemm_memory_efficiency=0.82,
        gemm_overhead_us=8.0,
        fp8_gemm_compute_efficiency=0.66,
        fp8_gemm_memory_efficiency=0.78,
        fp8_gemm_overhead_us=7.0,
        gemm_efficiency_by_log2_m=None,
        fp8_gemm_efficiency_by_log2_m=None,
    ),
}

GEMM_FIELDS = tuple(KERNEL_TABLE_FITS["H200"])
# What an engine keeps from its own kernel tables (see apply_kernel_fits).
ENGINE_OWN = ("gemm_compute_efficiency", "gemm_memory_efficiency", "fp8_gemm_compute_efficiency", "fp8_gemm_memory_efficiency")


def apply_kernel_fits(name: str, values: dict, engines: tuple) -> tuple[dict, tuple, str, tuple]:
    """``(values, engine_kernels, source note, replaced)`` of GPU ``name`` with its
    measured-kernel GEMM fit; ``replaced`` holds the values it replaced (``Calibration.replaced``).

    The fit replaces the GEMM constants of the default (vLLM) kernels on that GPU. An
    engine with its own kernels (TensorRT-LLM, SGLang) keeps the compute and bandwidth
    efficiencies fitted on its own aiconfigurator tables (its kernels stream weights faster
    or slower than cuBLAS), but takes the fixed cost per GEMM and the scalar roofline from
    the measured silicon: the engines' tables carry 8-15 us per GEMM, about twice what the
    same GPU shows here, which is their harness's launch cost and vanishes under the CUDA
    graphs engines serve with. Attention and all-reduce (the engine's own all-reduce table where
    there is one) stay as scripts/calibrate.py fitted them.
    """
    fit = KERNEL_TABLE_FITS.get(name)
    if fit is None:
        return values, engines, "", ()
    out = {**values, **fit}
    kept = tuple(
        (
            eng,
            tuple((k, v) for k, v in pairs if k in ENGINE_OWN or k not in GEMM_FIELDS)
            + tuple((k, fit[k]) for k in GEMM_FIELDS if k not in ENGINE_OWN),
        )
        for eng, pairs in engines
    )
    replaced = tuple((k, values[k]) for k in fit if k in values) + (("engine_kernels", engines),)
    return out, kept, "; GEMMs: " + KERNEL_TABLE_SOURCE, replaced
