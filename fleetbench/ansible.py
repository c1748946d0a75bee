"""Ansible inventories → fleetbench hosts: connection variables, ssh arguments, roles, bastions.

fleetbench.ansible_source reads the inventory as ``ansible-inventory --list`` does; this module
turns each host's merged variables into a :class:`Host`, saying where each setting came from
(``Host.sources``). Among spellings of one setting, the one ansible's ssh plugin reads last wins
(``ansible_ssh_host`` over ``ansible_host``). See README, "Inventory formats", for the rules
users rely on (kubespray's group names, its bastion, what is refused).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .ansible_source import EXPORT_HINT, AnsibleHost, AnsibleInventory, Vars, Vaulted, host_vars, kind_of, load
from .errors import InventoryError, UsageError
from .jumphost import parse_jump
from .models import DEFAULT_CLUSTER, ROLE_ALIASES, ROLES, Host, SSHSettings

__all__ = ["BASTION_GROUP", "ROLE_GROUPS", "jump_of_proxy_command", "kind_of", "load_hosts", "parse_role_map",
           "proxy_from_args"]

#: kubespray's group names (current and legacy) → fleetbench roles; k8s_cluster is only a parent
ROLE_GROUPS: Mapping[str, str] = {
    "kube_control_plane": "control-plane", "kube-master": "control-plane",
    "kube_node": "worker", "kube-node": "worker", "etcd": "etcd",
}
#: hosts of this group are bastions (kubespray's ``[bastion]``): reached, never scanned
BASTION_GROUP = "bastion"


def load_hosts(path: Path, role_map: Mapping[str, str] | None = None, *, check_files: bool = True) -> tuple[Host, ...]:
    """Ansible inventory at ``path`` → fleetbench hosts (bastions left out), in ansible's host order.

    ``role_map`` adds group → role names to kubespray's; ``check_files``: the private key files
    named must exist (off for commands that only print).

    Raises:
        InventoryError: file:line and what was expected.
    """
    inv, base = load(path)
    mapping = {**ROLE_GROUPS, **(role_map or {})}
    cache: dict[tuple[str, str], Vars] = {}
    resolved = {name: host_vars(inv, base, h, cache) for name, h in inv.hosts.items()}
    bastion = _kubespray_bastion(inv, resolved)
    hosts = []
    for name, ahost in inv.hosts.items():
        groups = inv.host_groups(ahost)
        if BASTION_GROUP in groups and not _has_roles(groups, mapping, resolved[name]):
            continue
        host = _to_host(ahost, groups, resolved[name], mapping, bastion)
        for key_file in host.ssh.key_files if check_files else ():
            if not Path(os.path.expanduser(key_file)).is_file():
                raise InventoryError(host.sources["key_files"], f"ansible_ssh_private_key_file: no such file '{key_file}'")
        hosts.append(host)
    if not hosts:
        raise InventoryError(str(path), "no host to scan (every host is a bastion, or the inventory is empty)")
    return tuple(hosts)


def _has_roles(groups: list[str], mapping: Mapping[str, str], hvars: Vars) -> bool:
    return any(g in mapping for g in groups) or hvars.values.get("fleetbench_roles") is not None


def _kubespray_bastion(inv: AnsibleInventory, resolved: dict[str, Vars]) -> tuple[str, str] | None:
    """kubespray routes every host through the host named ``bastion`` when there is one (its
    ``ansible_ssh_common_args`` default): the jump ``user@address:port`` and where it came from."""
    if "bastion" not in inv.hosts:
        return None
    bvars = resolved["bastion"]
    address, at = _last(bvars, ("ansible_host", "ansible_ssh_host"))
    user, _ = _last(bvars, ("ansible_user", "ansible_ssh_user"))
    port, _ = _last(bvars, ("ansible_port", "ansible_ssh_port"))
    host = str(address) if address is not None else "bastion"
    if ":" in host:
        host = f"[{host}]"
    spec = (f"{user}@" if user is not None else "") + host + (f":{port}" if port is not None else "")
    return spec, at or inv.hosts["bastion"].origin


def _last(hvars: Vars, names: tuple[str, ...]) -> tuple[Any, str]:
    """The value of the spelling ansible's ssh plugin reads last (the last one set wins)."""
    value, where = None, ""
    for name in names:
        if hvars.values.get(name) is not None:
            value, where = hvars.values[name], hvars.where[name]
            if isinstance(value, Vaulted):
                raise InventoryError(value.where, f"{name} is vaulted (!vault): fleetbench cannot decrypt it; "
                                                  f"{EXPORT_HINT} after decrypting, or set it in plain text")
            if isinstance(value, str) and "{{" in value:
                raise InventoryError(where, f"{name} is a Jinja template ({value!r}), which fleetbench does not "
                                            "evaluate: set the value itself")
    return value, where


def _to_host(ahost: AnsibleHost, groups: list[str], hvars: Vars, mapping: Mapping[str, str],
             bastion: tuple[str, str] | None) -> Host:
    sources: dict[str, str] = {}
    address, at = _last(hvars, ("ansible_host", "ansible_ssh_host"))
    sources["address"] = at or ahost.origin
    port, at = _last(hvars, ("ansible_port", "ansible_ssh_port"))
    if port is not None:
        if isinstance(port, str) and port.isdigit():
            port = int(port)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise InventoryError(at, f"ansible_port must be a port number (1-65535), got {port!r}")
        sources["port"] = at
    user, at = _last(hvars, ("ansible_user", "ansible_ssh_user"))
    if user is not None:
        sources["user"] = at
    key, at = _last(hvars, ("ansible_private_key_file", "ansible_ssh_private_key_file"))
    if key is not None:
        sources["key_files"] = at
    become = _become(hvars, sources)
    jump, proxy = _proxy(hvars, sources)
    known_hosts, ssh_config = _ssh_files(hvars, sources)
    if jump is None and proxy is None and bastion is not None and ahost.name != "bastion" \
            and hvars.values.get("ansible_ssh_common_args") is None:
        jump, sources["jump"] = bastion
    roles = _roles(ahost, groups, hvars, mapping, sources)
    cluster, at = _last(hvars, ("fleetbench_cluster",))
    if cluster is not None:
        sources["cluster"] = at
    ssh = SSHSettings(port=port, user=None if user is None else str(user),
                      key_files=() if key is None or key == "" else (str(key),),
                      jump=jump, proxy_command=proxy, become=become, known_hosts=known_hosts,
                      ssh_config=ssh_config)
    return Host(name=ahost.name, address=str(address) if address is not None else ahost.name,
                roles=roles, groups=tuple(groups), ssh=ssh, paths={}, origin=ahost.origin,
                cluster=str(cluster) if cluster is not None else DEFAULT_CLUSTER, sources=sources)


def _truthy(value: Any) -> bool:
    """ansible's ``boolean()``: yes/on/1/true (any case) and True."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "on", "1", "true", "y", "t", "1.0")


def _become(hvars: Vars, sources: dict[str, str]) -> str | None:
    become, at = _last(hvars, ("ansible_become",))
    if become is None or not _truthy(become):
        return None
    method, mat = _last(hvars, ("ansible_become_method",))
    if method is not None and str(method) != "sudo":
        raise InventoryError(mat, f"ansible_become_method {method!r} is not supported: fleetbench runs its "
                                  "probe with `sudo -n` (set ansible_become_method=sudo, or scan as root)")
    user, uat = _last(hvars, ("ansible_become_user",))
    sources["become"] = at
    if user is not None and str(user) != "root":
        sources["become"] = uat
        return f"sudo -n -u {shlex.quote(str(user))}"
    return "sudo -n"


def _proxy(hvars: Vars, sources: dict[str, str]) -> tuple[str | None, str | None]:
    """(jump, proxy_command) from ``ansible_ssh_common_args`` then ``ansible_ssh_extra_args``
    (the order ansible puts them on ssh's command line); an empty value sets nothing, so it
    cancels a group's."""
    args: list[tuple[str, str]] = []
    for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        value, at = _last(hvars, (name,))
        if value is not None and str(value).strip():
            args.append((str(value), at))
    jump, proxy, at = proxy_from_args(args)
    if jump or proxy:
        sources["jump" if jump else "proxy_command"] = at
    return jump, proxy


def _ssh_files(hvars: Vars, sources: dict[str, str]) -> tuple[str | None, str | None]:
    """(known_hosts, ssh_config) from ``-o UserKnownHostsFile=F`` and ``-F F`` in the ssh
    arguments (first given wins, as in ssh). ``UserKnownHostsFile /dev/null`` is not taken:
    fleetbench never turns host key verification off that way (``--insecure-no-host-key-check``
    does, visibly); ``-F /dev/null`` means no ssh config file (``none``)."""
    known: str | None = None
    config: str | None = None
    for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        value, at = _last(hvars, (name,))
        if value is None:
            continue
        try:
            tokens = shlex.split(str(value))
        except ValueError as exc:
            raise InventoryError(at, f"cannot split ssh arguments {value!r}: {exc}") from None
        for i, tok in enumerate(tokens):
            arg = tok[2:] or (tokens[i + 1] if i + 1 < len(tokens) else "")
            if tok.startswith("-F") and config is None and arg:
                config = "none" if arg in ("/dev/null", "none") else arg
                sources["ssh_config"] = at
            elif tok.startswith("-o") and known is None:
                key, _, val = arg.partition("=") if "=" in arg.split(" ", 1)[0] else arg.partition(" ")
                first = val.strip().split()[0] if val.strip() else ""
                if key.strip().lower() == "userknownhostsfile" and first and first != "/dev/null":
                    known = first
                    sources["known_hosts"] = at
    return known, config


def proxy_from_args(args: list[tuple[str, str]]) -> tuple[str | None, str | None, str]:
    """ssh command-line arguments, each text with where it was set → (jump, proxy_command, where).

    Read as ssh reads its command line: the first ProxyJump (``-J``, ``-o ProxyJump``) or
    ProxyCommand wins, and a ``-J`` after a jump is refused (ssh: "Only a single -J option is
    permitted"). ``ssh … -W %h:%p … [user@]bastion`` as a ProxyCommand (kubespray's form) becomes
    a jump, shared like any other; another ProxyCommand is kept as is. Options inside the
    ProxyCommand such as ``StrictHostKeyChecking=no`` are not carried over: fleetbench verifies
    the bastion's key like any host's.
    """
    tokens: list[tuple[str, str]] = []
    for text, where in args:
        try:
            tokens += [(t, where) for t in shlex.split(text)]
        except ValueError as exc:
            raise InventoryError(where, f"cannot split ssh arguments {text!r}: {exc}") from None
    found: tuple[str | None, str | None, str] | None = None
    i = 0
    while i < len(tokens):
        tok, where = tokens[i]
        nxt = tokens[i + 1][0] if i + 1 < len(tokens) else None
        if tok.startswith(("-J", "-o")):
            value = tok[2:] or nxt
            i += 1 if tok[2:] else 2
            if value is None:
                raise InventoryError(where, f"{tok} needs a value")
            if tok.startswith("-J"):
                if found and found[0] is not None:
                    raise InventoryError(where, "ssh refuses a -J after a ProxyJump (\"Only a single -J option "
                                                "is permitted\"): give one jump, hops separated by commas")
                found = found or (_check_jump(value, where), None, where)
                continue
            key, _, val = value.partition("=") if "=" in value.split(" ", 1)[0] else value.partition(" ")
            key, val = key.strip().lower(), val.strip()
            if found or key not in ("proxyjump", "proxycommand"):
                continue
            if val.lower() == "none":
                found = (None, None, where)
            elif key == "proxyjump":
                found = (_check_jump(val, where), None, where)
            else:
                jump = jump_of_proxy_command(val)
                found = (_check_jump(jump, where), None, where) if jump else (None, val, where)
            continue
        i += 1
    return found or (None, None, "")


def _check_jump(spec: str, where: str) -> str:
    hops = [h.strip() for h in spec.split(",")]
    for hop in hops:
        try:
            parse_jump(hop.removeprefix("ssh://"))
        except ValueError as exc:
            raise InventoryError(where, f"jump: {exc}") from None
    return ",".join(h.removeprefix("ssh://") for h in hops)


#: ssh options that take an argument (so the destination is told apart from their values)
_SSH_ARG_OPTS = set("BbcDEeFIiJLlmOoPpQRSWw")


def jump_of_proxy_command(command: str) -> str | None:
    """``ssh [opts] -W %h:%p [opts] [user@]host`` → ``user@host:port``; None for anything else."""
    try:
        tokens = shlex.split(command)
    except ValueError:
        return None
    if not tokens or os.path.basename(tokens[0]) != "ssh":
        return None
    user: str | None = None
    port: str | None = None
    forward: str | None = None
    dest: list[str] = []
    i = 1
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("-") and len(tok) > 1:
            flag = tok[1]
            if flag in _SSH_ARG_OPTS:
                arg = tok[2:] or (tokens[i + 1] if i + 1 < len(tokens) else "")
                i += 1 if tok[2:] else 2
                if flag == "W":
                    forward = arg
                elif flag == "p":
                    port = arg
                elif flag == "l":
                    user = arg
                elif flag == "J":
                    return None
                elif flag == "o":
                    key, _, val = arg.partition("=") if "=" in arg else arg.partition(" ")
                    if key.strip().lower() == "port":
                        port = val.strip()
                    elif key.strip().lower() == "user":
                        user = val.strip()
                    elif key.strip().lower() in ("proxyjump", "proxycommand"):
                        return None
                continue
            i += 1
            continue
        dest.append(tok)
        i += 1
    if forward != "%h:%p" or len(dest) != 1:
        return None
    target = dest[0]
    if "@" in target:
        user, target = target.rsplit("@", 1)
    if ":" in target:
        target = f"[{target}]"
    if port is not None and not port.isdigit():
        return None
    return (f"{user}@" if user else "") + target + (f":{port}" if port else "")


def _roles(ahost: AnsibleHost, groups: list[str], hvars: Vars, mapping: Mapping[str, str],
           sources: dict[str, str]) -> tuple[str, ...]:
    explicit, at = _last(hvars, ("fleetbench_roles",))
    names: list[str]
    if explicit is not None:
        names = [r.strip() for r in explicit.split(",")] if isinstance(explicit, str) else \
            [str(r) for r in explicit] if isinstance(explicit, list) else []
        if not names:
            raise InventoryError(at, f"fleetbench_roles must be a list of roles ({', '.join(ROLES)}), got {explicit!r}")
        sources["roles"] = at
    else:
        names = [mapping[g] for g in groups if g in mapping]
        if names:
            sources["roles"] = "groups " + ", ".join(g for g in groups if g in mapping)
    roles = {ROLE_ALIASES.get(r, r) for r in names if r}
    for role in roles:
        if role not in ROLES:
            raise InventoryError(at or ahost.origin, f"unknown role '{role}' for host '{ahost.name}' "
                                                     f"(expected: {', '.join(ROLES)})")
    if not roles:
        raise InventoryError(ahost.origin, f"host '{ahost.name}' has no role: put it in kube_control_plane, "
                                           "kube_node or etcd, map one of its groups "
                                           f"({', '.join(groups) or 'none'}) with --role-map GROUP=ROLE, "
                                           "or set fleetbench_roles")
    return tuple(r for r in ROLES if r in roles)


def parse_role_map(items: Iterable[str]) -> dict[str, str]:
    """``--role-map GROUP=ROLE`` values → mapping; a bad one is a UsageError naming the flag."""
    result: dict[str, str] = {}
    for item in items:
        group, sep, role = item.partition("=")
        role = ROLE_ALIASES.get(role.strip(), role.strip())
        if not sep or not group.strip() or role not in ROLES:
            raise UsageError("--role-map", f"expected GROUP=ROLE with ROLE one of {', '.join(ROLES)}, got '{item}'")
        result[group.strip()] = role
    return result
