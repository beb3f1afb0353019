"""The cluster as a graph, and where each replica runs on it.

A plan's GPU pools (per type: available GPUs and node size) become a networkx graph:
one ``host`` vertex per node, one ``gpu`` vertex per GPU, ``contains`` edges from a host
to its GPUs, ``intra_node`` edges between the GPUs of one host (the fast domain a
tensor-parallel group needs) and ``network`` edges between hosts of a pool.

:func:`place` puts every replica's TP groups (one per pipeline stage) on free GPUs of
single hosts. Groups are placed largest first, each on the host of the replica's
previous stage when it has room, else on the first host with room. With TP sizes that
divide one another (1, 2, 4, 8) a host's free GPUs stay a multiple of the next group's
size (its remainder ``cap mod s`` aside), so this succeeds exactly when the MILP's
node-packing rule C5 holds:

    sum_{c on g, tp_c >= s} n_c x_c <= N_g floor(A_g / N_g) + s floor((A_g mod N_g) / s)

(``N_g`` GPUs per node, ``A_g`` available; full nodes first, then the partial one).
"""

from __future__ import annotations

import re

import attrs
import networkx as nx

from boute.engine.errors import InfeasibleError
from boute.engine.plan import Plan

__all__ = ["cluster_graph", "place", "Placement", "Stage", "host_name", "BASE_PORT"]

BASE_PORT = 8000
"""First port of the vLLM servers on each host (vLLM's own default)."""


def host_name(gpu: str, index: int) -> str:
    """A DNS-safe host label, e.g. ``rtx-4090-0``."""
    return f"{re.sub(r'[^a-z0-9]+', '-', gpu.lower()).strip('-')}-{index}"


def cluster_graph(plan: Plan) -> nx.Graph:
    """Hosts and GPUs of the plan's pools (full nodes first, then one partial node)."""
    g = nx.Graph()
    for pool in plan.pools:
        hosts = []
        left, i = pool.available, 0
        while left > 0:
            size = min(pool.gpus_per_node, left)
            h = host_name(pool.gpu, i)
            g.add_node(h, kind="host", gpu=pool.gpu, gpus=size)
            for k in range(size):
                g.add_node((h, k), kind="gpu", gpu=pool.gpu, index=k)
                g.add_edge(h, (h, k), kind="contains")
            for a in range(size):
                for b in range(a + 1, size):
                    g.add_edge((h, a), (h, b), kind="intra_node")
            hosts.append(h)
            left -= size
            i += 1
        for a in range(len(hosts)):
            for b in range(a + 1, len(hosts)):
                g.add_edge(hosts[a], hosts[b], kind="network")
    return g


@attrs.frozen(kw_only=True)
class Stage:
    """One pipeline stage (a TP group) of a replica on one host."""

    host: str
    gpu_indices: tuple[int, ...]
    """Local GPU indices (``CUDA_VISIBLE_DEVICES``)."""


@attrs.frozen(kw_only=True)
class Placement:
    """Where one replica runs and how it is reached."""

    model: str
    hf_id: str
    config: str
    gpu: str
    tp: int
    pp: int
    engine_flags: tuple[str, ...]
    replica: int
    """Index of the replica within the model's config group."""
    weight: float
    """Dispatch weight: the replica's capacity at the plan's latency bound (req/s)."""
    stages: tuple[Stage, ...]
    port: int

    @property
    def host(self) -> str:
        """The host that runs the server (the first stage's)."""
        return self.stages[0].host

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.host for s in self.stages))

    @property
    def single_host(self) -> bool:
        return len(self.hosts) == 1

    def cuda_visible_devices(self, host: str | None = None) -> str:
        """Comma-separated local GPU indices on ``host`` (default: the server's host)."""
        h = host or self.host
        return ",".join(str(i) for s in self.stages if s.host == h for i in s.gpu_indices)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/v1"


def place(plan: Plan, graph: nx.Graph | None = None) -> tuple[Placement, ...]:
    """Every replica of the plan on GPUs of the cluster graph.

    Raises:
        InfeasibleError: the replicas do not fit the nodes (the plan breaks C5).
    """
    g = graph if graph is not None else cluster_graph(plan)
    free = {h: [k for k in range(d["gpus"])] for h, d in g.nodes(data=True) if d["kind"] == "host"}
    hosts_of = {p.gpu: [h for h, d in g.nodes(data=True) if d["kind"] == "host" and d["gpu"] == p.gpu] for p in plan.pools}
    # every (replica, stage) with its TP size, largest first, replicas in plan order
    units = []
    order = 0
    for d in plan.deployments:
        for grp in d.groups:
            for r in range(grp.replicas):
                for s in range(grp.pp):
                    units.append((grp.tp, order, s, d, grp, r))
                order += 1
    units.sort(key=lambda u: (-u[0], u[1], u[2]))
    stages: dict[int, list[Stage]] = {}
    meta: dict[int, tuple] = {}
    for tp, idx, _s, d, grp, r in units:
        prev = stages.get(idx)
        candidates = hosts_of.get(grp.gpu, [])
        if prev:
            candidates = [prev[-1].host] + [h for h in candidates if h != prev[-1].host]
        host = next((h for h in candidates if len(free[h]) >= tp), None)
        if host is None:
            raise InfeasibleError(
                f"placement: no {grp.gpu} node has {tp} free GPUs for a TP{tp} group of {d.model} "
                f"({sum(len(free[h]) for h in hosts_of.get(grp.gpu, []))} GPUs free in pieces)",
                hint="the plan breaks node packing (C5); re-plan with this boute version",
            )
        take, free[host] = free[host][:tp], free[host][tp:]
        stages.setdefault(idx, []).append(Stage(host=host, gpu_indices=tuple(take)))
        meta[idx] = (d, grp, r)
    next_port: dict[str, int] = {}
    out = []
    for idx in sorted(stages):
        d, grp, r = meta[idx]
        head = stages[idx][0].host
        port = next_port.get(head, BASE_PORT)
        next_port[head] = port + 1
        out.append(
            Placement(
                model=d.model,
                hf_id=d.hf_id,
                config=grp.config,
                gpu=grp.gpu,
                tp=grp.tp,
                pp=grp.pp,
                engine_flags=grp.engine_flags,
                replica=r,
                weight=grp.capacity_rps_at_bound,
                stages=tuple(stages[idx]),
                port=port,
            )
        )
    return tuple(out)
