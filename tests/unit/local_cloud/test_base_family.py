"""The local cloud's base model is the tiny random-weight pipeline of its configured base family (cdk.json
`baseModel`, or `-c baseModel=…` on the command line), the one its containers and functions are told."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from local_cloud.cloud import LocalCloud
from local_cloud.settings import add_context_argument, context_from_args, load_settings


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "pipeline"),
    [("sd21-base", "StableDiffusionPipeline"), ("sdxl-base-1.0", "StableDiffusionXLPipeline")],
)
def test_the_tiny_base_follows_the_configured_base_family(
    family: str, pipeline: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the process environment does not decide: the deployment's configuration does, as for the stacks
    monkeypatch.setenv("AVATAR_BASE_FAMILY", "sd21-base" if family == "sdxl-base-1.0" else "sdxl-base-1.0")
    cloud = LocalCloud(state_dir=tmp_path, context={"baseModel": family})
    cloud._resolve_base_model()
    base = cloud.base_model
    assert json.loads((base / "model_index.json").read_text())["_class_name"] == pipeline
    assert cloud._container_env("training")["AVATAR_BASE_FAMILY"] == family


def test_a_context_override_changes_only_what_it_names() -> None:
    default, sdxl = load_settings(), load_settings(overrides={"baseModel": "sdxl-base-1.0"})
    assert (default.config.base_model, sdxl.config.base_model) == ("sd21-base", "sdxl-base-1.0")
    assert sdxl.config.base_model_manifest == "base_models/sdxl-base-1.0.json"
    assert sdxl.data_bucket == default.data_bucket and sdxl.hosting_endpoint == default.hosting_endpoint


def _parse(*argv: str) -> dict[str, str]:
    parser = argparse.ArgumentParser()
    add_context_argument(parser)
    return context_from_args(parser, parser.parse_args(argv))


def test_dash_c_takes_key_value_pairs_as_cdk_does() -> None:
    assert _parse() == {}
    assert _parse("-c", "baseModel=sdxl-base-1.0") == {"baseModel": "sdxl-base-1.0"}


@pytest.mark.parametrize(
    ("pair", "says"),
    [
        ("baseModel", "key=value"),
        ("baseModel=sdxl", "expected one of sd21-base, sdxl-base-1.0"),
        ("baseModell=sdxl-base-1.0", "did you mean 'baseModel'"),
    ],
)
def test_a_bad_override_is_a_usage_error_naming_it(
    pair: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        _parse("-c", pair)
    assert exited.value.code == 2 and says in capsys.readouterr().err
