"""Exceptions fleetbench raises on purpose, and the closed vocabulary of per-host failures.

::

    FleetbenchError                 everything fleetbench raises on purpose
    ├── InputError                  the user must fix an input before anything runs (exit 2)
    │   ├── InventoryError          file:line and what was expected
    │   ├── CatalogError            file:line and what was expected
    │   └── UsageError              a command-line flag and what was expected
    └── BatchError                  one host's probe output could not be used (→ HostError)

Per-host failures are never raised past ``runner.py``: they become a :class:`HostError` value
on the host's result, so one broken node never stops the fleet and is never shown as passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FleetbenchError(Exception):
    """Base class of every error fleetbench raises on purpose."""


class InputError(FleetbenchError):
    """A bad input file or flag; the message is one line: ``where: what was expected``."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class InventoryError(InputError):
    """The inventory file is malformed."""


class CatalogError(InputError):
    """A catalog file under ``checks/`` is malformed."""


class UsageError(InputError):
    """A command-line flag has a value fleetbench cannot use."""


class BatchError(FleetbenchError):
    """The output of a host's probe script is garbled or incomplete."""


class HostStatus(StrEnum):
    """Whether a host was assessed; every value but OK means "not assessed"."""

    OK = "ok"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth-failed"
    HOST_KEY_MISMATCH = "host-key-mismatch"
    TIMEOUT = "timeout"
    ERROR = "error"
    NO_KUBERNETES = "no-kubernetes"       #: none of the components the host's roles require was found
    INTERRUPTED = "interrupted"           #: SIGINT/SIGTERM came before the host was done (or started)


@dataclass(frozen=True, slots=True)
class HostError:
    """Why a host was not assessed: a status for machines, a reason for people."""

    status: HostStatus
    reason: str
