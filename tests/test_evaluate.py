"""Precedence rules and evidence, beyond the per-check fixtures."""

from __future__ import annotations

from fleetbench.evaluate import evaluate
from fleetbench.redact import redact_argv, redact_text

from .factsbuilder import host_facts


def control(catalog, cid, bench="cis-1.12"):
    return next(c for c in catalog.benchmarks[bench].controls if c.id == cid)


KUBELET_CFG = {"{kubelet.config}": "readOnlyPort: 0\nauthentication:\n  anonymous:\n    enabled: false\n"}


def test_flag_overrides_config_and_says_so(catalog):
    case = {"processes": {"kubelet": ["/usr/bin/kubelet", "--read-only-port=10255", "--config=/var/lib/kubelet/config.yaml"]},
            "paths": {"kubelet.config": "/var/lib/kubelet/config.yaml"}, "contents": KUBELET_CFG}
    f = evaluate(control(catalog, "4.2.4"), host_facts(catalog, case), catalog)
    assert f.status.value == "WARN"                      # 4.2.4 is unscored in cis-1.12
    assert f.actual == "--read-only-port=10255"
    assert f.source.startswith("flag --read-only-port on the command line of kubelet; overrides "
                               "/var/lib/kubelet/config.yaml readOnlyPort: 0")


def test_config_file_decides_when_no_flag(catalog):
    case = {"processes": {"kubelet": ["/usr/bin/kubelet"]}, "paths": {"kubelet.config": "/x/k.yaml"}, "contents": KUBELET_CFG}
    f = evaluate(control(catalog, "4.2.1"), host_facts(catalog, case), catalog)
    assert (f.status.value, f.actual, f.source) == ("PASS", "authentication.anonymous.enabled=false",
                                                    "/x/k.yaml: authentication.anonymous.enabled")


def test_unreadable_config_is_not_assessed(catalog):
    facts = host_facts(catalog, {"processes": {"kubelet": ["/usr/bin/kubelet"]}})
    from fleetbench.models import Content
    facts.contents["{kubelet.config}"] = Content("/var/lib/kubelet/config.yaml", "unreadable")  # type: ignore[index]
    f = evaluate(control(catalog, "4.2.1"), facts, catalog)
    assert f.status.value == "WARN" and f.reason.startswith("not assessed: config file")


def test_component_not_running_is_never_a_pass(catalog):
    # 1.2.2 "--token-auth-file not set": kube-bench passes it when no apiserver runs
    f = evaluate(control(catalog, "1.2.2"), host_facts(catalog, {}), catalog)
    assert f.status.value == "WARN" and "not assessed" in f.reason


def test_manifest_used_when_process_is_not_running(catalog):
    manifest = "spec:\n  containers:\n  - command: [kube-apiserver, --profiling=false]\n"
    case = {"contents": {"{apiserver.manifest}": manifest}}
    f = evaluate(control(catalog, "1.2.15"), host_facts(catalog, case), catalog)
    assert f.status.value == "PASS" and "manifest /etc/kubernetes/manifests/kube-apiserver.yaml" in f.source


def test_etcd_environment_fallback(catalog):
    case = {"processes": {"etcd": ["etcd"]}, "env": {"etcd": {"ETCD_CLIENT_CERT_AUTH": "true"}}}
    f = evaluate(control(catalog, "2.2"), host_facts(catalog, case), catalog)
    assert f.status.value == "PASS" and "ETCD_CLIENT_CERT_AUTH in the environment of etcd" in f.source


def test_remediation_names_the_nodes_paths(catalog):
    case = {"paths": {"kubelet.kubeconfig": "/srv/kube/kubelet.conf"},
            "files": {"/srv/kube/kubelet.conf": {"mode": "666", "owner": "root:root"}}}
    f = evaluate(control(catalog, "4.1.5"), host_facts(catalog, case), catalog)
    assert f.status.value == "FAIL" and f.actual == "666" and f.remediation.endswith("chmod 600 /srv/kube/kubelet.conf")


def test_tree_lists_the_offending_files(catalog):
    case = {"trees": {"/etc/kubernetes/pki": {"/etc/kubernetes/pki/ca.key": {"mode": "600", "owner": "root:root"},
                                             "/etc/kubernetes/pki/sa.key": {"mode": "644", "owner": "root:root"},
                                             "/etc/kubernetes/pki/ca.crt": {"mode": "644", "owner": "root:root"}}}}
    f = evaluate(control(catalog, "1.1.21"), host_facts(catalog, case), catalog)
    assert f.actual == "1 of 2 files do not comply: /etc/kubernetes/pki/sa.key 644"


def test_redaction():
    argv = ("kubeadm", "join", "--token=abcdef.0123456789abcdef", "--discovery-token-ca-cert-hash", "sha256:x",
            "--password", "hunter2", "--token-auth-file=/etc/tokens.csv")
    out = redact_argv(argv)
    assert "abcdef.0123456789abcdef" not in " ".join(out) and "hunter2" not in out
    assert "--token-auth-file=/etc/tokens.csv" in out
    assert "abcdef.0123456789abcdef" not in redact_text("joined with abcdef.0123456789abcdef ok")


DROPIN_CASE = {
    "processes": {"kubelet": ["/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml",
                              "--config-dir=/etc/kubernetes/kubelet.conf.d"]},
    "paths": {"kubelet.config": "/var/lib/kubelet/config.yaml", "kubelet.config-dir": "/etc/kubernetes/kubelet.conf.d"},
    "contents": KUBELET_CFG,
    "dirs": {"{kubelet.config-dir}": [
        ("/etc/kubernetes/kubelet.conf.d/10-base.conf", "readOnlyPort: 10255\nauthentication: {anonymous: {enabled: true}}\n"),
        ("/etc/kubernetes/kubelet.conf.d/20-fix.conf", "readOnlyPort: 0\n"),
    ]},
}


def test_last_dropin_wins_and_the_chain_is_shown(catalog):
    f = evaluate(control(catalog, "4.2.4"), host_facts(catalog, DROPIN_CASE), catalog)
    assert (f.status.value, f.actual) == ("PASS", "readOnlyPort=0")
    assert f.source == ("drop-in /etc/kubernetes/kubelet.conf.d/20-fix.conf: readOnlyPort; "
                        "overrides /etc/kubernetes/kubelet.conf.d/10-base.conf readOnlyPort: 10255; "
                        "agrees with /var/lib/kubelet/config.yaml readOnlyPort: 0")


def test_dropin_overrides_the_config_file(catalog):
    f = evaluate(control(catalog, "4.2.1"), host_facts(catalog, DROPIN_CASE), catalog)
    assert (f.status.value, f.actual) == ("FAIL", "authentication.anonymous.enabled=true")
    assert f.source.startswith("drop-in /etc/kubernetes/kubelet.conf.d/10-base.conf: authentication.anonymous.enabled; "
                               "overrides /var/lib/kubelet/config.yaml")


def test_flag_attributed_to_the_file_that_set_it(catalog):
    case = {"processes": {"kubelet": ["/usr/bin/kubelet", "--read-only-port=10255"]},
            "contents": {**KUBELET_CFG,
                         "/var/lib/kubelet/kubeadm-flags.env": 'KUBELET_KUBEADM_ARGS="--pod-infra-container-image=x"\n',
                         "/etc/default/kubelet": "KUBELET_EXTRA_ARGS=--read-only-port=10255\n"},
            "dirs": {"/etc/systemd/system/kubelet.service.d": [
                ("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", "ExecStart=/usr/bin/kubelet $KUBELET_EXTRA_ARGS\n")]}}
    f = evaluate(control(catalog, "4.2.4"), host_facts(catalog, case), catalog)
    assert "flag --read-only-port on the command line of kubelet (set in /etc/default/kubelet)" in f.source
    case["contents"]["/etc/default/kubelet"] = "KUBELET_EXTRA_ARGS=--read-only-port-x=1\n"
    f = evaluate(control(catalog, "4.2.4"), host_facts(catalog, case), catalog)
    assert "(set in" not in f.source          # no file says it: no attribution is invented
