"""Issue 12 points 4-5: the state table (quotas, idempotency records) and who may do what on it; the
quotas in the functions' environment; reserved concurrency per function."""

from __future__ import annotations

from typing import Any

import pytest

from avatar_contract import routes
from avatar_contract.names import Env, StateTable
from stacks.config import ConfigError, ServiceConfig
from tests.infrastructure.conftest import Synth
from tests.infrastructure.helpers import actions_of, api_functions, of_type, one, statements, text


def _table(storage: dict[str, Any]) -> dict[str, Any]:
    return one(storage, "AWS::DynamoDB::Table")


def test_table_is_on_demand_with_pitr_ttl_and_a_string_key(storage: dict[str, Any]) -> None:
    table = _table(storage)
    assert table["TableName"] == "avatar-state"
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": StateTable.KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": StateTable.TTL_ATTRIBUTE, "Enabled": True}


def test_table_is_encrypted_with_its_own_rotating_customer_managed_key(storage: dict[str, Any]) -> None:
    sse = _table(storage)["SSESpecification"]
    assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS"
    keys = of_type(storage, "AWS::KMS::Key")
    (key_id,) = [logical for logical in keys if logical.startswith("StateStateKey")]
    assert sse["KMSMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert keys[key_id]["Properties"]["EnableKeyRotation"] is True
    aliases = [a["Properties"]["AliasName"] for a in of_type(storage, "AWS::KMS::Alias").values()]
    assert "alias/avatar-state" in aliases


def test_table_and_key_are_retained_by_default(storage: dict[str, Any]) -> None:
    for logical_id, resource in storage["Resources"].items():
        if logical_id.startswith("State") and resource["Type"] in {"AWS::DynamoDB::Table", "AWS::KMS::Key"}:
            assert resource["DeletionPolicy"] == "Retain", logical_id


def test_pack_jobs_table_grants(service: dict[str, Any]) -> None:
    """Pack jobs (docs/packs.md): the generations function creates, cancels and rolls back a job's counters
    and keeps the idempotency records of pack submissions; the runner counts and claims, gives slots back."""
    expected = {
        "ApiGenerationsRole": (
            {"GetItem", "PutItem", "UpdateItem", "DeleteItem"},
            ["pack#*", "idempotency#packs#*"],
        ),
        "PacksRole": ({"GetItem", "UpdateItem"}, ["quota#*", "pack#*"]),
    }
    for role, (actions, prefixes) in expected.items():
        (statement,) = [s for s in _table_statements(service, role) if "pack#*" in text(s["Condition"])]
        assert set(actions_of(statement)) == {f"dynamodb:{action}" for action in actions}
        assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": prefixes}}


def _table_statements(service: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [s for s in statements(service, role) if any(a.startswith("dynamodb:") for a in actions_of(s))]


@pytest.mark.parametrize(
    ("role", "actions", "prefixes"),
    [
        (
            "ApiTrainingsRole",
            {"GetItem", "PutItem", "UpdateItem", "DeleteItem"},
            ["quota#*", "idempotency#*"],
        ),
        ("ApiReadsRole", {"GetItem", "UpdateItem"}, ["quota#*"]),  # upload slots
        ("ApiModelsRole", {"DeleteItem"}, ["idempotency#*"]),
        ("ApiGenerationsRole", {"GetItem", "UpdateItem"}, ["quota#*"]),  # windows, slots in flight
    ],
)
def test_each_function_gets_exactly_its_table_actions_on_its_key_prefixes(
    service: dict[str, Any], role: str, actions: set[str], prefixes: list[str]
) -> None:
    (statement,) = [s for s in _table_statements(service, role) if "pack#*" not in text(s["Condition"])]
    assert set(actions_of(statement)) == {f"dynamodb:{action}" for action in actions}
    assert "avatar-state" in text(statement["Resource"]) and "*" not in text(statement["Resource"])
    assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": prefixes}}
    (kms,) = [s for s in statements(service, role) if "StateStateKey" in text(s["Resource"])]
    assert set(actions_of(kms)) == {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}
    assert "dynamodb." in text(kms["Condition"]["StringEquals"]["kms:ViaService"])


def test_no_wildcard_table_actions(service: dict[str, Any]) -> None:
    for policy in of_type(service, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert not [a for a in actions_of(statement) if a.startswith("dynamodb:") and "*" in a]


def test_functions_know_the_table_by_name_and_the_quotas(service: dict[str, Any]) -> None:
    for props in api_functions(service).values():
        env = props["Environment"]["Variables"]
        assert env[Env.STATE_TABLE] == "avatar-state"  # a plain name: no cross-stack import
        assert env[Env.QUOTA_CONCURRENT_TRAININGS] == "1"
        assert env[Env.QUOTA_TRAININGS_PER_DAY] == "5"
        assert env[Env.QUOTA_GENERATIONS_PER_MINUTE] == "20"
        # Issue 21: dry runs, refusals, and generations by cost and in flight (sized to the fleet).
        assert env[Env.QUOTA_DRY_RUNS_PER_HOUR] == "30"
        assert env[Env.QUOTA_REFUSED_TRAININGS_PER_DAY] == "10"
        assert env[Env.QUOTA_GENERATION_GPU_SECONDS_PER_MINUTE] == "30"
        assert env[Env.QUOTA_GENERATIONS_IN_FLIGHT] == "1"


def test_each_function_has_its_reserved_concurrency(service: dict[str, Any]) -> None:
    functions = api_functions(service)
    assert {
        f.name: functions[f"avatar-{f.name}"].get("ReservedConcurrentExecutions") for f in routes.FUNCTIONS
    } == {
        "trainings": 10,
        "reads": 10,  # the read-only routes apart from the submissions (issue 21 M3)
        "models": 5,
        "generations": 10,
    }


def test_configured_quotas_and_unreservedapi_functions(variant: Synth) -> None:
    # VARIANT_CONTEXT: quotaTrainingsPerDay 2, quotaGenerationsPerMinute 7, no reservation for two functions
    functions = api_functions(variant.template("AvatarService"))  # resourcePrefix "demo"
    assert "ReservedConcurrentExecutions" not in functions["demo-models"]
    assert "ReservedConcurrentExecutions" not in functions["demo-generations"]
    assert functions["demo-trainings"]["ReservedConcurrentExecutions"] == 10
    env = functions["demo-generations"]["Environment"]["Variables"]
    assert (env[Env.QUOTA_TRAININGS_PER_DAY], env[Env.QUOTA_GENERATIONS_PER_MINUTE]) == ("2", "7")


def test_reservations_leave_the_account_its_unreserved_hundred() -> None:
    with pytest.raises(ConfigError, match="reservedConcurrency"):
        ServiceConfig.from_context(
            {"reservedConcurrencyTrainings": 500, "reservedConcurrencyGenerations": 500}
        )
    with pytest.raises(ConfigError, match="quotaConcurrentTrainings"):
        ServiceConfig.from_context({"quotaConcurrentTrainings": 0})


def test_the_status_consumer_may_only_give_quota_slots_back(service: dict[str, Any]) -> None:
    [consumer] = [
        v["Properties"]
        for v in of_type(service, "AWS::Lambda::Function").values()
        if v["Properties"]["Handler"].endswith("status_events.lambda_handler")
    ]
    assert consumer["Environment"]["Variables"][Env.STATE_TABLE] == "avatar-state"
    stmts = statements(service, "EventsRoleDefaultPolicy")
    dynamo = [s for s in stmts if any(a.startswith("dynamodb:") for a in actions_of(s))]
    assert [sorted(actions_of(s)) for s in dynamo] == [["dynamodb:GetItem", "dynamodb:UpdateItem"]]
    assert dynamo[0]["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["quota#*"]}}
