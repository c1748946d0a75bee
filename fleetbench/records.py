"""Record kinds: for each kind of fact, the shell that prints its records and the parser that reads them.

pyinfra's "fact = command + parser", batched: every kind renders its part of the ONE probe script
from the plan (:meth:`RecordKind.render`) and turns the records that part prints back into facts
(:meth:`RecordKind.parse`), side by side in one class. A record names what it is about (its key:
the path variable, the path expression, the folder expression, the component), so records parse
into facts without the plan that rendered them, and an evidence bundle needs no plan to be read
again. Adding a fact kind is one class here, appended to :data:`KINDS`, plus what reads its facts;
its payload may be any size (a record runs until the next nonce-framed header). :class:`KubeKind`
(the cluster query, read by ``cluster.py``) was added that way.

Wire format of a record, as ``script.py`` frames it::

    \\n@@<nonce> <type> <arg> <arg>…\\n<payload>

Keys from the catalog or the inventory are percent-encoded (:func:`key_word`): a key with a space,
a newline or a quote never splits a header. Kinds, in script order (later kinds use the shell
variables earlier ones set):

=========  =====================================  ========================================
kind       records (type args: payload)           shell variables it sets / reads
=========  =====================================  ========================================
host       ``host``: hostname=, uid= lines
procs      ``proc PID COMM``: cmdline (NUL-sep.)  sets P<i> pid, A<i> argv, E<i> ETCD_* env
           ``env PID``: its ETCD_* lines
versions   ``version COMPONENT``: --version text   reads P<i>
journals   ``journal COMPONENT PID``: log lines   sets A<i>, P<i>, W<i> of embedded components
paths      ``path VAR``: source \\n path          sets V<j>, S<j> (reads P, A, E, W)
stats      ``stat EXPR STATE``: the path          STATE: unset | present | absent | denied
           ``s``: one stat line per present path  (header only: a name may hold a newline)
trees      ``tree EXPR`` (or ``treeabsent``,      entries follow their ``tree`` record
           ``treedenied``): the root path
           ``t``: one stat line per entry
reads      ``read EXPR``: the content (capped)
           ``readrc EXPR RC``: the path           RC: 0 | head's status | unset | absent | unreadable
dirs       ``dir EXPR``: the folder
           ``dirfile EXPR LEN``: name \\n content   LEN: the name's length in bytes
kube       ``kube``: kubectl's JSON (capped)      only on a cluster's source host (``plan.kube``)
           ``kuberc STATE RC``: command \\n         STATE: ran | missing | unreadable
           kubeconfig \\n kubectl's stderr
=========  =====================================  ========================================
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import quote, unquote

from .errors import BatchError
from .models import Component, Content, FileStat, HostFacts, KubeQuery, ProcessFact, Record, ResolvedPath
from .plan import KubeTarget, Plan, dir_glob, var_names

__all__ = ["KINDS", "MAX_FILE_BYTES", "Builder", "Record", "RecordKind", "RenderContext", "HEADER_ONLY",
           "journal_argv", "key_text", "key_word", "missing"]

MAX_FILE_BYTES = 1 << 20                  #: per file read; larger files are reported truncated
#: the cluster query's answer: larger is "not assessed" (truncated); the source host's output cap grows by it
MAX_KUBE_BYTES = 64 << 20
STAT_FORMAT = "%a %u %g %U %G %F|%n"
_KEY_SAFE = "/{}*,:=@+"                   # besides letters, digits and _.-~: kept readable in bundles


def key_word(key: str) -> str:
    """A key as one header word: percent-encoded, so no space, newline or quote can split it.

    >>> key_word("{kubelet.config}"), key_word("/etc/my dir/x")
    ('{kubelet.config}', '/etc/my%20dir/x')
    """
    return quote(key, safe=_KEY_SAFE, errors="surrogateescape")


def key_text(word: str) -> str:
    """The key a header word stands for (inverse of :func:`key_word`)."""
    return unquote(word, errors="surrogateescape")


def _q(text: str) -> str:
    return shlex.quote(text)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def comm(name: str) -> str:
    """What /proc/<pid>/comm shows for an executable: its basename, cut to 15 characters."""
    return name.rsplit("/", 1)[-1][:15]


def _norm_path(path: str) -> str:
    path = re.sub(r"/{2,}", "/", path)
    return path.rstrip("/") or "/"


def _stat(text: str) -> FileStat:
    head, sep, name = text.partition("|")
    parts = head.split(" ", 5)
    if not sep or len(parts) != 6:
        raise BatchError(f"unexpected stat line {text[:80]!r}")
    try:
        return FileStat(path=name, mode=int(parts[0], 8), uid=int(parts[1]), gid=int(parts[2]),
                        user=parts[3], group=parts[4], type=parts[5])
    except ValueError:
        raise BatchError(f"unexpected stat line {text[:80]!r}") from None


# --------------------------------------------------------------------------- rendering

@dataclass(frozen=True, slots=True)
class RenderContext:
    """The plan plus the shell-variable numbering every kind agrees on (P<i>, V<j>, …)."""

    plan: Plan
    comp_index: dict[str, int]            #: component name → i of its P<i>, A<i>, E<i>, W<i>
    var_index: dict[str, int]             #: path variable → j of its V<j>, S<j>
    need_argv: frozenset[str]             #: components whose argv a path variable reads

    @staticmethod
    def of(plan: Plan) -> RenderContext:
        return RenderContext(plan, {c.name: i for i, c in enumerate(plan.components)},
                             {v.name: j for j, v in enumerate(plan.path_vars)},
                             frozenset(v.name.split(".")[0] for v in plan.path_vars if v.from_flag))

    def word(self, expr: str) -> str:
        """A path expression as one shell word: its resolved variable, or the quoted literal."""
        names = var_names(expr)
        return f'"$V{self.var_index[names[0]]}"' if names else _q(expr)


def key_arg(key: str) -> str:
    """A key as it appears in the script: encoded, then shell-quoted."""
    return _q(key_word(key))


# --------------------------------------------------------------------------- parsing

@dataclass(slots=True)
class Builder:
    """Facts accumulated from records in output order; :meth:`finish` freezes them."""

    components: tuple[Component, ...]
    hostname: str = ""
    uid: int | None = None
    procs: list[tuple[Component, int, tuple[str, ...]]] = field(default_factory=list)
    envs: dict[int, dict[str, str]] = field(default_factory=dict)
    journals: list[tuple[Component, int, str]] = field(default_factory=list)  # (logging component, pid, lines)
    versions: dict[str, str] = field(default_factory=dict)
    paths: dict[str, ResolvedPath] = field(default_factory=dict)
    stats: dict[str, FileStat | None] = field(default_factory=dict)
    trees: dict[str, list[FileStat] | None] = field(default_factory=dict)
    tree: str | None = None               #: root of the tree whose entries are being read
    reads: dict[str, bytes] = field(default_factory=dict)
    contents: dict[str, Content] = field(default_factory=dict)
    dirs: dict[str, list[Content]] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)
    kube_payload: bytes | None = None
    kube: KubeQuery | None = None

    def finish(self) -> HostFacts:
        processes: dict[str, ProcessFact] = {}
        for comp, pid, argv in self.procs:
            if comp.name not in processes:
                processes[comp.name] = ProcessFact(component=comp.name, pid=pid, argv=argv, env=self.envs.get(pid, {}))
        labels = {c.name: c.label for c in self.components}
        for host, pid, lines in self.journals:
            for inner in host.embeds:
                logged = journal_argv(lines, labels[inner]) if inner not in processes else None
                if logged is not None:
                    processes[inner] = ProcessFact(component=inner, pid=pid, argv=logged, origin=(
                        f"{host.label} journal line 'Running {labels[inner]}' ({host.label} pid {pid})"))
        return HostFacts(hostname=self.hostname, uid=self.uid, processes=processes, paths=self.paths,
                         stats=self.stats, trees={k: (tuple(v) if v is not None else None) for k, v in self.trees.items()},
                         contents=self.contents, versions=self.versions,
                         dirs={k: tuple(v) for k, v in self.dirs.items()}, denied=frozenset(self.denied),
                         kube=self.kube)


# --------------------------------------------------------------------------- the kinds

class RecordKind:
    """One kind of fact: the shell that prints its records and the parser that reads them back.

    ``types``: the record types :meth:`parse` accepts. ``keyed``: for kinds whose records name a
    planned key, the record types that prove a key was collected (``missing`` uses them to refuse
    judging, from an evidence bundle, a fact that was never collected).
    """

    name: ClassVar[str]
    types: ClassVar[frozenset[str]]
    keyed: ClassVar[frozenset[str]] = frozenset()
    header_only: ClassVar[frozenset[str]] = frozenset()   #: types whose whole record is the header line
    helpers: ClassVar[str] = ""           #: shell functions the rendered lines call (in the script's prelude)

    def render(self, ctx: RenderContext) -> list[str]:
        raise NotImplementedError

    def parse(self, rec: Record, b: Builder) -> None:
        raise NotImplementedError

    def planned(self, plan: Plan) -> tuple[str, ...]:
        """The keys this kind prints a ``keyed`` record for, given a plan."""
        return ()


class HostKind(RecordKind):
    name, types = "host", frozenset({"host"})

    def render(self, ctx: RenderContext) -> list[str]:
        return ["r host",
                "h=; read -r h 2>/dev/null </proc/sys/kernel/hostname",
                "printf 'hostname=%s\\n' \"$h\"",
                "while read -r k v _; do case $k in Uid:) printf 'uid=%s\\n' \"$v\"; break;; esac; done 2>/dev/null </proc/self/status"]

    def parse(self, rec: Record, b: Builder) -> None:
        for line in _text(rec.payload).splitlines():
            key, _, value = line.partition("=")
            if key == "hostname":
                b.hostname = value
            elif key == "uid" and value.isdigit():
                b.uid = int(value)


def _match(components: tuple[Component, ...], name: str, argv: tuple[str, ...]) -> Component | None:
    for comp in components:
        for proc in comp.processes:
            if comm(proc[0]) != name:
                continue
            if len(proc) == 1 or (len(argv) > 1 and argv[1] == proc[1]):
                return comp
    return None


class ProcKind(RecordKind):
    """One walk of /proc: the exact argv of every Kubernetes component (and etcd's ETCD_* environment)."""

    name, types = "procs", frozenset({"proc", "env"})

    def render(self, ctx: RenderContext) -> list[str]:
        plan, index = ctx.plan, ctx.comp_index
        need_env = set(plan.env_components)
        arms: dict[str, list[str]] = {}
        for comp in plan.components:
            for proc in comp.processes:
                arms.setdefault(comm(proc[0]), [])
                if len(proc) == 1:               # hyperkube forms are matched in Python only
                    i = index[comp.name]
                    steps = [f'A{i}=$(tr \'\\0\' \'\\n\' <"$d/cmdline" 2>/dev/null)'] if comp.name in ctx.need_argv else []
                    steps.append(f'P{i}=$p')
                    step = f'[ -n "$P{i}" ] || {{ {"; ".join(steps)}; }};'
                    if step not in arms[comm(proc[0])]:
                        arms[comm(proc[0])].append(step)
        # per component i: P pid, A argv (one per line), E its ETCD_* lines, W " in the k3s journal" when
        # A came from there (the journals kind)
        out = [" ".join(f"P{i}=; A{i}=; E{i}=; W{i}=;" for i in range(len(plan.components))),
               "for d in /proc/[0-9]*; do", '  c=; read -r c 2>/dev/null <"$d/comm" || continue', "  case $c in"]
        for name, steps in arms.items():
            env_steps = ""
            here = [c for c in plan.components if any(comm(p[0]) == name and len(p) == 1 for p in c.processes)]
            env_comp = next((c for c in here if c.name in need_env), None)
            if env_comp is not None:
                i = index[env_comp.name]
                env_steps = (f' e=$(tr \'\\0\' \'\\n\' <"$d/environ" 2>/dev/null | grep \'^ETCD_\');'
                             f' r env "$p"; printf \'%s\' "$e"; [ -n "$P{i}" ] || E{i}=$e;')
            out.append(f'    {_q(name)}) p=${{d#/proc/}}; r proc "$p" "$c"; cat "$d/cmdline" 2>/dev/null;{env_steps} '
                       f'{" ".join(steps)} ;;')
        return [*out, "  esac", "done"]

    def parse(self, rec: Record, b: Builder) -> None:
        if rec.type == "env":
            if rec.args and rec.args[0].isdigit():
                b.envs[int(rec.args[0])] = dict(line.partition("=")[::2] for line in _text(rec.payload).splitlines()
                                                if "=" in line)
            return
        if len(rec.args) != 2 or not rec.args[0].isdigit():
            return                               # a comm with a space: not one of ours
        argv = tuple(_text(a) for a in rec.payload.split(b"\0"))
        if argv and argv[-1] == "":
            argv = argv[:-1]
        comp = _match(b.components, rec.args[1], argv)
        if comp is not None:
            b.procs.append((comp, int(rec.args[0]), argv))


class VersionKind(RecordKind):
    """``/proc/<pid>/exe --version`` of the running kubelet (k3s, rke2): the node's version."""

    name, types = "versions", frozenset({"version"})

    def render(self, ctx: RenderContext) -> list[str]:
        return [f'[ -n "$P{ctx.comp_index[c.name]}" ] && {{ r version {key_arg(c.name)}; '
                f'"/proc/$P{ctx.comp_index[c.name]}/exe" --version 2>/dev/null </dev/null | head -c 512; }}'
                for c in ctx.plan.components if c.version]

    def parse(self, rec: Record, b: Builder) -> None:
        if rec.args:
            b.versions[key_text(rec.args[0])] = _text(rec.payload).strip()


_MSG = re.compile(r'\bmsg="((?:[^"\\]|\\.)*)"')


def journal_argv(lines: str, label: str) -> tuple[str, ...] | None:
    """The arguments of ``label`` from its LAST ``Running <label> …`` log line, or None.

    k3s logs each component it runs in-process once per start, in logrus's text format:
    ``time="…" level=info msg="Running kube-apiserver --advertise-port=6443 --profiling=false"``.
    The message is unquoted (``\\"`` and ``\\\\``), the text after the marker is split on spaces, as
    k3s joined the arguments with single spaces (so a value cannot hold a space), and argv[0] is
    the label. A line without ``msg="…"`` is read as it stands.

    >>> journal_argv('level=info msg="Running kubelet --a=1"\\nlevel=info msg="Running kubelet --a=2 --b="', "kubelet")
    ('kubelet', '--a=2', '--b=')
    """
    marker = f"Running {label} "
    last = next((line for line in reversed(lines.splitlines()) if marker in line), None)
    if last is None:
        return None
    m = _MSG.search(last)
    text = re.sub(r"\\(.)", r"\1", m.group(1)) if m and marker in m.group(1) else last
    return (label, *(a for a in text.split(marker, 1)[1].split(" ") if a))


class JournalKind(RecordKind):
    """Components run inside another process (k3s): their argv from the lines its journal logs.

    ONE ``journalctl`` call, only when that process runs; the last line per component stands in
    for its argv, also in the shell (``fb_run``), so flag-derived paths resolve on the node.
    """

    name, types = "journals", frozenset({"journal"})
    helpers = r"""fb_run() {  # $1: log lines; $2: a component's label. Sets R to the arguments of its last
  # "Running <label> ..." line, one per line (text after the marker, up to the next quote); 0 if found.
  R=; _o=$IFS; IFS='
'; set -f
  for _a in $1; do case $_a in *"Running $2 "*) R=${_a#*"Running $2 "};; esac; done
  set +f; IFS=$_o
  [ -n "$R" ] || return 1
  R=$(printf '%s\n' "${R%%\"*}" | tr -s ' ' '\n')
}
"""

    def render(self, ctx: RenderContext) -> list[str]:
        out = []
        by_name = {c.name: c for c in ctx.plan.components}
        index = ctx.comp_index
        for comp in ctx.plan.components:
            if not comp.embeds:
                continue
            i = index[comp.name]
            labels = [by_name[e].label for e in comp.embeds]
            units = " ".join(f"-u {_q(u)}" for u in comp.journal)
            pattern = _q(f"Running ({'|'.join(labels)}) ")
            steps = [f'[ -n "$P{index[e]}" ] || {{ fb_run "$J" {_q(by_name[e].label)} && '
                     f'{{ A{index[e]}=$R; P{index[e]}=$P{i}; W{index[e]}={_q(" in the " + comp.label + " journal")}; }}; }};'
                     for e in comp.embeds if e in ctx.need_argv]
            out.append(f'if [ -n "$P{i}" ]; then r journal {key_arg(comp.name)} "$P{i}"; '
                       f'J=$(journalctl {units} -b --no-pager -o cat 2>/dev/null | grep -E {pattern} | tail -n 50); '
                       f'printf \'%s\' "$J"; {" ".join(steps)} fi')
        return out

    def parse(self, rec: Record, b: Builder) -> None:
        if len(rec.args) == 2 and rec.args[1].isdigit():
            name = key_text(rec.args[0])
            host = next((c for c in b.components if c.name == name and c.embeds), None)
            if host is not None:
                b.journals.append((host, int(rec.args[1]), _text(rec.payload)))


class PathKind(RecordKind):
    """Path variables, resolved in the shell: inventory > the process's flag > its environment >
    the first existing candidate > the default."""

    name, types, keyed = "paths", frozenset({"path"}), frozenset({"path"})
    helpers = r"""fb_get() {  # $1: argv, one per line; $2: flag. Sets R to its value (last one wins); 0 if given.
  R=; _f=1; _w=; _o=$IFS; IFS='
'; set -f
  for _a in $1; do
    if [ -n "$_w" ]; then
      _w=; case $_a in -*) ;; *) R=$_a; continue;; esac
    fi
    case $_a in "$2"=*) R=${_a#*=}; _f=0;; "$2") R=true; _f=0; _w=1;; esac
  done
  set +f; IFS=$_o; return $_f
}
fb_env() {  # $1: NAME=value lines; $2: NAME. Sets R; 0 if set.
  R=; _o=$IFS; IFS='
'; set -f
  for _a in $1; do case $_a in "$2"=*) R=${_a#*=}; set +f; IFS=$_o; return 0;; esac; done
  set +f; IFS=$_o; return 1
}
"""

    def planned(self, plan: Plan) -> tuple[str, ...]:
        return tuple(v.name for v in plan.path_vars)

    def render(self, ctx: RenderContext) -> list[str]:
        out = []
        for j, var in enumerate(ctx.plan.path_vars):
            ci = ctx.comp_index[var.name.split(".")[0]]
            out.append(f"V{j}=; S{j}=")
            if var.name in ctx.plan.overrides:
                out.append(f"V{j}={_q(ctx.plan.overrides[var.name])}; S{j}=inventory")
            if var.from_flag:
                out.append(f'[ -z "$V{j}" ] && [ -n "$P{ci}" ] && fb_get "$A{ci}" {_q(var.from_flag)} && '
                           f'[ -n "$R" ] && {{ V{j}=$R; S{j}={_q("flag " + var.from_flag)}"$W{ci}"; '
                           f'case $V{j} in /*) ;; *) V{j}="$(readlink "/proc/$P{ci}/cwd")/$V{j}";; esac; }}')
            if var.from_env:
                out.append(f'[ -z "$V{j}" ] && [ -n "$P{ci}" ] && fb_env "$E{ci}" {_q(var.from_env)} && '
                           f'[ -n "$R" ] && {{ V{j}=$R; S{j}={_q("env " + var.from_env)}; }}')
            if var.candidates:
                cands = " ".join(_q(c) for c in var.candidates)
                out.append(f'[ -z "$V{j}" ] && for c in {cands}; do [ -e "$c" ] && {{ V{j}=$c; S{j}=candidate; break; }}; done')
            if var.default:
                out.append(f'[ -z "$V{j}" ] && {{ V{j}={_q(var.default)}; S{j}=default; }}')
            out.append(f"r path {key_arg(var.name)}; printf '%s\\n%s' \"$S{j}\" \"$V{j}\"")
        return out

    def parse(self, rec: Record, b: Builder) -> None:
        if rec.args:
            name = key_text(rec.args[0])
            source, _, path = _text(rec.payload).partition("\n")
            b.paths[name] = ResolvedPath(name=name, path=path or None, source=source or "unresolved")


_DENIED = r"""fb_denied() {  # $1: a path [ -e ] cannot see. 0 if a folder above it cannot be searched by us.
  _d=${1%/*}
  while [ -n "$_d" ]; do
    if [ -d "$_d" ] && [ ! -x "$_d" ]; then return 0; fi
    _d=${_d%/*}
  done
  return 1
}
"""


class StatKind(RecordKind):
    """ONE ``stat -L`` over every single file (its lines come back keyed by path)."""

    name, types, keyed = "stats", frozenset({"stat", "s"}), frozenset({"stat"})
    header_only = frozenset({"s"})
    helpers = _DENIED + r"""fb_state() {  # $1: a path. Sets St: unset, present, denied (a folder above hides it) or absent.
  if [ -z "$1" ]; then St=unset; elif [ -e "$1" ]; then St=present; elif fb_denied "$1"; then St=denied; else St=absent; fi
}
"""

    def planned(self, plan: Plan) -> tuple[str, ...]:
        return plan.stats

    def render(self, ctx: RenderContext) -> list[str]:
        if not ctx.plan.stats:
            return []
        out = ["set --"]
        for expr in ctx.plan.stats:
            out.append(f'p={ctx.word(expr)}; fb_state "$p"; r stat {key_arg(expr)} "$St"; printf \'%s\' "$p"; '
                       f'[ "$St" = present ] && set -- "$@" "$p"')
        out.append(f'[ $# -gt 0 ] && {{ printf \'\\n\'; stat -L -c "@@$N s {STAT_FORMAT}" -- "$@" 2>/dev/null; }}')
        return out

    def parse(self, rec: Record, b: Builder) -> None:
        if rec.type == "s":
            st = _stat(_text(rec.payload))
            b.stats[st.path] = st
        elif len(rec.args) == 2:
            path = _text(rec.payload)
            if rec.args[1] == "absent":
                b.stats[path] = None
            elif rec.args[1] == "denied":
                b.denied.add(path)


class TreeKind(RecordKind):
    """One ``find DIR/ -exec stat … {} +`` per directory tree; its entries follow its ``tree`` record."""

    name, types = "trees", frozenset({"tree", "treeabsent", "treedenied", "t"})
    keyed = frozenset({"tree", "treeabsent", "treedenied"})
    header_only = frozenset({"t"})

    def planned(self, plan: Plan) -> tuple[str, ...]:
        return plan.trees

    def render(self, ctx: RenderContext) -> list[str]:
        out = []
        for expr in ctx.plan.trees:
            k = key_arg(expr)
            out.append(f"p={ctx.word(expr)}")
            out.append(f'if [ -d "$p" ]; then r tree {k}; printf \'%s\\n\' "$p"; '
                       f'find "$p/" -exec stat -c "@@$N t {STAT_FORMAT}" {{}} + 2>/dev/null; '
                       f'elif [ -e "$p" ]; then r tree {k}; printf \'%s\\n\' "$p"; stat -L -c "@@$N t {STAT_FORMAT}" -- "$p" 2>/dev/null; '
                       f'elif fb_denied "$p"; then r treedenied {k}; printf \'%s\' "$p"; '
                       f'else r treeabsent {k}; printf \'%s\' "$p"; fi')
        return out

    def parse(self, rec: Record, b: Builder) -> None:
        if rec.type == "t":
            bucket = b.trees.get(b.tree) if b.tree is not None else None
            if bucket is None:
                raise BatchError("tree entry outside a tree listing")
            st = _stat(_text(rec.payload))
            bucket.append(FileStat(_norm_path(st.path), st.mode, st.uid, st.gid, st.user, st.group, st.type))
            return
        root = _norm_path(_text(rec.payload).rstrip("\n"))
        b.trees[root] = [] if rec.type == "tree" else None
        b.tree = root if rec.type == "tree" else None
        if rec.type == "treedenied":
            b.denied.add(root)


class ReadKind(RecordKind):
    """``head -c`` of each config file the checks read: regular files only (a FIFO never blocks)."""

    name, types, keyed = "reads", frozenset({"read", "readrc"}), frozenset({"readrc"})
    helpers = r"""fb_read() {  # $1: key; $2: path. A read record (the first $M bytes), then readrc RC with the path.
  if [ -z "$2" ]; then r readrc "$1" unset
  elif [ ! -e "$2" ] && fb_denied "$2"; then r readrc "$1" unreadable
  elif [ ! -e "$2" ]; then r readrc "$1" absent
  elif [ ! -f "$2" ] || [ ! -r "$2" ]; then r readrc "$1" unreadable
  else r read "$1"; head -c "$M" -- "$2" 2>/dev/null; r readrc "$1" $?
  fi
  printf '%s' "$2"
}
"""

    def planned(self, plan: Plan) -> tuple[str, ...]:
        return plan.reads

    def render(self, ctx: RenderContext) -> list[str]:
        return [f"fb_read {key_arg(expr)} {ctx.word(expr)}" for expr in ctx.plan.reads]

    def parse(self, rec: Record, b: Builder) -> None:
        if not rec.args:
            return
        key = key_text(rec.args[0])
        if rec.type == "read":
            b.reads[key] = rec.payload
            return
        if len(rec.args) != 2:
            raise BatchError(f"readrc record without a status for {key!r}")
        rc, path = rec.args[1], _text(rec.payload)
        if rc == "unset" or not path:
            return
        if rc in ("absent", "unreadable"):
            b.contents[key] = Content(path, rc)  # type: ignore[arg-type]  # a Literal the shell spelled
        elif rc == "0" and key in b.reads:
            data = b.reads[key]
            b.contents[key] = Content(path, "truncated" if len(data) >= MAX_FILE_BYTES else "present", data)
        else:
            b.contents[key] = Content(path, "unreadable")


class DirKind(RecordKind):
    """Every ``*.conf`` file (or ``dir/*.yaml``: those) of the folders the checks read: drop-ins."""

    name, types, keyed = "dirs", frozenset({"dir", "dirfile"}), frozenset({"dir"})

    def planned(self, plan: Plan) -> tuple[str, ...]:
        return plan.dirs

    def render(self, ctx: RenderContext) -> list[str]:
        out = []
        for expr in ctx.plan.dirs:
            folder, glob = dir_glob(expr)         # glob is "*.<letters and digits>": safe unquoted
            k = key_arg(expr)
            out.append(f"p={ctx.word(folder)}; r dir {k}; printf '%s' \"$p\"")
            out.append(f'[ -n "$p" ] && [ -d "$p" ] && for f in "$p"/{glob}; do [ -f "$f" ] && [ -r "$f" ] && '
                       f'{{ r dirfile {k} "${{#f}}"; printf "%s\\n" "$f"; head -c "$M" -- "$f" 2>/dev/null; }}; done')
        return out

    def parse(self, rec: Record, b: Builder) -> None:
        if rec.type == "dirfile" and rec.args:
            if len(rec.args) != 2 or not rec.args[1].isdigit():
                raise BatchError("dirfile record without its name's length")
            size = int(rec.args[1])               # the name's length in bytes: a name may hold a newline
            name, data = rec.payload[:size], rec.payload[size + 1:]
            b.dirs.setdefault(key_text(rec.args[0]), []).append(
                Content(_text(name), "truncated" if len(data) >= MAX_FILE_BYTES else "present", data))


#: How each distribution's node holds kubectl and the admin kubeconfig, in the order the probe tries them:
#: (label, the command's words, the kubeconfig)
KUBECTLS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("kubeadm", ("kubectl",), "/etc/kubernetes/admin.conf"),
    ("rke2", ("/var/lib/rancher/rke2/bin/kubectl",), "/etc/rancher/rke2/rke2.yaml"),
    ("k3s", ("k3s", "kubectl"), "/etc/rancher/k3s/k3s.yaml"),
)
KUBE_RESOURCES = "pods,serviceaccounts,namespaces,roles,clusterroles,rolebindings,clusterrolebindings,networkpolicies"
KUBE_TIMEOUT = "20s"                      #: kubectl's --request-timeout: an API that does not answer fails fast
KUBE_DEADLINE = 60                        #: seconds (``timeout``, where the node has it): a wedged kubectl
                                          #: must not cost the host its node results


class KubeKind(RecordKind):
    """The cluster query, on a cluster's source host only: ONE read-only ``kubectl get … -A -o json``.

    No secrets are listed, nothing is written (``--cache-dir`` points at a path that cannot be
    created, so kubectl keeps its discovery in memory), no ``jq`` and no ``auth can-i``: the JSON
    comes back as it is and ``cluster.py`` decides everything. The command and kubeconfig come from
    the inventory (``kubectl``, ``kubeconfig``) or from what the node has (:data:`KUBECTLS`, first
    match), under ``timeout`` when the node has it. stdout is capped at :data:`MAX_KUBE_BYTES` + 1 bytes (``head -c``), so an answer that
    reaches the cap is known to be cut; kubectl's stderr and exit status come back in ``kuberc``.
    """

    name, types = "kube", frozenset({"kube", "kuberc"})

    def render(self, ctx: RenderContext) -> list[str]:
        target: KubeTarget | None = ctx.plan.kube
        if target is None:
            return []
        out = [f"KC={_q(target.kubeconfig or '')}; KL="]
        if target.kubectl:
            command = " ".join(_q(w) for w in shlex.split(target.kubectl))
            out.append(f"set -- {command}; KL={_q('inventory')}")
            cfgs = " ".join(_q(c) for _, _, c in KUBECTLS)
            out.append(f'[ -n "$KC" ] || for f in {cfgs}; do [ -e "$f" ] && {{ KC=$f; break; }}; done')
        else:
            arms = []
            for label, words, cfg in KUBECTLS:
                test = (f"[ -x {_q(words[0])} ]" if words[0].startswith("/")
                        else f"command -v {_q(words[0])} >/dev/null 2>&1")
                arms.append(f"[ -e {_q(cfg)} ] && {test}; then set -- {' '.join(_q(w) for w in words)}; "
                            f"KL={_q(label)}; [ -n \"$KC\" ] || KC={_q(cfg)}")
            out.append("if " + "\nelif ".join(arms) + "\nfi")
        looked = "; ".join(f"{' '.join(w)} with {c}" for _, w, c in KUBECTLS)
        out += [
            'if [ -z "$KL" ]; then r kuberc missing -; printf \'%s\\n%s\\n%s\' - "$KC" ' + _q("looked for " + looked),
            'elif [ -z "$KC" ] || [ ! -r "$KC" ]; then r kuberc unreadable -; printf \'%s\\n%s\\n\' "$*" "$KC"',
            "else",
            f"  r kube; exec 4>&1; T=; command -v timeout >/dev/null 2>&1 && T='timeout {KUBE_DEADLINE}'",
            f'  X=$( {{ {{ $T "$@" --kubeconfig "$KC" --cache-dir /dev/null/fleetbench --request-timeout={KUBE_TIMEOUT} '
            f'get {KUBE_RESOURCES} -A -o json </dev/null 2>&3; echo "$?" >&3; }} | head -c {MAX_KUBE_BYTES + 1} >&4; }} 3>&1 )',
            "  exec 4>&-; Kr=${X##*\n}; X=${X%\"$Kr\"}",
            '  r kuberc ran "$Kr"; printf \'%s\\n%s\\n%s\' "$*" "$KC" "$X"',
            "fi",
        ]
        return out

    def parse(self, rec: Record, b: Builder) -> None:
        if rec.type == "kube":
            b.kube_payload = rec.payload
            return
        if len(rec.args) != 2:
            raise BatchError("kuberc record without a state and status")
        command, _, rest = _text(rec.payload).partition("\n")
        kubeconfig, _, message = rest.partition("\n")
        state, rc = rec.args
        payload = b.kube_payload or b""
        b.kube_payload = None
        if state == "missing":
            b.kube = KubeQuery("missing", command, kubeconfig, message)
        elif state == "unreadable":
            b.kube = KubeQuery("unreadable", command, kubeconfig, message)
        elif len(payload) > MAX_KUBE_BYTES:
            b.kube = KubeQuery("truncated", command, kubeconfig, f"more than {MAX_KUBE_BYTES >> 20} MiB")
        elif rc == "124" and not message.strip():
            b.kube = KubeQuery("failed", command, kubeconfig, f"kubectl did not finish within {KUBE_DEADLINE}s")
        elif rc != "0":
            b.kube = KubeQuery("failed", command, kubeconfig, message.strip() or f"exit status {rc}")
        else:
            b.kube = KubeQuery("ok", command, kubeconfig, message, payload)


#: Every record kind, in script order (a kind may read the shell variables of the kinds before it).
KINDS: tuple[RecordKind, ...] = (HostKind(), ProcKind(), VersionKind(), JournalKind(), PathKind(),
                                 StatKind(), TreeKind(), ReadKind(), DirKind(), KubeKind())
PARSERS: dict[str, RecordKind] = {t: kind for kind in KINDS for t in kind.types}
HEADER_ONLY: frozenset[str] = frozenset(t for kind in KINDS for t in kind.header_only)
if len(PARSERS) != sum(len(k.types) for k in KINDS):        # pragma: no cover - a programming error
    raise AssertionError("two record kinds claim the same record type")


def collected(records: Iterable[Record]) -> set[tuple[str, str]]:
    """(kind, key) of every keyed record: what a probe did collect."""
    return {(PARSERS[r.type].name, key_text(r.args[0])) for r in records
            if r.type in PARSERS and r.type in PARSERS[r.type].keyed and r.args}


def missing(records: Iterable[Record], plan: Plan) -> list[str]:
    """The planned keys no record answers (e.g. a bundle collected for another benchmark)."""
    have = collected(records)
    return [key for kind in KINDS for key in kind.planned(plan) if (kind.name, key) not in have]
