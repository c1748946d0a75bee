"""The shipped catalog is complete and consistent; a broken one fails with file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from fleetbench.catalog import default_root, load_catalog
from fleetbench.errors import CatalogError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmark"


def test_counts_match_the_benchmark(catalog):
    expected = {"cis-1.9": 130, "cis-1.10": 130, "cis-1.11": 133, "cis-1.12": 131}
    assert {b: len(x.controls) for b, x in catalog.benchmarks.items()} == expected
    assert catalog.default_benchmark() == "cis-1.12"


@pytest.mark.skipif(not SHARED.is_dir(), reason="the benchmark fact sheet is not beside the repository")
@pytest.mark.parametrize("bench", ["cis-1.9", "cis-1.10", "cis-1.11", "cis-1.12"])
def test_facts_carry_over(catalog, bench):
    """ids, targets, scored/automated, modes, owners, flags, ops and values equal the fact sheet."""
    facts = {c["id"]: c for c in yaml.safe_load((SHARED / f"{bench}.yaml").read_text())["checks"]}
    controls = {c.id: c for c in catalog.benchmarks[bench].controls}
    assert list(controls) == list(facts)
    for cid, fact in facts.items():
        c, w = controls[cid], fact["what"]
        assert (c.target, c.scored, c.automated) == (fact["target"], fact["scored"], fact["automated"]), cid
        if fact["kind"] == "file-mode":
            assert c.check.mode == w["mode"], cid
        if fact["kind"] == "file-owner":
            assert c.check.owner == w["owner"], cid
        if fact["kind"] in ("flag", "kubelet-setting", "proxy-setting"):
            tests = w.get("tests") or [w]
            assert [t.op for t in c.check.tests] == [t["op"] for t in tests], cid
            assert [t.value for t in c.check.tests] == [t.get("value") for t in tests], cid
            assert [t.config_key for t in c.check.tests] == [t.get("config_key") for t in tests], cid
            assert [t.env for t in c.check.tests] == [t.get("env") for t in tests], cid
            assert c.check.missing == w["missing"], cid


def test_every_path_variable_and_component_resolves(catalog):
    for check in catalog.checks.values():
        for expr in check.paths + ((check.config,) if check.config else ()):
            if expr.startswith("{"):
                assert catalog.path_var(expr.strip("{}")) is not None, (check.id, expr)


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
])
def test_broken_catalog_names_file_and_line(tmp_path, file, old, new, message):
    root = copy_catalog(tmp_path)
    edit(root / file, old, new)
    with pytest.raises(CatalogError) as err:
        load_catalog(root)
    text = str(err.value)
    assert message in text and f"{root / file}:" in text
    assert text.split(f"{root / file}:")[1].split(":")[0].isdigit()
