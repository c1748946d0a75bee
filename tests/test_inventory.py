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
    n1, n2 = load_inventory(p)
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
