"""The shipped inventories that lean on an ssh config: resolved without contacting anything.

Vagrant: a recorded ``vagrant ssh-config`` output (tests/fixtures/sshconfig/vagrant.ssh_config,
written as vagrant writes it: 127.0.0.1 with forwarded ports, per-machine private_key,
``UserKnownHostsFile /dev/null``, ``StrictHostKeyChecking no``) beside inventories/vagrant.yaml
resolves each host to its block, and host keys are still checked, against the inventory's
known_hosts (the default, ``~/.ssh/known_hosts``). The ssh-config-only example resolves as ``ssh -G`` reads its config.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fleetbench.cli import main
from fleetbench.connect import Connector, Settings
from fleetbench.inventory import load_inventory
from fleetbench.sshconfig import resolve

from .test_sshconfig import home, ssh_g  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
VAGRANT_CONFIG = ROOT / "tests" / "fixtures" / "sshconfig" / "vagrant.ssh_config"


@pytest.fixture
def vagrant_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "inventories"
    folder.mkdir()
    shutil.copy(ROOT / "inventories" / "vagrant.yaml", folder / "vagrant.yaml")
    shutil.copy(VAGRANT_CONFIG, folder / "vagrant.ssh_config")
    return folder


def test_a_recorded_vagrant_ssh_config_gives_each_host_its_block(vagrant_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)              # the config is found relative to the inventory, not the cwd
    hosts = {h.name: resolve(h) for h in load_inventory(vagrant_folder / "vagrant.yaml", check_files=False)}
    machines = "/home/dev/fleetbench/.vagrant/machines"
    assert {n: (h.address, h.ssh.port, h.ssh.user, h.ssh.key_files) for n, h in hosts.items()} == {
        "cp-1": ("127.0.0.1", 2222, "vagrant", (f"{machines}/cp-1/virtualbox/private_key",)),
        "worker-1": ("127.0.0.1", 2200, "vagrant", (f"{machines}/worker-1/virtualbox/private_key",)),
        "worker-2": ("127.0.0.1", 2201, "vagrant",
                     ("/home/dev/fleet bench/.vagrant/machines/worker-2/virtualbox/private_key",)),
    }
    connector = Connector(Settings())
    for h in hosts.values():                 # /dev/null and StrictHostKeyChecking no change nothing
        assert h.ssh.known_hosts is None and h.ssh.jump is None and h.ssh.proxy_command is None
        assert connector.known_hosts_files(h.address, h.ssh) == (os.path.expanduser("~/.ssh/known_hosts"),)
        assert h.sources["port"] == f"{vagrant_folder / 'vagrant.ssh_config'}:{_line(h.name, 'Port')}"
    assert hosts["cp-1"].roles == ("control-plane", "etcd") and hosts["worker-2"].ssh.become == "sudo -n"


def _line(block: str, keyword: str) -> int:
    lines = VAGRANT_CONFIG.read_text().splitlines()
    start = lines.index(f"Host {block}")
    return next(i + 1 for i in range(start, len(lines)) if lines[i].strip().startswith(keyword + " "))


def test_fleetbench_inventory_prints_the_resolved_vagrant_hosts(vagrant_folder, capsys):
    assert main(["inventory", str(vagrant_folder / "vagrant.yaml")]) == 0
    out = capsys.readouterr().out
    assert "(ssh config)" not in out
    rows = {line.split()[0]: line.split()[1:4] for line in out.splitlines()[2:]}
    assert rows == {"cp-1": ["127.0.0.1", "2222", "vagrant"], "worker-1": ["127.0.0.1", "2200", "vagrant"],
                    "worker-2": ["127.0.0.1", "2201", "vagrant"]}


def test_ssh_config_flag_wins_over_the_inventory_key(vagrant_folder, tmp_path, capsys):
    other = tmp_path / "other_config"
    other.write_text("Host *\n  HostName 127.0.0.9\n  Port 2299\n  User other\n")
    assert main(["inventory", str(vagrant_folder / "vagrant.yaml"), "--ssh-config", str(other)]) == 0
    out = capsys.readouterr().out
    assert out.count("127.0.0.9") == 3 and "2222" not in out


def test_a_bad_ssh_config_line_is_an_input_error_before_any_contact(vagrant_folder, capsys):
    config = vagrant_folder / "vagrant.ssh_config"
    config.write_text(config.read_text().replace("Port 2200", "Port twenty-two-hundred"))
    assert main(["scan", str(vagrant_folder / "vagrant.yaml"), "--out-dir", str(vagrant_folder / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"fleetbench: error: {config}:{_line('worker-1', 'Port')}: Port must be a number 1-65535, "
                   "got 'twenty-two-hundred'")
    assert not (vagrant_folder / "out").exists()


@pytest.mark.skipif(shutil.which("ssh") is None, reason="the OpenSSH client is not installed")
def test_the_ssh_config_example_resolves_as_ssh_G_reads_it(home):
    inventory = ROOT / "inventories" / "ssh-config" / "hosts.yaml"
    config = inventory.parent / "ssh_config"
    for h in load_inventory(inventory, check_files=False):
        got = resolve(h)
        want = ssh_g(config, h.name, home)
        assert (got.address, got.ssh.port, got.ssh.user, got.ssh.key_files, got.ssh.jump, got.ssh.connect_timeout) \
            == (want["hostname"], want["port"], want["user"], want["identity_files"], want["proxy_jump"],
                want["connect_timeout"])
        assert got.ssh.known_hosts == (want["known_hosts"] or (None,))[0]
        assert got.ssh.jump is not None
