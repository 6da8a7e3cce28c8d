"""``historian serve --tls-cert/--tls-key``: the files are checked before anything starts.

A missing or unreadable file, half a pair, a key of another certificate, or TLS without
``--http`` or ``--metrics-port`` is a usage error: one line naming the flag, exit 2, no
store opened. The HTTPS service itself is tested through a real server in
``tests/harness/run/test_secure_api_load.py`` (the secure profile's certificates).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.security.pki import issue_cert, make_ca
from historian.server.cli import build_parser, config_from_args


@pytest.fixture
def pem(tmp_path: Path) -> dict[str, Path]:
    ca = make_ca("test CA", days=1)
    out: dict[str, Path] = {}
    for name in ("api", "other"):
        leaf = issue_cert(ca, name, days=1, server=True)
        leaf.write(tmp_path / f"{name}.crt", tmp_path / f"{name}.key")
        out[f"{name}.crt"], out[f"{name}.key"] = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    return out


def _parse(tmp_path: Path, *argv: str):  # type: ignore[no-untyped-def]
    return config_from_args(build_parser("serve"), [str(tmp_path / "data"), *argv])


def test_a_matching_pair_is_accepted(tmp_path: Path, pem: dict[str, Path]) -> None:
    cfg = _parse(
        tmp_path, "--http", "127.0.0.1:0", "--tls-cert", str(pem["api.crt"]),
        "--tls-key", str(pem["api.key"]),
    )  # fmt: skip
    assert cfg.http_tls == (pem["api.crt"], pem["api.key"])
    assert _parse(tmp_path, "--http", "127.0.0.1:0").http_tls is None  # plain HTTP as before


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--tls-cert", "api.crt"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "api.crt", "--tls-key", "nowhere.key"], "--tls-key"),
        (["--tls-cert", "nowhere.crt", "--tls-key", "api.key"], "--tls-cert"),
        (["--tls-cert", "api.crt", "--tls-key", "other.key"], "the key does not match"),
        (["--tls-cert", "api.key", "--tls-key", "api.key"], "--tls-cert"),  # not a cert
    ],
)
def test_bad_tls_files_are_one_line_and_exit_2(
    tmp_path: Path,
    pem: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    says: str,
) -> None:
    files = [str(pem.get(a, tmp_path / a)) if not a.startswith("--") else a for a in argv]
    with pytest.raises(SystemExit) as exc:
        _parse(tmp_path, "--http", "127.0.0.1:0", *files)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err
    assert not (tmp_path / "data").exists()  # nothing started


def test_tls_without_an_http_port_is_a_usage_error(
    tmp_path: Path, pem: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse(tmp_path, "--tls-cert", str(pem["api.crt"]), "--tls-key", str(pem["api.key"]))
    assert exc.value.code == 2
    assert "need --http HOST:PORT or --metrics-port" in capsys.readouterr().err


def test_tls_secures_the_metrics_port_too(tmp_path: Path, pem: dict[str, Path]) -> None:
    from historian.server.process import HistorianServer, MetricsFrontEnd

    cfg = _parse(
        tmp_path, "--metrics-port", "0", "--tls-cert", str(pem["api.crt"]),
        "--tls-key", str(pem["api.key"]),
    )  # fmt: skip
    server = HistorianServer(cfg)
    (metrics,) = [f for f in server.front_ends if isinstance(f, MetricsFrontEnd)]
    assert metrics.tls == (pem["api.crt"], pem["api.key"])


def test_the_real_command_exits_2_on_a_mismatched_key(tmp_path: Path, pem: dict[str, Path]) -> None:
    argv = [
        sys.executable, "-m", "historian.server", str(tmp_path / "data"), "--http",
        "127.0.0.1:0", "--tls-cert", str(pem["api.crt"]), "--tls-key", str(pem["other.key"]),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "does not match" in done.stderr
    assert not (tmp_path / "data").exists()
