"""Secrets never reach a report: redaction of flag values, environment values and free text.

A value is hidden when BOTH hold:

- its flag or variable name says it may carry a secret (token, password, secret, credential, …),
  and the name does not merely point at a file (``--token-auth-file`` names a path, which
  auditors need);
- the value itself could be a secret: booleans (``--use-service-account-credentials=true``),
  numbers, durations (``--streaming-connection-idle-timeout=4h``) and paths are settings, never
  secrets, and auditors need them to read the evidence.

Free text (evidence sentences, reasons, journal lines) is scrubbed of ``--name=value`` pairs with
such names, and of bearer and kubeadm bootstrap tokens wherever they appear. A name followed by
a space (``--password hunter2``) hides the next word only when that word looks like a secret (it
holds a digit or a symbol, or is long), so the words of a sentence are never eaten:
"--service-account-extend-token-expiration not set" stays readable.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"
_SECRET_NAME = re.compile(r"(token|passw(or)?d|secret|credential|private-key-data|key-data|api-?key)", re.I)
_PATH_NAME = re.compile(r"(-file|-dir|-path|_FILE|_DIR|_PATH)$", re.I)
_PAIR = re.compile(r"(--?[A-Za-z0-9_.-]+|\b[A-Z][A-Z0-9_]+)(=|\s+)(\S+)")
_BOOTSTRAP = re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")            # kubeadm bootstrap token
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_SETTING = re.compile(
    r"(?i)(true|false|yes|no|on|off|enabled?|disabled?|none|null|"     # booleans and "no value"
    r"[-+]?\d+(\.\d+)?%?|"                                             # numbers
    r"([-+]?\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d))+)")                      # durations: 10s, 1h30m, 24h0m0s
_PATH = re.compile(r"(~|\.{1,2})?/[\w.@+-]+(/[\w.@+-]*)*|(unix|file)://\S+")


def is_secret_name(name: str) -> bool:
    name = name.lstrip("-")
    return bool(_SECRET_NAME.search(name)) and not _PATH_NAME.search(name)


def is_setting(value: str) -> bool:
    """A boolean, number, duration, path or nothing: what a secret never is."""
    v = value.strip().rstrip(".,;:)").strip("'\"")
    return not v or bool(_SETTING.fullmatch(v) or _PATH.fullmatch(v) and "/" in v[1:])


def _looks_secret(word: str) -> bool:
    """For a word after a secret name and a space: could it be the secret, or is it prose?"""
    w = word.rstrip(".,;:)").strip("'\"")
    return not is_setting(w) and (len(w) >= 16 or not w.isalpha())


def redact_value(name: str, value: str) -> str:
    return REDACTED if is_secret_name(name) and not is_setting(value) else redact_text(value)


def redact_argv(argv: tuple[str, ...]) -> tuple[str, ...]:
    """An argv with the values of secret flags replaced (``--token=x``, ``--password x``)."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next and not arg.startswith("-"):
            out.append(redact_text(arg) if is_setting(arg) else REDACTED)
            hide_next = False
            continue
        hide_next = False
        name, eq, value = arg.partition("=")
        if name.startswith("-") and is_secret_name(name):
            if eq:
                out.append(f"{name}={redact_value(name, value)}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(redact_text(arg))
    return tuple(out)


def redact_text(text: str) -> str:
    """Scrub secret-looking pairs and tokens from free text."""
    def pair(m: re.Match[str]) -> str:
        name, sep, value = m.groups()
        if not is_secret_name(name):
            return m.group(0)
        hide = not is_setting(value) if sep == "=" else _looks_secret(value)
        return f"{name}{sep}{REDACTED}" if hide else m.group(0)

    text = _PAIR.sub(pair, text)
    text = _BOOTSTRAP.sub(REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
