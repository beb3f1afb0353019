"""Engine profiles: how a serving engine schedules, what its CPU side costs, which flags.

A replica's speed is not only its kernels. The engine decides what one iteration holds
(chunked prefill mixed with decodes, or prefills that pause every decode), how many
sequences and tokens it admits, whether the CPU work of a step (scheduling, input
preparation, sampling, output processing) overlaps the GPU, how many decode steps one
scheduling decision covers (multi-step), and how long the API server takes to accept a
request (parsing, tokenisation) before the engine sees it. :class:`EngineProfile` holds
those choices for one engine version; :data:`PROFILES` are the named, sourced ones.

What each field does in boute's simulation (``boute.engine.simulator.ReplicaSim``)::

    scheduling "mixed":          every iteration = all decodes + prefill chunks (token budget)
    scheduling "prefill-first":  an iteration with admissible prompts runs only prefills;
                                 decodes wait (vLLM V0 ``_schedule_default``, SGLang)
    cpu(B) = step_cpu_base_us + step_cpu_per_seq_us * B + step_cpu_tp_us * [tp > 1]
    iteration = exposed + max(gpu, cpu)  when ``async_scheduling`` (CPU of step n+1 overlaps GPU of n)
              = exposed + gpu + cpu / N  otherwise, N = ``num_scheduler_steps`` on decode-only runs
    a request enters the engine after a FIFO front-end (one API-server process):
        enter = max(arrival, front-end free) + frontend_request_us + frontend_per_prompt_token_us * prompt
    every streamed token passes one FIFO streaming server (detokenise, SSE chunk, write):
        F = max(F, iteration end) + tokens of the iteration * frontend_per_output_token_us
        a token reaches the client at F (first-token and finish times are these)
    kv_admission "current":      a prompt is admitted while the KV cache holds what it has now;
                                 decodes that outgrow the cache preempt the newest sequence
                                 (vLLM, SGLang, TensorRT-LLM MAX_UTILIZATION)
    kv_admission "full-output":  FIFO; the head is admitted only when prompt + max output tokens
                                 fits beside every unfinished request's own prompt + max output
                                 (TensorRT-LLM GUARANTEED_NO_EVICT): nothing is ever preempted
    kv_memory_rule "total":      KV = gpu_memory_utilization x device memory - weights - workspace - runtime
    kv_memory_rule "free":       KV = gpu_memory_utilization x (device memory - weights - workspace - runtime)
                                 (TensorRT-LLM's free_gpu_memory_fraction)

Constants taken from the engines' source carry the file and commit they were read from;
the CPU and front-end costs are estimates anchored on the engines' published profiling
(each cites its anchor) and are marked ``estimate`` in :attr:`EngineProfile.sources`.
"""

from __future__ import annotations

import logging

import attrs

from boute.engine.errors import InputError, did_you_mean

__all__ = [
    "EngineProfile",
    "PROFILES",
    "DEFAULT_ENGINE",
    "LONG_CONTEXT_TOKENS",
    "get_profile",
    "engine_flags",
    "PRECISIONS",
    "Precision",
    "get_precision",
    "precision_quality_change",
    "apply_precision_quality",
]

SCHEDULING = ("mixed", "prefill-first")
KV_ADMISSION = ("current", "full-output")
KV_MEMORY_RULES = ("total", "free")
ENGINES = ("vllm", "sglang", "trtllm")

DEFAULT_ENGINE = "vllm-v1"


def _nonneg(instance, attribute, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InputError(
            f"engine profile {instance.name!r}: {attribute.name}={value!r} must be a number >= 0", hint="give CPU costs in microseconds"
        )


@attrs.frozen(kw_only=True)
class EngineProfile:
    """One serving engine version's scheduling policy, limits and CPU-side costs."""

    name: str
    """Profile name (``vllm-v1``, ``vllm-0.6``, ...), used by ``--engine`` and scenarios."""
    engine: str
    """``vllm``, ``sglang`` or ``trtllm``: which launch command the deploy artifacts write."""
    version: str
    """Engine versions the profile describes."""
    scheduling: str
    """``mixed`` or ``prefill-first`` (see the module docstring)."""
    chunked_prefill: bool
    """Split prompts across iterations to fill the token budget."""
    long_context_chunked_prefill: bool = False
    """The engine turns chunked prefill on by itself when it serves a context longer than
    :data:`LONG_CONTEXT_TOKENS` and the flag was not given (vLLM V0 >= 0.5.3); see :meth:`serving`."""
    max_num_batched_tokens: int | None
    """Token budget of one iteration; None: the engine's GPU-dependent default (:meth:`limits`)."""
    max_num_seqs: int | None
    """Most sequences in one batch; None: the engine's GPU-dependent default."""
    num_scheduler_steps: int = 1
    """Decode steps one scheduling decision covers (vLLM 0.6 multi-step); new prompts wait
    for the group to end."""
    async_scheduling: bool
    """CPU work of the next step overlaps the GPU work of this one."""
    cuda_graphs: bool = True
    """Decode steps replay CUDA graphs (no per-kernel launch cost on the CPU)."""
    step_cpu_base_us: float = attrs.field(validator=_nonneg)
    """CPU time of one engine step that does not grow with the batch, microseconds."""
    step_cpu_per_seq_us: float = attrs.field(validator=_nonneg)
    """CPU time per scheduled sequence per step (scheduling, input prep, output processing)."""
    step_cpu_tp_us: float = attrs.field(validator=_nonneg)
    """Extra CPU time per step when tensor parallelism > 1 (broadcast to worker ranks)."""
    step_exposed_us: float = attrs.field(default=0.0, validator=_nonneg)
    """Time per step that neither async scheduling nor CUDA graphs hide (gaps between
    kernels and between steps, the sampler's host sync), microseconds; added to every step."""
    frontend_request_us: float = attrs.field(validator=_nonneg)
    """API-server time to accept one request (HTTP, parsing, request setup), microseconds."""
    frontend_per_prompt_token_us: float = attrs.field(validator=_nonneg)
    """Tokenisation time per prompt token in the API server, microseconds."""
    gpu_memory_utilization: float = 0.9
    """Fraction of device memory the engine may use (``kv_memory_rule`` ``total``), or the
    fraction of the memory left free after weights, workspace and runtime that the KV
    cache takes (``free``: TensorRT-LLM's ``free_gpu_memory_fraction``)."""
    limits_rule: str = "vllm-v1"
    """Which engine code picks the default token budget and sequence cap (:meth:`limits`):
    ``vllm-v1``, ``vllm-v0``, ``sglang`` or ``trtllm``."""
    sources: tuple[str, ...] = ()
    """Where each choice comes from (file and commit, or ``estimate: ...`` with its anchor)."""
    frontend_per_output_token_us: float = attrs.field(default=0.0, validator=_nonneg)
    """Serving-process time per streamed output token (detokenise, build the SSE chunk,
    write it), microseconds: one FIFO server every generated token passes, whose backlog
    delays the client's tokens when the GPU outruns it. 0 (every shipped profile): not
    modelled, the client sees a token when its iteration ends."""
    kv_admission: str = "current"
    """How a waiting prompt is admitted against the KV cache: ``current`` (by the tokens the
    cache holds now; decodes that outgrow it preempt the newest sequence: vLLM, SGLang,
    TensorRT-LLM ``MAX_UTILIZATION``) or ``full-output`` (FIFO head admitted only when its
    prompt + output tokens fit beside every unfinished request's prompt + output; never
    preempts: TensorRT-LLM ``GUARANTEED_NO_EVICT``)."""
    kv_memory_rule: str = "total"
    """How the KV cache is sized: ``total`` (``gpu_memory_utilization`` x device memory, less
    weights, workspace and runtime: vLLM, SGLang) or ``free`` (``gpu_memory_utilization`` x
    the memory those leave free: TensorRT-LLM's ``free_gpu_memory_fraction``)."""

    def __attrs_post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise InputError(f"engine profile {self.name!r}: engine={self.engine!r} is unknown", hint=did_you_mean(self.engine, ENGINES))
        if self.limits_rule not in ("vllm-v1", "vllm-v0", "sglang", "trtllm"):
            raise InputError(
                f"engine profile {self.name!r}: limits_rule={self.limits_rule!r} is unknown", hint="use vllm-v1, vllm-v0, sglang or trtllm"
            )
        if self.scheduling not in SCHEDULING:
            raise InputError(
                f"engine profile {self.name!r}: scheduling={self.scheduling!r} is unknown", hint=did_you_mean(self.scheduling, SCHEDULING)
            )
        if not isinstance(self.num_scheduler_steps, int) or self.num_scheduler_steps < 1:
            raise InputError(
                f"engine profile {self.name!r}: num_scheduler_steps={self.num_scheduler_steps!r} must be an integer >= 1",
                hint="1 disables multi-step scheduling",
            )
        for field in ("max_num_batched_tokens", "max_num_seqs"):
            v = getattr(self, field)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise InputError(
                    f"engine profile {self.name!r}: {field}={v!r} must be an integer >= 1 or None",
                    hint="None takes the engine's own default",
                )
        if not 0 < self.gpu_memory_utilization <= 1:
            raise InputError(
                f"engine profile {self.name!r}: gpu_memory_utilization={self.gpu_memory_utilization!r} must be in (0, 1]",
                hint="vLLM's default is 0.9",
            )
        if self.kv_admission not in KV_ADMISSION:
            raise InputError(
                f"engine profile {self.name!r}: kv_admission={self.kv_admission!r} is unknown",
                hint=did_you_mean(str(self.kv_admission), KV_ADMISSION),
            )
        if self.kv_memory_rule not in KV_MEMORY_RULES:
            raise InputError(
                f"engine profile {self.name!r}: kv_memory_rule={self.kv_memory_rule!r} is unknown",
                hint=did_you_mean(str(self.kv_memory_rule), KV_MEMORY_RULES),
            )

    def limits(self, gpu_memory_gib: float, gpu_name: str, max_model_len: int) -> tuple[int, int]:
        """``(max_num_batched_tokens, max_num_seqs)`` this engine picks on a GPU by default."""
        tokens, seqs = self.max_num_batched_tokens, self.max_num_seqs
        if self.limits_rule == "vllm-v1":
            # vllm/engine/arg_utils.py get_batch_defaults (read via the search tool, 2026-11-28):
            # >= 70 GiB and not an A100 -> 8192 tokens / 1024 seqs for the OpenAI server,
            # else 2048 / 256 (A100 excluded after a measured regression, vLLM PR #17885).
            big = gpu_memory_gib >= 70 and "a100" not in gpu_name.lower()
            tokens = tokens or (8192 if big else 2048)
            seqs = seqs or (1024 if big else 256)
        elif self.limits_rule == "vllm-v0":
            # vLLM 0.5/0.6 SchedulerConfig: without chunked prefill the budget is
            # max(max_model_len, 2048) (a whole prompt must fit one iteration); 256 seqs.
            tokens = tokens or (max(max_model_len, 2048) if not self.chunked_prefill else 512)
            seqs = seqs or 256
        elif self.limits_rule == "sglang":
            # sglang/srt/server_args.py: chunked_prefill_size 2048 below 35 GB, 8192 up to 160 GB.
            tokens = tokens or (2048 if gpu_memory_gib < 35 else 8192)
            seqs = seqs or 1024
        else:
            tokens, seqs = tokens or 8192, seqs or 2048
        return int(tokens), int(seqs)

    def serving(self, served_max_model_len: int) -> "EngineProfile":
        """The profile as the engine runs when launched with ``--max-model-len served_max_model_len``.

        vLLM V0 (0.5.3 to 0.6.x) enables chunked prefill on its own for a served context
        above 32K tokens unless ``--enable-chunked-prefill`` was given (vLLM PR #6666, to avoid
        running out of memory while profiling a whole-context prefill), and its chunked-prefill
        scheduler puts decodes first and fills the rest of a 512-token budget with prompt
        chunks: boute's ``mixed`` policy. A Llama-3.1 server started without
        ``--max-model-len`` serves 131,072 tokens, so it runs this way. boute's own deploy
        files pass ``--max-model-len`` and ``--enable-chunked-prefill`` explicitly, so a
        planned replica (served length = its longest request) is unchanged.
        """
        if self.long_context_chunked_prefill and not self.chunked_prefill and served_max_model_len > LONG_CONTEXT_TOKENS:
            return attrs.evolve(self, chunked_prefill=True, scheduling="mixed")
        return self

    def step_cpu_s(self, tp: int) -> tuple[float, float]:
        """``(fixed, per-sequence)`` CPU seconds of one step at tensor parallelism ``tp``."""
        fixed = (self.step_cpu_base_us + (self.step_cpu_tp_us if tp > 1 else 0.0)) * 1e-6
        return fixed, self.step_cpu_per_seq_us * 1e-6

    def frontend_s(self, prompt_tokens: float) -> float:
        """API-server seconds before the engine sees a request of ``prompt_tokens``."""
        return (self.frontend_request_us + self.frontend_per_prompt_token_us * prompt_tokens) * 1e-6

    def identity(self) -> dict:
        """Every field, for cache keys (the perf DB hashes it)."""
        return attrs.asdict(self)


LONG_CONTEXT_TOKENS = 32768
"""Served context above which vLLM V0 enables chunked prefill by default (``use_long_context``)."""

_V0_LONG_CONTEXT = (
    "vllm-project/vllm PR #6666 'Enable chunked prefill by default for long context models' (merged "
    "2024-07-23, read 2026-11-29): EngineArgs enables chunked prefill when max_model_len > 32K and the flag is "
    "unset; V0 SchedulerConfig then defaults max_num_batched_tokens to 512 (vLLM docs 'Performance and Tuning': "
    "'512 is the default max_num_batched_tokens for chunked prefill') and _schedule_chunked_prefill schedules "
    "running decodes first, then prompt chunks in the remaining budget"
)

_V1_SCHED = (
    "vllm-project/vllm vllm/v1/core/sched/scheduler.py @ b4622cf9 (read 2026-11-28): one token budget per "
    "step; RUNNING requests (decodes, unfinished chunks) first, then WAITING prompts, chunked to the budget"
)
_V1_ARGS = (
    "vllm-project/vllm vllm/engine/arg_utils.py get_batch_defaults (read 2026-11-28): OpenAI server "
    "max_num_batched_tokens 8192 / max_num_seqs 1024 on >= 70 GiB non-A100 GPUs, else 2048 / 256"
)
_V0_SCHED = (
    "vllm-project/vllm vllm/core/scheduler.py @ 0dce2b29 _schedule_default (read 2026-11-28): 'Don't schedule "
    "decodes if prefills are scheduled'; prompts whole (enable_chunking=False)"
)
_FIT = (
    "fitted: step_exposed_us by grid search (0-3000 us) on the TPOT of aiconfigurator-core 0.12.0 "
    "systems/silicon_sample.csv rows of this backend (H100/H200, Llama-3.1); docs/fidelity.md reports every row "
    "predicted with the value fitted on the other half of the rows only (scripts/bench_fidelity.py, 2026-11-29)"
)
_V06_BLOG = (
    "vLLM blog 2024-09-05 'vLLM v0.6.0: 2.7x Throughput Improvement and 5x Latency Reduction': Llama-3-8B "
    "on 1 H100 under v0.5.3 spent 33 % of the time in the HTTP API server, 29 % in scheduling, GPU 38 %; "
    "v0.6 moves the API server to its own process, adds multi-step scheduling and async output processing"
)

_TRT_NO_EVICT = (
    "https://nvidia.github.io/TensorRT-LLM/performance/performance-tuning-guide/useful-runtime-flags.html "
    "(read 2026-11-29): 'GUARANTEED_NO_EVICT (default)' capacity scheduler policy guarantees 'that a started request "
    "is never paused'; MAX_UTILIZATION packs requests by current use and may pause them (boute: kv_admission 'current')"
)
_TRT_SCHED_CONFIG = (
    "https://nvidia.github.io/TensorRT-LLM/1.3.0rc27/llm-api/reference/SchedulerConfig.html (read 2026-11-29): "
    "capacity_scheduler_policy defaults to CapacitySchedulerPolicy.GUARANTEED_NO_EVICT, waiting_queue_policy FCFS"
)
_TRT_SERVE = (
    "NVIDIA/TensorRT-LLM tensorrt_llm/commands/serve.py @ 4c05a748 get_llm_args (read via the search tool "
    "2026-11-29): trtllm-serve builds SchedulerConfig(capacity_scheduler_policy=GUARANTEED_NO_EVICT) itself and "
    "KvCacheConfig(free_gpu_memory_fraction=--kv_cache_free_gpu_memory_fraction, default 0.9, 'Free GPU memory "
    "fraction reserved for KV Cache, after allocating model weights and buffers'); other scheduler settings only "
    "through the --extra_llm_api_options YAML file"
)
_MOCKER_NO_EVICT = (
    "NVIDIA dynamo-mocker 1.3.0 src/scheduler/trtllm/policy.rs and src/scheduler/vllm/policy.rs on docs.rs "
    "(read 2026-11-29): GUARANTEED_NO_EVICT admits a waiting request only if ceil((prompt + max_output) / block) "
    "blocks fit after every running request's to-completion reservation, FIFO, a head that does not fit waits "
    "without preempting running work (boute reserves tokens, not 32-token blocks)"
)
_TRT_FREE_FRACTION = (
    "https://nvidia.github.io/TensorRT-LLM/examples/kvcacheconfig.html and "
    "https://nvidia.github.io/TensorRT-LLM/1.3.0rc27/llm-api/reference/KvCacheConfig.html (read 2026-11-29): "
    "KvCacheConfig.free_gpu_memory_fraction defaults to 0.9, '90% of free GPU memory for KV cache' (no 1.0-specific "
    "page found; the same default in every version read); https://nvidia.github.io/TensorRT-LLM/0.18.2/commands/"
    "trtllm-serve.html (read 2026-11-29): --kv_cache_free_gpu_memory_fraction is the 'free GPU memory fraction "
    "reserved for KV Cache, after allocating model weights and buffers' (boute: kv_memory_rule 'free', 0.9)"
)

# vLLM 0.6 (V0 engine, default flags); vllm-0.6-ms10 below is the same engine with multi-step
# scheduling, so it is derived from this one (same CPU costs and limits by construction).
_VLLM_06 = EngineProfile(
    name="vllm-0.6",
    engine="vllm",
    limits_rule="vllm-v0",
    version="0.6.0-0.6.6 (V0 engine, default flags)",
    scheduling="prefill-first",
    chunked_prefill=False,
    long_context_chunked_prefill=True,
    max_num_batched_tokens=None,
    max_num_seqs=None,
    async_scheduling=False,
    step_cpu_base_us=1500.0,
    step_cpu_per_seq_us=35.0,
    step_cpu_tp_us=500.0,
    step_exposed_us=1000.0,
    frontend_request_us=1000.0,
    frontend_per_prompt_token_us=1.0,
    sources=(
        _V0_SCHED,
        _V0_LONG_CONTEXT,
        "step_exposed_us 1000 taken from the vllm-v1 fit (same GPUs' kernel and step gaps; no V0 rows to fit on)",
        "vLLM 0.6 SchedulerConfig: max_num_batched_tokens = max(max_model_len, 2048) without chunked prefill, max_num_seqs 256",
        _V06_BLOG,
        "estimate: step CPU 1.5 ms + 35 us/seq (+0.5 ms TP broadcast), front-end 1 ms + 1 us/token: "
        "scheduling at 29 % beside 38 % GPU in the blog's profile means CPU ~ 0.8x the GPU step",
    ),
)


PROFILES: dict[str, EngineProfile] = {
    p.name: p
    for p in (
        EngineProfile(
            name="vllm-v1",
            engine="vllm",
            version=">=0.10 (V1 engine)",
            scheduling="mixed",
            chunked_prefill=True,
            max_num_batched_tokens=None,
            max_num_seqs=None,
            async_scheduling=True,
            step_cpu_base_us=600.0,
            step_cpu_per_seq_us=4.0,
            step_cpu_tp_us=100.0,
            step_exposed_us=1000.0,
            frontend_request_us=500.0,
            frontend_per_prompt_token_us=0.5,
            sources=(
                _V1_SCHED,
                _V1_ARGS,
                "async scheduling and CUDA graphs on: vLLM V1 blog 2025-01-27 (engine core in its own process, "
                "persistent batch, piecewise CUDA graphs)",
                "estimate: step CPU 0.6 ms + 4 us/seq, +0.1 ms with TP (shared-memory broadcast); front-end 0.5 ms "
                "+ 0.5 us/prompt token; anchored on " + _V06_BLOG[:60] + "... scaled to V1's split processes",
                "step_exposed_us 1000 " + _FIT,
            ),
        ),
        _VLLM_06,
        attrs.evolve(
            _VLLM_06,
            name="vllm-0.6-ms10",
            version="0.6.x with --num-scheduler-steps 10",
            num_scheduler_steps=10,
            sources=(
                _V0_SCHED,
                _V0_LONG_CONTEXT,
                "step_exposed_us 1000 taken from the vllm-v1 fit",
                _V06_BLOG + "; its benchmarks use --num-scheduler-steps 10",
                "multi-step: vllm/worker/multi_step_model_runner.py (v0.6): one schedule, N decode steps",
                "estimate: same CPU as vllm-0.6, amortised over the 10 steps",
            ),
        ),
        EngineProfile(
            name="vllm-0.5",
            engine="vllm",
            limits_rule="vllm-v0",
            version="0.5.x (V0 engine, API server in the engine process)",
            scheduling="prefill-first",
            chunked_prefill=False,
            long_context_chunked_prefill=True,
            max_num_batched_tokens=None,
            max_num_seqs=None,
            async_scheduling=False,
            step_cpu_base_us=2000.0,
            step_cpu_per_seq_us=70.0,
            step_cpu_tp_us=800.0,
            step_exposed_us=1000.0,
            frontend_request_us=1500.0,
            frontend_per_prompt_token_us=1.0,
            sources=(
                _V0_SCHED,
                _V0_LONG_CONTEXT,
                _V06_BLOG,
                "step_exposed_us 1000 taken from the vllm-v1 fit",
                "estimate: the blog's 33 % API server + 29 % scheduling beside 38 % GPU for v0.5.3 gives CPU ~1.6x "
                "the GPU step at ~128 running sequences: 2 ms + 70 us/seq",
            ),
        ),
        EngineProfile(
            name="sglang",
            engine="sglang",
            limits_rule="sglang",
            version="0.4-0.5 (overlap scheduler)",
            scheduling="prefill-first",
            chunked_prefill=True,
            max_num_batched_tokens=None,
            max_num_seqs=None,
            async_scheduling=True,
            step_cpu_base_us=500.0,
            step_cpu_per_seq_us=3.0,
            step_cpu_tp_us=100.0,
            step_exposed_us=3000.0,
            frontend_request_us=500.0,
            frontend_per_prompt_token_us=0.5,
            sources=(
                "sgl-project/sglang python/sglang/srt/managers/scheduler.py get_next_batch_to_run and "
                "schedule_policy.py @ ad0119fd (read 2026-11-28): a new prefill (extend) batch runs before the "
                "decode batch; mixing them needs --enable-mixed-chunk (off by default)",
                "sglang server_args.py: chunked_prefill_size 8192 on 35-160 GB GPUs, 2048 below",
                "estimate: overlap scheduler hides step CPU (0.5 ms + 3 us/seq); front-end as vllm-v1",
                "step_exposed_us 3000 (the top of the grid: only 46 rows, 8B FP8 on H200) " + _FIT,
            ),
        ),
        EngineProfile(
            name="trtllm",
            engine="trtllm",
            limits_rule="trtllm",
            version="1.0 (PyTorch backend, trtllm-serve)",
            scheduling="mixed",
            chunked_prefill=False,
            max_num_batched_tokens=None,
            max_num_seqs=None,
            async_scheduling=True,
            step_cpu_base_us=300.0,
            step_cpu_per_seq_us=2.0,
            step_cpu_tp_us=50.0,
            step_exposed_us=1000.0,
            frontend_request_us=500.0,
            frontend_per_prompt_token_us=0.5,
            gpu_memory_utilization=0.9,
            kv_admission="full-output",
            kv_memory_rule="free",
            sources=(
                "NVIDIA/TensorRT-LLM docs performance-tuning-guide 'tuning max batch size and max num tokens': the "
                "in-flight batcher schedules context and generation requests in one iteration; trtllm-serve "
                "defaults max_num_tokens 8192, max_batch_size 2048, chunked context off",
                "estimate: C++ executor with overlap scheduler: 0.3 ms + 2 us/seq",
                "step_exposed_us 1000 " + _FIT,
                _TRT_SERVE,
                _TRT_NO_EVICT,
                _TRT_SCHED_CONFIG,
                _MOCKER_NO_EVICT,
                _TRT_FREE_FRACTION,
            ),
        ),
    )
}


def get_profile(name: "str | EngineProfile | None", field: str = "engine") -> EngineProfile:
    """The profile called ``name`` (None: the default); a profile passes through."""
    if isinstance(name, EngineProfile):
        return name
    if name is None:
        return PROFILES[DEFAULT_ENGINE]
    if not isinstance(name, str) or name not in PROFILES:
        raise InputError(f"{field}: unknown engine profile {name!r}", hint=did_you_mean(str(name), PROFILES))
    return PROFILES[name]


# What each engine runs when launched with the flags engine_flags writes: TensorRT-LLM's
# capacity scheduler stays at its default GUARANTEED_NO_EVICT (trtllm-serve has no flag for
# it: it takes scheduler_config from an --extra_llm_api_options YAML file, which the deploy
# artifacts do not write) and sizes its KV cache from the free memory; vLLM and SGLang admit
# by current use and size theirs from the total memory.
_LAUNCHED = {"vllm": ("current", "total"), "sglang": ("current", "total"), "trtllm": ("full-output", "free")}


def _check_launchable(p: EngineProfile) -> None:
    admission, rule = _LAUNCHED[p.engine]
    if p.kv_admission != admission:
        raise InputError(
            f"engine profile {p.name!r}: kv_admission={p.kv_admission!r} cannot be set by {p.engine} launch flags",
            hint=f"{p.engine} launched by boute admits as {admission!r}; set the policy in the engine's own config file yourself",
        )
    if p.kv_memory_rule != rule:
        raise InputError(
            f"engine profile {p.name!r}: kv_memory_rule={p.kv_memory_rule!r} cannot be set by {p.engine} launch flags",
            hint=f"{p.engine}'s memory fraction flag follows the {rule!r} rule",
        )


def engine_flags(
    profile: "EngineProfile | str",
    *,
    tp: int = 1,
    pp: int = 1,
    max_model_len: int | None = None,
    weight_dtype: str = "bf16",
    kv_dtype: str = "bf16",
    gpu_memory_gib: float = 80.0,
    gpu_name: str = "",
    parallel: bool = True,
) -> list[str]:
    """Launch flags that make the engine behave as ``profile`` assumes (after the model argument).

    ``parallel=False`` leaves out the TP/PP flags, for launchers that write them themselves.

    For the deploy artifacts (``engine/artifacts.py``): ``vllm serve MODEL`` +
    ``engine_flags(...)``; ``python -m sglang.launch_server --model-path MODEL`` + flags;
    ``trtllm-serve MODEL`` + flags.

    Raises:
        InputError: the profile's ``kv_admission`` or ``kv_memory_rule`` is not what the
            engine runs with these flags (e.g. a TensorRT-LLM profile with ``current``
            admission, which needs ``MAX_UTILIZATION`` from a config file no flag sets).
    """
    p = get_profile(profile)
    _check_launchable(p)
    tokens, seqs = p.limits(gpu_memory_gib, gpu_name, max_model_len or 8192)
    prec = get_precision(weight_dtype)
    if p.engine == "vllm":
        out = ["--tensor-parallel-size", str(tp), "--pipeline-parallel-size", str(pp)] if parallel else []
        out += [
            "--gpu-memory-utilization",
            f"{p.gpu_memory_utilization:.2f}",
            "--max-num-seqs",
            str(seqs),
            "--max-num-batched-tokens",
            str(tokens),
        ]
        if max_model_len:
            out += ["--max-model-len", str(max_model_len)]
        # V0 turns chunked prefill on by itself above 32K context: say it explicitly.
        out += ["--enable-chunked-prefill"] if p.chunked_prefill else ["--enable-chunked-prefill=False"]
        if p.num_scheduler_steps > 1:
            out += ["--num-scheduler-steps", str(p.num_scheduler_steps)]
        if p.async_scheduling and p.limits_rule == "vllm-v1":
            out += ["--async-scheduling"]
        if not p.cuda_graphs:
            out += ["--enforce-eager"]
        if prec.vllm_quantization:
            out += ["--quantization", prec.vllm_quantization]
        if kv_dtype == "fp8":
            out += ["--kv-cache-dtype", "fp8"]
        return out
    if p.engine == "sglang":
        out = ["--tp-size", str(tp)] if parallel else []
        out += [
            "--mem-fraction-static",
            f"{p.gpu_memory_utilization:.2f}",
            "--max-running-requests",
            str(seqs),
            "--chunked-prefill-size",
            str(tokens if p.chunked_prefill else -1),
        ]
        if max_model_len:
            out += ["--context-length", str(max_model_len)]
        if pp > 1 and parallel:
            out += ["--pp-size", str(pp)]
        if prec.vllm_quantization:
            out += ["--quantization", prec.vllm_quantization]
        if kv_dtype == "fp8":
            out += ["--kv-cache-dtype", "fp8_e4m3"]
        if not p.cuda_graphs:
            out += ["--disable-cuda-graph"]
        return out
    out = ["--tp_size", str(tp), "--pp_size", str(pp)] if parallel else []
    out += [
        "--max_batch_size",
        str(seqs),
        "--max_num_tokens",
        str(tokens),
        "--kv_cache_free_gpu_memory_fraction",
        f"{p.gpu_memory_utilization:.2f}",
    ]
    if max_model_len:
        out += ["--max_seq_len", str(max_model_len)]
    return out


# ---------------------------------------------------------------- precision variants


@attrs.frozen(kw_only=True)
class Precision:
    """A weight precision: bytes per weight, which math the GEMMs run, and its quality effect."""

    name: str
    weight_bytes: float
    """Bytes per weight parameter, including quantisation scales."""
    math: str
    """``bf16`` (weight-only: dequantised in the kernel, BF16 tensor cores) or ``fp8``
    (weights and activations FP8, FP8 tensor cores where the GPU has them)."""
    vllm_quantization: str | None
    """vLLM ``--quantization`` value (None: unquantised or taken from the checkpoint)."""
    quality_relative_change: float
    """Relative change of benchmark accuracy against BF16 (e.g. -0.01 = 1 % lower)."""
    quality_source: str
    """The published evaluation the quality figure comes from, or why it is zero."""
    kernel_source: str
    needs_checkpoint: bool = False
    """True when the engine cannot quantize BF16 weights to this precision at load (INT4
    GPTQ/AWQ need calibration data): a deploy serves the model catalog's pre-quantized
    checkpoint (``LLMSpec.quantized_checkpoints``), and a model without one cannot run it."""


_KURTIC = (
    "Kurtic et al., 'Give Me BF16 or Give Me Death? Accuracy-Performance Trade-Offs in LLM Quantization', "
    "arXiv 2411.02355 (2024), Llama-3.1 8B/70B/405B over OpenLLM v1/v2 and Arena-Hard"
)

PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision(
            name="bf16",
            weight_bytes=2.0,
            math="bf16",
            vllm_quantization=None,
            quality_relative_change=0.0,
            quality_source="reference precision",
            kernel_source="cuBLAS BF16 GEMMs (calibrated)",
        ),
        Precision(
            name="fp8",
            weight_bytes=1.0,
            math="fp8",
            vllm_quantization="fp8",
            quality_relative_change=0.0,
            quality_source=_KURTIC + ": 'FP8 weight and activation quantization (W8A8-FP) is lossless across all "
            "model scales' (abstract); on GPUs without FP8 tensor cores vLLM runs the same checkpoint weight-only "
            "(FP8 Marlin), whose accuracy we take as equal (no separate evaluation found: warning)",
            kernel_source="W8A8: CUTLASS scaled_mm (calibrated on aiconfigurator-core FP8 GEMM tables); Ampere "
            "and older: FP8 Marlin weight-only, BF16 math on 1-byte weights",
        ),
        Precision(
            name="int4",
            weight_bytes=0.5 + 2.0 / 128,
            math="bf16",
            # Served from a pre-quantized GPTQ/AWQ checkpoint whose config names the scheme;
            # vLLM picks (GPTQ-/AWQ-)Marlin from it, and a --quantization flag that disagrees
            # with the checkpoint is an error, so none is passed.
            vllm_quantization=None,
            quality_relative_change=-0.0158,
            quality_source=_KURTIC + ": 'INT4 weight-only (W4A16-INT) is competitive with 8-bit integer weight and "
            "activation quantization' (abstract). Per checkpoint (models/catalog.py), the mean of the five recoveries "
            "the Llama-3.1 W4A16 GPTQ checkpoints' model cards report for that evaluation (Arena-Hard, OpenLLM v1/v2, "
            "HumanEval, HumanEval+): 8B 97.0 %, 70B 99.4 %, 405B 98.8 %; this generic figure, for a checkpoint without "
            "its own evaluation (warning), is their mean, -1.58 %",
            kernel_source="Marlin / GPTQ-Marlin / AWQ-Marlin (Frantar et al., arXiv 2408.11743: near-ideal 4x "
            "weight-streaming speed-up up to batch 16-32): modelled as BF16 math on 0.5-byte weights plus one "
            "BF16 scale per 128-weight group",
            needs_checkpoint=True,
        ),
    )
}

KV_FP8_QUALITY_NOTE = (
    "FP8 KV cache: no published evaluation for the catalog models was found; its quality "
    "effect is taken as zero (warning), vLLM docs describe it as having minimal accuracy impact"
)


def get_precision(name: str, field: str = "weight_dtype") -> Precision:
    """The weight precision called ``name``."""
    if name not in PRECISIONS:
        raise InputError(f"{field}: {name!r} is not a supported precision", hint=did_you_mean(str(name), PRECISIONS))
    return PRECISIONS[name]


_log = logging.getLogger("boute")


def precision_quality_change(weight_dtypes, kv_dtype: str = "bf16") -> tuple[float, tuple[str, ...]]:
    """``(relative quality change, warnings)`` for a model that may be served in any of ``weight_dtypes``.

    The change is the worst (most negative) published effect among them (:attr:`Precision.quality_relative_change`):
    routing is chosen before the inner problem picks each replica's precision, so every
    query a model answers is charged the loss of the lowest precision it may run in. The
    warnings name the effects no published evaluation covers (taken as zero).
    """
    precs = [get_precision(w) for w in weight_dtypes]
    change = min((p.quality_relative_change for p in precs), default=0.0)
    warnings = []
    if any(p.name == "fp8" for p in precs):
        warnings.append(
            "FP8 on GPUs without FP8 tensor cores runs weight-only (FP8 Marlin); its quality effect is taken as "
            "W8A8's (zero): no published evaluation found"
        )
    if kv_dtype == "fp8":
        warnings.append(KV_FP8_QUALITY_NOTE)
    return change, tuple(warnings)


def apply_precision_quality(table, weight_dtypes, kv_dtype: str = "bf16"):
    """``table`` (a :class:`~boute.engine.routing.QualityTable`) with every per-query quality
    scaled by ``1 + change`` of :func:`precision_quality_change`; unchanged when the change is 0.
    Logs the adjustment and the unevaluated effects as warnings."""
    change, warnings = precision_quality_change(weight_dtypes, kv_dtype)
    for w in warnings:
        _log.warning("precision quality: %s", w)
    if change == 0.0:
        return table
    _log.warning(
        "precision quality: per-query quality scaled by %.3f for weight dtypes %s (%s)",
        1.0 + change,
        ", ".join(weight_dtypes),
        min((get_precision(w) for w in weight_dtypes), key=lambda p: p.quality_relative_change).quality_source[:120],
    )
    return attrs.evolve(table, quality=table.quality * (1.0 + change))
