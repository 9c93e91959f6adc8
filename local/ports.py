"""Ports the local stack binds: a busy one is named with the flag that picks another, not shown as a traceback."""

from __future__ import annotations

import errno
import socket


class PortInUse(RuntimeError):
    """A port the stack was told to bind is taken by another program."""

    def __init__(self, port: int, flag: str) -> None:
        super().__init__(f"port {port} is already in use; choose another with {flag} PORT (0 picks a free one)")
        self.port = port
        self.flag = flag


def ensure_free(host: str, port: int, flag: str) -> None:
    """Raise PortInUse when `port` on `host` cannot be bound now; port 0 (any free port) always can."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUse(port, flag) from None
            raise
