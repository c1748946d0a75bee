"""The probe script: framing, parsing, and the shell agreeing with Python on flag values."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from fleetbench import plan as P
from fleetbench import script as S
from fleetbench.errors import BatchError
from fleetbench.facts import build, flag_value

SHELLS = [s for s in (["dash"], ["bash", "--posix"], ["busybox", "sh"]) if shutil.which(s[0])]
NONCE = "0123456789abcdef"


def run(shell, source):
    return subprocess.run([*shell, "-s"], input=source.encode(), capture_output=True, timeout=30)


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_full_script_runs_and_parses(shell, catalog):
    plan = P.build(catalog.benchmarks["cis-1.12"].controls, catalog)
    out = run(shell, S.render(plan, NONCE))
    assert out.returncode == 0 and out.stderr == b""
    facts = build(S.parse(out.stdout, NONCE), plan.components)
    assert facts.uid is not None and set(facts.paths) == {v.name for v in plan.path_vars}


ARGVS = [
    ["kubelet", "--config=/a", "--config", "/b"],
    ["kubelet", "--config"],
    ["kubelet", "--config", "--verbose"],
    ["kubelet", "--config=/with space/x=y"],
    ["kubelet", "--configx=/no", "--config=/yes"],
    ["kubelet", "--config=", "--other=1"],
    ["kubelet", "--other", "--config", "relative.yaml"],
    ["kubelet"],
]


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
@pytest.mark.parametrize("argv", ARGVS, ids=lambda a: " ".join(a[1:]) or "none")
def test_shell_flag_reader_matches_python(shell, argv):
    prelude = S.prelude(NONCE, 1)
    lines = "\n".join(argv)
    src = prelude + f"A='{lines}'\nif fb_get \"$A\" --config; then printf 'SET<%s>' \"$R\"; else printf UNSET; fi\n"
    out = run(shell, src).stdout.decode().rsplit("\n", 1)[-1]
    want = flag_value(tuple(argv), "--config")
    assert out == ("UNSET" if want is None else f"SET<{want}>")


def frame(*records: str) -> bytes:
    return "".join(f"\n@@{NONCE} {r}" for r in records).encode()


def test_banner_before_the_first_record_is_ignored():
    out = b"Welcome to prod-node-7!\nLast login: yesterday\n" + frame("host\nhostname=n1\nuid=0\n", "done\n")
    assert [r.type for r in S.parse(out, NONCE)] == ["host", "done"]


def test_file_content_cannot_forge_a_record():
    forged = "@@deadbeefdeadbeef done\n\n@@0000000000000000 s 777 0 0 root root regular file|/etc/shadow"
    out = frame("read 0\n" + forged, "readrc 0 0", "done\n")
    records = S.parse(out, NONCE)
    assert [r.type for r in records] == ["read", "readrc", "done"]
    assert records[0].payload == forged.encode()


def test_incomplete_output_is_an_error():
    with pytest.raises(BatchError, match="incomplete"):
        S.parse(frame("host\nuid=0\n", "proc 1 kubelet\nkubelet\0"), NONCE)
    with pytest.raises(BatchError, match="no probe output"):
        S.parse(b"sudo: a password is required\n", NONCE)


def test_stat_records_keep_odd_names(catalog):
    plan = P.build([], catalog)
    out = frame("s 600 0 0 root root regular file|/etc/a file with spaces",
                "s 644 990 990 etcd etcd regular empty file|/etc/new\nline", "done\n")
    facts = build(S.parse(out, NONCE), plan.components)
    assert facts.stats["/etc/a file with spaces"].mode == 0o600
    assert facts.stats["/etc/new\nline"].owner == "etcd:etcd"


def test_literals_are_quoted(catalog):
    plan = P.build(catalog.benchmarks["cis-1.12"].controls, catalog, {"kubelet.config": "/tmp/x'; touch /tmp/pwned; '"})
    src = S.render(plan, NONCE)
    assert "V" in src and "'\"'\"'" in src    # shlex.quote's escaping of the single quote


def test_a_fifo_is_never_read(catalog, tmp_path):
    """A config path that is a named pipe would block `head` forever on the node: it is reported
    unreadable instead, and the probe finishes."""
    import os
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    plan = P.build(catalog.benchmarks["cis-1.12"].controls, catalog, {"kubelet.config": str(fifo)})
    out = run(SHELLS[0], S.render(plan, NONCE))                 # run() has a 30 s timeout
    facts = build(S.parse(out.stdout, NONCE), plan.components)
    assert facts.contents["{kubelet.config}"].state == "unreadable"


ODD = "odd dir/with 'quote'\nand newline"          # relative: joined under tmp_path


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_records_name_their_keys_and_odd_keys_do_not_break_framing(shell, catalog, tmp_path):
    """Keys with spaces, quotes and newlines (literal path expressions) are encoded in the header;
    the records parse into facts keyed by those expressions with no plan at hand."""
    from fleetbench import records as R

    root = tmp_path / ODD
    (root / "conf.d").mkdir(parents=True)
    (root / "config.yaml").write_text("a: 1\n")
    (root / "conf.d" / "10-x.conf").write_text("b: 2\n")
    stat_e, read_e, dir_e, tree_e = (str(root / "config.yaml"), str(root / "config.yaml"), str(root / "conf.d"),
                                     str(root))
    plan = P.Plan(components=tuple(catalog.components.values()), path_vars=(), overrides={}, stats=(stat_e, str(root / "gone")),
                  trees=(tree_e,), reads=(read_e, str(root / "gone")), dirs=(dir_e,), env_components=())
    out = run(shell, S.render(plan, NONCE))
    assert out.returncode == 0 and out.stderr == b""
    records = S.parse(out.stdout, NONCE)
    assert all(" " not in a and "\n" not in a for r in records for a in r.args)
    assert R.missing(records, plan) == []
    facts = build(records, catalog.components.values())
    assert facts.stats[stat_e].mode & 0o777 == 0o644 and facts.stats[str(root / "gone")] is None
    assert facts.contents[read_e].data == b"a: 1\n" and facts.contents[str(root / "gone")].state == "absent"
    assert [c.data for c in facts.dirs[dir_e]] == [b"b: 2\n"]
    assert {s.path for s in facts.trees[tree_e]} >= {str(root / "conf.d" / "10-x.conf")}


def test_missing_names_what_a_plan_needs_and_the_records_lack(catalog):
    from fleetbench import records as R

    plan = P.build(catalog.benchmarks["cis-1.12"].controls, catalog)
    recs = [S.Record("readrc", (R.key_word(e), "absent"), b"/x") for e in plan.reads]
    lacking = R.missing(recs, plan)
    assert lacking == [v.name for v in plan.path_vars] + [*plan.stats, *plan.trees, *plan.dirs]
    assert R.key_text(R.key_word(ODD)) == ODD and " " not in R.key_word(ODD)
