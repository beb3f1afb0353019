"""Stage 1: one replica of one model on one GPU type with tensor/pipeline parallelism.

Memory (per GPU, worst pipeline stage)::

    weights   = ceil(L/pp) * layer_params / tp * w_bytes  (+ the vocab matrices on the end stages)
    workspace = max_num_batched_tokens * (4h + 2I/tp) * 2 B + max_num_seqs * V/tp * 4 B
    overhead  = CUDA context and graphs (RUNTIME_OVERHEAD_GIB) + NCCL buffers
    kv_tokens = (util * memory - weights - workspace - overhead) / kv_bytes_per_token_per_gpu
                (engine profile kv_memory_rule "total": vLLM, SGLang)
    kv_tokens = util * (memory - weights - workspace - overhead) / kv_bytes_per_token_per_gpu
                (kv_memory_rule "free": TensorRT-LLM's free_gpu_memory_fraction)

A config is feasible when ``kv_tokens >= max_model_len`` (one full-length request fits),
``tp`` divides the attention heads and fits in one node.

Time of one engine iteration (a forward pass over a mixed batch of ``P`` prefill tokens
and ``B`` decoding sequences holding ``C`` context tokens in total)::

    t = sum over layers [ GEMMs(M = P + B) + prefill attention + decode attention(C)
                          + elementwise + 2 TP all-reduces(M) ]
        + LM head + (pp - 1) stage hand-offs

plus the engine's CPU work of the step (:class:`~boute.engine.engines.EngineProfile`):
added to the GPU time by a synchronous engine, overlapped (``max``) by one with async
scheduling.

Each GEMM is a roofline with fitted efficiencies: ``max(flops / (peak * e_c),
bytes / (bw * e_m)) + t0``. Decode attention reads the KV cache, so the iteration
time is *affine in C*: ``t = a(P, B) + beta * C``. The load simulator relies on
that to advance many decode steps at once in closed form.

The constants ``e_c, e_m, t0`` per operator come from :class:`Calibration` (fitted on
measured silicon tables by ``scripts/calibrate.py``).
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from boute.engine.catalog import GPUType, LLMSpec
from boute.engine.engines import DEFAULT_ENGINE, PRECISIONS, EngineProfile, get_profile
from boute.engine.errors import InputError

__all__ = ["ReplicaConfig", "ReplicaModel", "MemoryReport", "StepTables", "DTYPE_BYTES", "candidate_configs", "steady_state_closed_loop"]

# Bytes per weight (incl. quantisation scales) per precision (engine/engines.py PRECISIONS);
# KV caches are bf16 or fp8.
DTYPE_BYTES = {name: p.weight_bytes for name, p in PRECISIONS.items()}
KV_DTYPE_BYTES = {"bf16": 2.0, "fp8": 1.0}

# vLLM flags the deploy artifacts still write (engine/artifacts.py); the simulated limits
# now come from the engine profile (engine/engines.py EngineProfile.limits, GPU-dependent
# in vLLM V1), and engines.engine_flags() writes the matching flags. KV block 16 tokens.
DEFAULT_GPU_MEMORY_UTILIZATION = 0.90
DEFAULT_MAX_NUM_SEQS = 256
DEFAULT_MAX_NUM_BATCHED_TOKENS = 8192
KV_BLOCK_TOKENS = 16

# CUDA context + CUDA-graph pools + allocator slack per GPU. Estimate: vLLM start-up logs
# on H100 report about 0.5-1.0 GiB for graph capture and ~0.5 GiB context (vLLM issue
# threads, 2024-2025); we take 1.5 GiB. NCCL buffers from aiconfigurator-core 0.12.0
# systems/h100_sxm.yaml misc.nccl_mem (342 MB at TP2, 392 MB at TP4/8).
RUNTIME_OVERHEAD_GIB = 1.5
NCCL_BYTES = {1: 0.0, 2: 358_612_992.0, 4: 411_041_792.0, 8: 411_041_792.0}

# Elementwise work per layer and token (RMSNorm x2, RoPE, SiLU*mul, residual adds):
# about 12 hidden-sized BF16 reads/writes. Estimate from the operator list of a
# Llama layer; small next to GEMMs, kept so that tiny batches are not free.
ELEMENTWISE_BYTES_PER_TOKEN_PER_HIDDEN = 24.0

# Host-staged all-reduce for GPUs without peer-to-peer (GeForce): data crosses PCIe
# twice through host memory, so half the link bandwidth, plus a higher fixed cost.
NO_P2P_BANDWIDTH_FACTOR = 0.5
NO_P2P_EXTRA_LATENCY_US = 30.0

# Pipeline hand-off fixed cost (send/recv of activations between stages, microseconds).
PP_HANDOFF_LATENCY_US = 20.0

# The fixed 2 ms per iteration boute used before engine profiles is gone: the CPU side of a
# step is the engine profile's (engine/engines.py), a function of batch and TP, overlapped
# with the GPU by engines that schedule asynchronously.


@attrs.frozen(kw_only=True)
class ReplicaConfig:
    """One way to run one replica: model on ``tp * pp`` GPUs of one type."""

    model: str
    gpu: str
    tp: int = attrs.field(default=1)
    pp: int = attrs.field(default=1)
    weight_dtype: str = "bf16"
    kv_dtype: str = "bf16"
    engine: str = DEFAULT_ENGINE
    """Engine profile name (engine/engines.py); part of the config's identity."""

    @property
    def num_gpus(self) -> int:
        """GPUs one replica occupies (TP x PP)."""
        return self.tp * self.pp

    @property
    def key(self) -> str:
        """Stable identifier (perf DB key, plan.json): model@gpu:tpXppY:weights/kv[:engine]."""
        base = f"{self.model}@{self.gpu}:tp{self.tp}pp{self.pp}:{self.weight_dtype}/{self.kv_dtype}"
        return base if self.engine == DEFAULT_ENGINE else f"{base}:{self.engine}"

    def label(self) -> str:
        """Short human label, e.g. ``H100-SXM TP2 PP1 FP8``."""
        dt = "" if self.weight_dtype == "bf16" else f" {self.weight_dtype.upper()}"
        return f"{self.gpu} TP{self.tp} PP{self.pp}{dt}"


@attrs.frozen(kw_only=True)
class StepTables:
    """Iteration-time pieces as plain Python lists/floats (see ReplicaModel.step_tables)."""

    token_s: list
    sample_s: list
    pair_s: float
    prefill0_s: float
    decode0_s: float
    beta_s: float


@attrs.frozen(kw_only=True)
class MemoryReport:
    """Per-GPU memory budget of a replica (worst pipeline stage), bytes."""

    usable_bytes: float
    weight_bytes: float
    workspace_bytes: float
    overhead_bytes: float
    kv_bytes_per_token: float
    kv_capacity_tokens: int
    max_model_len: int
    feasible: bool
    reason: str
    """Why it does not fit; empty when feasible."""
    structural: bool = False
    """The config cannot run whatever the memory (TP beyond a node or not dividing the heads,
    no kernels for the precision): more GPUs of the same kind do not help."""


class ReplicaModel:
    """Memory fit and iteration timing of one :class:`ReplicaConfig`.

    Args:
        llm: the model's architecture.
        gpu: the GPU type (with its calibration).
        config: TP, PP and dtypes.
        max_model_len: the longest request (prompt + output) the replica must hold.
        gpu_memory_utilization: fraction of device memory the engine may use, or of the memory
            left free after weights, workspace and runtime under the profile's ``free``
            ``kv_memory_rule`` (default: the profile's).
        max_num_seqs: most sequences in one batch (default: the engine's own on this GPU).
        max_num_batched_tokens: token budget of one iteration (default: the engine's own).
        engine: an engine profile overriding ``config.engine`` (e.g. one fitted by calibration).
        served_max_model_len: for a server launched with the engine's default flags (a
            benchmark someone else ran), the ``--max-model-len`` it serves (a vLLM started
            without the flag serves the model's whole context); the engine's context-dependent
            defaults then follow it (:meth:`~boute.engine.engines.EngineProfile.serving`, the V0
            token budget). None: boute's deploy flags, which state every choice explicitly.
    """

    def __init__(
        self,
        llm: LLMSpec,
        gpu: GPUType,
        config: ReplicaConfig,
        *,
        max_model_len: int | None = None,
        gpu_memory_utilization: float | None = None,
        max_num_seqs: int | None = None,
        max_num_batched_tokens: int | None = None,
        engine: EngineProfile | None = None,
        served_max_model_len: int | None = None,
    ) -> None:
        for field, value, allowed in (
            ("weight_dtype", config.weight_dtype, DTYPE_BYTES),
            ("kv_dtype", config.kv_dtype, KV_DTYPE_BYTES),
        ):
            if value not in allowed:
                raise InputError(f"{field}: {value!r} is not supported", hint=f"use one of {', '.join(allowed)}")
        for field, value in (("tp", config.tp), ("pp", config.pp)):
            if not isinstance(value, int) or value < 1:
                raise InputError(f"{field}: {value!r} must be an integer >= 1", hint="e.g. 1, 2, 4 or 8")
        self.engine = engine if engine is not None else get_profile(config.engine, field="engine")
        if gpu_memory_utilization is None:
            gpu_memory_utilization = self.engine.gpu_memory_utilization
        if not 0 < gpu_memory_utilization <= 1:
            raise InputError(f"gpu_memory_utilization: {gpu_memory_utilization!r} must be in (0, 1]", hint="vLLM's default is 0.9")
        self.llm, self.gpu, self.config = llm, gpu, config
        self.max_model_len = int(max_model_len or llm.max_context_tokens)
        if self.max_model_len < 1:
            raise InputError(f"max_model_len: {max_model_len!r} must be >= 1", hint="prompt + output tokens")
        self.gpu_memory_utilization = gpu_memory_utilization
        served = self.max_model_len
        if served_max_model_len is not None:
            served = int(served_max_model_len)
            if served < self.max_model_len:
                raise InputError(
                    f"served_max_model_len: {served} is below the longest request ({self.max_model_len} tokens)",
                    hint="the server must hold every request: raise it or leave it unset",
                )
            self.engine = self.engine.serving(served)
        self.served_max_model_len = served
        tokens, seqs = self.engine.limits(gpu.memory_gib, gpu.name, served)
        self.max_num_seqs = int(max_num_seqs or seqs)
        self.max_num_batched_tokens = int(max_num_batched_tokens or tokens)
        for field, value in (("max_num_seqs", self.max_num_seqs), ("max_num_batched_tokens", self.max_num_batched_tokens)):
            if value < 1:
                raise InputError(f"{field}: {value!r} must be >= 1", hint="e.g. 256")
        self.cpu_fixed_s, self.cpu_per_seq_s = self.engine.step_cpu_s(config.tp)
        self._precompute()

    # ------------------------------------------------------------------ memory
    def _structural_problem(self) -> str:
        c, m, g = self.config, self.llm, self.gpu
        if c.tp > g.gpus_per_node:
            return f"TP{c.tp} exceeds the {g.gpus_per_node} GPUs of one {g.name} node (TP stays inside a node)"
        if m.num_attention_heads % c.tp:
            return f"TP{c.tp} does not divide the {m.num_attention_heads} attention heads"
        if c.pp > m.num_layers:
            return f"PP{c.pp} exceeds the {m.num_layers} layers"
        if c.weight_dtype == "fp8" and g.fp8_tflops is None and g.architecture in ("turing",):
            return f"{g.name} ({g.architecture}) has no FP8 kernels in vLLM"
        if c.weight_dtype == "int4" and g.architecture in ("turing",):
            # vLLM's GPTQ-/AWQ-Marlin need compute capability 8.0 (GPTQMarlinConfig.get_min_capability
            # = 80); the GPTQ fallback kernel on older GPUs is not what the int4 model describes.
            return f"{g.name} ({g.architecture}) has no Marlin INT4 kernels in vLLM (compute capability 8.0 needed)"
        return ""

    def memory(self) -> MemoryReport:
        """The per-GPU memory budget and KV capacity of this replica."""
        m, c = self.llm, self.config
        wb = DTYPE_BYTES[c.weight_dtype]
        layers_per_stage = math.ceil(m.num_layers / c.pp)
        vocab_mat = m.vocab_size * m.hidden_size
        end_stage_vocab = vocab_mat * (1 if (c.pp > 1 or m.tied_embeddings) else 2)
        # Embeddings and LM head stay BF16 under FP8 weight quantisation in vLLM.
        weight = layers_per_stage * m.layer_params / c.tp * wb + end_stage_vocab / c.tp * 2.0
        workspace = (
            self.max_num_batched_tokens * (4 * m.hidden_size + 2 * m.intermediate_size / c.tp) * 2.0
            + self.max_num_seqs * m.vocab_size / c.tp * 4.0
        )
        overhead = RUNTIME_OVERHEAD_GIB * 2**30 + NCCL_BYTES.get(c.tp, NCCL_BYTES[8])
        kv_per_token = self._kv_bytes_per_token_per_gpu
        if self.engine.kv_memory_rule == "free":
            # TensorRT-LLM: the KV cache takes the fraction of what weights, workspace and
            # runtime leave free (free_gpu_memory_fraction); the engine uses those plus it.
            left = self.gpu.memory_bytes - weight - workspace - overhead
            free = self.gpu_memory_utilization * left if left > 0 else left
            usable = weight + workspace + overhead + free
        else:
            usable = self.gpu_memory_utilization * self.gpu.memory_bytes
            free = usable - weight - workspace - overhead
        kv_tokens = int(max(0.0, free) // kv_per_token // KV_BLOCK_TOKENS * KV_BLOCK_TOKENS)
        reason = self._structural_problem()
        structural = bool(reason)
        if not reason and free <= 0:
            reason = (
                f"weights {weight / 2**30:.1f} GiB + workspace {workspace / 2**30:.1f} GiB + runtime "
                f"{overhead / 2**30:.1f} GiB exceed the usable {usable / 2**30:.1f} GiB per GPU"
            )
        elif not reason and kv_tokens < self.max_model_len:
            reason = (
                f"KV cache holds {kv_tokens} tokens, fewer than one {self.max_model_len}-token request "
                f"(weights take {weight / 2**30:.1f} of {usable / 2**30:.1f} GiB usable)"
            )
        return MemoryReport(
            usable_bytes=usable,
            weight_bytes=weight,
            workspace_bytes=workspace,
            overhead_bytes=overhead,
            kv_bytes_per_token=kv_per_token,
            kv_capacity_tokens=kv_tokens,
            max_model_len=self.max_model_len,
            feasible=not reason,
            structural=structural,
            reason=reason,
        )

    # ------------------------------------------------------------------ time
    def _precompute(self) -> None:
        m, g, c = self.llm, self.gpu, self.config
        # The engine's own kernels where they were measured (TensorRT-LLM, SGLang), else vLLM's.
        cal = g.calibration.for_engine(self.engine.engine)
        tp = c.tp
        self._kv_heads_per_gpu = max(1.0, m.num_kv_heads / tp)
        kvb = KV_DTYPE_BYTES[c.kv_dtype]
        self._kv_bytes_per_token_per_gpu = 2 * math.ceil(m.num_layers / c.pp) * self._kv_heads_per_gpu * m.head_dim * kvb
        wb = DTYPE_BYTES[c.weight_dtype]
        prec = PRECISIONS[c.weight_dtype]
        # Weight-only precisions (int4; fp8 on GPUs without FP8 tensor cores: vLLM's FP8
        # Marlin) run BF16 math on narrower weights.
        peak = g.peak_tflops(prec.math) * 1e12
        bw = g.hbm_bandwidth_gb_per_s * 1e9
        fp8 = prec.math == "fp8" and g.fp8_tflops is not None and cal.fp8_gemm_compute_efficiency is not None
        self._peak_c = peak * (cal.fp8_gemm_compute_efficiency if fp8 else cal.gemm_compute_efficiency)
        self._bw_m = bw * (cal.fp8_gemm_memory_efficiency if fp8 else cal.gemm_memory_efficiency)
        self._t_gemm0 = (cal.fp8_gemm_overhead_us if fp8 else cal.gemm_overhead_us) * 1e-6
        # BF16 GEMMs follow the measured per-M efficiency curve. FP8 GEMMs use the scalar
        # roofline fit with its own fixed cost (activation quantisation): the per-M medians
        # of the FP8 table are dominated by small-N shapes and predicted the end-to-end FP8
        # rows worse (docs/fidelity.md).
        curve = None if fp8 else cal.gemm_efficiency_by_log2_m
        self._m_curve = None if curve is None else np.asarray(curve, dtype=float)
        self._peak_raw, self._bw_raw = peak, bw
        h, inter = m.hidden_size, m.intermediate_size
        qkv_n = (m.q_dim + 2 * self._kv_heads_per_gpu * tp * m.head_dim) / tp
        # Dense GEMMs of one layer as (n, k) per GPU.
        gemms = [(qkv_n, h), (h, m.q_dim / tp)]
        if not m.is_moe:
            gemms += [(2 * inter / tp, h), (h, inter / tp)]
        self._gemm_nk = np.array(gemms, dtype=float)
        self._wb = wb
        # Attention.
        self._attn_peak = g.bf16_tflops * 1e12 * cal.attention_compute_efficiency
        self._attn_bw = bw * cal.attention_memory_efficiency
        self._t_attn0 = cal.attention_overhead_us * 1e-6
        self._heads_per_gpu = m.num_attention_heads / tp
        # All-reduce.
        link_bw = g.intra_node_bandwidth_gb_per_s * 1e9 * cal.allreduce_bandwidth_efficiency
        ar_lat = cal.allreduce_latency_us * 1e-6
        if not g.p2p:
            link_bw *= NO_P2P_BANDWIDTH_FACTOR
            ar_lat += NO_P2P_EXTRA_LATENCY_US * 1e-6
        self._ar_bw, self._ar_lat = link_bw, ar_lat
        # Pipeline hand-off uses the network when stages leave the node.
        gpus = c.tp * c.pp
        handoff_bw = g.inter_node_bandwidth_gb_per_s if gpus > g.gpus_per_node else g.intra_node_bandwidth_gb_per_s
        self._pp_bw = handoff_bw * 1e9
        self._layers = m.num_layers
        # Decode attention per context token, all layers: read K and V of every layer.
        self._beta = self._layers * (2 * self._kv_heads_per_gpu * m.head_dim * kvb) / self._attn_bw

    def _gemm_time(self, tokens: np.ndarray, n: float, k: float, weight_bytes: float | None = None) -> np.ndarray:
        flops = 2.0 * tokens * n * k
        wbytes = n * k * self._wb if weight_bytes is None else weight_bytes
        byts = wbytes + tokens * (n + k) * 2.0
        if self._m_curve is not None:
            # Measured efficiency curve: roofline time / achieved fraction at this M.
            lm = np.log2(np.maximum(tokens, 1.0))
            eff = np.interp(lm, np.arange(len(self._m_curve)), self._m_curve)
            return np.maximum(flops / self._peak_raw, byts / self._bw_raw) / eff
        return np.maximum(flops / self._peak_c, byts / self._bw_m) + self._t_gemm0

    def _layer_linear_time(self, tokens: np.ndarray) -> np.ndarray:
        t = np.zeros_like(tokens, dtype=float)
        for n, k in self._gemm_nk:
            t = t + self._gemm_time(tokens, n, k)
        m = self.llm
        if m.is_moe:
            tp = self.config.tp
            e, topk = m.num_experts, m.experts_per_token
            routed = tokens * topk
            touched = e * (1.0 - (1.0 - topk / e) ** np.maximum(tokens, 1.0))
            expert_w = 3 * m.hidden_size * m.intermediate_size / tp * self._wb
            flops = 2.0 * routed * 3 * m.hidden_size * m.intermediate_size / tp
            byts = touched * expert_w + routed * (m.hidden_size * 2 + 2 * m.intermediate_size / tp) * 2.0
            t = t + np.maximum(flops / self._peak_c, byts / self._bw_m) + 3 * self._t_gemm0
            t = t + self._gemm_time(tokens, e, m.hidden_size)  # router
        elementwise = tokens * m.hidden_size * ELEMENTWISE_BYTES_PER_TOKEN_PER_HIDDEN / self._bw_m
        return t + elementwise

    def _allreduce_time(self, tokens: np.ndarray) -> np.ndarray:
        tp = self.config.tp
        if tp == 1:
            return np.zeros_like(tokens, dtype=float)
        size = tokens * self.llm.hidden_size * 2.0
        return self._ar_lat + 2.0 * (tp - 1) / tp * size / self._ar_bw

    def iteration_time(
        self,
        prefill_tokens,
        prefill_attention_pairs,
        decode_seqs,
        decode_context_tokens,
        sampled_seqs=None,
    ) -> np.ndarray:
        """Seconds for one engine iteration (vectorised over numpy arrays).

        Args:
            prefill_tokens: prompt tokens computed in this iteration (sum over chunks).
            prefill_attention_pairs: sum over prefill chunks of ``q_len * (past + q_len / 2)``,
                the causal query-key pairs (``s**2 / 2`` for a whole prompt of length s).
            decode_seqs: sequences generating one token each.
            decode_context_tokens: total context those sequences attend to.
            sampled_seqs: sequences sampled at the end (default: decode_seqs + 1 if prefill).
        """
        p = np.asarray(prefill_tokens, dtype=float)
        pairs = np.asarray(prefill_attention_pairs, dtype=float)
        b = np.asarray(decode_seqs, dtype=float)
        ctx = np.asarray(decode_context_tokens, dtype=float)
        gpu = self._fixed_time(p, pairs, b, sampled_seqs) + self._beta * ctx
        return self.with_cpu(gpu, b + (p > 0), decode_only=(p <= 0))

    def step_cpu_time(self, seqs, decode_only=False) -> np.ndarray:
        """CPU seconds of one engine step scheduling ``seqs`` sequences (multi-step
        engines spread it over their decode steps)."""
        cpu = self.cpu_fixed_s + self.cpu_per_seq_s * np.asarray(seqs, dtype=float)
        n = self.engine.num_scheduler_steps
        return np.where(decode_only, cpu / n, cpu) if n > 1 else cpu

    def with_cpu(self, gpu_s, seqs, decode_only=False) -> np.ndarray:
        """A step's wall time from its GPU time: ``gpu + cpu`` for a synchronous engine,
        ``max(gpu, cpu)`` for one that schedules the next step while this one runs."""
        cpu = self.step_cpu_time(seqs, decode_only)
        gpu_s = gpu_s + self.engine.step_exposed_us * 1e-6
        return np.maximum(gpu_s, cpu) if self.engine.async_scheduling else gpu_s + cpu

    def _fixed_time(self, p, pairs, b, sampled_seqs=None) -> np.ndarray:
        m, c = self.llm, self.config
        tokens = p + b
        per_layer = self._layer_linear_time(tokens) + 2.0 * self._allreduce_time(tokens)
        hd = m.head_dim
        prefill_attn = np.where(p > 0, 4.0 * pairs * self._heads_per_gpu * hd / self._attn_peak + self._t_attn0, 0.0)
        decode_attn = np.where(b > 0, self._t_attn0, 0.0)
        per_layer = per_layer + prefill_attn + decode_attn
        sampled = b + (p > 0) if sampled_seqs is None else np.asarray(sampled_seqs, dtype=float)
        lm_head = self._gemm_time(np.maximum(sampled, 1.0), m.vocab_size / c.tp, m.hidden_size, m.vocab_size / c.tp * m.hidden_size * 2.0)
        handoff = (c.pp - 1) * (PP_HANDOFF_LATENCY_US * 1e-6 + tokens * m.hidden_size * 2.0 / self._pp_bw)
        return self._layers * per_layer + lm_head + handoff

    def step_tables(self, max_tokens: int, max_seqs: int) -> "StepTables":
        """Precomputed pieces of :meth:`iteration_time` for the simulator's inner loop.

        ``iteration = token_s[P + B] + pair_s * pairs + prefill0_s * (P > 0)
        + decode0_s * (B > 0) + sample_s[sampled] + beta_s * C`` is the GPU time of
        :meth:`iteration_time`; :meth:`with_cpu` adds the engine's CPU side (checked by tests).
        """
        m, c = self.llm, self.config
        tokens = np.arange(max_tokens + 1, dtype=float)
        per_layer = self._layer_linear_time(tokens) + 2.0 * self._allreduce_time(tokens)
        handoff = (c.pp - 1) * (PP_HANDOFF_LATENCY_US * 1e-6 + tokens * m.hidden_size * 2.0 / self._pp_bw)
        token_s = self._layers * per_layer + handoff
        seqs = np.arange(max_seqs + 2, dtype=float)
        sample_s = self._gemm_time(np.maximum(seqs, 1.0), m.vocab_size / c.tp, m.hidden_size, m.vocab_size / c.tp * m.hidden_size * 2.0)
        return StepTables(
            token_s=token_s.tolist(),
            sample_s=sample_s.tolist(),
            pair_s=self._layers * 4.0 * self._heads_per_gpu * m.head_dim / self._attn_peak,
            prefill0_s=self._layers * self._t_attn0,
            decode0_s=self._layers * self._t_attn0,
            beta_s=self._beta,
        )

    def prefill_time(self, prompt_tokens, batch: int = 1) -> np.ndarray:
        """Seconds to prefill ``batch`` prompts of ``prompt_tokens`` in one iteration each chunk."""
        s = np.asarray(prompt_tokens, dtype=float)
        return self.iteration_time(s * batch, batch * s * s / 2.0, 0, 0, sampled_seqs=batch)

    def decode_step_time(self, batch, context_tokens) -> np.ndarray:
        """Seconds of one decode step for ``batch`` sequences of ``context_tokens`` each."""
        b = np.asarray(batch, dtype=float)
        return self.iteration_time(0.0, 0.0, b, b * np.asarray(context_tokens, dtype=float))


def steady_state_closed_loop(rm: "ReplicaModel", concurrency: int, input_tokens: int, output_tokens: int) -> dict[str, float]:
    """Steady-state TTFT/TPOT of a fixed-concurrency benchmark, in closed form.

    With ``b`` clients each keeping one request in flight, every iteration decodes the
    ``b_eff`` admitted sequences (``b`` capped by ``max_num_seqs`` and by the KV cache at
    the mean context ``isl + osl / 2``, or at ``isl + osl`` for an engine that reserves
    the whole output on admission) and, on average, prefills ``b_eff / osl`` new
    prompts (one per finished request). So

        T     = iteration(P = b_eff isl / osl, B = b_eff, C = b_eff (isl + osl / 2))
        TPOT  = T
        TTFT  = T / 2 + chunks * T_own + (b - b_eff) / X,   X = b_eff / (osl T)

    where ``T_own`` is an iteration carrying one chunk of the new prompt beside the other
    decodes, ``chunks`` the iterations a prompt needs under the token budget, and the
    last term the wait of clients the cache cannot hold (Little's law). This is what a
    benchmark's averages measure once its start-up burst has passed.
    """
    mem = rm.memory()
    kv = max(mem.kv_capacity_tokens, 1)
    per_req = input_tokens + output_tokens / 2.0
    # An engine that reserves every admitted request's whole output (TensorRT-LLM's
    # GUARANTEED_NO_EVICT) holds fewer of them than their mean context would allow.
    seats = per_req if rm.engine.kv_admission == "current" else float(input_tokens + output_tokens)
    b_eff = max(1.0, min(float(concurrency), float(rm.max_num_seqs), math.floor(kv / seats)))
    new = b_eff / max(output_tokens, 1)
    p = new * input_tokens
    t = float(rm.iteration_time(p, new * input_tokens**2 / 2.0, b_eff, b_eff * per_req, sampled_seqs=b_eff))
    room = max(rm.max_num_batched_tokens - b_eff, 1.0)
    chunks = math.ceil(input_tokens / room)
    chunk = input_tokens / chunks
    # The iterations that carry the new prompt's chunks (with the other decodes).
    t_own = float(rm.iteration_time(chunk, chunk * chunk / 2.0 + chunk * (input_tokens - chunk) / 2.0, b_eff - 1, (b_eff - 1) * per_req))
    x = b_eff / (max(output_tokens, 1) * t)
    ttft = 0.5 * t + chunks * t_own + max(0.0, concurrency - b_eff) / x
    return {"ttft_s": ttft, "tpot_s": t, "throughput_rps": x, "effective_concurrency": b_eff}


def candidate_configs(
    llm: LLMSpec,
    gpu: GPUType,
    *,
    weight_dtypes: tuple[str, ...] = ("bf16",),
    kv_dtype: str = "bf16",
    max_model_len: int,
    max_gpus: int | None = None,
    engine: str = DEFAULT_ENGINE,
) -> list[tuple[ReplicaConfig, MemoryReport]]:
    """Every (TP, PP, dtype) for ``llm`` on ``gpu`` that fits, smallest GPU count first.

    TP in {1, 2, 4, 8} within a node; PP in {1, 2, 4} (stages may span nodes). Only the
    least-GPU PP for each TP is kept: more stages than needed add hand-offs and never
    raise one replica's throughput in this model.
    """
    out = []
    for wd in weight_dtypes:
        for tp in (1, 2, 4, 8):
            if tp > gpu.gpus_per_node:
                continue
            for pp in (1, 2, 4):
                if max_gpus is not None and tp * pp > max_gpus:
                    continue
                cfg = ReplicaConfig(model=llm.name, gpu=gpu.name, tp=tp, pp=pp, weight_dtype=wd, kv_dtype=kv_dtype, engine=engine)
                rep = ReplicaModel(llm, gpu, cfg, max_model_len=max_model_len).memory()
                if rep.feasible:
                    out.append((cfg, rep))
                    break
    return out
