"""``twinbench security init`` / ``show``: the files it writes, their modes, its refusals."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import nkeys
import pytest
from cryptography import x509
from typer.testing import CliRunner

from harness.cli.app import build_app
from harness.security.identities import Role
from harness.security.manifest import SecurityManifest

runner = CliRunner()


def init(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(build_app(), ["security", "init", *args])
    return result.exit_code, result.stdout, result.stderr


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_certificates_nkeys_and_a_manifest(tmp_path: Path) -> None:
    directory = tmp_path / "sec"
    code, out, err = init(str(directory), "--tenants", "acme,globex", "--collectors", "3")
    assert code == 0, err
    # 2 tenants x (3 collectors + ingest, reader, operator) + audit + audit-writer
    assert "wrote 14 identities" in out

    manifest = SecurityManifest.load(directory)
    assert manifest.tenants == ("acme", "globex")
    doc = json.loads((directory / "security.json").read_text())
    assert doc["schema"] == "twinbench.security/1"
    for ident in manifest.identities:
        seed = (directory / ident.seed_file).read_bytes().strip()
        assert nkeys.from_seed(bytearray(seed)).public_key.decode() == ident.public_key
        assert ident.cert_file and ident.key_file
        for secret in (ident.seed_file, ident.key_file):
            assert mode(directory / secret) == 0o600, secret
        assert ident.expires == manifest.identities[0].expires
    for secret in ("ca.key", "server.key", "jetstream-key.conf"):
        assert mode(directory / secret) == 0o600, secret
    assert mode(directory) == 0o700

    server = x509.load_pem_x509_certificate((directory / "server.crt").read_bytes())
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)][:1] == ["127.0.0.1"]
    ca = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    assert server.issuer == ca.subject
    server.verify_directly_issued_by(ca)

    collectors = manifest.by_role(Role.COLLECTOR, "acme")
    assert len({c.partition for c in collectors}) == 3, "each collector has its own partition"

    listing = runner.invoke(build_app(), ["security", "show", str(directory)])
    assert listing.exit_code == 0 and "globex-collector-3" in listing.stdout
    assert "valid until" in listing.stdout


def test_init_refuses_an_existing_deployment_without_force(tmp_path: Path) -> None:
    directory = tmp_path / "sec"
    assert init(str(directory))[0] == 0
    before = (directory / "security.json").read_bytes()
    # a real process (exit code and stderr as a shell sees them); only this command
    # group is imported, the whole `twinbench` app takes seconds to import on 2 cores
    run_group = "from harness.security.cli import app; app(prog_name='twinbench security')"
    out = subprocess.run(
        [sys.executable, "-c", run_group, "init", str(directory)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--force" in lines[0], lines
    assert (directory / "security.json").read_bytes() == before

    code, _, err = init(str(directory), "--force")
    assert code == 0, err
    assert (directory / "security.json").read_bytes() != before  # new keys


def test_force_never_clears_a_directory_that_is_not_a_deployment(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    code, _, err = init(str(tmp_path), "--force")
    assert code == 2 and "no security.json" in err
    assert (tmp_path / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenants", "Acme"], "tenant name 'Acme'"),
        (["--tenants", "sys"], "reserved for the system and audit accounts"),
        (["--tenants", "a,a"], "tenant names repeat"),
        (["--collectors", "0"], "--collectors must be >= 1"),
        (["--days", "0"], "--days must be > 0"),
        (["--cipher", "rot13"], "cipher 'rot13'"),
    ],
)
def test_init_usage_errors_are_one_line_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, err = init(str(tmp_path / "sec"), *args)
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "sec").exists()


def test_show_without_a_deployment_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(build_app(), ["security", "show", str(tmp_path)])
    assert result.exit_code == 2 and "security init" in result.stderr


def test_permissions_use_the_ingests_applied_notice_prefix() -> None:
    from harness.security import permissions
    from historian.ingest import service

    assert permissions.APPLIED_PREFIX == service.APPLIED_PREFIX


def test_rotate_command_changes_the_users_key_and_refuses_unknown_users(tmp_path: Path) -> None:
    directory = tmp_path / "sec"
    assert init(str(directory), "--collectors", "1")[0] == 0
    before = SecurityManifest.load(directory).identity("acme-collector-1").public_key
    app = build_app()
    ok = runner.invoke(app, ["security", "rotate", str(directory), "--user", "acme-collector-1"])
    assert ok.exit_code == 0, ok.stderr
    assert SecurityManifest.load(directory).identity("acme-collector-1").public_key != before
    bad = runner.invoke(app, ["security", "rotate", str(directory), "--user", "nobody"])
    assert bad.exit_code == 2 and "no identity 'nobody'" in bad.stderr
    none = runner.invoke(app, ["security", "rotate", str(directory)])
    assert none.exit_code == 2 and "nothing to rotate" in none.stderr


def test_init_notes_collectors_that_share_a_partition(tmp_path: Path) -> None:
    code, out, err = init(str(tmp_path / "sec"), "--collectors", "2", "--partitions", "1")
    assert code == 0, err
    assert "note: partition 0 is shared by acme-collector-1, acme-collector-2" in out


def test_init_writes_hashed_api_tokens_and_rotate_replaces_one(tmp_path: Path) -> None:
    from harness.security.api_tokens import api_token_path, api_tokens_path, read_api_token
    from historian.api.auth import load_tokens

    directory = tmp_path / "sec"
    assert init(str(directory), "--collectors", "1")[0] == 0
    tokens_file = api_tokens_path(directory, "acme")
    table = load_tokens(tokens_file)  # the API's own loader accepts it
    secret = read_api_token(directory, "acme", "reader")
    assert mode(api_token_path(directory, "acme", "reader")) == 0o600
    assert secret not in tokens_file.read_text() and "token_sha256" in tokens_file.read_text()
    reader = table.authenticate(f"Bearer {secret}")
    assert (reader.name, reader.tenant) == ("acme-api-reader", "acme")
    assert reader.scopes == frozenset({"read"})
    admin = table.authenticate(f"Bearer {read_api_token(directory, 'acme', 'admin')}")
    assert admin.scopes == {"read", "write", "admin"}
    result = runner.invoke(
        build_app(), ["security", "rotate", str(directory), "--api-token", "acme-api-reader"]
    )
    assert result.exit_code == 0, result.output
    new = load_tokens(tokens_file)
    assert new.authenticate(f"Bearer {read_api_token(directory, 'acme', 'reader')}").name == (
        "acme-api-reader"
    )
    with pytest.raises(Exception, match="unknown token"):
        new.authenticate(f"Bearer {secret}")  # the old secret no longer opens it
    bad = runner.invoke(build_app(), ["security", "rotate", str(directory), "--api-token", "x"])
    assert bad.exit_code == 2 and "<tenant>-api-<role>" in bad.output


def test_init_series_option_writes_each_collectors_series(tmp_path: Path) -> None:
    from harness.security.deployment import source_owners_path
    from historian.ingest.series_owners import SeriesSet
    from historian.ingest.sources import load_source_owners

    directory = tmp_path / "sec"
    code, _, err = init(str(directory), "--series", "acme-collector-1=1-10,12")
    assert code == 0, err
    binding = load_source_owners(source_owners_path(directory, "acme"))
    assert binding.series == {
        "acme-collector-1": SeriesSet.of([(1, 10), 12]),
        "acme-collector-2": SeriesSet.ANY,  # not named: unchecked
    }
    for spec, says in (
        ("acme-collector-1=1-x", "neither an id nor"),
        ("acme-collector-1", "give NAME=IDS"),
        ("acme-collector-9=1", "no such collector"),
    ):
        code, out, err = init(str(tmp_path / spec.replace("=", "_")), "--series", spec)
        assert code == 2 and says in err, (out, err)
        assert len(err.strip().splitlines()) == 1
