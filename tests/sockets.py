"""Listening sockets for servers the tests run in their own event loop.

Made with ``IPPROTO_TCP`` named: asyncio turns Nagle's algorithm off only on connections whose
socket says TCP, and a plain ``socket.socket()`` says 0. Without it every small response
waited for the client's delayed ACK: about 45 ms per request on loopback, for every test that
talks to a server in process.
"""

from __future__ import annotations

import socket


def listening_socket(port: int = 0) -> socket.socket:
    """A TCP socket bound to loopback (``port`` 0: any free one); uvicorn listens on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock
