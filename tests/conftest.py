"""Shared fixtures: the real catalog, and helpers to build facts for pure tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleetbench.catalog import load_catalog  # noqa: E402
from fleetbench.models import Catalog  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _history_database(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Scans record their runs in the history database (and cache compiled templates): keep the
    tests' runs out of the user's ~/.local/share/fleetbench (and ~/.cache/fleetbench) and away from
    other test sessions on the same machine."""
    os.environ.pop("FLEETBENCH_DB", None)
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()
