"""In-process SSH servers on 127.0.0.1 for transport unit tests (asyncssh's own test style).

Each :class:`Server` is a real asyncssh server with a generated host key, listening on an
ephemeral loopback port. It counts what the transport cares about: TCP connections accepted,
SSH handshakes in flight (at most how many at once) and ``direct-tcpip`` forwards asked of it
(when it is a bastion). What a session does is one coroutine (``behaviour``), so a test says
in one line whether the "node" answers, floods, hangs or drops the connection.

:class:`Silent` and :class:`Dropper` are raw TCP listeners for the failures that happen before
any SSH is spoken (a port that never answers, a peer that resets during the handshake).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

Behaviour = Callable[[asyncssh.SSHServerProcess[bytes]], Awaitable[None]]


async def echo_ok(process: asyncssh.SSHServerProcess[bytes]) -> None:
    """Read the script from stdin to EOF, then print a canned line and exit 0."""
    await process.stdin.read()
    process.stdout.write(b"probe ran\n")
    process.exit(0)


@dataclass
class Counters:
    """What one server saw; shared by every connection it accepted."""

    connections: int = 0
    handshakes_in_flight: int = 0
    max_handshakes_in_flight: int = 0
    forwards: list[tuple[str, int]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


class _Handler(asyncssh.SSHServer):
    """Public-key auth against one authorized key; counts connections and handshakes."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._counted = False

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        c = self._server.counters
        c.connections += 1
        c.handshakes_in_flight += 1
        c.max_handshakes_in_flight = max(c.max_handshakes_in_flight, c.handshakes_in_flight)
        self._counted = True

    def _handshake_done(self) -> None:
        if self._counted:
            self._server.counters.handshakes_in_flight -= 1
            self._counted = False

    def auth_completed(self) -> None:
        self._handshake_done()

    def connection_lost(self, exc: Exception | None) -> None:
        self._handshake_done()

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self._server.disconnect_reason:
            raise asyncssh.DisconnectError(asyncssh.DISC_HOST_NOT_ALLOWED_TO_CONNECT, self._server.disconnect_reason)
        return key.public_data == self._server.authorized.public_data

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        self._server.counters.forwards.append((dest_host, dest_port))
        return self._server.forwarding


class Server:
    """One in-process sshd. Use as ``async with Server(client_key) as srv``."""

    def __init__(self, authorized: asyncssh.SSHKey, behaviour: Behaviour = echo_ok, *,
                 forwarding: bool = False, counters: Counters | None = None,
                 disconnect_reason: str | None = None) -> None:
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.authorized = authorized
        self.behaviour = behaviour
        self.forwarding = forwarding
        self.counters = counters or Counters()        #: pass one Counters to several servers to sum them
        self.disconnect_reason = disconnect_reason        #: hang up with this reason during auth
        self.port = 0
        self._acceptor: asyncssh.SSHAcceptor | None = None

    async def _process(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        self.counters.commands.append(process.command or "")
        try:
            await self.behaviour(process)
        finally:
            if not process.is_closing():
                process.exit(0)

    async def __aenter__(self) -> Server:
        self._acceptor = await asyncssh.create_server(
            lambda: _Handler(self), "127.0.0.1", 0, server_host_keys=[self.host_key],
            process_factory=self._process, encoding=None, allow_scp=False)
        self.port = self._acceptor.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._acceptor is not None
        self._acceptor.close()
        await self._acceptor.wait_closed()

    def known_hosts_line(self, host: str = "127.0.0.1") -> str:
        key = self.host_key.export_public_key().decode().strip()
        return f"[{host}]:{self.port} {key}\n"


class _Raw:
    """A raw TCP listener on 127.0.0.1 that counts accepted connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _on(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        await self.handle(reader, writer)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> _Raw:
        self._server = await asyncio.start_server(self._on, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.close()
        await self._server.wait_closed()


class Silent(_Raw):
    """Accepts the TCP connection and never says a word (a stalled sshd)."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()


class Dropper(_Raw):
    """Sends a valid SSH banner, then drops the connection during the handshake: a TCP reset
    (``reset=True``) or a plain close."""

    def __init__(self, reset: bool) -> None:
        super().__init__()
        self.reset = reset

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        await writer.drain()
        await reader.readline()                      # the client's banner
        if self.reset:
            writer.transport.abort()
            return
        length = int.from_bytes(await reader.readexactly(4), "big")
        await reader.readexactly(length)              # its KEXINIT: read, so the close is a clean FIN
        writer.close()


def write_key(path: Path, key: asyncssh.SSHKey) -> str:
    """Write a private key file (mode 0600) and return its path."""
    key.write_private_key(str(path))
    path.chmod(0o600)
    return str(path)
