"""fleetbench's Ansible reader against the real tools, not against expectations written by hand.

For every inventory under tests/fixtures/ansible/ and the shipped examples, ``ansible-inventory
-i X --list`` (ansible-core, installed in its own virtualenv: fleetbench never imports it) gives
the groups, their members and every host's variables; fleetbench must agree on all of them:

- the merged value of every variable fleetbench reads (the ``ansible_*`` connection variables
  and ``fleetbench_*``), value and type, after group/host precedence and group_vars/host_vars;
- each host's groups (direct and inherited);
- ``fleetbench inventory --format json``'s fields derived from them; jumps are checked with
  ``ssh -G``: the ProxyJump ssh itself reads from the same arguments, and for a ProxyCommand
  ``ssh … -W %h:%p bastion`` the bastion's user, address and port as ssh resolves that command.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fleetbench import ansible_source, cli
from fleetbench.jumphost import parse_jump
from fleetbench.sshconfig import local_user

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "ansible"
VENV = ROOT / ".cache" / "ansible-venv"
INVENTORIES = sorted(p for p in FIXTURES.iterdir() if p.is_dir()) + [
    ROOT / "inventories" / "kubespray", ROOT / "inventories" / "kubespray" / "inventory.ini",
    ROOT / "inventories" / "ansible-hosts.yaml",
]
ROLE_MAP = {"gpu": "worker"}
#: the variables fleetbench reads (compared value and type with ansible's merge)
USED = ("ansible_host", "ansible_ssh_host", "ansible_port", "ansible_ssh_port", "ansible_user", "ansible_ssh_user",
        "ansible_ssh_private_key_file", "ansible_private_key_file", "ansible_ssh_common_args",
        "ansible_ssh_extra_args", "ansible_become", "ansible_become_user", "ansible_become_method",
        "fleetbench_roles", "fleetbench_cluster")
KUBESPRAY = {"kube_control_plane": "control-plane", "kube-master": "control-plane", "kube_node": "worker",
             "kube-node": "worker", "etcd": "etcd"}


@pytest.fixture(scope="session")
def ansible_inventory() -> Path:
    """``ansible-inventory`` from ansible-core in .cache/ansible-venv (installed once, then reused)."""
    exe = VENV / "bin" / "ansible-inventory"
    if not exe.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=300)
            subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "ansible-core"], check=True,
                           capture_output=True, timeout=900)
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"cannot install ansible-core with pip into {VENV}: {exc}")
    return exe


def run_ansible(exe: Path, inventory: Path, tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")        # none of the user's settings
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"), "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")}
    out = subprocess.run([str(exe), "-i", str(inventory), "--list"], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True, timeout=120)
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def groups_of(data: dict[str, Any]) -> dict[str, set[str]]:
    """Each host's groups, direct and inherited, but ``all``, from ``--list``'s tree."""
    parents: dict[str, set[str]] = {}
    direct: dict[str, set[str]] = {h: set() for h in data["_meta"]["hostvars"]}
    for name, body in data.items():
        if name == "_meta":
            continue
        for child in body.get("children", []):
            parents.setdefault(child, set()).add(name)
        for host in body.get("hosts", []):
            direct.setdefault(host, set()).add(name)

    def up(group: str) -> set[str]:
        found = {group}
        for p in parents.get(group, ()):
            found |= up(p)
        return found

    result = {}
    for host, groups in direct.items():
        every: set[str] = set()
        for g in groups:
            every |= up(g)
        result[host] = every - {"all"}
    return result


def ssh_g(args: list[str]) -> dict[str, str]:
    """``ssh -G`` (prints the configuration, contacts nothing) → first value of each keyword."""
    out = subprocess.run(["ssh", "-G", "-F", "/dev/null", *args], check=True, capture_output=True, text=True,
                         timeout=30, stdin=subprocess.DEVNULL)
    seen: dict[str, str] = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition(" ")
        seen.setdefault(key, value)
    return seen


def jump_by_ssh(hostvars: dict[str, Any]) -> list[tuple[str | None, str, int]] | None:
    """The bastion chain ssh would use with ansible's arguments, as (user, host, port) per hop (the
    user ssh would log in as: the local user when none is given);
    None when there is none; [] for a ProxyCommand that is not ``ssh -W %h:%p``."""
    args: list[str] = []
    for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        args += shlex.split(str(hostvars.get(name) or ""))
    seen = ssh_g([*args, "target.invalid"])
    if seen.get("proxyjump"):
        hops = []
        for hop in seen["proxyjump"].split(","):
            j = parse_jump(hop)
            hops.append((j.user or local_user(), j.host, j.port or 22))   # as ssh -J reaches each hop
        return hops
    if seen.get("proxycommand"):
        inner = shlex.split(seen["proxycommand"])
        if inner[0] != "ssh" or "%h:%p" not in inner:
            return []
        i = inner.index("%h:%p")
        rest = inner[1:i - 1] + inner[i + 1:]
        bastion = ssh_g(rest)
        return [(bastion["user"], bastion["hostname"], int(bastion["port"]))]
    return None


def known_hosts_by_ssh(hostvars: dict[str, Any]) -> str | None:
    """The known_hosts file ssh would use when the arguments name one; None when they name none
    or /dev/null (fleetbench then keeps verifying against its default, never against nothing)."""
    args: list[str] = []
    for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        args += shlex.split(str(hostvars.get(name) or ""))
    chosen = ssh_g([*args, "target.invalid"])["userknownhostsfile"]
    if chosen == ssh_g(["target.invalid"])["userknownhostsfile"]:      # the arguments did not set it
        return None
    first = chosen.split()[0]
    return None if first == "/dev/null" else first


def hops_of(record: dict[str, Any]) -> list[tuple[str | None, str, int]] | None:
    if not record["jump"]:
        return [] if record["proxy_command"] else None
    return [(j.user, j.host, j.port or 22) for j in map(parse_jump, record["jump"])]


def plain(value: Any) -> Any:
    """fleetbench's line-keeping YAML containers as the plain list/dict JSON gives back."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def last(hostvars: dict[str, Any], *names: str) -> Any:
    value = None
    for name in names:
        if hostvars.get(name) is not None:
            value = hostvars[name]
    return value


@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fleetbench_reads_what_ansible_inventory_lists(inventory, ansible_inventory, tmp_path, capsys):
    data = run_ansible(ansible_inventory, inventory, tmp_path)
    hostvars = data["_meta"]["hostvars"]
    groups = groups_of(data)

    # 1. the variables, merged: value and type, for every host ansible lists
    inv, base = ansible_source.load(inventory)
    cache: dict[tuple[str, str], Any] = {}
    assert sorted(inv.hosts) == sorted(hostvars)
    for name, host in inv.hosts.items():
        ours = ansible_source.host_vars(inv, base, host, cache).values
        for var in USED:
            assert (var in ours) == (var in hostvars[name]), (name, var)
            if var in ours:
                assert plain(ours[var]) == hostvars[name][var], (name, var)
                assert type(plain(ours[var])) is type(hostvars[name][var]), (name, var)
        assert set(inv.host_groups(host)) == groups[name], name

    # 2. what `fleetbench inventory --format json` prints from them
    role_args = [f"--role-map={g}={r}" for g, r in ROLE_MAP.items()]
    assert cli.main(["inventory", str(inventory), "--format", "json", *role_args]) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)["hosts"]}
    scanned = {h for h in hostvars if "bastion" not in groups[h]}
    assert set(records) == scanned
    kubespray_bastion = None
    if "bastion" in hostvars:
        b = hostvars["bastion"]
        kubespray_bastion = [(last(b, "ansible_user", "ansible_ssh_user") or local_user(),
                              last(b, "ansible_host", "ansible_ssh_host") or "bastion",
                              int(last(b, "ansible_port", "ansible_ssh_port") or 22))]
    for name, rec in records.items():
        hv = hostvars[name]
        assert rec["address"] == last(hv, "ansible_host", "ansible_ssh_host") or name, name
        port = last(hv, "ansible_port", "ansible_ssh_port")
        assert rec["port"] == (22 if port is None else int(port)), name          # unset: what ssh would use
        assert rec["user"] == (last(hv, "ansible_user", "ansible_ssh_user") or local_user()), name
        key = last(hv, "ansible_private_key_file", "ansible_ssh_private_key_file")
        assert rec["key_files"] == ([] if key is None else [os.path.abspath(os.path.expanduser(key))]), name
        become = hv.get("ansible_become")
        on = become is True or str(become).lower() in ("yes", "true", "on", "1")
        expected_become = None
        if on:
            user = hv.get("ansible_become_user")
            expected_become = "sudo -n" if user in (None, "root") else f"sudo -n -u {user}"
        assert rec["become"] == expected_become, name
        assert set(rec["groups"]) == groups[name], name
        if "fleetbench_roles" in hv:
            roles = set(hv["fleetbench_roles"])
        else:
            roles = {r for g, r in {**KUBESPRAY, **ROLE_MAP}.items() if g in groups[name]}
        assert set(rec["roles"]) == roles, name
        assert rec["cluster"] == hv.get("fleetbench_cluster", "default"), name
        expected_jump = jump_by_ssh(hv)
        if expected_jump is None and "ansible_ssh_common_args" not in hv and name != "bastion":
            expected_jump = kubespray_bastion
        assert hops_of(rec) == expected_jump, name
        assert rec["known_hosts"] == known_hosts_by_ssh(hv), name
        for field in ("address", "port", "user", "key_files", "become", "jump"):
            if rec[field] not in (None, []):
                assert field in rec["source"], (name, field)


def test_the_comparison_covers_every_form(tmp_path, ansible_inventory):
    """The fixture set exercises what issue 16 lists: so the comparison above can fail on each."""
    text = "\n".join(p.read_text() for d in INVENTORIES for p in ([d] if d.is_file() else d.rglob("*")) if p.is_file())
    for form in ("[etcd:children]", ":vars]", "worker[01:03]", "[a:c]", "[0:10:4]", ":2222", "kube-master",
                 "kube-node", "k8s-cluster", "ansible_ssh_host", "ansible_ssh_port", "ansible_ssh_user",
                 "ProxyJump=", "-J ", "ProxyCommand", "ansible_group_priority", "ansible_become_user",
                 "fleetbench_roles", "fleetbench_cluster", "children:", "vars:", 'ansible_ssh_common_args=""'):
        assert form in text, form
    layouts = [p for d in INVENTORIES if d.is_dir() for p in d.rglob("*")]
    assert any(p.is_dir() and p.parent.name == "group_vars" for p in layouts)      # a group_vars folder
    assert any(p.is_file() and p.parent.name == "group_vars" and not p.suffix for p in layouts)
    assert any(p.suffix == ".json" for p in layouts) and any(p.is_dir() and p.parent.name == "host_vars" for p in layouts)
    assert shutil.which("ssh")
