"""Inventory YAML → tuple[Host]: ``defaults`` < ``groups`` < ``hosts``, validated with file:line.

Precedence, most specific first (nornir's order)::

    host's own keys
      > its groups, in the order listed (a group's own ``groups`` are searched depth-first
        right after it)
        > defaults

``roles`` and ``paths`` merge the same way, key by key for ``paths`` and as a union for
``roles``. Anything the inventory leaves unset is left to the user's ``~/.ssh/config``
(``Host`` blocks, ``User``, ``Port``, ``IdentityFile``, ``ProxyJump``) and ssh-agent, as with
OpenSSH. Unknown keys are errors, so a typo such as ``adress`` never silently does nothing.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import ansible, yamlsrc
from .errors import InventoryError, UsageError
from .jumphost import parse_jumps
from .models import DEFAULT_CLUSTER, ROLE_ALIASES, ROLES, Host, SSHSettings
from .yamlsrc import LDict, LList

#: keys a host, a group or defaults may set, with the type each expects
_SETTINGS: dict[str, str] = {
    "port": "int", "user": "str", "key_files": "list", "known_hosts": "str", "jump": "jump",
    "become": "str", "ssh_config": "str", "connect_timeout": "number", "timeout": "number",
    "roles": "list", "paths": "map", "cluster": "str", "kubeconfig": "str", "kubectl": "str",
}
_HOST_ONLY = {"address": "str", "groups": "list", "cluster_source": "bool"}
_GROUP_ONLY = {"groups": "list"}
_ROLE_ALIASES = ROLE_ALIASES
#: settings that name files on this machine: they must exist when a scan is to use them
_FILE_KEYS = ("key_files", "known_hosts", "ssh_config")


def load_inventory(path: str | Path, limit: Iterable[str] = (), *, check_files: bool = True,
                   role_map: Mapping[str, str] | None = None) -> tuple[Host, ...]:
    """Load an inventory and return its hosts, in file order.

    The format is told by content (fleetbench.ansible.kind_of): fleetbench's YAML (this module),
    or an Ansible INI/YAML inventory or directory of them (fleetbench.ansible).

    Args:
        path: the YAML file, an Ansible inventory file, or a directory holding one.
        limit: host names or globs (``worker-*``); empty means every host. A pattern that
            matches nothing is an error, so a typo never turns into an empty scan.
        check_files: the ``key_files``, ``known_hosts`` and ``ssh_config`` files named must
            exist (so a typo is reported at its line, before any host is contacted); off for
            commands that only print (``plan``).
        role_map: Ansible group → role (``--role-map``), for Ansible inventories only.

    Raises:
        InventoryError: one line, ``file:line: what was expected``.
    """
    path = Path(path)
    if ansible.kind_of(path) != "fleetbench":
        return _limit(ansible.load_hosts(path, role_map, check_files=check_files), tuple(limit))
    if role_map:
        raise UsageError("--role-map", f"{path} is a fleetbench inventory: set roles: on its groups or hosts "
                                       "(--role-map maps Ansible group names)")
    doc = yamlsrc.load(path, InventoryError)
    where = _Where(path)
    if not isinstance(doc, LDict):
        raise InventoryError(f"{path}:1", "expected a mapping with 'hosts' (and optional 'defaults', 'groups')")
    _only_keys(doc, {"defaults", "groups", "hosts"}, where, "top level")
    defaults = _block(doc.get("defaults") or LDict(), _SETTINGS, where, "defaults", doc.line_of("defaults"))
    groups_raw = doc.get("groups") or LDict()
    if not isinstance(groups_raw, LDict):
        raise InventoryError(where(doc.line_of("groups")), "'groups' must be a mapping of group name → settings")
    groups = {
        str(name): _block(body or LDict(), _SETTINGS | _GROUP_ONLY, where, f"groups.{name}", groups_raw.line_of(name))
        for name, body in groups_raw.items()
    }
    blocks = [defaults, *groups.values()]
    hosts_raw = doc.get("hosts")
    if not isinstance(hosts_raw, LDict) or not hosts_raw:
        raise InventoryError(where(doc.line_of("hosts") if "hosts" in doc else doc.line),
                             "expected 'hosts:' with at least one host")
    for gname, group in groups.items():
        for parent in group.get("groups") or ():
            if parent not in groups:
                raise InventoryError(where(group.line_of("groups")), f"group '{gname}' names unknown group '{parent}'")
    _refuse_cycles(groups, groups_raw, where)
    hosts = []
    for name, body in hosts_raw.items():
        line = hosts_raw.line_of(name)
        block = _block(body or LDict(), _SETTINGS | _HOST_ONLY, where, f"hosts.{name}", line)
        blocks.append(block)
        hosts.append(_resolve(str(name), block, groups, defaults, where, line))
    if check_files:
        for block in blocks:
            _check_files(block, where)
    return _limit(tuple(hosts), tuple(limit))


def _refuse_cycles(groups: dict[str, LDict], groups_raw: LDict, where: _Where) -> None:
    """A group that is its own ancestor (``a → b → a``, ``a → a``) is an error at the group's line:
    its settings would have no defined precedence."""
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            start = path[path.index(name)]
            raise InventoryError(where(groups_raw.line_of(start)),
                                 f"group '{start}' is its own ancestor: {' → '.join(path[path.index(name):] + (name,))}")
        if name in done:
            return
        for parent in groups[name].get("groups") or ():
            visit(parent, path + (name,))
        done.add(name)

    for name in groups:
        visit(name, ())


def _check_files(block: LDict, where: _Where) -> None:
    """Files named by ``key_files``, ``known_hosts`` and ``ssh_config`` must exist, at their line."""
    for key in _FILE_KEYS:
        value = block.get(key)
        if value is None or (key == "ssh_config" and str(value).lower() == "none"):
            continue
        items = list(enumerate(value)) if isinstance(value, LList) else [(None, value)]
        for index, name in items:
            line = block.line_of(key) if index is None else value.line_of(index)
            base = where.path.parent if key == "ssh_config" and not str(name).startswith("~") else Path()
            if not (base / os.path.expanduser(str(name))).is_file():
                raise InventoryError(where(line), f"{key}: no such file '{name}'")


class _Where:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, line: int) -> str:
        return f"{self.path}:{line}"


def _only_keys(block: LDict, allowed: Iterable[str], where: _Where, what: str) -> None:
    allowed = set(allowed)
    for key in block:
        if key not in allowed:
            raise InventoryError(where(block.line_of(key)),
                                 f"unknown key '{key}' in {what} (expected one of: {', '.join(sorted(allowed))})")


def _block(body: Any, spec: dict[str, str], where: _Where, what: str, line: int) -> LDict:
    """Check one defaults/group/host mapping against ``spec``; return it unchanged."""
    if not isinstance(body, LDict):
        raise InventoryError(where(line), f"{what} must be a mapping of settings")
    _only_keys(body, spec, where, what)
    for key, kind in spec.items():
        if key not in body or body[key] is None:
            continue
        value, at = body[key], where(body.line_of(key))
        if kind == "str" and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
            raise InventoryError(at, f"{what}.{key} must be a string")
        if kind == "jump":
            if not isinstance(value, str):
                raise InventoryError(at, f"{what}.{key} must be [user@]host[:port][,...], got {value!r}")
            try:
                parse_jumps(value)
            except ValueError as exc:
                raise InventoryError(at, f"{what}.{key}: {exc}") from None
        if kind == "bool" and not isinstance(value, bool):
            raise InventoryError(at, f"{what}.{key} must be true or false, got {value!r}")
        if kind == "int" and (not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536):
            raise InventoryError(at, f"{what}.{key} must be a port number (1-65535), got {value!r}")
        if kind == "number" and (not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0):
            raise InventoryError(at, f"{what}.{key} must be a positive number of seconds, got {value!r}")
        if kind == "list":
            if isinstance(value, str):
                body[key] = LList([value])
                body[key].line, body[key].item_lines = body.line_of(key), [body.line_of(key)]
            elif not isinstance(value, LList) or not all(isinstance(v, str) for v in value):
                raise InventoryError(at, f"{what}.{key} must be a list of strings")
        if kind == "map" and (not isinstance(value, LDict) or not all(isinstance(v, str) for v in value.values())):
            raise InventoryError(at, f"{what}.{key} must be a mapping of name → path")
    if "roles" in body and body["roles"] is not None:
        roles = LList(_ROLE_ALIASES.get(r, r) for r in body["roles"])
        for role in roles:
            if role not in ROLES:
                raise InventoryError(where(body.line_of("roles")),
                                     f"unknown role '{role}' in {what} (expected: {', '.join(ROLES)})")
        roles.line, roles.item_lines = body["roles"].line, body["roles"].item_lines
        body["roles"] = roles
    return body


def _group_order(names: Iterable[str], groups: dict[str, LDict], seen: tuple[str, ...] = ()) -> list[str]:
    """Groups in precedence order: each listed group, then its own parents, depth-first."""
    order: list[str] = []
    for name in names:
        if name in seen or name in order:
            continue
        order.append(name)
        for parent in _group_order(groups[name].get("groups") or (), groups, seen + (name,)):
            if parent not in order:
                order.append(parent)
    return order


def _resolve(name: str, block: LDict, groups: dict[str, LDict], defaults: LDict,
             where: _Where, line: int) -> Host:
    for group in block.get("groups") or ():
        if group not in groups:
            raise InventoryError(where(block.line_of("groups")), f"host '{name}' names unknown group '{group}'")
    chain = [block] + [groups[g] for g in _group_order(block.get("groups") or (), groups)] + [defaults]

    sources: dict[str, str] = {"address": where(block.line_of("address") if "address" in block else line)}

    def first(key: str) -> Any:
        for layer in chain:
            if layer.get(key) is not None:
                sources[key] = where(layer.line_of(key))
                return layer[key]
        return None

    address = block.get("address") or name
    roles: list[str] = []
    paths: dict[str, str] = {}
    for layer in chain:
        roles.extend(r for r in layer.get("roles") or () if r not in roles)
    for layer in reversed(chain):
        paths.update(layer.get("paths") or {})
    if not roles:
        raise InventoryError(where(line), f"host '{name}' has no roles (set roles: [control-plane|etcd|worker] "
                                          "on the host or one of its groups)")
    ssh = SSHSettings(
        port=first("port"), user=_str(first("user")),
        key_files=tuple(str(k) for k in first("key_files") or ()),
        known_hosts=_str(first("known_hosts")), jump=_str(first("jump")), become=_str(first("become")),
        ssh_config=_config_path(_str(first("ssh_config")), where.path),
        connect_timeout=_num(first("connect_timeout")), timeout=_num(first("timeout")),
    )
    return Host(name=name, address=str(address), roles=tuple(r for r in ROLES if r in roles),
                groups=tuple(block.get("groups") or ()), ssh=ssh, paths=paths, origin=where(line),
                cluster=_str(first("cluster")) or DEFAULT_CLUSTER, sources=sources,
                cluster_source=block.get("cluster_source") is True,
                kubeconfig=_str(first("kubeconfig")), kubectl=_str(first("kubectl")))


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def host_record(host: Host, hops: tuple[str, ...] | None = None) -> dict[str, Any]:
    """One host for ``fleetbench inventory --format json``: the connection fields (``None``:
    left to OpenSSH's defaults), file paths absolute, jump hops as a list (``hops``: as resolved
    through the ssh config, else as written), and ``source``: where each field came from."""
    return {
        "name": host.name, "address": host.address, "port": host.ssh.port, "user": host.ssh.user,
        "key_files": [_absolute(k) for k in host.ssh.key_files],
        "jump": list(hops) if hops is not None else [hop.strip() for hop in host.ssh.jump.split(",")] if host.ssh.jump else [],
        "proxy_command": host.ssh.proxy_command, "become": host.ssh.become,
        "roles": list(host.roles), "groups": list(host.groups), "cluster": host.cluster,
        "known_hosts": _absolute(host.ssh.known_hosts) if host.ssh.known_hosts else None,
        "source": dict(host.sources),
    }


def _config_path(value: str | None, inventory: Path) -> str | None:
    """``ssh_config:`` relative to the inventory's folder (so a ``vagrant ssh-config`` output kept
    beside the inventory is found from any working directory); ``~`` and absolute paths as given."""
    if value is None or value.lower() == "none" or value.startswith("~") or os.path.isabs(value):
        return value
    return str(inventory.parent / value)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def shared_endpoints(hosts: tuple[Host, ...]) -> list[str]:
    """One warning per host that has the same address and port as an earlier one: likely a
    copy-paste slip, and the node would be scanned (and counted) twice. Not an error: two names
    for one machine can be meant (and a port left to the ssh config may differ per name)."""
    first: dict[tuple[str, int | None], Host] = {}
    warnings = []
    for host in hosts:
        key = (host.address, host.ssh.port)
        if key in first:
            other = first[key]
            port = f" port {host.ssh.port}" if host.ssh.port else ""
            warnings.append(f"{host.origin}: host '{host.name}' has the same address {host.address}{port} as "
                            f"'{other.name}' ({other.origin}); both will be scanned")
        else:
            first[key] = host
    return warnings


def _limit(hosts: tuple[Host, ...], patterns: tuple[str, ...]) -> tuple[Host, ...]:
    if not patterns:
        return hosts
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(h.name, pattern) for h in hosts):
            raise UsageError("--limit", f"'{pattern}' matches no host in the inventory "
                                        f"(hosts: {', '.join(h.name for h in hosts)})")
    return tuple(h for h in hosts if any(fnmatch.fnmatchcase(h.name, p) for p in patterns))
