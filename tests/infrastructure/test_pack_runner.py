"""The pack runner (docs/packs.md): its work queue (KMS, TLS only, a dead-letter queue), its function (SQS
event source with partial batch failures, its own reserved concurrency from cdk.json), least-privilege
grants (its own and the API functions' for pack jobs), alarms and the configuration keys."""

from __future__ import annotations

from typing import Any

import pytest

from avatar_contract.names import PackRunner
from stacks.config import ConfigError, ServiceConfig
from tests.infrastructure.helpers import actions_of, granted, of_type, statements, text


def _queue(service: dict[str, Any], name: str) -> dict[str, Any]:
    (queue,) = [
        v["Properties"]
        for v in of_type(service, "AWS::SQS::Queue").values()
        if v["Properties"]["QueueName"] == name
    ]
    return queue


def _function(service: dict[str, Any]) -> dict[str, Any]:
    (function,) = [
        v["Properties"]
        for v in of_type(service, "AWS::Lambda::Function").values()
        if v["Properties"].get("FunctionName") == "avatar-pack-runner"
    ]
    return function


def test_work_queue_is_encrypted_tls_only_with_a_dead_letter_queue(service: dict[str, Any]) -> None:
    queue = _queue(service, "avatar-pack-work")
    assert "StatusMessagingKey" in text(queue["KmsMasterKeyId"])
    assert "PacksDeadLetterQueue" in text(queue["RedrivePolicy"]["deadLetterTargetArn"])
    assert queue["RedrivePolicy"]["maxReceiveCount"] == PackRunner.MAX_RECEIVE_COUNT
    assert queue["VisibilityTimeout"] == 6 * PackRunner.TIMEOUT_SECONDS
    assert "StatusMessagingKey" in text(_queue(service, "avatar-pack-work-dlq")["KmsMasterKeyId"])
    policies = [
        v["Properties"]["PolicyDocument"]["Statement"]
        for v in of_type(service, "AWS::SQS::QueuePolicy").values()
        if "PacksQueue" in text(v["Properties"]["Queues"])
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statements_ in policies
        for s in statements_
    )


def test_runner_has_its_reserved_concurrency_and_reports_partial_failures(service: dict[str, Any]) -> None:
    function = _function(service)
    assert function["Handler"] == PackRunner.HANDLER
    assert function["ReservedConcurrentExecutions"] == 2  # cdk.json packRunnerReservedConcurrency
    assert function["Timeout"] == PackRunner.TIMEOUT_SECONDS
    environment = function["Environment"]["Variables"]
    assert "PacksQueue" in text(environment["AVATAR_PACK_QUEUE_URL"])
    assert "EventsTopic" in text(environment["AVATAR_EVENTS_TOPIC_ARN"])
    (mapping,) = [
        v["Properties"]
        for v in of_type(service, "AWS::Lambda::EventSourceMapping").values()
        if "PacksQueue" in text(v["Properties"]["EventSourceArn"])
    ]
    assert mapping["BatchSize"] == PackRunner.BATCH_SIZE
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_runner_grants_are_scoped(service: dict[str, Any]) -> None:
    runner = statements(service, "PacksRole")
    assert [r for r in granted(runner, "s3:PutObject")] == [
        r for r in granted(runner, "s3:PutObject") if "/generations/*/*/packs/*" in r
    ]
    assert granted(runner, "s3:PutObject") and not granted(runner, "s3:DeleteObject")
    assert any(
        "HostingEndpoint" in r or "endpoint/" in r for r in granted(runner, "sagemaker:InvokeEndpoint")
    )
    assert granted(runner, "sns:Publish")
    dynamodb = [s for s in runner if any(a.startswith("dynamodb:") for a in actions_of(s))]
    assert dynamodb and all(
        s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["quota#*", "pack#*"]
        and sorted(actions_of(s)) == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        for s in dynamodb
    )
    assert granted(runner, "rekognition:DetectModerationLabels") or any(
        "rekognition:DetectModerationLabels" in actions_of(s)
        for s in statements(service, "ApiModerationPacks")
    )


def test_api_functions_may_start_and_read_pack_jobs(service: dict[str, Any]) -> None:
    generations = statements(service, "ApiGenerationsRole")
    assert any("PacksQueue" in r for r in granted(generations, "sqs:SendMessage"))
    assert any("/generations/*/*/packs/*" in r for r in granted(generations, "s3:DeleteObject"))
    idempotency = [
        s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        for s in generations
        if "dynamodb:PutItem" in actions_of(s)
    ]
    assert idempotency == [["pack#*", "idempotency#packs#*"]]
    reads = statements(service, "ApiReadsRole")
    assert any("/generations/*/*/packs/*" in r for r in granted(reads, "s3:GetObject"))
    assert not granted(reads, "sqs:SendMessage")


def test_dead_letters_and_errors_raise_alarms(service: dict[str, Any]) -> None:
    names = {
        v["Properties"].get("AlarmName", "") for v in of_type(service, "AWS::CloudWatch::Alarm").values()
    }
    assert {"avatar-pack-runner-dead-letters", "avatar-pack-runner-function-errors"} <= names


def test_pack_settings_are_validated() -> None:
    config = ServiceConfig.from_context({"quotaPackJobsInFlight": 3, "packRunnerReservedConcurrency": 4})
    assert config.quota_environment()["AVATAR_QUOTA_PACK_JOBS_IN_FLIGHT"] == "3"
    assert config.pack_runner_reserved_concurrency == 4
    with pytest.raises(ConfigError, match="packRunnerReservedConcurrency"):
        ServiceConfig.from_context({"packRunnerReservedConcurrency": 0})
