"""k3s and RKE2 node scenarios: what a CIS scanner sees on real k3s and RKE2 hosts.

Why: fleetbench gives k3s and RKE2 nodes their own benchmark variants and must find their
components where these distributions put them, which is nowhere near kubeadm's paths:

* **k3s** (v1.30.4+k3s1, installed by get.k3s.io as a systemd unit) runs the API server,
  controller manager, scheduler, kubelet and kube-proxy *inside the one k3s process*: no
  kube-apiserver process, no manifest. The only record of their arguments is the line k3s logs
  at every start, ``Running kube-apiserver --advertise-port=6443 …``, in the journal of the
  ``k3s`` (server) or ``k3s-agent`` unit. The lab runs no journald, so each k3s node gets a
  stand-in ``journalctl`` (see :data:`JOURNALCTL`) and a journal export file to print.
  Its files live under /var/lib/rancher/k3s and /etc/rancher/k3s.
* **RKE2** (v1.32.3+rke2r1) runs real processes: static pods (etcd with ``--config-file``, the
  control plane, kube-proxy) from /var/lib/rancher/rke2/agent/pod-manifests, and a kubelet it
  starts itself with ``--config-dir`` drop-ins (00-rke2-defaults.conf, rewritten at every start).

Arguments, file layout and modes are modelled on those releases' defaults (k3s writes
certificates 0644, keys and kubeconfigs 0600, its state folders 0700). Certificates and keys
are fake PEM-shaped bytes. The agents carry drift a scan must catch, set the way an operator
would set it (a ``kubelet-arg`` in config.yaml, a kubelet config file of their own), and the k3s
server was restarted after a config change, so only its last log lines tell the truth.
Every address in argv, logs and files is loopback text, except the cluster CIDRs (10.42/16,
10.43/16), which are text only and never contacted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import yaml

from tests.lab.scenarios import PATH_ENV, _b64_pem, _fake_bytes, _pem, kubeadm_worker, older_worker
from tests.lab.specs import FileSpec, NodeSpec, ProcSpec

K3S_VERSION = "v1.30.4+k3s1"
RKE2_VERSION = "v1.32.3+rke2r1"
RKE2_DATA = "/var/lib/rancher/rke2/data/v1.32.3-rke2r1-3f7c2d4b8a91"
JOURNAL_EXPORT = "/var/lib/fleetbench-lab/journal.export"

JOURNALCTL = f"""#!/bin/sh
# journalctl stand-in on a fleetbench loopback-lab node: the lab runs no journald.
# It prints the MESSAGE of every entry of the units named with -u/--unit (what
# `journalctl -u UNIT -o cat` prints), from the journal export file below; other
# options (-b, --no-pager, -o) are accepted and ignored.
units=
while [ $# -gt 0 ]; do
  case $1 in
    -u|--unit) shift; units="$units $1.service" ;;
    --unit=*) units="$units ${{1#--unit=}}.service" ;;
  esac
  shift
done
exec awk -v units="$units " '
  function flush() {{ if (msg != "" && index(units, " " unit " ")) print msg; msg = ""; unit = "" }}
  /^$/ {{ flush(); next }}
  /^MESSAGE=/ {{ msg = substr($0, 9) }}
  /^_SYSTEMD_UNIT=/ {{ unit = substr($0, 15) }}
  END {{ flush() }}
' {JOURNAL_EXPORT}
"""

_BOOT = datetime(2024, 9, 3, 8, 12, 30, tzinfo=UTC)
_CIDR = "  # cidr: text only, never contacted"


# ---- k3s ----------------------------------------------------------------------------------


def k3s_server(name: str, *, address: str) -> NodeSpec:
    """``curl -sfL https://get.k3s.io | sh -s - server`` with embedded etcd (``cluster-init``).

    It was started twice this boot: the operator then added ``kubelet-arg:
    streaming-connection-idle-timeout=5m`` to config.yaml, so only the last "Running kubelet"
    line has that flag (a scan must read the last line, and attribute the flag to config.yaml).
    """
    config = ("cluster-init: true\nwrite-kubeconfig-mode: \"0600\"\n"
              "kubelet-arg:\n  - \"streaming-connection-idle-timeout=5m\"\n")
    first = _k3s_lines(name, address, server=True, kubelet_extra={})
    second = _k3s_lines(name, address, server=True,
                        kubelet_extra={"streaming-connection-idle-timeout": "5m"})
    files = _k3s_common(name, "k3s", "server", config) + _k3s_server_files(name, address)
    files.append(_journal_export(name, "k3s", [first, second]))
    return NodeSpec(name, files, [_k3s_proc("server")], "control-plane")


def k3s_agent(name: str, *, address: str, server: str) -> NodeSpec:
    """``curl -sfL https://get.k3s.io | K3S_URL=… sh -`` joined to ``server``.

    Drift: someone added ``kubelet-arg: read-only-port=10255`` and restarted k3s-agent, so the
    kubelet's unauthenticated read-only port is open (CIS 4.2.4); the first start still had 0.
    """
    config = (f"server: https://{server}:6443\ntoken: K10{hashlib.sha256(server.encode()).hexdigest()[:40]}::node:"
              f"{hashlib.md5(name.encode()).hexdigest()}\nkubelet-arg:\n  - \"read-only-port=10255\"\n")
    first = _k3s_lines(name, address, server=False, kubelet_extra={})
    second = _k3s_lines(name, address, server=False, kubelet_extra={"read-only-port": "10255"})
    files = _k3s_common(name, "k3s-agent", "agent", config)
    files.append(_journal_export(name, "k3s-agent", [first, second]))
    return NodeSpec(name, files, [_k3s_proc("agent")], "workers")


def _k3s_proc(command: str) -> ProcSpec:
    return ProcSpec("/usr/local/bin/k3s", ["/usr/local/bin/k3s", command], {"PATH": PATH_ENV},
                    version=f"k3s version {K3S_VERSION} (98262b5d)\ngo version go1.22.5")


def _k3s_lines(name: str, address: str, *, server: bool, kubelet_extra: dict[str, str]) -> list[str]:
    """The "Running …" messages of one k3s start, with k3s v1.30's default arguments (k3s sorts them)."""
    tls, cred, agent = "/var/lib/rancher/k3s/server/tls", "/var/lib/rancher/k3s/server/cred", "/var/lib/rancher/k3s/agent"
    kubelet = {
        "address": "0.0.0.0", "allowed-unsafe-sysctls": "net.ipv4.ip_forward,net.ipv6.conf.all.forwarding",
        "anonymous-auth": "false", "authentication-token-webhook": "true", "authorization-mode": "Webhook",
        "cgroup-driver": "systemd", "client-ca-file": f"{agent}/client-ca.crt", "cloud-provider": "external",
        "cluster-dns": "10.43.0.10", "cluster-domain": "cluster.local",  # argv/config text only, never contacted
        "container-runtime-endpoint": "unix:///run/k3s/containerd/containerd.sock",
        "containerd": "/run/k3s/containerd/containerd.sock",
        "eviction-hard": "imagefs.available<5%,nodefs.available<5%",
        "eviction-minimum-reclaim": "imagefs.available=10%,nodefs.available=10%", "fail-swap-on": "false",
        "healthz-bind-address": "127.0.0.1", "hostname-override": name, "kubeconfig": f"{agent}/kubelet.kubeconfig",
        "node-ip": address, "node-labels": "", "pod-infra-container-image": "rancher/mirrored-pause:3.6",
        "pod-manifest-path": f"{agent}/pod-manifests", "read-only-port": "0", "resolv-conf": "/etc/resolv.conf",
        "serialize-image-pulls": "false", "tls-cert-file": f"{agent}/serving-kubelet.crt",
        "tls-private-key-file": f"{agent}/serving-kubelet.key", **kubelet_extra,
    }
    proxy = {
        "cluster-cidr": "10.42.0.0/16", "conntrack-max-per-core": "0", "conntrack-tcp-timeout-close-wait": "0s",  # argv/config text only, never contacted
        "conntrack-tcp-timeout-established": "0s", "healthz-bind-address": "127.0.0.1", "hostname-override": name,
        "kubeconfig": f"{agent}/kubeproxy.kubeconfig", "proxy-mode": "iptables",
    }
    lines = [f"Starting k3s {'' if server else 'agent '}{K3S_VERSION} (98262b5d)"]
    if server:
        apiserver = {
            "advertise-address": address, "advertise-port": "6443", "allow-privileged": "true", "anonymous-auth": "false",
            "api-audiences": "https://kubernetes.default.svc.cluster.local,k3s", "authorization-mode": "Node,RBAC",
            "bind-address": "127.0.0.1", "cert-dir": f"{tls}/temporary-certs", "client-ca-file": f"{tls}/client-ca.crt",
            "egress-selector-config-file": "/var/lib/rancher/k3s/server/etc/egress-selector-config.yaml",
            "enable-admission-plugins": "NodeRestriction", "enable-aggregator-routing": "true",
            "enable-bootstrap-token-auth": "true", "etcd-cafile": f"{tls}/etcd/server-ca.crt",
            "etcd-certfile": f"{tls}/etcd/client.crt", "etcd-keyfile": f"{tls}/etcd/client.key",
            "etcd-servers": "https://127.0.0.1:2379", "kubelet-certificate-authority": f"{tls}/server-ca.crt",
            "kubelet-client-certificate": f"{tls}/client-kube-apiserver.crt",
            "kubelet-client-key": f"{tls}/client-kube-apiserver.key", "profiling": "false",
            "proxy-client-cert-file": f"{tls}/client-auth-proxy.crt", "proxy-client-key-file": f"{tls}/client-auth-proxy.key",
            "requestheader-allowed-names": "system:auth-proxy", "requestheader-client-ca-file": f"{tls}/request-header-ca.crt",
            "requestheader-extra-headers-prefix": "X-Remote-Extra-", "requestheader-group-headers": "X-Remote-Group",
            "requestheader-username-headers": "X-Remote-User", "secure-port": "6444",
            "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
            "service-account-key-file": f"{tls}/service.key", "service-account-signing-key-file": f"{tls}/service.current.key",
            "service-cluster-ip-range": "10.43.0.0/16", "service-node-port-range": "30000-32767",  # argv/config text only, never contacted
            "storage-backend": "etcd3", "tls-cert-file": f"{tls}/serving-kube-apiserver.crt",
            "tls-private-key-file": f"{tls}/serving-kube-apiserver.key",
        }
        signing = {f"cluster-signing-{what}-{part}-file": f"{tls}/{ca}.{'nochain.crt' if part == 'cert' else 'key'}"
                   for what, ca in (("kube-apiserver-client", "client-ca"), ("kubelet-client", "client-ca"),
                                    ("kubelet-serving", "server-ca"), ("legacy-unknown", "server-ca"))
                   for part in ("cert", "key")}
        controller = {
            "allocate-node-cidrs": "true", "authentication-kubeconfig": f"{cred}/controller.kubeconfig",
            "authorization-kubeconfig": f"{cred}/controller.kubeconfig", "bind-address": "127.0.0.1",
            "cluster-cidr": "10.42.0.0/16", **signing, "configure-cloud-routes": "false",  # argv/config text only, never contacted
            "controllers": "*,tokencleaner,-service,-route,-cloud-node-lifecycle",
            "kubeconfig": f"{cred}/controller.kubeconfig", "profiling": "false", "root-ca-file": f"{tls}/server-ca.crt",
            "secure-port": "10257", "service-account-private-key-file": f"{tls}/service.current.key",
            "service-cluster-ip-range": "10.43.0.0/16", "use-service-account-credentials": "true",  # argv/config text only, never contacted
        }
        scheduler = {
            "authentication-kubeconfig": f"{cred}/scheduler.kubeconfig",
            "authorization-kubeconfig": f"{cred}/scheduler.kubeconfig", "bind-address": "127.0.0.1",
            "kubeconfig": f"{cred}/scheduler.kubeconfig", "profiling": "false", "secure-port": "10259",
        }
        ccm = {"allocate-node-cidrs": "true", "bind-address": "127.0.0.1", "cloud-provider": "k3s",
               "cluster-cidr": "10.42.0.0/16", "kubeconfig": f"{cred}/cloud-controller.kubeconfig", "profiling": "false"}  # argv/config text only, never contacted
        lines += ["Starting etcd for new cluster", _running("kube-apiserver", apiserver),
                  _running("kube-scheduler", scheduler), _running("kube-controller-manager", controller),
                  _running("cloud-controller-manager", ccm)]
    lines += ["Connecting to proxy", _running("kubelet", kubelet), _running("kube-proxy", proxy)]
    return lines


def _running(label: str, args: dict[str, str]) -> str:
    """k3s's log message for one component: its flags sorted by name, joined by single spaces."""
    return f"Running {label} " + " ".join(f"--{k}={v}" for k, v in sorted(args.items()))


def _journal_export(name: str, unit: str, starts: list[list[str]]) -> FileSpec:
    """The journal export (``journalctl -o export``) of ``unit``: each start's messages, in
    logrus's text format as k3s writes them to stderr, which the stand-in journalctl prints."""
    boot = hashlib.md5(f"boot@{name}".encode()).hexdigest()
    entries: list[str] = []
    for start, messages in enumerate(starts):
        pid = 812 + 1000 * start
        for n, message in enumerate(messages):
            when = _BOOT + timedelta(hours=start, seconds=n)
            text = json.dumps(message)        # logrus quotes the message the way Go's %q does
            entries.append("\n".join([
                f"__CURSOR=s={boot};i={len(entries) + 1:x};b={boot}",
                f"__REALTIME_TIMESTAMP={int(when.timestamp() * 1_000_000)}",
                f"_BOOT_ID={boot}", "PRIORITY=6", f"SYSLOG_IDENTIFIER={unit.split('-')[0]}", f"_PID={pid}",
                f"_COMM={'k3s-server' if unit == 'k3s' else 'k3s-agent'}", "_EXE=/usr/local/bin/k3s",
                f"_SYSTEMD_UNIT={unit}.service", f"_HOSTNAME={name}",
                f'MESSAGE=time="{when.strftime("%Y-%m-%dT%H:%M:%SZ")}" level=info msg={text}',
            ]) + "\n")
    return FileSpec(JOURNAL_EXPORT, "\n".join(entries), 0o640)


def _k3s_common(name: str, unit: str, command: str, config: str) -> list[FileSpec]:
    """What the installer and k3s leave on every k3s node, server or agent."""
    agent = "/var/lib/rancher/k3s/agent"
    service = ("[Unit]\nDescription=Lightweight Kubernetes\nDocumentation=https://k3s.io\nWants=network-online.target\n"
               "After=network-online.target\n\n[Install]\nWantedBy=multi-user.target\n\n[Service]\n"
               f"Type={'notify' if command == 'server' else 'exec'}\nEnvironmentFile=-/etc/default/%N\n"
               "EnvironmentFile=-/etc/sysconfig/%N\nEnvironmentFile=-/etc/systemd/system/k3s.service.env\n"
               "KillMode=process\nDelegate=yes\nLimitNOFILE=1048576\nLimitNPROC=infinity\nLimitCORE=infinity\n"
               "TasksMax=infinity\nTimeoutStartSec=0\nRestart=always\nRestartSec=5s\n"
               f"ExecStartPre=-/sbin/modprobe br_netfilter\nExecStartPre=-/sbin/modprobe overlay\n"
               f"ExecStart=/usr/local/bin/k3s \\\n    {command} \\\n")
    kubeconfig = _rancher_kubeconfig("https://127.0.0.1:6443", f"{agent}/server-ca.crt", agent)
    files = [
        FileSpec("/etc/rancher", kind="dir", mode=0o755),
        FileSpec("/etc/rancher/k3s", kind="dir", mode=0o755),
        FileSpec("/etc/rancher/k3s/config.yaml", config, 0o600),
        FileSpec("/etc/rancher/node", kind="dir", mode=0o700),
        FileSpec("/etc/rancher/node/password", hashlib.sha256(f"node@{name}".encode()).hexdigest()[:32] + "\n", 0o600),
        FileSpec(f"/etc/systemd/system/{unit}.service", service, 0o644),
        FileSpec(f"/etc/systemd/system/{unit}.service.env", "", 0o600),
        *(FileSpec(f"/usr/local/bin/{tool}", kind="symlink", target="k3s") for tool in ("kubectl", "crictl", "ctr")),
        FileSpec("/usr/local/bin/journalctl", JOURNALCTL, 0o755),
        FileSpec("/var/lib/rancher", kind="dir", mode=0o755),
        FileSpec("/var/lib/rancher/k3s", kind="dir", mode=0o755),
        FileSpec(agent, kind="dir", mode=0o755),
        FileSpec(f"{agent}/pod-manifests", kind="dir", mode=0o755),
        FileSpec(f"{agent}/kubelet.kubeconfig", kubeconfig("client-kubelet"), 0o600),
        FileSpec(f"{agent}/kubeproxy.kubeconfig", kubeconfig("client-kube-proxy"), 0o600),
        FileSpec(f"{agent}/k3scontroller.kubeconfig", kubeconfig("client-k3s-controller"), 0o600),
    ]
    for cert in ("client-ca", "server-ca", "serving-kubelet", "client-kubelet", "client-kube-proxy", "client-k3s-controller"):
        files.append(FileSpec(f"{agent}/{cert}.crt", _pem("CERTIFICATE", f"{name}/{cert}", 420), 0o600))
    for key in ("serving-kubelet", "client-kubelet", "client-kube-proxy", "client-k3s-controller"):
        files.append(FileSpec(f"{agent}/{key}.key", _pem("EC PRIVATE KEY", f"{name}/{key}", 121), 0o600))
    return files


def _k3s_server_files(name: str, address: str) -> list[FileSpec]:
    """/var/lib/rancher/k3s/server: credentials, the PKI and the embedded etcd, with k3s's modes."""
    server = "/var/lib/rancher/k3s/server"
    tls, cred = f"{server}/tls", f"{server}/cred"
    files = [FileSpec(d, kind="dir", mode=0o700) for d in (
        server, cred, tls, f"{tls}/etcd", f"{tls}/temporary-certs", f"{server}/db", f"{server}/db/etcd",
        f"{server}/db/etcd/member", f"{server}/db/etcd/member/snap", f"{server}/db/etcd/member/wal", f"{server}/etc")]
    for who in ("admin", "supervisor", "controller", "scheduler", "api-server", "cloud-controller"):
        cert = {"api-server": "client-kube-apiserver", "cloud-controller": "client-k3s-cloud-controller"}.get(who, f"client-{who}")
        files.append(FileSpec(f"{cred}/{who}.kubeconfig",
                              _rancher_kubeconfig("https://127.0.0.1:6444", f"{tls}/server-ca.crt", tls)(cert), 0o600))
    files += [FileSpec(f"{cred}/{f}", hashlib.sha256(f"{name}/{f}".encode()).hexdigest() + "\n", 0o600)
              for f in ("passwd", "ipsec.psk", "node-passwd")]
    for pair in ("client-ca", "server-ca", "request-header-ca", "client-admin", "client-supervisor", "client-controller",
                 "client-scheduler", "client-kube-apiserver", "client-kube-proxy", "client-k3s-controller",
                 "client-k3s-cloud-controller", "client-auth-proxy", "serving-kube-apiserver", "etcd/server-ca",
                 "etcd/peer-ca", "etcd/server-client", "etcd/peer-server-client", "etcd/client",
                 "temporary-certs/apiserver-loopback-client__"):
        files.append(FileSpec(f"{tls}/{pair}.crt", _pem("CERTIFICATE", f"{name}/{pair}", 420), 0o644))
        files.append(FileSpec(f"{tls}/{pair}.key", _pem("EC PRIVATE KEY", f"{name}/{pair}", 121), 0o600))
    files += [
        FileSpec(f"{tls}/client-ca.nochain.crt", _pem("CERTIFICATE", f"{name}/client-ca", 420), 0o644),
        FileSpec(f"{tls}/server-ca.nochain.crt", _pem("CERTIFICATE", f"{name}/server-ca", 420), 0o644),
        FileSpec(f"{tls}/service.key", _pem("RSA PRIVATE KEY", f"{name}/service", 1190), 0o600),
        FileSpec(f"{tls}/service.current.key", _pem("RSA PRIVATE KEY", f"{name}/service", 1190), 0o600),
        FileSpec(f"{server}/token", f"K10{hashlib.sha256(name.encode()).hexdigest()}::server:fake\n", 0o600),
        FileSpec(f"{server}/node-token", kind="symlink", target=f"{server}/token"),
        FileSpec(f"{server}/etc/egress-selector-config.yaml", "apiVersion: apiserver.k8s.io/v1beta1\n"
                 "kind: EgressSelectorConfiguration\negressSelections:\n- name: cluster\n  connection:\n"
                 "    proxyProtocol: HTTPConnect\n    transport:\n      uds:\n        udsName: /run/k3s/egress.sock\n", 0o600),
        FileSpec(f"{server}/db/etcd/config", _etcd_config("k3s", name, address), 0o600),
        FileSpec(f"{server}/db/etcd/name", f"{name}-{hashlib.md5(name.encode()).hexdigest()[:8]}", 0o600),
        FileSpec(f"{server}/db/etcd/member/snap/db", _fake_bytes(f"{name}/etcd-db", 4096), 0o600),
        FileSpec(f"{server}/db/etcd/member/wal/0000000000000000-0000000000000000.wal",
                 _fake_bytes(f"{name}/etcd-wal", 4096), 0o600),
        FileSpec("/etc/rancher/k3s/k3s.yaml", _rancher_kubeconfig("https://127.0.0.1:6443", None, tls)("client-admin"), 0o600),
    ]
    return files


def _rancher_kubeconfig(server: str, ca: str | None, certs: str) -> Callable[[str], str]:
    """k3s/RKE2's kubeconfig template: credentials as file paths (client-<who>.crt/.key in ``certs``)."""
    def render(who: str) -> str:
        cluster = {"server": server, **({"certificate-authority": ca} if ca else
                                        {"certificate-authority-data": _b64_pem("CERTIFICATE", "ca", 420)})}
        return yaml.safe_dump({
            "apiVersion": "v1", "clusters": [{"cluster": cluster, "name": "local"}],
            "contexts": [{"context": {"cluster": "local", "namespace": "default", "user": "user"}, "name": "Default"}],
            "current-context": "Default", "kind": "Config", "preferences": {},
            "users": [{"name": "user", "user": {"client-certificate": f"{certs}/{who}.crt", "client-key": f"{certs}/{who}.key"}}],
        }, sort_keys=False)
    return render


def _etcd_config(dist: str, name: str, address: str) -> str:
    """The etcd config file k3s and RKE2 write at every start (etcd's own YAML keys)."""
    tls = f"/var/lib/rancher/{dist}/server/tls/etcd"
    member = f"{name}-{hashlib.md5(name.encode()).hexdigest()[:8]}"
    return yaml.safe_dump({
        "advertise-client-urls": f"https://{address}:2379",
        "client-transport-security": {"cert-file": f"{tls}/server-client.crt", "client-cert-auth": True,
                                      "key-file": f"{tls}/server-client.key", "trusted-ca-file": f"{tls}/server-ca.crt"},
        "data-dir": f"/var/lib/rancher/{dist}/server/db/etcd",
        "election-timeout": 5000, "experimental-initial-corrupt-check": True,
        "experimental-watch-progress-notify-interval": 5000000000, "heartbeat-interval": 500,
        "initial-advertise-peer-urls": f"https://{address}:2380", "initial-cluster": f"{member}=https://{address}:2380",
        "initial-cluster-state": "new", "listen-client-http-urls": "https://127.0.0.1:2382",
        "listen-client-urls": f"https://127.0.0.1:2379,https://{address}:2379",
        "listen-metrics-urls": "http://127.0.0.1:2381", "listen-peer-urls": f"https://127.0.0.1:2380,https://{address}:2380",
        "log-outputs": ["stderr"], "logger": "zap", "name": member,
        "peer-transport-security": {"cert-file": f"{tls}/peer-server-client.crt", "client-cert-auth": True,
                                    "key-file": f"{tls}/peer-server-client.key", "trusted-ca-file": f"{tls}/peer-ca.crt"},
        "snapshot-count": 10000,
    }, sort_keys=True)


# ---- RKE2 ---------------------------------------------------------------------------------


def rke2_server(name: str, *, address: str) -> NodeSpec:
    """``curl -sfL https://get.rke2.io | sh - && systemctl enable --now rke2-server``, defaults
    (secrets encryption, audit log, pod security config: RKE2 turns them on by itself)."""
    server, agent = "/var/lib/rancher/rke2/server", "/var/lib/rancher/rke2/agent"
    tls, cred, manifests = f"{server}/tls", f"{server}/cred", f"{agent}/pod-manifests"
    signing = {f"cluster-signing-{what}-{part}-file": f"{tls}/{ca}.{'nochain.crt' if part == 'cert' else 'key'}"
               for what, ca in (("kube-apiserver-client", "client-ca"), ("kubelet-client", "client-ca"),
                                ("kubelet-serving", "server-ca"), ("legacy-unknown", "server-ca"))
               for part in ("cert", "key")}
    pods = {
        "etcd": {"config-file": f"{server}/db/etcd/config"},
        "kube-apiserver": {
            "admission-control-config-file": "/etc/rancher/rke2/rke2-pss.yaml", "advertise-address": address,
            "allow-privileged": "true", "anonymous-auth": "false",
            "api-audiences": "https://kubernetes.default.svc.cluster.local,rke2", "audit-log-maxage": "30",
            "audit-log-maxbackup": "10", "audit-log-maxsize": "100", "audit-log-path": f"{server}/logs/audit.log",
            "audit-policy-file": "/etc/rancher/rke2/audit-policy.yaml", "authorization-mode": "Node,RBAC",
            "bind-address": "0.0.0.0", "cert-dir": f"{tls}/temporary-certs", "client-ca-file": f"{tls}/client-ca.crt",
            "egress-selector-config-file": f"{server}/etc/egress-selector-config.yaml",
            "enable-admission-plugins": "NodeRestriction", "enable-aggregator-routing": "true",
            "enable-bootstrap-token-auth": "true", "encryption-provider-config": f"{cred}/encryption-config.json",
            "encryption-provider-config-automatic-reload": "true", "etcd-cafile": f"{tls}/etcd/server-ca.crt",
            "etcd-certfile": f"{tls}/etcd/client.crt", "etcd-keyfile": f"{tls}/etcd/client.key",
            "etcd-servers": "https://127.0.0.1:2379", "kubelet-certificate-authority": f"{tls}/server-ca.crt",
            "kubelet-client-certificate": f"{tls}/client-kube-apiserver.crt",
            "kubelet-client-key": f"{tls}/client-kube-apiserver.key", "profiling": "false",
            "proxy-client-cert-file": f"{tls}/client-auth-proxy.crt", "proxy-client-key-file": f"{tls}/client-auth-proxy.key",
            "requestheader-allowed-names": "system:auth-proxy", "requestheader-client-ca-file": f"{tls}/request-header-ca.crt",
            "requestheader-extra-headers-prefix": "X-Remote-Extra-", "requestheader-group-headers": "X-Remote-Group",
            "requestheader-username-headers": "X-Remote-User", "secure-port": "6443",
            "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
            "service-account-key-file": f"{tls}/service.key", "service-account-signing-key-file": f"{tls}/service.current.key",
            "service-cluster-ip-range": "10.43.0.0/16", "service-node-port-range": "30000-32767",  # argv/config text only, never contacted
            "storage-backend": "etcd3", "tls-cert-file": f"{tls}/serving-kube-apiserver.crt",
            "tls-cipher-suites": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,"
                                 "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,"
                                 "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "tls-private-key-file": f"{tls}/serving-kube-apiserver.key",
        },
        "kube-controller-manager": {
            "allocate-node-cidrs": "true", "authentication-kubeconfig": f"{cred}/controller.kubeconfig",
            "authorization-kubeconfig": f"{cred}/controller.kubeconfig", "bind-address": "127.0.0.1",
            "cluster-cidr": "10.42.0.0/16", **signing, "configure-cloud-routes": "false",  # argv/config text only, never contacted
            "controllers": "*,tokencleaner,-service,-route,-cloud-node-lifecycle",
            "flex-volume-plugin-dir": "/var/lib/kubelet/volumeplugins", "kubeconfig": f"{cred}/controller.kubeconfig",
            "permit-port-sharing": "true", "profiling": "false", "root-ca-file": f"{tls}/server-ca.crt",
            "secure-port": "10257", "service-account-private-key-file": f"{tls}/service.current.key",
            "service-cluster-ip-range": "10.43.0.0/16", "terminated-pod-gc-threshold": "1000",  # argv/config text only, never contacted
            "use-service-account-credentials": "true",
        },
        "kube-scheduler": {
            "authentication-kubeconfig": f"{cred}/scheduler.kubeconfig",
            "authorization-kubeconfig": f"{cred}/scheduler.kubeconfig", "bind-address": "127.0.0.1",
            "kubeconfig": f"{cred}/scheduler.kubeconfig", "permit-port-sharing": "true", "profiling": "false",
            "secure-port": "10259",
        },
    }
    files = _rke2_common(name, "server", "write-kubeconfig-mode: \"0600\"\n", kubelet_config=None)
    files += [FileSpec(d, kind="dir", mode=0o700) for d in (
        server, cred, tls, f"{tls}/etcd", f"{tls}/temporary-certs", f"{server}/db", f"{server}/db/etcd",
        f"{server}/db/etcd/member", f"{server}/logs", f"{server}/etc")]
    for who in ("admin", "supervisor", "controller", "scheduler", "api-server", "rke2-controller"):
        cert = {"api-server": "client-kube-apiserver"}.get(who, f"client-{who}")
        files.append(FileSpec(f"{cred}/{who}.kubeconfig",
                              _rancher_kubeconfig("https://127.0.0.1:6443", f"{tls}/server-ca.crt", tls)(cert), 0o600))
    for pair in ("client-ca", "server-ca", "request-header-ca", "client-admin", "client-supervisor", "client-controller",
                 "client-scheduler", "client-kube-apiserver", "client-kube-proxy", "client-rke2-controller",
                 "client-auth-proxy", "serving-kube-apiserver", "etcd/server-ca", "etcd/peer-ca", "etcd/server-client",
                 "etcd/peer-server-client", "etcd/client"):
        files.append(FileSpec(f"{tls}/{pair}.crt", _pem("CERTIFICATE", f"{name}/{pair}", 420), 0o644))
        files.append(FileSpec(f"{tls}/{pair}.key", _pem("EC PRIVATE KEY", f"{name}/{pair}", 121), 0o600))
    secret = _fake_bytes(f"{name}/aescbc", 32).hex()
    files += [
        FileSpec(f"{tls}/service.key", _pem("RSA PRIVATE KEY", f"{name}/service", 1190), 0o600),
        FileSpec(f"{tls}/service.current.key", _pem("RSA PRIVATE KEY", f"{name}/service", 1190), 0o600),
        FileSpec(f"{cred}/encryption-config.json", json.dumps({
            "kind": "EncryptionConfiguration", "apiVersion": "apiserver.config.k8s.io/v1",
            "resources": [{"resources": ["secrets"], "providers": [
                {"aescbc": {"keys": [{"name": "aescbckey", "secret": secret}]}}, {"identity": {}}]}]}), 0o600),
        FileSpec(f"{server}/db/etcd/config", _etcd_config("rke2", name, address), 0o600),
        FileSpec(f"{server}/logs/audit.log", "", 0o600),
        FileSpec("/etc/rancher/rke2/rke2.yaml",
                 _rancher_kubeconfig("https://127.0.0.1:6443", None, tls)("client-admin"), 0o600),
        FileSpec("/etc/rancher/rke2/audit-policy.yaml", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n", 0o600),
        FileSpec("/etc/rancher/rke2/rke2-pss.yaml", "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n"
                 "plugins:\n- name: PodSecurity\n  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1beta1\n"
                 "    kind: PodSecurityConfiguration\n    defaults:\n      enforce: privileged\n", 0o600),
    ]
    procs = [_rke2_proc("server"), _rke2_kubelet(name, address)]
    for component, args in pods.items():
        argv = [component, *(f"--{k}={v}" for k, v in sorted(args.items()))]
        files.append(FileSpec(f"{manifests}/{component}.yaml", _rke2_static_pod(component, argv), 0o600))
        procs.append(ProcSpec(f"/usr/local/bin/{component}", argv, {"PATH": PATH_ENV, "HOSTNAME": name}))
    procs.append(_rke2_kube_proxy(name, files))
    return NodeSpec(name, files, procs, "control-plane")


def rke2_agent(name: str, *, address: str, server: str) -> NodeSpec:
    """An ``rke2-agent`` joined to ``server``.

    Drift: the operator gave the kubelet a config file of their own (kubelet-arg
    config=/etc/rancher/rke2/kubelet.conf); RKE2 copies it to the drop-in 10-cli-config.conf,
    where ``authentication.anonymous.enabled: true`` overrides RKE2's default (CIS 4.2.1).
    """
    user_config = ("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                   "authentication:\n  anonymous:\n    enabled: true\nmaxPods: 150\n")
    config = (f"server: https://{server}:9345\ntoken: K10{hashlib.sha256(server.encode()).hexdigest()[:40]}::server:fake\n"
              "kubelet-arg:\n  - \"config=/etc/rancher/rke2/kubelet.conf\"\n")
    files = _rke2_common(name, "agent", config, kubelet_config=user_config)
    files.append(FileSpec("/etc/rancher/rke2/kubelet.conf", user_config, 0o600))
    procs = [_rke2_proc("agent"), _rke2_kubelet(name, address), _rke2_kube_proxy(name, files)]
    return NodeSpec(name, files, procs, "workers")


def _rke2_proc(command: str) -> ProcSpec:
    return ProcSpec("/usr/local/bin/rke2", ["/usr/local/bin/rke2", command], {"PATH": PATH_ENV},
                    version=f"rke2 version {RKE2_VERSION} (b8c14fb3b7bd5c6fb9bee11b1f42e0d0b9fd2ac3)\n"
                            "go version go1.23.6 X:boringcrypto")


def _rke2_kubelet(name: str, address: str) -> ProcSpec:
    """The kubelet as rke2 starts it: a few flags, the rest in its --config-dir drop-ins."""
    agent = "/var/lib/rancher/rke2/agent"
    argv = ["kubelet", "--volume-plugin-dir=/var/lib/kubelet/volumeplugins", "--file-check-frequency=5s",
            "--sync-frequency=30s", "--cloud-provider=external", f"--config-dir={agent}/etc/kubelet.conf.d",
            "--containerd=/run/k3s/containerd/containerd.sock", f"--hostname-override={name}",
            f"--kubeconfig={agent}/kubelet.kubeconfig", f"--node-ip={address}", "--node-labels="]
    return ProcSpec(f"{RKE2_DATA}/bin/kubelet", argv, {"PATH": f"{RKE2_DATA}/bin:{PATH_ENV}"},
                    version=f"Kubernetes {RKE2_VERSION}")


def _rke2_kube_proxy(name: str, files: list[FileSpec]) -> ProcSpec:
    """kube-proxy, a static pod on every RKE2 node (its manifest is added to ``files``)."""
    agent = "/var/lib/rancher/rke2/agent"
    argv = ["kube-proxy", "--cluster-cidr=10.42.0.0/16", "--conntrack-max-per-core=0",  # argv/config text only, never contacted
            "--conntrack-tcp-timeout-close-wait=0s", "--conntrack-tcp-timeout-established=0s",
            "--healthz-bind-address=127.0.0.1", f"--hostname-override={name}",
            f"--kubeconfig={agent}/kubeproxy.kubeconfig", "--proxy-mode=iptables"]
    files.append(FileSpec(f"{agent}/pod-manifests/kube-proxy.yaml", _rke2_static_pod("kube-proxy", argv), 0o600))
    return ProcSpec("/usr/local/bin/kube-proxy", argv, {"PATH": PATH_ENV, "HOSTNAME": name})


def _rke2_static_pod(component: str, argv: list[str]) -> str:
    """An RKE2 static pod: the binary in ``command``, its flags in ``args`` (hardened images)."""
    image = ("index.docker.io/rancher/hardened-etcd:v3.5.19-k3s1-build20250306" if component == "etcd"
             else f"index.docker.io/rancher/hardened-kubernetes:{RKE2_VERSION.replace('+', '-')}-build20250312")
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"labels": {"component": component, "tier": "control-plane"}, "name": component,
                        "namespace": "kube-system"},
           "spec": {"containers": [{"name": component, "image": image, "command": argv[:1], "args": argv[1:],
                                    "securityContext": {"privileged": component == "kube-proxy"}}],
                    "hostNetwork": True, "priorityClassName": "system-node-critical"}}
    text = yaml.safe_dump(pod, sort_keys=False, width=1000)
    return "".join(f"{line}{_CIDR}\n" if "10.4" in line else f"{line}\n" for line in text.splitlines())


def _rke2_common(name: str, command: str, config: str, *, kubelet_config: str | None) -> list[FileSpec]:
    """What the installer and RKE2 leave on every node: unit, config, agent credentials, the kubelet drop-ins."""
    agent = "/var/lib/rancher/rke2/agent"
    dropins = f"{agent}/etc/kubelet.conf.d"
    kubeconfig = _rancher_kubeconfig("https://127.0.0.1:6443", f"{agent}/server-ca.crt", agent)
    unit = f"rke2-{command}"
    files = [
        FileSpec("/etc/rancher", kind="dir", mode=0o755),
        FileSpec("/etc/rancher/rke2", kind="dir", mode=0o755),
        FileSpec("/etc/rancher/rke2/config.yaml", config, 0o600),
        FileSpec("/etc/rancher/node", kind="dir", mode=0o700),
        FileSpec("/etc/rancher/node/password", hashlib.sha256(f"node@{name}".encode()).hexdigest()[:32] + "\n", 0o600),
        FileSpec(f"/usr/local/lib/systemd/system/{unit}.service",
                 f"[Unit]\nDescription=Rancher Kubernetes Engine v2 ({command})\nWants=network-online.target\n"
                 "After=network-online.target\n\n[Service]\nType=notify\n"
                 f"EnvironmentFile=-/usr/local/lib/systemd/system/{unit}.env\nKillMode=process\nDelegate=yes\n"
                 f"LimitNOFILE=1048576\nRestart=always\nRestartSec=5s\nExecStart=/usr/local/bin/rke2 {command}\n\n"
                 "[Install]\nWantedBy=multi-user.target\n", 0o644),
        FileSpec(f"/usr/local/lib/systemd/system/{unit}.env", "HOME=/root\n", 0o644),
        FileSpec("/var/lib/rancher", kind="dir", mode=0o755),
        FileSpec("/var/lib/rancher/rke2", kind="dir", mode=0o755),
        FileSpec(agent, kind="dir", mode=0o755),
        FileSpec(f"{agent}/pod-manifests", kind="dir", mode=0o755),
        FileSpec(f"{agent}/etc", kind="dir", mode=0o755),
        FileSpec(dropins, kind="dir", mode=0o755),
        FileSpec(f"{dropins}/00-rke2-defaults.conf", _rke2_kubelet_defaults(), 0o600),
        FileSpec(f"{agent}/kubelet.kubeconfig", kubeconfig("client-kubelet"), 0o600),
        FileSpec(f"{agent}/kubeproxy.kubeconfig", kubeconfig("client-kube-proxy"), 0o600),
        FileSpec(f"{agent}/rke2controller.kubeconfig", kubeconfig("client-rke2-controller"), 0o600),
        FileSpec(RKE2_DATA.rsplit("/", 1)[0], kind="dir", mode=0o755),
        FileSpec(RKE2_DATA, kind="dir", mode=0o755),
    ]
    if kubelet_config is not None:
        files.append(FileSpec(f"{dropins}/10-cli-config.conf", kubelet_config, 0o600))
    for cert in ("client-ca", "server-ca", "serving-kubelet", "client-kubelet", "client-kube-proxy", "client-rke2-controller"):
        files.append(FileSpec(f"{agent}/{cert}.crt", _pem("CERTIFICATE", f"{name}/{cert}", 420), 0o600))
    for key in ("serving-kubelet", "client-kubelet", "client-kube-proxy", "client-rke2-controller"):
        files.append(FileSpec(f"{agent}/{key}.key", _pem("EC PRIVATE KEY", f"{name}/{key}", 121), 0o600))
    return files


def _rke2_kubelet_defaults() -> str:
    """00-rke2-defaults.conf: the KubeletConfiguration RKE2 (v1.32+) writes at every start."""
    agent = "/var/lib/rancher/rke2/agent"
    return yaml.safe_dump({
        "address": "0.0.0.0", "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"cacheTTL": "2m0s", "enabled": True},
                           "x509": {"clientCAFile": f"{agent}/client-ca.crt"}},
        "authorization": {"mode": "Webhook", "webhook": {"cacheAuthorizedTTL": "5m0s", "cacheUnauthorizedTTL": "30s"}},
        "cgroupDriver": "systemd", "clusterDNS": ["10.43.0.10"], "clusterDomain": "cluster.local",  # argv/config text only, never contacted
        "containerRuntimeEndpoint": "unix:///run/k3s/containerd/containerd.sock",
        "evictionHard": {"imagefs.available": "5%", "nodefs.available": "5%"},
        "evictionMinimumReclaim": {"imagefs.available": "10%", "nodefs.available": "10%"},
        "failSwapOn": False, "healthzBindAddress": "127.0.0.1", "kind": "KubeletConfiguration",
        "readOnlyPort": 0, "resolvConf": "/etc/resolv.conf", "serializeImagePulls": False,
        "staticPodPath": f"{agent}/pod-manifests", "streamingConnectionIdleTimeout": "4h0m0s",
        "tlsCertFile": f"{agent}/serving-kubelet.crt", "tlsPrivateKeyFile": f"{agent}/serving-kubelet.key",
    }, sort_keys=True)


# ---- a fleet of every distribution -----------------------------------------------------------


def distro_specs(first_octets: str = "127.82.0.", first_host: int = 10) -> list[NodeSpec]:
    """k3s server + agent, RKE2 server + agent, and kubeadm workers on two minors (1.30, 1.27).

    Addresses follow the lab's numbering (node i gets ``first_octets + str(first_host + i)``),
    so the k3s and RKE2 nodes' argv and files name their own address and their server's.
    """
    at = [f"{first_octets}{first_host + i}" for i in range(6)]
    return [
        k3s_server("k3s-1", address=at[0]),
        k3s_agent("k3s-agent-1", address=at[1], server=at[0]),
        rke2_server("rke2-1", address=at[2]),
        rke2_agent("rke2-agent-1", address=at[3], server=at[2]),
        kubeadm_worker("kubeadm-1"),
        older_worker("kubeadm-old"),
    ]
