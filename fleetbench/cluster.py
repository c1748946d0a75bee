"""Section 5, decided once per cluster: the cluster query's JSON → typed findings. Pure: no I/O.

One source host per cluster runs ONE read-only ``kubectl get pods,serviceaccounts,namespaces,roles,
clusterroles,rolebindings,clusterrolebindings,networkpolicies -A -o json`` (``records.KubeKind``);
its output is parsed ONCE here (:func:`parse`) into a :class:`Snapshot` with the indexes every rule
needs, and each rule is a small function over it. RBAC is resolved in Python (what a subject may do,
from roles and bindings), so an evidence bundle re-decides everything offline; no ``auth can-i``.

A rule returns the offending objects as ``Kind/namespace/name`` (``Kind/name`` for cluster-scoped
objects, as kubectl names them). The checks a rule decides are unscored in CIS; fleetbench gives a
finding FAIL (its own status) and keeps ``scored: false`` in the JSON, so a kube-bench-style reader
can still map it to WARN. Controls without a rule stay WARN with a reason saying what to review.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .models import Check, ClusterFinding, Control, KubeQuery, Status

__all__ = ["BROAD_GROUPS", "KUBEADM_ADMIN_BINDINGS", "MAX_OFFENDING", "QUERY_RESOURCES", "RULES", "Snapshot",
           "evaluate", "not_assessed_reason", "parse"]

#: what the one query lists (never secrets)
QUERY_RESOURCES = ("pods", "serviceaccounts", "namespaces", "roles", "clusterroles", "rolebindings",
                   "clusterrolebindings", "networkpolicies")
MAX_OFFENDING = 20                        #: objects named per finding; the count covers all of them
#: groups that every (or any) client is in: a right given to them is given to everyone
BROAD_GROUPS = frozenset({"system:authenticated", "system:unauthenticated", "system:serviceaccounts",
                          "system:anonymous"})
#: the cluster-admin bindings kubeadm itself creates: (binding name, subject kind, subject name)
KUBEADM_ADMIN_BINDINGS = frozenset({("cluster-admin", "Group", "system:masters"),
                                    ("kubeadm:cluster-admins", "Group", "kubeadm:cluster-admins")})
BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")

Obj = dict[str, Any]


# --------------------------------------------------------------------------- the snapshot

@dataclass(frozen=True, slots=True)
class Snapshot:
    """The query's objects by kind, with the indexes the rules share; built once per cluster."""

    pods: tuple[Obj, ...] = ()
    service_accounts: Mapping[tuple[str, str], Obj] = field(default_factory=dict)   #: (ns, name) → SA
    namespaces: tuple[str, ...] = ()
    roles: Mapping[tuple[str, str], Obj] = field(default_factory=dict)               #: (ns, name) → Role
    cluster_roles: Mapping[str, Obj] = field(default_factory=dict)
    role_bindings: tuple[Obj, ...] = ()
    cluster_role_bindings: tuple[Obj, ...] = ()
    policy_namespaces: frozenset[str] = frozenset()   #: namespaces holding at least one NetworkPolicy


def _meta(obj: Obj) -> tuple[str, str]:
    m = obj.get("metadata") or {}
    return str(m.get("namespace") or ""), str(m.get("name") or "")


def ref(obj: Obj) -> str:
    """``Kind/namespace/name``, or ``Kind/name`` for a cluster-scoped object."""
    ns, name = _meta(obj)
    kind = str(obj.get("kind") or "?")
    return f"{kind}/{ns}/{name}" if ns else f"{kind}/{name}"


def parse(payload: bytes) -> Snapshot:
    """The query's JSON (a kubectl ``List``) → a :class:`Snapshot`.

    Raises:
        ValueError: not JSON, or not a list of objects each with its ``kind``.
    """
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the query's answer is not JSON ({exc})") from None
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError("the query's answer is not a kubectl List (no 'items')")
    by_kind: dict[str, list[Obj]] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
            raise ValueError("the query's answer holds an item without a 'kind'")
        by_kind.setdefault(item["kind"], []).append(item)
    return Snapshot(
        pods=tuple(by_kind.get("Pod", ())),
        service_accounts={_meta(o): o for o in by_kind.get("ServiceAccount", ())},
        namespaces=tuple(_meta(o)[1] for o in by_kind.get("Namespace", ())),
        roles={_meta(o): o for o in by_kind.get("Role", ())},
        cluster_roles={_meta(o)[1]: o for o in by_kind.get("ClusterRole", ())},
        role_bindings=tuple(by_kind.get("RoleBinding", ())),
        cluster_role_bindings=tuple(by_kind.get("ClusterRoleBinding", ())),
        policy_namespaces=frozenset(_meta(o)[0] for o in by_kind.get("NetworkPolicy", ())))


# --------------------------------------------------------------------------- RBAC

def _has(values: Iterable[Any], wanted: str) -> bool:
    return any(v == wanted or v == "*" for v in values)


def rule_allows(rule: Obj, verbs: Iterable[str], resource: str, group: str = "") -> bool:
    """Whether one PolicyRule grants any of ``verbs`` on ``resource`` of API group ``group``."""
    return (_has(rule.get("apiGroups") or (), group) and _has(rule.get("resources") or (), resource)
            and any(_has(rule.get("verbs") or (), v) for v in verbs))


def bound_rules(binding: Obj, snap: Snapshot) -> list[Obj]:
    """The rules a (Cluster)RoleBinding grants: its Role (same namespace) or ClusterRole's rules."""
    role_ref = binding.get("roleRef") or {}
    kind, name = role_ref.get("kind"), str(role_ref.get("name") or "")
    if kind == "ClusterRole":
        role = snap.cluster_roles.get(name)
    elif kind == "Role":
        role = snap.roles.get((_meta(binding)[0], name))
    else:
        role = None
    rules = (role or {}).get("rules") or []
    return [r for r in rules if isinstance(r, dict)]


def bindings(snap: Snapshot) -> Iterator[Obj]:
    yield from snap.cluster_role_bindings
    yield from snap.role_bindings


def subjects(binding: Obj) -> list[Obj]:
    return [s for s in binding.get("subjects") or () if isinstance(s, dict)]


def may(snap: Snapshot, subject_kind: str, subject_names: frozenset[str], verbs: Iterable[str],
        resource: str, group: str = "") -> list[tuple[Obj, str]]:
    """Bindings that give a subject of that kind and one of those names a verb on a resource:
    (binding, subject name), each binding once."""
    verbs = tuple(verbs)
    found = []
    for b in bindings(snap):
        names = [str(s.get("name")) for s in subjects(b) if s.get("kind") == subject_kind
                 and s.get("name") in subject_names]
        if names and any(rule_allows(r, verbs, resource, group) for r in bound_rules(b, snap)):
            found.append((b, names[0]))
    return found


# --------------------------------------------------------------------------- pods

def containers(pod: Obj) -> Iterator[Obj]:
    spec = pod.get("spec") or {}
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or ():
            if isinstance(c, dict):
                yield c


def _sc(obj: Obj) -> Obj:
    sc = obj.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def _runs_as_root(pod_sc: Obj, c: Obj) -> bool:
    """Effective runAsUser 0, or none set without runAsNonRoot: true (container over pod)."""
    csc = _sc(c)
    user = csc.get("runAsUser", pod_sc.get("runAsUser"))
    non_root = csc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
    if user is not None:
        return bool(user == 0)
    return non_root is not True


def _token_mounted(pod: Obj, snap: Snapshot) -> bool:
    spec = pod.get("spec") or {}
    setting = spec.get("automountServiceAccountToken")
    if setting is None:
        sa = snap.service_accounts.get((_meta(pod)[0], str(spec.get("serviceAccountName") or "default")))
        setting = (sa or {}).get("automountServiceAccountToken")
    return setting is not False


def _secret_env(c: Obj) -> bool:
    for e in c.get("env") or ():
        if isinstance(e, dict) and isinstance(e.get("valueFrom"), dict) and e["valueFrom"].get("secretKeyRef"):
            return True
    return any(isinstance(e, dict) and e.get("secretRef") for e in c.get("envFrom") or ())


def _any_container(test: Callable[[Obj, Obj], bool]) -> Callable[[Obj, Snapshot], bool]:
    def pod_test(pod: Obj, snap: Snapshot) -> bool:
        pod_sc = _sc(pod.get("spec") or {})
        return any(test(pod_sc, c) for c in containers(pod))
    return pod_test


def _spec_flag(key: str) -> Callable[[Obj, Snapshot], bool]:
    def pod_test(pod: Obj, snap: Snapshot) -> bool:
        return (pod.get("spec") or {}).get(key) is True
    return pod_test


def _no_security_context(pod: Obj, snap: Snapshot) -> bool:
    return not _sc(pod.get("spec") or {}) and not any(_sc(c) for c in containers(pod))


def _host_path(pod: Obj, snap: Snapshot) -> bool:
    return any(isinstance(v, dict) and v.get("hostPath") is not None for v in (pod.get("spec") or {}).get("volumes") or ())


def _in_default(pod: Obj, snap: Snapshot) -> bool:
    return _meta(pod)[0] == "default"


#: pod rule → (what a pod breaks, the test)
_POD_RULES: dict[str, tuple[str, Callable[[Obj, Snapshot], bool]]] = {
    "pod-token-mounted": ("gets a service-account token mounted", _token_mounted),
    "privileged": ("runs a privileged container", _any_container(lambda p, c: _sc(c).get("privileged") is True)),
    "host-pid": ("shares the host's PID namespace", _spec_flag("hostPID")),
    "host-ipc": ("shares the host's IPC namespace", _spec_flag("hostIPC")),
    "host-network": ("shares the host's network namespace", _spec_flag("hostNetwork")),
    "privilege-escalation": ("allows privilege escalation explicitly",
                             _any_container(lambda p, c: _sc(c).get("allowPrivilegeEscalation") is True)),
    "run-as-root": ("may run a container as root", _any_container(_runs_as_root)),
    "added-capabilities": ("adds Linux capabilities", _any_container(
        lambda p, c: bool((_sc(c).get("capabilities") or {}).get("add")))),
    "host-path": ("mounts a hostPath volume", _host_path),
    "secret-env": ("reads a Secret into an environment variable", _any_container(lambda p, c: _secret_env(c))),
    "no-security-context": ("declares no securityContext at all", _no_security_context),
    "default-namespace": ("runs in the default namespace", _in_default),
}


# --------------------------------------------------------------------------- rules

@dataclass(frozen=True, slots=True)
class _Verdict:
    offending: list[str]
    looked_at: str                        #: "41 pods", "9 ClusterRoleBindings"
    expected: str
    notes: list[str] = field(default_factory=list)   #: who gets the right: "ClusterRoleBinding/x → User alice"


def _cluster_admin(check: Check, snap: Snapshot) -> _Verdict:
    bad, notes = [], []
    for b in snap.cluster_role_bindings:
        role_ref = b.get("roleRef") or {}
        if role_ref.get("kind") != "ClusterRole" or role_ref.get("name") != "cluster-admin":
            continue
        name = _meta(b)[1]
        extra = [s for s in subjects(b) if (name, s.get("kind"), s.get("name")) not in KUBEADM_ADMIN_BINDINGS]
        if extra or not subjects(b):
            bad.append(ref(b))
            notes.append(f"{ref(b)} → " + (", ".join(f"{s.get('kind')} {s.get('name')}" for s in extra[:3])
                                          or "no subject"))
    return _Verdict(bad, f"{len(snap.cluster_role_bindings)} ClusterRoleBindings",
                    "no ClusterRoleBinding to cluster-admin beyond kubeadm's own (cluster-admin → Group system:masters, "
                    "kubeadm:cluster-admins → Group kubeadm:cluster-admins)", notes)


def _broad(verbs: tuple[str, ...], resource: str) -> Callable[[Check, Snapshot], _Verdict]:
    def rule(check: Check, snap: Snapshot) -> _Verdict:
        found = may(snap, "Group", BROAD_GROUPS, verbs, resource)
        n = len(snap.role_bindings) + len(snap.cluster_role_bindings)
        return _Verdict([ref(b) for b, _ in found], f"{n} RoleBindings and ClusterRoleBindings",
                        f"no binding gives {', '.join(sorted(BROAD_GROUPS))} {'/'.join(verbs)} on {resource}",
                        [f"{ref(b)} → Group {g}" for b, g in found])
    return rule


def _wildcards(check: Check, snap: Snapshot) -> _Verdict:
    bad = []
    roles = [*snap.cluster_roles.values(), *snap.roles.values()]
    for role in roles:
        labels = (role.get("metadata") or {}).get("labels") or {}
        if labels.get(BOOTSTRAP_LABEL[0]) == BOOTSTRAP_LABEL[1]:
            continue
        for r in role.get("rules") or ():
            if isinstance(r, dict) and any("*" in str(v) for key in ("verbs", "resources", "apiGroups")
                                           for v in r.get(key) or ()):
                bad.append(ref(role))
                break
    return _Verdict(bad, f"{len(roles)} Roles and ClusterRoles (the API server's bootstrap policy, label "
                         f"{'='.join(BOOTSTRAP_LABEL)}, excepted)",
                    "no '*' in the verbs, resources or apiGroups of any Role or ClusterRole")


def _default_sa(check: Check, snap: Snapshot) -> _Verdict:
    bad = [ref(sa) for (ns, name), sa in snap.service_accounts.items()
           if name == "default" and ns not in check.exempt and sa.get("automountServiceAccountToken") is not False]
    n = sum(1 for (_, name) in snap.service_accounts if name == "default")
    return _Verdict(bad, f"{n} default ServiceAccounts", "automountServiceAccountToken: false on every default "
                                                        "ServiceAccount")


def _network_policies(check: Check, snap: Snapshot) -> _Verdict:
    looked = [ns for ns in snap.namespaces if ns not in check.exempt]
    bad = [f"Namespace/{ns}" for ns in looked if ns not in snap.policy_namespaces]
    return _Verdict(bad, f"{len(looked)} namespaces", "at least one NetworkPolicy in every namespace")


def _pod_rule(name: str) -> Callable[[Check, Snapshot], _Verdict]:
    what, test = _POD_RULES[name]

    def rule(check: Check, snap: Snapshot) -> _Verdict:
        exempt = frozenset(check.exempt)
        pods = [p for p in snap.pods if _meta(p)[0] not in exempt]
        return _Verdict([ref(p) for p in pods if test(p, snap)], f"{len(pods)} pods",
                        f"no pod that {what}")
    return rule


#: rule name (``rule:`` of a cluster check in the catalog) → its function
RULES: dict[str, Callable[[Check, Snapshot], _Verdict]] = {
    "cluster-admin-bindings": _cluster_admin,
    "broad-groups-read-secrets": _broad(("get", "list", "watch"), "secrets"),
    "broad-groups-create-pods": _broad(("create",), "pods"),
    "rbac-wildcards": _wildcards,
    "default-service-account-automount": _default_sa,
    "namespaces-without-network-policy": _network_policies,
    **{name: _pod_rule(name) for name in _POD_RULES},
}
#: rules that look at namespaced objects and honour the check's ``exempt_namespaces``
EXEMPTING = frozenset({"default-service-account-automount", "namespaces-without-network-policy", *_POD_RULES})


def _source(query: KubeQuery, host: str) -> str:
    return f"{query.command} --kubeconfig {query.kubeconfig} get {','.join(QUERY_RESOURCES)} -A -o json on {host}"


def decide(control: Control, snap: Snapshot, source: str) -> ClusterFinding:
    """One control's finding over a parsed snapshot."""
    check = control.check
    if control.skip:
        return ClusterFinding(control, Status.INFO, "", "", (), 0, "", "", control.skip)
    if not check.rule:
        return ClusterFinding(control, Status.WARN, "manual review", "", (), 0, "", check.remediation,
                              "manual check: not decidable from the API objects fleetbench reads; "
                              + check.remediation)
    verdict = RULES[check.rule](check, snap)
    bad = verdict.offending
    exempt = f"; namespaces exempted: {', '.join(check.exempt)}" if check.exempt and check.rule in EXEMPTING else ""
    notes = "".join(f"; {n}" for n in verdict.notes[:5])
    actual = (f"{len(bad)} offending of {verdict.looked_at}" if bad else f"none of {verdict.looked_at}") + exempt + notes
    return ClusterFinding(control, Status.FAIL if bad else Status.PASS, verdict.expected, actual,
                          tuple(bad[:MAX_OFFENDING]), len(bad), source, check.remediation if bad else "",
                          "unscored in CIS: FAIL in fleetbench's status, scored false kept" if bad and not control.scored
                          else "")


def evaluate(controls: Iterable[tuple[Control, bool]], query: KubeQuery, host: str) -> tuple[ClusterFinding, ...]:
    """Every section-5 control of one cluster from its query's answer (``query.state`` must be ok).

    ``controls``: (control, skipped on request), as ``Selection.controls`` gives them.

    Raises:
        ValueError: the answer is not the JSON list kubectl prints.
    """
    snap = parse(query.payload)                 # the one parse of the payload
    source = _source(query, host)
    out = []
    for control, skipped in controls:
        if skipped:
            out.append(ClusterFinding(control, Status.INFO, "", "", (), 0, "", "", "skipped on request (--skip)"))
        else:
            out.append(decide(control, snap, source))
    return tuple(out)


def not_assessed_reason(query: KubeQuery, host: str) -> str:
    """Why a query that did not answer leaves the cluster not assessed, in one sentence."""
    lines = [line for line in query.message.splitlines() if line.strip()]
    msg = " ".join((lines[-1] if lines else "").split())[:300]   # kubectl's last line says it best
    if query.state == "missing":
        return f"no kubectl on {host}: {msg}"
    if query.state == "unreadable":
        return f"kubeconfig {query.kubeconfig} on {host} is not readable by the scanning user"
    if query.state == "truncated":
        return (f"the answer of kubectl on {host} was larger than the cap ({msg}, records.MAX_KUBE_BYTES): "
                "cut, so not judged")
    return f"kubectl on {host} failed: {msg or 'no message'}"
