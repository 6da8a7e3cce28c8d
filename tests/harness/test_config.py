"""The TOML config loader: defaults, external endpoints, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from harness.cli.services import app
from harness.config import ConfigError, TwinbenchConfig, load_config, loads_config

FULL_EXTERNAL = """
[nats]
urls = ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]

[s3]
endpoint = "https://minio.plant.example:9000"
bucket = "historian-cold"
access_key = "AKIA"
secret_key = "s3cr3t"
region = "eu-west-1"

[postgres]
dsn = "postgresql://scada@legacy-db:5432/scada"

[historian]
data_dir = "var/historian"
"""


def test_empty_config_means_everything_embedded() -> None:
    cfg = loads_config("")
    assert cfg == TwinbenchConfig(source="<string>")
    assert cfg.nats.embedded and cfg.s3.embedded and cfg.postgres.embedded
    assert cfg.nats.cluster_size == 1 and cfg.s3.bucket == "twinbench"


def test_external_endpoints_and_relative_data_dir(tmp_path: Path) -> None:
    path = tmp_path / "twinbench.toml"
    path.write_text(FULL_EXTERNAL)
    cfg = load_config(path)
    assert not cfg.nats.embedded and cfg.nats.urls == (
        "nats://10.0.0.1:4222",
        "nats://10.0.0.2:4222",
    )
    assert not cfg.s3.embedded and cfg.s3.endpoint == "https://minio.plant.example:9000"
    assert (cfg.s3.bucket, cfg.s3.access_key, cfg.s3.secret_key, cfg.s3.region) == (
        "historian-cold",
        "AKIA",
        "s3cr3t",
        "eu-west-1",
    )
    assert (
        not cfg.postgres.embedded and cfg.postgres.dsn == "postgresql://scada@legacy-db:5432/scada"
    )
    assert cfg.historian.data_dir == tmp_path.resolve() / "var/historian"
    assert cfg.source == str(path)


def test_single_url_and_embedded_cluster() -> None:
    assert loads_config('[nats]\nurl = "nats://h:4222"').nats.urls == ("nats://h:4222",)
    cfg = loads_config("[nats]\nembedded = true\ncluster_size = 3\n[postgres]\nenabled = false")
    assert cfg.nats.cluster_size == 3 and not cfg.postgres.enabled


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[nats\n", "not valid TOML"),
        ("[natz]\n", "unknown key 'natz' (did you mean 'nats'?)"),
        ("[s3]\nendpiont = 'http://x:1'\nembedded = false", "[s3]: unknown key 'endpiont'"),
        ("nats = 3", "[nats] must be a table"),
        ('[nats]\nurl = "http://h:4222"', "[nats] url: 'http://h:4222' is not a URL"),
        ('[nats]\nurl = "nats://h:99999"', "bad port"),
        ('[nats]\nurl = "nats://h:1"\nurls = ["nats://h:2"]', "either url or urls"),
        ("[nats]\nurls = []\nembedded = false", "non-empty list"),
        ('[nats]\nurl = "nats://h:1"\nembedded = true', "[nats] embedded: is true but url is set"),
        ("[s3]\nembedded = false", "[s3] embedded: is false but no endpoint"),
        ("[nats]\ncluster_size = 2", "must be 1, 3 or 5"),
        ("[nats]\ncluster_size = true", "expected int, got bool"),
        ('[nats]\ncluster_size = 3\nurl = "nats://h:1"', "cluster_size: only applies"),
        ('[nats]\nembedded = false\ncluster_size = 3\nurl = "nats://h:1"', "only applies"),
        ("[s3]\nbucket = 'Bad_Bucket'", "not a valid S3 bucket name"),
        ("[s3]\naccess_key = 'a'", "together"),
        ("[s3]\naccess_key = 'a'\nsecret_key = 'b'", "embedded S3 server makes its own"),
        ("[postgres]\nembedded = 'yes'", "[postgres] embedded: expected bool, got str"),
        ("[postgres]\ndsn = 'host=x port'", "[postgres] dsn: not a valid libpq"),
        ("[historian]\ndata_dir = ' '", "must not be empty"),
        ("[historian]\ndata_dir = 5", "expected str, got int"),
    ],
)
def test_invalid_configs_name_section_and_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        loads_config(text, source="cfg.toml")
    assert str(err.value).startswith("cfg.toml: ")
    assert expected in str(err.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers(), max_size=3))
def test_any_unknown_top_level_key_is_rejected_never_ignored(doc: dict[str, int]) -> None:
    text = "".join(f'"{k.encode("unicode_escape").decode()}" = {v}\n' for k, v in doc.items())
    try:
        loads_config(text)
    except ConfigError:
        return
    assert not doc  # only an empty document may pass


def test_check_config_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(FULL_EXTERNAL)
    result = CliRunner().invoke(app, ["check-config", str(good)])
    assert result.exit_code == 0, result.output
    assert "minio.plant.example" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[s3]\nembedded = false\n")
    result = CliRunner().invoke(app, ["check-config", str(bad)])
    assert result.exit_code == 2
    assert "[s3] embedded" in result.output
