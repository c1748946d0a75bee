"""A small read-only Kubernetes API for the lab: just enough for a REAL kubectl's ``get … -A -o json``.

It serves the legacy discovery documents (``/version``, ``/api``, ``/api/v1``, ``/apis`` and each
group's version) and the cluster-wide list endpoints of the eight resources fleetbench queries,
from recorded objects (``tests/fixtures/kube/<cluster>.json``: a list of objects with their
``kind``). Anything else is 404, and any method but GET is 405: the scanner must never write.
Plain HTTP on a loopback address; the lab node's admin.conf points at it (``scenarios.py``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "kube"

#: (group, version, resource, kind, namespaced) of what fleetbench lists
RESOURCES: tuple[tuple[str, str, str, str, bool], ...] = (
    ("", "v1", "pods", "Pod", True),
    ("", "v1", "serviceaccounts", "ServiceAccount", True),
    ("", "v1", "namespaces", "Namespace", False),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True),
)


def load(name: str) -> list[dict[str, Any]]:
    """The recorded objects of one lab cluster."""
    data: list[dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def _resource_list(group: str, version: str) -> dict[str, Any]:
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": [
        {"name": res, "singularName": kind.lower(), "namespaced": nsd, "kind": kind,
         "verbs": ["get", "list", "watch"]}
        for g, v, res, kind, nsd in RESOURCES if g == group and v == version]}


def routes(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """Every path the server answers, with its JSON document."""
    groups = sorted({g for g, *_ in RESOURCES if g})
    out: dict[str, Any] = {
        "/version": {"major": "1", "minor": "31", "gitVersion": "v1.31.0"},
        "/api": {"kind": "APIVersions", "versions": ["v1"],
                 "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]},
        "/api/v1": _resource_list("", "v1"),
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
             "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"}} for g in groups]},
    }
    for g in groups:
        out[f"/apis/{g}/v1"] = _resource_list(g, "v1")
    for g, v, res, kind, _ in RESOURCES:
        items = []
        for obj in objects:
            if obj.get("kind") == kind:
                item = {k: val for k, val in obj.items() if k not in ("kind", "apiVersion")}  # as the API lists them
                items.append(item)
        prefix = f"/apis/{g}/{v}" if g else f"/api/{v}"
        out[f"{prefix}/{res}"] = {"kind": f"{kind}List", "apiVersion": f"{g}/{v}" if g else v,
                                  "metadata": {"resourceVersion": "1"}, "items": items}
    return out


class _Handler(BaseHTTPRequestHandler):
    server: KubeAPI

    def log_message(self, format: str, *args: Any) -> None:   # quiet: the tests read self.server.requests
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = urlsplit(self.path).path.rstrip("/") or "/"
        self.server.requests.append(("GET", self.path))
        doc = self.server.routes.get(path)
        if doc is None:
            self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                             "code": 404, "message": f"the server could not find the requested resource ({path})"})
        else:
            self._send(200, doc)

    def _refuse(self) -> None:
        self.server.requests.append((self.command, self.path))
        self._send(405, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 405,
                         "message": "read-only lab API"})

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

    def _send(self, code: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class KubeAPI(ThreadingHTTPServer):
    """The server for one lab cluster; :meth:`start` runs it on a thread, :meth:`stop` ends it."""

    daemon_threads = True

    def __init__(self, address: str, objects: list[dict[str, Any]]) -> None:
        super().__init__((address, 0), _Handler)
        self.routes: Mapping[str, Any] = routes(objects)
        self.requests: list[tuple[str, str]] = []
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> KubeAPI:
        self._thread = threading.Thread(target=self.serve_forever, name="kubeapi", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(5)


def kubeconfig(server: str, name: str = "lab") -> str:
    """An admin kubeconfig pointing at ``server`` (plain HTTP, no credentials: the lab API has none)."""
    return (f"apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {server}\n"
            f"contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: admin\n"
            f"current-context: {name}\nusers:\n- name: admin\n  user: {{}}\n")


@contextmanager
def running_api(address: str, cluster: str = "clean") -> Iterator[KubeAPI]:
    """A lab cluster's read-only API on ``address`` (an ephemeral port) while the block runs: give its
    ``url`` to the control plane's spec (``api_url``) so section 5 is decided for the lab's cluster."""
    api = KubeAPI(address, load(cluster)).start()
    try:
        yield api
    finally:
        api.stop()


def serve(address: str, cluster: str, url_file: Path) -> None:
    """Run one lab cluster's API in this process until SIGTERM (``python -m tests.lab up`` starts it
    detached for the demo lab); its URL is written to ``url_file`` once it listens."""
    import os
    import signal

    api = KubeAPI(address, load(cluster))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    tmp = url_file.with_name(url_file.name + ".tmp")
    tmp.write_text(api.url + "\n")
    tmp.replace(url_file)
    api.serve_forever()


if __name__ == "__main__":
    import sys

    serve(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
