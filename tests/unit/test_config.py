"""Configuration: the shipped file loads; every bad config names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from paywall.config import ConfigError, LocalSource, load_settings
from tests.conftest import REPO


def test_shipped_config_loads_with_paths_relative_to_the_file() -> None:
    settings = load_settings(REPO / "config" / "pipeline.yaml")
    source = settings.sources[0]
    assert isinstance(source, LocalSource)
    assert source.path == (REPO / "samples" / "articles").resolve()
    assert settings.markers.build().begin == "##paidbegin##"
    assert settings.storage.public_bucket != settings.storage.private_bucket


BASE = "sources:\n  - {name: s, kind: local, path: .}\n"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (BASE + "pipeline: {chunk_sise: 10}\n", "pipeline.chunk_sise: unknown key"),
        (BASE + "pipeline: {chunk_size: many}\n", "pipeline.chunk_size: Input should be"),
        (BASE + "markers: {begin: '##x##', end: '##x##'}\n", "markers: begin and end markers"),
        (BASE + "markers: {begin: '', end: '##x##'}\n", "markers: markers must not be empty"),
        ("sources:\n  - {name: s, kind: ftp, path: .}\n", "sources[0]: Input tag 'ftp'"),
        ("sources:\n  - {name: s, kind: local}\n", "sources[0].path: Field required"),
        ("sources: []\n", "sources: Tuple should have at least 1 item"),
        ("pipeline: {}\n", "sources: Field required"),
        (BASE + "storage: {public_bucket: Bad_Bucket}\n", "storage.public_bucket: String"),
        (
            "sources:\n  - {name: s, kind: local, path: .}\n  - {name: s, kind: local, path: .}\n",
            "source names must be unique, repeated: s",
        ),
        (
            "sources:\n  - {name: s, kind: local, path: ., date_pattern: '(\\d+)'}\n",
            "sources[0].date_pattern: needs named groups",
        ),
        (
            "sources:\n  - {name: w, kind: http, index_url: 'ftp://x'}\n",
            "sources[0].index_url: String should match",
        ),
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("sources: [\n", "not valid YAML"),
    ],
)
def test_bad_configs_name_file_and_key(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_unreadable_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_settings(tmp_path / "missing.yaml")


def test_the_shipped_config_documents_every_key_of_the_sections_it_shows() -> None:
    """config/pipeline.yaml is the commented reference: a new setting must appear in it."""
    import yaml

    from paywall.config import Settings

    shipped = yaml.safe_load((REPO / "config" / "pipeline.yaml").read_text())
    for section, value in shipped.items():
        if section == "sources":
            continue
        model = Settings.model_fields[section].annotation
        missing = set(model.model_fields) - set(value)
        assert not missing, f"{section}: {sorted(missing)} not in config/pipeline.yaml"
    assert load_settings(REPO / "config" / "pipeline.yaml").pipeline.pool is None
