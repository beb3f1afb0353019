"""Precision variants' published quality effects reach the planner's quality estimate."""

import logging

import numpy as np
import pytest

from boute.engine.engines import PRECISIONS, apply_precision_quality, precision_quality_change
from boute.engine.errors import InputError
from boute.engine.planner import Planner
from boute.engine.quality import QualityTable
from boute.engine.scenario import Scenario


def _table():
    q = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]) * 100
    return QualityTable(models=("weak", "strong"), quality=q, unit="accuracy %")


def test_bf16_and_fp8_leave_quality_unchanged():
    t = _table()
    assert precision_quality_change(("bf16",)) == (0.0, ())
    assert apply_precision_quality(t, ("bf16", "fp8")) is t  # W8A8 FP8 lossless (Kurtic et al.)


def test_int4_scales_every_query_by_the_published_loss(caplog):
    t = _table()
    with caplog.at_level(logging.WARNING, logger="boute"):
        out = apply_precision_quality(t, ("bf16", "int4"))
    factor = 1.0 + PRECISIONS["int4"].quality_relative_change
    assert factor == pytest.approx(0.9842)  # generic W4A16 figure: mean of the catalog checkpoints' recoveries
    np.testing.assert_allclose(out.quality, t.quality * factor)
    np.testing.assert_allclose(out.mean(), t.mean() * factor)
    assert "scaled by 0.984" in caplog.text and "2411.02355" in caplog.text


def test_unevaluated_effects_warn():
    _, warns = precision_quality_change(("fp8",), kv_dtype="fp8")
    assert any("weight-only" in w for w in warns) and any("KV cache" in w for w in warns)


def test_unknown_precision_names_the_field():
    with pytest.raises(InputError, match=r"weight_dtype: 'int3' is not a supported precision"):
        precision_quality_change(("int3",))


def test_planner_quality_estimate_charges_each_models_int4_checkpoint(catalog, small_dict, small_planner):
    # Each model is charged its own W4A16 checkpoint's published mean recovery.
    sc = Scenario.from_dict({**small_dict, "weight_dtypes": ["bf16", "int4"]}, catalog)
    pl = Planner(sc, catalog, perfdb=small_planner.perfdb)
    factors = np.array([1.0 + catalog.model(m).quantized_checkpoint("int4").quality_relative_change for m in sc.models])
    assert np.all(factors < 1.0)
    np.testing.assert_allclose(pl.table.quality, small_planner.table.quality * factors[None, :])
    shares = [1.0, 0.0]
    assert pl.router.quality(shares) == pytest.approx(small_planner.router.quality(shares) * factors[0])
