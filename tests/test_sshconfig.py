"""fleetbench.sshconfig against the real OpenSSH client: ``ssh -G`` field by field.

Every target of the fixture configs is looked up both ways. ``ssh -G -F FILE TARGET`` prints
what ssh would use (HOME points at a temp dir, so this machine's own config never leaks in: with
``-F`` ssh reads nothing else, and relative ``Include`` goes to the temp ``~/.ssh``).
``ssh -G`` prints IdentityFile unexpanded, so the expanded paths come from ``ssh -v`` with a
ProxyCommand of ``true`` (it reports each identity file it loads, contacting nothing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fleetbench.models import Host, SSHSettings
from fleetbench.sshconfig import SSHConfigError, lookup, resolve

pytestmark = pytest.mark.skipif(shutil.which("ssh") is None, reason="the OpenSSH client is not installed")

FIXTURES = Path(__file__).parent / "fixtures" / "sshconfig"
_DEFAULT_IDS = {f"~/.ssh/id_{k}" for k in ("rsa", "ecdsa", "ecdsa_sk", "ed25519", "ed25519_sk", "xmss", "dsa")}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "conf.d").symlink_to(FIXTURES / "conf.d")
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _run(argv: list[str], home: Path) -> str:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    return done.stdout + done.stderr


def ssh_g(config: Path, target: str, home: Path, *options: str) -> dict[str, object]:
    """ssh's own answer: the compared fields, normalised the way :class:`Lookup` holds them."""
    out = _run(["ssh", "-G", "-F", str(config), *options, target], home)
    first: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        first.setdefault(key.lower(), value)
    assert "hostname" in first, out
    verbose = _run(["ssh", "-v", "-F", str(config), "-o", "ProxyCommand=true", "-o", "BatchMode=yes",
                    *options, target], home)
    ids = [line.split("identity file ", 1)[1].rsplit(" type ", 1)[0] for line in verbose.splitlines()
           if "identity file " in line and not line.split(" type ")[0].endswith("-cert")]
    raw_ids = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("identityfile ")]
    explicit = [] if set(raw_ids) <= _DEFAULT_IDS else ids
    known = first["userknownhostsfile"].split()
    default_known = known == [f"{Path(os.path.expanduser('~' + _user())) }/.ssh/known_hosts",
                              f"{Path(os.path.expanduser('~' + _user()))}/.ssh/known_hosts2"]
    timeout = first["connecttimeout"]
    return {
        "hostname": first["hostname"], "port": int(first["port"]), "user": first["user"],
        "identity_files": tuple(dict.fromkeys(explicit)),
        "proxy_jump": first.get("proxyjump"), "proxy_command": first.get("proxycommand"),
        "known_hosts": () if default_known else tuple(k for k in known if k not in ("/dev/null", "none")),
        "connect_timeout": None if timeout in ("none", "0") else float(timeout),
    }


def _user() -> str:
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def ours(config: Path, target: str, **preset: object) -> dict[str, object]:
    found = lookup(target, str(config), **preset)  # type: ignore[arg-type]
    return {"hostname": found.hostname, "port": found.port, "user": found.user,
            "identity_files": found.identity_files, "proxy_jump": found.proxy_jump,
            "proxy_command": found.proxy_command, "known_hosts": found.known_hosts,
            "connect_timeout": found.connect_timeout}


TARGETS = [
    "db.internal",            # wildcard + ProxyJump chain
    "bastion.internal",       # negated out of the chain; its own HostName/User
    "web1", "web-front",      # %h in HostName, IdentityFile adding up with ~ %h %r %d %u %p, quoted path
    "legacy",                 # ProxyCommand first: the later ProxyJump is ignored
    "direct", "nojump-x.corp",  # ProxyJump none cancels a later ProxyJump
    "app.corp",               # ProxyJump one hop
    "alias-a", "alias-b",     # Match host on the expanded HostName; Match originalhost
    "192.168.56.11",          # an ansible_host-style address as target
    "inc-a", "inc-b", "inc-c",  # Include with a glob relative to ~/.ssh; Match inside an include
    "plain", "UPPER",         # only Host *: first value wins over it; case as ssh
]


@pytest.mark.parametrize("target", TARGETS)
def test_lookup_matches_ssh_G(home, target):
    config = FIXTURES / "main.conf"
    assert ours(config, target) == ssh_g(config, target, home)


@pytest.mark.parametrize("target,preset,options", [
    ("192.168.56.11", {"user": "admin"}, ["-o", "User=admin"]),          # ansible_user + ansible_host
    ("plain", {"user": "admin", "port": 2200}, ["-o", "User=admin", "-o", "Port=2200"]),
    ("db.internal", {"proxy_jump": "me@other:22"}, ["-o", "ProxyJump=me@other:22"]),
    ("web1", {"identity_files": ("/inv/key",)}, ["-o", "IdentityFile=/inv/key"]),
    ("alias-a", {"connect_timeout": 4.0, "known_hosts": "/inv/kh"},
     ["-o", "ConnectTimeout=4", "-o", "UserKnownHostsFile=/inv/kh"]),
])
def test_inventory_values_act_like_ssh_dash_o(home, target, preset, options):
    config = FIXTURES / "main.conf"
    assert ours(config, target, **preset) == ssh_g(config, target, home, *options)


@pytest.mark.parametrize("target", ["cp-1", "worker-1", "worker-2"])
def test_a_recorded_vagrant_ssh_config_reads_as_ssh_reads_it(home, target):
    config = FIXTURES / "vagrant.ssh_config"
    assert ours(config, target) == ssh_g(config, target, home)


def test_resolve_names_file_and_line_of_each_field_taken_from_the_config(home):
    config = FIXTURES / "main.conf"
    host = Host(name="web1", address="web1", roles=("worker",), groups=(), paths={}, origin="inv.yaml:3",
                ssh=SSHSettings(ssh_config=str(config), port=2022))
    got = resolve(host)
    assert got.address == "web1.example.com" and got.ssh.port == 2022 and got.ssh.user == "deploy"
    assert got.ssh.key_files[0] == f"{Path(os.path.expanduser('~' + _user()))}/.ssh/id_web1.example.com_deploy"
    assert got.ssh.connect_timeout == 7.0
    assert got.sources["address"] == f"{config}:12" and got.sources["user"] == f"{config}:13"
    assert got.sources["key_files"] == f"{config}:14" and got.sources["connect_timeout"] == f"{config}:2"
    assert got.sources["known_hosts"] == f"{config}:55" and "port" not in got.sources


@pytest.mark.parametrize("text,line,message", [
    ("Host a\n  Match exec true\n", 2, "Match exec is not supported"),
    ("Match localnetwork 10.0.0.0/8\n", 1, "Match localnetwork is not supported"),
    ("Host *\n  Port http\n", 2, "Port must be a number 1-65535, got 'http'"),
    ("Host *\n  HostKeyAlias other\n", 2, "HostKeyAlias is not supported"),
    ("Host *\n  ProxyJump a,,b\n", 2, "an empty hop between commas"),
    ("Host *\n  IdentityFile ~/%C\n", 2, "token %C is not supported"),
    ("Match host\n", 1, "Match host needs a pattern list"),
])
def test_a_config_line_fleetbench_cannot_read_as_ssh_is_an_error_at_its_line(tmp_path, text, line, message):
    config = tmp_path / "cfg"
    config.write_text(text)
    with pytest.raises(SSHConfigError) as err:
        lookup("a", str(config))
    assert str(err.value).startswith(f"{config}:{line}") and message in str(err.value)


def test_a_block_that_does_not_match_is_not_refused(tmp_path):
    config = tmp_path / "cfg"
    config.write_text("Host other\n  HostKeyAlias x\n  Port 5\nHost a\n  Port 6\n")
    assert lookup("a", str(config)).port == 6


def test_an_include_readable_by_others_for_writing_is_refused_as_ssh_does(home, tmp_path):
    inc = tmp_path / "loose.conf"
    inc.write_text("Port 5\n")
    inc.chmod(0o666)
    config = tmp_path / "cfg"
    config.write_text(f"Include {inc}\n")
    with pytest.raises(SSHConfigError, match="bad owner or permissions"):
        lookup("a", str(config))
    assert "Bad owner or permissions" in _run(["ssh", "-G", "-F", str(config), "a"], home)


def _host_with(config: Path, jump: str | None = None, name: str = "t") -> Host:
    return Host(name=name, address=name, roles=("worker",), groups=(), paths={}, origin="inv.yaml:1",
                ssh=SSHSettings(ssh_config=str(config), jump=jump))


def test_each_hop_is_looked_up_under_its_own_name_as_ssh_J_does(tmp_path):
    from fleetbench.sshconfig import resolve_hops
    config = tmp_path / "cfg"
    config.write_text("Host gw\n  HostName 10.0.0.1\n  User ops\n  Port 2222\n  IdentityFile /k/gw\n"
                      "Host inner\n  HostName 10.1.0.1\n  ProxyJump elsewhere\n"
                      "Host *\n  ProxyJump gw\n")
    hops = resolve_hops(resolve(_host_with(config, "gw,me@inner:23")))
    assert [(h.hostname, h.port, h.user, h.identity_files) for h in hops] == [
        ("10.0.0.1", 2222, "ops", ("/k/gw",)), ("10.1.0.1", 23, "me", ())]   # inner's own ProxyJump: ignored


def test_a_first_hop_with_its_own_jump_is_refused(tmp_path):
    from fleetbench.sshconfig import resolve_hops
    config = tmp_path / "cfg"
    config.write_text("Host gw\n  ProxyJump outer\n")
    with pytest.raises(ValueError, match="nested jumps are not supported"):
        resolve_hops(resolve(_host_with(config, "gw")))
