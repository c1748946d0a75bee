"""Inventory: inheritance order, validation with file:line, --limit."""

from __future__ import annotations

import textwrap

import pytest

from fleetbench.errors import InventoryError, UsageError
from fleetbench.inventory import load_inventory


def write(tmp_path, text):
    p = tmp_path / "inv.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_precedence_host_over_groups_over_defaults(tmp_path):
    p = write(tmp_path, """
        defaults: {user: admin, port: 22, become: sudo -n, paths: {kubelet.config: /a}}
        groups:
          base: {user: base-user, roles: [worker], key_files: [~/.ssh/base]}
          special: {groups: [base], port: 2200, paths: {kubelet.config: /b}}
        hosts:
          n1: {address: 127.0.0.1, groups: [special]}
          n2: {groups: [base], user: me, roles: [etcd]}
        """)
    n1, n2 = load_inventory(p, check_files=False)      # ~/.ssh/base need not exist to test precedence
    assert (n1.ssh.user, n1.ssh.port, n1.ssh.become) == ("base-user", 2200, "sudo -n")
    assert n1.roles == ("worker",) and n1.paths == {"kubelet.config": "/b"} and n1.ssh.key_files == ("~/.ssh/base",)
    assert n2.address == "n2" and n2.ssh.user == "me" and n2.roles == ("etcd", "worker")
    assert n2.origin.endswith("inv.yaml:8")


def test_role_aliases(tmp_path):
    p = write(tmp_path, "hosts:\n  a: {roles: [master, node]}\n")
    assert load_inventory(p)[0].roles == ("control-plane", "worker")


@pytest.mark.parametrize("text,where,message", [
    ("hosts:\n  a:\n    adress: x\n    roles: [worker]\n", ":3", "unknown key 'adress' in hosts.a"),
    ("hosts:\n  a: {roles: [wroker]}\n", ":2", "unknown role 'wroker'"),
    ("hosts:\n  a: {roles: [worker], port: 70000}\n", ":2", "port number"),
    ("hosts:\n  a: {groups: [nope], roles: [worker]}\n", ":2", "unknown group 'nope'"),
    ("hosts:\n  a: {address: x}\n", ":2", "has no roles"),
    ("hosts: [a, b]\n", ":1", "expected 'hosts:'"),
    ("hosts:\n  a: {roles: [worker]}\n  a: {roles: [worker]}\n", ":3", "duplicate key 'a'"),
    ("hosts:\n  a: {roles: [worker]\n", ":3", "invalid YAML"),
    ("hosts: {}\n", ":1", "at least one host"),
])
def test_errors_name_file_and_line(tmp_path, text, where, message):
    p = write(tmp_path, text)
    with pytest.raises(InventoryError) as err:
        load_inventory(p)
    assert f"{p}{where}:" in str(err.value) and message in str(err.value)


def test_limit(tmp_path):
    p = write(tmp_path, "hosts:\n  w1: {roles: [worker]}\n  w2: {roles: [worker]}\n  cp: {roles: [control-plane]}\n")
    assert [h.name for h in load_inventory(p, ["w*"])] == ["w1", "w2"]
    with pytest.raises(UsageError, match="--limit: 'x\\*' matches no host"):
        load_inventory(p, ["x*"])


def test_missing_file(tmp_path):
    with pytest.raises(InventoryError, match="cannot read file"):
        load_inventory(tmp_path / "nope.yaml")


def test_a_jump_chain_is_accepted_hop_by_hop(tmp_path):
    from fleetbench.jumphost import JumpHost, format_jump, parse_jumps
    p = write(tmp_path, "hosts:\n  a: {roles: [worker], jump: 'ops@b1:2222,b2,[::1]:23'}\n")
    (a,) = load_inventory(p)
    hops = parse_jumps(a.ssh.jump or "")
    assert hops == (JumpHost("ops", "b1", 2222), JumpHost(None, "b2", None), JumpHost(None, "::1", 23))
    assert format_jump(hops) == "ops@b1:2222,b2,[::1]:23"


def test_ssh_config_is_relative_to_the_inventory_folder(tmp_path, monkeypatch):
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "cfg").write_text("Host a\n  Port 2\n")
    p = tmp_path / "inv" / "hosts.yaml"
    p.write_text("hosts:\n  a: {roles: [worker], ssh_config: cfg}\n")
    monkeypatch.chdir(tmp_path)
    (a,) = load_inventory(p)
    assert a.ssh.ssh_config == str(tmp_path / "inv" / "cfg")


@pytest.mark.parametrize("jump,message", [
    ("ops@bastion:notaport", "hosts.a.jump: jump 'ops@bastion:notaport': port must be a number 1-65535, got 'notaport'"),
    ("ops@bastion:0", "port must be a number 1-65535, got '0'"),
    ("ops@[::1]x", "expected [address]:port for an IPv6 address"),
    ("a@b:22,,c@d:22", "jump 'a@b:22,,c@d:22': an empty hop between commas"),
    ("a@b:22,c@d:x", "jump 'c@d:x': port must be a number 1-65535, got 'x'"),
    ("''", "jump must be [user@]host[:port][,...], got an empty value"),
    ("[1, 2]", "must be [user@]host[:port][,...], got [1, 2]"),
])
def test_a_bad_jump_is_an_error_at_its_line(tmp_path, jump, message):
    p = write(tmp_path, f"hosts:\n  a:\n    roles: [worker]\n    jump: {jump}\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(p)
    assert str(err.value).startswith(f"{p}:4: ") and message in str(err.value)


@pytest.mark.parametrize("jump,user,host,port", [
    ("ops@bastion:2222", "ops", "bastion", 2222), ("bastion", None, "bastion", None),
    ("ops@[::1]:22", "ops", "::1", 22), ("fe80::1", None, "fe80::1", None), ("10.0.0.1:22", None, "10.0.0.1", 22),
])
def test_good_jumps_parse(tmp_path, jump, user, host, port):
    from fleetbench.jumphost import JumpHost, parse_jump
    p = write(tmp_path, f"hosts:\n  a: {{roles: [worker], jump: '{jump}'}}\n")
    assert load_inventory(p)[0].ssh.jump == jump
    assert parse_jump(jump) == JumpHost(user, host, port)


@pytest.mark.parametrize("text,line,message", [
    ("defaults:\n  known_hosts: {dir}/kh-typo\nhosts:\n  a: {{roles: [worker]}}\n", 2, "known_hosts: no such file"),
    ("groups:\n  g:\n    roles: [worker]\n    key_files:\n      - {dir}/id_ok\n      - {dir}/id_typo\n"
     "hosts:\n  a: {{groups: [g]}}\n", 6, "key_files: no such file"),
    ("hosts:\n  a:\n    roles: [worker]\n    ssh_config: {dir}/cfg-typo\n", 4, "ssh_config: no such file"),
])
def test_missing_files_named_in_the_inventory_are_errors_at_their_line(tmp_path, text, line, message):
    (tmp_path / "id_ok").write_text("key")
    p = write(tmp_path, text.format(dir=tmp_path))
    with pytest.raises(InventoryError) as err:
        load_inventory(p)
    assert str(err.value).startswith(f"{p}:{line}: {message} '{tmp_path}/")


def test_existing_files_and_ssh_config_none_are_accepted(tmp_path):
    for name in ("kh", "id", "cfg"):
        (tmp_path / name).write_text("x")
    p = write(tmp_path, f"defaults: {{known_hosts: {tmp_path}/kh, key_files: [{tmp_path}/id], ssh_config: {tmp_path}/cfg}}\n"
                        "hosts:\n  a: {roles: [worker]}\n  b: {roles: [worker], ssh_config: none}\n")
    a, b = load_inventory(p)
    assert a.ssh.known_hosts == f"{tmp_path}/kh" and b.ssh.ssh_config == "none"


@pytest.mark.parametrize("groups,line,cycle", [
    ("  a: {groups: [b]}\n  b: {groups: [a], roles: [worker]}\n", 2, "a → b → a"),
    ("  x: {roles: [worker]}\n  a: {groups: [a]}\n", 3, "a → a"),
    ("  a: {groups: [x]}\n  x: {groups: [b]}\n  b: {groups: [x], roles: [worker]}\n", 3, "x → b → x"),
])
def test_group_cycles_are_errors_at_the_groups_line(tmp_path, groups, line, cycle):
    p = write(tmp_path, f"groups:\n{groups}hosts:\n  h: {{groups: [a], roles: [worker]}}\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(p)
    assert str(err.value).startswith(f"{p}:{line}: group ") and f"is its own ancestor: {cycle}" in str(err.value)


def test_a_nul_byte_is_one_line_with_its_line_number(tmp_path):
    p = tmp_path / "inv.yaml"
    p.write_bytes(b"hosts:\n  a: {roles: [worker]}\n  b\x00: {roles: [worker]}\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(p)
    assert str(err.value) == f"{p}:3: invalid YAML: control character #x0000 is not allowed (is this a text file?)"


def test_host_names_stay_as_written(tmp_path):
    p = write(tmp_path, "hosts:\n  true: {roles: [worker]}\n  123: {roles: [worker]}\n  1.10: {roles: [worker]}\n"
                        "  null: {roles: [worker]}\n  0x1F: {roles: [worker]}\n  'quoted': {roles: [worker]}\n")
    hosts = load_inventory(p)
    assert [h.name for h in hosts] == ["true", "123", "1.10", "null", "0x1F", "quoted"]
    assert [h.address for h in hosts] == ["true", "123", "1.10", "null", "0x1F", "quoted"]


def test_hosts_sharing_an_address_and_port_are_reported(tmp_path):
    from fleetbench.inventory import shared_endpoints
    p = write(tmp_path, "hosts:\n  a: {address: 10.0.0.1, roles: [worker]}\n  b: {address: 10.0.0.1, port: 2222, roles: [worker]}\n"
                        "  c: {address: 10.0.0.1, roles: [worker]}\n  '10.0.0.9': {roles: [worker]}\n"
                        "  d: {address: 10.0.0.9, roles: [worker]}\n")
    assert shared_endpoints(load_inventory(p)) == [
        f"{p}:4: host 'c' has the same address 10.0.0.1 as 'a' ({p}:2); both will be scanned",
        f"{p}:6: host 'd' has the same address 10.0.0.9 as '10.0.0.9' ({p}:5); both will be scanned"]


def test_cluster_inherits_like_any_setting_and_defaults_to_default(tmp_path):
    p = write(tmp_path, "defaults: {cluster: prod}\n"
                        "groups:\n  staging: {cluster: staging, roles: [worker]}\n"
                        "hosts:\n  a: {roles: [worker]}\n  b: {groups: [staging]}\n  c: {groups: [staging], cluster: lab}\n")
    assert [h.cluster for h in load_inventory(p)] == ["prod", "staging", "lab"]
    q = write(tmp_path, "hosts:\n  a: {roles: [worker]}\n")
    assert load_inventory(q)[0].cluster == "default"
