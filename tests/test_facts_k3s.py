"""k3s: the components it runs inside its own process, read from the lines it logs in its journal.

k3s has no kube-apiserver (kubelet, …) process; at every start it logs each component's
arguments as ``Running kube-apiserver --a=b …``. The probe fetches those lines with one
journalctl call, the shell's ``fb_run`` takes the last one per component for path variables
(``--kubeconfig`` …), and :func:`fleetbench.facts.journal_argv` makes the component's argv from it.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from fleetbench import plan as P
from fleetbench import script as S
from fleetbench.evaluate import evaluate, flag_origin
from fleetbench.facts import build, journal_argv
from fleetbench.models import Content

from .factsbuilder import host_facts

SHELLS = [s for s in (["dash"], ["bash", "--posix"], ["busybox", "sh"]) if shutil.which(s[0])]
NONCE = "0123456789abcdef"


def logrus(message: str, when: str = "2024-09-03T08:12:31Z") -> str:
    """One k3s log line as `journalctl -o cat` prints it (logrus text format)."""
    return f'time="{when}" level=info msg="{message}"'


JOURNAL = "\n".join([
    logrus("Starting k3s v1.30.4+k3s1 (98262b5d)", "2024-09-03T08:12:30Z"),
    logrus("Running kube-apiserver --advertise-port=6443 --anonymous-auth=false --profiling=true"),
    logrus("Running kubelet --kubeconfig=/var/lib/rancher/k3s/agent/kubelet.kubeconfig --read-only-port=0"),
    logrus("Running kube-apiserver --advertise-port=6443 --anonymous-auth=false --profiling=false "
           "--node-labels= --eviction-hard=imagefs.available<5%,nodefs.available<5%", "2024-09-03T09:40:02Z"),
    logrus("Running kube-scheduler --bind-address=127.0.0.1 --kubeconfig=/var/lib/rancher/k3s/server/cred/scheduler.kubeconfig"),
    logrus("Running kube-proxy --cluster-cidr=10.42.0.0/16 --proxy-mode=iptables"),   # cidr: text only
])


def test_last_line_wins_and_argv0_is_the_component():
    assert journal_argv(JOURNAL, "kube-apiserver") == (
        "kube-apiserver", "--advertise-port=6443", "--anonymous-auth=false", "--profiling=false", "--node-labels=",
        "--eviction-hard=imagefs.available<5%,nodefs.available<5%")
    assert journal_argv(JOURNAL, "kubelet") == ("kubelet", "--kubeconfig=/var/lib/rancher/k3s/agent/kubelet.kubeconfig",
                                                "--read-only-port=0")


def test_component_without_a_line_is_none():
    assert journal_argv(JOURNAL, "kube-controller-manager") is None
    assert journal_argv("", "kubelet") is None


def test_labels_are_matched_whole():
    # "Running kube-proxy" is not a "Running kube-" line of another component, nor is kubelet-x kubelet
    assert journal_argv(logrus("Running kubelet-x --a=1"), "kubelet") is None
    assert journal_argv(logrus("Running kube-proxy --a=1"), "kube-proxy") == ("kube-proxy", "--a=1")


def test_logrus_quoting_is_undone():
    line = 'time="t" level=info msg="Running kube-apiserver --x=\\"quoted\\" --y=a\\\\b" extra=field'
    assert journal_argv(line, "kube-apiserver") == ("kube-apiserver", '--x="quoted"', "--y=a\\b")


def test_plain_lines_are_read_as_they_stand():
    # journalctl's default short format, as kube-bench reads it (journalctl -u k3s | grep ...)
    line = 'Sep 03 08:12:31 k3s-1 k3s[812]: Running kubelet --read-only-port=10255'
    assert journal_argv(line, "kubelet") == ("kubelet", "--read-only-port=10255")


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
@pytest.mark.parametrize("label", ["kube-apiserver", "kubelet", "kube-scheduler", "kube-proxy", "kube-controller-manager"])
def test_shell_reader_matches_python(shell, label):
    """The probe's fb_run (path variables on the node) reads the same argv as journal_argv."""
    prelude = S.prelude(NONCE, 1)
    src = prelude + f"J='{JOURNAL}'\nif fb_run \"$J\" {label}; then printf '\\n=SET<%s>' \"$R\"; else printf '\\n=UNSET'; fi\n"
    out = subprocess.run([*shell, "-s"], input=src.encode(), capture_output=True, timeout=30).stdout.decode()
    got = out.rsplit("\n=", 1)[-1]
    want = journal_argv(JOURNAL, label)
    assert got == ("UNSET" if want is None else "SET<" + "\n".join(want[1:]) + ">")


def test_script_asks_the_journal_once_and_only_when_k3s_runs(catalog):
    plan = P.build(catalog.benchmarks["k3s-cis-1.9"].controls, catalog)
    src = S.render(plan, NONCE)
    line = next(x for x in src.splitlines() if "journalctl" in x)
    assert src.count("journalctl") == 1
    k3s = [c.name for c in plan.components].index("k3s")
    assert line.startswith(f'if [ -n "$P{k3s}" ]; then r journal k3s "$P{k3s}";')
    assert "journalctl -u k3s -u k3s-agent -b --no-pager -o cat" in line
    assert "'Running (kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy) '" in line


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_probe_reads_a_running_k3s_journal(shell, catalog, tmp_path):
    """The whole probe script with a process called k3s and a journalctl that prints the lines
    above, in a PID namespace of their own (so no other kubelet on this machine is seen): the
    components' argv and their flag-derived paths come from those lines."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy("/bin/sleep", bindir / "k3s")
    (tmp_path / "journal").write_text(JOURNAL + "\n")
    (bindir / "journalctl").write_text(f"#!/bin/sh\ncat '{tmp_path}/journal'\n")
    (bindir / "journalctl").chmod(0o755)
    plan = P.build(catalog.benchmarks["k3s-cis-1.9"].controls, catalog)
    # PID 1 of the namespace starts "k3s" and becomes the probe's shell; its exit ends "k3s" too
    # ... once "k3s" really runs: the probe must not walk /proc before the background exec happened
    start = '"$0" 60 & until read -r c < "/proc/$!/comm" && [ "$c" = k3s ]; do :; done; exec "$@"'
    argv = ["unshare", "--pid", "--fork", "--mount-proc", "--", "/bin/sh", "-c", start,
            str(bindir / "k3s"), *shell, "-s"]
    out = subprocess.run(argv, input=S.render(plan, NONCE).encode(), capture_output=True, timeout=60,
                         env={"PATH": f"{bindir}:/usr/bin:/bin"})
    if out.returncode != 0 and b"@@" not in out.stdout:
        pytest.skip(f"no PID namespace here: {out.stderr.decode(errors='replace').strip()}")
    facts = build(S.parse(out.stdout, NONCE), plan.components)
    kubelet = facts.processes["kubelet"]
    assert (kubelet.pid, kubelet.argv) == (facts.processes["k3s"].pid, journal_argv(JOURNAL, "kubelet"))
    assert facts.paths["kubelet.kubeconfig"].path == "/var/lib/rancher/k3s/agent/kubelet.kubeconfig"
    assert facts.paths["kubelet.kubeconfig"].source == "flag --kubeconfig in the k3s journal"
    assert facts.paths["scheduler.kubeconfig"].source == "flag --kubeconfig in the k3s journal"
    assert "controller-manager" not in facts.processes       # no line for it


def records(*chunks: str) -> list[S.Record]:
    return S.parse("".join(f"\n@@{NONCE} {c}" for c in chunks).encode(), NONCE)


def test_embedded_components_become_processes(catalog):
    plan = P.build(catalog.benchmarks["k3s-cis-1.9"].controls, catalog)
    facts = build(records("proc 812 k3s\n/usr/local/bin/k3s\0server\0", f"journal k3s 812\n{JOURNAL}", "done\n"), plan.components)
    api = facts.processes["apiserver"]
    assert (api.pid, api.argv[0], api.origin) == (812, "kube-apiserver", "k3s journal line 'Running kube-apiserver' (k3s pid 812)")
    assert "--profiling=false" in api.argv and "--profiling=true" not in api.argv
    assert set(facts.processes) == {"k3s", "apiserver", "scheduler", "kubelet", "kube-proxy"}


def test_a_real_process_wins_over_the_journal(catalog):
    plan = P.build(catalog.benchmarks["k3s-cis-1.9"].controls, catalog)
    facts = build(records("proc 812 k3s\n/usr/local/bin/k3s\0server\0", "proc 900 kubelet\n/usr/bin/kubelet\0",
                          f"journal k3s 812\n{JOURNAL}", "done\n"), plan.components)
    assert facts.processes["kubelet"].argv == ("/usr/bin/kubelet",) and not facts.processes["kubelet"].origin


def k3s_control(catalog, cid):
    return next(c for c in catalog.benchmarks["k3s-cis-1.9"].controls if c.id == cid)


def k3s_facts(catalog, case, journal=JOURNAL):
    plan = P.build(catalog.benchmarks["k3s-cis-1.9"].controls, catalog)
    procs = build(records("proc 812 k3s\n/usr/local/bin/k3s\0server\0", f"journal k3s 812\n{journal}", "done\n"), plan.components).processes
    return dataclasses.replace(host_facts(catalog, case), processes=procs)


def test_flag_verdicts_name_the_journal_line(catalog):
    f = evaluate(k3s_control(catalog, "1.2.15"), k3s_facts(catalog, {}), catalog)
    assert (f.status.value, f.actual) == ("PASS", "--profiling=false")
    assert f.source == "--profiling on the k3s journal line 'Running kube-apiserver' (k3s pid 812)"
    assert "kube-apiserver-arg list in /etc/rancher/k3s/config.yaml" in f.remediation


def test_kubelet_setting_names_the_journal_line_and_the_config_file_that_set_it(catalog):
    journal = logrus("Running kubelet --anonymous-auth=false --read-only-port=10255")
    facts = k3s_facts(catalog, {}, journal)
    facts.contents["/etc/rancher/k3s/config.yaml"] = Content(  # type: ignore[index]
        "/etc/rancher/k3s/config.yaml", "present", b'kubelet-arg:\n  - "read-only-port=10255"\n')
    f = evaluate(k3s_control(catalog, "4.2.4"), facts, catalog)
    assert (f.status.value, f.actual) == ("FAIL", "--read-only-port=10255")
    assert f.source == ("flag --read-only-port on the k3s journal line 'Running kubelet' (k3s pid 812) "
                        "(set in /etc/rancher/k3s/config.yaml)")


def test_bare_flag_in_a_yaml_list_is_attributed_but_not_inside_longer_names(catalog):
    facts = host_facts(catalog, {})
    facts.contents["/etc/rancher/rke2/config.yaml"] = Content(  # type: ignore[index]
        "/etc/rancher/rke2/config.yaml", "present", b"kubelet-arg:\n- max-pods=250\n- my-read-only-port=0\n")
    assert flag_origin("kubelet", catalog, facts, "--max-pods", "250") == "/etc/rancher/rke2/config.yaml"
    assert flag_origin("kubelet", catalog, facts, "--read-only-port", "0") is None


def test_no_line_for_a_running_k3s_is_not_assessed_and_says_why(catalog):
    f = evaluate(k3s_control(catalog, "1.3.2"), k3s_facts(catalog, {}), catalog)   # no controller-manager line
    assert f.status.value == "WARN" and f.reason.startswith("not assessed: k3s runs kube-controller-manager inside its own")
    assert "journal (k3s, k3s-agent) has no 'Running kube-controller-manager' line" in f.reason


def test_skipped_by_the_variant_is_info_with_its_reason(catalog):
    f = evaluate(k3s_control(catalog, "1.1.1"), k3s_facts(catalog, {}), catalog)
    assert f.status.value == "INFO" and f.reason.startswith("not applicable on k3s (the benchmark variant skips it)")
