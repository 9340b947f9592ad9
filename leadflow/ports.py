"""Checking that a server port can be bound before a long start-up depends on it."""

from __future__ import annotations

import errno
import socket

from leadflow.errors import UserError


def ensure_listenable(host: str, port: int, setting: str) -> None:
    """Raise a UserError naming `setting` if `host:port` cannot be listened on now.

    SO_REUSEADDR matches how aiohttp and Prometheus bind, so a port that merely
    lingers in TIME_WAIT after a restart is not reported as taken.
    """
    if port == 0:
        return  # the OS picks a free one
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise UserError(f"cannot listen on {host}: unknown host ({error.strerror})") from error
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise UserError(
                    f"port {port} on {host} is already in use; choose another with {setting}"
                ) from error
            raise UserError(f"cannot listen on {host}:{port} ({error.strerror})") from error
