"""``--workers``: how the hosts are split (pure), what crosses the pipe, and how workers take signals."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
import signal
from datetime import UTC, datetime

from fleetbench import workers as W
from fleetbench.errors import HostError, HostStatus
from fleetbench.evaluate import evaluate
from fleetbench.interrupt import Interrupts
from fleetbench.models import ClusterScan, Host, HostScan, SSHSettings
from fleetbench.runner import ScanOptions, cluster_sources, decided_by, scan
from tests.factsbuilder import host_facts


def host(name: str, roles: tuple[str, ...] = ("worker",), *, cluster: str = "default", jump: str | None = None,
         address: str | None = None, source: bool = False, port: int = 22) -> Host:
    return Host(name=name, address=address or f"{name}.invalid", roles=roles, groups=(),
                ssh=SSHSettings(jump=jump, port=port), paths={}, origin="test", cluster=cluster, cluster_source=source)


CP = ("control-plane", "etcd")


def names(parts: tuple[W.Part, ...]) -> list[list[str]]:
    return [[h.name for h in p.hosts] for p in parts]


def test_shares_divide_the_global_limits_remainders_to_the_first():
    assert W.shares(50, 4) == (13, 13, 12, 12)
    assert W.shares(10, 3) == (4, 3, 3)
    assert W.shares(8, 2) == (4, 4)
    assert sum(W.shares(50, 7)) == 50


def test_default_count_is_the_cores_at_most_one_per_50_hosts(monkeypatch):
    monkeypatch.setattr(W, "cores", lambda: 8)
    assert [W.default_count(n) for n in (1, 49, 50, 99, 100, 150, 399, 400, 5000)] == [1, 1, 1, 1, 2, 3, 7, 8, 8]


def test_split_balances_keeps_inventory_order_and_is_stable():
    hosts = tuple(host(f"w-{i}") for i in range(10))
    parts = W.split(hosts, 3, {}, 50, 10)
    assert names(parts) == [["w-0", "w-3", "w-6", "w-9"], ["w-1", "w-4", "w-7"], ["w-2", "w-5", "w-8"]]
    assert [(p.index, p.concurrency, p.handshakes) for p in parts] == [(0, 17, 4), (1, 17, 3), (2, 16, 3)]
    assert W.split(hosts, 3, {}, 50, 10) == parts                    # the same inventory, the same split
    assert sorted(h.name for p in parts for h in p.hosts) == sorted(h.name for h in hosts)


def test_hosts_behind_one_bastion_share_a_worker():
    hosts = (host("a-1", jump="ops@bastion-a"), host("b-1", jump="ops@bastion-b"), host("a-2", jump="ops@bastion-a"),
             host("d-1"), host("b-2", jump="ops@bastion-b"), host("a-3", jump="ops@bastion-a"), host("d-2"))
    parts = W.split(hosts, 2, {}, 50, 10)
    assert names(parts) == [["a-1", "a-2", "a-3", "d-2"], ["b-1", "d-1", "b-2"]]


def test_hosts_of_one_endpoint_share_a_worker():
    # the addresses are text for the split: nothing here connects anywhere
    hosts = (host("x", address="10.1.1.1"), host("y"), host("x-alias", address="10.1.1.1"), host("z"))
    parts = W.split(hosts, 2, {}, 50, 10)
    assert ["x", "x-alias"] in [[n for n in p if n.startswith("x")] for p in names(parts)]
    assert not any(len([n for n in p if n.startswith("x")]) == 1 for p in names(parts))


def test_every_source_candidate_of_a_cluster_shares_a_worker(catalog):
    hosts = (host("shop-cp-1", CP, cluster="shop"), host("shop-w-1", cluster="shop"), host("blog-cp-1", CP, cluster="blog"),
             host("shop-cp-2", CP, cluster="shop"), host("shop-w-2", cluster="shop"),
             host("shop-cp-3", CP, cluster="shop", source=True), host("blog-w-1", cluster="blog"))
    options = ScanOptions(benchmark="auto")
    sources = cluster_sources(hosts, catalog, options)
    parts = W.split(hosts, 3, sources, 50, 10)
    holding = [p for p in parts if any(h.name == "shop-cp-1" for h in p.hosts)][0]
    assert {"shop-cp-1", "shop-cp-2", "shop-cp-3"} <= {h.name for h in holding.hosts}
    # each worker decides exactly the clusters whose candidates it holds; every cluster once
    decided = [decided_by(sources, hosts, p.hosts) for p in parts]
    assert sorted(n for d in decided for n in d) == ["blog", "shop"]
    assert [c.name for c in decided_by(sources, hosts, holding.hosts)["shop"]] == ["shop-cp-3", "shop-cp-1", "shop-cp-2"]


def test_never_more_workers_than_groups_or_the_limits(catalog):
    hosts = tuple(host(f"w-{i}", jump="ops@one-bastion") for i in range(20))
    assert len(W.split(hosts, 4, {}, 50, 10)) == 1                 # one bastion: one worker
    flat = tuple(host(f"w-{i}") for i in range(20))
    assert len(W.split(flat, 8, {}, 50, 3)) == 3                   # --handshakes 3: three workers with 1 each
    assert [p.handshakes for p in W.split(flat, 8, {}, 50, 3)] == [1, 1, 1]
    assert len(W.split(flat, 8, {}, 2, 10)) == 2
    assert W.count_for(flat, catalog, ScanOptions(benchmark="auto"), None) == 1       # 20 hosts: below 50 a worker
    assert W.count_for(flat, catalog, ScanOptions(benchmark="auto", local=True), 4) == 1
    assert W.count_for(flat, catalog, ScanOptions(benchmark="auto"), 4) == 4


def test_every_result_crosses_the_pipe_whole(catalog):
    """The pipe pickles hosts and controls as references to the copies both processes hold since the fork."""
    hosts = (host("n-1"), host("n-2"))
    shared = W._Shared(catalog, hosts)
    facts = host_facts(catalog, {"processes": {"kubelet": ["kubelet", "--anonymous-auth=false"]},
                                 "files": {"/etc/kubernetes/kubelet.conf": {"mode": "600", "owner": "root:root"}}})
    findings = tuple(evaluate(c, facts, catalog) for c in next(iter(catalog.benchmarks.values())).controls[:40])
    result = HostScan(host=hosts[0], benchmark="cis-1.11", started=datetime.now(UTC), seconds=0.5, findings=findings,
                      facts=facts)
    failed = HostScan(host=hosts[1], benchmark="auto", started=datetime.now(UTC), seconds=0.0,
                      error=HostError(HostStatus.TIMEOUT, "late"))
    cluster = ClusterScan("c", ("n-1",), "not assessed: x", None, (), "cis-1.11")
    for value in (result, failed, (cluster,)):
        back = shared.loads(shared.dumps(("host", value)))[1]
        assert back == value
        assert pickle.loads(pickle.dumps(value)) == value            # plain pickle too: every model pickles
    back = shared.loads(shared.dumps(result))
    assert back.host is hosts[0] and [f.control for f in back.findings] == [f.control for f in findings]
    assert all(a.control is b.control for a, b in zip(back.findings, findings, strict=True))   # shared, not copied
    assert len(shared.dumps(result)) < len(pickle.dumps(result))
    assert shared.loads(shared.dumps(None)) is None                 # None is never taken for a shared object


def test_a_worker_stops_at_its_first_signal_and_ignores_the_next():
    stops = []
    with Interrupts() as interrupts:
        interrupts.in_worker()
        interrupts.on_first(lambda: stops.append(interrupts.signal))
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)                          # a parent would end at once here
        os.kill(os.getpid(), signal.SIGTERM)
    assert stops == [signal.SIGINT] and interrupts.name == "SIGINT"


def test_each_part_scans_only_its_hosts_and_decides_its_clusters(catalog):
    """A part's scan with the whole fleet given: a cluster held by another part is not decided here,
    and the one it decides lists every member of the fleet (not only this part's)."""
    hosts = (host("cp-1", CP, address="127.0.0.1", port=1), host("w-1", address="127.0.0.1", port=1),
             host("other-cp", CP, address="127.0.0.1", port=1, cluster="other"))   # port 1: refused, at once
    options = ScanOptions(benchmark="auto", transport=dataclasses.replace(ScanOptions("auto").transport,
                                                                          connect_timeout=0.5), timeout=2)
    report = asyncio.run(scan(hosts[1:2], catalog, options, fleet=hosts))
    assert [h.host.name for h in report.hosts] == ["w-1"] and report.clusters == ()
    report = asyncio.run(scan(hosts[:1], catalog, options, fleet=hosts))
    assert [(c.name, c.hosts) for c in report.clusters] == [("default", ("cp-1", "w-1"))]


def test_workers_recording_keys_in_one_known_hosts_file_lose_none(tmp_path):
    """--accept-new-host-keys with --workers: two processes append to one known_hosts file at once
    (read, add a line, rename over it); each line must survive the other's writes."""
    from fleetbench.connect import record_host_key
    target = tmp_path / "ssh" / "known_hosts"
    target.parent.mkdir()
    target.write_text("")
    pids = []
    for worker in range(2):
        pid = os.fork()
        if pid == 0:                                                  # pragma: no cover - the child
            code = 0
            try:
                for i in range(60):
                    record_host_key(str(target), f"[10.{worker}.0.{i}]:22", "ssh-ed25519 AAAAC3Nza")
            except BaseException:
                code = 1
            os._exit(code)
        pids.append(pid)
    assert [os.waitpid(p, 0)[1] for p in pids] == [0, 0]
    assert len(target.read_text().splitlines()) == 120
