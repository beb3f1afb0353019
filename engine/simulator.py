"""Stage 2: discrete-event simulation of continuous batching (vLLM-style).

One :class:`ReplicaSim` serves a request stream with iteration-level scheduling, as the
replica's engine profile (``boute.engine.engines``) says:

* a request first passes the API server (one FIFO front-end: parsing, tokenisation) and
  only then reaches the engine's waiting queue;
* ``mixed`` scheduling (vLLM V1, TensorRT-LLM): every iteration runs all decoding
  sequences (one token each) plus prefill chunks taken FIFO from the waiting queue while
  the token budget (``max_num_batched_tokens``), the sequence cap (``max_num_seqs``) and
  free KV-cache tokens allow (chunked prefill; without it a prompt must fit the budget
  whole);
* ``prefill-first`` scheduling (vLLM V0, SGLang): an iteration that can admit prompts
  runs only prefills and every decode waits for it;
* multi-step engines (vLLM 0.6 ``--num-scheduler-steps N``) admit prompts only between
  groups of N decode steps;
* each iteration costs its GPU time plus the engine's CPU time of the step (overlapped,
  ``max``, by engines that schedule asynchronously);
* a request's first token comes with the iteration that finishes its prompt;
* every generated token then passes one FIFO streaming server (the serving process that
  detokenises it, builds the SSE chunk and writes it: SGLang's tokenizer/detokenizer
  managers, vLLM's API server, trtllm-serve), costing ``frontend_per_output_token_us``
  per token: an iteration that ends at ``t`` and emits ``n`` tokens makes it busy until
  ``F = max(F, t) + n c`` (Lindley's recursion), and the client sees those tokens at ``F``.
  Reported first-token and finish times, and the closed-loop clients' next sends, are
  these client-visible times; the engine's own bookkeeping (KV cache, batch) keeps the
  iteration times. With ``c = 0`` (every shipped profile) the two coincide;
* when decoding would overflow the KV cache, the most recently started sequence is
  preempted and recomputed later (vLLM's default recompute policy);
* under ``full-output`` KV admission (the profile's ``kv_admission``: TensorRT-LLM's
  default ``GUARANTEED_NO_EVICT``) a prompt is admitted, FIFO, only when its prompt +
  output tokens fit beside the prompt + output of every admitted, unfinished request, so
  the cache never runs short and nothing is preempted; the head that does not fit waits.

Between events the decode batch is fixed and one iteration costs ``a(B) + beta * C``
(stage 1), with the context ``C`` growing by ``B`` each step, so ``k`` steps cost
``k a + beta (k C + B k (k - 1) / 2)``: the simulator jumps straight to the next
completion, arrival or KV limit instead of looping over every token. That is what
makes a performance DB of hundreds of simulations take seconds.

:func:`simulate_pool` runs several replicas (different GPU types and parallelisms
allowed) behind one load balancer. Its default, and the one policy the perf DB, the
verification re-simulation and the exported router configuration share, is
**weighted random** (:data:`DISPATCH_POLICY`): each request goes to replica ``i`` with
probability ``w_i / sum w`` independently of the others, ``w_i`` being the replica's
capacity at the plan's latency bound. That is what LiteLLM's ``simple-shuffle`` routing
does with per-deployment ``weight`` (``random.choices(range(len(weights)),
weights=weights)`` in BerriAI/litellm ``litellm/router_strategy/simple_shuffle.py``,
commit 1116dd5, read 2026-11-28), and it is why the perf DB's assumption holds: a
Poisson stream split by independent coin flips (thinning) gives each replica a Poisson
stream of rate ``lambda w_i / sum w``, exactly the per-replica arrival process each DB
point was simulated with. Smooth weighted round robin (``proportional``) and
join-shortest-queue (``jsq``) remain available for comparison only.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

import attrs
import numpy as np

from boute.engine.errors import InputError, did_you_mean
from boute.engine.replica import ReplicaModel
from boute.engine.workload import RequestStream

__all__ = [
    "ReplicaSim",
    "SimResult",
    "simulate_replica",
    "simulate_pool",
    "simulate_closed_loop",
    "simulate_bench",
    "summarize",
    "DISPATCH_POLICY",
    "DISPATCH_POLICIES",
    "CLIENT_STARTS",
    "closed_loop_runs",
]

DISPATCH_POLICY = "weighted-random"
"""The dispatch policy of every plan: perf DB assumption, re-simulation, router.yaml."""
DISPATCH_POLICIES = (DISPATCH_POLICY, "proportional", "jsq")
CLIENT_STARTS = ("together", "even", "random")
"""When a closed loop's clients send their first request (:func:`simulate_closed_loop`)."""


@attrs.frozen(kw_only=True)
class SimResult:
    """Per-request latencies (seconds) and aggregates of one simulation.

    Per-request arrays hold the completed post-warm-up requests in arrival order.
    """

    ttft_s: np.ndarray
    tpot_s: np.ndarray
    """Time per output token after the first, only for requests with at least two output
    tokens (a one-token output has no inter-token gap: counting it as 0 would bias the
    mean down), so it may be shorter than ``e2e_s``."""
    e2e_s: np.ndarray
    completed: int
    submitted: int
    duration_s: float
    busy_s: float
    """Mean busy time per replica after the warm-up (so ``utilization`` <= 1)."""
    preemptions: int
    arrival_s: np.ndarray | None = None
    """Arrival time of each entry of ``e2e_s`` (pools only; None for one replica)."""
    replica: np.ndarray | None = None
    """Index of the replica that served each entry of ``e2e_s`` (pools only)."""
    window_s: float | None = None
    """Steady-state throughput window of a pool run: the second half of the span from the
    first post-warm-up arrival to the last arrival (pools only; None for one replica)."""
    window_departures: int | None = None
    """Requests (warm-up ones included) that finished inside ``window_s`` (pools only)."""

    @property
    def p50_s(self) -> float:
        """Median end-to-end latency (s)."""
        return _pct(self.e2e_s, 50)

    @property
    def p95_s(self) -> float:
        """P95 end-to-end latency (s), plain sample percentile."""
        return _pct(self.e2e_s, 95)

    @property
    def p99_s(self) -> float:
        """P99 end-to-end latency (s)."""
        return _pct(self.e2e_s, 99)

    @property
    def mean_s(self) -> float:
        """Mean end-to-end latency (s); inf when nothing completed."""
        return float(np.mean(self.e2e_s)) if len(self.e2e_s) else math.inf

    @property
    def throughput_rps(self) -> float:
        """Completed requests per second. For a pool run, the steady-state departure rate:
        departures inside the second half of the arrival window over its length (the drain after the last
        arrival is not steady state, and counting it would bias a short run low; in a stable
        system this equals the arrival rate, in an overloaded one it is what the replicas
        sustain). For one replica, ``completed / duration_s``, as `vllm bench serve`'s
        request throughput (its benchmark duration includes the drain)."""
        if self.window_s is not None and self.window_departures is not None and self.window_s > 0:
            return self.window_departures / self.window_s
        return self.completed / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def utilization(self) -> float:
        """Mean busy share of the replicas over the run."""
        return self.busy_s / self.duration_s if self.duration_s > 0 else 0.0

    def summary(self) -> dict[str, float]:
        """Aggregates as a plain dict (see :func:`summarize`)."""
        return summarize(self)


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if len(x) else math.inf


def summarize(r: SimResult) -> dict[str, float]:
    """Aggregates as a plain dict (P50/P95/P99/mean e2e, TTFT, TPOT, throughput).

    TPOT aggregates skip one-token outputs (no inter-token gap; see ``SimResult.tpot_s``).
    """
    tpot = r.tpot_s
    return {
        "p50_s": r.p50_s,
        "p95_s": r.p95_s,
        "p99_s": r.p99_s,
        "mean_s": r.mean_s,
        "ttft_mean_s": float(np.mean(r.ttft_s)) if len(r.ttft_s) else math.inf,
        "ttft_p95_s": _pct(r.ttft_s, 95),
        "tpot_mean_s": float(np.mean(tpot)) if len(tpot) else math.inf,
        "tpot_p95_s": _pct(tpot, 95),
        "throughput_rps": r.throughput_rps,
        "utilization": r.utilization,
        "completed": float(r.completed),
        "preemptions": float(r.preemptions),
    }


class ReplicaSim:
    """One replica's continuous-batching engine, advanced event by event.

    Args:
        model: the stage-1 model of the replica (its engine profile sets the policy).
        kv_capacity_tokens: KV-cache tokens (from the replica's memory report).
        chunked_prefill: split prompts across iterations to fill the token budget
            (default: the engine profile's choice).
    """

    def __init__(self, model: ReplicaModel, kv_capacity_tokens: int | None = None, *, chunked_prefill: bool | None = None) -> None:
        self.model = model
        self.budget = model.max_num_batched_tokens
        self.max_seqs = model.max_num_seqs
        self.kv_cap = int(kv_capacity_tokens if kv_capacity_tokens is not None else model.memory().kv_capacity_tokens)
        if self.kv_cap < 1:
            raise InputError(f"kv_capacity_tokens: {self.kv_cap} leaves no room for a request", hint="pick a config that fits")
        prof = model.engine
        self.chunked = prof.chunked_prefill if chunked_prefill is None else chunked_prefill
        self._prefill_first = prof.scheduling == "prefill-first"
        self._nsteps = prof.num_scheduler_steps
        self._gpos = 0  # decode steps done in the current multi-step group
        self._async = prof.async_scheduling
        self._cpu0, self._cpu1 = model.cpu_fixed_s, model.cpu_per_seq_s
        self._exposed = prof.step_exposed_us * 1e-6
        self._fe_req_s = prof.frontend_request_us * 1e-6
        self._fe_tok_s = prof.frontend_per_prompt_token_us * 1e-6
        self._fe_free = -math.inf
        # Streaming server (per output token): busy until self._F; 0 disables it (then every
        # result is exactly the one without the streaming model: each use is behind a branch).
        self._c = prof.frontend_per_output_token_us * 1e-6
        self._F = -math.inf
        # With async scheduling the scheduler plans step n+1 while step n runs: a request that
        # reaches the engine after step n started can join step n+2 at the earliest.
        self._last_start = 0.0
        tab = model.step_tables(self.budget + self.max_seqs + 1, self.max_seqs + 1)
        self._tok, self._samp = tab.token_s, tab.sample_s
        self._pair, self._p0, self._d0, self._beta = tab.pair_s, tab.prefill0_s, tab.decode0_s, tab.beta_s
        self._ntok = len(self._tok) - 1
        self.t = 0.0
        self.busy = 0.0
        self.preemptions = 0
        # Per-request state (grown as requests arrive).
        self.arrival: list[float] = []
        self.enter: list[float] = []  # when the API server hands the request to the engine
        self.prompt: list[int] = []
        self.output: list[int] = []
        self.generated: list[int] = []
        self.target: list[int] = []  # tokens to prefill (prompt + generated after a preemption)
        self.prefilled: list[int] = []
        self.first: list[float] = []
        self.finish: list[float] = []
        self.waiting: deque[int] = deque()
        # Decoding requests in start order (a dict: O(1) removal, popitem() takes the newest).
        self.running: dict[int, None] = {}
        # Decode progress is counted once for the whole batch: a running request has generated
        # ``gstep - base[r]`` tokens and finishes at step ``fin[r]`` (a heap finds the next one),
        # so advancing k steps costs O(finished), not O(batch).
        self._gstep = 0
        self._base: dict[int, int] = {}
        self._fin: dict[int, int] = {}
        self._heap: list[tuple[int, int]] = []
        # Inter-token latencies (only when record_itl is set, for benchmark predictions):
        # compressed runs (first gap, last gap, steps, sequences, floor) and the sequences
        # that joined since the last token-producing iteration.
        self.record_itl = False
        self._itl_runs: list[tuple[float, float, int, int, float]] = []
        self._itl_last = 0.0
        self._itl_joiners: list[tuple[float, int]] = []
        self.ctx_sum = 0  # context tokens of running sequences
        self.kv_used = 0
        self.outstanding = 0
        self.n_partial = 0  # waiting requests whose prompt is partly prefilled (they hold a seat)
        # Full-output admission (TensorRT-LLM GUARANTEED_NO_EVICT): every admitted, unfinished
        # request reserves prompt + output tokens from its first prefill chunk to its end; the
        # FIFO head is admitted only if its reservation fits beside the others. Each request's
        # KV use never exceeds its reservation, so decodes never run out and nothing is preempted.
        self._full = prof.kv_admission == "full-output"
        self.reserved = 0

    # ---------------------------------------------------------------- API
    def submit(self, arrival_s: float, prompt_tokens: int, output_tokens: int) -> int:
        """Queue a request (call after ``run_until(arrival_s)``); returns its id.

        The request reaches the engine after the front-end has handled it and every
        earlier request (one FIFO API server)."""
        rid = len(self.arrival)
        self.arrival.append(arrival_s)
        enter = max(arrival_s, self._fe_free) + self._fe_req_s + self._fe_tok_s * prompt_tokens
        self._fe_free = enter
        self.enter.append(enter)
        self.prompt.append(int(prompt_tokens))
        self.output.append(max(1, int(output_tokens)))
        self.generated.append(0)
        self.target.append(int(prompt_tokens))
        self.prefilled.append(0)
        self.first.append(math.nan)
        self.finish.append(math.nan)
        self.waiting.append(rid)
        self.outstanding += 1
        if self.t < enter and not self.running and len(self.waiting) == 1:
            self.t = enter  # idle engine wakes up when the request reaches it
        return rid

    def run_until(self, t_stop: float) -> None:
        """Run iterations that start before ``t_stop`` (all of them for ``inf``)."""
        while self.t < t_stop and (self.running or self.waiting):
            if not self._iterate(t_stop):
                break

    def result(self, warmup_fraction: float = 0.0) -> SimResult:
        """Latencies of the finished requests, skipping the first ``warmup_fraction``."""
        n = len(self.arrival)
        start = int(n * warmup_fraction)
        fin = np.array(self.finish[start:])
        done = ~np.isnan(fin)
        arr = np.array(self.arrival[start:])[done]
        first = np.array(self.first[start:])[done]
        fin = fin[done]
        out = np.array(self.output[start:])[done]
        tpot = ((fin - first) / np.maximum(out - 1, 1))[out > 1]  # TPOT is undefined for one-token outputs
        t0 = self.arrival[start] if n > start else 0.0
        return SimResult(
            ttft_s=first - arr,
            tpot_s=tpot,
            e2e_s=fin - arr,
            completed=int(done.sum()),
            submitted=n - start,
            duration_s=max(self.client_time_s - t0, 1e-12),
            busy_s=self.busy * (self.t - t0) / max(self.t - (self.arrival[0] if n else 0.0), 1e-12),
            preemptions=self.preemptions,
        )

    @property
    def client_time_s(self) -> float:
        """When the client has seen every token emitted so far: the engine clock, or later
        while the streaming server works off a backlog (so, after an iteration that
        finished requests, when their clients got the last token)."""
        return self.t if not self._c else max(self.t, self._F)

    # ---------------------------------------------------------------- engine
    def _gate(self) -> float:
        """Requests that reached the engine by this time can be scheduled now."""
        return self._last_start if (self._async and self.running) else self.t

    def _admissible(self) -> bool:
        if not self.waiting:
            return False
        r = self.waiting[0]
        if self.enter[r] > self._gate():
            return False
        partial = self.prefilled[r] > 0
        if not partial and len(self.running) + self.n_partial >= self.max_seqs:
            return False
        if self._full:
            return partial or self.reserved + self.prompt[r] + self.output[r] <= self.kv_cap
        return self.kv_used < self.kv_cap and (self.chunked or self.kv_used + self.target[r] <= self.kv_cap)

    def _join(self, r: int) -> None:
        """Start decoding request ``r`` (its ``generated`` count is current)."""
        self.running[r] = None
        base = self._gstep - self.generated[r]
        self._base[r] = base
        fin = base + self.output[r]
        self._fin[r] = fin
        heapq.heappush(self._heap, (fin, r))

    def _next_finish_steps(self) -> int:
        """Decode steps until the next running request finishes (drops stale heap entries)."""
        heap, fin, running = self._heap, self._fin, self.running
        while heap and (heap[0][1] not in running or fin[heap[0][1]] != heap[0][0]):
            heapq.heappop(heap)
        return heap[0][0] - self._gstep

    def _preempt_last(self) -> None:
        if self._full:  # unreachable: reservations cover every admitted request's whole output
            raise RuntimeError("internal: a full-output (no-evict) replica ran out of KV cache")
        r, _ = self.running.popitem()
        self.generated[r] = self._gstep - self._base[r]
        ctx = self.prompt[r] + self.generated[r]
        self.ctx_sum -= ctx
        self.kv_used -= ctx
        self.target[r] = ctx
        self.prefilled[r] = 0
        self.waiting.appendleft(r)
        self.preemptions += 1

    def _iterate(self, t_stop: float) -> bool:
        # The hot loop of every simulation: _admissible and _gate are inlined here (same logic).
        running, waiting = self.running, self.waiting
        if not running:
            self._gpos = 0
        if waiting:
            r = waiting[0]
            e = self.enter[r]
            if self._gpos == 0 and e <= (self._last_start if (self._async and running) else self.t):
                if self._full:
                    if self.prefilled[r] > 0 or (
                        len(running) + self.n_partial < self.max_seqs and self.reserved + self.prompt[r] + self.output[r] <= self.kv_cap
                    ):
                        self._prefill_iteration()
                        return True
                else:
                    kv_used = self.kv_used
                    if (self.prefilled[r] > 0 or len(running) + self.n_partial < self.max_seqs) and (
                        kv_used < self.kv_cap and (self.chunked or kv_used + self.target[r] <= self.kv_cap)
                    ):
                        self._prefill_iteration()
                        return True
            if not running:
                if e > self.t:
                    # Idle until the front-end hands over the next request.
                    if e > t_stop:
                        return False
                    self.t = e
                    return True
                # Waiting requests that cannot be admitted with nothing running: a prompt (under
                # full-output admission: prompt + output) larger than the whole cache. Drop it as
                # failed (no finish time) to avoid a deadlock.
                self._drop_head()
                return True
        elif not running:
            return True
        self._decode_steps(t_stop)
        return True

    def _drop_head(self) -> None:
        r = self.waiting.popleft()
        if self.prefilled[r] > 0:  # release what its partial prefill took (and reserved)
            self.kv_used -= self.prefilled[r]
            self.n_partial -= 1
            if self._full:
                self.reserved -= self.prompt[r] + self.output[r]
        self.prefilled[r] = 0
        self.outstanding -= 1

    def _prefill_iteration(self) -> None:
        if self._prefill_first:
            B = 0  # decodes pause while prompts run
        else:
            # Decoders each need one more KV slot this iteration; preempt if they do not fit.
            while self.running and self.kv_cap - self.kv_used < len(self.running):
                self._preempt_last()
            B = len(self.running)
        budget = self.budget - B
        seats = self.max_seqs - len(self.running)
        P, pairs = 0, 0.0
        done: list[int] = []
        partial_seen = 0
        # Iterate the deque itself (not a copy): the loop stops after the few requests the
        # budget admits, and copying a long queue on every iteration made overloaded runs
        # quadratic in the queue length. The queue is only changed after the loop.
        t_now = self.t if not (self._async and self.running) else self._last_start  # _gate()
        enter, prefilled, target = self.enter, self.prefilled, self.target
        chunked, kv_cap = self.chunked, self.kv_cap
        kv_used = self.kv_used
        full, res, prompt, output = self._full, self.reserved, self.prompt, self.output
        for r in self.waiting:
            if budget <= 0 or enter[r] > t_now:
                break
            past = prefilled[r]
            if past == 0 and seats - partial_seen <= 0:
                break
            if full and past == 0 and res + prompt[r] + output[r] > kv_cap:
                break  # FIFO: the head waits for reservations to end, later requests behind it
            tgt = target[r]
            need = tgt - past
            chunk = min(need, budget) if chunked else (need if (need <= budget or P == 0) else 0)
            free = kv_cap - kv_used - B - len(done)  # decoders and completed prompts hold a slot each
            # A chunk that completes the prompt also needs a slot for the first new token.
            if chunk + (1 if chunk == need else 0) > free:
                if not chunked:
                    break
                chunk = min(chunk, free)
                if chunk == need:
                    chunk -= 1
            if chunk <= 0:
                break
            pairs += chunk * (past + chunk / 2.0)
            P += chunk
            budget -= chunk
            kv_used += chunk
            prefilled[r] = past + chunk
            if full and past == 0:
                res += prompt[r] + output[r]
            partial_seen += 1
            if past + chunk == tgt:
                done.append(r)
                if past > 0:
                    self.n_partial -= 1
            elif past == 0:
                self.n_partial += 1
        self.kv_used = kv_used
        self.reserved = res
        if P == 0:  # nothing fit after all: run decodes
            if self.running:
                self._decode_steps(math.inf, max_steps=1)
            else:
                # Nothing runs and the head still gets no chunk: its prompt needs the whole
                # cache plus the first token's slot (it filled the cache to the last slot), so
                # it can never run. Drop it like any over-sized prompt; returning without
                # progress here made run_until spin forever.
                self._drop_head()
            return
        C = self.ctx_sum if B else 0
        tokens = min(P + B, self._ntok)
        gpu = (
            self._tok[tokens]
            + self._pair * pairs
            + self._p0
            + (self._d0 if B else 0.0)
            + self._samp[min(B + len(done), len(self._samp) - 1)]
            + self._beta * C
            + self._exposed
        )
        cpu = self._cpu0 + self._cpu1 * (B + partial_seen)
        dt = max(gpu, cpu) if self._async else gpu + cpu
        self._last_start = self.t
        self.t += dt
        self.busy += dt
        if self._c:
            # The B decode tokens and one first token per completed prompt go to the client.
            self._F = max(self._F, self.t) + (B + len(done)) * self._c
        # Decoders each produced one token.
        if B:
            if self.record_itl:
                self._itl_first(B)
            self._advance_running(1)
        waiting, generated, first, output = self.waiting, self.generated, self.first, self.output
        t = self.t if not self._c else self._F  # client-visible time of this iteration's tokens
        for r in done:
            if waiting[0] == r:  # completed prompts are usually the queue's head, in order
                waiting.popleft()
            else:
                waiting.remove(r)
            g = generated[r] + 1
            generated[r] = g
            if math.isnan(first[r]):
                first[r] = t
            ctx = target[r] + 1
            self.kv_used += 1
            if g >= output[r]:
                self.finish[r] = t
                self.kv_used -= ctx
                self.outstanding -= 1
                if self._full:
                    self.reserved -= self.prompt[r] + output[r]
            else:
                self._join(r)
                self.ctx_sum += ctx
                if self.record_itl:
                    self._itl_joiners.append((self.t, 1))

    def _itl_first(self, B: int) -> None:
        """Record the gaps of the tokens an iteration ending now gives ``B`` decoders.

        Gaps are the engine's; a streaming server (``frontend_per_output_token_us = c``)
        only enters as a floor of ``B c`` (while it is backlogged, one request's consecutive
        tokens are ``B`` tokens apart in its FIFO). Not modelled: the client-side jitter of a
        backlog that builds up or drains (the mean TPOT, from the client-visible first and
        last token, has it)."""
        joined = 0
        floor = B * self._c if self._c else 0.0
        for jt, c in self._itl_joiners:
            self._itl_runs.append((self.t - jt, self.t - jt, 1, c, floor))
            joined += c
        if B - joined > 0:
            gap = self.t - self._itl_last
            self._itl_runs.append((gap, gap, 1, B - joined, floor))
        self._itl_joiners = []
        self._itl_last = self.t

    def itl_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """Recorded inter-token latencies as ``(values_s, weights)`` (needs ``record_itl``)."""
        vals, wts = [], []
        for lo, hi, n, b, floor in self._itl_runs:
            v = np.linspace(lo, hi, n) if n > 1 else np.array([lo])
            vals.append(np.maximum(v, floor))
            wts.append(np.full(n, float(b)))
        if not vals:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(vals), np.concatenate(wts)

    def _advance_running(self, k: int) -> None:
        heap, fin, running = self._heap, self._fin, self.running
        B = len(running)
        g = self._gstep + k
        self._gstep = g
        ctx_sum = self.ctx_sum + B * k
        kv_used = self.kv_used + B * k
        if heap and heap[0][0] <= g:
            generated, output, prompt, finish = self.generated, self.output, self.prompt, self.finish
            t = self.t if not self._c else self._F  # the client gets the last token when the stream sends it
            done = 0
            kv_before = kv_used
            while heap and heap[0][0] <= g:
                f, r = heapq.heappop(heap)
                if r not in running or fin[r] != f:
                    continue  # stale: preempted since
                del running[r]
                out = output[r]
                generated[r] = out
                finish[r] = t
                ctx = prompt[r] + out
                ctx_sum -= ctx
                kv_used -= ctx
                done += 1
            self.outstanding -= done
            if self._full:  # a finished request's reservation (prompt + output) is what it held
                self.reserved -= kv_before - kv_used
        self.ctx_sum = ctx_sum
        self.kv_used = kv_used

    def _decode_steps(self, t_stop: float, max_steps: int | None = None) -> None:
        running, waiting = self.running, self.waiting
        while True:
            B = len(running)
            free = self.kv_cap - self.kv_used
            if free >= B:
                break
            self._preempt_last()
            if not running:
                return
        B = len(running)
        # Decode steps until the next running request finishes (stale heap entries dropped).
        heap, fin = self._heap, self._fin
        while heap and (heap[0][1] not in running or fin[heap[0][1]] != heap[0][0]):
            heapq.heappop(heap)
        k = heap[0][0] - self._gstep
        k = min(k, (self.kv_cap - self.kv_used) // B)
        nsteps = self._nsteps
        if nsteps > 1:
            k = min(k, nsteps - self._gpos)
        samp = self._samp
        a = self._tok[min(B, self._ntok)] + self._d0 + samp[min(B, len(samp) - 1)] + self._exposed
        cpu = (self._cpu0 + self._cpu1 * B) / nsteps
        C = self.ctx_sum
        beta = self._beta
        t = self.t
        # With a blocked queue only a completion changes the batch, so arrivals (t_stop) do not
        # end the run of steps; with an empty queue (or one whose head is still in the
        # front-end) the next hand-over does.
        head_enter = self.enter[waiting[0]] if waiting else math.inf
        if waiting and head_enter > t:
            # Nothing can change the batch before the head's hand-over (later requests reach
            # the engine after it, FIFO), so the run ends there whatever t_stop says.
            t_stop = head_enter
        elif waiting and head_enter > (self._last_start if self._async else t):  # _gate() (running is non-empty)
            max_steps = 1  # it reached the engine during the last step: schedulable after one more
        if t_stop < math.inf and (not waiting or head_enter > t):
            # Stop at the first step that ends at or after t_stop: solve
            # (beta B / 2) k^2 + (a' + beta C - beta B / 2) k - (t_stop - t) >= 0, where a'
            # bounds the step's fixed part from above (so the run never overshoots t_stop).
            a_up = a + cpu if not self._async else max(a + beta * C, cpu) - beta * C
            gap = max(t_stop - t, 0.0)
            qa, qb = beta * B / 2.0, a_up + beta * C - beta * B / 2.0
            ks = gap / qb if qa <= 0 else (-qb + math.sqrt(qb * qb + 4 * qa * gap)) / (2 * qa)
            # An async scheduler needs one more step (started after the hand-over) to see the
            # new request; take it in this run rather than in a separate one.
            extra = 1 if (self._async and waiting) else 0
            k = min(k, max(1, math.ceil(ks - 1e-12)) + extra)
        if max_steps is not None:
            k = min(k, max_steps)
        k = max(1, k)
        if not self._async:
            dt = k * (a + cpu) + beta * (k * C + B * k * (k - 1) / 2.0)
        else:
            # Steps whose GPU time is below the CPU time cost the CPU time.
            bb = beta * B
            if bb > 0:
                j0 = min(k, max(0, math.ceil((cpu - a - beta * C) / bb)))
            else:
                j0 = k if a + beta * C < cpu else 0
            m = k - j0
            dt = j0 * cpu + m * (a + beta * C) + bb * (k * (k - 1) / 2.0 - j0 * (j0 - 1) / 2.0)
        t0 = t
        self.t = t = t + dt
        self.busy += dt
        if self._c:
            # Lindley's recursion over the k steps in closed form (step times never shrink
            # within a run: the context grows, and the CPU floor is constant).
            first_step = a + beta * C + cpu if not self._async else max(a + beta * C, cpu)
            self._F = _stream_after_run(self._F, t0, first_step, t, k, B * self._c)
        last = a + beta * (C + B * (k - 1))
        self._last_start = self.t - (max(last, cpu) if self._async else last + cpu)
        if self.record_itl:
            first = a + beta * C + (cpu if not self._async else 0.0)
            first = max(first, cpu) if self._async else first
            t_first = t0 + first
            end, self.t = self.t, t_first
            self._itl_first(B)
            self.t = end
            if k > 1:
                lo, hi = a + beta * (C + B), a + beta * (C + B * (k - 1))
                if not self._async:
                    lo, hi = lo + cpu, hi + cpu
                floor = cpu if self._async else 0.0
                if self._c:
                    floor = max(floor, B * self._c)  # see _itl_first
                self._itl_runs.append((lo, hi, k - 1, B, floor))
            self._itl_last = self.t
        if self._nsteps > 1:
            self._gpos = (self._gpos + k) % self._nsteps
        self._advance_running(k)


def _stream_after_run(F: float, t0: float, first_step_s: float, t_end: float, k: int, bc: float) -> float:
    """The streaming server's busy-until time after ``k`` decode steps from ``t0`` to
    ``t_end`` (the first one ``first_step_s`` long, none shorter than the one before), each
    sending ``bc`` seconds of tokens: Lindley's ``F_j = max(F_{j-1}, T_j) + bc`` in closed
    form, ``max(F + k bc, T_1 + k bc, T_k + bc)`` (``T_i - i bc`` is convex in ``i``, so the
    maximum over the steps is at the first or the last)."""
    return max(F + k * bc, t0 + first_step_s + k * bc, t_end + bc)


def simulate_replica(
    model: ReplicaModel,
    stream: RequestStream,
    *,
    kv_capacity_tokens: int | None = None,
    chunked_prefill: bool | None = None,
    warmup_fraction: float = 0.1,
    max_latency_s: float | None = None,
) -> SimResult:
    """Serve ``stream`` on one replica; latencies skip the warm-up fraction.

    ``max_latency_s`` stops early once the queue has grown so long that the oldest
    waiting request has waited longer than it (an overloaded point); the unfinished
    requests then count with their waiting time so far as a lower bound of latency.
    """
    sim = ReplicaSim(model, kv_capacity_tokens, chunked_prefill=chunked_prefill)
    arr, pr, out = stream.arrival_s.tolist(), stream.prompt_tokens.tolist(), stream.output_tokens.tolist()
    for a, p, o in zip(arr, pr, out):
        # Submitting before running up to the arrival is exact: the request reaches the engine
        # only after the front-end (enter >= a), and a run of decode steps stops at that
        # hand-over, so one stop per request instead of two.
        sim.submit(a, p, o)
        sim.run_until(a)
        if max_latency_s is not None and sim.waiting and a - sim.arrival[sim.waiting[0]] > max_latency_s:
            return _overloaded(sim, warmup_fraction)
    sim.run_until(math.inf)
    return sim.result(warmup_fraction)


CLOSED_LOOP_MIN_CLIENTS = 128
"""Fewest clients a steady closed loop at random phases averages over (:func:`closed_loop_runs`)."""


def closed_loop_runs(concurrency: int, rounds: float) -> tuple[int, int]:
    """``(num_requests, arrangements)`` for a closed loop of ``concurrency`` clients at random
    phases and ``rounds`` requests per client: each arrangement (one draw of start times)
    sends ``rounds`` requests per client (at least one more than the first round, which is
    not reported), and enough arrangements are averaged that together they hold at least
    :data:`CLOSED_LOOP_MIN_CLIENTS` clients. A loop of equal requests keeps its clients'
    spacing, so one draw of a few clients is one collision pattern, not their average
    (docs/fidelity.md, "Client phases", measures how much one draw moves with its seed)."""
    n = max(concurrency + 1, int(round(concurrency * rounds)))
    return n, max(1, math.ceil(CLOSED_LOOP_MIN_CLIENTS / concurrency))


def _merge(parts: "list[SimResult]") -> SimResult:
    """Independent runs' results as one: their requests side by side, their times summed."""
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    return SimResult(
        ttft_s=cat("ttft_s"),
        tpot_s=cat("tpot_s"),
        e2e_s=cat("e2e_s"),
        completed=sum(p.completed for p in parts),
        submitted=sum(p.submitted for p in parts),
        duration_s=sum(p.duration_s for p in parts),
        busy_s=sum(p.busy_s for p in parts),
        preemptions=sum(p.preemptions for p in parts),
    )


def simulate_closed_loop(
    model: ReplicaModel,
    *,
    concurrency: int,
    num_requests: int,
    prompt_tokens: int,
    output_tokens: int,
    kv_capacity_tokens: int | None = None,
    chunked_prefill: bool | None = None,
    staggered: bool = False,
    start: str | None = None,
    seed: int = 0,
    arrangements: int = 1,
) -> SimResult:
    """A fixed-concurrency benchmark (as ``benchmark_serving --max-concurrency``):
    ``concurrency`` clients each send a request and each completion starts that client's
    next, until ``num_requests`` have been sent. Every request has the same lengths.

    A client sends its next request when it receives the previous one's last token, after
    the streaming server (``frontend_per_output_token_us``) if it lags the engine.

    Args:
        start: when the clients send their first request. ``"together"`` (the default):
            all at t=0, and every request counts. ``"even"``: spread evenly over one
            request's steady-state latency. ``"random"``: at independent uniform times over
            that latency (seeded by ``seed``). With ``"even"`` and ``"random"`` the first
            ``concurrency`` requests are left out of the result, so the averages are those
            of the steady loop, not of a start-up burst. Evenly spread clients with equal
            requests never collide: each prompt finds the engine as the previous one left
            it, which no real benchmark keeps up (its clients drift with every uneven
            step). Random phases let prompts arrive together as often as independent
            clients do (the finite-source queue's assumption), and their waits behind each
            other are counted (docs/fidelity.md measures both against served benchmarks).
        staggered: ``True`` is ``start="even"`` (kept for callers written before ``start``).
        seed: seed of the random start times.
        arrangements: with ``start="random"``, run that many independent draws of start
            times (seeds ``seed``, ``seed + 1``, ...) and report their requests together
            (:func:`closed_loop_runs` picks it).
    """
    if concurrency < 1 or num_requests < concurrency:
        raise InputError(
            f"concurrency={concurrency}, num_requests={num_requests}: need 1 <= concurrency <= num_requests",
            hint="send at least one wave",
        )
    if start is None:
        start = "even" if staggered else "together"
    elif staggered and start != "even":
        raise InputError(f"start={start!r} with staggered=True: the two disagree", hint="give start alone")
    if start not in CLIENT_STARTS:
        raise InputError(f"start: {start!r} is not a client start", hint=did_you_mean(str(start), CLIENT_STARTS))
    if isinstance(arrangements, bool) or not isinstance(arrangements, int) or arrangements < 1:
        raise InputError(f"arrangements: {arrangements!r} must be an integer >= 1", hint="1 runs one draw of start times")
    if arrangements > 1:
        if start != "random":
            raise InputError(
                f"arrangements={arrangements} with start={start!r}: only random starts differ by draw", hint='use start="random"'
            )
        kw = dict(concurrency=concurrency, num_requests=num_requests, prompt_tokens=prompt_tokens, output_tokens=output_tokens)
        kw.update(kv_capacity_tokens=kv_capacity_tokens, chunked_prefill=chunked_prefill, start="random")
        return _merge([simulate_closed_loop(model, **kw, seed=seed + i) for i in range(arrangements)])
    sim = ReplicaSim(model, kv_capacity_tokens, chunked_prefill=chunked_prefill)
    if start == "together":
        starts = [0.0] * concurrency
    else:
        from boute.engine.replica import steady_state_closed_loop

        ss = steady_state_closed_loop(model, concurrency, prompt_tokens, output_tokens)
        span = ss["ttft_s"] + max(output_tokens - 1, 0) * ss["tpot_s"]
        if start == "even":
            starts = [span * j / concurrency for j in range(concurrency)]
        else:
            starts = sorted((np.random.default_rng(seed).random(concurrency) * span).tolist())
    for a in starts:
        sim.run_until(a)
        sim.submit(a, prompt_tokens, output_tokens)
    sent = concurrency
    while sim.running or sim.waiting:
        sim._iterate(math.inf)
        while sent < num_requests and sim.outstanding < concurrency:
            # A client sends its next request when it has received the last token (the
            # streaming server's time; the engine clock when streaming costs nothing).
            sim.submit(sim.client_time_s, prompt_tokens, output_tokens)
            sent += 1
    if start == "together":
        return sim.result(0.0)
    return sim.result(concurrency / num_requests if num_requests > concurrency else 0.0)


def simulate_bench(
    model: ReplicaModel,
    *,
    arrival_s: np.ndarray,
    prompt_tokens: np.ndarray,
    output_tokens: np.ndarray,
    max_concurrency: int | None = None,
    kv_capacity_tokens: int | None = None,
) -> ReplicaSim:
    """A ``vllm bench serve`` run: request ``i`` is sent at ``arrival_s[i]`` (all zeros for
    ``--request-rate inf``) or, with ``max_concurrency``, when one of that many client
    slots frees (the benchmark's semaphore; its latencies start when the slot is taken).

    Returns the finished simulator with inter-token latencies recorded
    (:meth:`ReplicaSim.itl_samples`); per-request ``arrival`` is the send time.
    """
    n = len(arrival_s)
    if max_concurrency is not None and max_concurrency < 1:
        raise InputError(f"max_concurrency: {max_concurrency!r} must be >= 1", hint="or leave it unset (no limit)")
    sim = ReplicaSim(model, kv_capacity_tokens)
    sim.record_itl = True
    arr, pr, out = (np.asarray(x).tolist() for x in (arrival_s, prompt_tokens, output_tokens))
    slots = [0.0] * (max_concurrency or n)  # when each client slot is free again (a heap)

    def step(t_stop: float) -> bool:
        before = sim.outstanding
        ok = sim._iterate(t_stop)
        for _ in range(before - sim.outstanding):  # each finished (or dropped) request frees its slot now
            heapq.heappush(slots, sim.client_time_s)  # when its client got the last token
        return ok

    i = 0
    while i < n or sim.running or sim.waiting:
        if i < n and slots:
            a = arr[i]
            while sim.t < a and (sim.running or sim.waiting):
                if not step(a):
                    break
            sim.submit(max(a, heapq.heappop(slots)), pr[i], out[i])
            i += 1
            continue
        if not (sim.running or sim.waiting):
            break
        step(math.inf)
    return sim


def _overloaded(sim: ReplicaSim, warmup_fraction: float) -> SimResult:
    """Result of an aborted, overloaded run: unfinished requests get their age as latency."""
    now = sim.t
    fin = [f if not math.isnan(f) else max(now, a) for f, a in zip(sim.finish, sim.arrival)]
    sim.finish = fin
    sim.first = [f if not math.isnan(f) else x for f, x in zip(sim.first, fin)]
    return sim.result(warmup_fraction)


def simulate_pool(
    replicas: list[tuple[ReplicaModel, int]],
    stream: RequestStream,
    *,
    policy: str = DISPATCH_POLICY,
    weights: list[float] | None = None,
    seed: int = 0,
    chunked_prefill: bool | None = None,
    warmup_fraction: float = 0.1,
) -> SimResult:
    """Serve ``stream`` on several replicas behind one balancer.

    Args:
        replicas: ``(model, kv_capacity_tokens)`` per replica.
        policy: ``weighted-random`` (default: each request independently to replica ``i``
            with probability ``w_i / sum w``, seeded by ``seed``), ``proportional`` (smooth
            weighted round robin) or ``jsq`` (join the replica with the fewest outstanding
            requests per unit weight, ties by weight).
        weights: relative capacity of each replica (default equal).
        seed: seed of the weighted-random draws (same seed, same dispatch).
        warmup_fraction: leading fraction of the stream whose requests are not reported;
            utilisation also counts only busy time after the warm-up.
    """
    if policy not in DISPATCH_POLICIES:
        raise InputError(f"policy: {policy!r} is not a dispatch policy", hint=did_you_mean(policy, DISPATCH_POLICIES))
    if not replicas:
        raise InputError("replicas: empty pool", hint="give at least one replica")
    sims = [ReplicaSim(m, kv, chunked_prefill=chunked_prefill) for m, kv in replicas]
    w = np.asarray(weights if weights is not None else [1.0] * len(sims), dtype=float)
    if w.shape != (len(sims),) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise InputError(f"weights: {weights!r} must be one positive finite number per replica", hint="e.g. capacities")
    w = w / w.sum()
    arrivals = stream.arrival_s.tolist()
    n = len(arrivals)
    start = int(n * warmup_fraction)
    if policy == DISPATCH_POLICY:
        picks = np.random.default_rng(seed).choice(len(sims), size=n, p=w).tolist() if n else []
    credit = np.zeros(len(sims))
    owner: list[tuple[int, int]] = []
    busy0 = [0.0] * len(sims)
    t0 = arrivals[start] if n > start else 0.0
    for j, (a, p, o) in enumerate(zip(arrivals, stream.prompt_tokens.tolist(), stream.output_tokens.tolist())):
        if j == start:
            busy0 = _busy_before(sims, t0)
        if policy == DISPATCH_POLICY:
            i = picks[j]
            sims[i].run_until(a)
        elif policy == "proportional":
            credit += w
            i = int(np.argmax(credit))
            credit[i] -= 1.0
            sims[i].run_until(a)
        else:
            for s in sims:
                s.run_until(a)
            i = min(range(len(sims)), key=lambda k: (sims[k].outstanding / w[k], -w[k]))
        owner.append((i, sims[i].submit(a, p, o)))
    for s in sims:
        s.run_until(math.inf)
    ttft, tpot, e2e, arr, rep = [], [], [], [], []
    for i, rid in owner[start:]:
        s = sims[i]
        f = s.finish[rid]
        if math.isnan(f):
            continue
        e2e.append(f - s.arrival[rid])
        ttft.append(s.first[rid] - s.arrival[rid])
        if s.output[rid] > 1:  # TPOT is undefined for a one-token output
            tpot.append((f - s.first[rid]) / (s.output[rid] - 1))
        arr.append(s.arrival[rid])
        rep.append(i)
    end = max(s.client_time_s for s in sims)
    busy = sum(s.busy - b for s, b in zip(sims, busy0)) / len(sims)
    # Throughput window: the second half of the arrival span after the warm-up. Departures in
    # [t_a, t_last] count requests that arrived up to a sojourn time earlier; the window starts
    # late enough that those exist (a short run at high load has a warm-up shorter than one
    # sojourn, and a window from t0 would miss the requests that arrived before time 0).
    t_last = arrivals[-1] if n else t0
    t_a = t0 + 0.5 * (t_last - t0)
    fin_all = np.concatenate([np.asarray(s.finish, dtype=float) for s in sims]) if n else np.zeros(0)
    departures = int(np.count_nonzero((fin_all >= t_a) & (fin_all <= t_last)))  # NaN compares False
    return SimResult(
        ttft_s=np.array(ttft),
        tpot_s=np.array(tpot),
        e2e_s=np.array(e2e),
        completed=len(e2e),
        submitted=n - start,
        duration_s=max(end - t0, 1e-12),
        busy_s=float(busy),
        preemptions=sum(s.preemptions for s in sims),
        arrival_s=np.array(arr),
        replica=np.array(rep, dtype=np.int64),
        window_s=float(t_last - t_a),
        window_departures=departures,
    )


def _busy_before(sims: list[ReplicaSim], t0: float) -> list[float]:
    """Each replica's busy time up to ``t0`` (the end of the warm-up).

    Runs every replica up to ``t0`` (iterations are exact, so advancing a replica earlier
    than its next arrival changes nothing). An iteration that started before ``t0`` and
    ends after it counts only its part before ``t0``: busy time and clock advance together
    by the same step, so the overshoot is ``t - t0``.
    """
    out = []
    for s in sims:
        s.run_until(t0)
        out.append(s.busy - max(s.t - t0, 0.0))
    return out
