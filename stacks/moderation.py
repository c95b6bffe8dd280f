"""Content moderation (docs/moderation.md): the deny list's SSM parameter, the policy the API functions read
from their environment, and exactly the grants moderation needs: comprehend:DetectToxicContent and
rekognition:DetectModerationLabels (neither supports resource-level permissions) and ssm:GetParameter on
the one deny-list parameter."""

from __future__ import annotations

from typing import Literal

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from avatar_contract.moderation import INITIAL_DENY_LIST
from stacks.config import ServiceConfig
from stacks.nag import acknowledge

TEXT_ACTION = "comprehend:DetectToxicContent"
IMAGE_ACTION = "rekognition:DetectModerationLabels"


class ContentModeration(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: ServiceConfig) -> None:
        super().__init__(scope, construct_id)
        self.deny_list = ssm.StringParameter(
            self,
            "DenyList",
            parameter_name=config.moderation_deny_list_parameter_name,
            string_value=INITIAL_DENY_LIST,
            description="Avatar service prompt deny list (docs/moderation.md)",
        )
        # The functions' environment carries this policy (stacks.config_lambda_env.api_environment).
        self._policy = config.moderation_policy(config.moderation_deny_list_parameter_name)

    def grant(
        self,
        function: lambda_.Function,
        *,
        image_stages: tuple[Literal["inputs", "outputs"], ...],
        prompts: bool = True,
    ) -> None:
        """Let `function` moderate prompts (Comprehend + the deny list; unless `prompts` is False) and the
        images of `image_stages` (Rekognition), each only where that stage is enabled."""
        statements = []
        if prompts and self._policy.prompts.enabled:
            statements.append(iam.PolicyStatement(actions=[TEXT_ACTION], resources=["*"]))
            statements.append(
                iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[self.deny_list.parameter_arn])
            )
        if any(getattr(self._policy, stage).enabled for stage in image_stages):
            statements.append(iam.PolicyStatement(actions=[IMAGE_ACTION], resources=["*"]))
        if not statements or function.role is None:
            return
        # "TrainingsFunction" -> "Trainings"; a queue consumer's "Function" -> its construct's id ("Packs").
        scope = function.node.scope
        name = function.node.id.removesuffix("Function") or (scope.node.id if scope else "Consumer")
        policy = iam.Policy(self, f"{name}Moderation", statements=statements, roles=[function.role])
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            f"{TEXT_ACTION} and {IMAGE_ACTION} support no resource-level permissions (the IAM service "
            "authorization reference lists no resource type for them); the actions are exactly these.",
        )
