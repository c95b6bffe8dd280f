"""The route table, the per-function handlers and the committed OpenAPI document agree."""

from __future__ import annotations

import importlib
import json
import re

import pytest

from avatar_api.app import app
from avatar_api.openapi import DEFAULT_PATH, openapi_document
from avatar_contract.routes import FUNCTIONS, ROUTES
from tests.integration.api.support import LambdaContext, rest_event


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

    response = generations.lambda_handler(rest_event("GET", "/models", resource="/models"), LambdaContext())
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
