"""Which checkpoint serves a model in each weight precision, and what that costs in quality.

BF16 and FP8 replicas serve the model's own checkpoint (``LLMSpec.hf_id``; vLLM quantizes
to FP8 at load). A precision the engine cannot apply at load (``Precision.needs_checkpoint``:
INT4 weight-only, GPTQ/AWQ) is served from the model catalog's pre-quantized checkpoint
(``LLMSpec.quantized_checkpoints``), so a model without one cannot run it.

Scenario rule: a model without a checkpoint for a precision the scenario allows is
planned without that precision (a warning names it) as long as another allowed precision
remains; when none remains, :func:`servable_weight_dtypes` raises an
:class:`~boute.engine.errors.InputError` naming the model, the precision and the models
that have one.

Quality: each model is charged the worst published effect among the precisions it may
run in (routing is chosen before the inner problem picks each replica's precision), and a
checkpoint's own published evaluation replaces the precision's generic figure.
"""

from __future__ import annotations

import logging
from typing import Iterable

import attrs
import numpy as np

from boute.engine.catalog import LLMSpec
from boute.engine.engines import get_precision, precision_quality_change
from boute.engine.errors import InputError

__all__ = [
    "serving_checkpoint",
    "servable_weight_dtypes",
    "model_precision_quality_change",
    "apply_model_precision_quality",
]

_log = logging.getLogger("boute")


def _holders(weight_dtype: str, catalog_models: Iterable[LLMSpec]) -> str:
    have = [m for m in catalog_models if m.quantized_checkpoint(weight_dtype) is not None]
    return ", ".join(m.name for m in sorted(have, key=lambda m: (m.active_params, m.name)))


def serving_checkpoint(llm: LLMSpec, weight_dtype: str) -> str:
    """The Hugging Face id a replica of ``llm`` in ``weight_dtype`` serves.

    Raises:
        InputError: the precision needs a pre-quantized checkpoint and the catalog has none
            for this model (or the precision is unknown).
    """
    prec = get_precision(weight_dtype)
    ck = llm.quantized_checkpoint(weight_dtype)
    if ck is not None:
        return ck.hf_id
    if prec.needs_checkpoint:
        raise InputError(
            f"weight_dtypes: {llm.name} has no pre-quantized {weight_dtype} checkpoint in the model catalog",
            hint=f"drop {weight_dtype} for it, or add one to its LLMSpec.quantized_checkpoints (docs/plugins.md)",
        )
    return llm.hf_id


def servable_weight_dtypes(
    llm: LLMSpec, weight_dtypes: Iterable[str], *, catalog_models: Iterable[LLMSpec] = (), warn: bool = False
) -> tuple[str, ...]:
    """The precisions of ``weight_dtypes`` (in order) that ``llm`` can be deployed in.

    Args:
        catalog_models: every catalog model, to name those that have the missing checkpoint
            in the error.
        warn: log a warning for each precision dropped.
    Raises:
        InputError: none of ``weight_dtypes`` is servable for ``llm``.
    """
    wanted = tuple(weight_dtypes)
    out = tuple(w for w in wanted if llm.quantized_checkpoint(w) is not None or not get_precision(w).needs_checkpoint)
    dropped = [w for w in wanted if w not in out]
    if not out:
        w = dropped[0]
        holders = _holders(w, catalog_models)
        raise InputError(
            f"weight_dtypes: {llm.name} has no pre-quantized {w} checkpoint in the model catalog, and no other allowed precision",
            hint=f"add bf16 to weight_dtypes, or pick a model with one ({holders})"
            if holders
            else "add bf16 to weight_dtypes, or add a checkpoint to the model's LLMSpec.quantized_checkpoints",
        )
    if warn:
        for w in dropped:
            _log.warning("weight_dtypes: %s has no pre-quantized %s checkpoint in the model catalog; planned without %s", llm.name, w, w)
    return out


def model_precision_quality_change(llm: LLMSpec, weight_dtypes: Iterable[str], kv_dtype: str = "bf16") -> tuple[float, tuple[str, ...]]:
    """``(relative quality change, warnings)`` for ``llm`` served in any of its servable ``weight_dtypes``.

    The change is the worst (most negative) among them; a precision served from a
    pre-quantized checkpoint with a published evaluation is charged that checkpoint's mean
    recovery (``QuantizedCheckpoint.quality_relative_change``), else the precision's generic
    figure (``Precision.quality_relative_change``, with a warning when it stands in for a
    checkpoint's missing evaluation).
    """
    dtypes = servable_weight_dtypes(llm, weight_dtypes)
    _, warnings = precision_quality_change(dtypes, kv_dtype)
    changes, notes = [], list(warnings)
    for w in dtypes:
        ck = llm.quantized_checkpoint(w)
        own = ck.quality_relative_change if ck is not None else None
        if own is not None:
            changes.append(own)
            continue
        changes.append(get_precision(w).quality_relative_change)
        if ck is not None:
            notes.append(
                f"{llm.name} {w} checkpoint {ck.hf_id} has no published evaluation; the generic {w} figure "
                f"{get_precision(w).quality_relative_change:+.2%} is used"
            )
    return min(changes), tuple(notes)


def apply_model_precision_quality(table, llms: Iterable[LLMSpec], weight_dtypes: Iterable[str], kv_dtype: str = "bf16"):
    """``table`` (a :class:`~boute.engine.quality.QualityTable`) with each model's column
    scaled by ``1 + change`` of :func:`model_precision_quality_change`; unchanged when every
    change is 0. Logs each adjustment and the unevaluated effects as warnings.

    Raises:
        InputError: a model of the table is not in ``llms``, or has no servable precision.
    """
    wanted = tuple(weight_dtypes)
    by_name = {m.name: m for m in llms}
    factors = np.ones(len(table.models))
    seen: set[str] = set()
    for j, name in enumerate(table.models):
        if name not in by_name:
            raise InputError(f"models: the quality table's model {name!r} is not among the planned models", hint=", ".join(by_name))
        change, warnings = model_precision_quality_change(by_name[name], wanted, kv_dtype)
        for w in warnings:
            if w not in seen:
                seen.add(w)
                _log.warning("precision quality: %s", w)
        if change != 0.0:
            factors[j] = 1.0 + change
            _log.warning("precision quality: %s per-query quality scaled by %.4f (weight dtypes %s)", name, 1.0 + change, ", ".join(wanted))
    if np.all(factors == 1.0):
        return table
    return attrs.evolve(table, quality=np.asarray(table.quality, dtype=float) * factors[None, :])
