"""The command line's contract: one-line errors with exit 2 and nothing written; listings."""

from __future__ import annotations

import json

import pytest

from fleetbench.cli import main


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:            # argparse's own exit
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv,needle", [
    (["scan", "{inv}", "--concurrency", "0"], "--concurrency: expected a positive number"),
    (["scan", "{inv}", "--benchmark", "cis-9.9"], "--benchmark: unknown benchmark 'cis-9.9'"),
    (["scan", "{inv}", "--check", "9.9.9"], "--check: '9.9.9' matches no control"),
    (["scan", "{inv}", "--format", "pdf"], "--format: unknown format 'pdf'"),
    (["scan", "{inv}", "--targets", "nodes"], "--targets: unknown target 'nodes'"),
    (["scan", "{bad}"], "bad.yaml:3: unknown key 'adress' in hosts.a"),
    (["scan", "{paths}"], "paths.yaml:2: host 'a': unknown path variable 'kubelet.conf'"),
    (["scan"], "give an inventory file, or --local"),
    (["scan", "{inv}", "--workers", "0"], "--workers: expected a positive number, got '0'"),
    (["scan", "{inv}", "--workers", "two"], "--workers: expected a positive number, got 'two'"),
    (["scan", "--local", "--workers", "2"], "--workers: --local scans this one machine in one process"),
    (["scan", "{inv}", "--timeout", "nan"], "--timeout: expected a positive number, got 'nan'"),
    (["scan", "{inv}", "--timeout", "inf"], "--timeout: expected a positive number, got 'inf'"),
    (["scan", "{inv}", "--connect-timeout", "Infinity"], "--connect-timeout: expected a positive number, got 'Infinity'"),
    (["scan", "{jump}"], "jump.yaml:2: hosts.a.jump: jump 'ops@bastion:notaport': port must be a number"),
    (["scan", "{keys}"], "keys.yaml:2: key_files: no such file '/nonexistent/id_typo'"),
    (["scan", "{cycle}"], "cycle.yaml:2: group 'a' is its own ancestor: a → b → a"),
    (["frobnicate"], "invalid choice"),
    (["checks", "--benchmark", "auto"], "--benchmark: auto chooses per node; give a benchmark id to list its controls"),
    (["checks", "--benchmark", "cis-1.11", "--diff", "auto"], "--diff: auto chooses per node"),
    (["checks", "--targets", "node,bogus"], "--targets: unknown target 'bogus'"),
    (["scan", "--local", "--roles", "masters"], "--roles: unknown role 'masters'"),
    (["scan", "{inv}", "--check", "1.2.1"], "--check: selects no control for host 'a' (roles worker"),
    (["scan", "{inv}", "--check", "1.2", "--targets", "node"], "--check: selects no control for host 'a'"),
    (["scan", "{inv}", "--targets", "master"], "--targets: selects no control for host 'a'"),
    (["scan", "--local", "--roles", "worker", "--check", "1.2.1"], "--check: selects no control for host 'localhost'"),
    (["plan", "{inv}", "--check", "1.2.1"], "--check: selects no control for host 'a'"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, needle):
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  a: {address: 127.0.0.1, roles: [worker]}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("hosts:\n  a:\n    adress: 127.0.0.1\n    roles: [worker]\n")
    paths = tmp_path / "paths.yaml"
    paths.write_text("hosts:\n  a: {address: 127.0.0.1, roles: [worker], paths: {kubelet.conf: /x}}\n")
    jump = tmp_path / "jump.yaml"
    jump.write_text("hosts:\n  a: {address: 127.0.0.1, roles: [worker], jump: 'ops@bastion:notaport'}\n")
    keys = tmp_path / "keys.yaml"
    keys.write_text("hosts:\n  a: {address: 127.0.0.1, roles: [worker], key_files: [/nonexistent/id_typo]}\n")
    cycle = tmp_path / "cycle.yaml"
    cycle.write_text("groups:\n  a: {groups: [b]}\n  b: {groups: [a], roles: [worker]}\nhosts:\n  h: {groups: [a]}\n")
    out_dir = tmp_path / "reports"
    args = [a.format(inv=inv, bad=bad, paths=paths, jump=jump, keys=keys, cycle=cycle) for a in argv]
    if args[0] == "scan":
        args += ["--out-dir", str(out_dir)]
    code, out, err = run(capsys, *args)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out_dir.exists()


def test_checks_lists_the_benchmark(capsys):
    code, out, _ = run(capsys, "checks", "--benchmark", "cis-1.11", "--targets", "node")
    assert code == 0 and "cis-1.11" in out and "4.2.15" in out and "1.1.1 " not in out


def test_inventory_shows_resolved_hosts(tmp_path, capsys):
    inv = tmp_path / "inv.yaml"
    inv.write_text("defaults: {user: ops}\ngroups:\n  w: {roles: [worker], port: 2200}\nhosts:\n  n1: {groups: [w]}\n")
    code, out, _ = run(capsys, "inventory", str(inv))
    assert code == 0 and "n1" in out and "2200" in out and "ops" in out and "node" in out


def test_checks_diff_lists_what_changed(capsys):
    code, out, _ = run(capsys, "checks", "--benchmark", "cis-1.11", "--diff", "cis-1.12")
    assert code == 0 and "8 change(s)" in out
    assert "4.2.15  removed" in out and "5.2.9   now a different check" in out
    assert "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA" in out     # dropped from the 1.2.29 allow-list
    code, out, _ = run(capsys, "checks", "--benchmark", "cis-1.10", "--diff", "cis-1.11")
    assert "1.1.20  mode" in out and "1.2.30  added" in out


def test_hosts_sharing_an_address_warn_and_the_scan_proceeds(tmp_path, capsys):
    import socket
    with socket.socket() as s:                      # a closed loopback port: refused at once, nothing scanned
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "known_hosts").write_text("")
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"defaults: {{port: {port}, ssh_config: none, known_hosts: {tmp_path}/known_hosts}}\n"
                   "hosts:\n  a: {address: 127.0.0.1, roles: [worker]}\n  b: {address: 127.0.0.1, roles: [worker]}\n")
    code, out, err = run(capsys, "scan", str(inv), "--out-dir", str(tmp_path / "r"), "--connect-timeout", "2")
    assert code == 4                                # both scanned: refused, not assessed
    assert err.strip() == (f"fleetbench: warning: {inv}:4: host 'b' has the same address 127.0.0.1 port {port} "
                           f"as 'a' ({inv}:3); both will be scanned")
    assert out.count("unreachable") >= 2 or out.count("connection refused") >= 2


def test_local_roles_accept_the_inventory_aliases(tmp_path, capsys):
    """--roles takes what an inventory takes: master is control-plane, node is worker."""
    code, _, err = run(capsys, "scan", "--local", "--roles", "master,node", "--check", "1.2.1,4.2.1",
                       "--out-dir", str(tmp_path), "--flat", "--quiet")
    host = json.loads((tmp_path / "report.json").read_text())["hosts"][0]
    assert host["roles"] == ["control-plane", "worker"]
    if host["status"] == "no-kubernetes":          # no lab kubelet visible in this machine's /proc
        assert code == 4 and "roles control-plane, worker" in host["error"], err
    else:
        assert code in (0, 3) and {r["id"] for r in host["results"]} == {"1.2.1", "4.2.1"}, err
