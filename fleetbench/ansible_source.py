"""Ansible static inventories read as ``ansible-inventory --list`` reads them: groups, hosts, variables.

INI, YAML, or a directory of them, with group_vars/ and host_vars/; no ansible-core import
(GPL, heavy). What becomes of the variables (connection settings, roles) is fleetbench.ansible's
job. What is read, and in which order, follows ansible-core:

- INI: ``[group]``, ``[group:vars]``, ``[group:children]``, hosts before any section are
  ``ungrouped``; a host line is split like a shell line (``#`` starts a comment at a token), its
  ``key=value`` values and those of ``[g:vars]`` lines are Python literals when they parse as one
  (``22`` is a number, ``True`` a boolean, ``'a b'`` a string), else the text as written.
- YAML: top-level groups, each with ``hosts``, ``vars`` and ``children``.
- Host patterns: ``worker[01:03]``, ``etcd[a:c]``, ``n[0:10:2]`` and ``host:port`` (the port only
  when the host is first seen, as ansible does).
- A directory: every file in it (sorted, subfolders too) except hidden ones, ``group_vars``,
  ``host_vars`` and ansible's ignored extensions, like ``ansible-inventory -i DIR``.
- ``group_vars/<group>`` and ``host_vars/<host>`` beside the inventory file (or inside the
  directory given): a file with no extension, ``.yml``, ``.yaml`` or ``.json``, or a folder of
  such files read in name order.
- Precedence, weakest first: ``all``'s inline vars < every other group's inline vars <
  ``group_vars/all`` < ``group_vars/<group>`` < the host's inline vars < ``host_vars/<host>``;
  groups are applied by depth (a child over its parents), then ``ansible_group_priority``, then
  name.

Dynamic inventories (scripts, ``#!``; ``plugin:`` files) and vaulted data cannot be read
without running ansible: they are refused with the command that exports a static inventory.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import yamlsrc
from .errors import InventoryError
from .yamlsrc import LDict

EXPORT_HINT = "export a static inventory with `ansible-inventory -i SOURCE --list -y > hosts.yml` and scan that"

# files ansible skips in an inventory directory (INVENTORY_IGNORE_EXTS and the always-ignored names)
_IGNORED_EXTS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry")
_IGNORED_NAMES = ("host_vars", "group_vars", "vars_plugins")
_VARS_EXTS = ("", ".yml", ".yaml", ".json")
_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_YAML_KEY = re.compile(r"^[^\s=]+:(\s|$)")
_BRACKET_PORT = re.compile(r"^\[(.+)\]:(\d+)$")
_HOST_PORT = re.compile(r"^([^:\[\]]+(?:\[[^\]]*\][^:\[\]]*)*):(\d+)$")


@dataclass(frozen=True, slots=True)
class Vaulted:
    """A ``!vault`` value: kept as a marker, an error only if fleetbench needs the variable."""

    where: str


@dataclass(slots=True)
class Vars:
    """Variables of one group or host, with where each was set (``file:line``)."""

    values: dict[str, Any] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)

    def set(self, key: str, value: Any, where: str) -> None:
        self.values[key] = value
        self.where[key] = where

    def update(self, other: Vars) -> None:
        self.values.update(other.values)
        self.where.update(other.where)


@dataclass(slots=True)
class AnsibleGroup:
    name: str
    vars: Vars = field(default_factory=Vars)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    priority: int = 1


@dataclass(slots=True)
class AnsibleHost:
    name: str
    origin: str
    vars: Vars = field(default_factory=Vars)
    groups: list[str] = field(default_factory=list)


class AnsibleInventory:
    """What ansible's InventoryData holds for static sources: groups, hosts, inline vars."""

    def __init__(self) -> None:
        self.groups: dict[str, AnsibleGroup] = {"all": AnsibleGroup("all"), "ungrouped": AnsibleGroup("ungrouped")}
        self.hosts: dict[str, AnsibleHost] = {}

    def group(self, name: str) -> AnsibleGroup:
        if name not in self.groups:
            self.groups[name] = AnsibleGroup(name)
        return self.groups[name]

    def add_host(self, name: str, group: str, port: int | None, where: str) -> AnsibleHost:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = AnsibleHost(name, where)
            if port is not None:
                host.vars.set("ansible_port", port, where)
        if group not in host.groups:
            host.groups.append(group)
            self.group(group).hosts.append(name)
        return host

    def set_host_var(self, host: AnsibleHost, key: str, value: Any, where: str) -> None:
        """ansible's ``InventoryData.set_variable`` looks the name up among groups first: a host
        variable of a host that has a group's name (kubespray's ``[bastion]`` / ``bastion``) is
        set on that group, and so is weaker than group_vars/all. Read as ansible reads it."""
        if host.name in self.groups:
            _set_group_var(self.groups[host.name], key, value, where)
        else:
            host.vars.set(key, value, where)

    def add_child(self, parent: str, child: str, where: str) -> None:
        if child == parent or child in self.ancestors(parent):
            raise InventoryError(where, f"adding group '{child}' as a child of '{parent}' makes a loop")
        p, c = self.group(parent), self.group(child)
        if child not in p.children:
            p.children.append(child)
        if parent not in c.parents:
            c.parents.append(parent)

    def ancestors(self, name: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.groups[name].parents) if name in self.groups else []
        while todo:
            g = todo.pop()
            if g not in seen:
                seen.add(g)
                todo.extend(self.groups[g].parents)
        return seen

    def reconcile(self) -> None:
        """ansible's reconcile_inventory: parentless groups go under ``all``, hosts in no group
        under ``ungrouped`` (and out of it when they are in another group)."""
        for name, group in list(self.groups.items()):
            if name != "all" and not group.parents:
                self.add_child("all", name, "")
        ungrouped = self.groups["ungrouped"]
        for host in self.hosts.values():
            others = [g for g in host.groups if g not in ("all", "ungrouped")]
            if others and "ungrouped" in host.groups:
                host.groups.remove("ungrouped")
                ungrouped.hosts.remove(host.name)
            elif not others and "ungrouped" not in host.groups:
                host.groups.append("ungrouped")
                ungrouped.hosts.append(host.name)

    def depth(self, name: str, _memo: dict[str, int] | None = None) -> int:
        """Longest path from ``all``: what ansible's incremental ``Group.depth`` ends at."""
        memo = {} if _memo is None else _memo
        if name not in memo:
            parents = self.groups[name].parents
            memo[name] = 0 if not parents else 1 + max(self.depth(p, memo) for p in parents)
        return memo[name]

    def host_groups(self, host: AnsibleHost) -> list[str]:
        """Every group of the host (direct and inherited) but ``all``, in ansible's ``sort_groups``
        order: depth, priority, name."""
        names: set[str] = set()
        for g in host.groups:
            names.add(g)
            names |= self.ancestors(g)
        names.discard("all")
        memo: dict[str, int] = {}
        return sorted(names, key=lambda g: (self.depth(g, memo), self.groups[g].priority, g))


# --------------------------------------------------------------------------- detection

def kind_of(path: Path) -> str:
    """``fleetbench``, ``ansible-yaml``, ``ansible-ini`` or ``directory``, from the content.

    Raises:
        InventoryError: a dynamic inventory or vaulted file (with how to export a static one).
    """
    if path.is_dir():
        return "directory"
    try:
        head = path.read_bytes()[:4096]
    except OSError as exc:
        raise InventoryError(str(path), f"cannot read file ({exc.__class__.__name__}: {exc})") from None
    if head.startswith(b"#!"):
        raise InventoryError(f"{path}:1", f"a dynamic inventory script cannot be read without running it: {EXPORT_HINT}")
    if head.lstrip().startswith(b"$ANSIBLE_VAULT"):
        raise InventoryError(f"{path}:1", f"the file is encrypted with ansible-vault: {EXPORT_HINT}")
    text = _read(path)
    lines = [ln for ln in text.splitlines() if ln.strip() and ln.lstrip()[0] not in "#;"]
    if any(_SECTION.match(ln.strip()) for ln in lines):
        return "ansible-ini"
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError:
        # broken YAML (`key:` lines) is reported as such; anything else is read as INI
        return "fleetbench" if any(_YAML_KEY.match(ln) for ln in lines) else "ansible-ini"
    if not isinstance(doc, dict):
        return "ansible-ini"
    if "plugin" in doc:
        raise InventoryError(f"{path}:{doc.line_of('plugin') if isinstance(doc, LDict) else 1}",
                             f"an inventory plugin configuration ('plugin: {doc['plugin']}') cannot be read "
                             f"without running ansible: {EXPORT_HINT}")
    if doc and set(doc) <= {"defaults", "groups", "hosts"} and not _looks_ansible(doc):
        return "fleetbench"
    if all(v is None or isinstance(v, dict) for v in doc.values()) and doc:
        return "ansible-yaml"
    if not doc or set(doc) <= {"defaults", "groups", "hosts"}:
        return "fleetbench"
    return "ansible-ini"


def _looks_ansible(doc: dict[str, Any]) -> bool:
    """A YAML inventory whose only groups are named ``hosts``/``groups``: every value is a group
    body (only ``hosts``/``vars``/``children`` keys) and none holds fleetbench's settings."""
    bodies = list(doc.values())
    return all(isinstance(b, dict) and b and set(b) <= {"hosts", "vars", "children"} for b in bodies) \
        and "defaults" not in doc


class _Loader(yamlsrc._Loader):
    """yamlsrc's line-keeping loader, plus ansible's tags: ``!vault`` (kept as a marker) and
    ``!unsafe`` (a plain string: fleetbench never templates)."""


def _vault(loader: _Loader, node: yaml.Node) -> Vaulted:
    return Vaulted(where=str(node.start_mark.line + 1))


def _unsafe(loader: _Loader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    return loader.construct_object(node, deep=True)


_Loader.add_constructor("!vault", _vault)
_Loader.add_constructor("!unsafe", _unsafe)


def _load_yaml(path: Path) -> Any:
    text = _read(path)
    if text.lstrip().startswith("$ANSIBLE_VAULT"):
        raise InventoryError(f"{path}:1", f"the file is encrypted with ansible-vault: {EXPORT_HINT}")
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InventoryError(f"{path}:{mark.line + 1 if mark else 1}",
                             f"invalid YAML: {exc.problem or exc.context or 'syntax error'}") from None
    except yaml.YAMLError as exc:
        raise InventoryError(str(path), "invalid YAML: " + " ".join(str(exc).split())) from None
    return _relocate(doc, path)


def _relocate(value: Any, path: Path) -> Any:
    """``Vaulted.where`` holds a bare line number until here: make it ``file:line``."""
    if isinstance(value, Vaulted):
        return Vaulted(f"{path}:{value.where}")
    if isinstance(value, dict):
        for k in value:
            value[k] = _relocate(value[k], path)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            value[i] = _relocate(v, path)
    return value


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(str(path), f"cannot read file ({exc.__class__.__name__}: {exc})") from None


# --------------------------------------------------------------------------- host patterns

def expand_pattern(pattern: str, where: str) -> tuple[list[str], int | None]:
    """``name[01:03]:2222`` → (["name01", "name02", "name03"], 2222), as ansible expands it."""
    port: int | None = None
    text = pattern.strip()
    m = _BRACKET_PORT.match(text) or _HOST_PORT.match(text)
    if m:
        text, port = m.group(1), int(m.group(2))
    elif text.endswith(":"):
        raise InventoryError(where, f"host pattern '{pattern}' ends in ':' (expected host:port)")
    if not text:
        raise InventoryError(where, "empty host name")
    return (_expand_ranges(text, where) if "[" in text and ":" in text.partition("[")[2] else [text]), port


def _expand_ranges(text: str, where: str) -> list[str]:
    head, _, rest = text.partition("[")
    spec, closed, tail = rest.partition("]")
    if not closed:
        raise InventoryError(where, f"host range '{text}' has no closing ']'")
    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        raise InventoryError(where, f"host range '[{spec}]' must be begin:end or begin:end:step")
    beg, end = bounds[0] or "0", bounds[1]
    if not end:
        raise InventoryError(where, f"host range '[{spec}]' has no end value")
    try:
        step = int(bounds[2]) if len(bounds) == 3 else 1
    except ValueError:
        raise InventoryError(where, f"host range '[{spec}]': step must be a number") from None
    width = len(beg) if beg[0] == "0" and len(beg) > 1 else 0
    if width and width != len(end):
        raise InventoryError(where, f"host range '[{spec}]': begin and end must have the same width")
    seq: list[str]
    if beg in string.ascii_letters and end in string.ascii_letters and len(beg) == len(end) == 1:
        i, j = string.ascii_letters.index(beg), string.ascii_letters.index(end)
        if i > j:
            raise InventoryError(where, f"host range '[{spec}]': begin must not be after end")
        seq = list(string.ascii_letters[i:j + 1:step])
    else:
        try:
            seq = [str(n).zfill(width) for n in range(int(beg), int(end) + 1, step)]
        except ValueError:
            raise InventoryError(where, f"host range '[{spec}]' must be numbers or single letters") from None
    names: list[str] = []
    for item in seq:
        name = head + item + tail
        names.extend(_expand_ranges(name, where) if "[" in tail else [name])
    return names


# --------------------------------------------------------------------------- INI

def parse_ini(path: Path, inv: AnsibleInventory) -> None:
    """One INI source into ``inv`` (ansible's ini plugin, rule for rule)."""
    group, state = "ungrouped", "hosts"
    pending: dict[str, tuple[str, int, list[str]]] = {}      # group → (state, line, parents)
    for number, raw in enumerate(_read(path).splitlines(), 1):
        where = f"{path}:{number}"
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            group, state = m.group(1), m.group(2) or "hosts"
            if state not in ("hosts", "children", "vars"):
                raise InventoryError(where, f"section [{group}:{state}] has an unknown type (expected "
                                            f"[{group}], [{group}:vars] or [{group}:children])")
            if group not in inv.groups:
                if state == "vars" and group not in pending:
                    pending[group] = ("vars", number, [])
                inv.group(group)
            if group in pending and state != "vars":
                if pending[group][0] == "children":
                    _add_pending(group, pending, inv, where)
                else:
                    del pending[group]
            continue
        if line.startswith("[") and line.endswith("]"):
            raise InventoryError(where, f"invalid section '{line}' (expected [group], [group:vars] or "
                                        "[group:children], with no spaces)")
        if state == "hosts":
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError as exc:
                raise InventoryError(where, f"cannot split host line: {exc}") from None
            if not tokens:
                continue
            names, port = expand_pattern(tokens[0], where)
            variables: list[tuple[str, Any]] = []
            for token in tokens[1:]:
                if "=" not in token:
                    raise InventoryError(where, f"expected key=value host variable, got '{token}'")
                key, _, value = token.partition("=")
                variables.append((key, _literal(value)))
            for name in names:
                host = inv.add_host(name, group, port, where)
                for key, value in variables:
                    inv.set_host_var(host, key, value, where)
        elif state == "vars":
            if "=" not in line:
                raise InventoryError(where, f"expected key=value in [{group}:vars], got '{line}'")
            key, _, value = line.partition("=")
            _set_group_var(inv.group(group), key.strip(), _literal(value.strip()), where)
        else:
            m = _GROUP_NAME.match(line)
            if not m:
                raise InventoryError(where, f"expected a group name in [{group}:children], got '{line}'")
            child = m.group(1)
            if child not in inv.groups:
                entry = pending.setdefault(child, ("children", number, []))
                entry[2].append(group)
            else:
                inv.add_child(group, child, where)
    for name, (kind, number, parents) in pending.items():
        if kind == "vars":
            raise InventoryError(f"{path}:{number}", f"section [{name}:vars] is for a group defined nowhere")
        raise InventoryError(f"{path}:{number}", f"section [{parents[-1]}:children] names group '{name}', "
                                                 "defined nowhere (add a [" + name + "] section)")


def _add_pending(group: str, pending: dict[str, tuple[str, int, list[str]]], inv: AnsibleInventory,
                 where: str) -> None:
    for parent in pending[group][2]:
        inv.add_child(parent, group, where)
        if parent in pending and pending[parent][0] == "children":
            _add_pending(parent, pending, inv, where)
    del pending[group]


def _literal(text: str) -> Any:
    """An INI value as ansible reads it: a Python literal when it is one, else the text."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if value is ... or isinstance(value, complex):
        return str(value) if isinstance(value, complex) else "..."
    if isinstance(value, (tuple, set)):
        return list(value)
    return value


def _set_group_var(group: AnsibleGroup, key: str, value: Any, where: str) -> None:
    if key == "ansible_group_priority":
        try:
            group.priority = int(value)
        except (TypeError, ValueError):
            raise InventoryError(where, f"ansible_group_priority must be a number, got {value!r}") from None
    else:
        group.vars.set(key, value, where)


# --------------------------------------------------------------------------- YAML

def parse_yaml(path: Path, inv: AnsibleInventory) -> None:
    """One YAML source into ``inv`` (ansible's yaml plugin)."""
    doc = _load_yaml(path)
    if not isinstance(doc, LDict) or not doc:
        raise InventoryError(f"{path}:1", "expected a mapping of group names (all: {hosts:, children:, vars:})")
    for name in doc:
        _yaml_group(path, inv, name, doc[name], doc.line_of(name))


def _yaml_group(path: Path, inv: AnsibleInventory, name: str, body: Any, line: int) -> None:
    where = f"{path}:{line}"
    if body is not None and not isinstance(body, LDict):
        raise InventoryError(where, f"group '{name}' must be a mapping (hosts:, children:, vars:)")
    group = inv.group(name)
    if body is None:
        return
    for key in body:
        if key not in ("hosts", "vars", "children"):
            raise InventoryError(f"{path}:{body.line_of(key)}",
                                 f"unknown key '{key}' in group '{name}' (expected hosts, vars or children)")
    for key in body:
        section = body[key]
        at = f"{path}:{body.line_of(key)}"
        if isinstance(section, str):
            section = _one(section, body.line_of(key))
        if section is None:
            continue
        if not isinstance(section, LDict):
            raise InventoryError(at, f"'{key}' of group '{name}' must be a mapping")
        if key == "vars":
            for var in section:
                _set_group_var(group, var, section[var], f"{path}:{section.line_of(var)}")
        elif key == "children":
            for child in section:
                _yaml_group(path, inv, child, section[child], section.line_of(child))
                inv.add_child(name, child, f"{path}:{section.line_of(child)}")
        else:
            for pattern in section:
                hwhere = f"{path}:{section.line_of(pattern)}"
                hvars = section[pattern]
                if hvars is not None and not isinstance(hvars, LDict):
                    raise InventoryError(hwhere, f"host '{pattern}' must have a mapping of variables or nothing")
                names, port = expand_pattern(pattern, hwhere)
                for hname in names:
                    host = inv.add_host(hname, name, port, hwhere)
                    if hvars is not None:
                        for var in hvars:
                            inv.set_host_var(host, var, hvars[var], f"{path}:{hvars.line_of(var)}")


def _one(name: str, line: int) -> LDict:
    d = LDict({name: None})
    d.line, d.key_lines = line, {name: line}
    return d


# --------------------------------------------------------------------------- sources and vars files

def sources(path: Path) -> list[Path]:
    """The inventory files ansible would read for ``-i path``, in its order."""
    if not path.is_dir():
        return [path]
    found: list[Path] = []
    for entry in sorted(os.listdir(path)):
        full = path / entry
        if entry.startswith(".") or entry in _IGNORED_NAMES or entry.endswith(_IGNORED_EXTS):
            continue
        found.extend(sources(full) if full.is_dir() else [full])
    return found


def vars_files(base: Path, kind: str, name: str) -> list[Path]:
    """``group_vars/<name>`` (or ``host_vars``) files, as ansible's host_group_vars plugin finds them:
    the first of ``name``, ``name.yml``, ``name.yaml``, ``name.json``; a folder is read whole."""
    stem = base / kind / name
    for ext in _VARS_EXTS:
        candidate = Path(str(stem) + ext)
        if candidate.is_dir():
            return _dir_files(candidate)
        if candidate.is_file():
            return [candidate]
    return []


def _dir_files(folder: Path) -> list[Path]:
    found: list[Path] = []
    for entry in sorted(os.listdir(folder)):
        full = folder / entry
        if entry.startswith(".") or entry.endswith("~"):
            continue
        ext = os.path.splitext(entry)[1]
        if full.is_dir() and not ext:
            found.extend(_dir_files(full))
        elif full.is_file() and ext in _VARS_EXTS:
            found.append(full)
    return found


def _file_vars(files: Iterable[Path]) -> Vars:
    result = Vars()
    for path in files:
        doc = _load_yaml(path)
        if doc is None:
            continue
        if not isinstance(doc, LDict):
            raise InventoryError(f"{path}:1", "expected a mapping of variable names to values")
        for key in doc:
            result.set(key, doc[key], f"{path}:{doc.line_of(key)}")
    return result


def load(path: Path) -> tuple[AnsibleInventory, Path]:
    """Parse every source of ``path``; return the inventory and the folder its vars files sit in."""
    inv = AnsibleInventory()
    files = sources(path)
    if not files:
        raise InventoryError(str(path), "no inventory file in this directory (expected hosts.yaml, inventory.ini, …)")
    for source in files:
        kind = kind_of(source)
        if kind == "fleetbench":
            raise InventoryError(str(source), "a fleetbench inventory inside an Ansible inventory directory: "
                                              "give its path on its own")
        (parse_yaml if kind == "ansible-yaml" else parse_ini)(source, inv)
    inv.reconcile()
    return inv, path if path.is_dir() else path.parent


def host_vars(inv: AnsibleInventory, base: Path, host: AnsibleHost,
              cache: dict[tuple[str, str], Vars]) -> Vars:
    """The host's variables after ansible's precedence (``VariableManager.get_vars``)."""

    def files(kind: str, name: str) -> Vars:
        if (kind, name) not in cache:
            cache[kind, name] = _file_vars(vars_files(base, kind, name))
        return cache[kind, name]

    groups = inv.host_groups(host)
    result = Vars()
    result.update(inv.groups["all"].vars)
    for g in groups:
        result.update(inv.groups[g].vars)
    result.update(files("group_vars", "all"))
    for g in groups:
        result.update(files("group_vars", g))
    result.update(host.vars)
    result.update(files("host_vars", host.name))
    return result
