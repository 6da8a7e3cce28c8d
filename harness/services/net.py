"""Loopback port helpers shared by the service fixtures."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

__all__ = ["LOOPBACK", "free_port", "http_get_json", "port_accepts"]

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port the kernel just handed out for `host` and that is free right now.

    There is a small window before the caller binds it; callers that can ask the
    service for port 0 (nats-server `-1`) do that instead, and the others retry
    on "address in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True if a TCP connect to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def http_get_json(url: str, timeout_s: float = 2.0) -> Any:
    """GET a JSON document; HTTP error bodies (e.g. 503 from /healthz) are returned too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"null")
