"""What a loopback-lab node is made of: files, processes, and the node itself.

These plain dataclasses are the vocabulary shared by the scenario builders
(``tests.lab.scenarios``) and the machinery that materialises them
(``tests.lab.lab``).  They describe the state a scanner should observe on a
host -- paths, modes, owners, exact argv and environment -- and nothing about
how the lab produces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FileKind = Literal["file", "dir", "symlink", "fifo"]
RoleGroup = Literal["control-plane", "workers", "etcd"]
ROLE_GROUPS: tuple[RoleGroup, ...] = ("control-plane", "workers", "etcd")


@dataclass
class FileSpec:
    """One filesystem entry inside a node.

    ``path`` is absolute inside the node.  ``owner``/``group`` are names,
    resolved through the node's own /etc/passwd and /etc/group (the host's
    accounts plus ``etcd`` and ``auditor``).  ``content`` is ignored for
    directories, symlinks and fifos; a symlink points at ``target``; a fifo is a
    named pipe (reading it blocks until someone writes: a stuck read).  ``mode`` is
    applied verbatim (no umask), except for symlinks, which have none.
    """

    path: str
    content: str | bytes | None = None
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    kind: FileKind = "file"
    target: str | None = None


@dataclass
class ProcSpec:
    """One process running inside a node.

    The lab places its stub binary at ``exe`` and execs it with exactly
    ``argv`` (``argv[0]`` included) and exactly ``env`` as the environment,
    so /proc/<pid>/cmdline and /proc/<pid>/environ hold precisely these and
    /proc/<pid>/comm is the first 15 characters of ``exe``'s basename.
    ``version`` is what ``<exe> --version`` prints, as the real binary would.
    """

    exe: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    version: str | None = None   #: what `<exe> --version` prints (the stub reads <exe>.version)


@dataclass
class NodeSpec:
    """A whole node: its files, its processes and its inventory group."""

    name: str
    files: list[FileSpec]
    procs: list[ProcSpec]
    role_group: RoleGroup
