"""End users (docs/end-users.md): a Cognito user pool whose users sign in with their e-mail address, a
public app client for web and mobile apps, and an identity pool (authenticated identities only) whose
role may call this API's methods and nothing else. API Gateway then reports the caller's identity id as
`cognitoIdentityId`, which the functions take as the owner (docs/api.md).

Switched on by `enableEndUsers` (default true). The password policy and token lifetimes come from
stacks/config_end_users.py, which the local cloud provisions too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from avatar_contract.names import Env
from avatar_contract.routes import ROUTES
from stacks import config_end_users as settings
from stacks.config import API_STAGE_NAME, ServiceConfig
from stacks.nag import acknowledge
from stacks.storage import removal_policy

IDENTITY_SERVICE = "cognito-identity.amazonaws.com"


def _resource_path(path: str) -> str:
    """An execute-api resource path of a route: each `{parameter}` any one value (`*`)."""
    return re.sub(r"\{[^}]+\}", "*", path)


def _oauth(callback_urls: tuple[str, ...]) -> dict[str, Any]:
    """The app client's OAuth settings: none unless `endUserOAuthCallbackUrls` names redirect URLs (CDK's
    default would allow the code and implicit grants, every scope and https://example.com)."""
    if not callback_urls:
        return {"disable_o_auth": True}
    return {
        "o_auth": cognito.OAuthSettings(
            flows=cognito.OAuthFlows(authorization_code_grant=True),
            scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
            callback_urls=list(callback_urls),
        )
    }


class EndUsers(Construct):
    """User pool, app client, identity pool and its authenticated role (and the stack outputs of the ids)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: ServiceConfig, api: apigw.RestApi
    ) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=config.name(settings.USER_POOL_SUFFIX),
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),
            sign_in_case_sensitive=False,
            self_sign_up_enabled=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            keep_original=cognito.KeepOriginalAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=settings.PASSWORD_MIN_LENGTH,
                require_uppercase=True,
                require_lowercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(settings.TEMPORARY_PASSWORD_DAYS),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=config.removal_policy == "retain",
            removal_policy=removal_policy(config),
        )
        self.app_client = self.user_pool.add_client(
            "AppClient",
            user_pool_client_name=config.name(settings.APP_CLIENT_SUFFIX),
            generate_secret=False,  # a public client: web and mobile apps cannot keep a secret
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=True),
            **_oauth(config.end_user_oauth_callback_urls),
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=Duration.minutes(settings.ID_TOKEN_MINUTES),
            access_token_validity=Duration.minutes(settings.ID_TOKEN_MINUTES),
            refresh_token_validity=Duration.days(settings.REFRESH_TOKEN_DAYS),
        )
        self.identity_pool = cognito.CfnIdentityPool(
            self,
            "IdentityPool",
            identity_pool_name=config.name(settings.IDENTITY_POOL_SUFFIX).replace("-", "_"),
            allow_unauthenticated_identities=False,
            allow_classic_flow=False,
            cognito_identity_providers=[
                cognito.CfnIdentityPool.CognitoIdentityProviderProperty(
                    client_id=self.app_client.user_pool_client_id,
                    provider_name=self.user_pool.user_pool_provider_name,
                    server_side_token_check=True,  # a signed-out (revoked) user gets no new credentials
                )
            ],
        )
        self.authenticated_role = iam.Role(
            self,
            "AuthenticatedRole",
            role_name=config.name(settings.AUTHENTICATED_ROLE_SUFFIX),
            description="Signed-in end users of the avatar service: invoke its API, nothing else",
            max_session_duration=Duration.hours(1),
            assumed_by=iam.FederatedPrincipal(
                IDENTITY_SERVICE,
                conditions={
                    "StringEquals": {f"{IDENTITY_SERVICE}:aud": self.identity_pool.ref},
                    "ForAnyValue:StringLike": {f"{IDENTITY_SERVICE}:amr": "authenticated"},
                },
                assume_role_action="sts:AssumeRoleWithWebIdentity",
            ),
        )
        resources = sorted(
            {
                api.arn_for_execute_api(route.method, _resource_path(route.path), API_STAGE_NAME)
                for route in ROUTES
            }
        )
        self.authenticated_role.add_to_policy(
            iam.PolicyStatement(actions=["execute-api:Invoke"], resources=resources)
        )
        cognito.CfnIdentityPoolRoleAttachment(
            self,
            "Roles",
            identity_pool_id=self.identity_pool.ref,
            roles={"authenticated": self.authenticated_role.role_arn},  # no unauthenticated role
        )
        self._acknowledge(api)

        outputs = {
            "UserPoolId": (self.user_pool.user_pool_id, "End users' Cognito user pool"),
            "UserPoolClientId": (self.app_client.user_pool_client_id, "Public app client (no secret)"),
            "IdentityPoolId": (self.identity_pool.ref, "Identity pool: end users' API credentials"),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(Stack.of(self), output_id, value=value, description=description)

    def tell(self, functions: Iterable[lambda_.Function]) -> None:
        """Give the API functions this identity pool's id and the end users' role ARN: they accept Cognito
        callers of this pool only, and the role only with a Cognito identity (avatar_api.routers.identity)."""
        for function in functions:
            function.add_environment(Env.IDENTITY_POOL_ID, self.identity_pool.ref)
            function.add_environment(Env.END_USER_ROLE_ARN, self.authenticated_role.role_arn)

    def _acknowledge(self, api: apigw.RestApi) -> None:
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG2",
            "MFA is optional by design (issue 12): end users may turn TOTP on; requiring it would lock out "
            "the apps' users without an authenticator.",
        )
        for rule in ("AwsSolutions-COG3", "AwsSolutions-COG8"):
            acknowledge(
                self.user_pool,
                rule,
                "Threat protection (advanced security) needs the Plus feature plan, a per-user cost the "
                "operator opts into; the pool has a strong password policy and no self sign-up.",
            )
        stack = Stack.of(self)
        api_id = stack.resolve(stack.get_logical_id(api.node.default_child))  # type: ignore[arg-type]
        for route in ROUTES:
            path = _resource_path(route.path)
            if "*" not in path:
                continue
            acknowledge(
                self.authenticated_role,
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
                f"<{api_id}>/{API_STAGE_NAME}/{route.method}{path}]",
                f"{route.method} {route.path} of this API's stage only: its path parameter is an id the "
                "caller names, which the function checks against the caller's own (owner rule).",
            )
