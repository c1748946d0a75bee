"""Frozen data types shared by every layer: hosts, catalog, facts, findings, scan results.

Nothing here does I/O or imports another fleetbench module except ``errors``. Raw dicts live
only in the YAML loaders (``inventory``, ``catalog``), which convert to these types at once.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from .errors import HostError


class Status(StrEnum):
    """kube-bench's four verdicts, with kube-bench's meaning.

    PASS: the check was evaluated and holds. FAIL: a scored check was evaluated and does not
    hold. WARN: a manual check, an unscored check that does not hold, or a check that could not
    be assessed on this host (the finding's ``reason`` says which). INFO: skipped on request.
    """

    PASS = "PASS"
    FAIL = "FAIL"
    WARN = "WARN"
    INFO = "INFO"


STATUSES: tuple[Status, ...] = (Status.PASS, Status.FAIL, Status.WARN, Status.INFO)

DEFAULT_CLUSTER = "default"               #: the cluster of hosts whose inventory names none

Role = Literal["control-plane", "etcd", "worker"]
ROLES: tuple[str, ...] = ("control-plane", "etcd", "worker")
#: other names the inventory and ``--roles`` accept for a role (kube-bench's target names among them)
ROLE_ALIASES: Mapping[str, str] = {"master": "control-plane", "controlplane": "control-plane", "node": "worker"}


# --------------------------------------------------------------------------- inventory

@dataclass(frozen=True, slots=True)
class SSHSettings:
    """How to reach one host. ``None`` means "not given": the user's ~/.ssh/config decides."""

    port: int | None = None
    user: str | None = None
    key_files: tuple[str, ...] = ()
    known_hosts: str | None = None        #: None → ~/.ssh/known_hosts (asyncssh's default)
    jump: str | None = None               #: ProxyJump: "user@bastion:port", hops separated by commas as in OpenSSH
    proxy_command: str | None = None      #: ProxyCommand (ssh config or ansible_ssh_common_args), when not a plain jump
    become: str | None = None             #: e.g. "sudo -n"; prefixes ``sh -s``
    ssh_config: str | None = None         #: None → ~/.ssh/config; "none" → no config file
    connect_timeout: float | None = None
    timeout: float | None = None          #: deadline for the whole host (connect + probe)


@dataclass(frozen=True, slots=True)
class Host:
    """One inventory host after defaults < groups < host inheritance."""

    name: str
    address: str
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    ssh: SSHSettings
    paths: Mapping[str, str]              #: path-variable overrides, e.g. {"kubelet.config": "/x"}
    origin: str                           #: "inventory.yaml:12", for messages
    cluster: str = "default"              #: the Kubernetes cluster the host belongs to (``cluster:``)
    sources: Mapping[str, str] = field(default_factory=dict)  #: setting → where it came from ("inv.ini:4", "host_vars/a.yml")
    cluster_source: bool = False          #: ``cluster_source: true``: query its cluster's API from this host first
    kubeconfig: str | None = None         #: ``kubeconfig:`` on the node, for the cluster query (None: found by the probe)
    kubectl: str | None = None            #: ``kubectl:`` command on the node, e.g. "k3s kubectl" (None: found by the probe)


# --------------------------------------------------------------------------- catalog

@dataclass(frozen=True, slots=True)
class PathVar:
    """Where one file of a component lives; resolved on the node, in the probe script.

    Order: inventory override > ``from_flag`` of the running process > ``from_env`` of the
    running process > first existing ``candidates`` entry > ``default``.
    """

    name: str                             #: "kubelet.config"
    from_flag: str | None
    from_env: str | None
    candidates: tuple[str, ...]
    default: str | None


@dataclass(frozen=True, slots=True)
class Component:
    name: str                             #: "apiserver"
    label: str                            #: "kube-apiserver", for people
    processes: tuple[tuple[str, ...], ...]  #: ("kube-apiserver",), ("hyperkube", "apiserver")
    paths: Mapping[str, PathVar]          #: short name → PathVar ("config" → kubelet.config)
    manifest: str | None                  #: path var holding the static-pod manifest, if any
    version: bool = False                 #: ask the running binary for --version
    flag_sources: tuple[str, ...] = ()    #: unit / env / config files that set its flags ("dir/": its *.conf,
                                          #: "dir/*.yaml": that glob)
    embeds: tuple[str, ...] = ()          #: components it runs inside its own process (k3s: the API server, …)
    journal: tuple[str, ...] = ()         #: systemd units whose journal logs their "Running <label> …" lines


@dataclass(frozen=True, slots=True)
class Test:
    """One comparison of a flag/setting check (kube-bench's test item)."""

    flag: str | None                      #: command-line flag, "--anonymous-auth"
    op: str                               #: see ops.OPS
    value: str | None = None
    config_key: str | None = None         #: dotted key in the component config file
    env: str | None = None                #: environment fallback (etcd), "ETCD_CERT_FILE"
    gate: str | None = None               #: a feature gate inside --feature-gates / featureGates


@dataclass(frozen=True, slots=True)
class Check:
    """A check, written once, independent of benchmark numbering."""

    id: str                               #: stable semantic id, "kubelet-anonymous-auth"
    title: str
    kind: Literal["file", "flag", "setting", "encryption", "manual", "cluster"]
    component: str | None
    remediation: str                      #: its own text, or its remediation.yaml template's; placeholders left
    origin: str                           #: "checks/controls/kubelet.yaml:14"
    # kind == file
    paths: tuple[str, ...] = ()           #: path expressions: literal or "{kubelet.config}"
    tree: bool = False                    #: every entry below each path counts
    match: str | None = None              #: with tree: only names matching this glob
    mode: str | None = None               #: octal mask: no permission bit outside it
    owner: str | None = None              #: "root:root"
    # kind == flag | setting | encryption
    tests: tuple[Test, ...] = ()
    combine: Literal["all", "any"] = "all"
    config: str | None = None             #: path expression of the config file (setting)
    allowed: tuple[str, ...] = ()         #: encryption: allowed first providers
    optional: str = ""                    #: file: CIS counts it only when in use; set: PASS with this reason when
                                          #: no running process names it and no file exists ("no … in use")
    # kind == cluster
    rule: str = ""                        #: the cluster rule (``cluster.RULES``) that decides it; "" = review by hand
    exempt: tuple[str, ...] = ()          #: namespaces the rule does not look at (``exempt_namespaces``)
    # all kinds
    missing: Literal["pass", "fail"] = "fail"  #: verdict when nothing is set / no file exists


@dataclass(frozen=True, slots=True)
class Control:
    """One numbered recommendation of one benchmark version, pointing at a check."""

    id: str                               #: CIS number, "4.2.1"
    check: Check
    target: str                           #: master | controlplane | etcd | node | policies
    scored: bool
    automated: bool
    section: str                          #: "4.2"
    title: str
    skip: str = ""                        #: set: this version does not evaluate it, and why (always INFO)


@dataclass(frozen=True, slots=True)
class Benchmark:
    id: str                               #: "cis-1.12"
    title: str
    kubernetes: tuple[str, ...]           #: minors it is meant for, ("1.32", "1.33")
    sections: Mapping[str, str]           #: "4" → title, "4.2" → title
    controls: tuple[Control, ...]
    origin: str


@dataclass(frozen=True, slots=True)
class Catalog:
    components: Mapping[str, Component]
    role_targets: Mapping[str, tuple[str, ...]]  #: inventory role → benchmark targets
    checks: Mapping[str, Check]
    benchmarks: Mapping[str, Benchmark]
    digest: str                           #: sha256 over every catalog file, for reports
    root: str

    def default_benchmark(self) -> str:
        """The newest generic CIS benchmark ("cis-1.12" beats "cis-1.9")."""
        generic = [b for b in self.benchmarks if b.startswith("cis-")]
        return max(generic, key=lambda b: tuple(int(p) for p in b[4:].split(".")))

    def path_var(self, name: str) -> PathVar | None:
        comp, _, short = name.partition(".")
        component = self.components.get(comp)
        return component.paths.get(short) if component else None


# --------------------------------------------------------------------------- facts

@dataclass(frozen=True, slots=True)
class ProcessFact:
    component: str
    pid: int
    argv: tuple[str, ...]                 #: exact, from /proc/<pid>/cmdline (or the origin below)
    env: Mapping[str, str] = field(default_factory=dict)  #: only the ETCD_* variables
    origin: str = ""                      #: where argv was read when not from /proc/<pid>/cmdline: "k3s journal
                                          #: line 'Running kubelet' (k3s pid 812)"; pid is then the host process's


@dataclass(frozen=True, slots=True)
class FileStat:
    path: str
    mode: int                             #: permission bits, e.g. 0o644
    uid: int
    gid: int
    user: str                             #: as named on the node ("UNKNOWN" if unnamed)
    group: str
    type: str                             #: "regular file", "directory", ...

    @property
    def mode_text(self) -> str:
        return format(self.mode, "o")

    @property
    def owner(self) -> str:
        return f"{self.user}:{self.group}"


@dataclass(frozen=True, slots=True)
class ResolvedPath:
    """A path variable as the probe script resolved it on the node."""

    name: str
    path: str | None                      #: None: no flag, no candidate, no default
    source: str                           #: "inventory", "flag --config", "env X", "candidate", "default"


@dataclass(frozen=True, slots=True)
class Content:
    """A file read by the probe script."""

    path: str
    state: Literal["present", "absent", "unreadable", "truncated"]
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HostFacts:
    """Everything collected on one host, parsed and typed."""

    hostname: str
    uid: int | None
    processes: Mapping[str, ProcessFact]  #: component → first matching process
    paths: Mapping[str, ResolvedPath]
    stats: Mapping[str, FileStat | None]  #: path → stat, None when absent
    trees: Mapping[str, tuple[FileStat, ...] | None]  #: root → every entry below, None if absent
    contents: Mapping[str, Content]       #: path var or literal path → content
    versions: Mapping[str, str] = field(default_factory=dict)  #: component → its `--version` output
    dirs: Mapping[str, tuple[Content, ...]] = field(default_factory=dict)  #: folder expr → its *.conf files
    denied: frozenset[str] = frozenset()  #: paths hidden by a folder the scanning user cannot search
    kube: KubeQuery | None = None         #: the cluster query's answer, on a cluster's source host only


# --------------------------------------------------------------------------- results

@dataclass(frozen=True, slots=True)
class Finding:
    """The verdict of one control on one host, with its evidence."""

    control: Control
    status: Status
    expected: str                         #: "'--anonymous-auth' is equal to 'false'"
    actual: str                           #: "true", "644 root:root", "not set"
    source: str                           #: where the actual value came from
    remediation: str                      #: with the node's own paths filled in
    reason: str = ""                      #: why WARN/INFO, or a note on the evidence
    waiver: Waiver | None = None          #: an accepted exception: the status stays, the exit code ignores it


@dataclass(frozen=True, slots=True)
class Waiver:
    """An accepted exception from a waiver file (``--waivers``): who accepted which finding, why, until when."""

    reason: str
    owner: str
    ticket: str
    expires: date                         #: the last day it applies
    origin: str                           #: "waivers.yaml:12"


@dataclass(frozen=True, slots=True)
class Detection:
    """What a node runs, and so which benchmark applies to it (``detect.choose``)."""

    distribution: str                     #: kubeadm | k3s | rke2 | kubernetes
    version: str | None                   #: "1.30.2"
    version_source: str                   #: "kubelet --version", "image … in <manifest>", "not detected"
    benchmark: str
    reason: str                           #: why this benchmark, in one sentence


@dataclass(frozen=True, slots=True)
class Record:
    """One framed section of the probe's output: ``@@<nonce> <type> <args…>`` then its payload.

    The args carry the record's key (percent-encoded, see ``records.key_word``), so a record
    says what it is about without the plan that produced it (``records.py`` lists the kinds).
    """

    type: str
    args: tuple[str, ...]
    payload: bytes


@dataclass(frozen=True, slots=True)
class Collected:
    """What the probe returned on one host, kept for evidence bundles (``bundle.py``)."""

    stdout_sha256: str                    #: of the raw output as received
    collected_at: datetime
    records: tuple[Record, ...]           #: in output order; each names its key, so no plan is needed


@dataclass(frozen=True, slots=True)
class KubeQuery:
    """The answer of the one ``kubectl get … -o json`` a cluster's source host ran (``records.KubeKind``).

    ``state``: ``ok`` (payload is the JSON, complete), ``truncated`` (the payload hit the cap),
    ``missing`` (no kubectl found), ``unreadable`` (the kubeconfig), ``failed`` (kubectl's exit
    status was not 0: API unreachable, refused, …; ``message`` holds its stderr).
    """

    state: Literal["ok", "truncated", "missing", "unreadable", "failed"]
    command: str                          #: how kubectl was run, for the evidence ("kubectl (kubeadm)")
    kubeconfig: str
    message: str = ""                     #: kubectl's stderr, or why it was not run
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class ClusterFinding:
    """The verdict of one section-5 control on one cluster, with the objects that break it."""

    control: Control
    status: Status
    expected: str
    actual: str                           #: "3 of 41 pods", "no ClusterRoleBinding beyond kubeadm's"
    offending: tuple[str, ...]            #: "Kind/namespace/name" ("Kind/name" when cluster-scoped), first 20
    offending_count: int                  #: all of them
    source: str                           #: the query it was decided from
    remediation: str
    reason: str = ""
    waiver: Waiver | None = None          #: as on Finding: an accepted exception (``--waivers``, per cluster)


@dataclass(frozen=True, slots=True)
class ClusterScan:
    """Section 5 of one cluster: decided once, from one query on one of its control-plane hosts.

    ``status`` is "ok", or "not assessed: <reason>" (no control-plane host reachable, kubectl missing,
    kubeconfig unreadable, API unreachable or refusing); then there are no findings, and node checks
    of its hosts are unaffected.
    """

    name: str
    hosts: tuple[str, ...]                #: inventory hosts of the cluster, in order
    status: str
    source_host: str | None               #: the host whose query decided it
    tried: tuple[str, ...]                #: control-plane hosts tried, in order
    benchmark: str
    findings: tuple[ClusterFinding, ...] = ()
    records: tuple[Record, ...] = ()      #: the query's records, kept for evidence bundles
    collected_at: datetime | None = None

    @property
    def assessed(self) -> bool:
        return self.status == "ok"

    def summary(self) -> dict[str, int]:
        counts = Counter(f.status for f in self.findings)
        return {s.value: counts.get(s, 0) for s in STATUSES}


@dataclass(frozen=True, slots=True)
class HostScan:
    host: Host
    benchmark: str
    started: datetime
    seconds: float
    findings: tuple[Finding, ...] = ()
    error: HostError | None = None        #: set ⇒ not assessed, no findings, never a pass
    facts: HostFacts | None = None
    detection: Detection | None = None    #: None when the benchmark was forced or the host failed
    collected: Collected | None = None
    #: the known_hosts file(s) the host key was checked against; None when it was not checked
    #: (--insecure-no-host-key-check, --local, or SSH settings that could not be read)
    known_hosts: str | None = None
    #: --accept-new-host-keys: the key recorded for this host on first contact ("ssh-ed25519
    #: SHA256:… recorded in FILE as [addr]:port"); None when its key was already known
    accepted_host_key: str | None = None

    @property
    def assessed(self) -> bool:
        return self.error is None

    def summary(self) -> dict[str, int]:
        counts = Counter(f.status for f in self.findings)
        return {s.value: counts.get(s, 0) for s in STATUSES}


def new_run_id() -> str:
    """A fresh run id: 12 random hex characters, made once per scan (or re-evaluation).

    Why random rather than a counter: runs from several jump hosts (and, later, several history
    databases) must never collide; the run folder puts the UTC timestamp in front for sorting.
    """
    return secrets.token_hex(6)


@dataclass(frozen=True, slots=True)
class ScanReport:
    tool_version: str
    benchmark: str
    catalog_digest: str
    started: datetime
    finished: datetime
    hosts: tuple[HostScan, ...]
    options: Mapping[str, Any]            #: what the user chose: targets, checks, insecure, ...
    run_id: str = field(default_factory=new_run_id)   #: names this run in reports and folders
    clusters: tuple[ClusterScan, ...] = ()            #: section 5, once per cluster

    def summary(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for host in self.hosts:
            total.update(host.summary())
        return {s.value: total.get(s.value, 0) for s in STATUSES}

    def not_assessed(self) -> tuple[HostScan, ...]:
        return tuple(h for h in self.hosts if not h.assessed)
