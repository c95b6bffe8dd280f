"""Content moderation (docs/moderation.md): the deny-list parameter, the policy in the functions'
environment, exactly the grants moderation needs, and the settings' validation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from avatar_contract.moderation import ENV_VAR, ModerationPolicy
from stacks.config import ConfigError, ServiceConfig
from tests.infrastructure.conftest import Synth
from tests.infrastructure.helpers import actions_of, api_functions, of_type, one, statements, text

PARAMETER = "/avatar/moderation/deny-list"
RULE = "Annotation::AwsSolutions-IAM5[Resource::*]"


def test_the_deny_list_is_one_ssm_parameter(service: dict[str, Any]) -> None:
    parameter = one(service, "AWS::SSM::Parameter")
    assert parameter["Name"] == PARAMETER
    assert parameter["Type"] == "String"


def test_every_function_gets_the_configured_policy(service: dict[str, Any]) -> None:
    for properties in api_functions(service).values():
        policy = ModerationPolicy.from_json(properties["Environment"]["Variables"][ENV_VAR])
        assert policy == ServiceConfig().moderation_policy(PARAMETER)
        assert policy.outputs.on_failure == "closed"


@pytest.mark.parametrize("role", ["Trainings", "Generations"])
def test_moderating_functions_get_exactly_the_moderation_actions(service: dict[str, Any], role: str) -> None:
    stmts = statements(service, f"ApiModeration{role}Moderation")
    granted = {action: text(s["Resource"]) for s in stmts for action in actions_of(s)}
    assert set(granted) == {
        "comprehend:DetectToxicContent",
        "rekognition:DetectModerationLabels",
        "ssm:GetParameter",
    }
    assert granted["comprehend:DetectToxicContent"] == '"*"'
    assert granted["rekognition:DetectModerationLabels"] == '"*"'
    (parameter_id,) = of_type(service, "AWS::SSM::Parameter")  # its Ref is its name, /avatar/...
    assert granted["ssm:GetParameter"].endswith(f'":parameter", {{"Ref": "{parameter_id}"}}]]}}')
    assert "*" not in granted["ssm:GetParameter"]


def test_no_other_role_can_moderate_or_read_parameters(service: dict[str, Any]) -> None:
    for logical_id, resource in of_type(service, "AWS::IAM::Policy").items():
        if logical_id.startswith("ApiModeration"):
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            for action in actions_of(statement):
                assert not action.startswith(("comprehend:", "rekognition:", "ssm:")), (logical_id, action)


def test_the_wildcard_is_acknowledged_with_its_reason(synth: Any) -> None:
    reasons = [
        rules[RULE]
        for path, rules in synth.acknowledgments().items()
        if "Moderation" in path and RULE in rules
    ]
    assert reasons and all("no resource-level permissions" in reason for reason in reasons)
    assert synth.validation_error is None


def test_settings_are_parsed_and_validated() -> None:
    config = ServiceConfig.from_context(
        {
            "moderationPrompts": json.dumps(
                {"thresholds": {"PROFANITY": 0.2}, "on_failure": "open", "region": "eu-west-1"}
            ),
            "moderationOutputs": {"min_confidence": 60, "categories": ["Explicit"]},
            "moderationInputs": {"enabled": False},
        }
    )
    assert config.moderation_prompts.thresholds["PROFANITY"] == 0.2
    assert config.moderation_prompts.thresholds["HATE_SPEECH"] == 0.5  # the default kept
    assert config.moderation_prompts.on_failure == "open"
    assert config.moderation_prompts.region == "eu-west-1"
    assert config.moderation_outputs.min_confidence == 60.0
    assert config.moderation_outputs.on_failure == "closed"
    assert not config.moderation_inputs.enabled
    for key, value, says in [
        ("moderationPrompts", {"thresholds": {"RUDE": 0.5}}, "unknown category 'RUDE'"),
        ("moderationPrompts", {"thresholds": {"INSULT": 2}}, "from 0 to 1"),
        ("moderationOutputs", {"categories": ["Nudity"]}, "unknown category 'Nudity'"),
        ("moderationOutputs", {"on_failure": "maybe"}, "on_failure"),
        ("moderationInputs", {"min_confidence": 101}, "from 0 to 100"),
        ("moderationInputs", {"enable": True}, "unknown field 'enable'"),
        ("moderationPrompts", {"region": "mars-1"}, "an AWS region"),
    ]:
        with pytest.raises(ConfigError, match=key) as raised:
            ServiceConfig.from_context({key: value})
        assert says in str(raised.value)


def test_disabled_stages_grant_nothing(variant: Synth) -> None:
    service = variant.template("AvatarService")  # VARIANT_CONTEXT: the prompts and inputs stages off
    for function in ("Trainings", "Generations"):  # previews and generated images: the outputs stage
        stmts = statements(service, f"ApiModeration{function}Moderation")
        assert [action for s in stmts for action in actions_of(s)] == ["rekognition:DetectModerationLabels"]
    policy = ModerationPolicy.from_json(
        next(iter(api_functions(service).values()))["Environment"]["Variables"][ENV_VAR]
    )
    assert not policy.prompts.enabled and not policy.inputs.enabled and policy.outputs.enabled
