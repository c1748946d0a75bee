"""kubeadm v1.30 node scenarios: what a CIS scanner sees on real kubeadm hosts.

Each builder returns a :class:`~tests.lab.specs.NodeSpec` reproducing what
``kubeadm init`` / ``kubeadm join`` (v1.30, containerd, Debian packages from
pkgs.k8s.io) leave on a host: static pod manifests whose ``command:`` lists
are exactly the argv of the running control-plane processes, kubeconfigs,
the PKI tree, the kubelet's config.yaml, its systemd unit and drop-in, and
the processes themselves with the argv and environment kubeadm, systemd and
the kubelet would give them.  Modes and owners are kubeadm's defaults.

Certificates, keys and kubeconfig credentials are fake (PEM-shaped,
deterministic bytes): good enough for permission and content checks, not
for TLS.  Files that exist only inside containers on a real node (e.g.
kube-proxy's /var/lib/kube-proxy/config.conf) or that kubeadm deletes after
the TLS bootstrap (/etc/kubernetes/bootstrap-kubelet.conf) are absent here
too, even though argv mentions them.

Every address a node's argv or files mention is loopback text, except the
cluster CIDRs, which are text only and never contacted.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import yaml

from tests.lab import kubeapi
from tests.lab.specs import FileSpec, NodeSpec, ProcSpec

K8S_VERSION = "v1.30.2"
ETCD_IMAGE = "registry.k8s.io/etcd:3.5.12-0"
PAUSE_IMAGE = "registry.k8s.io/pause:3.9"
CONTROL_PLANE_ADDRESS = "127.77.0.10"
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PKI = "/etc/kubernetes/pki"
KUBELET_CLIENT_PEM = "/var/lib/kubelet/pki/kubelet-client-2025-06-02-09-14-27.pem"

# Text-only address ranges get a comment on their line (see _mark_private).
_PRIVATE_V4 = re.compile(r"\b(?:10|192\.168|172\.(?:1[6-9]|2\d|3[01]))(?:\.\d{1,3}){2,3}\b")

# kubeadm's systemd drop-in splits the kubelet's flags into these variables;
# the kubelet's argv is their concatenation (see _kubelet).
KUBELET_KUBECONFIG_ARGS = (
    "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf"
    " --kubeconfig=/etc/kubernetes/kubelet.conf"
)
KUBELET_CONFIG_ARGS = "--config=/var/lib/kubelet/config.yaml"
KUBELET_KUBEADM_ARGS = (
    "--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock"
    f" --pod-infra-container-image={PAUSE_IMAGE}"
)

KUBEADM_DROPIN = f"""\
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS={KUBELET_KUBECONFIG_ARGS}"
Environment="KUBELET_CONFIG_ARGS={KUBELET_CONFIG_ARGS}"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""

KUBELET_SERVICE = """\
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""


def kubeadm_control_plane(name: str, *, address: str = CONTROL_PLANE_ADDRESS, api_url: str | None = None) -> NodeSpec:
    """A ``kubeadm init`` control-plane node with stacked etcd, all defaults.

    ``address`` is the advertise address written into argv, manifests and
    kubeconfigs; it should be the address the lab gives this node. ``api_url``:
    the lab's read-only API (``kubeapi.KubeAPI``) that admin.conf points at, so the
    node's real kubectl answers the scanner's cluster query; None keeps kubeadm's
    https://<address>:6443, where nothing listens (the query then fails).
    """
    server = f"https://{address}:6443"
    files = _kubelet_files(name, server, control_plane=True)
    admin = kubeapi.kubeconfig(api_url, "kubernetes") if api_url else _kubeconfig(server, "kubernetes-admin")
    files += [
        FileSpec("/etc/kubernetes/admin.conf", admin, 0o600),
        FileSpec("/etc/kubernetes/super-admin.conf", _kubeconfig(server, "kubernetes-super-admin"), 0o600),
        FileSpec(
            "/etc/kubernetes/controller-manager.conf",
            _kubeconfig(server, "system:kube-controller-manager"),
            0o600,
        ),
        FileSpec("/etc/kubernetes/scheduler.conf", _kubeconfig(server, "system:kube-scheduler"), 0o600),
        FileSpec(f"{PKI}/etcd", kind="dir", mode=0o755),
    ]
    for pair in (
        "ca", "apiserver", "apiserver-kubelet-client", "front-proxy-ca", "front-proxy-client",
        "apiserver-etcd-client", "etcd/ca", "etcd/server", "etcd/peer", "etcd/healthcheck-client",
    ):
        if pair != "ca":  # ca.crt comes with the kubelet files
            files.append(FileSpec(f"{PKI}/{pair}.crt", _pem("CERTIFICATE", pair, 1090), 0o644))
        files.append(FileSpec(f"{PKI}/{pair}.key", _pem("RSA PRIVATE KEY", pair, 1190), 0o600))
    files += [
        FileSpec(f"{PKI}/sa.key", _pem("RSA PRIVATE KEY", "sa", 1190), 0o600),
        FileSpec(f"{PKI}/sa.pub", _pem("PUBLIC KEY", "sa", 294), 0o644),
        FileSpec("/var/lib/etcd", kind="dir", mode=0o700),
        FileSpec("/var/lib/etcd/member", kind="dir", mode=0o700),
        FileSpec("/var/lib/etcd/member/snap", kind="dir", mode=0o700),
        FileSpec("/var/lib/etcd/member/snap/db", _fake_bytes("etcd-db", 4096), 0o600),
        FileSpec("/var/lib/etcd/member/wal", kind="dir", mode=0o700),
        FileSpec(
            "/var/lib/etcd/member/wal/0000000000000000-0000000000000000.wal",
            _fake_bytes("etcd-wal", 4096),
            0o600,
        ),
    ]

    pod_env = {"PATH": PATH_ENV, "HOSTNAME": name}
    static_pods = [
        ("kube-apiserver", _apiserver_argv(address), _apiserver_manifest),
        ("kube-controller-manager", _controller_manager_argv(), _controller_manager_manifest),
        ("kube-scheduler", _scheduler_argv(), _scheduler_manifest),
        ("etcd", _etcd_argv(name, address), _etcd_manifest),
    ]
    procs = []
    for component, argv, manifest in static_pods:
        files.append(
            FileSpec(f"/etc/kubernetes/manifests/{component}.yaml", manifest(argv, address), 0o600)
        )
        procs.append(ProcSpec(f"/usr/local/bin/{component}", argv, dict(pod_env)))
    procs += [_kubelet(name, extra_args=""), _kube_proxy(name)]
    return NodeSpec(name, files, procs, "control-plane")


def kubeadm_worker(name: str, *, api_server: str = CONTROL_PLANE_ADDRESS) -> NodeSpec:
    """A ``kubeadm join`` worker node with every default left alone."""
    files = _kubelet_files(name, f"https://{api_server}:6443", control_plane=False)
    return NodeSpec(name, files, [_kubelet(name, extra_args=""), _kube_proxy(name)], "workers")


def drifted_worker(name: str, *, api_server: str = CONTROL_PLANE_ADDRESS) -> NodeSpec:
    """A worker someone "fixed by hand": the drift a CIS scan must catch.

    - /etc/default/kubelet adds ``--read-only-port=10255 --anonymous-auth=true``
      to the kubelet's argv, overriding config.yaml (which says
      ``readOnlyPort: 0`` explicitly and keeps anonymous auth off);
    - /etc/kubernetes/kubelet.conf is world-writable (0666);
    - /var/lib/kubelet/config.yaml is 0600, stricter than kubeadm's 0644 (fine).
    """
    extra_args = "--read-only-port=10255 --anonymous-auth=true"
    files = _kubelet_files(
        name,
        f"https://{api_server}:6443",
        control_plane=False,
        extra_args=extra_args,
        explicit_read_only_port=True,
    )
    for spec in files:
        if spec.path == "/etc/kubernetes/kubelet.conf":
            spec.mode = 0o666
        elif spec.path == "/var/lib/kubelet/config.yaml":
            spec.mode = 0o600
    return NodeSpec(name, files, [_kubelet(name, extra_args=extra_args), _kube_proxy(name)], "workers")


def default_specs(control_plane_address: str = CONTROL_PLANE_ADDRESS, api_url: str | None = None) -> list[NodeSpec]:
    """cp-1 (control plane + etcd), worker-1 (defaults), worker-2 (drifted).

    ``control_plane_address`` is cp-1's address, as written into argv and
    kubeconfigs (the lab passes the address it gives cp-1); ``api_url``: the lab
    API cp-1's admin.conf points at (see :func:`kubeadm_control_plane`).
    """
    return [
        kubeadm_control_plane("cp-1", address=control_plane_address, api_url=api_url),
        kubeadm_worker("worker-1", api_server=control_plane_address),
        drifted_worker("worker-2", api_server=control_plane_address),
    ]


# ---- processes ---------------------------------------------------------------


def _kubelet(name: str, *, extra_args: str) -> ProcSpec:
    """The kubelet as systemd starts it through kubeadm's drop-in."""
    argv = ["/usr/bin/kubelet"]
    for chunk in (KUBELET_KUBECONFIG_ARGS, KUBELET_CONFIG_ARGS, KUBELET_KUBEADM_ARGS, extra_args):
        argv += chunk.split()
    env = {
        "LANG": "C.UTF-8",
        "PATH": PATH_ENV,
        "INVOCATION_ID": hashlib.md5(f"kubelet@{name}".encode()).hexdigest(),
        "JOURNAL_STREAM": "8:21417",
        "KUBELET_KUBECONFIG_ARGS": KUBELET_KUBECONFIG_ARGS,
        "KUBELET_CONFIG_ARGS": KUBELET_CONFIG_ARGS,
        "KUBELET_KUBEADM_ARGS": KUBELET_KUBEADM_ARGS,
        "KUBELET_EXTRA_ARGS": extra_args,
    }
    return ProcSpec("/usr/bin/kubelet", argv, env, version=f"Kubernetes {K8S_VERSION}")


def _kube_proxy(name: str) -> ProcSpec:
    """kube-proxy as kubeadm's DaemonSet runs it (its config lives in the container)."""
    return ProcSpec(
        "/usr/local/bin/kube-proxy",
        ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", f"--hostname-override={name}"],
        {"PATH": PATH_ENV, "HOSTNAME": name, "NODE_NAME": name},
    )


def _apiserver_argv(address: str) -> list[str]:
    return [
        "kube-apiserver",
        f"--advertise-address={address}",
        "--allow-privileged=true",
        "--authorization-mode=Node,RBAC",
        f"--client-ca-file={PKI}/ca.crt",
        "--enable-admission-plugins=NodeRestriction",
        "--enable-bootstrap-token-auth=true",
        f"--etcd-cafile={PKI}/etcd/ca.crt",
        f"--etcd-certfile={PKI}/apiserver-etcd-client.crt",
        f"--etcd-keyfile={PKI}/apiserver-etcd-client.key",
        "--etcd-servers=https://127.0.0.1:2379",
        f"--kubelet-client-certificate={PKI}/apiserver-kubelet-client.crt",
        f"--kubelet-client-key={PKI}/apiserver-kubelet-client.key",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        f"--proxy-client-cert-file={PKI}/front-proxy-client.crt",
        f"--proxy-client-key-file={PKI}/front-proxy-client.key",
        "--requestheader-allowed-names=front-proxy-client",
        f"--requestheader-client-ca-file={PKI}/front-proxy-ca.crt",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        "--secure-port=6443",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={PKI}/sa.pub",
        f"--service-account-signing-key-file={PKI}/sa.key",
        "--service-cluster-ip-range=10.96.0.0/12",  # argv: cidr text only, never contacted
        f"--tls-cert-file={PKI}/apiserver.crt",
        f"--tls-private-key-file={PKI}/apiserver.key",
    ]


def _controller_manager_argv() -> list[str]:
    conf = "/etc/kubernetes/controller-manager.conf"
    return [
        "kube-controller-manager",
        f"--authentication-kubeconfig={conf}",
        f"--authorization-kubeconfig={conf}",
        "--bind-address=127.0.0.1",
        f"--client-ca-file={PKI}/ca.crt",
        "--cluster-name=kubernetes",
        f"--cluster-signing-cert-file={PKI}/ca.crt",
        f"--cluster-signing-key-file={PKI}/ca.key",
        "--controllers=*,bootstrapsigner,tokencleaner",
        f"--kubeconfig={conf}",
        "--leader-elect=true",
        f"--requestheader-client-ca-file={PKI}/front-proxy-ca.crt",
        f"--root-ca-file={PKI}/ca.crt",
        f"--service-account-private-key-file={PKI}/sa.key",
        "--use-service-account-credentials=true",
    ]


def _scheduler_argv() -> list[str]:
    conf = "/etc/kubernetes/scheduler.conf"
    return [
        "kube-scheduler",
        f"--authentication-kubeconfig={conf}",
        f"--authorization-kubeconfig={conf}",
        "--bind-address=127.0.0.1",
        f"--kubeconfig={conf}",
        "--leader-elect=true",
    ]


def _etcd_argv(name: str, address: str) -> list[str]:
    return [
        "etcd",
        f"--advertise-client-urls=https://{address}:2379",
        f"--cert-file={PKI}/etcd/server.crt",
        "--client-cert-auth=true",
        "--data-dir=/var/lib/etcd",
        "--experimental-initial-corrupt-check=true",
        "--experimental-watch-progress-notify-interval=5s",
        f"--initial-advertise-peer-urls=https://{address}:2380",
        f"--initial-cluster={name}=https://{address}:2380",
        f"--key-file={PKI}/etcd/server.key",
        f"--listen-client-urls=https://127.0.0.1:2379,https://{address}:2379",
        "--listen-metrics-urls=http://127.0.0.1:2381",
        f"--listen-peer-urls=https://{address}:2380",
        f"--name={name}",
        f"--peer-cert-file={PKI}/etcd/peer.crt",
        "--peer-client-cert-auth=true",
        f"--peer-key-file={PKI}/etcd/peer.key",
        f"--peer-trusted-ca-file={PKI}/etcd/ca.crt",
        "--snapshot-count=10000",
        f"--trusted-ca-file={PKI}/etcd/ca.crt",
    ]


# ---- static pod manifests ----------------------------------------------------

_CA_VOLUMES = [
    ("ca-certs", "/etc/ssl/certs", "DirectoryOrCreate", True),
    ("etc-ca-certificates", "/etc/ca-certificates", "DirectoryOrCreate", True),
    ("k8s-certs", PKI, "DirectoryOrCreate", True),
    ("usr-local-share-ca-certificates", "/usr/local/share/ca-certificates", "DirectoryOrCreate", True),
    ("usr-share-ca-certificates", "/usr/share/ca-certificates", "DirectoryOrCreate", True),
]


def _apiserver_manifest(argv: list[str], address: str) -> str:
    return _static_pod(
        "kube-apiserver",
        f"registry.k8s.io/kube-apiserver:{K8S_VERSION}",
        argv,
        requests={"cpu": "250m"},
        probes={
            "livenessProbe": _probe(address, "/livez", 6443, "HTTPS", 8),
            "readinessProbe": _probe(address, "/readyz", 6443, "HTTPS", 3, initial_delay=0, period=1),
            "startupProbe": _probe(address, "/livez", 6443, "HTTPS", 24),
        },
        volumes=_CA_VOLUMES,
        annotations={"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": f"{address}:6443"},
    )


def _controller_manager_manifest(argv: list[str], address: str) -> str:
    return _static_pod(
        "kube-controller-manager",
        f"registry.k8s.io/kube-controller-manager:{K8S_VERSION}",
        argv,
        requests={"cpu": "200m"},
        probes={
            "livenessProbe": _probe("127.0.0.1", "/healthz", 10257, "HTTPS", 8),
            "startupProbe": _probe("127.0.0.1", "/healthz", 10257, "HTTPS", 24),
        },
        volumes=_CA_VOLUMES
        + [
            ("flexvolume-dir", "/usr/libexec/kubernetes/kubelet-plugins/volume/exec", "DirectoryOrCreate", False),
            ("kubeconfig", "/etc/kubernetes/controller-manager.conf", "FileOrCreate", True),
        ],
    )


def _scheduler_manifest(argv: list[str], address: str) -> str:
    return _static_pod(
        "kube-scheduler",
        f"registry.k8s.io/kube-scheduler:{K8S_VERSION}",
        argv,
        requests={"cpu": "100m"},
        probes={
            "livenessProbe": _probe("127.0.0.1", "/healthz", 10259, "HTTPS", 8),
            "startupProbe": _probe("127.0.0.1", "/healthz", 10259, "HTTPS", 24),
        },
        volumes=[("kubeconfig", "/etc/kubernetes/scheduler.conf", "FileOrCreate", True)],
    )


def _etcd_manifest(argv: list[str], address: str) -> str:
    return _static_pod(
        "etcd",
        ETCD_IMAGE,
        argv,
        requests={"cpu": "100m", "memory": "100Mi"},
        probes={
            "livenessProbe": _probe("127.0.0.1", "/health?exclude=NOSPACE&serializable=true", 2381, "HTTP", 8),
            "startupProbe": _probe("127.0.0.1", "/health?serializable=false", 2381, "HTTP", 24),
        },
        volumes=[
            ("etcd-certs", f"{PKI}/etcd", "DirectoryOrCreate", False),
            ("etcd-data", "/var/lib/etcd", "DirectoryOrCreate", False),
        ],
        annotations={"kubeadm.kubernetes.io/etcd.advertise-client-urls": f"https://{address}:2379"},
    )


def _probe(
    host: str, path: str, port: int, scheme: str, failures: int, *, initial_delay: int = 10, period: int = 10
) -> dict[str, Any]:
    probe: dict[str, Any] = {
        "failureThreshold": failures,
        "httpGet": {"host": host, "path": path, "port": port, "scheme": scheme},
        "periodSeconds": period,
        "timeoutSeconds": 15,
    }
    if initial_delay:
        probe["initialDelaySeconds"] = initial_delay
    return probe


def _static_pod(
    component: str,
    image: str,
    command: list[str],
    *,
    requests: dict[str, str],
    probes: dict[str, dict[str, Any]],
    volumes: list[tuple[str, str, str, bool]],
    annotations: dict[str, str] | None = None,
) -> str:
    """A static pod manifest laid out the way kubeadm marshals it (sorted keys)."""
    volumes = sorted(volumes)
    metadata: dict[str, Any] = {
        "creationTimestamp": None,
        "labels": {"component": component, "tier": "control-plane"},
        "name": component,
        "namespace": "kube-system",
    }
    if annotations:
        metadata["annotations"] = annotations
    container = {
        "command": command,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "name": component,
        "resources": {"requests": requests},
        "volumeMounts": [
            {"mountPath": path, "name": name, **({"readOnly": True} if read_only else {})}
            for name, path, _, read_only in volumes
        ],
        **probes,
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "containers": [container],
            "hostNetwork": True,
            "priority": 2000001000,
            "priorityClassName": "system-node-critical",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"hostPath": {"path": path, "type": kind}, "name": name} for name, path, kind, _ in volumes],
        },
        "status": {},
    }
    return _mark_private(yaml.safe_dump(pod, sort_keys=True, default_flow_style=False, width=1000))


def _mark_private(text: str) -> str:
    """Tag every line that mentions a private-range address as text only."""
    return "".join(
        f"{line.rstrip()}  # argv: cidr text only, never contacted\n"
        if _PRIVATE_V4.search(line) and "#" not in line
        else line
        for line in text.splitlines(keepends=True)
    )


# ---- kubelet, kubeconfigs and PKI --------------------------------------------


def _kubelet_files(
    name: str,
    server: str,
    *,
    control_plane: bool,
    extra_args: str = "",
    explicit_read_only_port: bool = False,
) -> list[FileSpec]:
    """What every kubeadm node has for its kubelet, with kubeadm's modes."""
    return [
        FileSpec("/etc/kubernetes", kind="dir", mode=0o755),
        FileSpec("/etc/kubernetes/manifests", kind="dir", mode=0o755),
        FileSpec(PKI, kind="dir", mode=0o755),
        FileSpec(f"{PKI}/ca.crt", _pem("CERTIFICATE", "ca", 1090), 0o644),
        FileSpec(
            "/etc/kubernetes/kubelet.conf",
            _kubelet_kubeconfig(name, server, control_plane=control_plane),
            0o600,
        ),
        FileSpec("/var/lib/kubelet", kind="dir", mode=0o700),
        FileSpec("/var/lib/kubelet/config.yaml", _kubelet_config(explicit_read_only_port), 0o644),
        FileSpec("/var/lib/kubelet/kubeadm-flags.env", f'KUBELET_KUBEADM_ARGS="{KUBELET_KUBEADM_ARGS}"\n', 0o644),
        FileSpec("/var/lib/kubelet/pki", kind="dir", mode=0o755),
        FileSpec(
            KUBELET_CLIENT_PEM,
            _pem("CERTIFICATE", f"kubelet-client@{name}", 1090) + _pem("EC PRIVATE KEY", f"kubelet-client@{name}", 121),
            0o600,
        ),
        FileSpec("/var/lib/kubelet/pki/kubelet-client-current.pem", kind="symlink", target=KUBELET_CLIENT_PEM),
        FileSpec("/var/lib/kubelet/pki/kubelet.crt", _pem("CERTIFICATE", f"kubelet@{name}", 1090), 0o644),
        FileSpec("/var/lib/kubelet/pki/kubelet.key", _pem("RSA PRIVATE KEY", f"kubelet@{name}", 1190), 0o600),
        FileSpec("/etc/default/kubelet", f"KUBELET_EXTRA_ARGS={extra_args}\n", 0o644),
        FileSpec("/etc/systemd/system/kubelet.service.d", kind="dir", mode=0o755),
        FileSpec("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", KUBEADM_DROPIN, 0o644),
        FileSpec("/usr/lib/systemd/system/kubelet.service", KUBELET_SERVICE, 0o644),
    ]


def _kubelet_config(explicit_read_only_port: bool) -> str:
    """/var/lib/kubelet/config.yaml exactly as kubeadm v1.30 writes it."""
    read_only_port = "readOnlyPort: 0\n" if explicit_read_only_port else ""
    return (
        "apiVersion: kubelet.config.k8s.io/v1beta1\n"
        "authentication:\n"
        "  anonymous:\n"
        "    enabled: false\n"
        "  webhook:\n"
        "    cacheTTL: 0s\n"
        "    enabled: true\n"
        "  x509:\n"
        f"    clientCAFile: {PKI}/ca.crt\n"
        "authorization:\n"
        "  mode: Webhook\n"
        "  webhook:\n"
        "    cacheAuthorizedTTL: 0s\n"
        "    cacheUnauthorizedTTL: 0s\n"
        "cgroupDriver: systemd\n"
        "clusterDNS:\n"
        "- 10.96.0.10  # cidr: kube-dns service address, text only, never contacted\n"
        "clusterDomain: cluster.local\n"
        'containerRuntimeEndpoint: ""\n'
        "cpuManagerReconcilePeriod: 0s\n"
        "evictionPressureTransitionPeriod: 0s\n"
        "fileCheckFrequency: 0s\n"
        "healthzBindAddress: 127.0.0.1\n"
        "healthzPort: 10248\n"
        "httpCheckFrequency: 0s\n"
        "imageMaximumGCAge: 0s\n"
        "imageMinimumGCAge: 0s\n"
        "kind: KubeletConfiguration\n"
        "logging:\n"
        "  flushFrequency: 0\n"
        "  options:\n"
        "    json:\n"
        '      infoBufferSize: "0"\n'
        "    text:\n"
        '      infoBufferSize: "0"\n'
        "  verbosity: 0\n"
        "memorySwap: {}\n"
        "nodeStatusReportFrequency: 0s\n"
        "nodeStatusUpdateFrequency: 0s\n"
        f"{read_only_port}"
        "resolvConf: /run/systemd/resolve/resolv.conf\n"
        "rotateCertificates: true\n"
        "runtimeRequestTimeout: 0s\n"
        "shutdownGracePeriod: 0s\n"
        "shutdownGracePeriodCriticalPods: 0s\n"
        "staticPodPath: /etc/kubernetes/manifests\n"
        "streamingConnectionIdleTimeout: 0s\n"
        "syncFrequency: 0s\n"
        "volumeStatsAggGracePeriod: 0s\n"
    )


def _kubeconfig(server: str, user: str) -> str:
    """A kubeadm-generated kubeconfig with embedded (fake) credentials."""
    context = f"{user}@kubernetes"
    config = {
        "apiVersion": "v1",
        "clusters": [
            {
                "cluster": {"certificate-authority-data": _b64_pem("CERTIFICATE", "ca", 1090), "server": server},
                "name": "kubernetes",
            }
        ],
        "contexts": [{"context": {"cluster": "kubernetes", "user": user}, "name": context}],
        "current-context": context,
        "kind": "Config",
        "preferences": {},
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64_pem("CERTIFICATE", user, 1090),
                    "client-key-data": _b64_pem("RSA PRIVATE KEY", user, 1190),
                },
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=True, default_flow_style=False, width=1_000_000)


def _kubelet_kubeconfig(name: str, server: str, *, control_plane: bool) -> str:
    """kubelet.conf after the TLS bootstrap: credentials point at rotated files.

    ``kubeadm init`` names things after the node (``system:node:<name>``),
    the kubelet's own bootstrap on ``kubeadm join`` uses ``default-*``.
    """
    if control_plane:
        user = f"system:node:{name}"
        cluster, context = "kubernetes", f"{user}@kubernetes"
    else:
        user, cluster, context = "default-auth", "default-cluster", "default-context"
    config = {
        "apiVersion": "v1",
        "clusters": [
            {
                "cluster": {"certificate-authority-data": _b64_pem("CERTIFICATE", "ca", 1090), "server": server},
                "name": cluster,
            }
        ],
        "contexts": [{"context": {"cluster": cluster, "namespace": "default", "user": user}, "name": context}],
        "current-context": context,
        "kind": "Config",
        "preferences": {},
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": "/var/lib/kubelet/pki/kubelet-client-current.pem",
                    "client-key": "/var/lib/kubelet/pki/kubelet-client-current.pem",
                },
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=True, default_flow_style=False, width=1_000_000)


def _fake_bytes(seed: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes, so every lab run writes the same files."""
    blocks = (hashlib.sha256(f"{seed}#{i}".encode()).digest() for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


def _pem(label: str, seed: str, der_size: int) -> str:
    """PEM-shaped text around fake DER bytes of a plausible size."""
    body = base64.b64encode(_fake_bytes(f"{label}/{seed}", der_size)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def _b64_pem(label: str, seed: str, der_size: int) -> str:
    return base64.b64encode(_pem(label, seed, der_size).encode()).decode()


# ---- a mixed fleet: versions, etcd under systemd, a hostile host --------------


def older_worker(name: str, *, api_server: str = CONTROL_PLANE_ADDRESS, version: str = "v1.27.9") -> NodeSpec:
    """A kubeadm worker not yet upgraded: its kubelet reports an older minor (cis-1.9 territory)."""
    spec = kubeadm_worker(name, api_server=api_server)
    spec.procs[0].version = f"Kubernetes {version}"
    return spec


ETCD_ENV_FILE = """# /etc/etcd/etcd.conf: read by etcd.service through EnvironmentFile=
ETCD_NAME=etcd-1
ETCD_DATA_DIR=/var/lib/etcd/default.etcd
ETCD_CERT_FILE=/etc/etcd/pki/server.crt
ETCD_KEY_FILE=/etc/etcd/pki/server.key
ETCD_CLIENT_CERT_AUTH=true
ETCD_TRUSTED_CA_FILE=/etc/etcd/pki/ca.crt
ETCD_PEER_CERT_FILE=/etc/etcd/pki/peer.crt
ETCD_PEER_KEY_FILE=/etc/etcd/pki/peer.key
ETCD_PEER_CLIENT_CERT_AUTH=false
"""


def systemd_etcd(name: str) -> NodeSpec:
    """An external etcd member run by systemd: no flags at all, everything in its environment.

    Its peer client-cert auth is off (ETCD_PEER_CLIENT_CERT_AUTH=false): CIS 2.5 must FAIL,
    and say the value came from etcd's environment.
    """
    env = {"PATH": PATH_ENV, "INVOCATION_ID": hashlib.md5(name.encode()).hexdigest()}
    env.update(line.split("=", 1) for line in ETCD_ENV_FILE.splitlines() if line and not line.startswith("#"))
    unit = ("[Unit]\nDescription=etcd key-value store\n\n[Service]\nType=notify\nUser=etcd\n"
            "EnvironmentFile=-/etc/etcd/etcd.conf\nExecStart=/usr/bin/etcd\nRestart=on-failure\n\n"
            "[Install]\nWantedBy=multi-user.target\n")
    files = [
        FileSpec("/etc/etcd", kind="dir", mode=0o755),
        FileSpec("/etc/etcd/etcd.conf", ETCD_ENV_FILE, 0o644),
        FileSpec("/etc/etcd/pki", kind="dir", mode=0o755),
        *(FileSpec(f"/etc/etcd/pki/{n}.crt", _pem("CERTIFICATE", n, 1090), 0o644) for n in ("ca", "server", "peer")),
        *(FileSpec(f"/etc/etcd/pki/{n}.key", _pem("EC PRIVATE KEY", n, 121), 0o600, owner="etcd", group="etcd")
          for n in ("server", "peer")),
        FileSpec("/usr/lib/systemd/system/etcd.service", unit, 0o644),
        FileSpec("/var/lib/etcd", kind="dir", mode=0o700, owner="etcd", group="etcd"),
        FileSpec("/var/lib/etcd/default.etcd", kind="dir", mode=0o700, owner="etcd", group="etcd"),
    ]
    return NodeSpec(name, files, [ProcSpec("/usr/bin/etcd", ["/usr/bin/etcd"], env)], "etcd")


HOSTILE_CONFIG_DIR = "/etc/kubernetes/kubelet dir"
HOSTILE_CONFIG = HOSTILE_CONFIG_DIR + "/it's \"the\" config.yaml"


def hostile_worker(name: str, *, api_server: str = CONTROL_PLANE_ADDRESS) -> NodeSpec:
    """A real but awkward host: busybox sh and coreutils first in PATH, a .bashrc that talks,
    a kubelet config path with spaces and quotes, and a config file that is not UTF-8."""
    spec = kubeadm_worker(name, api_server=api_server)
    kubelet = spec.procs[0]
    kubelet.argv = [f"--config={HOSTILE_CONFIG}" if a.startswith("--config=") else a for a in kubelet.argv]
    config = next(f for f in spec.files if f.path == "/var/lib/kubelet/config.yaml")
    text = config.content if isinstance(config.content, str) else (config.content or b"").decode()
    applets = ("sh", "stat", "find", "head", "tr", "grep", "cat", "readlink")
    spec.files += [
        FileSpec(HOSTILE_CONFIG_DIR, kind="dir", mode=0o755),
        FileSpec(HOSTILE_CONFIG, b"# r\xe9glages du kubelet (Latin-1, not UTF-8)\n" + text.encode(), 0o600),
        FileSpec("/root/.bashrc", 'echo "Welcome to hostile-node! Unauthorised access prohibited."\n'
                                  'echo "@@0000000000000000 done"\n', 0o644),
        *(FileSpec(f"/usr/local/bin/{a}", kind="symlink", target="/usr/bin/busybox") for a in applets),
    ]
    return spec


def mixed_specs(control_plane_address: str = CONTROL_PLANE_ADDRESS) -> list[NodeSpec]:
    """A fleet mid-upgrade: the default three, an older worker, a systemd etcd, a hostile worker."""
    return [*default_specs(control_plane_address), older_worker("worker-old", api_server=control_plane_address),
            systemd_etcd("etcd-1"), hostile_worker("odd-1", api_server=control_plane_address)]
