"""(Control, HostFacts) → Finding: one small function per check kind, each with its evidence.

Verdicts follow kube-bench: a check that holds is PASS; one that does not is FAIL when scored
and WARN when not; manual checks are WARN; checks skipped on request, and those a benchmark
variant marks as skipped (``skip:`` on the benchmark entry, with its reason), are INFO. Where fleetbench decides
differently, on purpose:

* **Not assessed is never a pass.** When the facts a check needs are missing (the component's
  process is not running and it has no manifest, a config file cannot be read), the verdict is
  WARN with a reason starting "not assessed". kube-bench turns an empty ``ps`` into a PASS for
  "must not be set" checks.
* **kubelet / kube-proxy settings** are read from the running process's own ``--config`` file,
  and a command-line flag overrides the file; the evidence names the deciding source and the
  value it overrode.
* **Control-plane flags** come from the running process; when it is not running, from its
  static-pod manifest's ``command:`` (the evidence says so). Components that k3s runs inside its
  own process are read from the line in which k3s logs their arguments, and the evidence names it.
* **Optional files** (``optional:`` on a check, where CIS says "if the file is being used" / "if it
  exists"): when no running process names the file and none exists, the verdict is PASS with the
  check's reason ("no kubelet config file in use"), not FAIL "no such file". A file a process names
  with a flag but that is missing still fails.
* **File modes** mean "no permission bit outside the mask"; file owners are compared by the
  names the node itself resolves, with the numeric ids shown.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import facts as F
from .models import Catalog, Check, Component, Control, FileStat, Finding, HostFacts, ProcessFact, Status, Test
from .ops import OPS, expected_text, mode_within
from .plan import source_dir, var_names
from .redact import redact_value

NOT_ASSESSED = "not assessed: "


@dataclass(frozen=True, slots=True)
class _Outcome:
    holds: bool | None                    #: None = could not be assessed
    expected: str
    actual: str
    source: str
    reason: str = ""


def evaluate(control: Control, facts: HostFacts, catalog: Catalog, skipped: bool = False) -> Finding:
    """The finding for one control on one host.

    Its texts are interned (:func:`sys.intern`): a fleet's hosts mostly share them (the same paths in
    the remediation, the same expected and actual values), and a run keeps every finding until its
    reports are written, so 1,000 hosts hold one copy of each text instead of 1,000 (README, "Benchmark").
    """
    check = control.check
    remediation = "" if control.skip else _share(_fill(check, facts, catalog))  # not evaluated: nothing to remedy
    if skipped:
        return Finding(control, Status.INFO, "", "", "", remediation, "skipped on request (--skip)")
    if control.skip:
        return Finding(control, Status.INFO, "", "", "", "", control.skip)
    if check.kind == "manual":
        return Finding(control, Status.WARN, "manual review", "", "", remediation, "manual check")
    if check.kind == "cluster":
        return Finding(control, Status.WARN, "manual review", "", "", remediation,   # the runner decides section 5
                       "cluster-wide check: decided once per cluster (the report's clusters), not per host")
    outcome = _KINDS[check.kind](check, facts, catalog)
    if outcome.holds is None:
        status = Status.WARN
        reason = NOT_ASSESSED + outcome.reason
    elif outcome.holds:
        status, reason = Status.PASS, outcome.reason
    else:
        status, reason = (Status.FAIL if control.scored else Status.WARN), outcome.reason
    return Finding(control, status, _share(outcome.expected), _share(outcome.actual), _share(outcome.source),
                   remediation, _share(reason))


_share = sys.intern


# --------------------------------------------------------------------------- paths

def resolve(expr: str, facts: HostFacts) -> tuple[str | None, str]:
    """A path expression → (path on the node, how it was found)."""
    names = var_names(expr)
    if not names:
        return expr, "fixed path"
    rp = facts.paths.get(names[0])
    if rp is None or rp.path is None:
        return None, "not resolved"
    return rp.path, {"candidate": "first existing candidate", "default": "default path"}.get(rp.source, rp.source)


class _SafeDict(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(check: Check, facts: HostFacts, catalog: Catalog) -> str:
    """Remediation text with the node's own paths and this version's expected values.

    Besides the path variables: {path}, {mode}, {owner}, {value} (of a one-test check), {label}
    (the component's name for people, "kube-apiserver") and {want} (the expectation in words).
    """
    values = _SafeDict()
    for name, rp in facts.paths.items():
        if rp.path:
            values[name] = rp.path
    if check.kind == "file":
        values["path"] = " ".join(resolve(p, facts)[0] or p for p in check.paths)
    values["mode"] = check.mode or ""
    values["owner"] = check.owner or ""
    if len(check.tests) == 1 and check.tests[0].value is not None:
        values["value"] = check.tests[0].value
    component = catalog.components.get(check.component or "")
    if component is not None:
        values["label"] = component.label
    if check.tests:
        values["want"] = _test_expected(check.tests, check.combine)
    return re.sub(r"\{([a-z0-9.-]+)\}", lambda m: values[m.group(1)], check.remediation)


# --------------------------------------------------------------------------- file

def _file(check: Check, facts: HostFacts, catalog: Catalog) -> _Outcome:
    entries: list[FileStat] = []
    looked: list[str] = []
    for expr in check.paths:
        path, how = resolve(expr, facts)
        if path is None:
            looked.append(f"{expr} (not resolved)")
            continue
        looked.append(path if how == "fixed path" else f"{path} (path from {how})")
        if path in facts.denied:
            return _Outcome(None, f"permissions {check.mode} or more restrictive" if check.mode else f"owned by {check.owner}",
                            "unknown", f"stat {path}",
                            f"{path} is behind a folder the scanning user cannot enter (scan as root or set become)")
        if check.tree:
            listing = facts.trees.get(path) or ()
            entries.extend(e for e in listing
                           if check.match is None or fnmatch.fnmatchcase(e.path.rsplit("/", 1)[-1], check.match))
        else:
            st = facts.stats.get(path)
            if st is not None:
                entries.append(st)
    what = f" matching {check.match}" if check.match else ""
    if check.mode:
        expected = f"permissions {check.mode} or more restrictive"

        def ok(e: FileStat) -> bool:
            return mode_within(e.mode, check.mode or "0")

        def show(e: FileStat) -> str:
            return e.mode_text
    else:
        expected = f"owned by {check.owner}"

        def ok(e: FileStat) -> bool:
            return e.owner == check.owner

        def show(e: FileStat) -> str:
            return f"{e.owner} ({e.uid}:{e.gid})"
    source = "stat " + ", ".join(looked) + what
    if not entries and check.optional and not any(_named(expr, facts) for expr in check.paths):
        return _Outcome(True, expected, "no such file" if len(looked) == 1 and not check.tree else f"no file found{what}",
                        source, check.optional)
    if not entries:
        holds = check.missing == "pass"
        return _Outcome(holds, expected, "no such file" if len(looked) == 1 and not check.tree else f"no file found{what}",
                        source, "file not present" + ("; the benchmark accepts that" if holds else ""))
    bad = [e for e in entries if not ok(e)]
    if len(entries) == 1 and not check.tree:
        return _Outcome(not bad, expected, show(entries[0]), source)
    if not bad:
        return _Outcome(True, expected, f"all {len(entries)} files comply", source)
    listed = ", ".join(f"{e.path} {show(e)}" for e in bad[:5]) + (f", and {len(bad) - 5} more" if len(bad) > 5 else "")
    return _Outcome(False, expected, f"{len(bad)} of {len(entries)} files do not comply: {listed}", source)


def _named(expr: str, facts: HostFacts) -> bool:
    """Whether the node says it uses this file: a running process's flag or variable, or the inventory,
    named the path (not a default or a candidate fleetbench looked for)."""
    names = var_names(expr)
    rp = facts.paths.get(names[0]) if names else None
    return rp is not None and rp.path is not None and (rp.source == "inventory" or rp.source.startswith(("flag ", "env ")))


# --------------------------------------------------------------------------- flags

def _where(proc: ProcessFact, label: str) -> str:
    """Where a process's argv was read: its command line, or the log line k3s wrote it in."""
    return proc.origin or f"command line of {label} (pid {proc.pid})"


def _inside(comp: Component, facts: HostFacts, catalog: Catalog) -> str | None:
    """Why a component runs but shows no argv: its host process (k3s) did not log it, or None."""
    host = next((c for c in catalog.components.values() if comp.name in c.embeds and c.name in facts.processes), None)
    if host is None:
        return None
    return (f"{host.label} runs {comp.label} inside its own process, and its journal ({', '.join(host.journal)}) has "
            f"no 'Running {comp.label}' line in this boot: rotated away, or not readable by the scanning user")


def _argv(check: Check, facts: HostFacts, catalog: Catalog) -> tuple[tuple[str, ...] | None, str, str]:
    """The component's command line, where it came from, and a reason if there is none."""
    comp = catalog.components[check.component or ""]
    proc = facts.processes.get(comp.name)
    if proc is not None:
        return proc.argv, _where(proc, comp.label), ""
    if comp.manifest:
        content = facts.contents.get("{" + comp.manifest + "}")
        if content is not None and content.state == "present":
            try:
                argv = F.manifest_argv(F.parse_config(content.data))
            except ValueError:
                argv = None
            if argv:
                return argv, f"manifest {content.path} ({comp.label} is not running)", ""
    return None, "", (_inside(comp, facts, catalog)
                      or f"{comp.label} is not running on this host and no manifest with its command was found")


def _test_expected(tests: tuple[Test, ...], combine: str) -> str:
    joiner = " AND " if combine == "all" else " OR "
    return joiner.join(expected_text(t.op, t.gate or t.flag or t.config_key or "", t.value) for t in tests)


def _judge(t: Test, value: str | None, missing: str) -> bool:
    if t.op == "absent":
        return value is None
    if value is None:
        return missing == "pass"
    return OPS[t.op].test(value, t.value or "")


def _combine(results: list[bool], combine: str) -> bool:
    return all(results) if combine == "all" else any(results)


def _show(name: str, value: str | None) -> str:
    return f"{name} not set" if value is None else f"{name}={redact_value(name, value)}"


def _flag(check: Check, facts: HostFacts, catalog: Catalog) -> _Outcome:
    expected = _test_expected(check.tests, check.combine)
    argv, where, why = _argv(check, facts, catalog)
    if argv is None:
        return _Outcome(None, expected, "process not found", "ps", why)
    proc = facts.processes.get(check.component or "")
    results, actual, sources, unset = [], [], [], 0
    for t in check.tests:
        value = F.flag_value(argv, t.flag) if t.flag else None
        if value is not None and t.gate:
            value = F.gate_value(value, t.gate)
        name = t.gate or t.flag or ""
        if value is not None:
            src = f"{t.flag} on the {where}"
        elif t.env and proc is not None and t.env in proc.env:
            value, name = proc.env[t.env], t.env
            src = f"{t.env} in the environment of {catalog.components[proc.component].label} (pid {proc.pid})"
        else:
            src = f"not set on the {where}" + (f" nor in its environment ({t.env})" if t.env else "")
        unset += value is None
        results.append(_judge(t, value, check.missing))
        actual.append(_show(name, value))
        sources.append(src)
    holds = _combine(results, check.combine)
    reason = "not set; the benchmark accepts the default" if holds and unset == len(check.tests) else ""
    return _Outcome(holds, expected, "; ".join(actual), "; ".join(dict.fromkeys(sources)), reason)


# --------------------------------------------------------------------------- settings

def flag_origin(component: str, catalog: Catalog, facts: HostFacts, flag: str, value: str) -> str | None:
    """The unit, environment or config file that put ``flag`` on the command line, where it can be read.

    k3s and RKE2 config files list a component's flags without the dashes (``kubelet-arg:
    ["read-only-port=10255"]``), so ``read-only-port=10255`` counts too.
    """
    files: list[tuple[str, bytes]] = []
    for source in catalog.components[component].flag_sources:
        folder = source_dir(source)
        if folder:
            files.extend((c.path, c.data) for c in facts.dirs.get(folder, ()))
        else:
            content = facts.contents.get(source)
            if content is not None and content.state == "present":
                files.append((content.path, content.data))
    for token in (f"{flag}={value}", f"{flag} {value}", flag, f"{flag.lstrip('-')}={value}"):
        pattern = re.compile(rb"(?<![\w-])" + re.escape(token.encode()) + rb"(?![\w-])")
        for path, data in files:
            if pattern.search(data):
                return path
    return None


def _layers(check: Check, comp_name: str, facts: HostFacts) -> tuple[list[tuple[str, Any]], str, list[str]]:
    """The config layers, lowest first: the --config file, then each drop-in in lexical order.

    Returns (layers as (path, parsed data)), a problem that stops assessment (or ""), notes.
    """
    layers: list[tuple[str, Any]] = []
    notes: list[str] = []
    config = check.config or ""
    content = facts.contents.get(config)
    path, how = resolve(config, facts)
    if content is None or content.state == "absent":
        notes.append(f"config file {path or config} not found ({how})")
    elif content.state != "present":
        return [], f"config file {content.path} is {content.state}", notes
    else:
        try:
            data = F.parse_config(content.data)
        except ValueError as exc:
            return [], f"config file {content.path} is {exc}", notes
        if data is not None and not isinstance(data, dict):
            return [], f"config file {content.path} is not a mapping", notes
        layers.append((content.path, data or {}))
    for dropin in facts.dirs.get("{" + comp_name + ".config-dir}", ()):
        if dropin.state != "present":
            return [], f"drop-in {dropin.path} is {dropin.state}", notes
        try:
            data = F.parse_config(dropin.data)
        except ValueError as exc:
            return [], f"drop-in {dropin.path} is {exc}", notes
        layers.append((dropin.path, data if isinstance(data, dict) else {}))
    return layers, "", notes


def _setting(check: Check, facts: HostFacts, catalog: Catalog) -> _Outcome:
    """Flag > last drop-in that sets the key > --config file > unset; the evidence names the
    deciding source and every value it overrode."""
    expected = _test_expected(check.tests, check.combine)
    comp = catalog.components[check.component or ""]
    proc = facts.processes.get(comp.name)
    argv = proc.argv if proc else ()
    layers, problem, notes = _layers(check, comp.name, facts)
    dropins = {d.path for d in facts.dirs.get("{" + comp.name + ".config-dir}", ())}
    if proc is None:
        if not layers and not problem:
            return _Outcome(None, expected, "unknown", check.config or "",
                            _inside(comp, facts, catalog) or f"{comp.label} is not running and its config file was not found")
        notes.append(f"{comp.label} is not running as a process of its own; only its config files were read")
    results, actual, sources = [], [], []
    for t in check.tests:
        flag_val = F.flag_value(argv, t.flag) if t.flag and argv else None
        if flag_val is not None and t.gate:
            flag_val = F.gate_value(flag_val, t.gate)
        found = []                       # (path, value) of every layer that sets the key, lowest first
        if t.config_key:
            for path, data in layers:
                raw = F.config_value(data, t.config_key)
                if not F.is_unset(raw):
                    found.append((path, F.config_text(raw)))
        name = t.gate or t.flag or t.config_key or ""
        if flag_val is not None:
            value = flag_val
            origin = flag_origin(comp.name, catalog, facts, t.flag or "", F.flag_value(argv, t.flag or "") or "")
            src = (f"flag {t.flag}" + (f" ({t.gate})" if t.gate else "") + " on the "
                   + (proc.origin if proc and proc.origin else f"command line of {comp.label}")
                   + (f" (set in {origin})" if origin else ""))
            overridden = found
        elif found:
            (path, value), overridden = found[-1], found[:-1]
            name = t.config_key or name
            src = ("drop-in " if path in dropins else "") + f"{path}: {t.config_key}"
        else:
            if t.config_key and problem:
                return _Outcome(None, expected, "unknown", check.config or "", problem)
            value, overridden = None, []
            places = [f"flag {t.flag}"] if t.flag else []
            if t.config_key:
                places.append(f"{t.config_key} in " + (", ".join(p for p, _ in layers) or "the config file"))
            src = "not set (" + " nor ".join(places) + ")"
        for path, old in reversed(overridden):
            src += f"; {'agrees with' if old == value else 'overrides'} {path} {t.config_key}: {old}"
        results.append(_judge(t, value, check.missing))
        actual.append(_show(name, value))
        sources.append(src)
    holds = _combine(results, check.combine)
    return _Outcome(holds, expected, "; ".join(actual), "; ".join(sources), "; ".join(notes))


# --------------------------------------------------------------------------- encryption

def _encryption(check: Check, facts: HostFacts, catalog: Catalog) -> _Outcome:
    """The first provider of every resource list in the --encryption-provider-config file."""
    expected = "first provider is one of " + ", ".join(check.allowed)
    argv, where, why = _argv(check, facts, catalog)
    if argv is None:
        return _Outcome(None, expected, "process not found", "ps", why)
    flag = check.tests[0].flag or ""
    path = F.flag_value(argv, flag)
    if path is None:
        return _Outcome(check.missing == "pass", expected, f"{flag} not set", f"not set on the {where}")
    content = facts.contents.get("{apiserver.encryption-config}")
    if content is None or content.state == "absent":
        return _Outcome(False, expected, "file not found", f"{path} (named by {flag})")
    if content.state != "present":
        return _Outcome(None, expected, "unknown", path, f"{path} is {content.state}")
    try:
        data = F.parse_config(content.data)
        blocks = data["resources"]
        firsts = [(",".join(b.get("resources") or []), next(iter(b["providers"][0]))) for b in blocks]
    except (ValueError, KeyError, TypeError, IndexError, StopIteration, AttributeError):
        return _Outcome(False, expected, "not a valid EncryptionConfiguration", content.path)
    if not firsts:
        return _Outcome(False, expected, "no resources listed", content.path)
    holds = all(p in check.allowed for _, p in firsts)
    return _Outcome(holds, expected, "; ".join(f"{r or '?'}: {p}" for r, p in firsts), f"{content.path} (named by {flag})")


_KINDS: dict[str, Callable[[Check, HostFacts, Catalog], _Outcome]] = {
    "file": _file, "flag": _flag, "setting": _setting, "encryption": _encryption,
}
