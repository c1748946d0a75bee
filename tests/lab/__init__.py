"""The loopback lab: simulated kubeadm nodes on 127.77.0.N for end-to-end tests.

Start one from Python (``with Lab(state_dir) as lab: ...``) or from a shell
(``python -m tests.lab up|status|down``); see ``tests.lab.lab`` for how a
node is built and ``tests.lab.scenarios`` for what it contains (k3s and RKE2
nodes: ``tests.lab.distros``).
"""

from tests.lab.distros import distro_specs
from tests.lab.lab import Lab, LabError, NodeStatus
from tests.lab.scenarios import default_specs, drifted_worker, kubeadm_control_plane, kubeadm_worker, mixed_specs
from tests.lab.specs import FileSpec, NodeSpec, ProcSpec

__all__ = [
    "FileSpec",
    "Lab",
    "LabError",
    "NodeSpec",
    "NodeStatus",
    "ProcSpec",
    "default_specs",
    "distro_specs",
    "drifted_worker",
    "kubeadm_control_plane",
    "kubeadm_worker",
    "mixed_specs",
]
