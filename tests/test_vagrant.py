"""The Vagrant recipe, without a hypervisor: the Vagrantfile parses (Debian's ruby) and, run by
Ruby against a recorder of Vagrant's configuration calls, defines the machines the inventory
names, with the provisioning scripts in order; the scripts pass shellcheck. Nothing here
contacts the Vagrant network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fleetbench.inventory import load_inventory

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "vagrant" / "provision").glob("*.sh"))

ruby = pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed (make test installs it)")

#: Vagrant.configure replaced by a recorder: prints each machine with its providers and provisioners
RECORDER = r"""
require "json"
class Recorder
  attr_reader :calls
  def initialize(calls, path) @calls, @path = calls, path end
  def method_missing(name, *args, **kw, &block)
    if block
      sub = Recorder.new(@calls, @path + [name.to_s] + args.map(&:to_s))
      block.call(sub)
    else
      @calls << {"at" => @path, "call" => name.to_s.chomp("="), "args" => args.map(&:to_s),
                 "kw" => kw.transform_keys(&:to_s).transform_values { |v| v.is_a?(Array) ? v.map(&:to_s) : v.to_s }}
      Recorder.new(@calls, @path + [name.to_s])
    end
  end
  def respond_to_missing?(*) true end
end
module Vagrant
  def self.configure(_version)
    calls = []
    yield Recorder.new(calls, [])
    puts JSON.generate(calls)
  end
end
load ARGV[0]
"""


def record(tmp_path: Path, **env: str) -> list[dict[str, object]]:
    """The Vagrantfile's configuration calls, evaluated by Ruby in a copy (its token goes there)."""
    work = tmp_path / "vagrant"
    work.mkdir(exist_ok=True)
    shutil.copy(ROOT / "Vagrantfile", work / "Vagrantfile")
    (tmp_path / "recorder.rb").write_text(RECORDER)
    keep = {k: v for k, v in os.environ.items() if k not in ("WORKERS", "DRIFT")}
    out = subprocess.run(["ruby", str(tmp_path / "recorder.rb"), str(work / "Vagrantfile")], env={**keep, **env},
                         check=True, capture_output=True, text=True, timeout=60)
    calls: list[dict[str, object]] = json.loads(out.stdout)
    return calls


def machines(calls: list[dict[str, object]]) -> dict[str, list[str]]:
    """machine name → its shell provisioners' script names, in order."""
    found: dict[str, list[str]] = {}
    for call in calls:
        at = call["at"]
        assert isinstance(at, list)
        if at[:2] == ["vm", "define"]:                   # config.vm.define NAME do |node| … end
            scripts = found.setdefault(at[2], [])
            kw = call["kw"]
            assert isinstance(kw, dict)
            if call["call"] == "provision" and "path" in kw:
                scripts.append(Path(kw["path"]).stem)
    return found


@ruby
def test_vagrantfile_syntax():
    out = subprocess.run(["ruby", "-c", str(ROOT / "Vagrantfile")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "Syntax OK" in out.stdout, out.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed (make test installs it)")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_provisioning_scripts_pass_shellcheck(script):
    out = subprocess.run(["shellcheck", "--severity=style", str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout
    assert script.read_text().startswith("#!/usr/bin/env bash\n") and os.access(script, os.X_OK)


@ruby
def test_the_vagrantfile_defines_the_machines_the_inventory_names(tmp_path):
    calls = record(tmp_path)
    nodes = machines(calls)
    assert nodes == {"cp-1": ["common", "control-plane"], "worker-1": ["common", "worker"],
                     "worker-2": ["common", "worker"]}
    inventory = {h.name: h for h in load_inventory(ROOT / "inventories" / "vagrant.yaml", check_files=False)}
    assert set(inventory) == set(nodes)
    assert inventory["cp-1"].roles == ("control-plane", "etcd") and inventory["worker-2"].roles == ("worker",)
    # the saved `vagrant ssh-config` beside the inventory; host keys still checked (~/.ssh/known_hosts)
    assert inventory["cp-1"].ssh.ssh_config == str(ROOT / "inventories" / "vagrant.ssh_config")
    for script in {s for scripts in nodes.values() for s in scripts}:
        assert (ROOT / "vagrant" / "provision" / f"{script}.sh").is_file()
    providers = {c["at"][2] for c in calls if c["at"][:2] == ["vm", "provider"]}  # type: ignore[index]
    assert providers == {"libvirt", "virtualbox"}
    token = (tmp_path / "vagrant" / ".vagrant" / "kubeadm-token").read_text().strip()
    assert len(token) == 23 and token[6] == "." and token.replace(".", "").isalnum() and token.islower()
    assert calls == record(tmp_path), "the token is kept: a second run gives the same configuration"


@ruby
def test_workers_and_drift_are_chosen_by_the_environment(tmp_path):
    nodes = machines(record(tmp_path, WORKERS="3", DRIFT="1"))
    assert list(nodes) == ["cp-1", "worker-1", "worker-2", "worker-3"]
    assert nodes["worker-3"] == ["common", "worker", "drift"] and "drift" not in nodes["worker-2"]
    drift = (ROOT / "vagrant" / "provision" / "drift.sh").read_text()
    assert "chmod 0666 /etc/kubernetes/kubelet.conf" in drift and "--anonymous-auth=true" in drift
