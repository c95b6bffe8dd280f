"""Confused-deputy prevention (issue 21, I1): every statement that lets an AWS service principal act — role
trusts, key policies, bucket/topic/queue policies — is bound to this account by `aws:SourceAccount` or
`aws:SourceArn` (stacks/service_principals.py); the Logs key statement by its encryption context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.infrastructure.conftest import Synth

SOURCE_KEYS = ("aws:SourceAccount", "aws:SourceArn")
POLICY_PROPERTIES = {
    "AWS::IAM::Role": "AssumeRolePolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
}


def service_statements(synth: Synth) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(logical id, service principal as text, statement) of every Allow to a service principal."""
    for template in synth.templates.values():
        for logical_id, resource in template["Resources"].items():
            prop = POLICY_PROPERTIES.get(resource["Type"])
            if prop is None:
                continue
            for statement in resource["Properties"][prop]["Statement"]:
                principal = statement.get("Principal")
                if statement["Effect"] == "Allow" and isinstance(principal, dict) and "Service" in principal:
                    yield logical_id, json.dumps(principal["Service"]), statement


def condition_keys(statement: dict[str, Any]) -> set[str]:
    return {key for block in (statement.get("Condition") or {}).values() for key in block}


def test_every_service_principal_statement_is_bound_to_this_account(synth: Synth) -> None:
    found = list(service_statements(synth))
    assert len(found) >= 10, found  # roles of the functions and endpoints, keys, bucket and queue policies
    unbound = []
    for logical_id, service, statement in found:
        keys = condition_keys(statement)
        if '"logs.' in service:  # the Logs key statement: bound to this account's log groups instead
            bound = "kms:EncryptionContext:aws:logs:arn" in keys
        else:
            bound = bool(keys & set(SOURCE_KEYS))
        if not bound:
            unbound.append(f"{logical_id}: {service}")
    assert not unbound, f"service principals without aws:SourceAccount/aws:SourceArn: {unbound}"


def test_the_source_account_is_this_account(synth: Synth) -> None:
    for logical_id, _, statement in service_statements(synth):
        account = (statement.get("Condition") or {}).get("StringEquals", {}).get("aws:SourceAccount")
        if account is not None:
            assert account == {"Ref": "AWS::AccountId"}, logical_id
