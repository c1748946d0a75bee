"""The transport against in-process asyncssh servers on 127.0.0.1: no lab, a few seconds.

Every row of connect.py's failure table, the retry rule (transient resets retried, auth and
host-key failures never: counted by the server), the output cap, the per-host deadline, and
bastions (one shared connection per bastion endpoint + credentials, handshakes bounded).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from fleetbench.connect import Connector, HostFailure, Settings, run_script
from fleetbench.errors import HostError, HostStatus
from fleetbench.models import Catalog, Host, SSHSettings
from fleetbench.runner import AUTO, ScanOptions, scan_host
from fleetbench.sshconfig import resolve

from .inproc_ssh import Counters, Dropper, Server, Silent, write_key

FAST = Settings(connect_timeout=1.0)


@pytest.fixture
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
def key_file(tmp_path: Path, client_key: asyncssh.SSHKey) -> str:
    return write_key(tmp_path / "id_client", client_key)


def host(port: int, key_file: str, known_hosts: Path | None, name: str = "n1", **ssh: Any) -> Host:
    settings = SSHSettings(port=port, key_files=(key_file,), ssh_config="none",
                           known_hosts=None if known_hosts is None else str(known_hosts), **ssh)
    return Host(name=name, address="127.0.0.1", roles=("worker",), groups=(), ssh=settings, paths={}, origin="test")


def known_hosts(tmp_path: Path, *servers: Server, name: str = "known_hosts") -> Path:
    path = tmp_path / name
    path.write_text("".join(s.known_hosts_line() for s in servers))
    return path


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))          # a hung test fails instead of hanging


async def try_connect(h: Host, settings: Settings = FAST, connector: Connector | None = None) -> HostError | None:
    """Connect once through a fresh connector; the failure as a value, None on success."""
    own = connector is None
    connector = connector or Connector(settings)
    try:
        conn = await connector.connect(h)
    except HostFailure as exc:
        return exc.error
    else:
        conn.close()
        await conn.wait_closed()
        return None
    finally:
        if own:
            await connector.close()


# --------------------------------------------------------------------------- the failure table

def test_a_good_host_connects_and_runs_the_script(tmp_path, client_key, key_file):
    async def go() -> None:
        async with Server(client_key) as srv:
            conn = await Connector(FAST).connect(host(srv.port, key_file, known_hosts(tmp_path, srv)))
            async with conn:
                batch = await run_script(conn, "sh -s", "echo hi\n", 1 << 20)
            assert (batch.stdout, batch.exit_status) == (b"probe ran\n", 0)
            assert srv.counters.commands == ["sh -s"]
    run(go())


def test_aes_gcm_is_preferred_over_chacha20(tmp_path, client_key, key_file):
    """The client's cipher order decides: AES-GCM first (cheaper per packet in asyncssh), with
    ChaCha20-Poly1305 still offered for servers that want only it."""
    async def go() -> None:
        async with Server(client_key) as srv:
            conn = await Connector(FAST).connect(host(srv.port, key_file, known_hosts(tmp_path, srv)))
            async with conn:
                assert conn.get_extra_info("send_cipher") == "aes128-gcm@openssh.com"
    run(go())


def test_refused_is_unreachable_and_not_retried(tmp_path, key_file):
    with socket.socket() as s:                      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error = run(try_connect(host(port, key_file, tmp_path / "known_hosts")))
    assert error.status is HostStatus.UNREACHABLE and "connection refused by 127.0.0.1" in error.reason


def test_a_silent_port_is_a_timeout_not_retried(tmp_path, key_file):
    async def go() -> tuple[HostError | None, int]:
        async with Silent() as srv:
            error = await try_connect(host(srv.port, key_file, tmp_path / "known_hosts"), Settings(connect_timeout=0.5))
            return error, srv.connections
    error, attempts = run(go())
    assert error.status is HostStatus.TIMEOUT and "within the connect timeout (0.5s)" in error.reason
    assert attempts == 1


@pytest.mark.parametrize("reset,reason", [(True, "cannot connect to 127.0.0.1: Connection reset by peer"),
                                          (False, "connection to 127.0.0.1 lost")])
def test_a_drop_during_the_handshake_is_retried_three_times(tmp_path, key_file, reset, reason):
    async def go() -> tuple[HostError | None, int]:
        async with Dropper(reset) as srv:
            return await try_connect(host(srv.port, key_file, tmp_path / "known_hosts")), srv.connections
    error, attempts = run(go())
    assert error.status is HostStatus.UNREACHABLE and reason in error.reason
    assert attempts == 3


def test_auth_refused_is_never_retried(tmp_path, key_file):
    async def go() -> tuple[HostError | None, int]:
        other = asyncssh.generate_private_key("ssh-ed25519")
        async with Server(other) as srv:             # authorizes a different key
            return await try_connect(host(srv.port, key_file, known_hosts(tmp_path, srv))), srv.counters.connections
    error, attempts = run(go())
    assert error.status is HostStatus.AUTH_FAILED and "authentication refused by 127.0.0.1" in error.reason
    assert attempts == 1


def test_unknown_host_key_is_never_retried(tmp_path, client_key, key_file):
    async def go() -> tuple[HostError | None, int]:
        async with Server(client_key) as srv:
            empty = tmp_path / "empty_known_hosts"
            empty.write_text("")
            return await try_connect(host(srv.port, key_file, empty)), srv.counters.connections
    error, attempts = run(go())
    assert error.status is HostStatus.HOST_KEY_MISMATCH and "unknown host" in error.reason
    assert "empty_known_hosts" in error.reason and attempts == 1


def test_changed_host_key_says_changed_and_is_never_retried(tmp_path, client_key, key_file):
    async def go() -> tuple[HostError | None, int]:
        async with Server(client_key) as srv, Server(client_key) as impostor:
            recorded = tmp_path / "known_hosts"             # srv's key, recorded for impostor's port
            recorded.write_text(srv.known_hosts_line().replace(f":{srv.port}", f":{impostor.port}"))
            return await try_connect(host(impostor.port, key_file, recorded)), impostor.counters.connections
    error, attempts = run(go())
    assert error.status is HostStatus.HOST_KEY_MISMATCH and "CHANGED" in error.reason
    assert attempts == 1


def test_a_server_that_disconnects_is_an_error_with_its_reason(tmp_path, client_key, key_file):
    async def go() -> tuple[HostError | None, int]:
        async with Server(client_key, disconnect_reason="not you, not today") as srv:
            return await try_connect(host(srv.port, key_file, known_hosts(tmp_path, srv))), srv.counters.connections
    error, attempts = run(go())
    assert error.status is HostStatus.ERROR and "closed the SSH connection: not you, not today" in error.reason
    assert attempts == 1


# --------------------------------------------------------------------------- output cap, deadline

def test_a_flood_stops_at_the_output_cap(tmp_path, client_key, key_file):
    async def flood(process: asyncssh.SSHServerProcess[bytes]) -> None:
        await process.stdin.read()
        for _ in range(64):                           # 4 MiB, in 64 KiB writes
            process.stdout.write(b"x" * 65536)
            await process.stdout.drain()

    async def go() -> HostError:
        async with Server(client_key, flood) as srv:
            conn = await Connector(FAST).connect(host(srv.port, key_file, known_hosts(tmp_path, srv)))
            async with conn:
                with pytest.raises(HostFailure) as failure:
                    await run_script(conn, "sh -s", "", 1 << 20)
            return failure.value.error
    error = run(go())
    assert error.status is HostStatus.ERROR and "more than 1 MiB; output cap reached" in error.reason


async def _scan(h: Host, catalog: Catalog, timeout: float = 120.0) -> Any:
    connector = Connector(FAST)
    try:
        return await scan_host(h, catalog, ScanOptions(benchmark=AUTO, timeout=timeout), connector)
    finally:
        await connector.close()


def test_a_probe_that_never_finishes_hits_the_host_deadline(tmp_path, client_key, key_file, catalog):
    async def hang(process: asyncssh.SSHServerProcess[bytes]) -> None:
        await process.stdin.read()
        await process.wait_closed()                   # until the client gives up

    async def go() -> Any:
        async with Server(client_key, hang) as srv:
            return await _scan(host(srv.port, key_file, known_hosts(tmp_path, srv)), catalog, timeout=1.0)
    result = run(go())
    assert result.error.status is HostStatus.TIMEOUT and "deadline (1s, --timeout)" in result.error.reason
    assert result.findings == () and 1.0 <= result.seconds < 5


def test_a_connection_dropped_while_the_probe_runs_is_unreachable(tmp_path, client_key, key_file, catalog):
    async def drop(process: asyncssh.SSHServerProcess[bytes]) -> None:
        await process.stdin.read()
        process.stdout.write(b"@@partial")
        process.get_extra_info("connection").abort()

    async def go() -> Any:
        async with Server(client_key, drop) as srv:
            return await _scan(host(srv.port, key_file, known_hosts(tmp_path, srv)), catalog)
    result = run(go())
    assert result.error.status is HostStatus.UNREACHABLE and "connection lost while the probe ran" in result.error.reason
    assert result.findings == ()


# --------------------------------------------------------------------------- bastions

def _behind(bastion: Server, port: int, key_file: str, kh: Path, name: str, **ssh: Any) -> Host:
    return host(port, key_file, kh, name=name, jump=f"ops@127.0.0.1:{bastion.port}", **ssh)


def test_hosts_behind_one_bastion_share_one_connection_whatever_their_own_settings(tmp_path, client_key, key_file):
    async def go() -> tuple[list[HostError | None], Counters, Counters, Counters]:
        async with Server(client_key, forwarding=True) as bastion, Server(client_key) as t1, Server(client_key) as t2:
            kh = known_hosts(tmp_path, bastion, t1, t2)
            hosts = [_behind(bastion, t1.port, key_file, kh, "a", user="alice", become="sudo -n", timeout=30.0),
                     _behind(bastion, t2.port, key_file, kh, "b", user="bob", connect_timeout=5.0),
                     _behind(bastion, t1.port, key_file, kh, "c")]
            connector = Connector(FAST)
            try:
                errors = list(await asyncio.gather(*(try_connect(h, connector=connector) for h in hosts)))
            finally:
                await connector.close()
            return errors, bastion.counters, t1.counters, t2.counters
    errors, bastion, t1, t2 = run(go())
    assert errors == [None, None, None]
    assert bastion.connections == 1 and len(bastion.forwards) == 3
    assert (t1.connections, t2.connections) == (2, 1)


def test_distinct_bastion_credentials_get_distinct_connections(tmp_path, client_key, key_file):
    async def go() -> int:
        async with Server(client_key, forwarding=True) as bastion, Server(client_key) as t1:
            kh = known_hosts(tmp_path, bastion, t1)
            kh2 = known_hosts(tmp_path, bastion, t1, name="known_hosts2")
            hosts = [_behind(bastion, t1.port, key_file, kh, "a"), _behind(bastion, t1.port, key_file, kh2, "b")]
            connector = Connector(FAST)
            try:
                assert [await try_connect(h, connector=connector) for h in hosts] == [None, None]
            finally:
                await connector.close()
            return bastion.counters.connections
    assert run(go()) == 2


def test_a_bastion_failure_is_each_hosts_failure_and_names_the_bastion(tmp_path, client_key, key_file):
    async def go() -> tuple[list[HostError | None], int]:
        other = asyncssh.generate_private_key("ssh-ed25519")
        async with Server(other, forwarding=True) as bastion, Server(client_key) as t1:
            kh = known_hosts(tmp_path, bastion, t1)
            connector = Connector(FAST)
            try:
                errors = [await try_connect(_behind(bastion, t1.port, key_file, kh, n), connector=connector) for n in "ab"]
            finally:
                await connector.close()
            return errors, bastion.counters.connections
    errors, attempts = run(go())
    assert all(e is not None and e.status is HostStatus.AUTH_FAILED for e in errors)
    assert all(e is not None and e.reason.startswith("jump host ops@127.0.0.1:") for e in errors)
    assert attempts == 1


def test_bastion_handshakes_count_against_the_handshake_limit(tmp_path, client_key, key_file):
    async def go() -> tuple[list[HostError | None], Counters]:
        shared = Counters()
        async with Server(client_key, forwarding=True, counters=shared) as bastion, \
                Server(client_key, counters=shared) as t1, Server(client_key, counters=shared) as t2:
            kh = known_hosts(tmp_path, bastion, t1, t2)
            hosts = [_behind(bastion, t.port, key_file, kh, f"h{i}") for i, t in enumerate((t1, t2, t1, t2))]
            hosts.append(host(t1.port, key_file, kh, name="direct"))
            connector = Connector(FAST, asyncio.Semaphore(1))
            try:
                errors = list(await asyncio.gather(*(try_connect(h, connector=connector) for h in hosts)))
            finally:
                await connector.close()
            return errors, shared
    errors, counters = run(go())
    assert errors == [None] * 5
    assert counters.connections == 6 and counters.max_handshakes_in_flight == 1


# --------------------------------------------------------------------------- host keys

def _with_config(h: Host, config: Path, known: Path | None) -> Host:
    """The host as a scan sees it: resolved through the ssh config (fleetbench.sshconfig)."""
    return resolve(replace(h, ssh=replace(h.ssh, ssh_config=str(config),
                                          known_hosts=None if known is None else str(known))))


@pytest.mark.parametrize("user_known_hosts", ["none", "/dev/null"])
def test_an_ssh_config_never_turns_host_key_checking_off(tmp_path, client_key, key_file, monkeypatch,
                                                          user_known_hosts):
    """vagrant's `UserKnownHostsFile /dev/null` + `StrictHostKeyChecking no`: checked against
    ~/.ssh/known_hosts, which holds a different key, so the host is refused, never passed."""
    monkeypatch.setenv("HOME", str(tmp_path))
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  UserKnownHostsFile {user_known_hosts}\n  StrictHostKeyChecking no\n")

    async def go() -> tuple[HostError | None, str | None]:
        async with Server(client_key) as srv, Server(client_key) as other:
            (tmp_path / ".ssh").mkdir()
            wrong = other.known_hosts_line().replace(f":{other.port}", f":{srv.port}")
            (tmp_path / ".ssh" / "known_hosts").write_text(wrong)
            h = _with_config(host(srv.port, key_file, None), config, None)
            connector = Connector(FAST)
            return await try_connect(h, connector=connector), connector.known_hosts_label(h)
    error, label = run(go())
    expected = str(tmp_path / ".ssh" / "known_hosts")
    assert label == expected
    assert error is not None and error.status is HostStatus.HOST_KEY_MISMATCH
    assert "CHANGED" in error.reason and expected in error.reason


def test_the_inventory_known_hosts_wins_over_the_ssh_config(tmp_path, client_key, key_file):
    config = tmp_path / "ssh_config"
    config.write_text("Host *\n  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n")

    async def go() -> tuple[HostError | None, HostError | None, str | None]:
        async with Server(client_key) as srv, Server(client_key) as other:
            good = known_hosts(tmp_path, srv)
            wrong = tmp_path / "wrong_known_hosts"
            wrong.write_text(other.known_hosts_line().replace(f":{other.port}", f":{srv.port}"))
            ok = await try_connect(_with_config(host(srv.port, key_file, None), config, good))
            bad_host = _with_config(host(srv.port, key_file, None), config, wrong)
            connector = Connector(FAST)
            return ok, await try_connect(bad_host, connector=connector), connector.known_hosts_label(bad_host)
    ok, bad, label = run(go())
    assert ok is None
    assert bad is not None and bad.status is HostStatus.HOST_KEY_MISMATCH and "wrong_known_hosts" in bad.reason
    assert label == str(tmp_path / "wrong_known_hosts")


def test_a_known_hosts_file_named_by_the_ssh_config_is_used_and_reported(tmp_path, client_key, key_file):
    config = tmp_path / "ssh_config"

    async def go() -> tuple[HostError | None, str | None]:
        async with Server(client_key) as srv:
            kh = known_hosts(tmp_path, srv, name="from_config")
            config.write_text(f"Host 127.0.0.1\n  UserKnownHostsFile /dev/null {kh}\n")
            h = _with_config(host(srv.port, key_file, None), config, None)
            connector = Connector(FAST)
            return await try_connect(h, connector=connector), connector.known_hosts_label(h)
    error, label = run(go())
    assert error is None and label == str(tmp_path / "from_config")


def test_reports_name_the_known_hosts_file_and_none_when_checking_is_off(tmp_path, client_key, key_file, catalog):
    from fleetbench.report.model import build, to_dict
    from fleetbench.runner import scan

    async def go(verify: bool) -> dict[str, Any]:
        async with Server(client_key, lambda p: p.stdin.read()) as srv:
            kh = tmp_path / "empty"
            kh.write_text("")
            options = ScanOptions(benchmark=AUTO, transport=Settings(connect_timeout=1.0, verify_host_keys=verify))
            report = await scan((host(srv.port, key_file, kh),), catalog, options)
            return to_dict(build(report))["hosts"][0]
    checked = run(go(True))
    assert checked["known_hosts"] == str(tmp_path / "empty") and checked["status"] == "host-key-mismatch"
    unchecked = run(go(False))
    assert unchecked["known_hosts"] is None and unchecked["status"] == "error"   # connected; garbled output
