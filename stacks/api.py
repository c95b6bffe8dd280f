"""API (docs/design.md §2 steps 1-2 and 7-8): the REST API (IAM auth on every method, request
validation, access logs, throttling, optional WAF) and the Lambda functions behind it (one per
`routes.FUNCTIONS` entry: the read-only routes apart from the heavy submissions), each with a
least-privilege role and its own reserved concurrency.

Resources and methods come from `avatar_contract.routes.ROUTES`, so the gateway, the handlers and the
local cloud's gateway serve the same table. Request models only check what the gateway can check well
(a JSON object body, required path parameters, a Content-Type header); the handlers validate fields and
answer with field-named errors.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from avatar_contract import routes
from avatar_contract.keys import GENERATIONS_PREFIX
from avatar_contract.names import Prefix
from stacks.config import API_STAGE_NAME, FUNCTION_TIMEOUT_SECONDS, ServiceConfig
from stacks.config_lambda_env import api_environment
from stacks.grants import grant_objects
from stacks.hosting_endpoint import HostingEndpoint
from stacks.lambda_code import OPERATOR_PACKS_ASSET_FILE, RUNTIME, api_code
from stacks.log_groups import encrypted_log_group
from stacks.moderation import ContentModeration
from stacks.nag import acknowledge, acknowledge_object_prefixes
from stacks.owner_key import grant_read_owner_key
from stacks.queue_consumer import acknowledge_pinned_runtime, lambda_architecture
from stacks.service_principals import bind_trust, trusted_service
from stacks.service_refs import ServiceRefs
from stacks.storage import StorageRefs, nag_bucket_name
from stacks.training_endpoint import TrainingEndpoint

# API Gateway's integration timeout is 29 s, so no function needs longer.
# The trainings function decodes and repackages up to 20 selfies (inline or from presigned uploads).
FUNCTION_MEMORY_MB = {
    routes.TRAININGS.name: 2048,
    routes.READS.name: 512,
    routes.MODELS.name: 512,
    routes.GENERATIONS.name: 1024,
}


# Training records: trainings/<owner>/<training id>/training.json (avatar_contract.keys).
TRAINING_RECORDS = f"{Prefix.TRAININGS}*/training.json"

# The access log records every standard field API Gateway offers (apigw.JsonWithStandardFieldProps).
ACCESS_LOG_FIELDS = (
    "caller",
    "http_method",
    "ip",
    "protocol",
    "request_time",
    "resource_path",
    "response_length",
    "status",
    "user",
)


class Api(Construct):
    """Lambda functions (one per `routes.FUNCTIONS` entry) behind an IAM-authorized REST API."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        refs: ServiceRefs,
        *,
        training: TrainingEndpoint,
        hosting: HostingEndpoint,
    ) -> None:
        config, storage, owner_key, state = refs.config, refs.storage, refs.owner_key, refs.state
        super().__init__(scope, construct_id)
        architecture = lambda_architecture(config)
        code = api_code(architecture, config.operator_packs_file)
        self.moderation = ContentModeration(self, "Moderation", config=config)
        environment = api_environment(
            config,
            refs.lambda_resources(
                training_endpoint=training.endpoint_name,
                hosting_endpoint=hosting.endpoint_name,
                operator_packs=OPERATOR_PACKS_ASSET_FILE if config.operator_packs_file else "",
            ),
        )
        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, iam.Role] = {}
        for function in routes.FUNCTIONS:
            name = config.function_name(function.name)
            log_group = encrypted_log_group(
                self, f"{function.name.title()}Logs", config, log_group_name=f"/aws/lambda/{name}"
            )
            # Own role, not AWSLambdaBasicExecutionRole (logs on every group): this log group only.
            role = iam.Role(
                self,
                f"{function.name.title()}Role",
                assumed_by=trusted_service(self, "lambda.amazonaws.com", "lambda"),
                description=f"Avatar service API function {name}",
            )
            log_group.grant_write(role)
            # Every route derives the caller's owner id from this key (avatar_api.adapters.owner_ids).
            grant_read_owner_key(role, owner_key.secret_arn, storage.data_key)
            self.roles[function.name] = role
            self.functions[function.name] = lambda_.Function(
                self,
                f"{function.name.title()}Function",
                function_name=name,
                role=role,
                description=f"Avatar service API: {function.name}",
                runtime=RUNTIME,
                architecture=architecture,
                handler=function.handler,
                code=code,  # Powertools and every other dependency bundled (stacks/lambda_code.py)
                environment=environment,
                memory_size=FUNCTION_MEMORY_MB[function.name],
                ephemeral_storage_size=Size.mebibytes(1024),
                timeout=Duration.seconds(FUNCTION_TIMEOUT_SECONDS),
                # One route cannot take the account's whole concurrency from the others (None: unreserved).
                reserved_concurrent_executions=config.reserved_concurrency(function.name),
                tracing=lambda_.Tracing.ACTIVE,
                log_group=log_group,
            )
        self._grant(config, storage, training, hosting)
        state.grant_api(self.functions)
        # The trainings function screens selfies (inputs) and, replaying a submission, its previews
        # (outputs); the reads function screens previews in GET /trainings/{id}.
        self.moderation.grant(self.functions[routes.TRAININGS.name], image_stages=("inputs", "outputs"))
        self.moderation.grant(self.functions[routes.READS.name], image_stages=("outputs",), prompts=False)
        self.moderation.grant(self.functions[routes.GENERATIONS.name], image_stages=("outputs",))
        self.rest_api = self._rest_api(config)
        if config.enable_waf:
            self._waf(config)
        else:
            acknowledge(
                self.rest_api,
                "AwsSolutions-APIG3",
                "WAF is switched off by context enableWaf=false; every method still requires SigV4 and the "
                "stage is throttled.",
            )
        for lambda_function in self.functions.values():
            acknowledge_pinned_runtime(lambda_function)

    # --- permissions -------------------------------------------------------------------------------

    def _grant(
        self,
        config: ServiceConfig,
        storage: StorageRefs,
        training: TrainingEndpoint,
        hosting: HostingEndpoint,
    ) -> None:
        data, data_key = storage.data_bucket, storage.data_key
        hosting_bucket, hosting_key = storage.hosting_bucket, storage.hosting_key

        trainings = self.functions[routes.TRAININGS.name]
        # Package the input (tagged for retention) and write the record; read and remove uploads once a
        # training took them; read SageMaker's async outputs to report a replayed training's result.
        # Delete: a failed submission rolls back what it wrote (nothing half-written).
        grant_objects(trainings, data, data_key, [Prefix.TRAININGS], read=True, write=True, delete=True)
        grant_objects(trainings, data, data_key, [Prefix.UPLOADS], read=True, delete=True)
        grant_objects(trainings, data, data_key, [Prefix.ASYNC_OUTPUTS, Prefix.ASYNC_FAILURES], read=True)
        training.grant_invoke_async(trainings)

        reads = self.functions[routes.READS.name]
        # A training's status (record, progress, SageMaker's async outputs, the published model) and the
        # model list; presigned upload URLs (signed with this role, so it may put uploads).
        grant_objects(
            reads,
            data,
            data_key,
            [Prefix.TRAININGS, Prefix.ASYNC_OUTPUTS, Prefix.ASYNC_FAILURES],
            read=True,
        )
        grant_objects(reads, data, data_key, [Prefix.UPLOADS], write=True)
        grant_objects(reads, hosting_bucket, hosting_key, [Prefix.MODELS], read=True)
        # GET /trainings/{id} keeps its preview verdicts in the training record (a conditional overwrite
        # of that one object; nothing else under the training's prefix).
        grant_objects(reads, data, data_key, [TRAINING_RECORDS], write=True)

        models = self.functions[routes.MODELS.name]
        # List and erase a caller's models with their training inputs, outputs and generated images.
        grant_objects(models, hosting_bucket, hosting_key, [Prefix.MODELS], read=True, delete=True)
        erasable = [
            Prefix.TRAININGS,
            Prefix.UPLOADS,
            Prefix.ASYNC_OUTPUTS,
            Prefix.ASYNC_FAILURES,
            GENERATIONS_PREFIX,
        ]
        grant_objects(models, data, data_key, erasable, read=True, delete=True)

        generations = self.functions[routes.GENERATIONS.name]
        # Is the model there (404) or still training (409)? Invoke the endpoint; store images too large to
        # return inline and presign them.
        grant_objects(generations, hosting_bucket, hosting_key, [Prefix.MODELS], read=True)
        grant_objects(generations, data, data_key, [Prefix.TRAININGS], read=True)
        grant_objects(generations, data, data_key, [GENERATIONS_PREFIX], read=True, write=True)
        hosting.grant_invoke(generations)

        data_name, hosting_name = nag_bucket_name(config, "data"), nag_bucket_name(config, "hosting")
        # Why each function's role may reach objects under a prefix wildcard, per bucket.
        prefix_reasons = [
            (
                routes.TRAININGS,
                data_name,
                {
                    Prefix.TRAININGS: "write and read the input archive and record; "
                    "roll back failed submissions",
                    Prefix.UPLOADS: "read the uploaded selfies, remove them once a training took them.",
                    Prefix.ASYNC_OUTPUTS: "read SageMaker's async result of a training.",
                    Prefix.ASYNC_FAILURES: "read SageMaker's async failure of a training.",
                },
            ),
            (
                routes.READS,
                data_name,
                {
                    Prefix.TRAININGS: "read the caller's training records, progress and previews.",
                    Prefix.UPLOADS: "presigned selfie uploads (URLs signed by this role).",
                    Prefix.ASYNC_OUTPUTS: "read SageMaker's async result of a training.",
                    Prefix.ASYNC_FAILURES: "read SageMaker's async failure of a training.",
                    TRAINING_RECORDS: "store the preview moderation verdicts in the caller's "
                    "training record.",
                },
            ),
            (routes.READS, hosting_name, {Prefix.MODELS: "is a training's model published (its status)."}),
            (
                routes.MODELS,
                data_name,
                {
                    prefix: "erase a deleted model's training inputs, records, outputs and images."
                    for prefix in erasable
                },
            ),
            (routes.MODELS, hosting_name, {Prefix.MODELS: "list and delete the caller's models."}),
            (
                routes.GENERATIONS,
                data_name,
                {
                    Prefix.TRAININGS: "read the training record (409 while a model is still training).",
                    GENERATIONS_PREFIX: "store images too large to return inline, then presign them.",
                },
            ),
            (
                routes.GENERATIONS,
                hosting_name,
                {Prefix.MODELS: "check the model exists (404) before invoking."},
            ),
        ]
        for function, bucket_name, prefixes in prefix_reasons:
            acknowledge_object_prefixes(self.roles[function.name], bucket_name, prefixes)
        for role in self.roles.values():
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
            )

    # --- REST API ----------------------------------------------------------------------------------

    def _rest_api(self, config: ServiceConfig) -> apigw.RestApi:
        access_logs = encrypted_log_group(self, "AccessLogs", config)
        api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=config.api_name,
            description="Personalized Avatar Service (every method requires AWS IAM / SigV4)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigw.StageOptions(
                stage_name=API_STAGE_NAME,
                throttling_rate_limit=config.api_throttling_rate_limit,
                throttling_burst_limit=config.api_throttling_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    **dict.fromkeys(ACCESS_LOG_FIELDS, True)
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
            ),
            default_method_options=apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
        )
        acknowledge(
            api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level CloudWatch role needs exactly AWS's push-to-logs policy.",
        )
        cloud_watch_role = api.node.find_child("CloudWatchRole")
        assert isinstance(cloud_watch_role, iam.Role)
        bind_trust(cloud_watch_role, "apigateway")  # API Gateway writes this account's logs only
        acknowledge(
            api,
            "AwsSolutions-COG4",
            "Callers are IAM principals (SigV4, docs/design.md §4): every method uses AWS_IAM authorization.",
        )
        self._gateway_responses(api)

        body_validator = api.add_request_validator(
            "BodyAndParameters", validate_request_body=True, validate_request_parameters=True
        )
        parameter_validator = api.add_request_validator("Parameters", validate_request_parameters=True)
        json_object = api.add_model(
            "JsonObject",
            content_type="application/json",
            model_name="JsonObject",
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4,
                title="JsonObject",
                type=apigw.JsonSchemaType.OBJECT,
                description="A JSON object; the function validates its fields.",
            ),
        )
        integrations = {name: apigw.LambdaIntegration(fn) for name, fn in self.functions.items()}
        for route in routes.ROUTES:
            resource = api.root.resource_for_path(route.path)
            parameters = {
                f"method.request.path.{part[1:-1]}": True
                for part in route.path.split("/")
                if part.startswith("{")
            }
            has_body = route.method in {"POST", "PUT", "PATCH"}
            if has_body:
                parameters["method.request.header.Content-Type"] = True
            resource.add_method(
                route.method,
                integrations[route.function.name],
                authorization_type=apigw.AuthorizationType.IAM,
                request_parameters=parameters,
                request_validator=body_validator if has_body else parameter_validator,
                request_models={"application/json": json_object} if has_body else None,
            )
        return api

    @staticmethod
    def _gateway_responses(api: apigw.RestApi) -> None:
        """Errors the gateway itself answers use the API's `{"error": {"code", "message"}}` shape."""
        json_headers = {"Content-Type": "'application/json'"}
        # Request validation failures name the offending field; other errors keep the gateway's message.
        invalid_request = (
            '{"error": {"code": "invalid_request", "message": '
            '"$util.escapeJavaScript($context.error.validationErrorString)"}}'
        )
        gateway_error = (
            '{"error": {"code": "$context.error.responseType", "message": $context.error.messageString}}'
        )
        for response_id, response_type, template in (
            ("BadRequestBody", apigw.ResponseType.BAD_REQUEST_BODY, invalid_request),
            ("BadRequestParameters", apigw.ResponseType.BAD_REQUEST_PARAMETERS, invalid_request),
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX, gateway_error),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX, gateway_error),
        ):
            api.add_gateway_response(
                response_id,
                type=response_type,
                response_headers=json_headers,
                templates={"application/json": template},
            )

    def _waf(self, config: ServiceConfig) -> wafv2.CfnWebACL:
        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
            )

        def managed(
            priority: int, name: str, overrides: tuple[str, ...] = ()
        ) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=name,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in overrides
                        ]
                        or None,
                    )
                ),
                visibility_config=visibility(name),
            )

        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=config.name("api"),
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility(config.name("api")),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="RateLimitPerIp",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=config.waf_rate_limit, aggregate_key_type="IP"
                        )
                    ),
                    visibility_config=visibility("RateLimitPerIp"),
                ),
                # Inline selfies make bodies of several MB: the common rule set's 8 KB body-size rule
                # would block every training request, so it only counts.
                managed(1, "AWSManagedRulesCommonRuleSet", ("SizeRestrictions_BODY",)),
                managed(2, "AWSManagedRulesKnownBadInputsRuleSet"),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.rest_api.deployment_stage.stage_arn,
            web_acl_arn=acl.attr_arn,
        )
        return acl

    @property
    def url(self) -> str:
        return self.rest_api.url
