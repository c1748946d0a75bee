"""``python -m fleetbench`` → the command line."""

from .cli import main

raise SystemExit(main())
