"""The route table, the per-function handlers and the committed OpenAPI document agree."""

from __future__ import annotations

import importlib
import io
import json
import re

import pytest

from avatar_api.app import app
from avatar_api.lambda_context import LocalContext
from avatar_api.openapi import DEFAULT_PATH, openapi_document
from avatar_contract.routes import FUNCTIONS, ROUTES
from tests.fixtures.api import rest_event


def _registered(resolver) -> set[tuple[str, str]]:
    found = set()
    for route in resolver._static_routes + resolver._dynamic_routes:
        path = re.sub(r"<(\w+)>", r"{\1}", route.path)
        found.add((route.method, path))
    return found


def test_app_serves_exactly_the_contract_routes() -> None:
    assert _registered(app) == {(route.method, route.path) for route in ROUTES}


@pytest.mark.parametrize("function", FUNCTIONS, ids=[f.name for f in FUNCTIONS])
def test_each_handler_serves_only_its_routes(function) -> None:
    module = importlib.import_module(function.handler.rsplit(".", 1)[0])
    assert callable(module.lambda_handler)
    expected = {(r.method, r.path) for r in ROUTES if r.function == function}
    assert _registered(module.app) == expected


def test_a_route_of_another_function_is_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    from avatar_api.handlers import generations

    response = generations.lambda_handler(rest_event("GET", "/models", resource="/models"), LocalContext())
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["error"]["code"] == "not_found"


def test_committed_openapi_document_is_current() -> None:
    assert DEFAULT_PATH.read_text() == openapi_document(), (
        "docs/openapi.json is stale: run `PYTHONPATH=lambdas:. .venv/bin/python -m avatar_api.openapi`"
    )


def test_openapi_documents_every_route_and_the_error_shape() -> None:
    document = json.loads(openapi_document())
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert str(route.success_status) in operation["responses"] or route.success_status == 200
        assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }


def test_logs_carry_the_correlation_id_and_each_outcome_is_a_metric(monkeypatch, capsys) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    from avatar_api.handlers import models
    from avatar_api.observability import logger

    log_stream = io.StringIO()
    previous = logger.registered_handler.setStream(log_stream)
    event = rest_event(
        "DELETE",
        "/models/bad",
        resource="/models/{model_id}",
        path_parameters={"model_id": "bad"},
        user_arn=None,
    )
    try:
        response = models.lambda_handler(event)  # no context: outside Lambda (the local cloud)
    finally:
        logger.registered_handler.setStream(previous)

    assert response["statusCode"] == 403
    output = log_stream.getvalue() + capsys.readouterr().out
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    logs = [line for line in lines if line.get("message") == "request failed"]
    assert logs and logs[0]["correlation_id"] == event["requestContext"]["requestId"]
    assert logs[0]["code"] == "forbidden"
    emf = [line for line in lines if "_aws" in line]
    assert [m["Name"] for m in emf[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == ["Forbidden"]


def test_openapi_declares_sigv4_for_every_operation() -> None:
    document = json.loads(openapi_document())
    assert document["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert document["security"] == [{"sigv4": []}]
