"""cdk.json `operatorPacksFile`: validated at synth with the packs schema, errors naming the key, the file
and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks import config_parsers
from stacks.config import ConfigError, ServiceConfig
from tests.unit.packs.test_packs import OPERATOR_PACK


@pytest.fixture
def repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(config_parsers, "REPOSITORY_ROOT", tmp_path)
    (tmp_path / "packs").mkdir()
    return tmp_path


def test_unset_means_curated_packs_only() -> None:
    assert ServiceConfig.from_context({"operatorPacksFile": ""}).operator_packs_file is None


def test_a_valid_file_is_accepted(repo: Path) -> None:
    (repo / "packs" / "mine.json").write_text(json.dumps({"packs": [OPERATOR_PACK]}))
    config = ServiceConfig.from_context({"operatorPacksFile": "packs/mine.json"})
    assert config.operator_packs_file == "packs/mine.json"


def test_an_invalid_pack_fails_synth_naming_the_key_and_the_field(repo: Path) -> None:
    bad = {**OPERATOR_PACK, "prompts": [{"prompt": "a cat", "images": 2}]}
    (repo / "packs" / "mine.json").write_text(json.dumps({"packs": [bad]}))
    with pytest.raises(ConfigError, match=r"'operatorPacksFile': .*mine\.json: packs\.0\.prompts\.0\.prompt"):
        ServiceConfig.from_context({"operatorPacksFile": "packs/mine.json"})


@pytest.mark.parametrize("value", ["/etc/packs.json", "../outside.json", "packs/mine.yaml", 3])
def test_only_json_files_inside_the_repository(repo: Path, value: object) -> None:
    with pytest.raises(ConfigError, match="operatorPacksFile"):
        ServiceConfig.from_context({"operatorPacksFile": value})


def test_a_missing_file_fails_synth(repo: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        ServiceConfig.from_context({"operatorPacksFile": "packs/missing.json"})
