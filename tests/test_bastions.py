"""Jump chains, ssh-config bastions, ProxyCommand and first contact, against in-process servers.

Bastions: one connection per distinct hop, shared by every chain that starts with it (hop 2 is
opened through hop 1, once). First contact: ``--accept-new-host-keys`` records an unknown host's
key (hashed when the file is), never a changed one. Hashed entries written by the real
``ssh-keyscan -H`` are read.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import asyncssh
import pytest

from fleetbench.connect import Connector
from fleetbench.errors import HostStatus
from fleetbench.models import Host
from fleetbench.sshconfig import resolve

from .inproc_ssh import Server
from .test_connect import FAST, client_key, host, key_file, known_hosts, run, try_connect  # noqa: F401

ACCEPT = replace(FAST, accept_new_host_keys=True)


def test_a_jump_chain_shares_each_hop_across_every_chain_starting_with_it(tmp_path, client_key, key_file):
    async def go() -> tuple[list[object], int, int, list[int], list[int], int, int]:
        async with Server(client_key, forwarding=True) as b1, Server(client_key, forwarding=True) as b2, \
                Server(client_key) as t1, Server(client_key) as t2:
            kh = known_hosts(tmp_path, b1, b2, t1, t2)
            chain = f"ops@127.0.0.1:{b1.port},ops@127.0.0.1:{b2.port}"
            hosts = [host(t1.port, key_file, kh, name="a", jump=chain),
                     host(t2.port, key_file, kh, name="b", jump=chain),
                     host(t2.port, key_file, kh, name="c", jump=chain, user="other"),
                     host(t1.port, key_file, kh, name="d", jump=f"ops@127.0.0.1:{b1.port}")]
            connector = Connector(FAST, asyncio.Semaphore(2))
            try:
                errors = list(await asyncio.gather(*(try_connect(h, connector=connector) for h in hosts)))
            finally:
                await connector.close()
            expected1, expected2 = sorted([b2.port, t1.port]), sorted([t1.port, t2.port, t2.port])
            assert sorted(p for _, p in b1.counters.forwards) == expected1      # b2 once (through b1), t1 for d
            assert sorted(p for _, p in b2.counters.forwards) == expected2      # a, b, c through b1 → b2
            return errors, b1.counters.connections, b2.counters.connections, expected1, expected2, \
                t1.counters.connections, t2.counters.connections
    errors, c1, c2, _, _, n1, n2 = run(go())
    assert errors == [None] * 4
    assert (c1, c2) == (1, 1)                                  # one connection per hop, for all four hosts
    assert (n1, n2) == (2, 2)


def test_a_bastion_from_the_ssh_config_is_shared_by_every_host_behind_it(tmp_path, client_key, key_file):
    async def go() -> tuple[list[object], int, list[Host]]:
        async with Server(client_key, forwarding=True) as bastion, Server(client_key) as t1, Server(client_key) as t2:
            kh = known_hosts(tmp_path, bastion, t1, t2)
            config = tmp_path / "ssh_config"
            config.write_text(f"Host node-a\n  Port {t1.port}\nHost node-b\n  Port {t2.port}\n"
                              "Host node-* !bastion\n  HostName 127.0.0.1\n  ProxyJump bastion\n"
                              f"Host bastion\n  HostName 127.0.0.1\n  Port {bastion.port}\n  User ops\n"
                              f"Host *\n  IdentityFile {key_file}\n  UserKnownHostsFile /dev/null {kh}\n"
                              "  StrictHostKeyChecking no\n")
            hosts = [resolve(Host(name=n, address=n, roles=("worker",), groups=(), paths={}, origin="t",
                                  ssh=replace(host(0, key_file, None).ssh, port=None, key_files=(),
                                              ssh_config=str(config))))
                     for n in ("node-a", "node-b")]
            connector = Connector(FAST)
            try:
                errors = list(await asyncio.gather(*(try_connect(h, connector=connector) for h in hosts)))
            finally:
                await connector.close()
            return errors, bastion.counters.connections, hosts
    errors, connections, hosts = run(go())
    assert errors == [None, None] and connections == 1
    assert [h.ssh.jump for h in hosts] == ["bastion", "bastion"] and hosts[0].address == "127.0.0.1"


@pytest.mark.skipif(shutil.which("ssh") is None, reason="the OpenSSH client is not installed")
def test_a_proxycommand_as_kubespray_renders_it_is_run_with_its_tokens(tmp_path, client_key, key_file):
    async def go() -> tuple[object, int]:
        async with Server(client_key, forwarding=True) as bastion, Server(client_key) as t1:
            kh = known_hosts(tmp_path, bastion, t1)
            command = (f"ssh -F none -o BatchMode=yes -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes "
                       f"-i {key_file} -p {bastion.port} -W %h:%p ops@127.0.0.1")
            return await try_connect(host(t1.port, key_file, kh, proxy_command=command)), bastion.counters.forwards
    error, forwards = run(go())
    assert error is None and len(forwards) == 1


def test_a_proxycommand_refuses_a_host_name_a_shell_would_interpret(tmp_path, key_file):
    h = replace(host(22, key_file, tmp_path / "kh", proxy_command="ssh -W %h:%p gw"), address="x;touch /tmp/pwned")
    error = run(try_connect(h))
    assert error is not None and error.status is HostStatus.ERROR and "shell would interpret" in error.reason


# --------------------------------------------------------------------------- first contact

def _entries(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("hashed", [False, True])
def test_accept_new_records_an_unknown_hosts_key_then_verifies_it(tmp_path, client_key, key_file, hashed):
    async def go() -> tuple[object, object, object, dict[str, str], str]:
        async with Server(client_key) as srv, Server(client_key) as other:
            kh = tmp_path / "known_hosts"
            first = other.known_hosts_line()
            if hashed:   # a file kept hashed (ssh-keyscan -H style) stays hashed
                entry = asyncssh.import_known_hosts(first)
                assert entry is not None
                first = _hash(first)
            kh.write_text(first)
            refused = await try_connect(host(srv.port, key_file, kh))
            connector = Connector(ACCEPT)
            accepted = await try_connect(host(srv.port, key_file, kh), connector=connector)
            again = await try_connect(host(srv.port, key_file, kh))          # without the flag now
            return refused, accepted, again, connector.accepted, srv.known_hosts_line()
    refused, accepted, again, listed, line = run(go())
    assert refused is not None and refused.status is HostStatus.HOST_KEY_MISMATCH and "unknown host" in refused.reason
    assert accepted is None and again is None
    kh = tmp_path / "known_hosts"
    entries = _entries(kh)
    assert len(entries) == 2
    if hashed:
        assert all(e.startswith("|1|") for e in entries)
    else:
        assert entries[1] == line.strip()
    assert list(listed) == ["n1"] and "SHA256:" in listed["n1"] and str(kh) in listed["n1"]


def _hash(line: str) -> str:
    import base64
    import hashlib
    import hmac
    import os
    name, rest = line.split(" ", 1)
    salt = os.urandom(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()} {rest}"


def test_accept_new_never_accepts_a_changed_key(tmp_path, client_key, key_file):
    async def go() -> tuple[object, str]:
        async with Server(client_key) as srv, Server(client_key) as other:
            kh = tmp_path / "known_hosts"
            kh.write_text(other.known_hosts_line().replace(f":{other.port}", f":{srv.port}"))
            before = kh.read_text()
            return await try_connect(host(srv.port, key_file, kh), settings=ACCEPT), before
    error, before = run(go())
    assert error is not None and error.status is HostStatus.HOST_KEY_MISMATCH and "CHANGED" in error.reason
    assert (tmp_path / "known_hosts").read_text() == before


def test_accept_new_creates_a_missing_known_hosts_file(tmp_path, client_key, key_file):
    async def go() -> object:
        async with Server(client_key) as srv:
            return await try_connect(host(srv.port, key_file, tmp_path / "new" / "known_hosts"), settings=ACCEPT)
    assert run(go()) is None
    assert len(_entries(tmp_path / "new" / "known_hosts")) == 1


@pytest.mark.skipif(shutil.which("ssh-keyscan") is None, reason="ssh-keyscan is not installed")
def test_hashed_entries_written_by_ssh_keyscan_are_read(tmp_path, client_key, key_file):
    async def go() -> tuple[object, str]:
        async with Server(client_key) as srv:
            scan = await asyncio.create_subprocess_exec(
                "ssh-keyscan", "-H", "-t", "ed25519", "-p", str(srv.port), "127.0.0.1",
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            out, _ = await scan.communicate()
            kh = tmp_path / "known_hosts"
            kh.write_bytes(out)
            return await try_connect(host(srv.port, key_file, kh)), out.decode()
    error, text = run(go())
    assert text.startswith("|1|") and error is None


def test_accept_new_records_a_bastions_key_too_and_lists_it_for_the_hosts_behind_it(tmp_path, client_key, key_file):
    async def go() -> tuple[list[object], list[str | None], int]:
        async with Server(client_key, forwarding=True) as bastion, Server(client_key) as t1:
            kh = tmp_path / "known_hosts"
            hosts = [host(t1.port, key_file, kh, name=n, jump=f"ops@127.0.0.1:{bastion.port}") for n in "ab"]
            connector = Connector(ACCEPT)
            try:
                errors = [await try_connect(h, connector=connector) for h in hosts]
            finally:
                await connector.close()
            return errors, [connector.accepted_for(h) for h in hosts], bastion.port
    errors, listed, bport = run(go())
    assert errors == [None, None]
    assert len(_entries(tmp_path / "known_hosts")) == 2          # the bastion and the (shared) target endpoint
    assert listed[0] is not None and listed[0].startswith(f"jump host 127.0.0.1:{bport}: ssh-ed25519 SHA256:")
    assert listed[1] is not None and listed[1].startswith(f"jump host 127.0.0.1:{bport}: ")
    assert listed[0] == listed[1] and listed[0].count("recorded in") == 2


def test_an_accepted_key_is_listed_in_the_json_console_and_html_reports(tmp_path, client_key, key_file, catalog):
    from fleetbench.report import console
    from fleetbench.report.html import render_html
    from fleetbench.report.model import build, to_dict
    from fleetbench.runner import AUTO, ScanOptions, scan

    async def go() -> object:
        async with Server(client_key, lambda p: p.stdin.read()) as srv:
            options = ScanOptions(benchmark=AUTO, transport=ACCEPT)
            return await scan((host(srv.port, key_file, tmp_path / "known_hosts"),), catalog, options)
    data = build(run(go()))
    listed = to_dict(data)["hosts"][0]["accepted_host_key"]
    assert listed.startswith("ssh-ed25519 SHA256:") and listed.endswith(f"recorded in {tmp_path / 'known_hosts'} "
                                                                       f"as {_entries(tmp_path / 'known_hosts')[0].split()[0]}")
    assert to_dict(data)["options"]["accept_new_host_keys"] is True
    assert f"[INFO] new host key accepted (--accept-new-host-keys): {listed}" in console.render(data, {})
    assert "new host key accepted on first contact" in render_html(data) and listed.split()[1] in render_html(data)
