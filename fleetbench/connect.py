"""Host → one SSH connection → one exec of ``sh -s`` with the probe script on stdin.

The only module that talks SSH. Per host: one connection, one channel, one round trip.
Connection options are built once per distinct SSH setting (known_hosts and keys are read
once per scan, not per host); a bastion is connected to once per endpoint + credentials and
shared by every host behind it. Host keys are checked against files chosen here, never switched
off by an ssh config (see :meth:`Connector.known_hosts_files`).

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
the server disconnects (with its reason)   error               no
sudo refuses / garbled / oversized output  error               no
=========================================  ==================  =========
"""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import asyncssh.config
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .errors import HostError, HostStatus
from .jumphost import parse_jump
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


DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
#: what an ssh config may name to mean "remember nothing" (vagrant writes /dev/null); never "trust all"
_NO_FILE = {"/dev/null", "none", "nul"}


def _config_paths(ssh: SSHSettings) -> list[str]:
    """The ssh config files asyncssh reads for these settings (its own default rule)."""
    if ssh.ssh_config is not None:
        return [] if ssh.ssh_config.lower() == "none" else [_expand(ssh.ssh_config)]
    default = _expand("~/.ssh/config")
    return [default] if os.access(default, os.R_OK) else []


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


class Connector:
    """Opens connections for one scan; caches options, known_hosts files and bastion connections.

    Host keys: asyncssh, left alone, takes ``UserKnownHostsFile`` from the ssh config, and
    ``UserKnownHostsFile none`` there turns checking off without a word. So while checking is on,
    the known_hosts files are always chosen here and passed explicitly (:meth:`known_hosts_files`),
    and every report names them.

    ``handshakes`` bounds SSH handshakes in flight, bastions' included: a bastion connection
    takes its own slot, and a host behind it takes one only once the tunnel is up.
    """

    def __init__(self, settings: Settings, handshakes: asyncio.Semaphore | None = None) -> None:
        self.settings = settings
        self._handshakes = handshakes or asyncio.Semaphore(10)
        self._options: dict[tuple[SSHSettings, tuple[str, ...] | None], asyncssh.SSHClientConnectionOptions] = {}
        self._jumps: dict[tuple[str, SSHSettings], asyncio.Task[asyncssh.SSHClientConnection]] = {}
        self._parsed_known_hosts: dict[tuple[str, ...], asyncssh.SSHKnownHosts] = {}
        self._resolved_known_hosts: dict[tuple[str, SSHSettings], tuple[str, ...]] = {}

    def known_hosts_files(self, address: str, ssh: SSHSettings) -> tuple[str, ...] | None:
        """The known_hosts files a host's key is checked against; ``None`` only when checking is off.

        The inventory's ``known_hosts`` wins. Otherwise the ssh config's ``UserKnownHostsFile``
        (and ``GlobalKnownHostsFile``) for this host, without ``/dev/null`` or ``none``; when that
        leaves nothing, ``~/.ssh/known_hosts``. ``StrictHostKeyChecking`` is never consulted:
        only ``--insecure-no-host-key-check`` turns checking off.
        """
        if not self.settings.verify_host_keys:
            return None
        if ssh.known_hosts:
            return (_expand(ssh.known_hosts),)
        key = (address, ssh)
        if key not in self._resolved_known_hosts:
            try:
                config = asyncssh.config.SSHClientConfig.load(
                    None, _config_paths(ssh), False, False, False, _local_user(),
                    ssh.user if ssh.user else (), address, ssh.port if ssh.port else ())
            except (OSError, asyncssh.Error, ValueError) as exc:
                raise HostFailure(HostStatus.ERROR, f"bad SSH settings: cannot read the ssh config: {exc}") from None

            def listed(option: str) -> list[str]:
                value = config.get(option, ())
                names = value if isinstance(value, (list, tuple)) else ()
                return [_expand(str(n)) for n in names if str(n).lower() not in _NO_FILE]

            user_files = listed("UserKnownHostsFile") or [_expand(DEFAULT_KNOWN_HOSTS)]
            self._resolved_known_hosts[key] = tuple(dict.fromkeys(user_files + listed("GlobalKnownHostsFile")))
        return self._resolved_known_hosts[key]

    def known_hosts_label(self, host: Host) -> str | None:
        """For reports: the files ``host``'s key is checked against, or None when it is not checked."""
        try:
            files = self.known_hosts_files(host.address, host.ssh)
        except HostFailure:
            return None
        return None if files is None else ", ".join(files)

    def _known_hosts(self, files: tuple[str, ...]) -> asyncssh.SSHKnownHosts:
        """Parse known_hosts files once per scan (asyncssh would re-read a path per connection).

        A file that does not exist knows no host, as with OpenSSH: every host is then "unknown"
        (checked, and refused). A file that exists but cannot be read fails the host."""
        if files not in self._parsed_known_hosts:
            try:
                text = "".join(Path(f).read_text(encoding="utf-8", errors="replace") for f in files if os.path.lexists(f))
                self._parsed_known_hosts[files] = asyncssh.import_known_hosts(text)
            except OSError as exc:
                raise HostFailure(HostStatus.HOST_KEY_MISMATCH,
                                  f"cannot read known_hosts file {exc.filename or ', '.join(files)} ({exc.strerror}); "
                                  "host keys cannot be verified") from None
        return self._parsed_known_hosts[files]

    def options(self, ssh: SSHSettings, known_hosts: tuple[str, ...] | None) -> asyncssh.SSHClientConnectionOptions:
        key = (ssh, known_hosts)
        if key not in self._options:
            kwargs: dict[str, Any] = {"connect_timeout": ssh.connect_timeout or self.settings.connect_timeout,
                                      "known_hosts": None if known_hosts is None else self._known_hosts(known_hosts)}
            if ssh.key_files:
                kwargs["client_keys"] = [_expand(k) for k in ssh.key_files]
            if ssh.user:
                kwargs["username"] = ssh.user
            if ssh.port:
                kwargs["port"] = ssh.port
            if ssh.ssh_config is not None:
                kwargs["config"] = _config_paths(ssh) or None
            try:
                self._options[key] = asyncssh.SSHClientConnectionOptions(**kwargs)
            except (OSError, asyncssh.Error, ValueError) as exc:
                raise HostFailure(HostStatus.ERROR, f"bad SSH settings: {exc}") from None
        return self._options[key]

    async def _open_bastion(self, address: str, options: asyncssh.SSHClientConnectionOptions) -> asyncssh.SSHClientConnection:
        async with self._handshakes:
            return await asyncssh.connect(address, options=options)

    async def _jump(self, host: Host) -> asyncssh.SSHClientConnection | None:
        """The shared connection to ``host``'s bastion: one per bastion endpoint + credentials.

        The key holds only what reaches and authenticates to the bastion (its address, port and
        user from ``jump:``, and the host's keys, known_hosts and ssh config), so hosts that differ
        in anything else (port, user, become, timeouts) share one connection.
        """
        if not host.ssh.jump:
            return None
        try:
            jump = parse_jump(host.ssh.jump)
        except ValueError as exc:
            raise HostFailure(HostStatus.ERROR, str(exc)) from None
        ssh = SSHSettings(port=jump.port, user=jump.user, key_files=host.ssh.key_files,
                          known_hosts=host.ssh.known_hosts, ssh_config=host.ssh.ssh_config)
        key = (jump.host, ssh)
        known_hosts = self.known_hosts_files(jump.host, ssh)
        if key not in self._jumps:
            self._jumps[key] = asyncio.ensure_future(self._open_bastion(jump.host, self.options(ssh, known_hosts)))
        try:
            return await asyncio.shield(self._jumps[key])
        except Exception as exc:  # noqa: BLE001 - every failure of the jump host is this host's failure
            failure = classify(exc, host.ssh.jump, self.settings, jump.port, known_hosts)
            raise HostFailure(failure.status, f"jump host {host.ssh.jump}: {failure.reason}") from None

    async def connect(self, host: Host) -> asyncssh.SSHClientConnection:
        known_hosts = self.known_hosts_files(host.address, host.ssh)
        options = self.options(host.ssh, known_hosts)
        tunnel = await self._jump(host)
        try:
            async for attempt in AsyncRetrying(retry=retry_if_exception_type(_TRANSIENT), stop=stop_after_attempt(3),
                                               wait=wait_exponential(multiplier=0.2, max=2), reraise=True):
                with attempt:
                    async with self._handshakes:
                        return await asyncssh.connect(host.address, options=options, tunnel=tunnel or ())
        except HostFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - classified below, never lost
            failure = classify(exc, host.address, self.settings, host.ssh.port, known_hosts)
            raise HostFailure(failure.status, failure.reason) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        for task in self._jumps.values():
            if not task.done():
                task.cancel()
            elif not task.cancelled() and task.exception() is None:
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
                raise HostFailure(HostStatus.ERROR, f"the probe printed more than {_size(max_output)}; "
                                                    "output cap reached, host not assessed")
        await process.wait_closed()
        await err_task
    finally:
        err_task.cancel()
    return Batch(bytes(stdout), bytes(stderr), process.exit_status)


def _size(n: int) -> str:
    """A byte count for people: whole MiB when it is one (the default cap), else bytes."""
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"


def classify(exc: BaseException, target: str, settings: Settings, port: int | None = None,
             known_hosts: tuple[str, ...] | None = None) -> HostError:
    """One table from exceptions to a host status and a readable reason."""
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return HostError(HostStatus.HOST_KEY_MISMATCH, _host_key_reason(target, port, known_hosts))
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


def _host_key_reason(target: str, port: int | None, known_hosts: tuple[str, ...] | None) -> str:
    """Tell an unknown host from a changed key: the fix differs (add it vs investigate)."""
    files = known_hosts or (_expand(DEFAULT_KNOWN_HOSTS),)
    where = ", ".join(files)
    try:
        known = asyncssh.read_known_hosts(list(files))
        keys = known.match(target, "", port or 22)[0]
    except (OSError, ValueError, asyncssh.Error):
        keys = []
    if keys:
        return (f"host key of {target} does not match {where}: the key CHANGED since it was recorded "
                "(a reinstalled node, or someone in the middle); not scanned")
    return f"host key of {target} is not in {where} (unknown host); add it with ssh-keyscan after checking it"
