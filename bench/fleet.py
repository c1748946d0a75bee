"""Side-by-side fleet benchmark: fleetbench against what users would otherwise run, same hosts, same run.

Starts N loopback-lab workers (real sshd, tests/lab) and, on those hosts with the same
concurrency, measures:

- fleetbench: a full CIS scan of every host (collection, evaluation, JSON/HTML/CSV/JUnit);
- OpenSSH fan-out: ``xargs -P`` running ``ssh host sh -s < probe`` with the very script
  fleetbench would run: the floor for "one connection, one round trip";
- ansible-core ad hoc, ``raw`` module, forks = the concurrency, running the same script;
- one exec per check over one reused connection (how per-check tools work, kube-bench's audits);
- on one node, the CPU the probe script costs the node itself.

Each tool runs as a child process; its wall time, CPU (user+sys, children included) and peak
RSS come from ``wait4``. All lab hosts share this machine's cores, so wall time is bound by the
hosts' own work; client CPU per host is what bounds a real jump host. Never a pass/fail test:
it prints a table (README "Benchmark").

Usage: ``python bench/fleet.py [--hosts 50,200] [--concurrency 50] [--no-ansible]``
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleetbench import script as S  # noqa: E402
from fleetbench.catalog import load_catalog  # noqa: E402
from fleetbench.inventory import load_inventory  # noqa: E402
from fleetbench.runner import ScanOptions, plan_for  # noqa: E402
from fleetbench.select import host_targets  # noqa: E402
from tests.lab import Lab, kubeadm_worker  # noqa: E402

OCTETS = "127.90.0."


@dataclass
class Run:
    tool: str
    wall: float
    cpu: float                 # seconds, user + sys, the tool and all its children
    rss_mib: float             # peak resident set of the largest process
    round_trips: float         # per host
    ok: int                    # hosts that answered


def measure(tool: str, argv: list[str], hosts: int, round_trips: float, ok_check: object = None,
            stdin: Path | None = None, env: dict[str, str] | None = None) -> Run:
    t0 = time.monotonic()
    with open(stdin or os.devnull, "rb") as fin:
        proc = subprocess.Popen(argv, stdin=fin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, **(env or {})})
        chunks: dict[str, bytes] = {}

        def drain(name: str, stream) -> None:
            chunks[name] = stream.read()
        threads = [threading.Thread(target=drain, args=(n, s)) for n, s in (("out", proc.stdout), ("err", proc.stderr))]
        for t in threads:
            t.start()
        _, status, usage = os.wait4(proc.pid, 0)
        for t in threads:
            t.join()
        out, err = chunks["out"], chunks["err"]
    wall = time.monotonic() - t0
    ok = ok_check(out, err) if callable(ok_check) else hosts
    if ok < hosts:       # a baseline that failed must say why, not pose as a fast result
        tail = (err or out).decode(errors="replace").strip().splitlines()[-3:]
        print(f"  {tool}: only {ok}/{hosts} hosts answered; last lines: {' | '.join(tail)}", file=sys.stderr)
    return Run(tool, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, round_trips, ok)


def probe_script(inventory: Path) -> tuple[str, int]:
    """The script fleetbench would run on a worker, and how many controls it serves."""
    catalog = load_catalog()
    host = load_inventory(inventory)[0]
    options = ScanOptions(benchmark="auto")
    source = S.render(plan_for(host, catalog, options), S.new_nonce())
    controls = [c for c in catalog.benchmarks["cis-1.11"].controls if c.target in host_targets(host, catalog)]
    return source, len(controls)


PER_CHECK = r'''
import asyncio, sys
import asyncssh
hosts, port, key, kh, conc, checks = sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
COMMANDS = ["ps -ef | grep kubelet | grep -v grep", "stat -c %a /var/lib/kubelet/config.yaml",
            "cat /var/lib/kubelet/config.yaml", "stat -c %U:%G /etc/kubernetes/kubelet.conf"]
async def one(h, sem):
    async with sem:
        async with asyncssh.connect(h, port=port, username="root", client_keys=[key], known_hosts=kh, config=None) as c:
            for i in range(checks):
                await c.run(COMMANDS[i % len(COMMANDS)])
    return 1
async def main():
    sem = asyncio.Semaphore(conc)
    print(sum(await asyncio.gather(*(one(h, sem) for h in hosts))))
asyncio.run(main())
'''


def node_probe_cpu(lab: Lab, name: str, source: str) -> float:
    """CPU seconds (user+sys) the probe script costs the node, run inside it as sshd would run it."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as script:
        script.write(source)
        script.flush()
        with open(script.name, "rb") as stdin:
            proc = subprocess.Popen(["nsenter", f"--target={lab_init_pid(lab, name)}", "--mount", "--uts", "--pid",
                                     "--root", "--wd", "--", "sh", "-s"], stdin=stdin, stdout=subprocess.DEVNULL)
            _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_utime + usage.ru_stime


def lab_init_pid(lab: Lab, name: str) -> int:
    return lab._running(name)[2].pid   # the node's PID 1, recorded by the lab


def bench(n: int, concurrency: int, ansible: Path | None, workdir: Path) -> tuple[list[Run], float, int]:
    specs = [kubeadm_worker(f"w{i:03d}") for i in range(n)]
    with Lab(workdir / f"lab{n}", specs, first_octets=OCTETS) as lab:
        inventory = lab.inventory_path
        source, checks = probe_script(inventory)
        script = workdir / "probe.sh"
        script.write_text(source)
        addresses = [lab.address(s.name) for s in specs]
        key, kh, port = str(lab.client_key_path), str(lab.known_hosts_path), lab.port
        runs = []
        out = workdir / f"out{n}"
        runs.append(measure("fleetbench", [sys.executable, "-m", "fleetbench", "scan", str(inventory), "--quiet",
                                           "--out-dir", str(out), "--format", "json,html,csv,junit",
                                           "--db", str(workdir / f"history{n}.db"),   # recorded, as a nightly run is
                                           "--concurrency", str(concurrency), "--handshakes", str(concurrency)],
                            n, 1, lambda o, e: o.decode().count(" ok ")))
        ssh = (f"ssh -F none -i {key} -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes "
               f"-o BatchMode=yes -p {port} root@\"$1\" 'sh -s' < {script} > /dev/null && echo ok")
        hostlist = workdir / "hosts.txt"
        hostlist.write_text("\n".join(addresses) + "\n")
        runs.append(measure("OpenSSH fan-out (xargs -P ssh)", ["xargs", "-P", str(concurrency), "-n", "1", "sh", "-c", ssh, "_"],
                            n, 1, lambda o, e: o.decode().count("ok"), stdin=hostlist))
        if ansible is not None:
            ini = workdir / "ansible.ini"
            ini.write_text("[lab]\n" + "".join(f"{a}\n" for a in addresses) + "[lab:vars]\n"
                           f"ansible_user=root\nansible_port={port}\nansible_ssh_private_key_file={key}\n"
                           f"ansible_ssh_common_args=-F none -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes\n")
            # raw's argument splitter trips over shell quoting, so the same script travels base64-encoded
            encoded = base64.b64encode(source.encode()).decode()
            runs.append(measure("ansible-core (raw module)", [str(ansible), "lab", "-i", str(ini), "-m", "raw",
                                                              "-a", f"echo {encoded} | base64 -d | sh -s",
                                                              "-f", str(concurrency), "-o"],
                                n, 1, lambda o, e: o.decode().count("| CHANGED") + o.decode().count("| SUCCESS"),
                                env={"ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_NOCOLOR": "1",
                                     "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp")}))
        runs.append(measure(f"one exec per check ({checks}/host)", [sys.executable, "-c", PER_CHECK, ",".join(addresses),
                                                                  str(port), key, kh, str(concurrency), str(checks)],
                            n, checks, lambda o, e: int(o.decode().strip() or 0)))
        node_cpu = min(node_probe_cpu(lab, specs[0].name, source) for _ in range(5))
    return runs, node_cpu, checks


def table(n: int, runs: list[Run]) -> str:
    base = runs[0]
    rows = [["tool", "hosts ok", "wall s", "hosts/s", "client CPU ms/host", "peak RSS MiB", "round trips/host",
             "wall ÷ fleetbench", "CPU ÷ fleetbench"]]
    for r in runs:
        rows.append([r.tool, f"{r.ok}/{n}", f"{r.wall:.1f}", f"{n / r.wall:.1f}", f"{1000 * r.cpu / n:.0f}",
                     f"{r.rss_mib:.0f}", f"{r.round_trips:g}", f"{r.wall / base.wall:.2f}", f"{r.cpu / base.cpu:.2f}"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", default="50,200", help="fleet sizes, comma-separated (default 50,200)")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--no-ansible", action="store_true", help="skip the ansible-core baseline")
    ap.add_argument("--ansible", default=shutil.which("ansible") or str(Path(sys.executable).with_name("ansible")))
    args = ap.parse_args()
    ansible = None if args.no_ansible or not Path(args.ansible).exists() else Path(args.ansible)
    print(f"machine: {os.cpu_count()} cores; every lab host shares them; concurrency {args.concurrency}")
    if ansible is None:
        print("ansible-core not found: skipping that baseline (make bench installs it)")
    with tempfile.TemporaryDirectory(prefix="fleetbench-bench-") as tmp:
        for n in (int(x) for x in args.hosts.split(",")):
            runs, node_cpu, checks = bench(n, args.concurrency, ansible, Path(tmp))
            print(f"\n{n} hosts, {checks} controls per worker:")
            print(table(n, runs))
            fb = runs[0]
            per_host = fb.cpu / n
            print(f"probe CPU on a node: {1000 * node_cpu:.0f} ms (user+sys of the whole script)")
            print(f"fleetbench client CPU {1000 * per_host:.0f} ms/host. One fleetbench process is one asyncio "
                  f"loop on one core: about {int(3600 / per_host):,} hosts/hour; sixteen processes on a "
                  f"16-core jump host (the inventory split with --limit): about {int(16 * 3600 / per_host):,} "
                  "hosts/hour. CPU-bound estimates: latency and the hosts themselves bind first.")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
