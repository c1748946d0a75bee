"""Plan → ONE read-only POSIX ``sh`` script; its framed output → a list of records.

The script runs as ``sh -s`` with itself on stdin (no quoting or ARG_MAX limits, and the probe
text stays out of the node's ``ps``). It works under dash, bash and busybox ash, and only reads:

1. one walk of ``/proc/[0-9]*`` with the ``read`` builtin on each ``comm``; for a Kubernetes
   component it prints the exact ``cmdline`` (and, for etcd, the ``ETCD_*`` environment lines);
   Then ``/proc/<pid>/exe --version`` of the running kubelet (k3s, rke2), for the node's version;
   when a k3s process runs, ONE ``journalctl`` call for the "Running kube-apiserver …" lines in
   which k3s logs the arguments of the components it runs inside its own process (they have no
   /proc/<pid>/cmdline of their own); the last line per component stands in for its argv;
2. path variables resolved in the shell: inventory override > the running process's flag >
   its environment > first existing candidate > default;
3. ONE ``stat -L`` over every single file; one ``find … -exec stat {} +`` per directory tree;
4. ``head -c`` of each config file the checks read (capped; only regular files, so a path that is
   a FIFO or a device can never block the probe), and of every ``*.conf`` file in
   the folders they read (kubelet ``--config-dir`` drop-ins, the kubelet unit's drop-ins; a
   ``dir/*.yaml`` entry reads those files instead, e.g. ``/etc/rancher/k3s/config.yaml.d``).

Framing: every record starts on a fresh line with ``@@<nonce> <type>``; the nonce is random per
host and run, so no file content or argv can forge a record, and anything a login shell prints
before the first record (MOTD, an ``echo`` in .bashrc) is ignored. The last record is ``done``;
without it the output is incomplete. Every literal that reaches the shell goes through
:func:`shlex.quote`.
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import dataclass

from .errors import BatchError
from .plan import Plan, dir_glob, var_names

MAX_FILE_BYTES = 1 << 20                  #: per file read; larger files are reported truncated
_STAT_FORMAT = "%a %u %g %U %G %F|%n"

_PRELUDE = r"""# fleetbench probe: read-only. It reads /proc and stats or reads files; it writes nothing.
export LC_ALL=C
N={nonce}
M={max_bytes}
r() {{ printf '\n@@%s %s\n' "$N" "$*"; }}
fb_get() {{  # $1: argv, one per line; $2: flag. Sets R to its value (last one wins); 0 if given.
  R=; _f=1; _w=; _o=$IFS; IFS='
'; set -f
  for _a in $1; do
    if [ -n "$_w" ]; then
      _w=; case $_a in -*) ;; *) R=$_a; continue;; esac
    fi
    case $_a in "$2"=*) R=${{_a#*=}}; _f=0;; "$2") R=true; _f=0; _w=1;; esac
  done
  set +f; IFS=$_o; return $_f
}}
fb_env() {{  # $1: NAME=value lines; $2: NAME. Sets R; 0 if set.
  R=; _o=$IFS; IFS='
'; set -f
  for _a in $1; do case $_a in "$2"=*) R=${{_a#*=}}; set +f; IFS=$_o; return 0;; esac; done
  set +f; IFS=$_o; return 1
}}
fb_run() {{  # $1: log lines; $2: a component's label. Sets R to the arguments of its last
  # "Running <label> ..." line, one per line (text after the marker, up to the next quote); 0 if found.
  R=; _o=$IFS; IFS='
'; set -f
  for _a in $1; do case $_a in *"Running $2 "*) R=${{_a#*"Running $2 "}};; esac; done
  set +f; IFS=$_o
  [ -n "$R" ] || return 1
  R=$(printf '%s\n' "${{R%%\"*}}" | tr -s ' ' '\n')
}}
fb_denied() {{  # $1: a path [ -e ] cannot see. 0 if a folder above it cannot be searched by us.
  _d=${{1%/*}}
  while [ -n "$_d" ]; do
    if [ -d "$_d" ] && [ ! -x "$_d" ]; then return 0; fi
    _d=${{_d%/*}}
  done
  return 1
}}
r host
h=; read -r h 2>/dev/null </proc/sys/kernel/hostname
printf 'hostname=%s\n' "$h"
while read -r k v _; do case $k in Uid:) printf 'uid=%s\n' "$v"; break;; esac; done 2>/dev/null </proc/self/status
"""


def new_nonce() -> str:
    return secrets.token_hex(8)


def _q(text: str) -> str:
    return shlex.quote(text)


def _comm(name: str) -> str:
    """What /proc/<pid>/comm shows for an executable: its basename, cut to 15 characters."""
    return name.rsplit("/", 1)[-1][:15]


def render(plan: Plan, nonce: str) -> str:
    """The probe script for one host."""
    if not re.fullmatch(r"[0-9a-f]{8,64}", nonce):
        raise ValueError("nonce must be hex")
    out = [_PRELUDE.format(nonce=nonce, max_bytes=MAX_FILE_BYTES)]
    # -- 1. one walk of /proc
    need_argv = {v.name.split(".")[0] for v in plan.path_vars if v.from_flag}
    need_env = set(plan.env_components)
    index = {c.name: i for i, c in enumerate(plan.components)}
    arms: dict[str, list[str]] = {}
    for comp in plan.components:
        for proc in comp.processes:
            comm = _comm(proc[0])
            arms.setdefault(comm, [])
            if len(proc) == 1:               # hyperkube forms are matched in Python only
                i = index[comp.name]
                steps = []
                if comp.name in need_argv:
                    steps.append(f'A{i}=$(tr \'\\0\' \'\\n\' <"$d/cmdline" 2>/dev/null)')
                steps.append(f'P{i}=$p')
                step = f'[ -n "$P{i}" ] || {{ {"; ".join(steps)}; }};'
                if step not in arms[comm]:
                    arms[comm].append(step)
    # per component i: P pid, A argv (one per line), E its ETCD_* lines, W " in the k3s journal" when
    # A came from there (section 1b)
    out.append(" ".join(f"P{i}=; A{i}=; E{i}=; W{i}=;" for i in range(len(plan.components))))
    out.append("for d in /proc/[0-9]*; do")
    out.append('  c=; read -r c 2>/dev/null <"$d/comm" || continue')
    out.append("  case $c in")
    for comm, steps in arms.items():
        env_steps = ""
        comps_here = [c for c in plan.components if any(_comm(p[0]) == comm and len(p) == 1 for p in c.processes)]
        env_comp = next((c for c in comps_here if c.name in need_env), None)
        if env_comp is not None:
            i = index[env_comp.name]
            env_steps = (f' e=$(tr \'\\0\' \'\\n\' <"$d/environ" 2>/dev/null | grep \'^ETCD_\');'
                         f' r env "$p"; printf \'%s\' "$e"; [ -n "$P{i}" ] || E{i}=$e;')
        body = " ".join(steps)
        out.append(f'    {_q(comm)}) p=${{d#/proc/}}; r proc "$p" "$c"; cat "$d/cmdline" 2>/dev/null;{env_steps} {body} ;;')
    out.append("  esac")
    out.append("done")
    for comp in plan.components:
        if comp.version:
            i = index[comp.name]
            out.append(f'[ -n "$P{i}" ] && {{ r version {_q(comp.name)}; "/proc/$P{i}/exe" --version 2>/dev/null </dev/null | head -c 512; }}')
    # -- 1b. components run inside another process (k3s): their argv from its journal's log lines
    by_name = {c.name: c for c in plan.components}
    for comp in plan.components:
        if not comp.embeds:
            continue
        i = index[comp.name]
        labels = [by_name[e].label for e in comp.embeds]
        units = " ".join(f"-u {_q(u)}" for u in comp.journal)
        pattern = _q(f"Running ({'|'.join(labels)}) ")
        steps = [f'[ -n "$P{index[e]}" ] || {{ fb_run "$J" {_q(by_name[e].label)} && '
                 f'{{ A{index[e]}=$R; P{index[e]}=$P{i}; W{index[e]}={_q(" in the " + comp.label + " journal")}; }}; }};'
                 for e in comp.embeds if e in need_argv]
        out.append(f'if [ -n "$P{i}" ]; then r journal {_q(comp.name)} "$P{i}"; '
                   f'J=$(journalctl {units} -b --no-pager -o cat 2>/dev/null | grep -E {pattern} | tail -n 50); '
                   f'printf \'%s\' "$J"; {" ".join(steps)} fi')
    # -- 2. path variables
    var_index = {v.name: i for i, v in enumerate(plan.path_vars)}
    for i, var in enumerate(plan.path_vars):
        ci = index[var.name.split(".")[0]]
        out.append(f"V{i}=; S{i}=")
        if var.name in plan.overrides:
            out.append(f"V{i}={_q(plan.overrides[var.name])}; S{i}=inventory")
        if var.from_flag:
            out.append(f'[ -z "$V{i}" ] && [ -n "$P{ci}" ] && fb_get "$A{ci}" {_q(var.from_flag)} && '
                       f'[ -n "$R" ] && {{ V{i}=$R; S{i}={_q("flag " + var.from_flag)}"$W{ci}"; '
                       f'case $V{i} in /*) ;; *) V{i}="$(readlink "/proc/$P{ci}/cwd")/$V{i}";; esac; }}')
        if var.from_env:
            out.append(f'[ -z "$V{i}" ] && [ -n "$P{ci}" ] && fb_env "$E{ci}" {_q(var.from_env)} && '
                       f'[ -n "$R" ] && {{ V{i}=$R; S{i}={_q("env " + var.from_env)}; }}')
        if var.candidates:
            cands = " ".join(_q(c) for c in var.candidates)
            out.append(f'[ -z "$V{i}" ] && for c in {cands}; do [ -e "$c" ] && {{ V{i}=$c; S{i}=candidate; break; }}; done')
        if var.default:
            out.append(f'[ -z "$V{i}" ] && {{ V{i}={_q(var.default)}; S{i}=default; }}')
        out.append(f"r path {_q(var.name)}; printf '%s\\n%s' \"$S{i}\" \"$V{i}\"")

    def word(expr: str) -> str:
        names = var_names(expr)
        return f'"$V{var_index[names[0]]}"' if names else _q(expr)

    # -- 3. one stat over every single path; one find per tree
    if plan.stats:
        out.append("set --")
        out.append(f"for p in {' '.join(word(e) for e in plan.stats)}; do")
        out.append('  if [ -z "$p" ]; then :; elif [ -e "$p" ]; then set -- "$@" "$p"; '
                   'elif fb_denied "$p"; then r denied; printf \'%s\' "$p"; else r absent; printf \'%s\' "$p"; fi')
        out.append("done")
        out.append(f'[ $# -gt 0 ] && {{ printf \'\\n\'; stat -L -c "@@$N s {_STAT_FORMAT}" -- "$@" 2>/dev/null; }}')
    for t, expr in enumerate(plan.trees):
        out.append(f"p={word(expr)}")
        out.append(f'if [ -d "$p" ]; then r tree {t}; printf \'%s\\n\' "$p"; '
                   f'find "$p/" -exec stat -c "@@$N t {t} {_STAT_FORMAT}" {{}} + 2>/dev/null; '
                   f'elif [ -e "$p" ]; then r tree {t}; printf \'%s\\n\' "$p"; stat -L -c "@@$N t {t} {_STAT_FORMAT}" -- "$p" 2>/dev/null; '
                   f'elif fb_denied "$p"; then r treedenied {t}; printf \'%s\' "$p"; '
                   f'else r treeabsent {t}; printf \'%s\' "$p"; fi')
    # -- 4. file contents
    for k, expr in enumerate(plan.reads):
        out.append(f"p={word(expr)}")
        out.append(f'if [ -z "$p" ]; then r readrc {k} unset; elif [ ! -e "$p" ] && fb_denied "$p"; then r readrc {k} unreadable; '
                   f'elif [ ! -e "$p" ]; then r readrc {k} absent; '
                   f'elif [ ! -f "$p" ] || [ ! -r "$p" ]; then r readrc {k} unreadable; '
                   f'else r read {k}; head -c "$M" -- "$p" 2>/dev/null; r readrc {k} $?; fi')
    for k, expr in enumerate(plan.dirs):
        folder, glob = dir_glob(expr)         # glob is "*.<letters and digits>": safe unquoted
        out.append(f"p={word(folder)}")
        out.append(f'[ -n "$p" ] && [ -d "$p" ] && for f in "$p"/{glob}; do [ -f "$f" ] && [ -r "$f" ] && '
                   f'{{ r dirfile {k}; printf "%s\\n" "$f"; head -c "$M" -- "$f" 2>/dev/null; }}; done')
    out.append("r done")
    return "\n".join(out) + "\n"


@dataclass(frozen=True, slots=True)
class Record:
    type: str
    args: tuple[str, ...]
    payload: bytes


_HEADER_ONLY = {"s", "t"}                  # the whole record is the header (names may hold newlines)


def parse(output: bytes, nonce: str) -> list[Record]:
    """Split the script's stdout into records.

    Raises:
        BatchError: no record at all, or no final ``done`` record (output cut short).
    """
    chunks = output.split(b"\n@@" + nonce.encode() + b" ")
    records: list[Record] = []
    for chunk in chunks[1:]:
        head, _, payload = chunk.partition(b"\n")
        words = head.decode("utf-8", "replace").split(" ")
        rtype = words[0]
        if rtype in _HEADER_ONLY:
            text = chunk[:-1] if chunk.endswith(b"\n") else chunk
            records.append(Record(rtype, (), text[len(rtype) + 1:]))
        else:
            records.append(Record(rtype, tuple(words[1:]), payload))
    if not records:
        raise BatchError("no probe output (the remote shell printed nothing fleetbench recognises)")
    if records[-1].type != "done":
        raise BatchError(f"probe output incomplete: it stops after a '{records[-1].type}' record")
    return records
