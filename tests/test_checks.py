"""Every check of the catalog, and every benchmark entry that changes one, against fixtures.

``tests/fixtures/checks/<check-id>.json``: the check as written in ``checks/controls``.
``tests/fixtures/controls/<benchmark>/<CIS id>.json``: the check as that benchmark entry uses it,
after its ``with:`` overrides (another mode, value, path, 'missing' rule) or its ``skip:``.

Cases are named by outcome (checkov style): PASS-*, FAIL-*, WARN-*, INFO-*. Each is evaluated as a
scored control, so a failing case must be FAIL (an unscored control would turn it into WARN). Every
case pins the evidence as well as the verdict: ``actual`` and ``source`` must come out exactly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fleetbench.evaluate import evaluate
from fleetbench.models import Catalog, Control

from .factsbuilder import host_facts

FIXTURES = Path(__file__).parent / "fixtures"
#: Check fields a benchmark entry's ``with:`` may change that decide a verdict (not title or remediation).
VERDICT_FIELDS = ("paths", "tree", "match", "mode", "owner", "tests", "combine", "config", "allowed", "missing")


def _cases() -> list[tuple[str, dict]]:
    out = []
    for f in sorted((FIXTURES / "checks").glob("*.json")):
        doc = json.loads(f.read_text())
        out.extend((doc["check"], case) for case in doc["cases"])
    return out


def _control_cases() -> list[tuple[tuple[str, str], dict]]:
    out = []
    for f in sorted((FIXTURES / "controls").glob("*/*.json")):
        doc = json.loads(f.read_text())
        assert (f.parent.name, f.stem) == (doc["benchmark"], doc["control"]), f
        out.extend(((doc["benchmark"], doc["control"]), case) for case in doc["cases"])
    return out


def _control(catalog: Catalog, benchmark: str, cid: str) -> Control:
    return next(c for c in catalog.benchmarks[benchmark].controls if c.id == cid)


def _check_case(catalog: Catalog, control: Control, case: dict) -> None:
    finding = evaluate(dataclasses.replace(control, scored=True), host_facts(catalog, case), catalog)
    assert case["name"].split("-")[0] == case["expect"]
    got = {"status": finding.status.value, "actual": finding.actual, "source": finding.source}
    assert got == {"status": case["expect"], "actual": case["actual"], "source": case["source"]}, finding.reason
    if finding.status.value in ("PASS", "FAIL") and control.check.kind not in ("manual", "cluster"):
        assert finding.expected and finding.source, "a verdict without evidence"
    if "reason" in case:
        assert finding.reason == case["reason"]


@pytest.mark.parametrize("check_id,case", _cases(), ids=lambda v: v if isinstance(v, str) else v["name"])
def test_fixture(catalog, check_id, case):
    check = catalog.checks[check_id]
    _check_case(catalog, Control(id="9.9.9", check=check, target="node", scored=True, automated=True,
                                 section="9.9", title=check.title), case)


@pytest.mark.parametrize("where,case", _control_cases(),
                         ids=lambda v: "-".join(v) if isinstance(v, tuple) else v["name"])
def test_control_fixture(catalog, where, case):
    control = _control(catalog, *where)
    _check_case(catalog, control, case)
    if control.skip:
        finding = evaluate(control, host_facts(catalog, case), catalog)
        assert finding.reason == control.skip and finding.remediation == "", "a skipped control says why"


def test_every_check_has_pass_and_fail_fixtures(catalog):
    """Meta-test: a check without both outcomes covered is not tested."""
    covered: dict[str, set[str]] = {}
    for check_id, case in _cases():
        covered.setdefault(check_id, set()).add(case["expect"])
    for check in catalog.checks.values():
        wanted = {"WARN"} if check.kind in ("manual", "cluster") else {"PASS", "FAIL"}
        assert wanted <= covered.get(check.id, set()), f"{check.id}: fixtures cover {covered.get(check.id)}"


def test_every_override_and_skip_has_fixtures(catalog):
    """Meta-test: a benchmark entry whose 'with:' changes a verdict-deciding field has PASS and FAIL
    fixtures of its own; one with 'skip:' has an INFO fixture."""
    covered: dict[tuple[str, str], set[str]] = {}
    for where, case in _control_cases():
        covered.setdefault(where, set()).add(case["expect"])
    for bench in catalog.benchmarks.values():
        for control in bench.controls:
            base = catalog.checks[control.check.id]
            changed = [f for f in VERDICT_FIELDS if getattr(base, f) != getattr(control.check, f)]
            wanted = {"INFO"} if control.skip else {"PASS", "FAIL"} if changed else set()
            got = covered.get((bench.id, control.id), set())
            assert wanted <= got, f"{bench.id} {control.id} ({', '.join(changed) or 'skip'}): fixtures cover {got}"


def test_fixtures_name_existing_checks(catalog):
    for check_id, _ in _cases():
        assert check_id in catalog.checks
    for (bench, cid), _ in _control_cases():
        assert any(c.id == cid for c in catalog.benchmarks[bench].controls), (bench, cid)


def test_unscored_failure_is_warn(catalog):
    check = catalog.checks["kubelet-read-only-port"]
    control = Control("4.2.4", check, "node", scored=False, automated=False, section="4.2", title=check.title)
    case = json.loads((FIXTURES / "checks" / "kubelet-read-only-port.json").read_text())["cases"][1]
    assert evaluate(control, host_facts(catalog, case), catalog).status.value == "WARN"
    assert evaluate(dataclasses.replace(control, scored=True), host_facts(catalog, case), catalog).status.value == "FAIL"
