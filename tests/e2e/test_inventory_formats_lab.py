"""One fleet, three inventory formats: the same scan of the loopback lab through fleetbench's
YAML, an Ansible INI inventory (kubespray's layout, with group_vars/) and an Ansible YAML
inventory gives the same verdicts, control by control, with the same evidence."""

from __future__ import annotations

import json

import pytest

from fleetbench.cli import main
from tests.lab import Lab, default_specs
from tests.lab.kubeapi import running_api

from .golden import snapshot
from .test_scan_lab import pytestmark  # noqa: F401  (skip without sshd)

OCTETS = "127.86.0."


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_api("127.86.1.1") as api, \
            Lab(tmp_path_factory.mktemp("formats"), default_specs(OCTETS + "10", api_url=api.url), first_octets=OCTETS) as running:
        yield running


def ansible_ini(lab: Lab, folder) -> str:
    """kubespray's inventory/mycluster/: inventory.ini, connection settings in group_vars/all/."""
    (folder / "group_vars" / "all").mkdir(parents=True)
    (folder / "group_vars" / "all" / "ssh.yml").write_text(
        "ansible_user: root\n"
        f"ansible_ssh_private_key_file: {lab.client_key_path}\n"
        f"ansible_ssh_common_args: -F /dev/null -o UserKnownHostsFile={lab.known_hosts_path}\n")
    groups: dict[str, list[str]] = {"control-plane": [], "workers": [], "etcd": []}
    for spec in lab.specs:
        groups[spec.role_group].append(f"{spec.name} ansible_host={lab.address(spec.name)} ansible_port={lab.port}")
    (folder / "inventory.ini").write_text(
        "[kube_control_plane]\n" + "\n".join(groups["control-plane"]) + "\n\n"
        "[etcd]\n" + "\n".join(groups["etcd"]) + "\n\n"
        "[etcd:children]\nkube_control_plane\n\n"
        "[kube_node]\n" + "\n".join(groups["workers"]) + "\n\n"
        "[k8s_cluster:children]\nkube_control_plane\nkube_node\n")
    return str(folder)


def ansible_yaml(lab: Lab, path) -> str:
    group = {"control-plane": "kube_control_plane", "workers": "kube_node", "etcd": "etcd"}
    doc: dict[str, dict[str, dict[str, dict[str, object]]]] = {
        "all": {"vars": {"ansible_user": "root", "ansible_ssh_private_key_file": str(lab.client_key_path),
                         "ansible_port": lab.port,
                         "ansible_ssh_extra_args": f"-F /dev/null -o UserKnownHostsFile={lab.known_hosts_path}"}}}
    for spec in lab.specs:
        hosts = doc.setdefault(group[spec.role_group], {}).setdefault("hosts", {})
        hosts[spec.name] = {"ansible_host": lab.address(spec.name)}
    doc.setdefault("etcd", {})["children"] = {"kube_control_plane": {}}
    path.write_text(json.dumps(doc, indent=1))            # JSON is YAML: ansible reads it as such
    return str(path)


def scan(inventory: str, out) -> dict[str, object]:
    code = main(["scan", inventory, "--out-dir", str(out), "--flat", "--format", "json", "--quiet"])
    data = json.loads((out / "report.json").read_text())
    assert code == 3 and data["summary"]["hosts_not_assessed"] == 0, data["summary"]
    return data


def test_the_same_verdicts_through_every_inventory_format(lab, tmp_path):
    reports = {}
    for name, inventory in (("fleetbench", str(lab.inventory_path)),
                            ("ansible-ini", ansible_ini(lab, tmp_path / "mycluster")),
                            ("ansible-yaml", ansible_yaml(lab, tmp_path / "hosts.yml"))):
        out = tmp_path / f"out-{name}"
        reports[name] = snapshot(scan(inventory, out)["hosts"], str(lab.state_dir))   # type: ignore[arg-type]
    base = reports["fleetbench"]
    assert len(base) == len(lab.specs) and all(h["status"] == "ok" for h in base.values())
    assert sum(len(h["controls"]) for h in base.values()) > 100
    for name in ("ansible-ini", "ansible-yaml"):
        for host, got in reports[name].items():
            assert got["status"] == base[host]["status"] and got["benchmark"] == base[host]["benchmark"]
            for control, verdict in base[host]["controls"].items():
                assert got["controls"][control] == verdict, (name, host, control)
        assert set(reports[name]) == set(base)
