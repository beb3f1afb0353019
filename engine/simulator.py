"""Stage 2: discrete-event simulation of continuous batching (vLLM-style).

One :class:`ReplicaSim` serves a request stream with iteration-level scheduling:

* every iteration runs all decoding sequences (one token each) plus prefill chunks
  taken FIFO from the waiting queue while the token budget
  (``max_num_batched_tokens``), the sequence cap (``max_num_seqs``) and free KV-cache
  tokens allow (chunked prefill; without it a prompt must fit the budget whole);
* a request's first token comes with the iteration that finishes its prompt;
* when decoding would overflow the KV cache, the most recently started sequence is
  preempted and recomputed later (vLLM's default recompute policy).

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
    "ReplicaSim", "SimResult", "simulate_replica", "simulate_pool", "simulate_closed_loop", "summarize",
    "DISPATCH_POLICY", "DISPATCH_POLICIES",
]

DISPATCH_POLICY = "weighted-random"
"""The dispatch policy of every plan: perf DB assumption, re-simulation, router.yaml."""
DISPATCH_POLICIES = (DISPATCH_POLICY, "proportional", "jsq")


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

    @property
    def p50_s(self) -> float:
        return _pct(self.e2e_s, 50)

    @property
    def p95_s(self) -> float:
        return _pct(self.e2e_s, 95)

    @property
    def p99_s(self) -> float:
        return _pct(self.e2e_s, 99)

    @property
    def mean_s(self) -> float:
        return float(np.mean(self.e2e_s)) if len(self.e2e_s) else math.inf

    @property
    def throughput_rps(self) -> float:
        return self.completed / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def utilization(self) -> float:
        return self.busy_s / self.duration_s if self.duration_s > 0 else 0.0

    def summary(self) -> dict[str, float]:
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
        model: the stage-1 model of the replica.
        kv_capacity_tokens: KV-cache tokens (from the replica's memory report).
        chunked_prefill: split prompts across iterations to fill the token budget.
    """

    def __init__(self, model: ReplicaModel, kv_capacity_tokens: int | None = None, *, chunked_prefill: bool = True) -> None:
        self.model = model
        self.budget = model.max_num_batched_tokens
        self.max_seqs = model.max_num_seqs
        self.kv_cap = int(kv_capacity_tokens if kv_capacity_tokens is not None else model.memory().kv_capacity_tokens)
        if self.kv_cap < 1:
            raise InputError(f"kv_capacity_tokens: {self.kv_cap} leaves no room for a request", hint="pick a config that fits")
        self.chunked = chunked_prefill
        tab = model.step_tables(self.budget + self.max_seqs + 1, self.max_seqs + 1)
        self._tok, self._samp = tab.token_s, tab.sample_s
        self._pair, self._p0, self._d0, self._beta = tab.pair_s, tab.prefill0_s, tab.decode0_s, tab.beta_s
        self._ntok = len(self._tok) - 1
        self.t = 0.0
        self.busy = 0.0
        self.preemptions = 0
        # Per-request state (grown as requests arrive).
        self.arrival: list[float] = []
        self.prompt: list[int] = []
        self.output: list[int] = []
        self.generated: list[int] = []
        self.target: list[int] = []  # tokens to prefill (prompt + generated after a preemption)
        self.prefilled: list[int] = []
        self.first: list[float] = []
        self.finish: list[float] = []
        self.waiting: deque[int] = deque()
        self.running: list[int] = []  # decoding, in start order
        self.ctx_sum = 0  # context tokens of running sequences
        self.kv_used = 0
        self.outstanding = 0
        self.n_partial = 0  # waiting requests whose prompt is partly prefilled (they hold a seat)
        # Decode bookkeeping without touching every running sequence on every step (speed
        # only, same results): a running request r has generated ``_steps - _gbase[r]``
        # tokens (``generated[r]`` is brought up to date when it leaves the batch), and a
        # heap holds each running request's finishing step ``_gbase[r] + output[r]``.
        self._steps = 0
        self._gbase: dict[int, int] = {}
        self._fheap: list[tuple[int, int]] = []

    # ---------------------------------------------------------------- API
    def submit(self, arrival_s: float, prompt_tokens: int, output_tokens: int) -> int:
        """Queue a request (call after ``run_until(arrival_s)``); returns its id."""
        rid = len(self.arrival)
        self.arrival.append(arrival_s)
        self.prompt.append(int(prompt_tokens))
        self.output.append(max(1, int(output_tokens)))
        self.generated.append(0)
        self.target.append(int(prompt_tokens))
        self.prefilled.append(0)
        self.first.append(math.nan)
        self.finish.append(math.nan)
        self.waiting.append(rid)
        self.outstanding += 1
        if self.t < arrival_s and not self.running and len(self.waiting) == 1:
            self.t = arrival_s  # idle engine wakes up at the arrival
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
            duration_s=max(self.t - t0, 1e-12),
            busy_s=self.busy * (self.t - t0) / max(self.t - (self.arrival[0] if n else 0.0), 1e-12),
            preemptions=self.preemptions,
        )

    # ---------------------------------------------------------------- engine
    def _admissible(self) -> bool:
        if not self.waiting:
            return False
        r = self.waiting[0]
        partial = self.prefilled[r] > 0
        if not partial and len(self.running) + self.n_partial >= self.max_seqs:
            return False
        return self.kv_used < self.kv_cap and (self.chunked or self.kv_used + self.target[r] <= self.kv_cap)

    def _preempt_last(self) -> None:
        r = self.running.pop()
        self.generated[r] = self._steps - self._gbase.pop(r)
        ctx = self.prompt[r] + self.generated[r]
        self.ctx_sum -= ctx
        self.kv_used -= ctx
        self.target[r] = ctx
        self.prefilled[r] = 0
        self.waiting.appendleft(r)
        self.preemptions += 1

    def _iterate(self, t_stop: float) -> bool:
        if self._admissible():
            self._prefill_iteration()
            return True
        if not self.running:
            # Waiting requests that cannot be admitted with nothing running: a prompt larger
            # than the whole cache. Drop it as failed (no finish time) to avoid a deadlock.
            r = self.waiting.popleft()
            if self.prefilled[r] > 0:  # release what its partial prefill took
                self.kv_used -= self.prefilled[r]
                self.n_partial -= 1
            self.prefilled[r] = 0
            self.outstanding -= 1
            return True
        self._decode_steps(t_stop)
        return True

    def _prefill_iteration(self) -> None:
        # Decoders each need one more KV slot this iteration; preempt if they do not fit.
        while self.running and self.kv_cap - self.kv_used < len(self.running):
            self._preempt_last()
        B = len(self.running)
        budget = self.budget - B
        seats = self.max_seqs - B
        P, pairs = 0, 0.0
        done: list[int] = []
        partial_seen = 0
        # Iterate the deque itself (not a copy): the loop stops after the few requests the
        # budget admits, and copying a long queue on every iteration made overloaded runs
        # quadratic in the queue length. The queue is only changed after the loop.
        for r in self.waiting:
            if budget <= 0:
                break
            new = self.prefilled[r] == 0
            if new and seats - partial_seen <= 0:
                break
            need = self.target[r] - self.prefilled[r]
            chunk = min(need, budget) if self.chunked else (need if (need <= budget or P == 0) else 0)
            free = self.kv_cap - self.kv_used - B - len(done)  # decoders and completed prompts hold a slot each
            # A chunk that completes the prompt also needs a slot for the first new token.
            if chunk + (1 if chunk == need else 0) > free:
                if not self.chunked:
                    break
                chunk = min(chunk, free)
                if chunk == need:
                    chunk -= 1
            if chunk <= 0:
                break
            past = self.prefilled[r]
            pairs += chunk * (past + chunk / 2.0)
            P += chunk
            budget -= chunk
            self.kv_used += chunk
            self.prefilled[r] = past + chunk
            partial_seen += 1
            if self.prefilled[r] == self.target[r]:
                done.append(r)
                if past > 0:
                    self.n_partial -= 1
            elif past == 0:
                self.n_partial += 1
        if P == 0:  # nothing fit after all: run decodes
            if self.running:
                self._decode_steps(math.inf, max_steps=1)
            return
        C = self.ctx_sum
        tokens = min(P + B, self._ntok)
        dt = (
            self._tok[tokens] + self._pair * pairs + self._p0 + (self._d0 if B else 0.0)
            + self._samp[min(B + len(done), len(self._samp) - 1)] + self._beta * C
        )
        self.t += dt
        self.busy += dt
        # Decoders each produced one token.
        if B:
            self._advance_running(1)
        for r in done:
            self.waiting.remove(r)
            self.generated[r] += 1
            if math.isnan(self.first[r]):
                self.first[r] = self.t
            ctx = self.target[r] + 1
            self.kv_used += 1
            if self.generated[r] >= self.output[r]:
                self.finish[r] = self.t
                self.kv_used -= ctx
                self.outstanding -= 1
            else:
                self.running.append(r)
                self._join(r)
                self.ctx_sum += ctx

    def _join(self, r: int) -> None:
        base = self._steps - self.generated[r]
        self._gbase[r] = base
        heapq.heappush(self._fheap, (base + self.output[r], r))

    def _clean_heap(self) -> None:
        # Drop entries of requests that left the batch (preempted) or were re-queued since.
        h, gb, out = self._fheap, self._gbase, self.output
        while h:
            fs, r = h[0]
            b = gb.get(r)
            if b is not None and b + out[r] == fs:
                return
            heapq.heappop(h)

    def _advance_running(self, k: int) -> None:
        B = len(self.running)
        self.ctx_sum += B * k
        self.kv_used += B * k
        self._steps += k
        steps = self._steps
        self._clean_heap()
        h = self._fheap
        if not h or h[0][0] > steps:
            return
        done = set()
        while h and h[0][0] <= steps:
            _, r = heapq.heappop(h)
            base = self._gbase.get(r)
            if base is None or base + self.output[r] > steps:
                continue  # stale entry
            del self._gbase[r]
            g = steps - base
            self.generated[r] = g
            self.finish[r] = self.t
            ctx = self.prompt[r] + g
            self.ctx_sum -= ctx
            self.kv_used -= ctx
            self.outstanding -= 1
            done.add(r)
        if done:
            self.running = [r for r in self.running if r not in done]

    def _decode_steps(self, t_stop: float, max_steps: int | None = None) -> None:
        while True:
            B = len(self.running)
            free = self.kv_cap - self.kv_used
            if free >= B:
                break
            self._preempt_last()
            if not self.running:
                return
        B = len(self.running)
        self._clean_heap()
        k = self._fheap[0][0] - self._steps  # steps until the next completion
        k = min(k, (self.kv_cap - self.kv_used) // B)
        a = self._tok[min(B, self._ntok)] + self._d0 + self._samp[min(B, len(self._samp) - 1)]
        C = self.ctx_sum
        beta = self._beta
        # With a blocked queue only a completion changes the batch, so arrivals (t_stop) do not
        # end the run of steps; with an empty queue the next arrival does.
        if t_stop < math.inf and not self.waiting:
            # Stop at the first step that ends at or after t_stop: solve
            # (beta B / 2) k^2 + (a + beta C - beta B / 2) k - (t_stop - t) >= 0.
            gap = t_stop - self.t
            qa, qb = beta * B / 2.0, a + beta * C - beta * B / 2.0
            ks = gap / qb if qa <= 0 else (-qb + math.sqrt(qb * qb + 4 * qa * gap)) / (2 * qa)
            k = min(k, max(1, math.ceil(ks - 1e-12)))
        if max_steps is not None:
            k = min(k, max_steps)
        k = max(1, k)
        dt = k * a + beta * (k * C + B * k * (k - 1) / 2.0)
        self.t += dt
        self.busy += dt
        self._advance_running(k)


def simulate_replica(
    model: ReplicaModel,
    stream: RequestStream,
    *,
    kv_capacity_tokens: int | None = None,
    chunked_prefill: bool = True,
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
        sim.run_until(a)
        sim.submit(a, p, o)
        if max_latency_s is not None and sim.waiting and a - sim.arrival[sim.waiting[0]] > max_latency_s:
            return _overloaded(sim, warmup_fraction)
    sim.run_until(math.inf)
    return sim.result(warmup_fraction)


def simulate_closed_loop(
    model: ReplicaModel,
    *,
    concurrency: int,
    num_requests: int,
    prompt_tokens: int,
    output_tokens: int,
    kv_capacity_tokens: int | None = None,
    chunked_prefill: bool = True,
) -> SimResult:
    """A fixed-concurrency benchmark (as ``benchmark_serving --max-concurrency``):
    ``concurrency`` requests start at t=0 and each completion starts the next, until
    ``num_requests`` have been sent. Every request has the same lengths."""
    if concurrency < 1 or num_requests < concurrency:
        raise InputError(
            f"concurrency={concurrency}, num_requests={num_requests}: need 1 <= concurrency <= num_requests",
            hint="send at least one wave",
        )
    sim = ReplicaSim(model, kv_capacity_tokens, chunked_prefill=chunked_prefill)
    for _ in range(concurrency):
        sim.submit(0.0, prompt_tokens, output_tokens)
    sent = concurrency
    while sim.running or sim.waiting:
        sim._iterate(math.inf)
        while sent < num_requests and sim.outstanding < concurrency:
            sim.submit(sim.t, prompt_tokens, output_tokens)
            sent += 1
    return sim.result(0.0)


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
    chunked_prefill: bool = True,
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
    end = max(s.t for s in sims)
    busy = sum(s.busy - b for s, b in zip(sims, busy0)) / len(sims)
    return SimResult(
        ttft_s=np.array(ttft), tpot_s=np.array(tpot), e2e_s=np.array(e2e), completed=len(e2e), submitted=n - start,
        duration_s=max(end - t0, 1e-12), busy_s=float(busy), preemptions=sum(s.preemptions for s in sims),
        arrival_s=np.array(arr), replica=np.array(rep, dtype=np.int64),
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
