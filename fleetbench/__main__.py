"""``python -m fleetbench`` → the command line."""

from .cli import run

raise SystemExit(run())
