"""Point 7 (dashboard, alarms to an alarm topic, optional e-mail) and point 8 (SageMaker execution roles
scoped to their buckets, topics and keys)."""

from __future__ import annotations

from typing import Any

from tests.infrastructure.helpers import granted, of_type, one, statements, text


def test_dashboard_covers_the_required_metrics(service: dict[str, Any]) -> None:
    body = text(one(service, "AWS::CloudWatch::Dashboard")["DashboardBody"])
    for metric in (
        "4XXError",
        "5XXError",
        "Latency",
        "Errors",
        "Duration",
        "ApproximateBacklogSize",
        "HasBacklogWithoutCapacity",
        "InvocationFailures",
        "ModelLoadingWaitTime",
        "ModelCacheHit",
        "LoadedModelCount",
        "GPUUtilization",
    ):
        assert metric in body, metric


def test_alarms_notify_the_alarm_topic_which_mails_the_operator(service: dict[str, Any]) -> None:
    alarms = [
        v["Properties"]
        for v in of_type(service, "AWS::CloudWatch::Alarm").values()
        if v["Properties"].get("MetricName") != "HasBacklogWithoutCapacity"
    ]
    assert len(alarms) >= 6
    for alarm in alarms:
        assert "MonitoringAlarmTopic" in text(alarm["AlarmActions"])
    metrics = {alarm.get("MetricName") for alarm in alarms}
    assert {"5XXError", "InvocationFailures", "Errors", "ApproximateNumberOfMessagesVisible"} <= metrics
    email = [
        v["Properties"]
        for v in of_type(service, "AWS::SNS::Subscription").values()
        if v["Properties"]["Protocol"] == "email"
    ]
    assert [e["Endpoint"] for e in email] == ["ops@example.com"]


def test_training_role_is_scoped(service: dict[str, Any]) -> None:
    stmts = statements(service, "TrainingExecutionRole")
    writes = " ".join(granted(stmts, "s3:PutObject"))
    for prefix in ("/trainings/*", "/async-outputs/*", "/async-failures/*"):
        assert prefix in writes
    assert "/models/*" not in writes and "avatar-hosting-" not in writes  # the publisher's (issue 21 M1)
    published = " ".join(granted(stmts, "sns:Publish"))
    assert "StatusSuccessTopic" in published and "StatusErrorTopic" in published
    assert not granted(stmts, "s3:DeleteObject")


def test_hosting_role_only_reads_models_and_the_staged_base_model(service: dict[str, Any]) -> None:
    stmts = statements(service, "HostingExecutionRole")
    assert all("/models/*" in r or "/base-models/" in r for r in granted(stmts, "s3:GetObject"))
    assert not granted(stmts, "s3:PutObject") and not granted(stmts, "sns:Publish")


def test_no_wildcard_resource_except_where_aws_allows_none(service: dict[str, Any]) -> None:
    # Actions that support no resource-level permissions; everything else names its resource.
    resourceless = {
        "ecr:GetAuthorizationToken",
        "cloudwatch:PutMetricData",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "comprehend:DetectToxicContent",
        "rekognition:DetectModerationLabels",
    }
    for logical_id, policy in of_type(service, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Resource"] == "*":
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert set(actions) <= resourceless, (logical_id, actions)


def test_endpoint_log_groups_have_retention(service: dict[str, Any]) -> None:
    groups = {
        v["Properties"].get("LogGroupName"): v["Properties"]
        for v in of_type(service, "AWS::Logs::LogGroup").values()
    }
    for name in ("/aws/sagemaker/Endpoints/avatar-training", "/aws/sagemaker/Endpoints/avatar-hosting"):
        assert groups[name]["RetentionInDays"] == 30
    for function in ("trainings", "models", "generations"):
        assert groups[f"/aws/lambda/avatar-{function}"]["RetentionInDays"] == 30
