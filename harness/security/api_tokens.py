"""The HTTP API bearer tokens of a secure deployment (``historian serve --tokens``).

``security init`` writes, per tenant ``t``::

    api-tokens-t.toml           the tokens file the historian loads: SHA-256 of each
                                secret only (``token_sha256``, docs/api.md "Tokens")
    users/t-api-reader.token    0600: the secret of ``t-api-reader`` (scopes read;
                                what a dashboard or the scenario's locust load uses)
    users/t-api-admin.token     0600: the secret of ``t-api-admin`` (read, write, admin)

Both tokens carry tenant ``t``: they see only tags whose catalogue ``tenant`` is ``t``.
The file holds no secret; the secrets are in their own 0600 files, like the NKEY seeds.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from harness.security.pki import write_private_file
from historian.api.auth import token_sha256

__all__ = [
    "API_TOKEN_SCOPES",
    "api_token_name",
    "api_token_path",
    "api_tokens_path",
    "read_api_token",
    "rotate_api_token",
    "write_api_tokens",
]

API_TOKEN_SCOPES: dict[str, tuple[str, ...]] = {
    "reader": ("read",),
    "admin": ("read", "write", "admin"),
}
"""Role -> scopes of the tokens ``security init`` writes for every tenant."""


def api_token_name(tenant: str, role: str) -> str:
    if role not in API_TOKEN_SCOPES:
        raise ValueError(f"API token role {role!r}: use one of {', '.join(API_TOKEN_SCOPES)}")
    return f"{tenant}-api-{role}"


def api_tokens_path(directory: Path, tenant: str) -> Path:
    """The tenant's ``historian serve --tokens`` file (hashed secrets only)."""
    return directory / f"api-tokens-{tenant}.toml"


def api_token_path(directory: Path, tenant: str, role: str) -> Path:
    """The 0600 file holding the secret of the tenant's ``role`` token."""
    return directory / "users" / f"{api_token_name(tenant, role)}.token"


def read_api_token(directory: Path, tenant: str, role: str = "reader") -> str:
    return api_token_path(directory, tenant, role).read_text().strip()


def _render(directory: Path, tenant: str) -> str:
    """The tokens file from the secrets on disk (one ``[[token]]`` per role)."""
    out = [
        "# HTTP API tokens of tenant " + tenant + " (twinbench security init; docs/security.md)",
        "# only SHA-256 digests: the secrets are in users/<name>.token (0600)",
    ]
    for role, scopes in API_TOKEN_SCOPES.items():
        digest = token_sha256(read_api_token(directory, tenant, role))
        out += [
            "",
            "[[token]]",
            f'name = "{api_token_name(tenant, role)}"',
            f'token_sha256 = "{digest}"',
            f'tenant = "{tenant}"',
            "scopes = [" + ", ".join(f'"{s}"' for s in scopes) + "]",
        ]
    return "\n".join(out) + "\n"


def _new_secret(directory: Path, tenant: str, role: str) -> None:
    write_private_file(api_token_path(directory, tenant, role), secrets.token_urlsafe(32).encode())


def write_api_tokens(directory: Path, tenant: str) -> Path:
    """New secrets for every role of ``tenant`` and the tokens file that hashes them."""
    for role in API_TOKEN_SCOPES:
        _new_secret(directory, tenant, role)
    path = api_tokens_path(directory, tenant)
    path.write_text(_render(directory, tenant))
    return path


def rotate_api_token(directory: Path, tenant: str, role: str) -> Path:
    """A new secret for one token; the file is rewritten (restart the historian to load it)."""
    if not api_tokens_path(directory, tenant).exists():
        raise ValueError(f"{api_tokens_path(directory, tenant)} not found: no API tokens to rotate")
    _new_secret(directory, tenant, role)
    path = api_tokens_path(directory, tenant)
    path.write_text(_render(directory, tenant))
    return path
