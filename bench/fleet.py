"""Side-by-side fleet benchmark: fleetbench against what users would otherwise run, same hosts, same run.

Starts N loopback-lab workers (real sshd, tests/lab, 127.90.0.10 onwards) and measures:

- fleetbench straight to the nodes: a full CIS scan of every host (collection, evaluation,
  JSON/HTML/CSV/JUnit, the history database): its client CPU per host, all included;
- asyncssh alone, the same hosts and concurrency: connect, run the probe, read its output, nothing
  else (known_hosts parsed once, options built once): the floor of a Python SSH client's CPU, to
  which fleetbench's client CPU is compared;
- then, with a delaying TCP relay (bench/relay.py, its own processes) in front of every node's
  sshd adding 25 ms each way (a 50 ms round trip, what a jump host sees across a WAN; this kernel
  has no netem), every tool through it alike, with the same concurrency:
  fleetbench; an OpenSSH fan-out (``xargs -P`` running ``ssh host sh -s < probe`` with the very
  script fleetbench would run: the floor for "one connection, one round trip"); ansible-core ad hoc
  (``raw`` module, forks = the concurrency, the same script); one exec per check over one reused
  connection (how per-check tools work, kube-bench's audits);
- on one worker node and on one kubeadm control-plane node, the CPU the probe script costs the
  node itself;
- a large fleet (1,000 workers, beyond one /24): fleetbench alone, every host assessed?, its peak
  RSS, and refused connections (hosts refused/reset, sshd's MaxStartups/drop lines).

fleetbench runs as installed (:func:`as_installed`: bytecode compiled, template cache warm). Each
tool runs as a child process; its wall time, CPU (user+sys, children included) and peak
RSS come from ``wait4``. All lab hosts share this machine's cores, so wall time is bound by the
hosts' own work; client CPU per host is what bounds a real jump host. Never a pass/fail test:
it prints tables and the goals of issue 18 as "goal met"/"MISSED" lines (README "Benchmark").

Usage: ``python bench/fleet.py [--hosts 200] [--big 1000] [--rtt-ms 50] [--concurrency 50]
[--no-ansible] [--no-per-check] [--per-check-ssh]``
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shlex
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
from tests.lab import Lab, kubeadm_control_plane, kubeadm_worker  # noqa: E402

OCTETS = "127.90."                     #: lab nodes: 127.90.0.10 onwards (beyond one /24 for 1,000)
RELAY_OCTETS = "127.93."               #: the same node behind the delaying relay


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


#: what a per-check tool runs, one command per check (kube-bench's audits look like these), cycled
PER_CHECK_COMMANDS = ("ps -ef | grep kubelet | grep -v grep", "stat -c %a /var/lib/kubelet/config.yaml",
                      "cat /var/lib/kubelet/config.yaml", "stat -c %U:%G /etc/kubernetes/kubelet.conf")

PER_CHECK = r'''
import asyncio, json, sys
import asyncssh
hosts, port, key, kh, conc, checks = sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
COMMANDS = json.loads(sys.argv[7])
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


def per_check_ssh_script(workdir: Path, checks: int, ssh: str) -> Path:
    """A shell script for one host (``$1``): ``checks`` commands, each its own ``ssh`` invocation (a
    new connection, key exchange and authentication per check: a per-check tool without multiplexing)."""
    lines = ["#!/bin/sh", "set -e"]
    lines += [f"{ssh} {shlex.quote(PER_CHECK_COMMANDS[i % len(PER_CHECK_COMMANDS)])} > /dev/null" for i in range(checks)]
    lines.append("echo ok")
    script = workdir / "per-check-ssh.sh"
    script.write_text("\n".join(lines) + "\n")
    return script


ASYNCSSH_ALONE = r'''
import asyncio, sys
import asyncssh
hosts, port, key, kh, conc, script = sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
source = open(script).read()
# as a careful user calls it: known_hosts parsed and the key loaded once (a path would be re-read for
# every connection), the options built once, the cipher fleetbench prefers
options = asyncssh.SSHClientConnectionOptions(username="root", port=port, client_keys=[key],
                                              known_hosts=asyncssh.read_known_hosts(kh),
                                              encryption_algs=["aes128-gcm@openssh.com"])
async def one(h, sem):
    async with sem:
        async with asyncssh.connect(h, options=options, config=None) as c:
            r = await c.run("sh -s", input=source)
    return int(r.exit_status == 0 and bool(r.stdout))
async def main():
    sem = asyncio.Semaphore(conc)
    print(sum(await asyncio.gather(*(one(h, sem) for h in hosts))))
asyncio.run(main())
'''


def as_installed(workdir: Path) -> dict[str, str]:
    """fleetbench as a jump host runs it: its modules' bytecode compiled (``pip install`` does it;
    this checkout is an editable install, and PYTHONDONTWRITEBYTECODE may be set, which made every
    run compile them from source) and its compiled-template cache warm (every run after the first).
    Returns the environment the fleetbench runs get (their own cache folder)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "fleetbench")], check=True)
    env = {"XDG_CACHE_HOME": str(workdir / "cache")}
    subprocess.run([sys.executable, "-c", "from fleetbench.report import html; "
                    "html.environment().get_template('report.html.j2')"], check=True, cwd=ROOT, env={**os.environ, **env})
    return env


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


def _relayed(lab: Lab, workdir: Path, n: int) -> tuple[Path, Path, list[str], dict[str, str]]:
    """The relay's side of the lab: each node 127.90.x.y is reached as 127.93.x.y (same port),
    through bench/relay.py; an inventory and a known_hosts naming those addresses."""
    pairs = {a: RELAY_OCTETS + a.removeprefix(OCTETS) for a in (lab.address(s.name) for s in lab.specs)}
    kh = workdir / f"known_hosts.relay{n}"
    kh.write_text(lab.known_hosts_path.read_text().replace(f"[{OCTETS}", f"[{RELAY_OCTETS}"))
    inventory = workdir / f"inventory.relay{n}.yaml"
    text = lab.inventory_path.read_text().replace(f"address: {OCTETS}", f"address: {RELAY_OCTETS}")
    inventory.write_text(text.replace(f"known_hosts: {lab.known_hosts_path}", f"known_hosts: {kh}"))
    return inventory, kh, [pairs[a] for a in (lab.address(s.name) for s in lab.specs)], pairs


def start_relay(pairs: dict[str, str], port: int, delay: float) -> subprocess.Popen[bytes]:
    """bench/relay.py in processes of its own (its CPU is not charged to the tools); returns once bound."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "relay.py"), "--port", str(port), "--delay",
                             f"{delay:g}", "--processes", "2", *(f"{b}={a}" for a, b in pairs.items())],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        proc.kill()
        raise SystemExit("the delaying relay did not start")
    return proc


def stop_relay(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()                # the relay ends when its stdin closes
    proc.wait(10)


def fleetbench_run(label: str, inventory: Path, n: int, concurrency: int, out: Path, db: Path) -> Run:
    return measure(label, [sys.executable, "-m", "fleetbench", "scan", str(inventory), "--quiet",
                           "--out-dir", str(out), "--format", "json,html,csv,junit",
                           "--db", str(db),   # recorded, as a nightly run is
                           "--concurrency", str(concurrency), "--handshakes", str(concurrency)],
                   n, 1, lambda o, e: _assessed(out))


def _assessed(out: Path) -> int:
    data = json.loads((out / "latest" / "report.json").read_text())
    return sum(1 for h in data["hosts"] if h["status"] == "ok")


def bench(n: int, concurrency: int, ansible: Path | None, workdir: Path, rtt: float,
          per_check: bool, per_check_ssh: bool = False) -> tuple[Run, Run, list[Run], float, int]:
    """At N workers: fleetbench straight to the nodes (client CPU), then every tool through the relay."""
    specs = [kubeadm_worker(f"w{i:03d}") for i in range(n)]
    with Lab(workdir / f"lab{n}", specs, first_octets=OCTETS + "0.", first_host=10) as lab:
        source, checks = probe_script(lab.inventory_path)
        script = workdir / "probe.sh"
        script.write_text(source)
        key, port = str(lab.client_key_path), lab.port
        progress(f"{n} hosts: fleetbench, no added latency (client CPU)")
        direct = fleetbench_run("fleetbench (no added RTT)", lab.inventory_path, n, concurrency,
                                workdir / f"out{n}", workdir / f"history{n}.db")
        progress(f"{n} hosts: asyncssh alone, no added latency (the floor of a Python SSH client's CPU)")
        alone = measure("asyncssh alone (connect, run the probe, read its output; nothing else)",
                        [sys.executable, "-c", ASYNCSSH_ALONE, ",".join(lab.address(s.name) for s in specs), str(port), key,
                         str(lab.known_hosts_path), str(concurrency), str(script)],
                        n, 1, lambda o, e: int(o.decode().strip() or 0))
        inventory, kh_path, addresses, pairs = _relayed(lab, workdir, n)
        kh = str(kh_path)
        relay = start_relay(pairs, port, rtt / 2)
        try:
            runs = []
            progress(f"{n} hosts, {1000 * rtt:g} ms RTT: fleetbench")
            runs.append(fleetbench_run("fleetbench", inventory, n, concurrency, workdir / f"out{n}-rtt",
                                       workdir / f"history{n}-rtt.db"))
            progress(f"{n} hosts, {1000 * rtt:g} ms RTT: OpenSSH fan-out")
            ssh = (f"ssh -F none -i {key} -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes "
                   f"-o BatchMode=yes -p {port} root@\"$1\" 'sh -s' < {script} > /dev/null && echo ok")
            hostlist = workdir / "hosts.txt"
            hostlist.write_text("\n".join(addresses) + "\n")
            runs.append(measure("OpenSSH fan-out (xargs -P ssh)", ["xargs", "-P", str(concurrency), "-n", "1", "sh", "-c", ssh, "_"],
                                n, 1, lambda o, e: o.decode().count("ok"), stdin=hostlist))
            if ansible is not None:
                progress(f"{n} hosts, {1000 * rtt:g} ms RTT: ansible-core")
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
            if per_check:
                progress(f"{n} hosts, {1000 * rtt:g} ms RTT: one exec per check (the long one)")
                runs.append(measure(f"one exec per check ({checks}/host)", [sys.executable, "-c", PER_CHECK, ",".join(addresses),
                                                                          str(port), key, kh, str(concurrency), str(checks),
                                                                          json.dumps(PER_CHECK_COMMANDS)],
                                    n, checks, lambda o, e: int(o.decode().strip() or 0)))
            if per_check_ssh:
                progress(f"{n} hosts, {1000 * rtt:g} ms RTT: one ssh per check, no connection reuse (the longest)")
                per_ssh = per_check_ssh_script(workdir, checks, f"ssh -F none -i {key} -o UserKnownHostsFile={kh} "
                                               f"-o StrictHostKeyChecking=yes -o BatchMode=yes -p {port} root@\"$1\"")
                runs.append(measure(f"one ssh per check ({checks}/host, no reuse)",
                                    ["xargs", "-P", str(concurrency), "-n", "1", "sh", str(per_ssh)],
                                    n, checks, lambda o, e: o.decode().count("ok"), stdin=hostlist))
        finally:
            stop_relay(relay)
        node_cpu = min(node_probe_cpu(lab, specs[0].name, source) for _ in range(5))
    return direct, alone, runs, node_cpu, checks


def control_plane_probe_cpu(workdir: Path) -> tuple[float, int]:
    """CPU the probe costs a kubeadm control-plane node (apiserver, controller-manager, scheduler,
    etcd, kubelet: the largest probe), and its size in bytes. The cluster query is not part of it."""
    address = f"{OCTETS}250.10"
    with Lab(workdir / "labcp", [kubeadm_control_plane("cp-1", address=address)], first_octets=f"{OCTETS}250.",
             first_host=10) as lab:
        source, _ = probe_script(lab.inventory_path)
        return min(node_probe_cpu(lab, "cp-1", source) for _ in range(5)), len(source)


@dataclass
class Big:
    hosts: int
    run: Run
    refused: int                       # hosts whose connection was refused, reset or lost
    dropped: int                       # sshd log lines: MaxStartups throttling, dropped connections
    lab_start: float                   # seconds to start the lab
    lab_mib: float                     # memory of the lab's processes (sum of PSS)


def _lab_mib(lab: Lab) -> float:
    """Memory of the lab's processes (every node's launcher and all below it): the sum of their
    proportional set sizes (shared pages split among the processes sharing them)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(entry))
    todo = [record["launcher"]["pid"] for record in lab._load_state().values()]
    total = 0
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def big_run(n: int, concurrency: int, workdir: Path) -> Big:
    """N workers (beyond one /24: 127.90.10.10 onwards), one fleetbench scan straight to them."""
    specs = [kubeadm_worker(f"b{i:04d}") for i in range(n)]
    t0 = time.monotonic()
    lab = Lab(workdir / f"lab{n}", specs, first_octets=OCTETS + "0.", first_host=10)
    lab.start(timeout=max(30, n / 5))
    try:
        started, taken = time.monotonic() - t0, _lab_mib(lab)
        progress(f"{n} hosts: lab up in {started:.0f} s; fleetbench scanning")
        out = workdir / f"out{n}"
        run = fleetbench_run("fleetbench", lab.inventory_path, n, concurrency, out, workdir / f"history{n}.db")
        data = json.loads((out / "latest" / "report.json").read_text())
        refused = sum(1 for h in data["hosts"] if h["status"] != "ok"
                      and any(w in (h.get("error") or "") for w in ("refused", "reset", "lost")))
        dropped = sum(len(re.findall(r"MaxStartups|drop connection", (workdir / f"lab{n}" / "nodes" / s.name / "sshd.log")
                                     .read_text(errors="replace"))) for s in specs)
    finally:
        lab.stop()
    return Big(n, run, refused, dropped, started, taken)


def table(n: int, runs: list[Run]) -> str:
    base = runs[0]
    rows = [["tool", "hosts ok", "wall s", "hosts/s", "client CPU ms/host", "peak RSS MiB", "round trips/host",
             "wall ÷ fleetbench", "CPU ÷ fleetbench"]]
    for r in runs:
        rows.append([r.tool, f"{r.ok}/{n}", f"{r.wall:.1f}", f"{n / r.wall:.1f}", f"{1000 * r.cpu / n:.1f}",
                     f"{r.rss_mib:.0f}", f"{r.round_trips:g}", f"{r.wall / base.wall:.2f}", f"{r.cpu / base.cpu:.2f}"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    return "\n".join(lines)


def goal(text: str, met: bool) -> str:
    return f"  [{'goal met' if met else 'MISSED'}] {text}"


def progress(text: str) -> None:
    print(f"... {time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", default="200", help="fleet sizes of the comparison, comma-separated (default 200)")
    ap.add_argument("--big", type=int, default=1000, help="the large fleet, fleetbench alone (default 1000; 0: skip)")
    ap.add_argument("--rtt-ms", type=float, default=50.0, help="round trip added by the relay (default 50)")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--no-ansible", action="store_true", help="skip the ansible-core baseline")
    ap.add_argument("--no-per-check", action="store_true", help="skip the (slow) one-exec-per-check baseline")
    ap.add_argument("--per-check-ssh", action="store_true",
                    help="add one ssh per check without connection reuse (very slow: about 130 ms of client CPU per "
                         "check here; README uses it at 20 hosts)")
    ap.add_argument("--ansible", default=shutil.which("ansible") or str(Path(sys.executable).with_name("ansible")))
    args = ap.parse_args()
    ansible = None if args.no_ansible or not Path(args.ansible).exists() else Path(args.ansible)
    rtt = args.rtt_ms / 1000
    print(f"machine: {os.cpu_count()} cores; every lab host shares them; concurrency {args.concurrency}")
    if ansible is None:
        print("ansible-core not found: skipping that baseline (make bench installs it)")
    goals: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fleetbench-bench-") as tmp:
        os.environ.update(as_installed(Path(tmp)))
        for n in (int(x) for x in args.hosts.split(",")):
            direct, alone, runs, node_cpu, checks = bench(n, args.concurrency, ansible, Path(tmp), rtt, not args.no_per_check,
                                                          args.per_check_ssh)
            per_host = 1000 * direct.cpu / n
            print(f"\n{n} hosts, {checks} controls per worker, fleetbench straight to the nodes: {direct.ok}/{n} "
                  f"assessed, wall {direct.wall:.1f} s, client CPU {per_host:.1f} ms/host (all included: start, "
                  f"imports, catalog, SSH, evaluation, json/html/csv/junit, history database), peak RSS "
                  f"{direct.rss_mib:.0f} MiB")
            alone_ms = 1000 * alone.cpu / n
            print(f"asyncssh alone, the same hosts and concurrency (connect, run the probe, read its output, nothing "
                  f"else): {alone.ok}/{n}, client CPU {alone_ms:.1f} ms/host; fleetbench takes "
                  f"{direct.cpu / alone.cpu:.1f}× that")
            print(f"\n{n} hosts through the delaying relay ({args.rtt_ms:g} ms round trip, every tool alike):")
            print(table(n, runs))
            print(f"probe CPU on a worker node: {1000 * node_cpu:.0f} ms (user+sys of the whole script)")
            sys.stdout.flush()
            if n == 200:
                goals.append(goal(f"client CPU at 200 hosts: {per_host:.1f} ms/host (goal ≤ 8)", per_host <= 8))
                # the figures: 8 ms where asyncssh alone takes about 3 ms, i.e. ≤ 2.7× asyncssh alone on
                # the machine at hand (this one may be slower or faster than the one those figures came from)
                goals.append(goal(f"client CPU at 200 hosts relative to asyncssh alone on this machine: "
                                  f"{direct.cpu / alone.cpu:.1f}× (the goal's 8 ms against asyncssh's ~3 ms: ≤ 2.7×)",
                                  direct.cpu / alone.cpu <= 8 / 3))
                fb = runs[0]
                for r in runs[1:]:
                    want = 3 if r.tool.startswith("ansible") else 20 if r.tool.startswith("one exec") else None
                    if want is not None:
                        ratio = r.wall / fb.wall
                        goals.append(goal(f"{args.rtt_ms:g} ms RTT, 200 hosts: {r.tool} takes {ratio:.1f}× "
                                          f"fleetbench's wall time (goal ≥ {want}×)", ratio >= want and r.ok == n))
                    elif r.tool.startswith("one ssh"):   # beside the goal, not instead of it
                        goals.append(f"  [measured] {args.rtt_ms:g} ms RTT, 200 hosts: {r.tool} takes "
                                     f"{r.wall / fb.wall:.1f}× fleetbench's wall time ({r.ok}/{n} hosts)")
        progress("control-plane node: probe CPU")
        cp_cpu, cp_size = control_plane_probe_cpu(Path(tmp))
        print(f"\nprobe CPU on a control-plane node (apiserver, controller-manager, scheduler, etcd, kubelet): "
              f"{1000 * cp_cpu:.0f} ms (user+sys of the whole script; script {cp_size:,} bytes)")
        goals.append(f"  [measured] control-plane probe: {1000 * cp_cpu:.0f} ms of node CPU")
        if args.big:
            big = big_run(args.big, args.concurrency, Path(tmp))
            r = big.run
            print(f"\n{big.hosts} hosts (lab up in {big.lab_start:.0f} s, its processes {big.lab_mib:,.0f} MiB "
                  f"PSS): fleetbench {r.ok}/{big.hosts} assessed, wall {r.wall:.1f} s, client CPU "
                  f"{1000 * r.cpu / big.hosts:.1f} ms/host, peak RSS {r.rss_mib:.0f} MiB; refused/reset "
                  f"connections: {big.refused} hosts, {big.dropped} MaxStartups/drop lines in the nodes' sshd logs")
            goals.append(goal(f"{big.hosts} hosts: {r.ok}/{big.hosts} assessed, peak RSS {r.rss_mib:.0f} MiB (goal ≤ 150), "
                              f"{big.refused + big.dropped} refused connections (goal 0)",
                              r.ok == big.hosts and r.rss_mib <= 150 and big.refused + big.dropped == 0))
    print("\nGoals (issue 18; figures of this one run):")
    print("\n".join(goals))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
