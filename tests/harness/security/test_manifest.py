"""The manifest round-trips, refuses what it does not understand; docstring examples hold."""

from __future__ import annotations

import datetime as dt
import doctest
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.security.deployment import InitOptions, init_deployment
from harness.security.identities import Identity, Role, new_user_nkey
from harness.security.manifest import ManifestError, SecurityManifest


def test_manifest_round_trips_and_names_no_secret(tmp_path: Path) -> None:
    written = init_deployment(tmp_path / "d", InitOptions(tenants=("acme", "globex")))
    loaded = SecurityManifest.load(tmp_path / "d")
    assert loaded == written
    text = (tmp_path / "d" / "security.json").read_text()
    for ident in loaded.identities:
        seed = (tmp_path / "d" / ident.seed_file).read_text().strip()
        assert seed not in text  # seeds live only in their 0600 files
    assert "key:" not in text


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema="twinbench.security/0"), "schema"),
        (lambda d: d["identities"][0].update(colour="red"), "unknown fields"),
        (lambda d: d["identities"][0].update(role="janitor"), "malformed"),
        (lambda d: d.pop("tls"), "malformed"),
    ],
)
def test_manifest_refuses_other_schemas_and_unknown_fields(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], object], message: str
) -> None:
    init_deployment(tmp_path / "d", InitOptions(collectors=1))
    path = tmp_path / "d" / "security.json"
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match=message):
        SecurityManifest.load(tmp_path / "d")


@pytest.mark.parametrize("name", ["harness.security.pki", "harness.security.identities"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_permissions_table_in_the_docs_is_the_one_the_code_renders(tmp_path: Path) -> None:
    from harness.security.permissions import permissions_table

    manifest = init_deployment(tmp_path / "d", InitOptions())  # the CLI's defaults
    doc = (Path(__file__).parents[3] / "docs" / "security.md").read_text()
    start, end = "<!-- permissions-table:start -->\n", "\n<!-- permissions-table:end -->"
    documented = doc.split(start, 1)[1].split(end, 1)[0]
    assert documented == permissions_table(manifest.identities, manifest.bus)


_names = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)


@st.composite
def identities(draw: st.DrawFn) -> Identity:
    name = draw(_names)
    return Identity(
        name=name,
        role=draw(st.sampled_from(list(Role))),
        account=draw(_names),
        public_key=new_user_nkey()[1],
        seed_file=f"users/{name}.nk",
        expires=draw(st.datetimes(timezones=st.just(dt.UTC))).isoformat(timespec="seconds"),
        tenant=draw(st.none() | _names),
        source_id=draw(st.none() | _names),
        partition=draw(st.none() | st.integers(0, 1023)),
        uns_root=draw(st.none() | _names),
        cert_file=draw(st.none() | st.just(f"users/{name}.crt")),
        key_file=draw(st.none() | st.just(f"users/{name}.key")),
    )


@given(identities())
@settings(max_examples=100, deadline=None)
def test_identity_json_round_trips(ident: Identity) -> None:
    doc = json.loads(json.dumps(ident.to_json()))
    assert Identity.from_json(doc) == ident
    assert None not in doc.values()  # absent fields are left out, not written as null


def test_init_writes_an_api_certificate_for_loopback_from_the_ca(tmp_path: Path) -> None:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    manifest = init_deployment(tmp_path / "d", InitOptions())
    tls = manifest.tls
    assert tls.api_cert == "api.crt" and tls.api_key == "api.key" and tls.api_expires
    cert = x509.load_pem_x509_certificate((tmp_path / "d" / tls.api_cert).read_bytes())
    ca = x509.load_pem_x509_certificate((tmp_path / "d" / tls.ca_cert).read_bytes())
    cert.verify_directly_issued_by(ca)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert (tmp_path / "d" / tls.api_key).stat().st_mode & 0o777 == 0o600
    server = (tmp_path / "d" / tls.server_cert).read_bytes()
    assert cert.public_bytes(Encoding.PEM) != server  # its own certificate and key
    old = json.loads((tmp_path / "d" / "security.json").read_text())
    for field in ("api_cert", "api_key", "api_expires"):  # a manifest from before API TLS
        del old["tls"][field]
    (tmp_path / "d" / "security.json").write_text(json.dumps(old))
    assert SecurityManifest.load(tmp_path / "d").tls.api_cert is None
