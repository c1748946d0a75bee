"""How big and how slow are the reports of a large fleet? Synthesises a report dict and renders it.

Why: report.html has to stay usable at 500 hosts × 130 checks (one file, mailed and opened in a
browser), so its size and render time are measured rather than guessed. The README quotes this
script's output.

The fleet (deterministic, seeded): ``--hosts`` hosts, 1 in 100 of them control-plane+etcd, the rest
workers, and every host gets every control of the benchmark (131 for cis-1.12: the worst case, a
full matrix), with kubeadm-like evidence. 2% of the results drift to another verdict (outliers),
1% keep their verdict but come from another file (deviations), and 1% of the hosts are not
assessed. Each format is rendered ``--repeat`` times; the best time is shown.

    .venv/bin/python bench/report_size.py [--hosts 500] [--benchmark cis-1.12] [--out DIR]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fleetbench import __version__  # noqa: E402
from fleetbench.catalog import load_catalog  # noqa: E402
from fleetbench.report import WRITERS, from_dict, write  # noqa: E402

KUBELET = ["/usr/bin/kubelet", "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
           "--kubeconfig=/etc/kubernetes/kubelet.conf", "--config=/var/lib/kubelet/config.yaml",
           "--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock",
           "--pod-infra-container-image=registry.k8s.io/pause:3.9"]
PATHS = {"kubelet.config": ("/var/lib/kubelet/config.yaml", "flag --config"),
         "kubelet.kubeconfig": ("/etc/kubernetes/kubelet.conf", "flag --kubeconfig"),
         "kubelet.service": ("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", "candidate"),
         "kubelet.client-ca": ("/etc/kubernetes/pki/ca.crt", "candidate"),
         "kube-proxy.kubeconfig": ("/etc/kubernetes/proxy.conf", "default")}


def synthesise(hosts: int, benchmark: str, seed: int = 1) -> dict[str, Any]:
    """A report dict shaped like ``model.to_dict``'s for a fleet of ``hosts`` hosts."""
    rng = random.Random(seed)
    catalog = load_catalog()
    bench = catalog.benchmarks[benchmark]
    start = datetime(2026, 11, 23, 4, 40, tzinfo=UTC)
    out = []
    for n in range(hosts):
        cp = n % 100 == 0
        name = f"cp-{n // 100 + 1}" if cp else f"worker-{n + 1:03d}"
        down = n % 100 == 50
        results = []
        for c in bench.controls if not down else ():
            status = "PASS" if c.automated else "WARN"
            actual, source = "600", f"stat /etc/kubernetes/{c.check.id}.conf (path from default path)"
            roll = rng.random()
            if roll < 0.02:
                status, actual = ("FAIL" if c.scored else "WARN") if status == "PASS" else "PASS", "644"
            elif roll < 0.03:
                source = f"stat /opt/k8s/{c.check.id}.conf (path from flag --config)"
            results.append({"id": c.id, "check": c.check.id, "title": c.title, "section": c.section,
                            "target": c.target, "status": status, "scored": c.scored, "automated": c.automated,
                            "expected": "permissions 600 or more restrictive", "actual": actual, "source": source,
                            "reason": "" if c.automated else "manual check",
                            "remediation": f"Tighten the permissions on the node: chmod 600 {source.split()[1]}"})
        summary = {s: sum(1 for r in results if r["status"] == s) for s in ("PASS", "FAIL", "WARN", "INFO")}
        out.append({
            "name": name, "address": f"10.0.{n // 250}.{n % 250 + 1}",
            "roles": ["control-plane", "etcd"] if cp else ["worker"],
            "status": "unreachable" if down else "ok",
            "error": f"connection refused by 10.0.{n // 250}.{n % 250 + 1}:22" if down else None,
            "benchmark": benchmark, "started": (start + timedelta(seconds=n / 50)).isoformat(), "seconds": 0.4,
            "results": results, "summary": summary,
            "evidence": None if down else {
                "hostname": name, "uid": 0,
                "processes": {"kubelet": {"pid": 812, "argv": KUBELET, "env": {}},
                              "kube-proxy": {"pid": 1204, "argv": ["/usr/local/bin/kube-proxy",
                                                                   "--config=/var/lib/kube-proxy/config.conf",
                                                                   f"--hostname-override={name}"], "env": {}}},
                "paths": {k: {"path": p, "source": s} for k, (p, s) in PATHS.items()}},
        })
    total = {s: sum(h["summary"][s] for h in out) for s in ("PASS", "FAIL", "WARN", "INFO")}
    assessed = sum(1 for h in out if h["status"] == "ok")
    return {"tool": "fleetbench", "version": __version__, "schema": 1, "started": start.isoformat(),
            "finished": (start + timedelta(seconds=90)).isoformat(), "benchmark": benchmark,
            "catalog_digest": catalog.digest,
            "options": {"targets": [], "check": [], "skip": [], "host_key_checking": True, "local": False,
                        "concurrency": 50, "timeout": 120.0},
            "hosts": out, "sections": dict(bench.sections),
            "summary": {**total, "hosts": len(out), "hosts_assessed": assessed, "hosts_not_assessed": len(out) - assessed}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--benchmark", default="cis-1.12")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the reports into this folder")
    args = parser.parse_args()
    data = synthesise(args.hosts, args.benchmark)
    checks = len({r["id"] for h in data["hosts"] for r in h["results"]})
    print(f"{len(data['hosts'])} hosts × {checks} checks "
          f"({sum(len(h['results']) for h in data['hosts'])} results, {data['summary']['hosts_not_assessed']} hosts "
          f"not assessed), Python {sys.version.split()[0]}")
    print(f"{'format':8} {'render':>8}  {'file':12} {'size':>10}")
    model = from_dict(data)
    for fmt, render in WRITERS.items():
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            files = render(model)
            best = min(best, time.perf_counter() - t0)
        for i, (name, payload) in enumerate(files.items()):
            head = f"{fmt:8} {best:6.2f} s" if i == 0 else " " * 17
            print(f"{head}  {name:12} {len(payload) / 2**20:6.2f} MiB")
            if name == "report.html":
                text = payload.decode()
                print(f"{'':19}{sum(text.count(f'<{t}') for t in ('td', 'th', 'tr')):,} table cells and rows, "
                      f"{text.count('<details'):,} <details>")
    if args.out:
        for path in write(model, list(WRITERS), args.out, flat=True).paths:
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
