"""A delaying TCP relay: round-trip time between the jump host and the lab's nodes, without netem.

This kernel has no ``tc netem``, so the benchmark puts this relay in front of every node's sshd:
it listens on ``LISTEN:PORT`` for each ``LISTEN=TARGET`` pair and forwards both directions to
``TARGET:PORT``, holding every chunk for ``--delay`` seconds (25 ms each way: a 50 ms round trip)
before passing it on, in the order it arrived. Every tool of the benchmark goes through it alike.

It runs as processes of its own (``--processes``, each serving a share of the pairs on its own
asyncio loop), so its CPU is not charged to the tool being measured. Loopback only (127.0.0.0/8).

Usage: ``python bench/relay.py --delay 0.025 --port 2330 127.93.0.10=127.90.0.10 ...``; prints
``ready`` on stdout once every listener is bound; ends on SIGTERM or when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import multiprocessing
import os
import signal
import sys
import time
from collections import deque

CHUNK = 65536


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy reader → writer, each chunk released ``delay`` after it was read, in order.

    Reading goes on while earlier chunks wait, so a burst is delayed once, not once per chunk
    (bandwidth is not throttled: only latency is added)."""
    loop = asyncio.get_running_loop()
    queue: deque[tuple[float, bytes]] = deque()
    ready = asyncio.Event()
    done = False

    async def release() -> None:
        while True:
            while not queue:
                if done:
                    return
                ready.clear()
                await ready.wait()
            due, data = queue.popleft()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data:
                writer.write(data)
                await writer.drain()
            else:
                if writer.can_write_eof():
                    writer.write_eof()
                return

    sender = asyncio.ensure_future(release())
    try:
        while True:
            data = await reader.read(CHUNK)
            queue.append((loop.time() + delay, data))
            ready.set()
            if not data:
                break
        done = True
        ready.set()
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
        writer.close()
    finally:
        done = True
        ready.set()


async def _serve(pairs: list[tuple[str, str]], port: int, delay: float, started: multiprocessing.synchronize.Event
                 ) -> None:
    async def handle(target: str, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(target, port)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(_pump(client_r, server_w, delay), _pump(server_r, client_w, delay))
        finally:
            for w in (client_w, server_w):
                w.close()

    servers = []
    for listen, target in pairs:
        servers.append(await asyncio.start_server(lambda r, w, t=target: handle(t, r, w), listen, port,
                                                  backlog=1024, reuse_address=True))
    started.set()
    await asyncio.Event().wait()          # until the process is ended


def _child(pairs: list[tuple[str, str]], port: int, delay: float, started: multiprocessing.synchronize.Event) -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(_serve(pairs, port, delay, started))


def _loopback(address: str) -> str:
    if not ipaddress.ip_address(address).is_loopback:
        raise SystemExit(f"relay: {address} is not a loopback address (127.0.0.0/8 only)")
    return address


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--delay", type=float, default=0.025, help="seconds added each way (default 0.025)")
    ap.add_argument("--port", type=int, required=True, help="the port listened on and connected to")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("pairs", nargs="+", metavar="LISTEN=TARGET")
    args = ap.parse_args()
    pairs = [(_loopback(a), _loopback(b)) for a, b in (p.split("=", 1) for p in args.pairs)]
    n = max(1, min(args.processes, len(pairs)))
    ctx = multiprocessing.get_context("fork")
    children = []
    for i in range(n):
        started = ctx.Event()
        proc = ctx.Process(target=_child, args=(pairs[i::n], args.port, args.delay, started), daemon=True)
        proc.start()
        children.append((proc, started))
    deadline = time.monotonic() + 60
    for _proc, started in children:
        if not started.wait(max(0.0, deadline - time.monotonic())):
            for p, _ in children:
                p.terminate()
            raise SystemExit("relay: a listener did not start")
    print("ready", flush=True)

    def stop(*_: object) -> None:
        for p, _ in children:
            p.terminate()
        for p, _ in children:
            p.join(5)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    sys.stdin.read()                      # the benchmark closes our stdin (or ends us) when done
    stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
