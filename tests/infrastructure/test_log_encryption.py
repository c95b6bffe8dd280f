"""Every log group the app creates is encrypted with a KMS key whose policy admits CloudWatch Logs for
this account's log groups only."""

from __future__ import annotations

from typing import Any

from tests.infrastructure.helpers import of_type


def test_every_log_group_uses_the_logs_key(service: dict[str, Any]) -> None:
    groups = of_type(service, "AWS::Logs::LogGroup")
    keys = of_type(service, "AWS::KMS::Key")
    assert len(groups) >= 6  # three functions, API access logs, two endpoints
    for logical_id, group in groups.items():
        key_ref = group["Properties"].get("KmsKeyId")
        assert key_ref is not None, logical_id
        assert key_ref["Fn::GetAtt"][0] in keys and key_ref["Fn::GetAtt"][1] == "Arn", (logical_id, key_ref)
    assert len({group["Properties"]["KmsKeyId"]["Fn::GetAtt"][0] for group in groups.values()}) == 1


def test_the_logs_key_admits_cloudwatch_logs_for_this_accounts_log_groups(service: dict[str, Any]) -> None:
    group = next(iter(of_type(service, "AWS::Logs::LogGroup").values()))
    key = of_type(service, "AWS::KMS::Key")[group["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]]
    assert key["Properties"]["EnableKeyRotation"] is True
    [logs] = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "CloudWatchLogsOfThisAccount"
    ]
    principal = logs["Principal"]["Service"]
    assert "logs." in str(principal) and ".amazonaws.com" in str(principal)
    assert {"kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"} <= set(logs["Action"])
    context = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert (
        ":log-group:*" in str(context) and "AWS::AccountId" in str(context) and "AWS::Region" in str(context)
    )
