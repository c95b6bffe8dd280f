"""Issue 21 M1: the model publisher is the only writer of `models/*` — the hosting bucket's policy denies
PutObject there to every other principal, the training role cannot write the hosting bucket at all, and
the publisher runs on its own queue on SageMaker's success topic."""

from __future__ import annotations

from typing import Any

from tests.infrastructure.helpers import actions_of, granted, of_type, one, statements, text


def _hosting_policy(storage: dict[str, Any]) -> list[dict[str, Any]]:
    [policy] = [
        p
        for k, p in of_type(storage, "AWS::S3::BucketPolicy").items()
        if k.startswith("StorageHostingBucket")
    ]
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def test_the_hosting_bucket_denies_writes_to_models_to_all_but_the_publishers_role(
    storage: dict[str, Any], service: dict[str, Any]
) -> None:
    [deny] = [s for s in _hosting_policy(storage) if s.get("Sid") == "OnlyTheModelPublisherWritesModels"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"}
    assert deny["Action"] == "s3:PutObject"
    assert text(deny["Resource"]).endswith('"/models/*"]]}')
    [arn] = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"].values()
    role_name = one(service, "AWS::IAM::Role", "PublisherRole")["RoleName"]
    assert f":role/{role_name}" in text(arn) and role_name.endswith("-model-publisher")


def test_only_the_publisher_is_granted_writes_to_models(service: dict[str, Any]) -> None:
    writers = [
        logical_id
        for logical_id, policy in of_type(service, "AWS::IAM::Policy").items()
        if any(
            "/models/*" in r
            for r in granted(policy["Properties"]["PolicyDocument"]["Statement"], "s3:PutObject")
        )
    ]
    assert writers and all(w.startswith("PublisherRole") for w in writers), writers
    writes = " ".join(granted(statements(service, "TrainingExecutionRole"), "s3:PutObject"))
    assert "avatar-hosting-" not in writes and "/models/" not in writes
    # below the trainings prefix, only each training's progress, previews and staged model
    for own in ("progress.json*", "previews/*", "staged/*"):
        assert f'/trainings/*/*/{own}"' in writes
    assert '/trainings/*"' not in writes


def test_the_publisher_consumes_the_success_topic_on_its_own_queue(service: dict[str, Any]) -> None:
    function = one(service, "AWS::Lambda::Function", "PublisherFunction")
    assert function["Handler"] == "avatar_api.handlers.publisher.lambda_handler"
    assert function["EphemeralStorage"]["Size"] >= 2048
    subscriptions = [
        s["Properties"] for s in of_type(service, "AWS::SNS::Subscription").values()
        if "PublisherQueue" in text(s["Properties"]["Endpoint"])
    ]  # fmt: skip
    assert len(subscriptions) == 1 and subscriptions[0]["RawMessageDelivery"] is True
    assert "SuccessTopic" in text(subscriptions[0]["TopicArn"])
    mapping = one(service, "AWS::Lambda::EventSourceMapping", "PublisherFunction")
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == 2


def test_the_publisher_may_read_and_list_models_to_republish_old_archives(service: dict[str, Any]) -> None:
    """The migration reads `models/*` (and lists it, prefix-limited) to rebuild old-layout archives."""
    publisher = statements(service, "PublisherRole")
    reads = " ".join(granted(publisher, "s3:GetObject"))
    assert "avatar-hosting-" in reads and '/models/*"' in reads
    listing = [
        s for s in publisher if "s3:ListBucket" in actions_of(s) and "avatar-hosting-" in text(s["Resource"])
    ]
    assert listing and all(s["Condition"]["StringLike"]["s3:prefix"] == ["models/*"] for s in listing)
