"""Headless Chromium driven over the DevTools protocol on a pipe: shared by the HTML tests and bench/.

``--remote-debugging-pipe``: JSON messages separated by NUL bytes on fds 3 and 4, so no Python
package is needed; the browser resolves no name and may only reach 127.0.0.1:9 (closed) as its
proxy. :data:`CHROMIUM` is None when Chromium is not installed (``make test`` installs it).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--disable-quic", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--remote-debugging-pipe")
# Runs before the page's own script in every document: records CSP violations.
WATCH = ("window.__violations = []; document.addEventListener('securitypolicyviolation', "
         "e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));")

# Chromium reads the protocol from fd 3 and writes to fd 4: put the pipe ends there, then exec it.
_EXEC_WITH_PIPES = """import fcntl, os, sys
r, w = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3])   # moved clear of 3 and 4 first
os.close(int(sys.argv[1])); os.close(int(sys.argv[2]))
os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w)
os.execvp(sys.argv[3], sys.argv[3:])
"""


class Browser:
    """Headless Chromium over the DevTools protocol on a pipe; one page session at a time."""

    def __init__(self, profile: Path, timeout: float = 90.0) -> None:
        to_browser, from_browser = os.pipe(), os.pipe()
        r, w = to_browser[0], from_browser[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _EXEC_WITH_PIPES, str(r), str(w), CHROMIUM or "chromium",
             *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(r, w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r)
        os.close(w)
        self._out, self._in = to_browser[1], from_browser[0]
        self._buf = b""
        self._id = 0
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []

    def _next(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self._buf += chunk
        message, _, self._buf = self._buf.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._next(deadline)
            if reply.get("id") != self._id:
                self.events.append(reply)
            elif "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            else:
                return reply["result"]

    def wait_for(self, method: str, session: str, name: str | None = None) -> dict[str, Any]:
        """The first event ``method`` of ``session`` (with ``params.name == name`` if given)."""
        deadline = time.monotonic() + self.timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method and event.get("sessionId") == session and \
                        (name is None or event.get("params", {}).get("name") == name):
                    return event
            seen = len(self.events)
            self.events.append(self._next(deadline))

    def open(self, url: str) -> str:
        """Load ``url`` in a new 1400×1000 page; return the page's session once it has loaded."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for method in ("Network.enable", "Page.enable", "Runtime.enable"):
            self.call(method, session)
        self.call("Page.addScriptToEvaluateOnNewDocument", session, source=WATCH)
        self.call("Emulation.setDeviceMetricsOverride", session, width=1400, height=1000, deviceScaleFactor=1,
                  mobile=False)
        self.call("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired", session)
        return session

    def evaluate(self, session: str, expression: str) -> Any:
        reply = self.call("Runtime.evaluate", session, expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in reply, reply["exceptionDetails"]
        return reply["result"].get("value")

    def session_events(self, session: str, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.events if e.get("sessionId") == session and e.get("method") == method]

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (EOFError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._out)
        os.close(self._in)
