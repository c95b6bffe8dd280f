"""avatar_runtime.environment: the one reader of settings from environment variables (issue 22 item 5),
and each runtime's settings read through it the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from avatar_api.settings import Settings as ApiSettings
from avatar_runtime.environment import Environment
from hosting_server.settings import HostingSettings
from training_service.settings import Settings as TrainingSettings


def test_empty_counts_as_unset_and_fallbacks_are_read_in_order() -> None:
    env = Environment({"A": " ", "B": "2"}, {"A": "1", "C": "3"}, {"C": "4"})
    assert env.raw("A") == "1" and env.integer("B", 0) == 2 and env.integer("C", 0) == 3
    assert env.text("MISSING", "x") == "x" and env.raw("MISSING") is None


@pytest.mark.parametrize(
    ("method", "value", "message"),
    [
        ("integer", "ten", "N must be an integer, got 'ten'"),
        ("number", "1,5", "N must be a number, got '1,5'"),
        ("flag", "maybe", "N must be true or false, got 'maybe'"),
    ],
)
def test_a_value_that_does_not_parse_is_refused_naming_the_variable(
    method: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        getattr(Environment({"N": value}), method)("N", 0)


def test_bounds_flags_and_paths() -> None:
    env = Environment({"N": "-1", "F": "No", "T": "ON", "P": "/tmp/x"})
    with pytest.raises(ValueError, match="N must be >= 0, got -1"):
        env.integer("N", 5, minimum=0)
    assert env.flag("F", True) is False and env.flag("T", False) is True and env.flag("U", True) is True
    assert env.path("P", Path("/d")) == Path("/tmp/x") and env.path("Q", Path("/d")) == Path("/d")


def test_required_names_every_missing_variable() -> None:
    with pytest.raises(RuntimeError, match="missing environment variables: B, C"):
        Environment({"A": "1", "C": ""}).required("A", "B", "C")


def test_both_containers_name_their_device_the_same_way() -> None:
    environ = {"AVATAR_DEVICE": "cuda:1"}
    assert TrainingSettings.from_env(environ).device == HostingSettings.from_env(environ).device == "cuda:1"


def test_every_runtime_refuses_a_bad_value_at_start_up() -> None:
    with pytest.raises(ValueError, match="AVATAR_TRAINING_LOG_EVERY must be >= 1"):
        TrainingSettings.from_env({"AVATAR_TRAINING_LOG_EVERY": "0"})
    with pytest.raises(ValueError, match="AVATAR_MAX_RESIDENT_ADAPTERS must be an integer"):
        HostingSettings.from_env({"AVATAR_MAX_RESIDENT_ADAPTERS": "many"})
    with pytest.raises(RuntimeError, match="AVATAR_STATE_TABLE"):
        ApiSettings.from_env(
            {"AVATAR_DATA_BUCKET": "d", "AVATAR_HOSTING_BUCKET": "h", "AVATAR_OWNER_KEY_SECRET": "k"}
        )


def test_the_hosting_adapter_bounds_fall_back_to_the_model_parameters() -> None:
    settings = HostingSettings.from_env({}, {"AVATAR_MAX_RESIDENT_ADAPTERS": "7"})
    assert settings.max_adapters == 7
    assert (
        HostingSettings.from_env(
            {"AVATAR_MAX_RESIDENT_ADAPTERS": "9"}, {"AVATAR_MAX_RESIDENT_ADAPTERS": "7"}
        ).max_adapters
        == 9
    )
