"""The measured-kernel GEMM fit: shipped constants, how they reach calibrations, reproducibility."""

import importlib.util
import pathlib

import pytest

from boute.gpus.kernel_fits import ENGINE_OWN, GEMM_FIELDS, KERNEL_TABLE_FITS, apply_kernel_fits
from tests.conftest import need_shared

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_h200_calibration_uses_the_kernel_fit(catalog):
    cal = catalog.gpu("H200").calibration
    for k, v in KERNEL_TABLE_FITS["H200"].items():
        assert getattr(cal, k) == v
    assert "h200-kernels" in cal.source
    # The engines keep their own efficiencies, but the silicon's fixed cost and scalar roofline.
    trt = cal.for_engine("trtllm")
    assert trt.fp8_gemm_overhead_us == KERNEL_TABLE_FITS["H200"]["fp8_gemm_overhead_us"]
    assert trt.fp8_gemm_efficiency_by_log2_m is None
    assert trt.fp8_gemm_memory_efficiency != cal.fp8_gemm_memory_efficiency


def test_gpus_without_kernel_tables_are_untouched():
    values = {"gemm_memory_efficiency": 0.5}
    engines = (("trtllm", (("gemm_overhead_us", 15.0),)),)
    assert apply_kernel_fits("H100-SXM", values, engines) == (values, engines, "", ())
    out, eng, note, replaced = apply_kernel_fits(
        "H200", values, (("trtllm", (("gemm_overhead_us", 15.0), ("gemm_memory_efficiency", 0.9))),)
    )
    assert out["gemm_memory_efficiency"] == KERNEL_TABLE_FITS["H200"]["gemm_memory_efficiency"] and note
    pairs = dict(eng[0][1])
    assert pairs["gemm_memory_efficiency"] == 0.9 and pairs["gemm_overhead_us"] == KERNEL_TABLE_FITS["H200"]["gemm_overhead_us"]
    assert set(pairs) == set(ENGINE_OWN) & {"gemm_memory_efficiency"} | (set(GEMM_FIELDS) - set(ENGINE_OWN))
    assert dict(replaced)["gemm_memory_efficiency"] == 0.5


def test_without_kernel_fit_restores_the_aiconfigurator_fit(catalog):
    from boute.gpus.calibration import ENGINE_KERNELS, MEASURED

    cal = catalog.gpu("H200").calibration.without_kernel_fit()
    for k, v in MEASURED["H200"].items():
        assert getattr(cal, k) == v
    assert dict(cal.engine_kernels)["trtllm"] == ENGINE_KERNELS[("H200", "trtllm")] and cal.replaced == ()
    h100 = catalog.gpu("H100-SXM").calibration
    assert h100.without_kernel_fit() is h100


def test_shipped_constants_are_what_the_script_fits():
    folder = need_shared("h200-kernels")
    spec = importlib.util.spec_from_file_location("bench_fidelity", ROOT / "scripts" / "bench_fidelity.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fits = mod.fit_kernel_tables(folder)
    shipped = KERNEL_TABLE_FITS["H200"]
    for dt, prefix in (("bf16", ""), ("fp8", "fp8_")):
        assert fits[dt]["compute_efficiency"] == pytest.approx(shipped[f"{prefix}gemm_compute_efficiency"])
        assert fits[dt]["memory_efficiency"] == pytest.approx(shipped[f"{prefix}gemm_memory_efficiency"])
        assert fits[dt]["overhead_us"] == pytest.approx(shipped[f"{prefix}gemm_overhead_us"])


def test_engines_keep_their_own_allreduce(catalog):
    from boute.gpus.calibration import ENGINE_KERNELS

    cal = catalog.gpu("H200").calibration
    trt = cal.for_engine("trtllm")
    own = dict(ENGINE_KERNELS[("H200", "trtllm")])
    assert trt.allreduce_latency_us == own["allreduce_latency_us"] < cal.allreduce_latency_us
    assert trt.allreduce_bandwidth_efficiency == own["allreduce_bandwidth_efficiency"]
    assert catalog.gpu("H100-SXM").calibration.for_engine("trtllm").allreduce_latency_us == own["allreduce_latency_us"]
