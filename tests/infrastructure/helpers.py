"""Small readers over synthesized CloudFormation templates (plain dicts)."""

from __future__ import annotations

import json
from typing import Any

from avatar_contract import routes


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def api_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The API's functions (not the queue consumers), their properties by function name."""
    handlers = {function.handler for function in routes.FUNCTIONS}
    return {
        v["Properties"]["FunctionName"]: v["Properties"]
        for v in of_type(template, "AWS::Lambda::Function").values()
        if v["Properties"]["Handler"] in handlers
    }


def one(template: dict[str, Any], resource_type: str, logical_prefix: str = "") -> dict[str, Any]:
    matches = [v for k, v in of_type(template, resource_type).items() if k.startswith(logical_prefix)]
    assert len(matches) == 1, f"expected one {resource_type} {logical_prefix!r}, found {len(matches)}"
    return matches[0]["Properties"]


def text(value: Any) -> str:
    """A CloudFormation value flattened to text (for substring checks on Fn::Join / Fn::Sub)."""
    return json.dumps(value)


def statements(template: dict[str, Any], logical_prefix: str) -> list[dict[str, Any]]:
    """Every IAM statement of the policies whose logical id starts with `logical_prefix`."""
    found = []
    for logical_id, resource in of_type(template, "AWS::IAM::Policy").items():
        if logical_id.startswith(logical_prefix):
            found += resource["Properties"]["PolicyDocument"]["Statement"]
    assert found, f"no IAM policy {logical_prefix!r}"
    return found


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def granted(stmts: list[dict[str, Any]], action: str) -> list[str]:
    """Resources (as text) that `action` is allowed on."""
    return [text(s["Resource"]) for s in stmts if s["Effect"] == "Allow" and action in actions_of(s)]
