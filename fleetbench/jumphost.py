"""The inventory's ``jump:`` value (``[user@]host[:port]``, ``[v6addr]:port``), parsed once.

Parsed when the inventory is loaded, so a malformed jump is an input error naming file:line
before any host is contacted; the transport parses the same text again with the same rules.
One hop only: ProxyJump chains (``a,b``) are refused with a clear message rather than misread.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JumpHost:
    """One bastion endpoint. ``None`` means "not given": the ssh config or default decides."""

    user: str | None
    host: str
    port: int | None


def parse_jump(text: str) -> JumpHost:
    """``[user@]host[:port]`` → :class:`JumpHost`.

    Raises:
        ValueError: with a message saying what was expected (the caller adds file:line).
    """
    spec = text.strip()
    if not spec:
        raise ValueError("jump must be [user@]host[:port], got an empty value")
    if "," in spec:
        raise ValueError(f"jump must be one host ([user@]host[:port]); jump chains such as '{spec}' are not supported")
    user, _, rest = spec.rpartition("@")
    port_text: str | None = None
    if rest.startswith("["):                          # [v6addr] or [v6addr]:port
        host, closed, tail = rest[1:].partition("]")
        if not closed or (tail and not tail.startswith(":")):
            raise ValueError(f"jump '{spec}': expected [address]:port for an IPv6 address")
        port_text = tail[1:] if tail else None
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
    else:                                             # a name, an IPv4 address or a bare IPv6 address
        host = rest
    if not host or any(ch.isspace() for ch in spec):
        raise ValueError(f"jump '{spec}': expected [user@]host[:port]")
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"jump '{spec}': port must be a number 1-65535, got '{port_text}'")
        port = int(port_text)
    return JumpHost(user=user or None, host=host, port=port)
