"""HostFacts → which distribution and Kubernetes version a node runs, and so which benchmark.

Evidence, first usable wins:

1. the ``--version`` output of the node's running kubelet, k3s or rke2 binary;
2. the image tag of the API server's static-pod manifest (``kube-apiserver:v1.30.2``);

Distribution: a running ``k3s`` or ``rke2`` process says so; otherwise kubeadm when its
files are there (``/etc/kubernetes/manifests`` static pods or ``/etc/kubernetes/kubelet.conf``),
else plain Kubernetes. The minor version picks the generic benchmark from each mapping file's
``kubernetes:`` list (kube-bench's table); a minor newer than every list gets the newest
benchmark, as kube-bench does. When nothing tells the version, the newest generic benchmark is
used and the report says so — kube-bench silently falls back to an old one.
"""

from __future__ import annotations

import re

from . import facts as F
from .models import Catalog, Detection, HostFacts

_VERSION = re.compile(r"\bv?(1)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?")


def _parse(text: str) -> str | None:
    m = _VERSION.search(text)
    return f"{m.group(1)}.{m.group(2)}.{m.group(3)}" if m else None


def version(facts: HostFacts) -> tuple[str | None, str]:
    for comp in ("kubelet", "k3s", "rke2"):
        if comp in facts.versions:
            found = _parse(facts.versions[comp])
            if found:
                return found, f"{comp} --version"
    content = facts.contents.get("{apiserver.manifest}")
    if content is not None and content.state == "present":
        try:
            data = F.parse_config(content.data)
            image = str(data["spec"]["containers"][0]["image"])
        except (ValueError, KeyError, IndexError, TypeError):
            image = ""
        found = _parse(image.rpartition(":")[2]) if ":" in image else None
        if found:
            return found, f"image {image} in {content.path}"
    return None, "not detected"


def distribution(facts: HostFacts) -> str:
    if "k3s" in facts.processes:
        return "k3s"
    if "rke2" in facts.processes:
        return "rke2"
    manifest = facts.paths.get("apiserver.manifest")
    kubelet = facts.processes.get("kubelet")
    kubeconfig = F.flag_value(kubelet.argv, "--kubeconfig") if kubelet else None
    if kubeconfig == "/etc/kubernetes/kubelet.conf" or (manifest and manifest.source == "candidate"
                                                          and (manifest.path or "").startswith("/etc/kubernetes/manifests/")):
        return "kubeadm"
    return "kubernetes"


def _minor(v: str) -> int:
    return int(v.split(".")[1])


def choose(catalog: Catalog, facts: HostFacts) -> Detection:
    dist = distribution(facts)
    found, source = version(facts)
    generic = sorted((b for b in catalog.benchmarks.values() if b.id.startswith("cis-")),
                     key=lambda b: tuple(int(p) for p in b.id[4:].split(".")))
    newest = generic[-1].id
    flavoured = f"{dist}-" if dist in ("k3s", "rke2") else None
    if flavoured:
        own = sorted(b for b in catalog.benchmarks if b.startswith(flavoured))
        if own:
            return Detection(dist, found, source, own[-1], f"{dist} node: its own benchmark variant {own[-1]}")
    if found is None:
        return Detection(dist, None, source, newest,
                         f"Kubernetes version not detected (no kubelet --version, no API server image tag); "
                         f"used the newest generic benchmark {newest}")
    minor = _minor(found)
    for bench in generic:
        if any(_minor("1." + k.split(".")[1] + ".0") == minor for k in bench.kubernetes):
            note = f"Kubernetes 1.{minor} maps to {bench.id}"
            if flavoured:
                note += f" (no {dist} variant in the catalog; generic checks may miss {dist}'s own file locations)"
            return Detection(dist, found, source, bench.id, note)
    newest_minor = max(_minor("1." + k.split(".")[1] + ".0") for b in generic for k in b.kubernetes)
    if minor > newest_minor:
        return Detection(dist, found, source, newest, f"Kubernetes 1.{minor} is newer than every benchmark; used the newest, {newest}")
    oldest = generic[0].id
    return Detection(dist, found, source, oldest,
                     f"Kubernetes 1.{minor} is older than every benchmark in the catalog; used the oldest, {oldest} "
                     "(expect verdicts that do not fit this version)")
