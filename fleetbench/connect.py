"""Host → one SSH connection → one exec of ``sh -s`` with the probe script on stdin.

The only module that talks SSH. Per host: one connection, one channel, one round trip.
Connection options are built once per distinct SSH setting (known_hosts and keys are read
once per scan, not per host); jump hosts are opened once and shared by every host behind them.

What can go wrong is mapped to a :class:`~fleetbench.errors.HostStatus` in one table
(:func:`classify`), so every failure reads the same in every report:

=========================================  ==================  =========
error                                      status              retried
=========================================  ==================  =========
connection refused, no route, DNS failure  unreachable         no
connection reset/lost during handshake     unreachable         yes (3×)
no answer within --connect-timeout         timeout             no
authentication refused                     auth-failed         never
host key unknown or changed                host-key-mismatch   never
sudo refuses / garbled / oversized output  error               no
=========================================  ==================  =========
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .errors import HostError, HostStatus
from .models import Host, SSHSettings

MAX_OUTPUT_BYTES = 32 << 20             #: per host; a node printing more is not assessed
_MAX_STDERR = 64 << 10
_TRANSIENT = (asyncssh.ConnectionLost, ConnectionResetError, BrokenPipeError)


class HostFailure(Exception):
    """Raised inside the per-host pipeline; the runner turns it into a HostError value."""

    def __init__(self, status: HostStatus, reason: str) -> None:
        super().__init__(reason)
        self.error = HostError(status, reason)


@dataclass(frozen=True, slots=True)
class Batch:
    stdout: bytes
    stderr: bytes
    exit_status: int | None


@dataclass(frozen=True, slots=True)
class Settings:
    """Scan-wide transport settings (command-line flags)."""

    connect_timeout: float = 10.0
    verify_host_keys: bool = True
    max_output: int = MAX_OUTPUT_BYTES


def _expand(path: str) -> str:
    return os.path.expanduser(path)


def _jump_parts(jump: str) -> tuple[str | None, str, int | None]:
    user, _, rest = jump.rpartition("@")
    host, port = rest, None
    if rest.startswith("["):                       # [v6addr]:port
        host, _, tail = rest[1:].partition("]")
        port = int(tail[1:]) if tail.startswith(":") else None
    elif rest.count(":") == 1:
        host, _, p = rest.partition(":")
        port = int(p)
    return user or None, host, port


class Connector:
    """Opens connections for one scan; caches options and jump connections."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._options: dict[SSHSettings, asyncssh.SSHClientConnectionOptions] = {}
        self._jumps: dict[tuple[str, SSHSettings], asyncio.Task[asyncssh.SSHClientConnection]] = {}
        self._parsed_known_hosts: dict[str, asyncssh.SSHKnownHosts] = {}

    def _known_hosts(self, path: str) -> asyncssh.SSHKnownHosts:
        """Parse a known_hosts file once per scan (asyncssh would re-read a path per connection)."""
        if path not in self._parsed_known_hosts:
            try:
                self._parsed_known_hosts[path] = asyncssh.read_known_hosts(path)
            except OSError as exc:
                raise HostFailure(HostStatus.HOST_KEY_MISMATCH,
                                  f"cannot read known_hosts file {path} ({exc.strerror}); host keys cannot be verified") from None
        return self._parsed_known_hosts[path]

    def options(self, ssh: SSHSettings) -> asyncssh.SSHClientConnectionOptions:
        if ssh not in self._options:
            kwargs: dict[str, Any] = {"connect_timeout": ssh.connect_timeout or self.settings.connect_timeout}
            if not self.settings.verify_host_keys:
                kwargs["known_hosts"] = None
            elif ssh.known_hosts:
                kwargs["known_hosts"] = self._known_hosts(_expand(ssh.known_hosts))
            if ssh.key_files:
                kwargs["client_keys"] = [_expand(k) for k in ssh.key_files]
            if ssh.user:
                kwargs["username"] = ssh.user
            if ssh.port:
                kwargs["port"] = ssh.port
            if ssh.ssh_config is not None:
                kwargs["config"] = None if ssh.ssh_config.lower() == "none" else [_expand(ssh.ssh_config)]
            try:
                self._options[ssh] = asyncssh.SSHClientConnectionOptions(**kwargs)
            except (OSError, asyncssh.Error, ValueError) as exc:
                raise HostFailure(HostStatus.ERROR, f"bad SSH settings: {exc}") from None
        return self._options[ssh]

    async def _jump(self, host: Host) -> asyncssh.SSHClientConnection | None:
        if not host.ssh.jump:
            return None
        key = (host.ssh.jump, host.ssh)
        if key not in self._jumps:
            user, address, port = _jump_parts(host.ssh.jump)
            jump_settings = SSHSettings(port=port, user=user, key_files=host.ssh.key_files,
                                        known_hosts=host.ssh.known_hosts, ssh_config=host.ssh.ssh_config,
                                        connect_timeout=host.ssh.connect_timeout)
            self._jumps[key] = asyncio.ensure_future(
                asyncssh.connect(address, options=self.options(jump_settings)))
        try:
            return await asyncio.shield(self._jumps[key])
        except Exception as exc:  # noqa: BLE001 - every failure of the jump host is this host's failure
            failure = classify(exc, host.ssh.jump, self.settings)
            raise HostFailure(failure.status, f"jump host {host.ssh.jump}: {failure.reason}") from None

    async def connect(self, host: Host) -> asyncssh.SSHClientConnection:
        options = self.options(host.ssh)
        tunnel = await self._jump(host)
        try:
            async for attempt in AsyncRetrying(retry=retry_if_exception_type(_TRANSIENT), stop=stop_after_attempt(3),
                                               wait=wait_exponential(multiplier=0.2, max=2), reraise=True):
                with attempt:
                    return await asyncssh.connect(host.address, options=options, tunnel=tunnel or ())
        except HostFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - classified below, never lost
            failure = classify(exc, host.address, self.settings, host)
            raise HostFailure(failure.status, failure.reason) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        for task in self._jumps.values():
            if task.done() and not task.cancelled() and task.exception() is None:
                task.result().close()
        self._jumps.clear()


async def run_script(conn: asyncssh.SSHClientConnection, command: str, script: str, max_output: int) -> Batch:
    """Run ``command`` with ``script`` on stdin; collect at most ``max_output`` bytes of stdout."""
    try:
        process = await conn.create_process(command, encoding=None)
    except asyncssh.ChannelOpenError as exc:
        raise HostFailure(HostStatus.ERROR, f"could not open a session channel: {exc.reason}") from None
    process.stdin.write(script.encode())
    process.stdin.write_eof()
    stdout = bytearray()
    stderr = bytearray()

    async def drain_err() -> None:
        while chunk := await process.stderr.read(65536):
            if len(stderr) < _MAX_STDERR:
                stderr.extend(chunk[: _MAX_STDERR - len(stderr)])

    err_task = asyncio.ensure_future(drain_err())
    try:
        while chunk := await process.stdout.read(65536):
            stdout.extend(chunk)
            if len(stdout) > max_output:
                process.close()
                raise HostFailure(HostStatus.ERROR, f"the probe printed more than {max_output // (1 << 20)} MiB; "
                                                    "output cap reached, host not assessed")
        await process.wait_closed()
        await err_task
    finally:
        err_task.cancel()
    return Batch(bytes(stdout), bytes(stderr), process.exit_status)


def classify(exc: BaseException, target: str, settings: Settings, host: Host | None = None) -> HostError:
    """One table from exceptions to a host status and a readable reason."""
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return HostError(HostStatus.HOST_KEY_MISMATCH, _host_key_reason(target, host))
    if isinstance(exc, asyncssh.PermissionDenied):
        return HostError(HostStatus.AUTH_FAILED, f"authentication refused by {target}: {exc.reason}")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return HostError(HostStatus.TIMEOUT, f"no SSH answer from {target} within the connect timeout "
                                             f"({settings.connect_timeout:g}s)")
    if isinstance(exc, ConnectionRefusedError):
        return HostError(HostStatus.UNREACHABLE, f"connection refused by {target} (nothing listening on the SSH port)")
    if isinstance(exc, socket.gaierror):
        return HostError(HostStatus.UNREACHABLE, f"cannot resolve {target}: {exc.strerror}")
    if isinstance(exc, asyncssh.ConnectionLost):
        return HostError(HostStatus.UNREACHABLE, f"connection to {target} lost: {exc.reason}")
    if isinstance(exc, asyncssh.DisconnectError):
        return HostError(HostStatus.ERROR, f"{target} closed the SSH connection: {exc.reason}")
    if isinstance(exc, OSError):
        return HostError(HostStatus.UNREACHABLE, f"cannot connect to {target}: {exc.strerror or exc}")
    if isinstance(exc, (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError)):
        return HostError(HostStatus.ERROR, f"bad SSH client setting: {exc}")
    return HostError(HostStatus.ERROR, f"{type(exc).__name__}: {exc}")


def _host_key_reason(target: str, host: Host | None) -> str:
    """Tell an unknown host from a changed key: the fix differs (add it vs investigate)."""
    path = Path(_expand(host.ssh.known_hosts)) if host and host.ssh.known_hosts else Path.home() / ".ssh" / "known_hosts"
    try:
        known = asyncssh.read_known_hosts(str(path))
        port = host.ssh.port if host and host.ssh.port else 22
        keys = known.match(target, "", port)[0] if known else []
    except (OSError, ValueError, asyncssh.Error):
        keys = []
    if keys:
        return (f"host key of {target} does not match {path}: the key CHANGED since it was recorded "
                "(a reinstalled node, or someone in the middle); not scanned")
    return f"host key of {target} is not in {path} (unknown host); add it with ssh-keyscan after checking it"
