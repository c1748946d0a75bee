"""The shipped catalog is complete and consistent; a broken one fails with file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from fleetbench import plan as P
from fleetbench.catalog import default_root, load_catalog
from fleetbench.errors import CatalogError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmark"


BENCHMARKS = ["cis-1.9", "cis-1.10", "cis-1.11", "cis-1.12", "k3s-cis-1.9", "rke2-cis-1.8"]

# Where a distribution variant deliberately does not copy kube-bench (each one says why in a
# comment in checks/benchmarks/ and in README "Verdicts"): (benchmark, id) → the fields that differ.
DELIBERATE = {
    ("k3s-cis-1.9", "1.2.10"): {"missing"},            # an absent flag means AlwaysAdmit is off: pass
    ("k3s-cis-1.9", "4.2.5"): {"tests"},               # kube-bench's unknown op 'noteqx' → noteq
    ("k3s-cis-1.9", "4.2.9"): {"tests"},               # file names where config keys belong → the keys
    ("rke2-cis-1.8", "4.2.10"): {"tests"},             # the flag decides over the config file, as in the kubelet
}


def test_counts_match_the_benchmark(catalog):
    expected = {"cis-1.9": 130, "cis-1.10": 130, "cis-1.11": 133, "cis-1.12": 131, "k3s-cis-1.9": 130,
                "rke2-cis-1.8": 130}
    assert {b: len(x.controls) for b, x in catalog.benchmarks.items()} == expected
    assert catalog.default_benchmark() == "cis-1.12"


def fact_tests(what):
    """The fact's test items. Where kube-bench ORs an 'absent' item but says missing: fail (its audit
    errors first, so the item never decides: k3s 1.4.2, 4.2.4), the item is left out."""
    tests = what.get("tests") or [what]
    if what.get("combine") == "any" and what["missing"] == "fail":
        tests = [t for t in tests if t["op"] != "absent"] or tests
    return tests


@pytest.mark.skipif(not SHARED.is_dir(), reason="the benchmark fact sheet is not beside the repository")
@pytest.mark.parametrize("bench", BENCHMARKS)
def test_facts_carry_over(catalog, bench):
    """ids, titles, sections, targets, scored/automated, skips, modes, owners, ops, values and
    'missing' equal the fact sheet, except the documented deliberate differences."""
    facts = {c["id"]: c for c in yaml.safe_load((SHARED / f"{bench}.yaml").read_text())["checks"]}
    benchmark = catalog.benchmarks[bench]
    controls = {c.id: c for c in benchmark.controls}
    assert list(controls) == list(facts)
    for cid, fact in facts.items():
        c, w = controls[cid], fact["what"]
        differs = DELIBERATE.get((bench, cid), set())
        assert (c.target, c.scored, c.automated, c.title) == (fact["target"], fact["scored"], fact["automated"],
                                                               fact["title"]), cid
        assert benchmark.sections[fact["section"]] == fact["section_title"], cid
        assert bool(c.skip) == (fact.get("kube_bench_type") == "skip"), cid
        if c.skip:
            continue
        if fact["kind"] == "file-mode":
            assert c.check.mode == w["mode"], cid
        if fact["kind"] == "file-owner":
            assert c.check.owner == w["owner"], cid
        if fact["kind"] in ("file-mode", "file-owner"):
            assert c.check.missing == w["missing"], cid
        if fact["kind"] in ("flag", "kubelet-setting", "proxy-setting"):
            tests = fact_tests(w)
            if "tests" not in differs:
                assert [t.op for t in c.check.tests] == [t["op"] for t in tests], cid
                assert [t.value for t in c.check.tests] == [t.get("value") for t in tests], cid
                assert [t.config_key for t in c.check.tests] == [t.get("config_key") for t in tests], cid
                assert [t.env for t in c.check.tests] == [t.get("env") for t in tests], cid
            if "missing" not in differs:
                assert c.check.missing == w["missing"], cid


@pytest.mark.skipif(not SHARED.is_dir(), reason="the benchmark fact sheet is not beside the repository")
def test_deliberate_differences_are_real(catalog):
    """Each listed difference still differs (a stale entry would hide a regression)."""
    for (bench, cid), fields in DELIBERATE.items():
        fact = next(c for c in yaml.safe_load((SHARED / f"{bench}.yaml").read_text())["checks"] if c["id"] == cid)
        check = next(c for c in catalog.benchmarks[bench].controls if c.id == cid).check
        got = {"tests": [(t.op, t.value, t.config_key) for t in check.tests], "missing": check.missing}
        want = {"tests": [(t["op"], t.get("value"), t.get("config_key")) for t in fact_tests(fact["what"])],
                "missing": fact["what"]["missing"]}
        assert all(got[f] != want[f] for f in fields), (bench, cid)


def test_the_plan_probes_every_path_a_control_reads(catalog):
    """Each benchmark's controls, as the benchmark uses them (after 'with: path'), plan the probes their
    evaluation reads: every file path is stat'ed (or its tree listed), every config file read, every
    path variable resolved; and a control the benchmark skips plans nothing."""
    for bench in catalog.benchmarks.values():
        controls = [c for c in bench.controls if not c.skip]
        plan = P.build(controls, catalog)
        resolved = {v.name for v in plan.path_vars}
        for c in controls:
            check = c.check
            for expr in check.paths:
                assert expr in (plan.trees if check.tree else plan.stats), (bench.id, c.id, expr)
            if check.config:
                assert check.config in plan.reads, (bench.id, c.id, check.config)
            for expr in check.paths + ((check.config,) if check.config else ()):
                for name in P.var_names(expr):
                    assert name in resolved and catalog.path_var(name) is not None, (bench.id, c.id, name)
    k3s = catalog.benchmarks["k3s-cis-1.9"]
    skipped = [c for c in k3s.controls if c.skip]
    assert len(skipped) == 14 and P.build(skipped, catalog).stats == ()
    for name in runner_plan_paths(catalog, k3s):
        assert not name.startswith("{apiserver.manifest")    # 1.1.1 is skipped on k3s: never stat'ed


def runner_plan_paths(catalog, bench):
    """What a scan of a k3s control plane would stat: the runner leaves skipped controls out."""
    from fleetbench.models import Host, SSHSettings
    from fleetbench.runner import ScanOptions, plan_for
    host = Host("k", "127.0.0.1", ("control-plane",), (), SSHSettings(), {}, "test")
    plan = plan_for(host, catalog, ScanOptions(benchmark=bench.id))
    return plan.stats + plan.trees


def copy_catalog(tmp_path):
    root = tmp_path / "checks"
    shutil.copytree(default_root(), root)
    return root


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("file,old,new,message", [
    ("controls/kubelet.yaml", "op: eq", "op: equals", "'op' must be one of"),
    ("controls/kubelet.yaml", "path: '{kubelet.config}'", "path: '{kubelet.conf}'", "unknown path variable"),
    ("controls/kubelet.yaml", "mode: '600'", "mode: '6x0'", "mode must be octal"),
    ("controls/kubelet.yaml", "kind: setting", "kind: settings", "'kind' must be one of"),
    ("controls/apiserver.yaml", "  flag: --profiling", "  flagg: --profiling", "unknown key 'flagg'"),
    ("benchmarks/cis-1.12.yaml", "check: apiserver-manifest-mode,", "check: no-such-check,", "unknown check 'no-such-check'"),
    ("benchmarks/cis-1.12.yaml", 'id: "1.1.2",', 'id: "1.1.1",', "duplicate control id '1.1.1'"),
    ("benchmarks/cis-1.12.yaml", "target: master,", "target: mastr,", "'target' must be one of"),
    ("components.yaml", "  kubelet:\n", "  kubelet: [oops]\n  kubelet2:\n", "must be a mapping"),
    ("components.yaml", "config.yaml.d/*.yaml\n", "config.yaml.d/*\n", "nor a folder's '*.ext' glob"),
    ("components.yaml", "embeds: [apiserver,", "embeds: [apiservr,", "embeds 'apiservr', which is not a component"),
    ("benchmarks/k3s-cis-1.9.yaml", 'skip: "not applicable on k3s (the benchmark variant skips it): the API server '
     'runs inside the k3s process, started without a static-pod manifest"}', 'skip: " "}', "'skip' needs the reason"),
    ("benchmarks/k3s-cis-1.9.yaml", "check: admin-kubeconfigs-mode, target: master, scored: true, automated: true, with: {",
     "check: kubelet-anonymous-auth, target: master, scored: true, automated: true, with: {",
     "'with: path' needs a file check"),
    ("benchmarks/k3s-cis-1.9.yaml", "with: {path: \"/var/lib/rancher/k3s/server/tls\"}",
     "with: {path: \"{kubelet.conf}\"}", "unknown path variable '{kubelet.conf}'"),
    ("controls/kubelet.yaml", "  op: gte\n", "  op: regex\n", "needs a 'remediation' (no template"),
    ("controls/policies.yaml", "  remediation: >-\n", "  remediationx: >-\n", "unknown key 'remediationx'"),
    ("remediation.yaml", "    present: 'set {name} to a suitable value'\n", "    presence: 'x'\n", "unknown key 'presence'"),
    ("remediation.yaml", "  kube-proxy:\n", "  kube-proxyy:\n", "unknown component 'kube-proxyy'"),
    ("remediation.yaml", "    flag: >-\n      In the static pod manifest {apiserver.manifest} {do}.",
     "    flag: >-\n      In the static pod manifest {apiserver.manifest}.", "the flag template needs '{do}'"),
    ("benchmarks/k3s-cis-1.9.yaml", "  components: [apiserver,", "  components: [apiservr,",
     "no check belongs to component 'apiservr'"),
])
def test_broken_catalog_names_file_and_line(tmp_path, file, old, new, message):
    root = copy_catalog(tmp_path)
    edit(root / file, old, new)
    with pytest.raises(CatalogError) as err:
        load_catalog(root)
    text = str(err.value)
    assert message in text and f"{root / file}:" in text
    assert text.split(f"{root / file}:")[1].split(":")[0].isdigit()


def test_remediation_templates_fill_per_check_and_follow_overrides(catalog):
    """Templates give each check its sentence; a 'with: path' that makes several files one switches form."""
    assert catalog.checks["kubelet-anonymous-auth"].remediation == (
        "In {kubelet.config}, set authentication.anonymous.enabled: {value}. A command-line flag overrides the file, "
        "so also remove conflicting flags from the kubelet command line (see {kubelet.service} and the kubelet's "
        "environment files). Then restart the kubelet.")
    assert catalog.checks["etcd-peer-tls"].remediation == (
        "In the etcd configuration ({etcd.config}) set --peer-cert-file to a suitable value; set --peer-key-file to a "
        "suitable value. Where etcd is configured through its environment, use ETCD_PEER_CERT_FILE, ETCD_PEER_KEY_FILE "
        "instead.")
    assert catalog.checks["admin-kubeconfigs-mode"].remediation.endswith("<file> for each file listed in the evidence.")
    k3s = {c.id: c for c in catalog.benchmarks["k3s-cis-1.9"].controls}
    assert k3s["1.1.13"].check.remediation == "Tighten the permissions on the node: chmod {mode} {path}"
    assert k3s["1.1.19"].check.remediation == "Give the files to their owner on the node: chown -R {owner} {path}"


def test_benchmark_diff_returns_rows(catalog):
    from fleetbench.compare import Change, diff
    rows = diff(catalog, "cis-1.11", "cis-1.12")
    assert Change("4.2.15", "removed", rows[[r.id for r in rows].index("4.2.15")].before, "") in rows
    k3s = diff(catalog, "cis-1.12", "k3s-cis-1.9")
    assert any(r.id == "1.1.1" and r.change == "skip" and r.after.startswith("not applicable on k3s") for r in k3s)
    assert Change("1.1.21", "paths", "/etc/kubernetes/pki", "/var/lib/rancher/k3s/server/tls") in k3s


def test_every_path_a_remediation_names_is_resolved_by_its_own_plan(catalog):
    """`scan --check X` alone must still give X's remediation with the node's paths, never a {placeholder}."""
    from fleetbench.plan import build, var_names

    for bench in catalog.benchmarks.values():
        for control in bench.controls:
            if control.skip:
                continue
            named = {n for n in var_names(control.check.remediation) if catalog.path_var(n) is not None}
            resolved = {v.name for v in build([control], catalog).path_vars}
            assert named <= resolved, (bench.id, control.id, sorted(named - resolved))
