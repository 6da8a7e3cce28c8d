"""The asyncua internals patch refuses releases it was not written for, by name and version."""

from __future__ import annotations

from importlib import metadata

import pytest

from sim.servers import opcua_fast
from sim.servers.opcua_fast import UnsupportedAsyncuaError, check_asyncua_version


def test_installed_asyncua_is_a_supported_release() -> None:
    # the lock (constraints.txt) and pyproject's bound must agree with the patch's range
    assert check_asyncua_version() == metadata.version("asyncua")


@pytest.mark.parametrize("version", ["2.2.0", "3.0.1", "1.1.5", "2.10.0"])
def test_unsupported_asyncua_version_fails_loudly(version: str) -> None:
    with pytest.raises(UnsupportedAsyncuaError, match=rf"asyncua {version} is installed.*2\.1"):
        check_asyncua_version(version)


def test_install_refuses_a_mismatched_release(monkeypatch: pytest.MonkeyPatch) -> None:
    real = metadata.version

    def fake(name: str) -> str:
        return "9.9.9" if name == "asyncua" else real(name)

    monkeypatch.setattr("sim.servers.opcua_fast.metadata.version", fake)
    from asyncua.server import monitored_item_service as mis

    # even when already installed, a fresh call must check before touching anything
    monkeypatch.setattr(mis.MonitoredItemValues, "_twinbench_fast", False, raising=False)
    with pytest.raises(UnsupportedAsyncuaError, match=r"asyncua 9\.9\.9"):
        opcua_fast.install_fast_datachange()
