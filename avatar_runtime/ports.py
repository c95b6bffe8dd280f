"""A free local TCP port: the one helper for every part that starts a server on a port it chooses (the
hosting container's Triton behind its gate, the local cloud's children, the image smoke run)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (for children that need it up front)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
