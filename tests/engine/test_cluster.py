"""The cluster graph and replica placement: TP groups inside one node, every GPU used
once, and placement succeeds exactly when the MILP's node-packing rule C5 holds."""

import random

import pytest

from boute.engine.cluster import cluster_graph, host_name, place
from boute.engine.errors import InfeasibleError
from tests.engine.plan_factory import group, make_plan, plan_4090_x13


def test_graph_has_hosts_gpus_and_links():
    g = cluster_graph(make_plan([group("RTX-4090", 1, 1)], {"RTX-4090": (13, 8)}))
    hosts = [n for n, d in g.nodes(data=True) if d["kind"] == "host"]
    assert hosts == ["rtx-4090-0", "rtx-4090-1"] and [g.nodes[h]["gpus"] for h in hosts] == [8, 5]
    gpus = [n for n, d in g.nodes(data=True) if d["kind"] == "gpu"]
    assert len(gpus) == 13
    intra = [e for e in g.edges(data=True) if e[2]["kind"] == "intra_node"]
    assert len(intra) == 8 * 7 // 2 + 5 * 4 // 2
    assert g.edges["rtx-4090-0", "rtx-4090-1"]["kind"] == "network"


def test_thirteen_4090_replicas_each_on_its_own_gpu():
    pl = place(plan_4090_x13())
    assert len(pl) == 13
    slots = [(p.host, p.cuda_visible_devices()) for p in pl]
    assert len(set(slots)) == 13  # no GPU shared
    assert sum(p.host == "rtx-4090-0" for p in pl) == 8 and sum(p.host == "rtx-4090-1" for p in pl) == 5
    assert len({(p.host, p.port) for p in pl}) == 13
    assert all(p.single_host and p.tp == 1 for p in pl)


def test_tp_groups_stay_in_one_node_and_pp_may_span():
    p = make_plan([group("H100-SXM", 4, 3), group("H100-SXM", 2, 2, model="Llama-3.1-70B")], {"H100-SXM": (16, 8)})
    pl = place(p)
    for r in pl:
        for s in r.stages:
            assert len(s.gpu_indices) == r.tp
    used = [(s.host, i) for r in pl for s in r.stages for i in s.gpu_indices]
    assert len(used) == len(set(used)) == 16
    span = place(make_plan([group("H100-SXM", 8, 1, pp=2)], {"H100-SXM": (16, 8)}))
    assert span[0].hosts == ("h100-sxm-0", "h100-sxm-1") and not span[0].single_host


def test_over_packed_plan_is_refused():
    # 10 GPUs as 5 x TP2 on 8 + 3 GPUs: the partial node holds one TP2 group, C5 allows 8 + 2
    with pytest.raises(InfeasibleError, match="no RTX-4090 node has 2 free GPUs"):
        place(make_plan([group("RTX-4090", 2, 6)], {"RTX-4090": (11, 8)}))


def _c5_holds(groups, avail, node):
    for s in (2, 4, 8):
        if s > node:
            continue
        big = sum(g.replicas * g.tp * g.pp for _, g in groups if g.tp >= s)
        if big > node * (avail // node) + s * ((avail % node) // s):
            return False
    return sum(g.gpus for _, g in groups) <= avail


def test_placement_succeeds_exactly_when_c5_holds():
    rng = random.Random(0)
    seen = {True: 0, False: 0}
    for _ in range(300):
        node = rng.choice([4, 8])
        avail = rng.randint(1, 3 * node)
        groups = [
            group("H100-SXM", tp, rng.randint(0, 4), pp=rng.choice([1, 1, 2]), model=f"M{i}")
            for i, tp in enumerate(rng.sample([1, 2, 4, 8][: 3 if node == 4 else 4], rng.randint(1, 3)))
        ]
        groups = [g for g in groups if g[1].replicas > 0] or [group("H100-SXM", 1, 1)]
        plan = make_plan(groups, {"H100-SXM": (avail, node)})
        ok = _c5_holds(groups, avail, node)
        seen[ok] += 1
        if ok:
            pl = place(plan)
            used = [(s.host, i) for r in pl for s in r.stages for i in s.gpu_indices]
            assert len(used) == len(set(used)) == sum(g.gpus for _, g in groups)
        else:
            with pytest.raises(InfeasibleError):
                place(plan)
    assert seen[True] > 30 and seen[False] > 30


def test_host_names_are_dns_safe():
    assert host_name("RTX-PRO-6000", 2) == "rtx-pro-6000-2" and host_name("A100-80GB-SXM", 0) == "a100-80gb-sxm-0"
