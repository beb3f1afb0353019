"""Catalog value types: GPU types, LLM architectures, prices, calibration constants.

These are frozen, keyword-only attrs classes with units in every numeric field
name. Validators raise :class:`~boute.engine.errors.CatalogError` naming the field,
the bad value and the fix; nothing here uses ``assert`` on input.

Plugins (``boute.gpus``, ``boute.models``, ``boute.prices`` entry points) return
iterables of these objects; see :mod:`boute.engine.plugins`.
"""

from __future__ import annotations

from typing import Any

import attrs

from boute.engine.errors import CatalogError

__all__ = ["Calibration", "GPUType", "LLMSpec", "PriceEntry", "QuantizedCheckpoint", "LINK_KINDS"]

LINK_KINDS = ("nvlink", "pcie")


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise CatalogError(
            f"{type(instance).__name__} {getattr(instance, 'name', '')!s}: field '{attribute.name}' = {value!r} must be a positive number",
            hint=f"give '{attribute.name}' in the unit its name states",
        )


def _positive_int(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CatalogError(
            f"{type(instance).__name__} {getattr(instance, 'name', '')!s}: field '{attribute.name}' = {value!r} must be a positive integer",
            hint=f"give '{attribute.name}' as a whole number >= 1",
        )


def _fraction(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1.0:
        raise CatalogError(
            f"{type(instance).__name__}: field '{attribute.name}' = {value!r} must be in (0, 1]",
            hint="efficiencies are fractions of the spec-sheet peak",
        )


def _nonempty(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(
            f"{type(instance).__name__} {getattr(instance, 'name', '')!s}: field '{attribute.name}' = {value!r} must be a non-empty string",
            hint="every catalog fact needs a name, a source and a date",
        )


def _date(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    import datetime

    try:
        datetime.date.fromisoformat(str(value))
    except ValueError:
        raise CatalogError(
            f"{type(instance).__name__} {getattr(instance, 'name', '')!s}: field '{attribute.name}' = {value!r} is not an ISO date",
            hint="write dates as YYYY-MM-DD",
        ) from None


@attrs.frozen(kw_only=True)
class Calibration:
    """Achieved fractions of spec-sheet peaks for one GPU type.

    Fitted by ``scripts/calibrate.py`` on NVIDIA's measured per-operator tables
    (aiconfigurator-core) where they exist; otherwise borrowed from the closest
    architecture, and then ``measured`` is False and predictions say ``spec-only``.
    """

    gemm_compute_efficiency: float = attrs.field(validator=_fraction)
    """Fraction of dense peak TFLOPS a large GEMM reaches."""
    gemm_memory_efficiency: float = attrs.field(validator=_fraction)
    """Fraction of HBM bandwidth a weight-streaming (small-M) GEMM reaches."""
    gemm_overhead_us: float = attrs.field(validator=_positive)
    """Fixed cost of one GEMM kernel, microseconds."""
    attention_compute_efficiency: float = attrs.field(validator=_fraction)
    """Fraction of peak TFLOPS prefill (flash) attention reaches."""
    attention_memory_efficiency: float = attrs.field(validator=_fraction)
    """Fraction of HBM bandwidth decode attention reaches reading the KV cache."""
    attention_overhead_us: float = attrs.field(validator=_positive)
    """Fixed cost of one attention kernel, microseconds."""
    allreduce_latency_us: float = attrs.field(validator=_positive)
    """Fixed cost of one tensor-parallel all-reduce, microseconds."""
    allreduce_bandwidth_efficiency: float = attrs.field(validator=_fraction)
    """Fraction of the intra-node link bandwidth an all-reduce reaches."""
    measured: bool
    """True where fitted on this GPU's own measurements."""
    fp8_gemm_compute_efficiency: float | None = attrs.field(default=None)
    """Fraction of dense FP8 peak a large FP8 GEMM reaches (None: no FP8 data; BF16's used)."""
    fp8_gemm_memory_efficiency: float | None = attrs.field(default=None)
    """Bandwidth fraction of an FP8 weight-streaming GEMM (None: BF16's used)."""
    fp8_gemm_overhead_us: float | None = attrs.field(default=None)
    """Fixed cost of one FP8 GEMM incl. activation quantisation, microseconds."""
    gemm_efficiency_by_log2_m: tuple[float, ...] | None = attrs.field(default=None)
    """Measured fraction of the roofline time a BF16 GEMM reaches, by round(log2 M) = 0..15
    (M = tokens in the batch); None: use the scalar efficiencies."""
    fp8_gemm_efficiency_by_log2_m: tuple[float, ...] | None = attrs.field(default=None)
    """The same for FP8 GEMMs (FP8 peak and 1-byte weights in the roofline)."""
    source: str = attrs.field(validator=_nonempty)
    """Where the constants come from (data set, version, fitting script)."""
    engine_kernels: tuple = ()
    """Per serving engine (``trtllm``, ``sglang``): ``(engine, ((field, value), ...))`` pairs
    fitted on that engine's own kernel tables; :meth:`for_engine` applies them."""

    replaced: tuple = ()
    """``((field, value), ...)``: the values a measured-kernel fit replaced
    (``gpus/kernel_fits.py``), as fitted on aiconfigurator's tables; kept for comparison."""

    def without_kernel_fit(self) -> "Calibration":
        """This calibration as fitted on aiconfigurator's tables alone (before the
        measured-kernel fit); itself when nothing was replaced."""
        return attrs.evolve(self, replaced=(), **dict(self.replaced)) if self.replaced else self

    def for_engine(self, engine: str) -> "Calibration":
        """This calibration with the constants fitted on ``engine``'s own kernels, if any."""
        for name, pairs in self.engine_kernels:
            if name == engine:
                return attrs.evolve(self, engine_kernels=(), **dict(pairs))
        return self

    @fp8_gemm_compute_efficiency.validator
    @fp8_gemm_memory_efficiency.validator
    def _check_fp8(self, attribute: attrs.Attribute, value: float | None) -> None:
        if value is not None:
            _fraction(self, attribute, value)

    source_date: str = attrs.field(validator=_date)
    """When they were fitted (YYYY-MM-DD)."""


@attrs.frozen(kw_only=True)
class GPUType:
    """One GPU type: its spec-sheet figures, node shape and calibration."""

    name: str = attrs.field(validator=_nonempty)
    """Canonical name, e.g. ``H100-SXM``."""
    aliases: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    """Other accepted spellings, e.g. ``H100``."""
    architecture: str = attrs.field(validator=_nonempty)
    """NVIDIA architecture (hopper, ampere, ada, blackwell, turing)."""
    memory_gib: float = attrs.field(validator=_positive)
    """Device memory in GiB (2**30 bytes)."""
    hbm_bandwidth_gb_per_s: float = attrs.field(validator=_positive)
    """Peak device-memory bandwidth in GB/s (10**9 bytes/s)."""
    bf16_tflops: float = attrs.field(validator=_positive)
    """Dense BF16 (FP16 where the GPU has no BF16) tensor-core TFLOPS, no sparsity."""
    fp8_tflops: float | None = attrs.field(default=None, validator=_positive)
    """Dense FP8 tensor-core TFLOPS; None for GPUs without FP8."""
    intra_node_link: str = attrs.field()
    """``nvlink`` or ``pcie``: what connects GPUs inside a node."""
    intra_node_bandwidth_gb_per_s: float = attrs.field(validator=_positive)
    """Per-GPU, one-direction bandwidth of that link, GB/s."""
    p2p: bool = True
    """Whether GPUs in a node reach each other peer-to-peer (GeForce cards: no)."""
    inter_node_bandwidth_gb_per_s: float = attrs.field(validator=_positive)
    """Per-GPU, one-direction network bandwidth between nodes, GB/s."""
    gpus_per_node: int = attrs.field(validator=_positive_int)
    """GPUs in one node (the largest tensor-parallel group)."""
    calibration: Calibration
    """Achieved efficiencies (measured, or borrowed and marked spec-only)."""
    source: str = attrs.field(validator=_nonempty)
    """Where the spec figures come from."""
    source_date: str = attrs.field(validator=_date)
    """When they were read (YYYY-MM-DD)."""

    @intra_node_link.validator
    def _check_link(self, attribute: attrs.Attribute, value: str) -> None:
        if value not in LINK_KINDS:
            raise CatalogError(
                f"GPUType {self.name}: field 'intra_node_link' = {value!r} is not a link kind",
                hint=f"use one of {', '.join(LINK_KINDS)}",
            )

    @property
    def spec_only(self) -> bool:
        """True when no measured calibration exists for this GPU."""
        return not self.calibration.measured

    @property
    def memory_bytes(self) -> float:
        """Device memory in bytes (GiB x 2^30)."""
        return self.memory_gib * 2**30

    def peak_tflops(self, dtype: str) -> float:
        """Dense peak for ``bf16`` or ``fp8`` (FP8 falls back to BF16 where absent:
        weight-only FP8 then runs BF16 math, as vLLM's Marlin kernels do)."""
        if dtype == "fp8" and self.fp8_tflops is not None:
            return self.fp8_tflops
        return self.bf16_tflops


@attrs.frozen(kw_only=True)
class QuantizedCheckpoint:
    """A published pre-quantized checkpoint of a catalog model, for one weight precision.

    A precision the serving engine cannot apply to the BF16 weights at load time (INT4
    weight-only: GPTQ/AWQ need calibration data) is deployed from such a checkpoint; the
    engine reads its quantization scheme from the checkpoint's config, so no
    ``--quantization`` flag is passed.
    """

    weight_dtype: str = attrs.field(validator=_nonempty)
    """The precision it serves, a name of ``boute.engine.engines.PRECISIONS`` (e.g. ``int4``)."""
    hf_id: str = attrs.field(validator=_nonempty)
    """Hugging Face repository id the deploy files serve."""
    scheme: str = attrs.field(validator=_nonempty)
    """How it was quantized (algorithm, bits, grouping, file format), from its model card."""
    recovery_pct: tuple = attrs.field(default=(), converter=tuple)
    """``((evaluation, percent of the BF16 model's score), ...)`` as its publisher reports
    them; empty when no evaluation was published (the precision's generic figure is then
    used, with a warning)."""
    quality_source: str = ""
    """The publication the recoveries come from."""
    source: str = attrs.field(validator=_nonempty)
    """Where the id and scheme were read."""
    source_date: str = attrs.field(validator=_date)
    """When they were read (YYYY-MM-DD)."""

    @weight_dtype.validator
    def _check_dtype(self, attribute: attrs.Attribute, value: str) -> None:
        from boute.engine.engines import PRECISIONS  # same layer; engines needs nothing from here
        from boute.engine.errors import did_you_mean

        if value not in PRECISIONS:
            raise CatalogError(
                f"QuantizedCheckpoint {self.hf_id}: field 'weight_dtype' = {value!r} is not a precision",
                hint=did_you_mean(str(value), PRECISIONS),
            )

    @recovery_pct.validator
    def _check_recovery(self, attribute: attrs.Attribute, value: tuple) -> None:
        for item in value:
            ok = isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and item[0].strip()
            pct = item[1] if ok else None
            if not ok or isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 < pct <= 200:
                raise CatalogError(
                    f"QuantizedCheckpoint {self.hf_id}: field 'recovery_pct' entry {item!r} must be (evaluation, percent in (0, 200])",
                    hint="e.g. (('Arena-Hard', 93.0), ('OpenLLM v1', 98.9))",
                )
        if value and not self.quality_source.strip():
            raise CatalogError(
                f"QuantizedCheckpoint {self.hf_id}: recovery figures need a 'quality_source'",
                hint="name the publication the recoveries come from",
            )

    @property
    def quality_relative_change(self) -> float | None:
        """Mean published recovery minus 1 (e.g. -0.03 = 3 % below BF16); None without one."""
        if not self.recovery_pct:
            return None
        return sum(pct for _, pct in self.recovery_pct) / len(self.recovery_pct) / 100.0 - 1.0


@attrs.frozen(kw_only=True)
class LLMSpec:
    """A decoder-only transformer's architecture (from its Hugging Face config)."""

    name: str = attrs.field(validator=_nonempty)
    """Canonical name, e.g. ``Llama-3.1-8B``."""
    aliases: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    hf_id: str = attrs.field(validator=_nonempty)
    """Hugging Face repository id, used in deploy artifacts."""
    quantized_checkpoints: tuple[QuantizedCheckpoint, ...] = attrs.field(default=(), converter=tuple)
    """Published pre-quantized checkpoints, at most one per weight precision: a replica
    planned in that precision serves it (``engine/checkpoints.py``)."""
    num_layers: int = attrs.field(validator=_positive_int)
    hidden_size: int = attrs.field(validator=_positive_int)
    num_attention_heads: int = attrs.field(validator=_positive_int)
    num_kv_heads: int = attrs.field(validator=_positive_int)
    head_dim: int = attrs.field(validator=_positive_int)
    intermediate_size: int = attrs.field(validator=_positive_int)
    """FFN width (per expert for MoE models)."""
    vocab_size: int = attrs.field(validator=_positive_int)
    tied_embeddings: bool = False
    qkv_bias: bool = False
    """Bias on the q/k/v projections (Qwen2 family)."""
    qk_norm: bool = False
    """RMSNorm on q and k per head (Qwen3 family)."""
    num_experts: int = attrs.field(default=1, validator=_positive_int)
    """Routed experts per MoE layer; 1 for dense models."""
    experts_per_token: int = attrs.field(default=1, validator=_positive_int)
    """Top-k experts active per token; 1 for dense models."""
    max_context_tokens: int = attrs.field(validator=_positive_int)
    published_params_b: float = attrs.field(validator=_positive)
    """Parameter count the publisher states, in billions."""
    source: str = attrs.field(validator=_nonempty)
    source_date: str = attrs.field(validator=_date)

    def __attrs_post_init__(self) -> None:
        seen: set[str] = set()
        for ck in self.quantized_checkpoints:
            if not isinstance(ck, QuantizedCheckpoint):
                raise CatalogError(
                    f"LLMSpec {self.name}: field 'quantized_checkpoints' holds {ck!r}, not a QuantizedCheckpoint",
                    hint="give QuantizedCheckpoint(weight_dtype=..., hf_id=..., ...) objects",
                )
            if ck.weight_dtype == "bf16" or ck.weight_dtype in seen:
                raise CatalogError(
                    f"LLMSpec {self.name}: field 'quantized_checkpoints' lists weight_dtype {ck.weight_dtype!r} "
                    + ("(the hf_id is the BF16 checkpoint)" if ck.weight_dtype == "bf16" else "twice"),
                    hint="give at most one checkpoint per quantized precision",
                )
            seen.add(ck.weight_dtype)
        if self.num_attention_heads % self.num_kv_heads:
            raise CatalogError(
                f"LLMSpec {self.name}: num_attention_heads={self.num_attention_heads} "
                f"is not a multiple of num_kv_heads={self.num_kv_heads}",
                hint="check the model's config.json",
            )
        if self.experts_per_token > self.num_experts:
            raise CatalogError(
                f"LLMSpec {self.name}: experts_per_token={self.experts_per_token} exceeds num_experts={self.num_experts}",
                hint="top-k cannot exceed the number of experts",
            )
        derived = self.params / 1e9
        if abs(derived / self.published_params_b - 1) > 0.01:
            raise CatalogError(
                f"LLMSpec {self.name}: derived parameter count {derived:.3f} B differs from "
                f"published_params_b={self.published_params_b} by more than 1 %",
                hint="check layers, hidden, intermediate and vocab sizes against config.json",
            )

    def quantized_checkpoint(self, weight_dtype: str) -> QuantizedCheckpoint | None:
        """The pre-quantized checkpoint for ``weight_dtype``, or None."""
        return next((ck for ck in self.quantized_checkpoints if ck.weight_dtype == weight_dtype), None)

    @property
    def is_moe(self) -> bool:
        """Whether the model is a mixture of experts (more than one expert per layer)."""
        return self.num_experts > 1

    @property
    def q_dim(self) -> int:
        """Width of the query projection: attention heads x head dimension."""
        return self.num_attention_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of each of the key and value projections: KV heads x head dimension."""
        return self.num_kv_heads * self.head_dim

    @property
    def attention_params_per_layer(self) -> int:
        """Parameters of one layer's attention block (Q, K, V, O projections, biases if any)."""
        h = self.hidden_size
        p = h * self.q_dim + 2 * h * self.kv_dim + self.q_dim * h
        if self.qkv_bias:
            p += self.q_dim + 2 * self.kv_dim
        if self.qk_norm:
            p += 2 * self.head_dim
        return p

    @property
    def expert_params(self) -> int:
        """Parameters of one gated FFN (gate, up, down)."""
        return 3 * self.hidden_size * self.intermediate_size

    @property
    def ffn_params_per_layer(self) -> int:
        """Parameters of one layer's feed-forward block (every expert plus the MoE router)."""
        router = self.hidden_size * self.num_experts if self.is_moe else 0
        return self.num_experts * self.expert_params + router

    @property
    def layer_params(self) -> int:
        """Parameters of one decoder layer: attention, feed-forward and the two norms."""
        return self.attention_params_per_layer + self.ffn_params_per_layer + 2 * self.hidden_size

    @property
    def embedding_params(self) -> int:
        """Parameters of the token embedding and LM head (one matrix when tied)."""
        return self.vocab_size * self.hidden_size * (1 if self.tied_embeddings else 2)

    @property
    def params(self) -> int:
        """Total parameters derived from the architecture."""
        return self.num_layers * self.layer_params + self.embedding_params + self.hidden_size

    @property
    def active_params(self) -> int:
        """Parameters touched per token (MoE: only the top-k experts)."""
        inactive = (self.num_experts - self.experts_per_token) * self.expert_params
        return self.params - self.num_layers * inactive

    def kv_bytes_per_token(self, kv_dtype_bytes: float) -> float:
        """KV-cache bytes one token occupies across all layers (unsharded)."""
        return 2 * self.num_layers * self.kv_dim * kv_dtype_bytes


@attrs.frozen(kw_only=True)
class PriceEntry:
    """One price observation: a GPU type at a provider, per GPU-hour."""

    gpu: str = attrs.field(validator=_nonempty)
    """Canonical GPU type name."""
    price_set: str = attrs.field(validator=_nonempty)
    """The set a scenario names (e.g. ``runpod``, ``aws``, ``boute-paper``)."""
    provider: str = attrs.field(validator=_nonempty)
    usd_per_gpu_hour: float = attrs.field(validator=_positive)
    source_date: str = attrs.field(validator=_date)
    source: str = attrs.field(validator=_nonempty)
    note: str = ""
    """How the figure was derived where it is not a list price."""

    @property
    def name(self) -> str:
        """``price_set/gpu``, the entry's unique key."""
        return f"{self.price_set}/{self.gpu}"
