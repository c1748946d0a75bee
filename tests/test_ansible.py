"""Ansible inventories: detection by content, what is refused and how (one line, file:line, exit 2),
roles from groups, bastions. What ansible itself reads is compared in test_ansible_compat.py."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from fleetbench import ansible, ansible_source
from fleetbench.cli import main
from fleetbench.errors import InventoryError
from fleetbench.inventory import load_inventory

KEY = "ansible_ssh_private_key_file"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("name", "text", "kind"), [
    ("inv.yaml", "[kube_node]\nw1\n", "ansible-ini"),                     # INI whatever the extension
    ("hosts", "all:\n  hosts:\n    w1:\n", "ansible-yaml"),                 # YAML without one
    ("fleet.ini", "hosts:\n  w1: {roles: [worker]}\n", "fleetbench"),
    ("hosts.yml", "hosts:\n  hosts:\n    w1:\n", "ansible-yaml"),          # an Ansible group named hosts
    ("x", "w1 ansible_host=10.0.0.1\nw2:2222\n", "ansible-ini"),           # ungrouped INI hosts
])
def test_the_format_is_told_by_content(tmp_path, name, text, kind):
    assert ansible_source.kind_of(write(tmp_path / name, text)) == kind


def test_a_kubespray_directory_is_read_with_its_group_vars(tmp_path):
    inv = tmp_path / "mycluster"
    write(inv / "inventory.ini", "[kube_control_plane]\nnode1 ansible_host=10.0.0.1\n[etcd:children]\n"
                                 "kube_control_plane\n[kube_node]\nnode2 ansible_host=10.0.0.2\n")
    write(inv / "group_vars" / "all" / "all.yml", "ansible_user: ubuntu\nansible_become: true\n")
    write(inv / "group_vars" / "k8s_cluster" / "addons.yml", "helm_enabled: false\n")
    write(inv / "credentials" / "README.md", "not an inventory\n")
    hosts = {h.name: h for h in load_inventory(inv)}
    assert hosts["node1"].roles == ("control-plane", "etcd") and hosts["node2"].roles == ("worker",)
    assert hosts["node1"].ssh.user == "ubuntu" and hosts["node1"].ssh.become == "sudo -n"
    assert hosts["node1"].sources["user"] == f"{inv}/group_vars/all/all.yml:1"
    assert hosts["node2"].sources["address"] == f"{inv}/inventory.ini:6"


def test_json_output_names_every_field_and_its_source(tmp_path, capsys):
    key = write(tmp_path / "keys" / "id", "k")
    inv = write(tmp_path / "inventory.ini",
                "[bastion]\nbastion ansible_host=192.0.2.1 ansible_user=ops ansible_port=2201\n"
                f"[kube_node]\nw1 ansible_host=10.0.0.1 ansible_user=core {KEY}={key} ansible_become=yes\n")
    code, out, err = run(capsys, "inventory", str(inv), "--format", "json")
    assert code == 0, err
    (host,) = json.loads(out)["hosts"]
    assert host == {
        "name": "w1", "address": "10.0.0.1", "port": 22, "user": "core", "key_files": [str(key)],
        "jump": ["ops@192.0.2.1:2201"], "proxy_command": None, "become": "sudo -n", "roles": ["worker"],
        "groups": ["kube_node"], "cluster": "default", "known_hosts": None,
        "source": {"address": f"{inv}:4", "user": f"{inv}:4", "key_files": f"{inv}:4", "become": f"{inv}:4",
                   "jump": f"{inv}:2", "roles": "groups kube_node", "port": "default"}}
    code, out, _ = run(capsys, "inventory", str(inv))
    assert code == 0 and "ops@192.0.2.1:2201" in out and "(ssh config)" not in out


@pytest.mark.parametrize(("files", "where", "message"), [
    ({"inv": "#!/usr/bin/env python3\nprint('{}')\n"}, "inv:1", "ansible-inventory -i SOURCE --list -y > hosts.yml"),
    ({"inv.yml": "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n"}, "inv.yml:1", "inventory plugin"),
    ({"inv.yml": "$ANSIBLE_VAULT;1.1;AES256\n6331\n"}, "inv.yml:1", "ansible-vault"),
    ({"inv.ini": "[kube_node]\nw1\n", "group_vars/all.yml": "a: 1\nansible_user: !vault |\n  $ANSIBLE_VAULT;1.1\n"},
     "group_vars/all.yml:2", "ansible_user is vaulted"),
    ({"inv.ini": "[kube_node]\nw1 ansible_become=true ansible_become_method=su\n"}, "inv.ini:2", "'su' is not supported"),
    ({"inv.ini": "[kube_node]\nw1\n[monitoring]\nm1\n"}, "inv.ini:4", "host 'm1' has no role"),
    ({"inv.ini": "[kube_node]\nw1 ansible_host='{{ ip }}'\n"}, "inv.ini:2", "Jinja template"),
    ({"inv.ini": "[kube_node]\nw1 ansible_port=ssh\n"}, "inv.ini:2", "ansible_port must be a port number"),
    ({"inv.ini": "[kube_node:weird]\nw1\n"}, "inv.ini:1", "unknown type"),
    ({"inv.ini": "[kube_node]\nw1\n[extra:vars]\na=1\n"}, "inv.ini:3", "defined nowhere"),
    ({"inv.ini": "[k8s_cluster:children]\nkube_node\n"}, "inv.ini:2", "group 'kube_node', defined nowhere"),
    ({"inv.ini": "[kube_node]\nw1 ansible_user\n"}, "inv.ini:2", "expected key=value"),
    ({"inv.ini": "[kube_node]\nw[3:1]x\n"}, "inv.ini:2", "no host to scan"),
    ({"inv.ini": "[kube_node]\nw[a:1]\n"}, "inv.ini:2", "numbers or single letters"),
    ({"inv.ini": "[kube_node]\nw1 ansible_ssh_common_args='-o ProxyJump=a -J b'\n"}, "inv.ini:2", "Only a single -J"),
    ({"inv.ini": f"[kube_node]\nw1 {KEY}=/nonexistent/key\n"}, "inv.ini:2", "no such file"),
    ({"inv.yml": "all:\n  children:\n    kube_node:\n      hosts: [w1]\n"}, "inv.yml:4", "must be a mapping"),
])
def test_what_cannot_be_read_is_one_line_with_file_and_line(tmp_path, capsys, files, where, message):
    for name, text in files.items():
        write(tmp_path / name, text)
    first = tmp_path / next(iter(files))
    if "w[3:1]x" in files.get("inv.ini", ""):
        where = "inv"                       # an empty range: nothing to scan, said about the file
    code, out, err = run(capsys, "scan", str(first), "--out-dir", str(tmp_path / "out"))
    assert code == 2 and out == "", err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"fleetbench: error: {tmp_path}/{where}") and message in err, err
    assert not (tmp_path / "out").exists()


def test_a_vaulted_value_fleetbench_does_not_use_is_left_alone(tmp_path):
    write(tmp_path / "inv.ini", "[kube_node]\nw1\n")
    write(tmp_path / "group_vars" / "all.yml", "registry_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n")
    (host,) = load_inventory(tmp_path / "inv.ini")
    assert host.roles == ("worker",)


def test_an_executable_dynamic_script_is_refused_not_run(tmp_path):
    script = write(tmp_path / "ec2.py", "#!/usr/bin/python3\nimport json\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(InventoryError, match="dynamic inventory script"):
        load_inventory(script)


def test_roles_from_groups_role_map_and_fleetbench_roles(tmp_path, capsys):
    inv = write(tmp_path / "hosts", "[kube-master]\nm1\n[kube-node]\nn1\n[storage]\ns1\n[k8s-cluster:children]\n"
                                    "kube-master\nkube-node\n[ops]\no1 fleetbench_roles=etcd,worker fleetbench_cluster=ops\n")
    hosts = {h.name: h for h in load_inventory(inv, role_map={"storage": "node"})}
    assert hosts["m1"].roles == ("control-plane",) and hosts["n1"].roles == ("worker",)
    assert hosts["s1"].roles == ("worker",) and hosts["o1"].roles == ("etcd", "worker")
    assert hosts["o1"].cluster == "ops" and hosts["m1"].groups == ("k8s-cluster", "kube-master")
    code, _, err = run(capsys, "inventory", str(inv), "--role-map", "storage=database")
    assert code == 2 and err.startswith("fleetbench: error: --role-map: expected GROUP=ROLE")
    code, out, _ = run(capsys, "inventory", str(inv), "--role-map", "storage=worker", "--limit", "s*")
    assert code == 0 and "s1" in out and "m1" not in out


def test_role_map_on_a_fleetbench_inventory_is_refused(tmp_path, capsys):
    inv = write(tmp_path / "fleet.yaml", "hosts:\n  w1: {roles: [worker]}\n")
    code, _, err = run(capsys, "inventory", str(inv), "--role-map", "x=worker")
    assert code == 2 and "--role-map" in err


def test_kubespray_bastion_carries_every_host_unless_its_args_say_otherwise(tmp_path):
    inv = write(tmp_path / "inventory.ini",
                "[bastion]\nbastion ansible_host=198.51.100.7 ansible_user=jump\n"
                "[kube_node]\nw1\nw2 ansible_ssh_common_args=''\n"
                "w3 ansible_ssh_common_args='-o ProxyCommand=\"nc -x proxy:1080 %h %p\"'\n")
    hosts = {h.name: h for h in load_inventory(inv)}
    assert "bastion" not in hosts
    assert hosts["w1"].ssh.jump == "jump@198.51.100.7" and hosts["w2"].ssh.jump is None
    assert hosts["w3"].ssh.jump is None and hosts["w3"].ssh.proxy_command == "nc -x proxy:1080 %h %p"


@pytest.mark.parametrize(("command", "jump"), [
    ("ssh -W %h:%p -q bastion", "bastion"),
    ("ssh -o StrictHostKeyChecking=no -W %h:%p -p 2202 core@b4 -i /k/id", "core@b4:2202"),
    ("/usr/bin/ssh -l ops -W %h:%p 2001:db8::1", "ops@[2001:db8::1]"),
    ("ssh -W %h:22 bastion", None),                 # not the target's own port: kept as a ProxyCommand
    ("ssh -J a -W %h:%p b", None),
    ("nc %h %p", None),
])
def test_kubesprays_proxy_command_becomes_a_jump(command, jump):
    assert ansible.jump_of_proxy_command(command) == jump


def test_ranges_expand_as_ansible_does():
    assert ansible_source.expand_pattern("worker[01:03]", "x") == (["worker01", "worker02", "worker03"], None)
    assert ansible_source.expand_pattern("etcd[a:c]:2379", "x") == (["etcda", "etcdb", "etcdc"], 2379)
    assert ansible_source.expand_pattern("n[0:10:5]-[x:y]", "x")[0] == ["n0-x", "n0-y", "n5-x", "n5-y", "n10-x", "n10-y"]
    assert ansible_source.expand_pattern("[2001:db8::1]:2222", "x") == (["2001:db8::1"], 2222)
    assert ansible_source.expand_pattern("2001:db8::1", "x") == (["2001:db8::1"], None)


def test_inventory_folder_reads_every_source_but_ignored_files(tmp_path):
    write(tmp_path / "a.ini", "[kube_node]\nw1\n")
    write(tmp_path / "b.yml", "kube_control_plane:\n  hosts:\n    c1:\n")
    for ignored in ("notes.md", "old.ini.bak", ".hidden", "ansible.cfg", "x.retry"):
        write(tmp_path / ignored, "[kube_node]\nghost\n")
    assert [h.name for h in load_inventory(tmp_path)] == ["w1", "c1"]
    assert os.path.isdir(tmp_path)
