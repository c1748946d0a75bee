"""The benchmark's own tools: lab addresses beyond one /24 (1,000 nodes) and the delaying relay.

Cheap smoke tests: no lab is started, and the relay forwards to an echo server of the test's own.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.lab import Lab, LabError, kubeadm_worker

ROOT = Path(__file__).resolve().parent.parent


def test_lab_addresses_continue_past_one_slash_24(tmp_path: Path) -> None:
    lab = Lab(tmp_path, [kubeadm_worker(f"w{i:03d}") for i in range(600)], first_octets="127.90.0.", first_host=10,
              port=2330)
    addresses = [lab.address(f"w{i:03d}") for i in range(600)]
    assert addresses[:2] == ["127.90.0.10", "127.90.0.11"]          # unchanged within the /24
    assert addresses[244:246] == ["127.90.0.254", "127.90.1.1"]      # .255 and .0 are skipped
    assert addresses[-1] == "127.90.2.101"            # 245 + 254 + 101
    assert len(set(addresses)) == 600


def test_lab_addresses_stay_in_loopback(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="127.0.0.0/8"):
        Lab(tmp_path, [kubeadm_worker("a"), kubeadm_worker("b")], first_octets="127.255.255.", first_host=254)
    with pytest.raises(LabError, match="127.0.0.0/8"):
        Lab(tmp_path, [kubeadm_worker("a")], first_octets="10.0.0.", first_host=1)


def _echo_server(address: str) -> tuple[socket.socket, int]:
    server = socket.create_server((address, 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_relay_forwards_in_order_with_its_delay() -> None:
    server, port = _echo_server("127.90.255.1")
    relay = subprocess.Popen([sys.executable, str(ROOT / "bench" / "relay.py"), "--port", str(port), "--delay", "0.05",
                              "--processes", "1", "127.93.255.1=127.90.255.1"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    try:
        assert relay.stdout is not None and relay.stdout.readline().strip() == b"ready"
        payload = bytes(range(256)) * 4096                 # 1 MiB: many chunks, their order must hold
        with socket.create_connection(("127.93.255.1", port), timeout=30) as conn:
            t0 = time.monotonic()
            sender = threading.Thread(target=lambda: (conn.sendall(payload), conn.shutdown(socket.SHUT_WR)))
            sender.start()
            received = bytearray()
            while data := conn.recv(65536):
                received.extend(data)
            elapsed = time.monotonic() - t0
            sender.join()
        assert bytes(received) == payload
        assert elapsed >= 0.1                              # a lower bound only: 50 ms each way is the floor
    finally:
        assert relay.stdin is not None
        relay.stdin.close()
        relay.wait(10)
        if relay.stdout is not None:
            relay.stdout.close()
        server.close()
