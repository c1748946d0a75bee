"""End to end through a bastion: one lab node is the jump host, the others are reached only through it.

How "only through it" is made honest on a lab whose nodes share one network namespace: the
targets are named ``worker-1.behind`` and ``worker-2.behind``, names that exist only in the
bastion's own ``/etc/hosts`` (a file of its overlay root). The scanner never resolves them (it
could not: this machine has no such names); the bastion's sshd resolves them when it opens the
forwarded connection, exactly as a bastion in front of a private network does.

Counted on the bastion's sshd log: one accepted SSH connection per scan, whatever the number of
hosts behind it. The first scan comes from an ssh config with aliases (bastion from the config,
first contact with ``--accept-new-host-keys`` into a known_hosts file written by ``ssh-keyscan -H``
against the bastion, so hashed entries are read and new ones written hashed); the second from the
inventory's own ``jump:``, verifying the keys recorded by the first. Verdicts equal a direct scan.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from fleetbench.cli import main
from tests.lab import FileSpec, Lab, drifted_worker, kubeadm_worker

pytestmark = pytest.mark.skipif(shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists(),
                                reason="openssh-server is not installed (make test installs it)")

OCTETS = "127.81.0."
BEHIND = ("worker-1", "worker-2")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    bastion = kubeadm_worker("bastion")
    bastion.files.append(FileSpec("/etc/hosts", "127.0.0.1 localhost\n" + "".join(
        f"{OCTETS}{11 + i} {name}.behind\n" for i, name in enumerate(BEHIND))))
    specs = [bastion, kubeadm_worker("worker-1"), drifted_worker("worker-2")]
    with Lab(tmp_path_factory.mktemp("lab"), specs, first_octets=OCTETS) as running:
        yield running


def _accepted(lab: Lab) -> int:
    log = lab.state_dir / "nodes" / "bastion" / "sshd.log"
    return sum("Accepted publickey for root" in line for line in log.read_text().splitlines())


def _scan(inventory: Path, out: Path, *extra: str) -> tuple[int, dict[str, dict]]:
    code = main(["scan", str(inventory), "--out-dir", str(out), "--flat", "--format", "json", "--quiet", *extra])
    data = json.loads((out / "report.json").read_text())
    return code, {h["name"]: h for h in data["hosts"]}


def _verdicts(host: dict) -> dict[str, str]:
    assert host["status"] == "ok", host["error"]
    return {r["id"]: r["status"] for r in host["results"]}


def test_hosts_behind_a_bastion_share_one_connection_to_it(lab, tmp_path):
    port, key = lab.port, lab.client_key_path
    keyscan = subprocess.run(["ssh-keyscan", "-H", "-t", "ed25519", "-p", str(port), lab.address("bastion")],
                             capture_output=True, text=True, check=True, timeout=30)
    kh = tmp_path / "known_hosts"
    kh.write_text(keyscan.stdout)
    assert keyscan.stdout.startswith("|1|")

    # 1. ssh config with aliases; the bastion comes from the config; first contact for the targets
    folder = tmp_path / "aliases"
    folder.mkdir()
    (folder / "ssh_config").write_text(textwrap.dedent(f"""\
        Host worker-*
          HostName %h.behind
          ProxyJump bastion
        Host bastion
          HostName {lab.address("bastion")}
        Host *
          User root
          Port {port}
          IdentityFile {key}
          UserKnownHostsFile {kh}
          StrictHostKeyChecking no
        """))
    (folder / "hosts.yaml").write_text("defaults: {ssh_config: ssh_config}\ngroups:\n  workers: {roles: [worker]}\nhosts:\n"
                                       + "".join(f"  {n}: {{groups: [workers]}}\n" for n in BEHIND))
    before = _accepted(lab)
    code, by_config = _scan(folder / "hosts.yaml", tmp_path / "out1", "--accept-new-host-keys")
    assert _accepted(lab) - before == 1
    assert code == 3 and set(by_config) == set(BEHIND)
    for name in BEHIND:
        h = by_config[name]
        assert h["address"] == f"{name}.behind" and h["known_hosts"] == str(kh)
        assert h["accepted_host_key"].startswith("ssh-ed25519 SHA256:")
        assert h["accepted_host_key"].endswith(f"recorded in {kh} as [{name}.behind]:{port}")
    lines = kh.read_text().splitlines()
    assert len(lines) == 3 and all(line.startswith("|1|") for line in lines)
    lab_keys = {line.split()[0]: line.split()[2] for line in lab.known_hosts_path.read_text().splitlines()}
    for i in range(len(BEHIND)):           # the recorded keys are the nodes' real ones
        assert lab_keys[f"[{OCTETS}{11 + i}]:{port}"] in kh.read_text()

    # 2. the inventory's own jump; the keys recorded above are now verified (no flag)
    inventory = tmp_path / "jump.yaml"
    inventory.write_text(textwrap.dedent(f"""\
        defaults: {{user: root, port: {port}, key_files: [{key}], known_hosts: {kh}, ssh_config: none,
                   jump: "root@{lab.address('bastion')}:{port}", roles: [worker]}}
        hosts:
        """) + "".join(f"  {n}: {{address: {n}.behind}}\n" for n in BEHIND))
    before = _accepted(lab)
    code, by_jump = _scan(inventory, tmp_path / "out2")
    assert _accepted(lab) - before == 1
    assert all(h["accepted_host_key"] is None for h in by_jump.values())

    # 3. the same nodes scanned directly by address: the same verdicts
    direct = tmp_path / "direct.yaml"
    direct.write_text(f"defaults: {{user: root, port: {port}, key_files: [{key}], known_hosts: {lab.known_hosts_path}, "
                      "ssh_config: none, roles: [worker]}\nhosts:\n"
                      + "".join(f"  {n}: {{address: {lab.address(n)}}}\n" for n in BEHIND))
    _, by_address = _scan(direct, tmp_path / "out3")
    for name in BEHIND:
        assert _verdicts(by_config[name]) == _verdicts(by_jump[name]) == _verdicts(by_address[name])
    assert "FAIL" in _verdicts(by_address["worker-2"]).values()
