"""503 while the store recovers: the HTTP front end serves before the WAL replay ends.

The server runs in-process (``HistorianServer``, real uvicorn on a real socket, real
HTTP from a thread) over a file system whose store lock blocks until the test lets
it go, so the "recovering" window is held open deterministically.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from historian.api.frontend import HttpFrontEnd
from historian.fs import FileSystem
from historian.server import HistorianServer, ServeConfig

from .conftest import CATALOGUE, FLOW

pytestmark = [pytest.mark.service]


class GatedFileSystem(FileSystem):
    """Blocks taking the store lock (the first step of opening it) until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def lock(self, path: str) -> int:
        self.entered.set()
        assert self.release.wait(30), "the test never released the store open"
        return super().lock(path)


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return int(r.status), json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


async def _until(cond: object, what: str, timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not cond():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_queries_answer_503_until_the_store_is_open(tmp_path: Path) -> None:
    (tmp_path / "cat.toml").write_text(CATALOGUE)
    fs = GatedFileSystem()
    cfg = ServeConfig(
        data_dir=tmp_path / "data", catalogue=tmp_path / "cat.toml", http="127.0.0.1:0"
    )
    server = HistorianServer(cfg, fs=fs, log=lambda line: None)
    [fe] = [f for f in server.front_ends if isinstance(f, HttpFrontEnd)]
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    try:
        await _until(lambda: fe.url is not None and fs.entered.is_set(), "the front end to bind")
        url = fe.url
        status, body = await asyncio.to_thread(_get, f"{url}/health")
        assert status == 503 and body["status"] == "recovering" and body["reasons"]
        status, body = await asyncio.to_thread(_get, f"{url}/api/v1/tags/{FLOW}/last")
        assert status == 503 and body["error"]["code"] == "unavailable"
        assert "recovering" in body["error"]["message"]
        fs.release.set()
        await _until(lambda: server.ready.get("http") == url, "the ready keys")
        status, body = await asyncio.to_thread(_get, f"{url}/health")
        assert status == 200 and body["status"] == "ready"
        status, body = await asyncio.to_thread(_get, f"{url}/api/v1/tags/{FLOW}/last")
        assert status == 200 and body["items"] == []
    finally:
        fs.release.set()
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0
