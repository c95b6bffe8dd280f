"""The owner-id key: a generated secret in the stateful stack, retained, KMS-encrypted, read by the API
and the status consumer (webhook secrets)."""

from __future__ import annotations

from typing import Any

from avatar_contract import routes
from avatar_contract.names import Env
from tests.infrastructure.helpers import of_type, statements, text


def test_the_owner_key_is_generated_retained_and_encrypted_with_the_data_key(storage: dict[str, Any]) -> None:
    [(logical_id, secret)] = of_type(storage, "AWS::SecretsManager::Secret").items()
    assert logical_id.startswith("OwnerIdKey")
    assert secret["DeletionPolicy"] == "Retain" and secret["UpdateReplacePolicy"] == "Retain"
    props = secret["Properties"]
    assert "StorageDataKey" in text(props["KmsKeyId"])
    generated = props["GenerateSecretString"]
    assert generated["PasswordLength"] == 64 and generated["ExcludePunctuation"] is True
    assert "SecretString" not in props  # never a value in the template


def _reads_the_key_through_secrets_manager_only(service: dict[str, Any], policy_prefix: str) -> None:
    stmts = statements(service, policy_prefix)
    reads = [s for s in stmts if "secretsmanager:GetSecretValue" in s["Action"]]
    assert reads and all("OwnerIdKey" in text(s["Resource"]) for s in reads)
    decrypt = [
        s
        for s in stmts
        if "secretsmanager." in text(s.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", ""))
    ]
    assert decrypt and all(s["Action"] == "kms:Decrypt" for s in decrypt)


def test_the_api_functions_and_the_webhook_signers_read_the_owner_key_and_nothing_else_does(
    service: dict[str, Any],
) -> None:
    """The API derives owner ids from it; the status consumer and the pack runner derive each owner's
    webhook secret."""
    functions = of_type(service, "AWS::Lambda::Function")
    named = [
        f
        for f in functions.values()
        if Env.OWNER_KEY_SECRET in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert len(named) == len(routes.FUNCTIONS) + 2
    for function in routes.FUNCTIONS:
        _reads_the_key_through_secrets_manager_only(service, f"Api{function.name.title()}RoleDefaultPolicy")
    _reads_the_key_through_secrets_manager_only(service, "EventsRoleDefaultPolicy")
    _reads_the_key_through_secrets_manager_only(service, "PacksRoleDefaultPolicy")
    everyone = [
        logical_id
        for logical_id in of_type(service, "AWS::IAM::Policy")
        if any("secretsmanager:GetSecretValue" in s["Action"] for s in statements(service, logical_id))
    ]
    assert everyone and all(
        logical_id.startswith(("Api", "EventsRole", "PacksRole")) for logical_id in everyone
    )
