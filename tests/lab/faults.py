"""The fault lab: hosts that break in the ways real fleets break, next to healthy ones.

Nodes (real sshd, see :mod:`tests.lab.lab`), each a kubeadm worker with one thing wrong:

- :func:`hanging_worker`: ``stat`` never returns, like a stat on a stuck NFS mount (its
  ``/usr/local/bin/stat`` blocks reading a FIFO nobody writes);
- :func:`slow_worker`: ``stat`` takes a few seconds, then answers;
- :func:`dropping_worker`: the connection drops while the probe runs (its sshd is killed);
- :func:`flooding_worker`: the login shell prints 100 MB before anything runs;
- :func:`token_worker`: the kubelet's argv carries a bootstrap token (a drop-in gone wrong);
- :func:`sudo_worker`: the scanning user may only ``sudo`` with a password.

Listeners on loopback that are not sshd at all:

- :class:`SilentListener`: accepts TCP and never says a word;
- :class:`StallingListener`: sends an SSH banner, then stalls mid-handshake.
"""

from __future__ import annotations

import selectors
import socket
import threading
from types import TracebackType

from tests.lab.scenarios import CONTROL_PLANE_ADDRESS, kubeadm_worker
from tests.lab.specs import FileSpec, NodeSpec

STUCK_FIFO = "/var/lib/fleetbench-stuck.fifo"
BOOTSTRAP_TOKEN = "abcdef.0123456789abcdef"


def _with_stat(spec: NodeSpec, script: str) -> NodeSpec:
    """Put a ``stat`` wrapper first in PATH (sshd's default PATH starts with /usr/local/bin)."""
    spec.files.append(FileSpec("/usr/local/bin/stat", "#!/bin/sh\n" + script, 0o755))
    return spec


def hanging_worker(name: str, *, api_server: str = CONTROL_PLANE_ADDRESS) -> NodeSpec:
    spec = kubeadm_worker(name, api_server=api_server)
    spec.files.append(FileSpec(STUCK_FIFO, kind="fifo", mode=0o600))
    return _with_stat(spec, f"# stands in for a stat stuck on a dead NFS server\nexec cat {STUCK_FIFO}\n")


def slow_worker(name: str, *, seconds: float = 2.0, api_server: str = CONTROL_PLANE_ADDRESS) -> NodeSpec:
    return _with_stat(kubeadm_worker(name, api_server=api_server),
                      f"# a loaded node: every stat waits\nsleep {seconds}\nexec /usr/bin/stat \"$@\"\n")


def dropping_worker(name: str, *, api_server: str = CONTROL_PLANE_ADDRESS) -> NodeSpec:
    """The node's sshd dies while the probe runs: `stat` kills the sshd serving its own session."""
    return _with_stat(kubeadm_worker(name, api_server=api_server), """# sshd dies mid-run
p=$$
while [ "$p" -gt 1 ]; do
  read -r c < "/proc/$p/comm"
  if [ "$c" = sshd ]; then kill -9 "$p"; exit 1; fi
  while read -r k v; do [ "$k" = PPid: ] && p=$v && break; done < "/proc/$p/status"
done
exit 1
""")


def flooding_worker(name: str, *, megabytes: int = 100, api_server: str = CONTROL_PLANE_ADDRESS) -> NodeSpec:
    spec = kubeadm_worker(name, api_server=api_server)
    spec.files.append(FileSpec("/root/.bashrc", f"# a login script gone mad\nhead -c {megabytes * 1024 * 1024} /dev/zero | tr '\\0' x\n", 0o644))
    return spec


def token_worker(name: str, *, api_server: str = CONTROL_PLANE_ADDRESS) -> NodeSpec:
    spec = kubeadm_worker(name, api_server=api_server)
    spec.procs[0].argv.append(f"--token={BOOTSTRAP_TOKEN}")   # argv text only; nothing is contacted
    spec.procs[0].env["KUBELET_EXTRA_ARGS"] = f"--token={BOOTSTRAP_TOKEN}"
    return spec


def sudo_worker(name: str, *, api_server: str = CONTROL_PLANE_ADDRESS) -> NodeSpec:
    """'auditor' is allowed sudo, but only with a password: `sudo -n` must refuse."""
    spec = kubeadm_worker(name, api_server=api_server)
    spec.files.append(FileSpec("/etc/sudoers.d/auditor", "auditor ALL=(ALL) ALL\n", 0o440))
    return spec


class _Listener:
    """A TCP listener on a loopback address, served by a daemon thread; closes everything on exit."""

    greeting = b""

    def __init__(self, address: str, port: int) -> None:
        if not address.startswith("127."):
            raise ValueError("fault listeners only bind loopback addresses")
        self.address, self.port = address, port
        self._sock = socket.create_server((address, port))
        self._sock.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._sock, selectors.EVENT_READ)
        self._peers: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"{type(self).__name__}-{address}", daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                if key.fileobj is self._sock:
                    try:
                        peer, _ = self._sock.accept()
                    except BlockingIOError:
                        continue
                    if self.greeting:
                        peer.sendall(self.greeting)
                    peer.setblocking(False)
                    self._peers.append(peer)
                    self._selector.register(peer, selectors.EVENT_READ)
                else:
                    peer = key.fileobj
                    assert isinstance(peer, socket.socket)
                    try:
                        data = peer.recv(65536)         # read and ignore what the client says
                    except OSError:
                        data = b""
                    if not data:
                        self._selector.unregister(peer)
                        peer.close()
                        self._peers.remove(peer)

    def __enter__(self) -> _Listener:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for peer in self._peers:
            peer.close()
        self._selector.close()
        self._sock.close()


class SilentListener(_Listener):
    """Accepts the TCP connection and never speaks: a wedged daemon, a firewall tarpit."""


class StallingListener(_Listener):
    """Speaks the SSH banner, then nothing: an sshd stuck mid-handshake."""

    greeting = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
