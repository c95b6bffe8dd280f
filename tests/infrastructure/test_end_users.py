"""End users (docs/end-users.md): the user pool's sign-in rules, a public app client, an identity pool
without unauthenticated identities whose role may only invoke this API's methods, the stack outputs, the
removal-policy convention, and `enableEndUsers: false`."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk.assertions import Template

from avatar_contract.routes import ROUTES
from stacks.config import API_STAGE_NAME, ConfigError, ServiceConfig
from stacks.end_users import EndUsers
from tests.infrastructure.conftest import Synth
from tests.infrastructure.helpers import actions_of, of_type, one, statements, text


def test_user_pool_signs_in_by_email_with_a_real_password_policy(service: dict[str, Any]) -> None:
    pool = one(service, "AWS::Cognito::UserPool")
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(
        policy[k] for k in ("RequireUppercase", "RequireLowercase", "RequireNumbers", "RequireSymbols")
    )
    assert pool["MfaConfiguration"] == "OPTIONAL"
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert pool["AccountRecoverySetting"]["RecoveryMechanisms"] == [{"Name": "verified_email", "Priority": 1}]


def test_user_pool_is_retained_by_default(service: dict[str, Any]) -> None:
    [pool] = of_type(service, "AWS::Cognito::UserPool").values()
    assert pool["DeletionPolicy"] == "Retain"
    assert pool["Properties"]["DeletionProtection"] == "ACTIVE"


def test_app_client_is_public_with_short_lived_tokens(service: dict[str, Any]) -> None:
    client = one(service, "AWS::Cognito::UserPoolClient")
    assert client.get("GenerateSecret", False) is False
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    assert client["EnableTokenRevocation"] is True
    assert client["TokenValidityUnits"]["IdToken"] == "minutes" and client["IdTokenValidity"] <= 60
    assert client["TokenValidityUnits"]["AccessToken"] == "minutes" and client["AccessTokenValidity"] <= 60


def test_identity_pool_has_no_unauthenticated_identities(service: dict[str, Any]) -> None:
    pool = one(service, "AWS::Cognito::IdentityPool")
    assert pool["AllowUnauthenticatedIdentities"] is False
    assert pool["AllowClassicFlow"] is False
    [provider] = pool["CognitoIdentityProviders"]
    assert "EndUsersUserPoolAppClient" in text(provider["ClientId"])
    attachment = one(service, "AWS::Cognito::IdentityPoolRoleAttachment")
    assert set(attachment["Roles"]) == {"authenticated"}


def test_authenticated_role_trusts_only_this_pools_signed_in_identities(service: dict[str, Any]) -> None:
    [role] = [
        r["Properties"]
        for k, r in of_type(service, "AWS::IAM::Role").items()
        if k.startswith("EndUsersAuthenticatedRole")
    ]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Federated": "cognito-identity.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert "EndUsersIdentityPool" in text(
        trust["Condition"]["StringEquals"]["cognito-identity.amazonaws.com:aud"]
    )
    assert trust["Condition"]["ForAnyValue:StringLike"] == {
        "cognito-identity.amazonaws.com:amr": "authenticated"
    }
    assert not role.get("ManagedPolicyArns")


def test_authenticated_role_may_only_invoke_this_apis_methods(service: dict[str, Any]) -> None:
    [statement] = statements(service, "EndUsersAuthenticatedRoleDefaultPolicy")
    assert statement["Effect"] == "Allow" and actions_of(statement) == ["execute-api:Invoke"]
    resources = statement["Resource"]
    assert len(resources) == len({(r.method, r.path) for r in ROUTES})
    [api_id] = of_type(service, "AWS::ApiGateway::RestApi")
    for resource in resources:
        rendered = text(resource)
        assert '"Ref": "' + api_id + '"' in rendered  # this REST API, not any
        assert (
            f"/{API_STAGE_NAME}/" in rendered and "*/*" not in rendered
        )  # this stage, one method and path each
    rendered = text(resources)
    for route in ROUTES:
        assert f"/{API_STAGE_NAME}/{route.method}{route.path.split('{')[0]}" in rendered, route


def test_stack_outputs_name_the_three_ids(service: dict[str, Any]) -> None:
    outputs = service["Outputs"]
    assert "EndUsersUserPool" in text(outputs["UserPoolId"]["Value"])
    assert "EndUsersUserPoolAppClient" in text(outputs["UserPoolClientId"]["Value"])
    assert "EndUsersIdentityPool" in text(outputs["IdentityPoolId"]["Value"])


def test_cognito_findings_are_acknowledged_with_reasons(synth: Synth) -> None:
    acknowledged = {
        rule.removeprefix("Annotation::")
        for path, rules in synth.acknowledgments().items()
        if "/EndUsers/" in path
        for rule in rules
    }
    assert {"AwsSolutions-COG2", "AwsSolutions-COG3", "AwsSolutions-COG8"} <= acknowledged


def test_enable_end_users_false_creates_none_of_it(variant: Synth) -> None:
    service = variant.template("AvatarService")
    for resource_type in (
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::IdentityPool",
        "AWS::Cognito::IdentityPoolRoleAttachment",
    ):
        assert not of_type(service, resource_type), resource_type
    assert not {"UserPoolId", "UserPoolClientId", "IdentityPoolId"} & set(service["Outputs"])


def test_destroy_policy_deletes_the_user_pool() -> None:
    stack = Stack(App(), "Probe")
    api = apigw.RestApi(stack, "Api", deploy_options=apigw.StageOptions(stage_name=API_STAGE_NAME))
    api.root.add_method("GET")
    EndUsers(stack, "EndUsers", config=ServiceConfig(removal_policy="destroy"), api=api)
    [pool] = of_type(dict(Template.from_stack(stack).to_json()), "AWS::Cognito::UserPool").values()
    assert pool["DeletionPolicy"] == "Delete"
    assert pool["Properties"].get("DeletionProtection", "INACTIVE") == "INACTIVE"


def test_app_client_allows_no_oauth_flow_or_callback_by_default(service: dict[str, Any]) -> None:
    """Issue 21 L2: CDK's default client would allow the code and implicit grants to https://example.com."""
    client = one(service, "AWS::Cognito::UserPoolClient")
    for field in ("AllowedOAuthFlows", "CallbackURLs", "LogoutURLs", "AllowedOAuthScopes"):
        assert not client.get(field), field
    assert client.get("AllowedOAuthFlowsUserPoolClient", False) is False


def _client_with(context: dict[str, Any]) -> dict[str, Any]:
    stack = Stack(App(), "Probe")
    api = apigw.RestApi(stack, "Api", deploy_options=apigw.StageOptions(stage_name=API_STAGE_NAME))
    api.root.add_method("GET")
    EndUsers(stack, "EndUsers", config=ServiceConfig.from_context(context), api=api)
    [client] = of_type(dict(Template.from_stack(stack).to_json()), "AWS::Cognito::UserPoolClient").values()
    return dict(client["Properties"])


def test_configured_callback_urls_get_only_the_code_grant() -> None:
    urls = ["https://app.example.org/callback", "http://localhost:3000/cb"]
    client = _client_with({"endUserOAuthCallbackUrls": urls})
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["CallbackURLs"] == urls
    assert set(client["AllowedOAuthScopes"]) == {"openid", "email"}
    assert client["AllowedOAuthFlowsUserPoolClient"] is True


def test_callback_urls_must_be_https_or_loopback() -> None:
    for bad in ("http://app.example.org/cb", "https://app.example.org/cb#x", "javascript:alert(1)"):
        with pytest.raises(ConfigError, match="endUserOAuthCallbackUrls"):
            ServiceConfig.from_context({"endUserOAuthCallbackUrls": [bad]})


def test_api_functions_know_this_identity_pool_and_the_end_user_role(service: dict[str, Any]) -> None:
    """Issue 21 L1: the functions accept Cognito callers of this pool only (avatar_api.routers.identity)."""
    functions = [
        v["Properties"]
        for v in of_type(service, "AWS::Lambda::Function").values()
        if v["Properties"]["Handler"].startswith("avatar_api.handlers.")
        and not v["Properties"]["Handler"].endswith(
            ("status_events.lambda_handler", "publisher.lambda_handler", "pack_runner.lambda_handler")
        )
    ]
    assert len(functions) == len({route.function for route in ROUTES})
    for function in functions:
        variables = function["Environment"]["Variables"]
        assert "EndUsersIdentityPool" in text(variables["AVATAR_IDENTITY_POOL_ID"])
        assert "EndUsersAuthenticatedRole" in text(variables["AVATAR_END_USER_ROLE_ARN"])
