"""ssh config as OpenSSH reads it: per target, the values ``ssh -G -F FILE TARGET`` would use.

Why our own reader: asyncssh's ``SSHClientConfig`` differs from ``ssh -G`` where it matters to
an inventory (it lowercases ``Host`` matching, expands tokens differently, and ``connect.py``
must never let a config switch host-key checking off), and the transport must connect with
exactly what the report shows. So the file is read here, once per host, and ``connect.py``
connects with the explicit values of :func:`resolve` (``config=None``).

Rules (checked field by field against the real ``ssh -G`` in tests/test_sshconfig.py):

* lines before the first ``Host``/``Match`` apply to every host; ``Keyword value`` or
  ``Keyword=value``, quoting as OpenSSH; the first value obtained wins, ``IdentityFile`` adds up;
* ``Host`` patterns (``*``, ``?``, ``!negation``) match the target as given (case-sensitive);
* ``Match all|host|originalhost|user|localuser`` (``!`` negates a criterion); ``host`` is the
  ``HostName`` so far with ``%h`` expanded, ``user`` the user so far (the inventory's, as ``-l``);
  ``exec``, ``canonical``, ``final``, ``tagged`` and ``localnetwork`` are refused (file:line);
* ``Include`` with globs, relative to ``~/.ssh`` (OpenSSH's rule for user configs), read only
  when the enclosing block matches, never changing the including file's block state;
* ``HostName`` expands ``%h`` and ``%%`` and is lowercased; ``IdentityFile`` and
  ``UserKnownHostsFile`` expand ``~`` and ``%d %u %h %r %p %n %i %l %L %%`` (``~`` and ``%d``
  are the account's home directory from the password database, as in OpenSSH);
* ``ProxyJump`` and ``ProxyCommand``: whichever comes first wins, ``none`` cancels;
* ``StrictHostKeyChecking`` is read and ignored: only ``--insecure-no-host-key-check`` turns
  checking off, only ``--accept-new-host-keys`` records new keys.

The inventory's values act like ``ssh -o`` on the command line: they are set before the config
is read, so they win (and ``Match user`` sees the inventory's user); ``key_files`` come first
and the config's ``IdentityFile`` lines are added after them, as ``-i`` does.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shlex
import socket
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import InputError
from .jumphost import format_jump, parse_jumps
from .models import Host, SSHSettings

DEFAULT_PORT = 22
#: UserKnownHostsFile values meaning "remember nothing": skipped, never "trust anything"
NO_FILE = {"/dev/null", "none"}
_MAX_INCLUDE_DEPTH = 16
_REFUSED_MATCH = {"exec", "canonical", "final", "tagged", "localnetwork"}
_TOKENS = re.compile(r"%(.)")


class SSHConfigError(InputError):
    """An ssh config line fleetbench cannot read as OpenSSH would (``file:line: what``)."""


@dataclass(slots=True)
class _Options:
    """What one lookup has obtained so far; ``None`` means "not set yet" (first value wins)."""

    hostname: str | None = None
    user: str | None = None
    port: int | None = None
    identity_files: list[str] = field(default_factory=list)
    identity_where: list[str] = field(default_factory=list)
    proxy_jump: str | None = None
    proxy_command: str | None = None
    known_hosts: list[str] | None = None
    connect_timeout: float | None = None
    timeout_set: bool = False
    sources: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Lookup:
    """One target's connection values as OpenSSH would use them (see :func:`lookup`)."""

    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]       #: the explicitly configured ones, expanded, absolute
    proxy_jump: str | None                #: normalised ProxyJump (``user@host:port`` hops, commas); None: none
    proxy_command: str | None             #: raw ProxyCommand (tokens unexpanded, as ``ssh -G`` prints it)
    known_hosts: tuple[str, ...]          #: UserKnownHostsFile, expanded, without /dev/null and none
    connect_timeout: float | None         #: ConnectTimeout in seconds; None: not set (or 0/none)
    sources: dict[str, str]               #: field → "FILE:LINE"


def _home() -> str:
    """The account's home directory, as OpenSSH uses it for ``~`` and ``%d`` (not ``$HOME``)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return os.path.expanduser("~")


def local_user() -> str:
    """The local account name (OpenSSH's default remote user and ``%u``)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _pattern(pat: str, text: str) -> bool:
    """OpenSSH ``match_pattern``: ``*`` and ``?`` only, anchored; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pat)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def _pattern_list(text: str, patterns: str, lower: bool) -> bool:
    """OpenSSH ``match_pattern_list``: comma-separated, a matching ``!pattern`` vetoes."""
    if lower:
        text = text.lower()
    matched = False
    for pat in patterns.split(","):
        if lower:
            pat = pat.lower()
        negated = pat.startswith("!")
        if _pattern(pat[1:] if negated else pat, text):
            if negated:
                return False
            matched = True
    return matched


def _split(rest: str, where: str) -> list[str]:
    try:
        return shlex.split(rest, comments=True, posix=True)
    except ValueError as exc:
        raise SSHConfigError(where, f"cannot split the arguments ({exc})") from None


_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+)(.*)$")


def _expand(text: str, tokens: dict[str, str], where: str, what: str) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in tokens:
            raise SSHConfigError(where, f"{what}: token %{key} is not supported here "
                                        f"(supported: {' '.join('%' + k for k in tokens)})")
        return tokens[key]
    return _TOKENS.sub(sub, text)


def _tilde(path: str) -> str:
    if path == "~" or path.startswith("~/"):
        return _home() + path[1:]
    if path.startswith("~"):
        name, _, rest = path[1:].partition("/")
        try:
            return pwd.getpwnam(name).pw_dir + ("/" + rest if rest else "")
        except KeyError:
            return path
    return path


class _Reader:
    """One walk over the config files for one target (OpenSSH's read_config_file_depth)."""

    def __init__(self, target: str, opts: _Options) -> None:
        self.target = target
        self.opts = opts

    def read(self, path: str, *, check_perm: bool) -> None:
        self._file(path, active=True, never=False, depth=0, check_perm=check_perm)

    def _file(self, path: str, *, active: bool, never: bool, depth: int, check_perm: bool) -> bool:
        """Read one file; returns the block state at its end (OpenSSH resets it after an Include)."""
        if depth > _MAX_INCLUDE_DEPTH:
            raise SSHConfigError(path, f"Include nested more than {_MAX_INCLUDE_DEPTH} deep (a loop?)")
        try:
            if check_perm:
                st = os.stat(path)
                if (st.st_uid not in (0, os.getuid())) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                    raise SSHConfigError(path, "bad owner or permissions (OpenSSH refuses such a file: "
                                               "it must be yours and not writable by others)")
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise SSHConfigError(path, f"cannot read the ssh config ({exc.strerror})") from None
        for number, line in enumerate(text.splitlines(), 1):
            where = f"{path}:{number}"
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            m = _LINE.match(line)
            if not m:
                raise SSHConfigError(where, f"expected 'Keyword value', got {stripped!r}")
            keyword, args = m.group(1).lower(), _split(m.group(2), where)
            if keyword == "host":
                active = not never and self._host_line(args, where)
            elif keyword == "match":
                active = not never and self._match_line(args, where)
            elif keyword == "include":
                for name in self._includes(args, where):
                    self._file(name, active=active, never=never or not active, depth=depth + 1, check_perm=True)
            elif active:
                self._apply(keyword, args, m.group(2), where)
        return active

    def _host_line(self, args: list[str], where: str) -> bool:
        if not args:
            raise SSHConfigError(where, "Host needs at least one pattern")
        matched = False
        for pat in args:
            negated = pat.startswith("!")
            if _pattern(pat[1:] if negated else pat, self.target):
                if negated:
                    return False
                matched = True
        return matched

    def _match_line(self, args: list[str], where: str) -> bool:
        if not args:
            raise SSHConfigError(where, "Match needs criteria (all, host, originalhost, user, localuser)")
        if [a.lower() for a in args] == ["all"]:
            return True
        result = True
        i = 0
        while i < len(args):
            word = args[i]
            negated = word.startswith("!")
            name = (word[1:] if negated else word).lower()
            if name in _REFUSED_MATCH:
                raise SSHConfigError(where, f"Match {name} is not supported by fleetbench (it would run commands or "
                                            "resolve names at read time); use Host or Match host/originalhost/user, or give fleetbench "
                                            "another file (--ssh-config FILE, or ssh_config: none)")
            if name == "all":
                raise SSHConfigError(where, "Match all cannot be combined with other criteria")
            if name not in ("host", "originalhost", "user", "localuser"):
                raise SSHConfigError(where, f"unsupported Match criterion '{word}' "
                                            "(expected all, host, originalhost, user, localuser)")
            if i + 1 >= len(args):
                raise SSHConfigError(where, f"Match {name} needs a pattern list")
            patterns = args[i + 1]
            if name == "host":
                value = self.hostname_now(where)
                ok = _pattern_list(value, patterns, lower=True)
            elif name == "originalhost":
                ok = _pattern_list(self.target, patterns, lower=True)
            elif name == "user":
                ok = _pattern_list(self.opts.user or local_user(), patterns, lower=False)
            else:
                ok = _pattern_list(local_user(), patterns, lower=False)
            result = result and (ok != negated)
            i += 2
        return result

    def hostname_now(self, where: str) -> str:
        if self.opts.hostname is None:
            return self.target
        return _expand(self.opts.hostname, {"h": self.target, "%": "%"}, where, "HostName")

    def _includes(self, args: list[str], where: str) -> list[str]:
        names: list[str] = []
        for arg in args:
            if not arg.startswith("~") and not os.path.isabs(arg):
                arg = "~/.ssh/" + arg            # OpenSSH: user configs include relative to ~/.ssh
            pattern = os.path.expanduser(arg)   # glob(GLOB_TILDE): $HOME, as OpenSSH's glob does
            names.extend(sorted(glob.glob(pattern)))
        return names

    def _apply(self, keyword: str, args: list[str], raw: str, where: str) -> None:
        o = self.opts
        if keyword in ("hostname", "user", "port", "proxyjump", "proxycommand", "userknownhostsfile",
                       "connecttimeout", "identityfile", "hostkeyalias", "canonicalizehostname") and not args:
            raise SSHConfigError(where, f"{keyword} needs a value")
        if keyword == "hostname" and o.hostname is None:
            o.hostname, o.sources["address"] = args[0], where
        elif keyword == "user" and o.user is None:
            o.user, o.sources["user"] = args[0], where
        elif keyword == "port" and o.port is None:
            if not args[0].isdigit() or not 0 < int(args[0]) < 65536:
                raise SSHConfigError(where, f"Port must be a number 1-65535, got '{args[0]}'")
            o.port, o.sources["port"] = int(args[0]), where
        elif keyword == "identityfile":
            o.identity_files.append(args[0])
            o.identity_where.append(where)
            o.sources.setdefault("key_files", where)
        elif keyword == "proxyjump" and o.proxy_jump is None and o.proxy_command is None:
            if args[0].lower() == "none":
                o.proxy_jump = "none"
            else:
                try:
                    o.proxy_jump = format_jump(parse_jumps(args[0]))
                except ValueError as exc:
                    raise SSHConfigError(where, f"ProxyJump: {exc}") from None
                o.sources["jump"] = where
        elif keyword == "proxycommand" and o.proxy_command is None and o.proxy_jump in (None, "none"):
            command = raw.strip()               # OpenSSH keeps the rest of the line as written
            o.proxy_command = command
            if command.lower() != "none":
                o.sources["proxy_command"] = where
        elif keyword == "userknownhostsfile" and o.known_hosts is None:
            o.known_hosts, o.sources["known_hosts"] = list(args), where
        elif keyword == "connecttimeout" and not o.timeout_set:
            value = args[0].lower()
            if value != "none" and not value.isdigit():
                raise SSHConfigError(where, f"ConnectTimeout must be a number of seconds or none, got '{args[0]}'")
            o.timeout_set = True
            if value not in ("none", "0"):
                o.connect_timeout, o.sources["connect_timeout"] = float(value), where
        elif keyword == "hostkeyalias":
            raise SSHConfigError(where, "HostKeyAlias is not supported by fleetbench (host keys are looked up by "
                                        "the address connected to); remove it or set known_hosts in the inventory")
        elif keyword == "canonicalizehostname" and args[0].lower() not in ("no", "false"):
            raise SSHConfigError(where, "CanonicalizeHostname is not supported by fleetbench (it resolves names at "
                                        "read time); give full names in HostName instead")


def config_files(ssh_config: str | None) -> tuple[list[str], bool]:
    """The files to read for a host's ``ssh_config`` setting, and whether OpenSSH checks their
    permissions: ``none`` → nothing; a file → it (as ``ssh -F``); unset → ``~/.ssh/config`` if any."""
    if ssh_config is not None:
        return ([] if ssh_config.lower() == "none" else [os.path.expanduser(ssh_config)]), False
    default = os.path.expanduser("~/.ssh/config")
    return ([default] if os.path.exists(default) else []), True


def lookup(target: str, ssh_config: str | None, *, user: str | None = None, port: int | None = None,
           identity_files: tuple[str, ...] = (), proxy_jump: str | None = None,
           proxy_command: str | None = None, known_hosts: str | None = None,
           connect_timeout: float | None = None) -> Lookup:
    """What ``ssh -G -F ssh_config [-o ...] target`` would use; keyword arguments act like ``-o``.

    Raises:
        SSHConfigError: a line OpenSSH would refuse, or one fleetbench does not support.
    """
    opts = _Options(user=user, port=port, identity_files=list(identity_files), proxy_jump=proxy_jump,
                    proxy_command=proxy_command, known_hosts=None if known_hosts is None else [known_hosts],
                    connect_timeout=connect_timeout, timeout_set=connect_timeout is not None)
    reader = _Reader(target, opts)
    files, check_perm = config_files(ssh_config)
    for name in files:
        reader.read(name, check_perm=check_perm)
    where = opts.sources.get("address", target)
    hostname = reader.hostname_now(where).lower()
    remote_user = opts.user or local_user()
    final_port = opts.port or DEFAULT_PORT
    tokens = {"%": "%", "d": _home(), "u": local_user(), "h": hostname, "r": remote_user, "p": str(final_port),
              "n": target, "i": str(os.getuid()), "l": socket.gethostname(),
              "L": socket.gethostname().split(".")[0]}

    def path(value: str, at: str, what: str) -> str:
        return os.path.abspath(_expand(_tilde(value), tokens, at, what))

    wheres = ["inventory"] * len(identity_files) + opts.identity_where
    keys = tuple(dict.fromkeys(path(k, at, "IdentityFile") for k, at in zip(opts.identity_files, wheres, strict=True)))
    kh_at = opts.sources.get("known_hosts", "inventory")
    kh = tuple(path(k, kh_at, "UserKnownHostsFile") for k in (opts.known_hosts or ()) if k.lower() not in NO_FILE)
    jump = None if opts.proxy_jump in (None, "none") else opts.proxy_jump
    command = None if opts.proxy_command is None or opts.proxy_command.lower() == "none" else opts.proxy_command
    return Lookup(hostname=hostname, port=final_port, user=remote_user, identity_files=keys, proxy_jump=jump,
                  proxy_command=command, known_hosts=kh, connect_timeout=opts.connect_timeout,
                  sources=opts.sources)


def resolve(host: Host) -> Host:
    """``host`` with address, port, user, key_files, jump, proxy_command, known_hosts and connect
    timeout filled as OpenSSH would use them; ``sources`` names "FILE:LINE" for each field taken
    from the ssh config (the inventory's own values win, as ``ssh -o`` does).

    The target matched against ``Host`` blocks is the host's address (``ansible_host``) when the
    inventory gives one, else its name: what ``ssh`` is given on ansible's command line.

    Raises:
        SSHConfigError: file:line of a config line that cannot be read as OpenSSH would.
    """
    ssh = host.ssh
    if ssh.jump is not None and ssh.proxy_command is not None:
        raise SSHConfigError(host.origin, f"host '{host.name}' has both a jump and a ProxyCommand; give one")
    found = lookup(host.address, ssh.ssh_config, user=ssh.user, port=ssh.port, identity_files=ssh.key_files,
                   proxy_jump=ssh.jump, proxy_command=ssh.proxy_command, known_hosts=ssh.known_hosts,
                   connect_timeout=ssh.connect_timeout)
    sources = dict(host.sources)
    for name, where in found.sources.items():
        sources.setdefault(name, where)
    if ssh.user is None and "user" not in found.sources:
        sources.setdefault("user", "default (local account)")
    if ssh.port is None and "port" not in found.sources:
        sources.setdefault("port", "default")
    resolved = replace(ssh, port=found.port, user=found.user, key_files=found.identity_files,
                       jump=found.proxy_jump, proxy_command=found.proxy_command,
                       known_hosts=found.known_hosts[0] if found.known_hosts else None,
                       connect_timeout=found.connect_timeout)
    return replace(host, address=found.hostname, ssh=resolved, sources=sources)


def resolve_hops(host: Host) -> tuple[Lookup, ...]:
    """Each hop of ``host``'s jump chain as ``ssh -J`` reaches it: looked up in the host's ssh
    config under the hop's name, the hop's own ``user@`` and ``:port`` winning (as ``-l``/``-p``).

    A later hop's own ProxyJump is ignored (``ssh -J a,b`` reaches ``b`` through ``a`` whatever
    its config says); a first hop whose config sets another ProxyJump or ProxyCommand (nested
    jumps) is refused, unless it names the hop itself.

    Raises:
        ValueError: a malformed chain, or a nested jump.
        SSHConfigError: a config line that cannot be read as OpenSSH would.
    """
    if not host.ssh.jump:
        return ()
    hops = []
    for index, jump in enumerate(parse_jumps(host.ssh.jump)):
        found = lookup(jump.host, host.ssh.ssh_config, user=jump.user, port=jump.port)
        nested = found.proxy_command or found.proxy_jump
        if index == 0 and nested and (found.proxy_command or parse_jumps(nested)[-1].host != jump.host):
            raise ValueError(f"jump host {jump}: its own ssh config sets ProxyJump/ProxyCommand ({nested}); "
                             "nested jumps are not supported: list every hop in one jump instead")
        hops.append(found)
    return tuple(hops)


def with_config_file(host: Host, ssh_config: str | None) -> Host:
    """``--ssh-config FILE`` for every host: it wins over the inventory's ``ssh_config:``."""
    return host if ssh_config is None else replace(host, ssh=replace(host.ssh, ssh_config=ssh_config))


__all__ = ["Lookup", "SSHConfigError", "SSHSettings", "config_files", "local_user", "lookup", "resolve",
           "resolve_hops", "with_config_file"]
