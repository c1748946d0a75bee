"""Jump hosts as OpenSSH's ProxyJump writes them: ``[user@]host[:port]`` hops separated by commas.

Parsed when the inventory is loaded, so a malformed jump is an input error naming file:line
before any host is contacted; the transport parses the same text again with the same rules.
A chain ``a,b`` means: connect to ``a``, through it to ``b``, through ``b`` to the target.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JumpHost:
    """One bastion endpoint. ``None`` means "not given": the ssh config or default decides."""

    user: str | None
    host: str
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        return f"{user}{host}:{self.port}" if self.port else f"{user}{host}"


def parse_jump(text: str) -> JumpHost:
    """``[user@]host[:port]`` → :class:`JumpHost` (one hop).

    Raises:
        ValueError: with a message saying what was expected (the caller adds file:line).
    """
    spec = text.strip()
    if not spec:
        raise ValueError("jump must be [user@]host[:port], got an empty value")
    if "," in spec:
        raise ValueError(f"jump '{spec}': expected one hop here, not a chain")
    if spec.startswith("ssh://"):
        spec = spec[len("ssh://"):]
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


def parse_jumps(text: str) -> tuple[JumpHost, ...]:
    """``hop1,hop2,...`` (OpenSSH ProxyJump) → the hops, first one connected to first.

    Raises:
        ValueError: an empty hop or a malformed one (the caller adds file:line).
    """
    spec = text.strip()
    if not spec:
        raise ValueError("jump must be [user@]host[:port][,...], got an empty value")
    hops = spec.split(",")
    if any(not h.strip() for h in hops):
        raise ValueError(f"jump '{spec}': an empty hop between commas")
    return tuple(parse_jump(h) for h in hops)


def format_jump(hops: tuple[JumpHost, ...]) -> str:
    """The hops written back as ProxyJump text (``ssh -G`` style)."""
    return ",".join(str(h) for h in hops)
