"""The loopback lab: simulated kubeadm nodes that a scanner reaches over real SSH.

Why: fleetbench audits hosts over SSH, reading files, modes, owners, users and
/proc.  To test it end to end without VMs, each simulated node is a set of
Linux namespaces that looks like a separate host from the inside, yet costs
only a handful of sleeping processes, so hundreds fit on one machine.

What a node is:

* a PID, mount and UTS namespace (``unshare --mount --pid --uts --fork
  --kill-child --propagation private``) whose PID 1 is ``lab-init``
  (``lab-init.c``, compiled into the state dir at start);
* a root filesystem that is an overlayfs: the host's ``/`` as lower layer,
  ``<state>/nodes/<name>/upper`` as upper layer.  The node shares the host's
  /usr, /lib, ... but everything the lab writes (kubeadm files, /etc/passwd
  with ``etcd`` and ``auditor``, sshd config and host key, the stub binaries)
  exists only in the upper dir, never on the host;
* a fresh /proc showing only the node's processes, the host's /dev, fresh
  tmpfs on /tmp and /run, its own hostname, and the lab state dir hidden
  under an empty tmpfs (it would otherwise show through the lower layer);
* stub processes (``stub.c``) placed at the real binary paths and exec'd with
  the exact argv and environment of the scenario, so /proc/<pid>/comm,
  cmdline, environ and exe look like the real components;
* a real OpenSSH ``sshd -D -e`` listening on the node's own loopback address
  (127.77.0.N, port 2222 by default) with a per-node ed25519 host key.

Nodes share the host's network namespace: every node listens on its own
127.0.0.0/8 address, and nothing here ever connects anywhere else.

State directory (``<repo>/.lab`` for the CLI)::

    id_ed25519, id_ed25519.pub   client key (root and auditor accept it)
    known_hosts                  every node's host key as [addr]:port
    inventory.yaml               fleetbench inventory for the lab
    lab.json                     recorded PIDs (pid + start time) per node
    bin/{stub,lab-init}          compiled at start()
    nodes/<name>/upper, work     the overlay layers (upper = node's own files)
    nodes/<name>/merged          mount point of the node's root (inside it only)
    nodes/<name>/boot            what lab-init must run (see lab-init.c)
    nodes/<name>/init.log        lab-init's messages
    nodes/<name>/sshd.log        sshd's log (-e), plus lab-init's sshd exit notes
    nodes/<name>/init.pid        host PID of the node's PID 1

Processes are only ever signalled by the PID recorded in lab.json, and only
if their start time still matches, so a recycled PID is never hit.
"""

from __future__ import annotations

import concurrent.futures
import grp
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

from tests.lab.scenarios import default_specs
from tests.lab.specs import ROLE_GROUPS, FileSpec, NodeSpec

SOURCE_DIR = Path(__file__).resolve().parent
UNSHARE = "/usr/bin/unshare"
NSENTER = "/usr/bin/nsenter"
SSHD = "/usr/sbin/sshd"
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"
STOP_GRACE = 3.0  # seconds between SIGTERM and SIGKILL
SSHD_EXIT_NOTE = "lab-init: sshd ("  # what lab-init writes to sshd.log when sshd exits
_HOSTNAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class LabError(RuntimeError):
    """The lab could not be built, started, driven or stopped."""


@dataclass(frozen=True)
class NodeStatus:
    """One node as recorded in lab.json, with what is observable right now."""

    name: str
    address: str
    port: int
    role_group: str
    init_pid: int | None
    running: bool
    ssh: bool
    procs: list[str]


# ---- processes we started --------------------------------------------------


@dataclass(frozen=True)
class _Proc:
    """A process identified by PID and start time (immune to PID reuse)."""

    pid: int
    start: int

    @staticmethod
    def _stat(pid: int) -> tuple[str, int] | None:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return None
        fields = text[text.rindex(")") + 2 :].split()
        return fields[0], int(fields[19])  # state, starttime (fields 3 and 22)

    @classmethod
    def of(cls, pid: int) -> _Proc | None:
        st = cls._stat(pid)
        return cls(pid, st[1]) if st else None

    def alive(self) -> bool:
        """True while this very process exists and is not a zombie."""
        st = self._stat(self.pid)
        return st is not None and st[1] == self.start and st[0] not in ("Z", "X")

    def send(self, sig: signal.Signals) -> None:
        """Signal the process, unless it has ended (or its PID was reused)."""
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass


# ---- node accounts -----------------------------------------------------------


@dataclass(frozen=True)
class _Accounts:
    """The node's users and groups: the host's plus ``etcd`` and ``auditor``."""

    uids: dict[str, int]
    gids: dict[str, int]
    files: list[FileSpec]  # /etc/passwd, group, shadow, gshadow for the node

    @classmethod
    def build(cls) -> _Accounts:
        def read(path: str) -> list[str]:
            p = Path(path)
            return p.read_text().splitlines() if p.exists() else []

        passwd, group, shadow, gshadow = (read(f"/etc/{n}") for n in ("passwd", "group", "shadow", "gshadow"))
        uids = {f[0]: int(f[2]) for f in (line.split(":") for line in passwd if line and line[0] != "#")}
        gids = {f[0]: int(f[2]) for f in (line.split(":") for line in group if line and line[0] != "#")}
        taken = set(uids.values()) | set(gids.values())
        today = int(time.time() // 86400)

        def free(candidates: range | list[int]) -> int:
            return next(i for i in candidates if i not in taken)

        # name, candidate ids, gecos, home, shell, shadow password ("!*" locked,
        # "*" no password but not locked: sshd with UsePAM=no refuses "!" accounts)
        for name, candidates, gecos, home, shell, password in (
            ("etcd", [990, *range(989, 900, -1)], "etcd user", "/var/lib/etcd", "/usr/sbin/nologin", "!*"),
            ("auditor", range(1000, 60000), "fleetbench auditor", "/home/auditor", "/bin/bash", "*"),
        ):
            if name in uids:
                continue
            ident = gids[name] if name in gids else free(candidates)
            taken.add(ident)
            uids[name] = ident
            passwd.append(f"{name}:x:{ident}:{ident}:{gecos}:{home}:{shell}")
            shadow.append(f"{name}:{password}:{today}:0:99999:7:::")
            if name not in gids:
                gids[name] = ident
                group.append(f"{name}:x:{ident}:")
                gshadow.append(f"{name}:!::")
        # Key-only root logins must work with UsePAM=no, which rejects locked ("!") accounts.
        shadow = [re.sub(r"^root:!+", "root:", line) if line.startswith("root:!") else line for line in shadow]

        files = []
        for name, lines in (("passwd", passwd), ("group", group), ("shadow", shadow), ("gshadow", gshadow)):
            host = Path(f"/etc/{name}")
            st = host.stat() if host.exists() else None
            files.append(
                FileSpec(
                    f"/etc/{name}",
                    "\n".join(lines) + "\n",
                    stat.S_IMODE(st.st_mode) if st else 0o644,
                    owner=next((u for u, i in uids.items() if st and i == st.st_uid), "root"),
                    group=grp.getgrgid(st.st_gid).gr_name if st else "root",
                )
            )
        return cls(uids, gids, files)


# ---- writing a node's upper layer ------------------------------------------


def _node_path(path: str) -> PurePosixPath:
    p = PurePosixPath(path)
    if not p.is_absolute() or ".." in p.parts or p == PurePosixPath("/"):
        raise LabError(f"{path!r}: node paths must be absolute, below /, without '..'")
    return p


def _ensure_parents(upper: Path, path: PurePosixPath) -> None:
    """Create path's parent dirs in the upper layer, mirroring the host's.

    An upper-layer directory's mode and owner win over the lower one's, so a
    parent the host already has (/etc, /root, /var/lib ...) is created with
    the host's mode and owner; one the host lacks gets 0755 root:root.
    """
    host = PurePosixPath("/")
    for part in path.parent.parts[1:]:
        host = host / part
        if os.path.islink(host):
            raise LabError(f"{path}: {host} is a symlink on the host; use the path it resolves to")
        upper_dir = upper / host.relative_to("/")
        if upper_dir.is_dir():
            continue
        upper_dir.mkdir()
        st = os.stat(host) if os.path.isdir(host) else None
        os.chown(upper_dir, st.st_uid if st else 0, st.st_gid if st else 0)
        os.chmod(upper_dir, stat.S_IMODE(st.st_mode) if st else 0o755)


def _write_entry(upper: Path, spec: FileSpec, accounts: _Accounts) -> None:
    path = _node_path(spec.path)
    try:
        uid, gid = accounts.uids[spec.owner], accounts.gids[spec.group]
    except KeyError as e:
        raise LabError(f"{spec.path}: unknown owner or group {e} in the node's accounts") from None
    _ensure_parents(upper, path)
    dst = upper / path.relative_to("/")
    if spec.kind == "dir":
        dst.mkdir(exist_ok=True)
    elif spec.kind == "fifo":
        if os.path.lexists(dst):
            dst.unlink()
        os.mkfifo(dst)
    elif spec.kind == "symlink":
        if spec.target is None:
            raise LabError(f"{spec.path}: a symlink needs a target")
        if os.path.lexists(dst):
            dst.unlink()
        os.symlink(spec.target, dst)
    else:
        content = spec.content if spec.content is not None else b""
        dst.write_bytes(content.encode() if isinstance(content, str) else content)
    os.lchown(dst, uid, gid)
    if spec.kind != "symlink":
        os.chmod(dst, spec.mode)  # after chown, which would clear set-id bits


def _ssh_keygen(path: Path, comment: str) -> None:
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )


#: a lab node's /root/.bashrc and /root/.profile: what a freshly installed node has, nothing more
_NODE_BASHRC = "# ~/.bashrc of a loopback-lab node (generated by tests/lab): nothing to run\n"
_NODE_PROFILE = '# ~/.profile of a loopback-lab node (generated by tests/lab)\n[ -n "$BASH" ] && [ -f ~/.bashrc ] && . ~/.bashrc\n'


def _sshd_config(address: str, port: int) -> str:
    return f"""\
# sshd_config of a loopback-lab node (generated by tests/lab)
ListenAddress {address}:{port}
HostKey {HOST_KEY}
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
UseDNS no
MaxStartups 100:30:200
MaxSessions 50
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def _boot_file(spec: NodeSpec, hide: list[str]) -> bytes:
    """The token stream lab-init reads (format documented in lab-init.c)."""

    def command(exe: str, argv: list[str], env: dict[str, str]) -> list[str]:
        for key in env:
            if not key or "=" in key:
                raise LabError(f"{spec.name}: bad environment variable name {key!r}")
        return [exe, str(len(argv)), *argv, str(len(env)), *(f"{k}={v}" for k, v in env.items())]

    tokens = ["hostname", spec.name]
    for path in hide:
        tokens += ["hide", path]
    for proc in spec.procs:
        if not proc.argv:
            raise LabError(f"{spec.name}: {proc.exe} needs a non-empty argv")
        tokens += ["proc", *command(proc.exe, proc.argv, proc.env)]
    tokens += ["sshd", *command(SSHD, [SSHD, "-D", "-e", "-f", "/etc/ssh/sshd_config"], {"PATH": NODE_PATH})]
    if any("\0" in t for t in tokens):
        raise LabError(f"{spec.name}: NUL byte in argv or environment")
    return b"".join(t.encode() + b"\0" for t in tokens)


def _inherited_fds() -> list[int]:
    """Our inheritable descriptors above stderr (e.g. from the calling shell).

    Long-lived node processes must not keep them open: a pipe held by a
    daemonised node would keep whoever reads its other end waiting for EOF.
    """
    fds = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd > 2 and os.get_inheritable(fd):
                fds.append(fd)
        except OSError:  # the descriptor listdir itself used, now closed
            pass
    return fds


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _ssh_banner(address: str, port: int, timeout: float = 1.0) -> bool:
    """True if an SSH-2.0 server answers on address:port."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            banner = sock.recv(256)
            sock.sendall(b"SSH-2.0-fleetbench-lab-probe\r\n")
            return banner.startswith(b"SSH-2.0")
    except OSError:
        return False


def _port_refuses(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def _host_addresses(first: str) -> Iterator[ipaddress.IPv4Address]:
    """``first``, then the next loopback addresses, skipping each /24's .0 and .255.

    Within one /24 node i gets ``first + i`` as it always did; a fleet larger than what is left of
    the /24 (the 1,000-node benchmark) carries on into the next one: 127.90.0.254, 127.90.1.1, ...
    """
    try:
        ip = ipaddress.ip_address(first)
    except ValueError:
        raise LabError(f"{first!r} is not an IPv4 address") from None
    if not isinstance(ip, ipaddress.IPv4Address) or not ip.is_loopback or int(ip) & 0xFF in (0, 255):
        raise LabError(f"{first}: the lab only uses 127.0.0.0/8 host addresses")
    while True:
        if int(ip) & 0xFF not in (0, 255):
            if not ip.is_loopback:
                raise LabError(f"{ip}: the lab only uses 127.0.0.0/8 host addresses (too many nodes)")
            yield ip
        ip += 1


# ---- the lab -------------------------------------------------------------------


class Lab:
    """A set of simulated nodes living in one state directory.

    Node i of ``specs`` gets address ``first_octets + str(first_host + i)``
    (127.0.0.0/8 only).  Without ``specs`` the lab runs :func:`default_specs`
    with cp-1's address written into argv and kubeconfigs.

    Construction only computes names and addresses; :meth:`start` writes
    everything and starts the nodes, :meth:`stop` ends them.  ``stop``,
    ``status`` and the per-node helpers work from the PIDs recorded in
    ``lab.json``, so a second ``Lab`` on the same state dir (e.g. ``python -m
    tests.lab down``) can drive nodes another process started.
    """

    def __init__(
        self,
        state_dir: Path,
        specs: list[NodeSpec] | None = None,
        *,
        port: int | None = None,
        first_octets: str = "127.77.0.",
        first_host: int = 10,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        if re.search(r"[,:\s\\#]", str(self.state_dir)):
            raise LabError(f"{self.state_dir}: the state dir path must not contain , : \\ # or spaces")
        self.specs = list(specs) if specs is not None else default_specs(f"{first_octets}{first_host}")
        # FLEETBENCH_LAB_PORT lets two test runs share the machine (each its own sshd port).
        self.port = port if port is not None else int(os.environ.get("FLEETBENCH_LAB_PORT", "2222"))
        self._addresses: dict[str, str] = {}
        addresses = _host_addresses(f"{first_octets}{first_host}")
        for spec in self.specs:
            if not _HOSTNAME.match(spec.name):
                raise LabError(f"{spec.name!r} is not a valid hostname")
            if spec.name in self._addresses:
                raise LabError(f"duplicate node name {spec.name!r}")
            if spec.role_group not in ROLE_GROUPS:
                raise LabError(f"{spec.name}: role_group must be one of {ROLE_GROUPS}")
            self._addresses[spec.name] = str(next(addresses))
        self.inventory_path = self.state_dir / "inventory.yaml"
        self.known_hosts_path = self.state_dir / "known_hosts"
        self.client_key_path = self.state_dir / "id_ed25519"
        self._state_path = self.state_dir / "lab.json"
        self._children: set[int] = set()  # launcher PIDs this process must reap

    # -- context manager ------------------------------------------------------

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- public API -----------------------------------------------------------

    def address(self, name: str) -> str:
        """The loopback address of node ``name``."""
        try:
            return self._addresses[name]
        except KeyError:
            raise LabError(f"no node named {name!r}") from None

    def start(self, timeout: float = 30) -> None:
        """Write everything, start every node, return once every sshd answers.

        A lab still running from this state dir is stopped first.  On failure
        the nodes are stopped again and LabError carries the logs' tails.
        """
        self.stop()
        for name, address in self._addresses.items():
            if not _port_refuses(address, self.port):
                raise LabError(f"{address}:{self.port} ({name}) is already taken by another lab or service")
        deadline = time.monotonic() + timeout
        self.state_dir.mkdir(parents=True, exist_ok=True)
        nodes_dir = self.state_dir / "nodes"
        if nodes_dir.exists():
            shutil.rmtree(nodes_dir)
        nodes_dir.mkdir()

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(self.specs) + 2)) as pool:
            builds = [pool.submit(self._compile, name) for name in ("stub", "lab-init")]
            client = pool.submit(self._ensure_client_key)
            stub, init_binary = (b.result() for b in builds)
            client_pub = client.result()
            accounts = _Accounts.build()
            stub_bytes = stub.read_bytes()
            for future in [pool.submit(self._prepare_node, s, accounts, client_pub, stub_bytes) for s in self.specs]:
                future.result()
        self._write_known_hosts()
        self._write_inventory()

        records: dict[str, dict[str, Any]] = {}
        try:
            for spec in self.specs:
                records[spec.name] = {
                    "address": self._addresses[spec.name],
                    "port": self.port,
                    "role_group": spec.role_group,
                    "procs": [PurePosixPath(p.exe).name for p in spec.procs],
                    "launcher": asdict(self._launch(spec.name, init_binary)),
                    "init": None,
                }
            self._save_state(records)
            self._wait_until_up(records, deadline)
        except BaseException:
            self._save_state(records)
            self.stop()
            raise
        self._save_state(records)

    def stop(self) -> None:
        """End every recorded node: SIGTERM to its PID 1, SIGKILL after a grace.

        Reads the PIDs from lab.json, so it also cleans up after a crashed or
        foreign process; a no-op when nothing is running.  Removes no files.
        """
        pairs: list[tuple[_Proc, _Proc | None]] = []
        for name, record in self._load_state().items():
            launcher = _Proc(**record["launcher"])
            init = _Proc(**record["init"]) if record.get("init") else self._init_from_pidfile(name, launcher)
            pairs.append((launcher, init))
        for launcher, init in pairs:
            if init:
                init.send(signal.SIGTERM)
            else:  # PID 1 unknown: it dies with its launcher (--kill-child)
                launcher.send(signal.SIGKILL)
        everything = [proc for pair in pairs for proc in pair if proc]
        if self._wait_dead(everything, STOP_GRACE):
            return
        for proc in everything:
            proc.send(signal.SIGKILL)
        if not self._wait_dead(everything, 5.0):
            alive = [p.pid for p in everything if p.alive()]
            raise LabError(f"processes survived SIGKILL: {alive}")

    def status(self) -> list[NodeStatus]:
        """What lab.json records, checked against the live system."""
        result = []
        for name, record in self._load_state().items():
            init = _Proc(**record["init"]) if record.get("init") else None
            running = init is not None and init.alive()
            result.append(
                NodeStatus(
                    name=name,
                    address=record["address"],
                    port=record["port"],
                    role_group=record["role_group"],
                    init_pid=init.pid if init else None,
                    running=running,
                    ssh=running and _ssh_banner(record["address"], record["port"]),
                    procs=record["procs"],
                )
            )
        return result

    def stop_sshd(self, name: str) -> None:
        """Stop only the node's sshd listener; its stubs keep running.

        Asks the node's PID 1 (SIGUSR1), which TERMs the sshd it started;
        returns once the port refuses connections.
        """
        address, port, init = self._running(name)
        init.send(signal.SIGUSR1)
        self._wait_for(lambda: _port_refuses(address, port), 10, f"{name}: sshd still accepts connections")

    def start_sshd(self, name: str) -> None:
        """Start the node's sshd again after :meth:`stop_sshd` (SIGUSR2 to the node's PID 1)."""
        address, port, init = self._running(name)
        init.send(signal.SIGUSR2)
        self._wait_for(lambda: _ssh_banner(address, port), 10, f"{name}: sshd did not come back")

    def rotate_host_key(self, name: str) -> None:
        """Give the node a new host key and restart its sshd.

        known_hosts is left alone, so strict host key checking now fails.
        """
        address, port, init = self._running(name)
        self.stop_sshd(name)
        script = f'rm -f {HOST_KEY} {HOST_KEY}.pub && ssh-keygen -q -t ed25519 -N "" -C root@{name} -f {HOST_KEY}'
        keygen = self.run_in_node(name, ["sh", "-c", script])
        if keygen.returncode != 0:
            raise LabError(f"{name}: ssh-keygen failed: {keygen.stderr}")
        self.start_sshd(name)

    def run_in_node(self, name: str, argv: list[str], *, text: bool = True) -> subprocess.CompletedProcess[Any]:
        """Run argv inside the node (its namespaces and root) as root, capturing output."""
        _, _, init = self._running(name)
        return subprocess.run(
            [NSENTER, f"--target={init.pid}", "--mount", "--uts", "--pid", "--root", "--wd", "--", *argv],
            capture_output=True,
            text=text,
            env={"PATH": NODE_PATH, "HOME": "/root", "LANG": "C.UTF-8"},
            check=False,
        )

    # -- building -------------------------------------------------------------

    def _node_dir(self, name: str) -> Path:
        return self.state_dir / "nodes" / name

    def _compile(self, name: str) -> Path:
        out = self.state_dir / "bin" / name
        out.parent.mkdir(exist_ok=True)
        tmp = out.with_suffix(".tmp")
        build = subprocess.run(
            ["gcc", "-O2", "-Wall", "-o", str(tmp), str(SOURCE_DIR / f"{name}.c")],
            capture_output=True,
            text=True,
        )
        if build.returncode != 0:
            raise LabError(f"compiling {name}.c failed:\n{build.stderr}")
        tmp.replace(out)
        return out

    def _ensure_client_key(self) -> str:
        """The lab's client key pair (kept across starts); returns the public key line."""
        pub = self.client_key_path.with_name(self.client_key_path.name + ".pub")
        if not (self.client_key_path.exists() and pub.exists()):
            _ssh_keygen(self.client_key_path, "fleetbench-lab")
        return pub.read_text().strip()

    def _prepare_node(self, spec: NodeSpec, accounts: _Accounts, client_pub: str, stub: bytes) -> None:
        nodedir = self._node_dir(spec.name)
        upper = nodedir / "upper"
        for sub in ("upper", "work", "merged"):
            (nodedir / sub).mkdir(parents=True)
        authorized = client_pub + "\n"
        system = [
            *accounts.files,
            FileSpec("/etc/hostname", spec.name + "\n"),
            FileSpec("/etc/ssh/sshd_config", _sshd_config(self._addresses[spec.name], self.port)),
            FileSpec("/root/.ssh", kind="dir", mode=0o700),
            FileSpec("/root/.ssh/authorized_keys", authorized, 0o600),
            # root's shell start-up files of its own (a scenario may give others): without them a node
            # would read the jump host's /root/.bashrc through the overlay's lower layer, and bash runs it
            # for every command sshd starts (a pyenv init there cost each SSH session ~200 ms of CPU)
            FileSpec("/root/.bashrc", _NODE_BASHRC),
            FileSpec("/root/.profile", _NODE_PROFILE),
            FileSpec("/home/auditor", kind="dir", mode=0o750, owner="auditor", group="auditor"),
            FileSpec("/home/auditor/.ssh", kind="dir", mode=0o700, owner="auditor", group="auditor"),
            FileSpec("/home/auditor/.ssh/authorized_keys", authorized, 0o600, owner="auditor", group="auditor"),
        ]
        stubs = [FileSpec(exe, stub, 0o755) for exe in dict.fromkeys(p.exe for p in spec.procs)]
        stubs += [FileSpec(p.exe + ".version", p.version + "\n") for p in spec.procs if p.version]
        for entry in [*system, *stubs, *spec.files]:
            _write_entry(upper, entry, accounts)
        _ssh_keygen(upper / HOST_KEY.lstrip("/"), f"root@{spec.name}")
        hide = [str(self.state_dir)]
        (nodedir / "boot").write_bytes(_boot_file(spec, hide))

    def _write_known_hosts(self) -> None:
        lines = []
        for spec in self.specs:
            public = self._node_dir(spec.name) / "upper" / f"{HOST_KEY.lstrip('/')}.pub"
            key_type, key = public.read_text().split()[:2]
            address = self._addresses[spec.name]
            host = address if self.port == 22 else f"[{address}]:{self.port}"
            lines.append(f"{host} {key_type} {key}\n")
        self.known_hosts_path.write_text("".join(lines))

    def _write_inventory(self) -> None:
        hosts = "".join(
            f"  {s.name}: {{address: {self._addresses[s.name]}, port: {self.port}, groups: [{s.role_group}]}}\n"
            for s in self.specs
        )
        self.inventory_path.write_text(
            "# generated by tests/lab — the loopback lab\n"
            "defaults:\n"
            "  user: root\n"
            f"  key_files: [{self.client_key_path}]\n"
            f"  known_hosts: {self.known_hosts_path}\n"
            "  ssh_config: none\n"
            "groups:\n"
            "  control-plane: {roles: [control-plane, etcd]}\n"
            "  workers: {roles: [worker]}\n"
            "  etcd: {roles: [etcd]}\n"
            "hosts:\n" + hosts
        )

    # -- running --------------------------------------------------------------

    def _launch(self, name: str, init_binary: Path) -> _Proc:
        nodedir = self._node_dir(name)
        log = os.open(nodedir / "init.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            pid = os.posix_spawn(
                UNSHARE,
                [UNSHARE, "--mount", "--pid", "--uts", "--fork", "--kill-child", "--propagation", "private",
                 "--", str(init_binary), str(nodedir)],
                {"PATH": NODE_PATH},
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, log, 1),
                    (os.POSIX_SPAWN_DUP2, log, 2),
                    *((os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_fds()),
                ],
                setsid=True,  # daemonised: no terminal signals, outlives `python -m tests.lab up`
            )
        finally:
            os.close(log)
        self._children.add(pid)
        proc = _Proc.of(pid)
        if proc is None:
            raise LabError(f"{name}: launcher {pid} vanished immediately")
        return proc

    def _wait_until_up(self, records: dict[str, dict[str, Any]], deadline: float) -> None:
        pending = set(records)
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(64, len(pending) or 1)) as pool:
            while pending:
                self._reap()
                for name in sorted(pending):
                    record = records[name]
                    if record["init"] is None:
                        init = self._init_from_pidfile(name, _Proc(**record["launcher"]))
                        record["init"] = asdict(init) if init else None
                    if not _Proc(**record["launcher"]).alive():
                        raise self._failure(name, "the node exited during start")
                    if SSHD_EXIT_NOTE in _tail(self._node_dir(name) / "sshd.log"):
                        raise self._failure(name, "sshd exited during start")
                probing = sorted(n for n in pending if records[n]["init"])
                answers = pool.map(lambda n: _ssh_banner(records[n]["address"], records[n]["port"], 0.5), probing)
                pending -= {n for n, ok in zip(probing, answers, strict=True) if ok}
                if pending and time.monotonic() > deadline:
                    raise self._failure(sorted(pending)[0], f"timed out; {len(pending)} node(s) not answering")
                if pending:
                    time.sleep(0.05)

    def _failure(self, name: str, what: str) -> LabError:
        nodedir = self._node_dir(name)
        return LabError(
            f"node {name}: {what}\n"
            f"--- {nodedir / 'init.log'} ---\n{_tail(nodedir / 'init.log')}\n"
            f"--- {nodedir / 'sshd.log'} ---\n{_tail(nodedir / 'sshd.log')}"
        )

    def _init_from_pidfile(self, name: str, launcher: _Proc) -> _Proc | None:
        """The node's PID 1, from init.pid, if it is the launcher's child."""
        try:
            pid = int((self._node_dir(name) / "init.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None
        proc = _Proc.of(pid)
        return proc if proc and self._parent(proc) == launcher.pid else None

    @staticmethod
    def _parent(proc: _Proc) -> int | None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("PPid:"):
                    return int(line.split()[1])
        except FileNotFoundError:
            pass
        return None

    def _reap(self) -> None:
        """Collect the launchers of ours that have ended, so none stays a zombie."""
        for pid in list(self._children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done == pid:
                self._children.discard(pid)

    def _wait_dead(self, procs: list[_Proc], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            self._reap()
            if not any(p.alive() for p in procs):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def _running(self, name: str) -> tuple[str, int, _Proc]:
        record = self._load_state().get(name)
        if record is None or not record.get("init"):
            raise LabError(f"node {name!r} is not recorded as started in {self._state_path}")
        init = _Proc(**record["init"])
        if not init.alive():
            raise LabError(f"node {name!r} is not running")
        return record["address"], record["port"], init

    @staticmethod
    def _wait_for(condition: Callable[[], bool], timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise LabError(message)
            time.sleep(0.05)

    def _load_state(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self._state_path.read_text())["nodes"]
        except FileNotFoundError:
            return {}

    def _save_state(self, nodes: dict[str, dict[str, Any]]) -> None:
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"nodes": nodes}, indent=2) + "\n")
        tmp.replace(self._state_path)
