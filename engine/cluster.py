"""The cluster as a graph, and where each replica runs on it.

The GPUs a plan may use become a networkx graph (:func:`cluster_graph` from a plan's
pools, :func:`scenario_graph` from a scenario): one ``host`` vertex per node, one ``gpu``
vertex per GPU (``free``: whether the plan may use it), ``contains`` edges from a host to
its GPUs, ``intra_node`` edges between the GPUs of one host (``link`` ``nvlink`` or
``pcie``, ``p2p``, ``bandwidth_gb_per_s`` from the GPU catalog, where each figure cites
its source) and ``network`` edges between hosts (the smaller per-GPU network bandwidth of
the two). A node is given per node in the scenario (``nodes: {a: {gpu: H100-SXM, gpus:
8, free: 6}}``) or, in the flat ``gpus: {H100-SXM: 8}`` form, filled from the catalog's
node size: whole nodes first, then one partial node.

A tensor-parallel group needs one fast-link domain (:func:`tp_domains`: the GPUs joined
by ``intra_node`` edges, one per node); pipeline stages may cross the network.
:func:`free_per_node` reads the free GPUs of each domain, which the inner problem's
node-packing rule C5 uses (:func:`node_free_by_type`, :func:`boute.engine.problem.node_packing_limits`).

:func:`place` puts every replica's TP groups (one per pipeline stage) on free GPUs of
single hosts. Groups are placed largest first, each on the host of the replica's
previous stage when it has room, else on the first host with room. With TP sizes that
divide one another (1, 2, 4, 8) a host's used GPUs stay a multiple of the next group's
size, so this succeeds exactly when C5 holds:

    sum_{c on g, tp_c >= s} n_c x_c <= sum_{hosts k of g} s floor(F_k / s)

(``F_k`` free GPUs on host ``k``; in the flat form ``N_g floor(A_g / N_g) + s floor((A_g
mod N_g) / s)``, ``N_g`` GPUs per node, ``A_g`` available).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import attrs
import networkx as nx

from boute.engine.errors import InfeasibleError
from boute.engine.plan import GpuPool, Plan, PoolNode
from boute.engine.problem import default_node_free

if TYPE_CHECKING:
    from boute.engine.plugins import Catalog
    from boute.engine.scenario import Scenario

__all__ = [
    "cluster_graph",
    "scenario_graph",
    "pools_graph",
    "pool_nodes",
    "pool_of",
    "free_per_node",
    "node_free_by_type",
    "tp_domains",
    "place",
    "Placement",
    "Stage",
    "host_name",
    "BASE_PORT",
]

BASE_PORT = 8000
"""First port of the vLLM servers on each host (vLLM's own default)."""


def host_name(gpu: str, index: int) -> str:
    """A DNS-safe host label, e.g. ``rtx-4090-0``."""
    return f"{re.sub(r'[^a-z0-9]+', '-', gpu.lower()).strip('-')}-{index}"


def pool_nodes(pool: GpuPool) -> tuple[PoolNode, ...]:
    """The pool's nodes: as the scenario gave them, or ``available`` GPUs in nodes of
    ``gpus_per_node`` (whole nodes first, then one partial node, every GPU free)."""
    if pool.nodes:
        return pool.nodes
    return tuple(
        PoolNode(name=host_name(pool.gpu, i), gpus=f, free=f) for i, f in enumerate(default_node_free(pool.available, pool.gpus_per_node))
    )


def pools_graph(pools: tuple[GpuPool, ...]) -> nx.Graph:
    """Hosts, GPUs and their links for GPU pools (see the module docstring)."""
    g = nx.Graph()
    hosts: list[tuple[str, float | None]] = []
    for pool in pools:
        for node in pool_nodes(pool):
            h = node.name
            g.add_node(h, kind="host", gpu=pool.gpu, gpus=node.gpus, free=node.free)
            for k in range(node.gpus):
                g.add_node((h, k), kind="gpu", gpu=pool.gpu, index=k, free=k < node.free)
                g.add_edge(h, (h, k), kind="contains")
            for a in range(node.gpus):
                for b in range(a + 1, node.gpus):
                    g.add_edge(
                        (h, a),
                        (h, b),
                        kind="intra_node",
                        link=pool.intra_node_link,
                        p2p=pool.p2p,
                        bandwidth_gb_per_s=pool.intra_node_bandwidth_gb_per_s,
                    )
            hosts.append((h, pool.inter_node_bandwidth_gb_per_s))
    for i, (a, bw_a) in enumerate(hosts):
        for b, bw_b in hosts[i + 1 :]:
            bw = None if bw_a is None or bw_b is None else min(bw_a, bw_b)
            g.add_edge(a, b, kind="network", bandwidth_gb_per_s=bw)
    return g


def cluster_graph(plan: Plan) -> nx.Graph:
    """The cluster of a plan's GPU pools as a graph."""
    return pools_graph(plan.pools)


def scenario_graph(scenario: Scenario, catalog: Catalog) -> nx.Graph:
    """The cluster a scenario describes (its ``nodes``, or ``gpus`` in catalog-sized nodes),
    with link types and bandwidths from the GPU catalog."""
    return pools_graph(tuple(pool_of(scenario, catalog, g) for g in scenario.gpus))


def pool_of(scenario: Scenario, catalog: Catalog, gpu: str, *, usd_per_gpu_hour: float = 0.0, price_source: str = "") -> GpuPool:
    """The :class:`GpuPool` of one GPU type of a scenario: its availability, nodes and links
    (GPU catalog); the price as given (the graph needs none)."""
    spec = catalog.gpu(gpu)
    return GpuPool(
        gpu=gpu,
        available=scenario.gpus[gpu],
        gpus_per_node=spec.gpus_per_node,
        usd_per_gpu_hour=usd_per_gpu_hour,
        price_source=price_source,
        spec_only=spec.spec_only,
        nodes=tuple(PoolNode(name=n.name, gpus=n.gpus, free=n.free) for n in scenario.nodes if n.gpu == gpu),
        intra_node_link=spec.intra_node_link,
        intra_node_bandwidth_gb_per_s=spec.intra_node_bandwidth_gb_per_s,
        p2p=spec.p2p,
        inter_node_bandwidth_gb_per_s=spec.inter_node_bandwidth_gb_per_s,
    )


def tp_domains(graph: nx.Graph) -> list[set]:
    """The fast-link domains a tensor-parallel group must stay inside: the GPUs joined by
    ``intra_node`` edges (one per host), in host order."""
    fast = nx.Graph()
    fast.add_nodes_from(n for n, d in graph.nodes(data=True) if d["kind"] == "gpu")
    fast.add_edges_from((a, b) for a, b, d in graph.edges(data=True) if d["kind"] == "intra_node")
    return sorted(nx.connected_components(fast), key=lambda c: min(str(v) for v in c))


def free_per_node(graph: nx.Graph, gpu: str) -> tuple[int, ...]:
    """Free GPUs of each ``gpu``-type host of the graph, in host order (C5's ``F_k``)."""
    return tuple(d["free"] for _h, d in graph.nodes(data=True) if d["kind"] == "host" and d["gpu"] == gpu)


def node_free_by_type(scenario: Scenario, catalog: Catalog) -> dict[str, tuple[int, ...]]:
    """Free GPUs per node of every GPU type the scenario gives node by node, from its
    cluster graph (``DeploymentProblem.node_free``). A type given as a flat total is left
    out: its graph is whole catalog-sized nodes plus one partial node, whose C5 room
    :func:`~boute.engine.problem.node_packing_limits` computes in closed form (a flat pool
    may hold up to 10^6 GPUs, too many to build a vertex for each on every solve)."""
    given = {n.gpu for n in scenario.nodes}
    if not given:
        return {}
    g = pools_graph(tuple(pool_of(scenario, catalog, gpu) for gpu in scenario.gpus if gpu in given))
    return {gpu: free_per_node(g, gpu) for gpu in scenario.gpus if gpu in given}


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
    checkpoint: str = ""
    """The pre-quantized checkpoint it serves (under ``hf_id``); empty: ``hf_id`` itself."""

    @property
    def host(self) -> str:
        """The host that runs the server (the first stage's)."""
        return self.stages[0].host

    @property
    def hosts(self) -> tuple[str, ...]:
        """The hosts the replica's stages run on, in stage order, each once."""
        return tuple(dict.fromkeys(s.host for s in self.stages))

    @property
    def single_host(self) -> bool:
        """Whether every stage runs on one host (no pipeline hop over the network)."""
        return len(self.hosts) == 1

    def cuda_visible_devices(self, host: str | None = None) -> str:
        """Comma-separated local GPU indices on ``host`` (default: the server's host)."""
        h = host or self.host
        return ",".join(str(i) for s in self.stages if s.host == h for i in s.gpu_indices)

    @property
    def endpoint(self) -> str:
        """The OpenAI-compatible base URL of the replica's server."""
        return f"http://{self.host}:{self.port}/v1"


def place(plan: Plan, graph: nx.Graph | None = None) -> tuple[Placement, ...]:
    """Every replica of the plan on GPUs of the cluster graph.

    Raises:
        InfeasibleError: the replicas do not fit the nodes (the plan breaks C5).
    """
    g = graph if graph is not None else cluster_graph(plan)
    free = {h: [k for k in range(d["gpus"]) if g.nodes[(h, k)]["free"]] for h, d in g.nodes(data=True) if d["kind"] == "host"}
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
                checkpoint=grp.checkpoint,
            )
        )
    return tuple(out)
