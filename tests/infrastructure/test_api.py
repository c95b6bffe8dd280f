"""Points 1-2: the REST API (IAM on every method, validation, access logs, throttling, WAF) and the
Lambda functions behind it (runtime, no layer, environment, tracing, least privilege)."""

from __future__ import annotations

import json
from typing import Any

from avatar_contract import routes
from avatar_contract.names import Env
from tests.infrastructure.helpers import granted, of_type, one, statements, text


def test_every_route_has_an_iam_authorized_method(service: dict[str, Any]) -> None:
    methods = [v["Properties"] for v in of_type(service, "AWS::ApiGateway::Method").values()]
    assert len(methods) == len(routes.ROUTES)
    assert {m["HttpMethod"] for m in methods} == {r.method for r in routes.ROUTES}
    for method in methods:
        assert method["AuthorizationType"] == "AWS_IAM"
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert "RequestValidatorId" in method


def test_resources_mirror_the_route_table(service: dict[str, Any]) -> None:
    parts = {v["Properties"]["PathPart"] for v in of_type(service, "AWS::ApiGateway::Resource").values()}
    expected = {part for r in routes.ROUTES for part in r.path.strip("/").split("/")}
    assert parts == expected


def test_request_validation_of_bodies_and_parameters(service: dict[str, Any]) -> None:
    validators = [v["Properties"] for v in of_type(service, "AWS::ApiGateway::RequestValidator").values()]
    assert any(v["ValidateRequestBody"] and v["ValidateRequestParameters"] for v in validators)
    model = one(service, "AWS::ApiGateway::Model")
    assert model["ContentType"] == "application/json"
    assert model["Schema"]["type"] == "object"
    for method in (v["Properties"] for v in of_type(service, "AWS::ApiGateway::Method").values()):
        params = method.get("RequestParameters", {})
        if method["HttpMethod"] == "POST":
            assert "application/json" in method["RequestModels"]
            assert params["method.request.header.Content-Type"] is True
        for key in params:
            assert params[key] is True
    path_params = {
        k
        for m in (v["Properties"] for v in of_type(service, "AWS::ApiGateway::Method").values())
        for k in m.get("RequestParameters", {})
        if k.startswith("method.request.path.")
    }
    assert path_params == {
        "method.request.path.training_id",
        "method.request.path.model_id",
        "method.request.path.job_id",  # pack jobs (docs/packs.md)
    }


def test_gateway_errors_use_the_api_error_shape(service: dict[str, Any]) -> None:
    responses = {
        v["Properties"]["ResponseType"]: v["Properties"]
        for v in of_type(service, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert {"BAD_REQUEST_BODY", "BAD_REQUEST_PARAMETERS", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    assert '"error"' in responses["BAD_REQUEST_BODY"]["ResponseTemplates"]["application/json"]


def test_stage_logs_traces_and_throttles(service: dict[str, Any]) -> None:
    stage = one(service, "AWS::ApiGateway::Stage")
    assert stage["StageName"] == "v1"
    assert "DestinationArn" in stage["AccessLogSetting"]
    assert stage["TracingEnabled"] is True
    [settings] = stage["MethodSettings"]
    assert settings["LoggingLevel"] == "ERROR"
    assert settings["ThrottlingRateLimit"] == 50
    assert settings["ThrottlingBurstLimit"] == 100
    assert settings["DataTraceEnabled"] is False


def test_waf_protects_the_stage(service: dict[str, Any]) -> None:
    acl = one(service, "AWS::WAFv2::WebACL")
    assert acl["Scope"] == "REGIONAL"
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    assert rules["RateLimitPerIp"]["Statement"]["RateBasedStatement"]["Limit"] == 1000
    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert common["RuleActionOverrides"] == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    association = one(service, "AWS::WAFv2::WebACLAssociation")
    assert "stages/" in text(association["ResourceArn"])


def test_functions_runtime_layer_environment_tracing(service: dict[str, Any]) -> None:
    functions = {
        v["Properties"]["FunctionName"]: v["Properties"]
        for v in of_type(service, "AWS::Lambda::Function").values()
    }
    others = {"avatar-status-events", "avatar-model-publisher", "avatar-pack-runner"}  # not behind the API
    assert set(functions) - others == {f"avatar-{f.name}" for f in routes.FUNCTIONS}
    for function in routes.FUNCTIONS:
        props = functions[f"avatar-{function.name}"]
        assert props["Handler"] == function.handler
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Timeout"] == 29
        assert "Layers" not in props  # Powertools is bundled with the code (the tested release)
        env = props["Environment"]["Variables"]
        for name in (Env.DATA_BUCKET, Env.HOSTING_BUCKET, Env.TRAINING_ENDPOINT, Env.HOSTING_ENDPOINT):
            assert name in env
        assert env[Env.TRAINING_ENDPOINT] == "avatar-training"
        assert env[Env.HOSTING_ENDPOINT] == "avatar-hosting"
        assert env["POWERTOOLS_SERVICE_NAME"] == "avatar-api"
        # The cost bounds are computed for the configured instance types (docs/limits.md).
        assert env[Env.TRAINING_INSTANCE_TYPE] == "ml.g5.2xlarge"
        assert env[Env.HOSTING_INSTANCE_TYPE] == "ml.g5.xlarge"
        # X-Ray records no responses (presigned URLs, images) and no error texts.
        assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == env["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"


def test_trainings_function_privileges(service: dict[str, Any]) -> None:
    stmts = statements(service, "ApiTrainingsRole")
    assert any("endpoint/avatar-training" in r for r in granted(stmts, "sagemaker:InvokeEndpointAsync"))
    assert not granted(stmts, "sagemaker:InvokeEndpoint")
    writes = " ".join(granted(stmts, "s3:PutObject"))
    # Upload URLs are signed by the reads function now: the trainings function only reads and removes them.
    assert "/trainings/*" in writes and "/uploads/*" not in writes and "/idempotency/" not in writes
    assert "/async-outputs/*" not in writes and "avatar-hosting" not in writes
    assert "avatar-hosting" not in " ".join(granted(stmts, "s3:GetObject"))
    deletes = " ".join(granted(stmts, "s3:DeleteObject"))  # rollback of a failed submission, used uploads
    assert "/trainings/*" in deletes and "/uploads/*" in deletes and "/async-outputs/*" not in deletes


def test_reads_function_privileges(service: dict[str, Any]) -> None:
    """Issue 21 M3: status, lists, the webhook secret and upload slots, apart from the submissions."""
    functions = {
        v["Properties"]["FunctionName"]: v["Properties"]
        for v in of_type(service, "AWS::Lambda::Function").values()
    }
    assert functions["avatar-reads"]["MemorySize"] == 512
    stmts = statements(service, "ApiReadsRole")
    reads = " ".join(granted(stmts, "s3:GetObject"))
    for prefix in ("/trainings/*", "/async-outputs/*", "/async-failures/*", "/models/*"):
        assert prefix in reads
    assert "/uploads/*" not in reads
    # presigned upload URLs (signed with this role), and the preview verdicts kept in the training record
    puts = " ".join(granted(stmts, "s3:PutObject"))
    assert "/uploads/*" in puts and "/trainings/*/training.json*" in puts
    assert "/trainings/*" not in puts.replace("/trainings/*/training.json*", "")
    assert "/models/" not in puts and "/async-" not in puts
    assert not granted(stmts, "s3:DeleteObject")
    assert not granted(stmts, "sagemaker:InvokeEndpoint") and not granted(
        stmts, "sagemaker:InvokeEndpointAsync"
    )
    assert not [s for s in stmts if any(a.startswith(("rekognition:", "comprehend:")) for a in actions(s))]
    # GET /trainings/{id} screens previews (Rekognition, issue 21 M2) through its own policy; no prompts
    moderation = [
        a
        for policy in of_type(service, "AWS::IAM::Policy").values()
        if "ApiReadsRole" in json.dumps(policy["Properties"]["Roles"])
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        for a in actions(s)
        if a.startswith(("rekognition:", "comprehend:", "ssm:"))
    ]
    assert moderation == ["rekognition:DetectModerationLabels"]


def actions(statement: dict[str, Any]) -> list[str]:
    found = statement["Action"]
    return found if isinstance(found, list) else [found]


def test_models_function_privileges(service: dict[str, Any]) -> None:
    stmts = statements(service, "ApiModelsRole")
    deletes = " ".join(granted(stmts, "s3:DeleteObject"))
    for prefix in ("/models/*", "/trainings/*", "/async-outputs/*", "/generations/*", "/uploads/*"):
        assert prefix in deletes
    assert not granted(stmts, "s3:PutObject")
    assert not granted(stmts, "sagemaker:InvokeEndpoint") and not granted(
        stmts, "sagemaker:InvokeEndpointAsync"
    )


def test_generations_function_privileges(service: dict[str, Any]) -> None:
    stmts = statements(service, "ApiGenerationsRole")
    assert any("endpoint/avatar-hosting" in r for r in granted(stmts, "sagemaker:InvokeEndpoint"))
    assert not granted(stmts, "sagemaker:InvokeEndpointAsync")
    assert "/models/*" in " ".join(granted(stmts, "s3:GetObject"))
    assert all("/generations/*" in r for r in granted(stmts, "s3:PutObject"))
    # Only a pack submission that rolls back removes what it wrote (stacks/pack_runner.py).
    assert all(r.endswith('/generations/*/*/packs/*"]]}') for r in granted(stmts, "s3:DeleteObject"))


def test_bucket_listing_is_limited_to_the_granted_prefixes(service: dict[str, Any]) -> None:
    for logical_id, policy in of_type(service, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "s3:ListBucket" in actions:
                assert "s3:prefix" in text(statement.get("Condition")), logical_id
            assert not any(a.startswith("s3:") and a.endswith("*") for a in actions), (logical_id, actions)


def test_functions_write_only_their_own_log_group(service: dict[str, Any]) -> None:
    for name in ("Trainings", "Reads", "Models", "Generations"):
        role = one(service, "AWS::IAM::Role", f"Api{name}Role")
        assert "ManagedPolicyArns" not in role  # no AWSLambdaBasicExecutionRole (logs on every group)
        logs = granted(statements(service, f"Api{name}Role"), "logs:PutLogEvents")
        assert logs == [
            text(
                {
                    "Fn::GetAtt": [
                        next(k for k in service["Resources"] if k.startswith(f"Api{name}Logs")),
                        "Arn",
                    ]
                }
            )
        ]
