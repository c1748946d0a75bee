"""Command line for the loopback lab.

    python -m tests.lab up     [--state DIR] [--port N]   start cp-1, worker-1, worker-2
    python -m tests.lab status [--state DIR]              what is running
    python -m tests.lab down   [--state DIR]              stop it

``up`` returns once every node answers SSH and leaves the nodes running in
the background (their PIDs are recorded in the state dir, ``<repo>/.lab`` by
default), so a scanner can be pointed at ``<state>/inventory.yaml`` by hand.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.lab.lab import Lab, LabError, NodeStatus

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
            lab = Lab(args.state, port=args.port)
            began = time.monotonic()
            lab.start()
            print(f"inventory: {lab.inventory_path}")
            for node in lab.status():
                print(_describe(node))
            print(f"{len(lab.specs)} nodes up in {time.monotonic() - began:.1f}s; stop with: python -m tests.lab down")
        elif args.command == "down":
            lab = Lab(args.state)
            running = sum(node.running for node in lab.status())
            lab.stop()
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


if __name__ == "__main__":
    sys.exit(main())
