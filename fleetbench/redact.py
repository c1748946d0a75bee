"""Secrets never reach a report: redaction of flag values, environment values and free text.

A value is secret when its flag or variable name says so (token, password, secret, …) and the
name does not merely point at a file (``--token-auth-file`` names a path, which auditors need).
Free text (reasons, config excerpts) is scrubbed of ``--name=value`` pairs with such names and
of bearer/bootstrap tokens.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"
_SECRET_NAME = re.compile(r"(token|passw(or)?d|secret|credential|private-key-data|key-data|api-?key)", re.I)
_PATH_NAME = re.compile(r"(-file|-dir|-path|_FILE|_DIR|_PATH)$", re.I)
_PAIR = re.compile(r"(--?[A-Za-z0-9_.-]+|\b[A-Z][A-Z0-9_]+)(=|\s+)(\S+)")
_BOOTSTRAP = re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")            # kubeadm bootstrap token
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")


def is_secret_name(name: str) -> bool:
    name = name.lstrip("-")
    return bool(_SECRET_NAME.search(name)) and not _PATH_NAME.search(name)


def redact_value(name: str, value: str) -> str:
    return REDACTED if is_secret_name(name) else redact_text(value)


def redact_argv(argv: tuple[str, ...]) -> tuple[str, ...]:
    """An argv with the values of secret flags replaced (``--token=x``, ``--password x``)."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next and not arg.startswith("-"):
            out.append(REDACTED)
            hide_next = False
            continue
        hide_next = False
        name, eq, _ = arg.partition("=")
        if name.startswith("-") and is_secret_name(name):
            if eq:
                out.append(f"{name}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(redact_text(arg))
    return tuple(out)


def redact_text(text: str) -> str:
    """Scrub secret-looking pairs and tokens from free text."""
    def pair(m: re.Match[str]) -> str:
        return f"{m.group(1)}{m.group(2)}{REDACTED}" if is_secret_name(m.group(1)) else m.group(0)

    text = _PAIR.sub(pair, text)
    text = _BOOTSTRAP.sub(REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
