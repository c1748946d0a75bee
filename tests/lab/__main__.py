"""Command line for the loopback lab.

    python -m tests.lab up     [--state DIR] [--port N]   start cp-1, worker-1, worker-2
    python -m tests.lab status [--state DIR]              what is running
    python -m tests.lab down   [--state DIR]              stop it

``up`` returns once every node answers SSH and leaves the nodes running in
the background (their PIDs are recorded in the state dir, ``<repo>/.lab`` by
default), so a scanner can be pointed at ``<state>/inventory.yaml`` by hand.
It also starts the lab cluster's read-only API (``tests/lab/kubeapi.py``, the
recorded cluster with planted section-5 violations) on 127.77.1.1, which cp-1's
admin.conf points at, so section 5 is decided for the lab's cluster; ``down``
ends it by the PID recorded in ``<state>/kubeapi.pid``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.lab.lab import Lab, LabError, NodeStatus
from tests.lab.scenarios import default_specs

API_ADDRESS = "127.77.1.1"
API_CLUSTER = "planted"

DEFAULT_STATE = Path(__file__).resolve().parents[2] / ".lab"


def _describe(node: NodeStatus) -> str:
    state = f"up (pid {node.init_pid})" if node.running else "down"
    ssh = "ssh ok" if node.ssh else "ssh closed"
    return (
        f"{node.name:<10} {node.address}:{node.port:<6} {node.role_group:<14} "
        f"{state:<16} {ssh:<10} {' '.join(node.procs)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description="the fleetbench loopback lab")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("up", "start the default lab"), ("down", "stop it"), ("status", "show it")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--state", type=Path, default=DEFAULT_STATE, help=f"state dir (default {DEFAULT_STATE})")
        if name == "up":
            sub.add_argument("--port", type=int, default=2222, help="sshd port on every node (default 2222)")
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            began = time.monotonic()
            api_url = _start_api(args.state)
            lab = Lab(args.state, default_specs("127.77.0.10", api_url=api_url), port=args.port)
            lab.start()
            print(f"cluster API (read-only, recorded '{API_CLUSTER}' cluster): {api_url}")
            print(f"inventory: {lab.inventory_path}")
            for node in lab.status():
                print(_describe(node))
            print(f"{len(lab.specs)} nodes up in {time.monotonic() - began:.1f}s; stop with: python -m tests.lab down")
        elif args.command == "down":
            lab = Lab(args.state)
            running = sum(node.running for node in lab.status())
            lab.stop()
            _stop_api(args.state)
            print(f"stopped {running} running node(s) recorded in {args.state}")
        else:
            nodes = Lab(args.state).status()
            if not nodes:
                print(f"no lab recorded in {args.state}")
                return 1
            for node in nodes:
                print(_describe(node))
            return 0 if all(n.running and n.ssh for n in nodes) else 3
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    return 0


def _start_api(state: Path) -> str:
    """Start the lab cluster's API detached (it outlives this command); return its URL."""
    state.mkdir(parents=True, exist_ok=True)
    _stop_api(state)
    url_file = state / "kubeapi.url"
    url_file.unlink(missing_ok=True)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "tests.lab.kubeapi", API_ADDRESS, API_CLUSTER, str(url_file)],
                            cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    (state / "kubeapi.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 10
    while not url_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise LabError(f"the lab cluster API did not start on {API_ADDRESS}")
        time.sleep(0.05)
    return url_file.read_text().strip()


def _stop_api(state: Path) -> None:
    """End the API this lab started, by its recorded PID (and only if that PID is still our server)."""
    pid_file = state / "kubeapi.pid"
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        pid_file.unlink(missing_ok=True)
        return
    if b"tests.lab.kubeapi" in cmdline:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.05)
    pid_file.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
