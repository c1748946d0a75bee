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
import base64
import fcntl
import getpass
import hashlib
import hmac
import logging
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .atomic import write_atomic
from .errors import HostError, HostStatus, InputError
from .models import Host, SSHSettings
from .sshconfig import resolve_hops

MAX_OUTPUT_BYTES = 32 << 20             #: per host; a node printing more is not assessed
_MAX_STDERR = 64 << 10
_TRANSIENT = (asyncssh.ConnectionLost, ConnectionResetError, BrokenPipeError)
#: Ciphers offered, best first: asyncssh's own list with AES-GCM ahead of ChaCha20-Poly1305. Both are
#: AEAD ciphers OpenSSH enables by default; asyncssh builds two cipher objects per packet for ChaCha20
#: but one context per connection for AES-GCM (AES-NI): less client CPU per host (bench/fleet.py). A server
#: offering only ChaCha20 (or CTR modes) still gets it: this orders the offer, it removes nothing.
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
           "aes256-ctr", "aes192-ctr", "aes128-ctr")


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
    accept_new_host_keys: bool = False    #: record unknown hosts' keys (OpenSSH accept-new); changed keys still refused
    max_output: int = MAX_OUTPUT_BYTES


def _expand(path: str) -> str:
    return os.path.expanduser(path)


DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


#: characters a host name may have before it is put into a ProxyCommand run by the shell
_SAFE_HOST = re.compile(r"^[A-Za-z0-9._:%\[\]-]+$")


def proxy_argv(command: str, host: str, port: int, user: str) -> list[str]:
    """A ProxyCommand as OpenSSH runs it: tokens %h %p %r %n %% expanded, then ``/bin/sh -c``.

    The host name is refused when it holds anything a shell would read specially: it comes
    from an inventory, and OpenSSH puts it into the command unquoted.
    """
    if not _SAFE_HOST.match(host) or not _SAFE_HOST.match(user.replace("@", "")):
        raise HostFailure(HostStatus.ERROR, f"bad SSH settings: host '{host}' / user '{user}' cannot be put into "
                                            "a ProxyCommand (characters a shell would interpret)")
    tokens = {"h": host, "p": str(port), "r": user, "n": host, "%": "%"}

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in tokens:
            raise HostFailure(HostStatus.ERROR, f"bad SSH settings: ProxyCommand token %{m.group(1)} is not supported")
        return tokens[m.group(1)]
    return ["/bin/sh", "-c", "exec " + re.sub(r"%(.)", sub, command)]


@dataclass(frozen=True, slots=True)
class Hop:
    """One bastion of a jump chain, with what reaches and authenticates to it."""

    address: str
    port: int
    user: str
    key_files: tuple[str, ...]
    known_hosts: str | None


class Connector:
    """Opens connections for one scan; caches options, known_hosts files and bastion connections.

    Hosts come resolved (:func:`fleetbench.sshconfig.resolve`): address, port, user, keys, jump,
    ProxyCommand and known_hosts are the values OpenSSH would use, and they are passed to asyncssh
    explicitly with ``config=None``, so what the report says is what was used. Host keys are always
    checked against files chosen here (the host's ``known_hosts``, else ``~/.ssh/known_hosts``):
    ``UserKnownHostsFile /dev/null`` and ``StrictHostKeyChecking no`` in an ssh config never turn
    checking off; only ``--insecure-no-host-key-check`` does. ``--accept-new-host-keys`` records the
    key of a host its file does not know yet (OpenSSH's ``accept-new``), never a changed one.

    Jump chains (``a,b``): hop 1 is connected to once per endpoint + user + keys + known_hosts and
    shared by every chain starting with it; hop 2 is opened through hop 1 and shared by every
    chain starting with ``a,b``; and so on. Each hop's settings are its ssh config's, as ``ssh -J``
    reads them (the host's keys and known_hosts when the config names none).

    ``handshakes`` bounds SSH handshakes in flight, bastions' included: a bastion connection
    takes its own slot, and a host behind it takes one only once the tunnel is up.
    """

    def __init__(self, settings: Settings, handshakes: asyncio.Semaphore | None = None) -> None:
        self.settings = settings
        self._handshakes = handshakes or asyncio.Semaphore(10)
        self._options: dict[tuple[Any, ...], asyncssh.SSHClientConnectionOptions] = {}
        self._jumps: dict[tuple[Hop, ...], asyncio.Task[asyncssh.SSHClientConnection]] = {}
        self._parsed_known_hosts: dict[tuple[str, ...], asyncssh.SSHKnownHosts] = {}
        self._accepted: dict[tuple[str, str], str] = {}            # (file, host pattern) → key line
        self.accepted: dict[str, str] = {}                          # host name → what was recorded, for reports
        self._resolved_hops: dict[tuple[str, str | None, tuple[str, ...], str | None], tuple[Hop, ...]] = {}

    def known_hosts_files(self, address: str, ssh: SSHSettings) -> tuple[str, ...] | None:
        """The known_hosts files a host's key is checked against; ``None`` only when checking is off.

        The host's ``known_hosts`` (the inventory's, else the ssh config's ``UserKnownHostsFile``
        as resolved, never ``/dev/null``), else ``~/.ssh/known_hosts``. ``StrictHostKeyChecking``
        is never consulted: only ``--insecure-no-host-key-check`` turns checking off.
        """
        if not self.settings.verify_host_keys:
            return None
        return (_expand(ssh.known_hosts or DEFAULT_KNOWN_HOSTS),)

    def known_hosts_label(self, host: Host) -> str | None:
        """For reports: the files ``host``'s key is checked against, or None when it is not checked."""
        files = self.known_hosts_files(host.address, host.ssh)
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

    def options(self, ssh: SSHSettings, known_hosts: tuple[str, ...] | None, address: str = "",
                name: str = "") -> asyncssh.SSHClientConnectionOptions:
        """Explicit options for one resolved host (``config=None``: no ssh config is read here)."""
        port = ssh.port or 22
        user = ssh.user or _local_user()
        accept = bool(self.settings.accept_new_host_keys and known_hosts)
        key = (ssh, known_hosts, address if (ssh.proxy_command or accept) else "", name if accept else "")
        if key not in self._options:
            kwargs: dict[str, Any] = {"connect_timeout": ssh.connect_timeout or self.settings.connect_timeout,
                                      "known_hosts": None if known_hosts is None else self._known_hosts(known_hosts),
                                      "config": None, "port": port, "username": user,
                                      "encryption_algs": CIPHERS}
            if ssh.key_files:
                kwargs["client_keys"] = [_expand(k) for k in ssh.key_files]
            if ssh.proxy_command:
                kwargs["proxy_command"] = proxy_argv(ssh.proxy_command, address, port, user)
            if accept and known_hosts:
                kwargs["client_factory"] = self._acceptor(known_hosts, name)
            try:
                self._options[key] = asyncssh.SSHClientConnectionOptions(**kwargs)
            except (OSError, asyncssh.Error, ValueError) as exc:
                raise HostFailure(HostStatus.ERROR, f"bad SSH settings: {exc}") from None
        return self._options[key]

    def _acceptor(self, files: tuple[str, ...], name: str) -> Any:
        """An asyncssh client that accepts the key of a host ``files`` know nothing about (and
        records it), and refuses any other untrusted key: asyncssh asks it only for keys that
        are not among the host's known ones."""
        connector = self

        class Acceptor(asyncssh.SSHClient):
            def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
                return connector._accept_new(files, host, port, key, name)
        return Acceptor

    def _accept_new(self, files: tuple[str, ...], host: str, port: int, key: asyncssh.SSHKey, name: str) -> bool:
        known = self._known_hosts(files)
        listed = known.match(host, "", port if port != 22 else None)
        if any(listed[:3]):                 # trusted keys, CA keys or revoked keys: the host is known
            return False
        pattern = host if port == 22 else f"[{host}]:{port}"
        line = " ".join(key.export_public_key("openssh").decode().split()[:2])
        target = files[0]
        earlier = self._accepted.get((target, pattern))
        if earlier is not None:             # another host name, same endpoint, same scan: same key only
            if earlier == line:
                self.accepted[name] = f"{line.split()[0]} {key.get_fingerprint()} recorded in {target} as {pattern}"
            return earlier == line
        try:
            record_host_key(target, pattern, line)
        except OSError as exc:
            logging.getLogger(__name__).warning("cannot record the host key of %s in %s: %s", pattern, target, exc)
            return False
        self._accepted[(target, pattern)] = line
        self.accepted[name] = f"{line.split()[0]} {key.get_fingerprint()} recorded in {target} as {pattern}"
        return True

    def accepted_for(self, host: Host) -> str | None:
        """For reports: the keys recorded on first contact for ``host`` and for its bastions."""
        try:
            hops = self._hops(host)
        except HostFailure:
            hops = ()
        parts = [f"{_hop_label(hop)}: {self.accepted[_hop_label(hop)]}" for hop in hops if _hop_label(hop) in self.accepted]
        if host.name in self.accepted:
            parts.append(self.accepted[host.name])
        return "; ".join(parts) or None

    def _hops(self, host: Host) -> tuple[Hop, ...]:
        """The host's jump chain, each hop resolved through the ssh config as ``ssh -J`` does
        (once per chain and settings: hosts behind one bastion share the lookup too)."""
        if not host.ssh.jump:
            return ()
        key = (host.ssh.jump, host.ssh.ssh_config, host.ssh.key_files, host.ssh.known_hosts)
        if key not in self._resolved_hops:
            self._resolved_hops[key] = self._resolve_hops(host)
        return self._resolved_hops[key]

    def _resolve_hops(self, host: Host) -> tuple[Hop, ...]:
        try:
            found = resolve_hops(host)
        except (ValueError, InputError) as exc:
            raise HostFailure(HostStatus.ERROR, str(exc)) from None
        return tuple(Hop(address=f.hostname, port=f.port, user=f.user,
                         key_files=f.identity_files or host.ssh.key_files,
                         known_hosts=host.ssh.known_hosts or (f.known_hosts[0] if f.known_hosts else None))
                     for f in found)

    async def _open_hop(self, chain: tuple[Hop, ...]) -> asyncssh.SSHClientConnection:
        hop = chain[-1]
        tunnel = await self._chain(chain[:-1]) if len(chain) > 1 else None
        ssh = SSHSettings(port=hop.port, user=hop.user, key_files=hop.key_files, known_hosts=hop.known_hosts)
        options = self.options(ssh, self.known_hosts_files(hop.address, ssh), hop.address, _hop_label(hop))
        async with self._handshakes:
            return await asyncssh.connect(hop.address, options=options, tunnel=tunnel or ())

    async def _chain(self, chain: tuple[Hop, ...]) -> asyncssh.SSHClientConnection:
        if chain not in self._jumps:
            self._jumps[chain] = asyncio.ensure_future(self._open_hop(chain))
        return await asyncio.shield(self._jumps[chain])

    async def _jump(self, host: Host) -> asyncssh.SSHClientConnection | None:
        """The shared connection to ``host``'s last bastion (one per chain prefix), or None."""
        hops = self._hops(host)
        if not hops:
            return None
        try:
            return await self._chain(hops)
        except HostFailure as exc:
            raise HostFailure(exc.error.status, f"jump host {host.ssh.jump}: {exc.error.reason}") from None
        except Exception as exc:  # noqa: BLE001 - every failure of the jump host is this host's failure
            failing = hops[0]
            known = self.known_hosts_files(failing.address, SSHSettings(known_hosts=failing.known_hosts))
            failure = classify(exc, host.ssh.jump or "", self.settings, failing.port, known)
            raise HostFailure(failure.status, f"jump host {host.ssh.jump}: {failure.reason}") from None

    async def connect(self, host: Host) -> asyncssh.SSHClientConnection:
        known_hosts = self.known_hosts_files(host.address, host.ssh)
        options = self.options(host.ssh, known_hosts, host.address, host.name)
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
        for chain in sorted(self._jumps, key=len, reverse=True):     # the innermost hops first
            task = self._jumps[chain]
            if not task.done():
                task.cancel()
            elif not task.cancelled() and task.exception() is None:
                task.result().close()
        self._jumps.clear()


def _hop_label(hop: Hop) -> str:
    return f"jump host {hop.address}:{hop.port}"


def record_host_key(path: str, pattern: str, key_line: str) -> None:
    """Append ``pattern key`` to a known_hosts file atomically (a temp file renamed over it).

    Hashed like ``ssh-keyscan -H`` (``|1|salt|hmac``) when the file already holds hashed entries,
    so a file kept hashed stays hashed. The folder is created (0700) when missing, as ssh does.
    Read, append and rename happen under an ``flock`` of that folder: ``--workers`` processes may
    record keys in one file at once, and each must add to the other's file, not overwrite it.
    """
    target = Path(_expand(path))
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)    # released when closed; a few ms at most
        _append_key(target, pattern, key_line)
    finally:
        os.close(folder)


def _append_key(target: Path, pattern: str, key_line: str) -> None:
    try:
        old = target.read_bytes()
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        old, mode = b"", 0o644
    hashed = any(line.startswith(b"|1|") for line in old.splitlines())
    name = pattern
    if hashed:
        salt = os.urandom(20)
        digest = hmac.new(salt, pattern.encode(), hashlib.sha1).digest()
        name = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    text = old + (b"" if not old or old.endswith(b"\n") else b"\n") + f"{name} {key_line}\n".encode()
    write_atomic(target, text, mode)


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
