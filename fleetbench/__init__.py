"""fleetbench: agentless CIS Kubernetes Benchmark scans of a whole fleet over SSH.

Public API::

    from fleetbench import load_inventory, load_catalog, scan, ScanOptions
"""

__version__ = "0.1.0"

from .catalog import load_catalog  # noqa: E402
from .inventory import load_inventory  # noqa: E402
from .models import Finding, HostScan, ScanReport, Status  # noqa: E402
from .runner import ScanOptions, scan  # noqa: E402
from .select import Selection  # noqa: E402

__all__ = ["__version__", "load_catalog", "load_inventory", "scan", "ScanOptions", "Selection",
           "Finding", "HostScan", "ScanReport", "Status"]
