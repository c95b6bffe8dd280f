"""The local cloud provisions the state table in moto as the stateful stack declares it, and hands the
functions its name and the configured quotas. Fast: starts only moto."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from avatar_contract.names import Env, StateTable
from local_cloud.aws import MotoAws, provision
from local_cloud.cloud import LOCAL_IMAGES, LocalCloud


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    cloud = LocalCloud(state_dir=tmp_path, extra_lambda_env={Env.QUOTA_TRAININGS_PER_DAY: "9"})
    cloud.aws = MotoAws(cloud.region)
    cloud.aws.start()
    try:
        cloud.provisioned = provision(cloud.aws, cloud.settings, LOCAL_IMAGES)
        yield cloud
    finally:
        cloud.aws.stop()


def test_state_table_is_provisioned_with_its_key_ttl_and_recovery(cloud: LocalCloud) -> None:
    dynamodb = cloud.aws.client("dynamodb")
    name = cloud.settings.state_table
    assert name == cloud.settings.config.state_table_name == "avatar-state"
    table = dynamodb.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": StateTable.KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": StateTable.TTL_ATTRIBUTE}
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_functions_get_the_table_and_the_quotas(cloud: LocalCloud, tmp_path: Path) -> None:
    env = cloud.stack_environment()  # the API functions' (what lambda_environment adds is local)
    assert env[Env.STATE_TABLE] == "avatar-state"
    assert env[Env.QUOTA_CONCURRENT_TRAININGS] == "1"  # cdk.json's
    assert env[Env.QUOTA_GENERATIONS_PER_MINUTE] == "20"
    assert env[Env.QUOTA_TRAININGS_PER_DAY] == "9"  # extra_lambda_env wins
    assert env[Env.BASE_FAMILY] == "sd21-base"  # cdk.json's baseModel, as the stacks set it
    cloud.base_model = tmp_path / "base"
    assert cloud._container_env("training")[Env.BASE_FAMILY] == "sd21-base"


def test_concurrent_conditional_updates_cannot_overshoot(cloud: LocalCloud) -> None:
    """As in DynamoDB, each conditional update is atomic: 40 racing increments under a cap of 5 succeed 5
    times (moto alone interleaves check and write across its server threads)."""
    dynamodb, table = cloud.aws.client("dynamodb"), cloud.settings.state_table
    key = {StateTable.KEY_ATTRIBUTE: {"S": "quota#race"}}

    def take(_: int) -> bool:
        try:
            dynamodb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="ADD used :one",
                ConditionExpression="attribute_not_exists(used) OR used < :cap",
                ExpressionAttributeValues={":one": {"N": "1"}, ":cap": {"N": "5"}},
            )
            return True
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return False

    with ThreadPoolExecutor(max_workers=16) as pool:
        taken = sum(pool.map(take, range(40)))
    assert taken == 5
    assert dynamodb.get_item(TableName=table, Key=key)["Item"]["used"] == {"N": "5"}
