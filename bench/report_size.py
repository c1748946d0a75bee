"""How big and how slow are the reports of a large fleet? Synthesises a report dict and renders it.

Why: report.html has to stay usable at 500 hosts × 130 checks (one file, mailed and opened in a
browser), so its size and render time are measured rather than guessed. The README quotes this
script's output.

The fleet (deterministic, seeded): ``--hosts`` hosts, 1 in 100 of them control-plane+etcd, the rest
workers, and every host gets every control of the benchmark (131 for cis-1.12: the worst case, a
full matrix), with kubeadm-like evidence. 2% of the results drift to another verdict (outliers),
1% keep their verdict but come from another file (deviations), and 1% of the hosts are not
assessed. Each format is rendered ``--repeat`` times; the best time is shown.

    .venv/bin/python bench/report_size.py [--hosts 500] [--formats html] [--no-browser] [--out DIR]

report.html is also loaded in headless Chromium (the DevTools protocol on a pipe, as the tests do;
see :func:`first_screen` for what is timed) and the goals of issue 18 (5,000 hosts: at most
15 MiB, first screen within 3 s) are printed as met or missed.
"""

from __future__ import annotations

import argparse
import os
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
from fleetbench.report import html as html_report  # noqa: E402

KUBELET = ["/usr/bin/kubelet", "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
           "--kubeconfig=/etc/kubernetes/kubelet.conf", "--config=/var/lib/kubelet/config.yaml",
           "--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock",
           "--pod-infra-container-image=registry.k8s.io/pause:3.9"]
PATHS = {"kubelet.config": ("/var/lib/kubelet/config.yaml", "flag --config"),
         "kubelet.kubeconfig": ("/etc/kubernetes/kubelet.conf", "flag --kubeconfig"),
         "kubelet.service": ("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", "candidate"),
         "kubelet.client-ca": ("/etc/kubernetes/pki/ca.crt", "candidate"),
         "kube-proxy.kubeconfig": ("/etc/kubernetes/proxy.conf", "default")}


ROLES = (("control-plane", "etcd"), ("worker",), ("ingress", "worker"))
CLUSTERS = ("prod-eu", "prod-us", "staging")
ERRORS = ("connection refused by {address}:22", "timed out after 120 s waiting for {address}:22",
          "host key of {address} does not match known_hosts line 14", "sudo asked for a password on {address}")


def _evidence_text(title: str, check: str, bad: bool) -> tuple[str, str]:
    """(actual, source) as a real scan words them, by the kind of control."""
    if "owned by" in title or "ownership" in title:
        return ("root:staff" if bad else "root:root"), f"stat /etc/kubernetes/{check}.conf (path from default path)"
    if "mode" in title or "permissions" in title:
        return ("644" if bad else "600"), f"stat /etc/kubernetes/{check}.conf (path from default path)"
    flag = check.split(".")[-1].replace("_", "-")
    value = "not set" if bad else "true"
    return f"--{flag}={value}", f"flag --{flag} of the process (argv from /proc/812/cmdline)"


def synthesise(hosts: int, benchmark: str, seed: int = 1) -> dict[str, Any]:
    """A report dict shaped like ``model.to_dict``'s for a fleet of ``hosts`` hosts.

    Every host gets every control of the benchmark (131 for cis-1.12: the worst case, a full
    matrix; a real worker runs about 25). Roles: 1 in 100 hosts control-plane+etcd, 1 in 10 ingress+worker, the rest workers; three
    clusters (the hosts in thirds; staging's section 5 not assessed); 1 % of the hosts not
    assessed (four kinds of error); 2 % of the results drift (outliers), 1 % keep their verdict
    with other evidence, and 1 in 50 hosts has drifted a lot (a quarter of its checks FAIL).
    """
    rng = random.Random(seed)
    catalog = load_catalog()
    bench = catalog.benchmarks[benchmark]
    start = datetime(2026, 11, 23, 4, 40, tzinfo=UTC)
    out = []
    for n in range(hosts):
        roles = ROLES[0] if n % 100 == 0 else ROLES[2] if n % 10 == 5 else ROLES[1]
        name = f"cp-{n // 100 + 1}" if roles == ROLES[0] else f"node-{n + 1:05d}"
        address = f"10.{n // 62500}.{n // 250 % 250}.{n % 250 + 1}"
        down = n % 100 == 50
        drifted = n % 50 == 17
        results = []
        for c in bench.controls if not down else ():
            status = "PASS" if c.automated else "WARN"
            roll = rng.random()
            bad = roll < 0.02 or (drifted and roll < 0.25)
            actual, source = _evidence_text(c.title, c.check.id, bad)
            if bad:
                status = ("FAIL" if c.scored else "WARN") if status == "PASS" else "PASS"
            elif roll < 0.03:
                source = f"stat /opt/k8s/{c.check.id}.conf (path from flag --config)"
            results.append({"id": c.id, "check": c.check.id, "title": c.title, "section": c.section,
                            "target": c.target, "status": status, "scored": c.scored, "automated": c.automated,
                            "expected": "permissions 600 or more restrictive", "actual": actual, "source": source,
                            "reason": "" if c.automated else "manual check",
                            "remediation": f"Tighten the setting on the node ({source.split(' (')[0]})", "waiver": None})
        summary = {s: sum(1 for r in results if r["status"] == s) for s in ("PASS", "FAIL", "WARN", "INFO")}
        out.append({
            "name": name, "address": address, "roles": list(roles),
            "status": "unreachable" if down else "ok",
            "error": ERRORS[n // 100 % len(ERRORS)].format(address=address) if down else None,
            "benchmark": benchmark, "started": (start + timedelta(seconds=n / 50)).isoformat(), "seconds": 0.4,
            "known_hosts": "/etc/fleetbench/known_hosts", "accepted_host_key": None,
            "results": results, "summary": summary, "detected": None,
            "evidence": None if down else {
                "hostname": f"{name}.{CLUSTERS[n * 3 // hosts]}.example.net", "uid": 0,
                "processes": {"kubelet": {"pid": 812, "argv": KUBELET + [f"--node-ip={address}"], "env": {},
                                          "source": "/proc/812/cmdline"},
                              "kube-proxy": {"pid": 1204, "argv": ["/usr/local/bin/kube-proxy",
                                                                   "--config=/var/lib/kube-proxy/config.conf",
                                                                   f"--hostname-override={name}"], "env": {},
                                             "source": "/proc/1204/cmdline"}},
                "paths": {k: {"path": p, "source": s} for k, (p, s) in PATHS.items()}},
        })
    total = {s: sum(h["summary"][s] for h in out) for s in ("PASS", "FAIL", "WARN", "INFO")}
    assessed = sum(1 for h in out if h["status"] == "ok")
    clusters = [{"name": c, "status": "ok" if c != "staging" else "not assessed: no control-plane host answered",
                 "source_host": None, "hosts": [h["name"] for i, h in enumerate(out) if i * 3 // hosts == k],
                 "results": []} for k, c in enumerate(CLUSTERS)]
    return {"tool": "fleetbench", "version": __version__, "schema": 2, "run_id": "bench", "started": start.isoformat(),
            "finished": (start + timedelta(seconds=90)).isoformat(), "benchmark": benchmark,
            "catalog_digest": catalog.digest,
            "options": {"targets": [], "check": [], "skip": [], "host_key_checking": True, "local": False,
                        "concurrency": 50, "timeout": 120.0},
            "hosts": out, "clusters": clusters, "sections": dict(bench.sections),
            "summary": {**total, "hosts": len(out), "hosts_assessed": assessed, "hosts_not_assessed": len(out) - assessed}}


#: the goals of issue 18 for 5,000 hosts × 130 controls
GOAL_MIB, GOAL_SECONDS = 15.0, 3.0


#: in the page: [ms to the first frame after the load event, ms to the first frame after fleet.js has
#: drawn the matrix and the host list (its performance mark "fleetbench-drawn"; the static page: the same)]
AFTER_LOAD = """new Promise(done => {
  const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(() => r(performance.now()), 0)));
  const drawn = () => !document.getElementById('fleet-data') || performance.getEntriesByName('fleetbench-drawn').length;
  const wait = (ok, then) => ok() ? then() : setTimeout(() => wait(ok, then), 5);
  wait(() => document.readyState === 'complete', () => frame().then(painted =>
    wait(drawn, () => frame().then(all => done([painted, all])))));
})"""


def first_screen(page: Path, runs: int = 3) -> list[dict[str, float]]:
    """Load ``page`` in headless Chromium ``runs`` times (a fresh tab each time, the browser already
    started) and time it with the browser's own clock (DevTools ``Page.lifecycleEvent`` timestamps,
    from ``init``, the start of the navigation): first contentful paint, the load event (every inline
    script has run: the matrix is drawn), and the first frame painted after it (measured as the
    page's clock when a requestAnimationFrame callback after load has run), and the first frame
    after the matrix and the host list are drawn (fleet.js draws them after the first paint).
    Chromium's own start (about a second) is not counted: a user's browser is running already.
    Wall times grow with the machine's load, so the renderer's main-thread CPU time for the whole
    load (DevTools Performance.getMetrics TaskDuration, in thread ticks) is reported beside them."""
    import tempfile

    from tests.browser import Browser

    times = []
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(Path(profile), timeout=120)
        try:
            for _ in range(runs):
                target = browser.call("Target.createTarget", url="about:blank")["targetId"]
                session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
                browser.call("Target.activateTarget", targetId=target)   # the front tab: frames are not throttled
                browser.call("Page.enable", session)
                browser.call("Page.setLifecycleEventsEnabled", session, enabled=True)
                browser.call("Performance.enable", session, timeDomain="threadTicks")   # CPU time, not wall
                browser.call("Emulation.setDeviceMetricsOverride", session, width=1400, height=1000,
                             deviceScaleFactor=1, mobile=False)
                browser.events.clear()
                browser.call("Page.navigate", session, url=page.as_uri())
                stamp = {name: browser.wait_for("Page.lifecycleEvent", session, name)["params"]["timestamp"]
                         for name in ("init", "firstContentfulPaint", "load")}
                # performance.now(): ms since the navigation started, in the page
                frame = browser.call("Runtime.evaluate", session, awaitPromise=True, returnByValue=True,
                                     expression=AFTER_LOAD)["result"]["value"]
                metrics = {m["name"]: m["value"] for m in browser.call("Performance.getMetrics", session)["metrics"]}
                times.append({"fcp": stamp["firstContentfulPaint"] - stamp["init"], "load": stamp["load"] - stamp["init"],
                              "painted": frame[0] / 1000, "drawn": frame[1] / 1000, "cpu": metrics["TaskDuration"]})
                browser.call("Target.closeTarget", targetId=target)
        finally:
            browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--benchmark", default="cis-1.12")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", default=",".join(WRITERS), help="comma-separated (default: all)")
    parser.add_argument("--no-browser", action="store_true", help="do not time report.html in headless Chromium")
    parser.add_argument("--out", type=Path, help="also write the reports into this folder")
    args = parser.parse_args()
    data = synthesise(args.hosts, args.benchmark)
    checks = len({r["id"] for h in data["hosts"] for r in h["results"]})
    print(f"{len(data['hosts'])} hosts × {checks} checks "
          f"({sum(len(h['results']) for h in data['hosts'])} results, {data['summary']['hosts_not_assessed']} hosts "
          f"not assessed), Python {sys.version.split()[0]}")
    print(f"{'format':8} {'CPU':>8} {'wall':>8}  {'file':12} {'size':>10}")
    model = from_dict(data)
    html_size = None
    for fmt in args.formats.split(","):
        render = WRITERS[fmt]
        best = cpu = float("inf")
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            files = render(model)
            best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
        for i, (name, payload) in enumerate(files.items()):
            head = f"{fmt:8} {cpu:6.2f} s {best:6.2f} s" if i == 0 else " " * 26
            print(f"{head}  {name:12} {len(payload) / 2**20:6.2f} MiB")
            if name == "report.html":
                html_size = len(payload) / 2**20
                text = payload.decode()
                mode = "compact page (fleet.js draws the matrix and details)" if 'id="fleet-data"' in text else "static page"
                print(f"{'':28}{mode}; {per_host(cpu, len(data['hosts']))} of render CPU per host; "
                      f"{sum(text.count(f'<{t}') for t in ('td', 'th', 'tr')):,} static table cells and rows")
    if args.out:
        for path in write(model, args.formats.split(","), args.out, flat=True).paths:
            print(f"wrote {path}")
    if html_size is None:
        return
    seconds = None
    if not args.no_browser:
        import tempfile

        from tests.browser import CHROMIUM

        if CHROMIUM is None:
            print("chromium is not installed: first screen not measured")
        else:
            with tempfile.TemporaryDirectory() as folder:
                page = Path(folder) / "report.html"
                page.write_bytes(html_report.render(model)["report.html"])
                runs = first_screen(page)
            median = sorted(runs, key=lambda r: r["painted"])[len(runs) // 2]
            seconds = median["painted"]
            print(f"headless Chromium, median of {len(runs)} loads (fresh tab, browser already running): first "
                  f"contentful paint {median['fcp']:.2f} s, load (scripts done) {median['load']:.2f} s, "
                  f"first screen (first frame after load) {median['painted']:.2f} s, matrix and host list drawn "
                  f"{median['drawn']:.2f} s; renderer main-thread CPU {median['cpu']:.2f} s; load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    size_ok = html_size <= GOAL_MIB
    time_ok = None if seconds is None else seconds <= GOAL_SECONDS
    scale = "" if len(data["hosts"]) >= 5000 else f" (the goals are for 5,000 hosts; this run has {len(data['hosts'])})"
    print(f"goal report.html <= {GOAL_MIB:g} MiB: {'met' if size_ok else 'MISSED'} ({html_size:.2f} MiB); "
          f"first screen <= {GOAL_SECONDS:g} s: "
          f"{'not measured' if time_ok is None else 'met' if time_ok else 'MISSED'}"
          f"{'' if seconds is None else f' ({seconds:.2f} s)'}{scale}")


def per_host(seconds: float, hosts: int) -> str:
    return f"{1000 * seconds / hosts:.1f} ms"


if __name__ == "__main__":
    main()
