"""Every check of the catalog against its PASS/FAIL fixtures (tests/fixtures/checks/<check-id>.json).

Fixture cases are named by outcome (checkov style): PASS-*, FAIL-*, WARN-*, INFO-*. Each is
evaluated as a scored control, so a failing case must be FAIL (an unscored control would turn it
into WARN). A check a benchmark variant skips (``kind: skip``) is INFO whatever the node holds.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fleetbench.evaluate import evaluate
from fleetbench.models import Control

from .factsbuilder import host_facts

FIXTURES = Path(__file__).parent / "fixtures" / "checks"


def _cases() -> list[tuple[str, dict]]:
    out = []
    for f in sorted(FIXTURES.glob("*.json")):
        doc = json.loads(f.read_text())
        out.extend((doc["check"], case) for case in doc["cases"])
    return out


@pytest.mark.parametrize("check_id,case", _cases(), ids=lambda v: v if isinstance(v, str) else v["name"])
def test_fixture(catalog, check_id, case):
    check = catalog.checks[check_id]
    control = Control(id="9.9.9", check=check, target="node", scored=True, automated=True, section="9.9", title=check.title)
    finding = evaluate(control, host_facts(catalog, case), catalog)
    assert finding.status.value == case["expect"], (finding.actual, finding.source, finding.reason)
    assert case["name"].split("-")[0] == case["expect"]
    if finding.status.value in ("PASS", "FAIL") and check.kind not in ("manual", "cluster"):
        assert finding.expected and finding.source, "a verdict without evidence"
    if check.kind == "skip":
        assert finding.reason == check.reason and finding.reason, "a skipped control says why"


def test_every_check_has_pass_and_fail_fixtures(catalog):
    """Meta-test: a check without both outcomes covered is not tested."""
    covered: dict[str, set[str]] = {}
    for check_id, case in _cases():
        covered.setdefault(check_id, set()).add(case["expect"])
    for check in catalog.checks.values():
        wanted = {"WARN"} if check.kind in ("manual", "cluster") else {"INFO"} if check.kind == "skip" else {"PASS", "FAIL"}
        assert wanted <= covered.get(check.id, set()), f"{check.id}: fixtures cover {covered.get(check.id)}"


def test_fixtures_name_existing_checks(catalog):
    for check_id, _ in _cases():
        assert check_id in catalog.checks


def test_unscored_failure_is_warn(catalog):
    check = catalog.checks["kubelet-read-only-port"]
    control = Control("4.2.4", check, "node", scored=False, automated=False, section="4.2", title=check.title)
    case = json.loads((FIXTURES / "kubelet-read-only-port.json").read_text())["cases"][1]
    assert evaluate(control, host_facts(catalog, case), catalog).status.value == "WARN"
    assert evaluate(dataclasses.replace(control, scored=True), host_facts(catalog, case), catalog).status.value == "FAIL"
