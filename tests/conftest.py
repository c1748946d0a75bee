"""Shared fixtures: the real catalog, and helpers to build facts for pure tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleetbench.catalog import load_catalog  # noqa: E402
from fleetbench.models import Catalog  # noqa: E402


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()
