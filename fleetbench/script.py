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

What each part prints and how it is read back lives in ``records.py``, one class per kind of
record; this module puts the parts together and splits the output into records.

Framing: every record starts on a fresh line with ``@@<nonce> <type>``; the nonce is random per
host and run, so no file content or argv can forge a record, and anything a login shell prints
before the first record (MOTD, an ``echo`` in .bashrc) is ignored. The last record is ``done``;
without it the output is incomplete. Every literal that reaches the shell goes through
:func:`shlex.quote`.
"""

from __future__ import annotations

import re
import secrets

from .errors import BatchError
from .models import Record
from .plan import Plan
from .records import HEADER_ONLY, KINDS, MAX_FILE_BYTES, RenderContext

__all__ = ["MAX_FILE_BYTES", "Record", "new_nonce", "parse", "render"]

_PRELUDE = r"""# fleetbench probe: read-only. It reads /proc and stats or reads files; it writes nothing.
export LC_ALL=C
N={nonce}
M={max_bytes}
r() {{ printf '\n@@%s %s\n' "$N" "$*"; }}
"""



def new_nonce() -> str:
    return secrets.token_hex(8)


def prelude(nonce: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The framing function ``r`` and every kind's shell helpers (``fb_get``, ``fb_read``, …)."""
    if not re.fullmatch(r"[0-9a-f]{8,64}", nonce):
        raise ValueError("nonce must be hex")
    return _PRELUDE.format(nonce=nonce, max_bytes=max_bytes) + "".join(k.helpers for k in KINDS)


def render(plan: Plan, nonce: str) -> str:
    """The probe script for one host: the prelude, each record kind's part in order, ``done``."""
    return prelude(nonce) + _body(plan)


#: id(plan) → (the plan, its script after the prelude). Hosts of the same roles share one plan
#: object (``runner.plan_for``), so a fleet renders a handful of bodies, not one per host; the entry
#: holds its plan, so the id cannot be reused while it is cached.
_BODIES: dict[int, tuple[Plan, str]] = {}


def _body(plan: Plan) -> str:
    entry = _BODIES.get(id(plan))
    if entry is not None and entry[0] is plan:
        return entry[1]
    ctx = RenderContext.of(plan)
    out: list[str] = []
    for kind in KINDS:
        out.extend(kind.render(ctx))
    out.append("r done")
    body = "\n".join(out) + "\n"
    if len(_BODIES) >= 256:
        _BODIES.clear()
    _BODIES[id(plan)] = (plan, body)
    return body


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
        if rtype in HEADER_ONLY:              # the whole record is the header (names may hold newlines)
            text = chunk[:-1] if chunk.endswith(b"\n") else chunk
            records.append(Record(rtype, (), text[len(rtype) + 1:]))
        else:
            records.append(Record(rtype, tuple(words[1:]), payload))
    if not records:
        raise BatchError("no probe output (the remote shell printed nothing fleetbench recognises)")
    if records[-1].type != "done":
        raise BatchError(f"probe output incomplete: it stops after a '{records[-1].type}' record")
    return records
