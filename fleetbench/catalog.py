"""checks/ → Catalog: components, checks and benchmark mappings, validated with file:line.

Layout of the catalog folder::

    checks/components.yaml          how to find each component on a node (processes, file paths)
    checks/remediation.yaml         remediation templates per kind and component (the shared sentences)
    checks/controls/*.yaml          what to check, each check written once with a semantic id
    checks/benchmarks/<id>.yaml     one file per benchmark version: CIS number → check, target,
                                    scored, automated, per-version overrides (``with``) and the
                                    controls the version does not evaluate (``skip: reason``)

A benchmark mapping never copies a check: where a version or a distribution expects something
else (a mode of 644 instead of 600, a shorter cipher list, k3s's admin kubeconfig at another path)
its entry says so in ``with:``; where a variant does not evaluate a control at all, the entry says
why in ``skip:``. A distribution's variant (k3s, RKE2) also says, once, where its components' flags
are changed (``remediation:`` with the components it covers): that text replaces the remediation of
their flag and setting controls, which otherwise name a static-pod manifest or a kubelet config file.

A check without its own ``remediation:`` gets one from ``remediation.yaml`` when it loads (and
again after a ``with:`` that changes which template applies); placeholders such as
``{kubelet.config}`` or ``{value}`` are filled per node when the control is evaluated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import ops, yamlsrc
from .cluster import EXEMPTING, RULES
from .errors import CatalogError
from .models import Benchmark, Catalog, Check, Component, Control, PathVar, Test
from .yamlsrc import LDict, LList

TARGETS = ("master", "controlplane", "etcd", "node", "policies")
KINDS = ("file", "flag", "setting", "encryption", "manual", "cluster")
PATH_EXPR = re.compile(r"\{([a-z0-9-]+\.[a-z0-9-]+)\}")
FILE_GLOB = re.compile(r"\*\.[A-Za-z0-9]+")         #: the one glob a flag source may end in: "dir/*.yaml"
_CHECK_KEYS = {
    "common": {"id", "title", "kind", "component", "remediation", "missing"},
    "file": {"path", "paths", "tree", "match", "mode", "owner", "optional"},
    "flag": {"flag", "op", "value", "env", "gate", "tests", "combine"},
    "setting": {"flag", "op", "value", "config_key", "gate", "tests", "combine", "config"},
    "encryption": {"flag", "allowed"},
    "manual": set(),
    "cluster": {"rule", "exempt_namespaces"},
}
_OVERRIDABLE = {"mode", "owner", "value", "allowed", "missing", "title", "remediation", "path", "paths", "config"}


@dataclass(frozen=True, slots=True)
class Templates:
    """``remediation.yaml``: the remediation sentences shared by many checks."""

    files: Mapping[str, str]                          #: "mode", "mode-each", "owner", "owner-each" → text
    components: Mapping[str, Mapping[str, str]]       #: component → kind (flag | setting) → text with {do}
    actions: Mapping[str, Mapping[str, str]]          #: kind → op → what to change, with {name} and {value}
    origin: str                                       #: "checks/remediation.yaml"


def default_root() -> Path:
    """The ``checks/`` folder next to the source tree (the repository layout)."""
    return Path(__file__).resolve().parent.parent / "checks"


def load_catalog(root: str | Path | None = None) -> Catalog:
    """Load and cross-check every catalog file under ``root`` (default: :func:`default_root`).

    Raises:
        CatalogError: ``file:line: what was expected``, for the first problem found.
    """
    root = Path(root) if root else default_root()
    if not (root / "components.yaml").is_file():
        raise CatalogError(str(root), "not a catalog folder (components.yaml is missing)")
    files = [root / "components.yaml", root / "remediation.yaml", *sorted((root / "controls").glob("*.yaml")),
             *sorted((root / "benchmarks").glob("*.yaml"))]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    components, role_targets = _load_components(root / "components.yaml")
    templates = _load_templates(root / "remediation.yaml", components)
    checks: dict[str, Check] = {}
    templated: set[str] = set()           # checks whose remediation comes from a template
    for f in sorted((root / "controls").glob("*.yaml")):
        for check, own_text in _load_checks(f, components, templates):
            if check.id in checks:
                raise CatalogError(check.origin, f"duplicate check id '{check.id}' (first at {checks[check.id].origin})")
            checks[check.id] = check
            if not own_text:
                templated.add(check.id)
    benchmarks = {}
    for f in sorted((root / "benchmarks").glob("*.yaml")):
        bench = _load_benchmark(f, checks, templated, templates, components)
        benchmarks[bench.id] = bench
    if not benchmarks:
        raise CatalogError(str(root / "benchmarks"), "no benchmark mapping files found")
    return Catalog(components=components, role_targets=role_targets, checks=checks, benchmarks=benchmarks,
                   digest=digest.hexdigest()[:16], root=str(root))


class _Ctx:
    """File + line formatting and typed field access for one YAML file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def at(self, node: LDict | LList, key: Any = None) -> str:
        line = node.line_of(key) if key is not None else node.line
        return f"{self.path}:{line}"

    def fail(self, node: LDict | LList, key: Any, message: str) -> CatalogError:
        return CatalogError(self.at(node, key), message)

    def mapping(self, node: LDict, key: str, required: bool = True) -> LDict:
        value = node.get(key)
        if value is None and not required:
            empty = LDict()
            empty.line, empty.key_lines = node.line_of(key), {}
            return empty
        if not isinstance(value, LDict):
            raise self.fail(node, key, f"'{key}' must be a mapping")
        return value

    def text(self, node: LDict, key: str, required: bool = True, what: str = "") -> str | None:
        value = node.get(key)
        if value is None:
            if required:
                raise self.fail(node, None, f"missing required key '{key}'{what}")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(node, key, f"'{key}' must be a string{what}")
        return str(value)

    def strings(self, node: LDict, key: str) -> tuple[str, ...]:
        value = node.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, LList) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            raise self.fail(node, key, f"'{key}' must be a list of strings")
        return tuple(str(v) for v in value)

    def flag(self, node: LDict, key: str) -> bool:
        value = node.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(node, key, f"'{key}' must be true or false")
        return value

    def choice(self, node: LDict, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = node.get(key, default)
        if value not in choices:
            raise self.fail(node, key if key in node else None,
                            f"'{key}' must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    def only(self, node: LDict, allowed: set[str], what: str) -> None:
        for key in node:
            if key not in allowed:
                raise self.fail(node, key, f"unknown key '{key}' in {what} (expected one of: {', '.join(sorted(allowed))})")


def _load_components(path: Path) -> tuple[dict[str, Component], dict[str, tuple[str, ...]]]:
    doc = yamlsrc.load(path, CatalogError)
    c = _Ctx(path)
    if not isinstance(doc, LDict):
        raise CatalogError(f"{path}:1", "expected a mapping with 'components' and 'roles'")
    c.only(doc, {"components", "roles"}, "components.yaml")
    components: dict[str, Component] = {}
    comps = c.mapping(doc, "components")
    for name, body in comps.items():
        if not isinstance(body, LDict):
            raise c.fail(comps, name, f"component '{name}' must be a mapping")
        c.only(body, {"label", "process", "paths", "manifest", "version", "flag_sources", "embeds", "journal"},
               f"component '{name}'")
        for src in c.strings(body, "flag_sources"):
            folder, _, last = src.rpartition("/")
            if not src.startswith("/") or "*" in folder or ("*" in last and not FILE_GLOB.fullmatch(last)):
                raise c.fail(body, "flag_sources", f"component '{name}': '{src}' is neither an absolute path, "
                                                   "a folder ending in '/', nor a folder's '*.ext' glob")
        for unit in c.strings(body, "journal"):
            if not re.fullmatch(r"[A-Za-z0-9@._:-]+", unit):
                raise c.fail(body, "journal", f"component '{name}': '{unit}' is not a systemd unit name")
        if bool(c.strings(body, "embeds")) != bool(c.strings(body, "journal")):
            raise c.fail(body, None, f"component '{name}': 'embeds' and 'journal' go together")
        procs = tuple(tuple(p.split()) for p in c.strings(body, "process"))
        if not procs:
            raise c.fail(body, None, f"component '{name}' needs at least one process name")
        paths: dict[str, PathVar] = {}
        pnode = c.mapping(body, "paths", required=False)
        for short, spec in pnode.items():
            if not isinstance(spec, LDict):
                raise c.fail(pnode, short, f"path '{name}.{short}' must be a mapping")
            c.only(spec, {"from_flag", "from_env", "candidates", "default"}, f"path '{name}.{short}'")
            for p in c.strings(spec, "candidates") + ((spec["default"],) if spec.get("default") else ()):
                if not str(p).startswith("/"):
                    raise c.fail(spec, "candidates", f"path '{name}.{short}': '{p}' is not an absolute path")
            paths[short] = PathVar(name=f"{name}.{short}", from_flag=c.text(spec, "from_flag", False),
                                   from_env=c.text(spec, "from_env", False),
                                   candidates=c.strings(spec, "candidates"), default=c.text(spec, "default", False))
        manifest = c.text(body, "manifest", required=False)
        if manifest is not None and manifest not in paths:
            raise c.fail(body, "manifest", f"component '{name}': manifest names unknown path '{manifest}'")
        components[name] = Component(name=name, label=c.text(body, "label", False) or name, processes=procs,
                                     paths=paths, manifest=f"{name}.{manifest}" if manifest else None,
                                     version=c.flag(body, "version"), flag_sources=c.strings(body, "flag_sources"),
                                     embeds=c.strings(body, "embeds"), journal=c.strings(body, "journal"))
    for name, comp in components.items():
        for inner in comp.embeds:
            # the label is matched in the host's log lines ("Running kube-apiserver …"), in the shell too
            if inner not in components or not re.fullmatch(r"[A-Za-z0-9-]+", components[inner].label):
                raise c.fail(comps[name], "embeds", f"component '{name}': embeds '{inner}', which is not a component "
                                                    "whose label is letters, digits and dashes")
    roles = c.mapping(doc, "roles")
    role_targets = {}
    for role in roles:
        ts = c.strings(roles, role)
        for t in ts:
            if t not in TARGETS:
                raise c.fail(roles, role, f"role '{role}': unknown target '{t}' (expected: {', '.join(TARGETS)})")
        role_targets[role] = ts
    return components, role_targets


def _load_templates(path: Path, components: dict[str, Component]) -> Templates:
    """``remediation.yaml`` → :class:`Templates`, every key checked (file:line on error)."""
    doc = yamlsrc.load(path, CatalogError)
    c = _Ctx(path)
    if not isinstance(doc, LDict):
        raise CatalogError(f"{path}:1", "expected a mapping with 'files', 'components' and 'actions'")
    c.only(doc, {"files", "components", "actions"}, "remediation.yaml")

    def texts(node: LDict, allowed: tuple[str, ...], what: str) -> dict[str, str]:
        c.only(node, set(allowed), what)
        return {str(k): " ".join((c.text(node, str(k)) or "").split()) for k in node}

    files = texts(c.mapping(doc, "files"), ("mode", "mode-each", "owner", "owner-each"), "'files'")
    comps = c.mapping(doc, "components")
    by_component: dict[str, dict[str, str]] = {}
    for name, body in comps.items():
        if name not in components:
            raise c.fail(comps, name, f"unknown component '{name}' (expected one of: {', '.join(components)})")
        if not isinstance(body, LDict):
            raise c.fail(comps, name, f"component '{name}' must map 'flag' and/or 'setting' to a text")
        by_component[str(name)] = texts(body, ("flag", "setting"), f"component '{name}'")
        for kind, text in by_component[str(name)].items():
            if "{do}" not in text:
                raise c.fail(body, kind, f"component '{name}': the {kind} template needs '{{do}}', what to change")
    acts = c.mapping(doc, "actions")
    actions = {str(kind): texts(c.mapping(acts, kind), tuple(ops.OPS), f"actions '{kind}'") for kind in acts}
    c.only(acts, {"flag", "setting"}, "'actions'")
    return Templates(files=files, components=by_component, actions=actions, origin=str(path))


def _template(check: Check, templates: Templates) -> str | None:
    """The remediation a check without its own gets, or None when no template covers it.

    {do} is written from the tests (one action per test, joined with "; "); a single test keeps
    "{value}" as a placeholder so that a version's ``with: value`` still shows in the text.
    """
    if check.kind == "file":
        several = check.tree or len(check.paths) > 1
        return templates.files.get(("mode" if check.mode else "owner") + ("-each" if several else ""))
    template = templates.components.get(check.component or "", {}).get(check.kind)
    actions = templates.actions.get(check.kind, {})
    if template is None or not check.tests or any(t.op not in actions for t in check.tests):
        return None
    steps = []
    for t in check.tests:
        name = (t.config_key if check.kind == "setting" else None) or t.flag or t.config_key or ""
        value = "{value}" if len(check.tests) == 1 else (t.value or "")
        steps.append(actions[t.op].replace("{name}", name).replace("{value}", value))
    envs = ", ".join(t.env for t in check.tests if t.env)
    return template.replace("{do}", "; ".join(steps)).replace("{envs}", envs)


def _load_checks(path: Path, components: dict[str, Component], templates: Templates) -> list[tuple[Check, bool]]:
    """The checks of one controls file, each with whether it wrote its own remediation."""
    doc = yamlsrc.load(path, CatalogError)
    c = _Ctx(path)
    if not isinstance(doc, LDict) or not isinstance(doc.get("checks"), LList):
        raise CatalogError(f"{path}:1", "expected a mapping with a 'checks:' list")
    c.only(doc, {"checks"}, "a controls file")
    result = []
    for i, node in enumerate(doc["checks"]):
        if not isinstance(node, LDict):
            raise CatalogError(f"{path}:{doc['checks'].line_of(i)}", "each check must be a mapping")
        check = _load_check(c, node, components)
        own = bool(check.remediation)
        if not own:
            text = _template(check, templates)
            if text is None:
                raise c.fail(node, None, f"check '{check.id}' needs a 'remediation' (no template in "
                                         f"{templates.origin} covers a {check.kind} check of "
                                         f"{check.component or 'no component'} with these operators)")
            check = dataclasses.replace(check, remediation=text)
        result.append((check, own))
    return result


def _load_check(c: _Ctx, node: LDict, components: dict[str, Component]) -> Check:
    cid = c.text(node, "id")
    assert cid is not None
    what = f" (check '{cid}')"
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", cid):
        raise c.fail(node, "id", f"check id '{cid}' must be lowercase letters, digits and dashes")
    kind = c.choice(node, "kind", KINDS)
    c.only(node, _CHECK_KEYS["common"] | _CHECK_KEYS[kind], f"a '{kind}' check{what}")
    component = c.text(node, "component", required=kind in ("flag", "setting", "encryption"), what=what)
    if component is not None and component not in components and component != "cluster":
        raise c.fail(node, "component", f"unknown component '{component}'{what}")
    fields: dict[str, Any] = dict(
        id=cid, title=c.text(node, "title", what=what), kind=kind, component=component,
        remediation=(c.text(node, "remediation", required=kind in ("manual", "cluster", "encryption"),
                            what=what) or "").strip(),
        origin=c.at(node), missing=c.choice(node, "missing", ("pass", "fail"), "fail"))
    if kind == "file":
        paths = c.strings(node, "paths") + c.strings(node, "path")
        if not paths:
            raise c.fail(node, None, f"a file check needs 'path' or 'paths'{what}")
        for p in paths:
            _check_path_expr(c, node, "paths" if "paths" in node else "path", p, components, what)
        mode, owner = c.text(node, "mode", False), c.text(node, "owner", False)
        if (mode is None) == (owner is None):
            raise c.fail(node, None, f"a file check needs exactly one of 'mode' or 'owner'{what}")
        if mode is not None and not re.fullmatch(r"[0-7]{3,4}", mode):
            raise c.fail(node, "mode", f"mode must be octal digits such as '600', got '{mode}'{what}")
        if owner is not None and not re.fullmatch(r"[^:\s]+:[^:\s]+", owner):
            raise c.fail(node, "owner", f"owner must be 'user:group', got '{owner}'{what}")
        optional = " ".join((c.text(node, "optional", False, what) or "").split())
        if "optional" in node:
            named = [p for p in paths if not PATH_EXPR.fullmatch(p) or not _named_by_process(p, components)]
            if not optional or named:
                raise c.fail(node, "optional", f"'optional' needs the reason to report (\"no … in use\") and paths "
                                               f"a running process names with a flag or variable{what}")
        fields.update(paths=paths, tree=c.flag(node, "tree"), match=c.text(node, "match", False), mode=mode, owner=owner,
                      optional=optional)
    elif kind in ("flag", "setting"):
        fields["tests"] = _load_tests(c, node, kind, what)
        fields["combine"] = c.choice(node, "combine", ("all", "any"), "all")
        if kind == "setting":
            config = c.text(node, "config", False)
            if config:
                _check_path_expr(c, node, "config", config, components, what)
            fields["config"] = config
    elif kind == "encryption":
        flag = c.text(node, "flag", what=what)
        fields["tests"] = (Test(flag=flag, op="present"),)
        fields["allowed"] = c.strings(node, "allowed")
        if not fields["allowed"]:
            raise c.fail(node, None, f"an encryption check needs 'allowed' providers{what}")
    elif not fields["remediation"]:
        raise c.fail(node, None, f"a {kind} check needs 'remediation' text saying what to review{what}")
    if kind == "cluster":
        rule = c.text(node, "rule", False) or ""
        if rule and rule not in RULES:
            raise c.fail(node, "rule", f"unknown cluster rule '{rule}'{what} (expected one of: {', '.join(sorted(RULES))})")
        fields.update(rule=rule, exempt=c.strings(node, "exempt_namespaces"))
        if fields["exempt"] and rule not in EXEMPTING:
            raise c.fail(node, "exempt_namespaces", f"'exempt_namespaces' needs a rule that looks at namespaced "
                                                    f"objects{what}")
    return Check(**fields)


def _load_tests(c: _Ctx, node: LDict, kind: str, what: str) -> tuple[Test, ...]:
    items: list[LDict]
    if "tests" in node:
        if any(k in node for k in ("flag", "op", "value", "config_key", "env", "gate")):
            raise c.fail(node, "tests", f"use either 'tests' or a single flag/op/value, not both{what}")
        raw = node["tests"]
        if not isinstance(raw, LList) or not raw or not all(isinstance(t, LDict) for t in raw):
            raise c.fail(node, "tests", f"'tests' must be a non-empty list of mappings{what}")
        items = list(raw)
    else:
        items = [node]
    tests = []
    for item in items:
        if item is not node:
            c.only(item, {"flag", "op", "value", "config_key", "env", "gate"}, f"a test{what}")
        flag, key = c.text(item, "flag", False), c.text(item, "config_key", False)
        if flag is None and key is None:
            raise c.fail(item, None, f"a test needs 'flag' or 'config_key'{what}")
        if key is not None and kind != "setting":
            raise c.fail(item, "config_key", f"'config_key' belongs to 'setting' checks{what}")
        op = c.choice(item, "op", tuple(ops.OPS))
        value = c.text(item, "value", False)
        if ops.OPS[op].needs_value and value is None:
            raise c.fail(item, "op", f"op '{op}' needs a 'value'{what}")
        if op == "bitmask" or (op == "gte" and value is not None and not value.lstrip("-").isdigit()):
            raise c.fail(item, "op", f"op '{op}' cannot be used with value {value!r} here{what}")
        tests.append(Test(flag=flag, op=op, value=value, config_key=key,
                          env=c.text(item, "env", False), gate=c.text(item, "gate", False)))
    return tuple(tests)


def _check_path_expr(c: _Ctx, node: LDict, key: str, expr: str, components: dict[str, Component], what: str) -> None:
    names = PATH_EXPR.findall(expr)
    if not names and not expr.startswith("/"):
        raise c.fail(node, key, f"'{expr}' is neither an absolute path nor a path variable like '{{kubelet.config}}'{what}")
    if names and expr != "{" + names[0] + "}":
        raise c.fail(node, key, f"'{expr}': a path variable must stand alone, like '{{kubelet.config}}'{what}")
    for name in names:
        comp, _, short = name.partition(".")
        if comp not in components or short not in components[comp].paths:
            raise c.fail(node, key, f"unknown path variable '{{{name}}}'{what}")


def _named_by_process(expr: str, components: dict[str, Component]) -> bool:
    """Whether a path variable can come from the running process (``from_flag`` / ``from_env``), so
    that "the process names no such file" can be told from "the file is missing"."""
    comp, _, short = expr.strip("{}").partition(".")
    var = components[comp].paths.get(short) if comp in components else None
    return var is not None and bool(var.from_flag or var.from_env)


def _load_benchmark(path: Path, checks: dict[str, Check], templated: set[str], templates: Templates,
                    components: dict[str, Component]) -> Benchmark:
    doc = yamlsrc.load(path, CatalogError)
    c = _Ctx(path)
    if not isinstance(doc, LDict):
        raise CatalogError(f"{path}:1", "expected a benchmark mapping")
    c.only(doc, {"benchmark", "title", "kubernetes", "sections", "controls", "remediation"}, "a benchmark file")
    bid = c.text(doc, "benchmark")
    assert bid is not None
    if bid != path.stem:
        raise c.fail(doc, "benchmark", f"benchmark '{bid}' must be in a file named {bid}.yaml")
    flags_fix = c.mapping(doc, "remediation", required=False)
    c.only(flags_fix, {"components", "text"}, "'remediation'")
    fix_components = c.strings(flags_fix, "components")
    fix_text = (c.text(flags_fix, "text", required=bool(fix_components)) or "").strip()
    for comp in fix_components:
        if not any(ch.component == comp for ch in checks.values()):
            raise c.fail(flags_fix, "components", f"'remediation': no check belongs to component '{comp}'")
    sections_node = c.mapping(doc, "sections")
    sections = {str(k): str(v) for k, v in sections_node.items()}
    controls_node = doc.get("controls")
    if not isinstance(controls_node, LList) or not controls_node:
        raise c.fail(doc, "controls" if "controls" in doc else None, "expected a non-empty 'controls' list")
    controls: list[Control] = []
    seen: dict[str, str] = {}
    for i, node in enumerate(controls_node):
        if not isinstance(node, LDict):
            raise CatalogError(f"{path}:{controls_node.line_of(i)}", "each control must be a mapping")
        c.only(node, {"id", "check", "target", "scored", "automated", "with", "skip"}, "a control")
        cid = c.text(node, "id")
        assert cid is not None
        if not re.fullmatch(r"\d+(\.\d+)+", cid):
            raise c.fail(node, "id", f"control id '{cid}' must be a CIS number such as '4.2.1' (quote it in YAML)")
        if cid in seen:
            raise c.fail(node, "id", f"duplicate control id '{cid}' (first at {seen[cid]})")
        seen[cid] = c.at(node)
        check_id = c.text(node, "check")
        if check_id not in checks:
            raise c.fail(node, "check", f"control {cid} names unknown check '{check_id}'")
        check = checks[check_id]
        fix_applies = check.kind in ("flag", "setting") and check.component in fix_components
        if fix_applies:
            check = dataclasses.replace(check, remediation=fix_text)
        check = _override(c, node, check, check_id in templated and not fix_applies, templates, components)
        skip = " ".join((c.text(node, "skip", required=False) or "").split())
        if "skip" in node and not skip:
            raise c.fail(node, "skip", f"control {cid}: 'skip' needs the reason the version does not evaluate it")
        section = cid.rsplit(".", 1)[0] if cid.count(".") >= 2 else cid.split(".")[0]
        if section not in sections or section.split(".")[0] not in sections:
            raise c.fail(node, "id", f"control {cid}: section '{section}' has no title under 'sections'")
        for key in ("scored", "automated"):
            if key not in node:
                raise c.fail(node, None, f"control {cid} needs '{key}: true|false'")
        controls.append(Control(id=cid, check=check, target=c.choice(node, "target", TARGETS),
                                scored=c.flag(node, "scored"), automated=c.flag(node, "automated"),
                                section=section, title=check.title, skip=skip))
    return Benchmark(id=bid, title=c.text(doc, "title") or bid, kubernetes=c.strings(doc, "kubernetes"),
                     sections=sections, controls=tuple(controls), origin=c.at(doc))


def _override(c: _Ctx, node: LDict, check: Check, templated: bool, templates: Templates,
              components: dict[str, Component]) -> Check:
    """Apply a control's ``with:`` overrides (a version's own mode, value, allow-list; a
    distribution's own paths). A templated remediation is derived again from the result."""
    if "with" not in node:
        return check
    w = c.mapping(node, "with")
    c.only(w, _OVERRIDABLE, "'with'")
    changes: dict[str, Any] = {}
    setters: dict[str, Callable[[], Any]] = {
        "mode": lambda: c.text(w, "mode"), "owner": lambda: c.text(w, "owner"), "title": lambda: c.text(w, "title"),
        "remediation": lambda: (c.text(w, "remediation") or "").strip(),
        "missing": lambda: c.choice(w, "missing", ("pass", "fail")),
        "allowed": lambda: c.strings(w, "allowed"),
        "value": lambda: tuple(dataclasses.replace(t, value=c.text(w, "value")) for t in check.tests),
        "path": lambda: c.strings(w, "path"), "paths": lambda: c.strings(w, "paths"),
        "config": lambda: c.text(w, "config"),
    }
    for key in w:
        if key == "value":
            if len(check.tests) != 1:
                raise c.fail(w, key, f"'with: value' needs a check with exactly one test ('{check.id}' has {len(check.tests)})")
            changes["tests"] = setters[key]()
        elif key in ("mode", "owner") and getattr(check, key) is None:
            raise c.fail(w, key, f"check '{check.id}' has no '{key}' to override")
        elif key in ("path", "paths"):
            if check.kind != "file" or "paths" in changes:
                raise c.fail(w, key, f"'with: {key}' needs a file check and one of 'path' or 'paths' "
                                     f"('{check.id}' is a {check.kind} check)")
            changes["paths"] = setters[key]()
            if not changes["paths"]:
                raise c.fail(w, key, f"'with: {key}' needs at least one path")
            for p in changes["paths"]:
                _check_path_expr(c, w, key, p, components, f" (check '{check.id}')")
        elif key == "config":
            if check.kind != "setting":
                raise c.fail(w, key, f"'with: config' needs a setting check ('{check.id}' is a {check.kind} check)")
            changes["config"] = setters[key]()
            _check_path_expr(c, w, key, changes["config"], components, f" (check '{check.id}')")
        else:
            changes[key] = setters[key]()
    result = dataclasses.replace(check, **changes)
    if templated and "remediation" not in changes:
        result = dataclasses.replace(result, remediation=_template(result, templates) or check.remediation)
    return result
