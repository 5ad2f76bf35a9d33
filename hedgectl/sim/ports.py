"""Whether the ports the paper venues are asked to listen on are free, so a taken one is named before any starts."""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping


def port_in_use(host: str, port: int) -> bool:
    """Whether binding ``host:port`` fails because something listens there (as the venues' servers bind it)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False  # an unknown host is for the server to report
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
    return False


def first_busy_port(host: str, ports: Mapping[str, int]) -> int | None:
    """The first chosen (non-zero) port something already listens on, or None."""
    for port in ports.values():
        if port and port_in_use(host, port):
            return port
    return None


def busy_port(host: str, ports: Mapping[str, int], error: OSError) -> int | None:
    """The chosen port a failed start met taken (it may have been taken after the check), or None."""
    if error.errno != errno.EADDRINUSE:
        return None
    for port in ports.values():
        if port and port_in_use(host, port):
            return port
    chosen = [port for port in ports.values() if port]
    return chosen[0] if len(chosen) == 1 else None
