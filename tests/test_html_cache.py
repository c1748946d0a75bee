"""The compiled HTML template is cached between runs, safely.

Why: compiling the Jinja template cost a sixth of a 200-host scan's fixed CPU on the jump host
(README, "Benchmark"). What the cache holds is run as code, so it is used only in a folder of this
user's that no one else may write, and a cache that cannot be used never fails a report.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment

from fleetbench.report import from_dict
from fleetbench.report import html as H
from tests.test_report import data  # noqa: F401 - the report fixture


def _environment(cache: H._Cache | None) -> Environment:
    H.environment.cache_clear()
    try:
        env = H.environment.__wrapped__()
    finally:
        H.environment.cache_clear()
    env.bytecode_cache = cache
    return env


def test_the_second_run_loads_the_compiled_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = H.bytecode_cache({"XDG_CACHE_HOME": str(tmp_path)})
    assert cache is not None
    folder = tmp_path / "fleetbench" / "templates"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    first = _environment(cache).get_template("report.html.j2")
    assert len(list(folder.iterdir())) == 1                     # compiled once, written
    monkeypatch.setattr(Environment, "compile", lambda *a, **k: pytest.fail("compiled again"))
    second = _environment(cache).get_template("report.html.j2")
    assert second.render is not None and first is not second


def test_the_cached_template_renders_the_same_page(tmp_path: Path, data: dict[str, Any],  # noqa: F811
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    model = from_dict(data)
    monkeypatch.setattr(H, "bytecode_cache", lambda: None)
    H.environment.cache_clear()
    fresh = H.render(model)
    monkeypatch.setattr(H, "bytecode_cache", lambda: H._Cache(str(tmp_path)))
    for _ in range(2):                                          # written, then read back
        H.environment.cache_clear()
        assert H.render(model) == fresh
    H.environment.cache_clear()
    assert list(tmp_path.iterdir())


def test_a_folder_others_may_write_is_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "fleetbench" / "templates"
    folder.mkdir(parents=True)
    os.chmod(folder, 0o777)
    assert H.bytecode_cache({"XDG_CACHE_HOME": str(tmp_path)}) is None
    os.chmod(folder, 0o700)
    assert H.bytecode_cache({"XDG_CACHE_HOME": str(tmp_path)}) is not None


def test_a_symlink_or_a_file_is_not_used(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "a" / "fleetbench").mkdir(parents=True)
    (tmp_path / "a" / "fleetbench" / "templates").symlink_to(elsewhere)
    assert H.bytecode_cache({"XDG_CACHE_HOME": str(tmp_path / "a")}) is None
    (tmp_path / "plain-file").write_text("")
    assert H.bytecode_cache({"XDG_CACHE_HOME": str(tmp_path / "plain-file")}) is None


def test_a_cache_that_cannot_be_read_or_written_fails_nothing(tmp_path: Path) -> None:
    cache = H._Cache(str(tmp_path / "gone"))                   # no such folder: nothing can be written
    assert _environment(cache).get_template("report.html.j2") is not None
    cache = H._Cache(str(tmp_path))
    _environment(cache).get_template("report.html.j2")
    for f in tmp_path.iterdir():
        f.write_bytes(f.read_bytes()[:40])                      # cut short: compiled again
    assert _environment(cache).get_template("report.html.j2").render is not None
