"""Who is calling: the owner id derived from the IAM identity API Gateway puts in the request context."""

from __future__ import annotations

from typing import Any

from avatar_api.errors import Forbidden
from avatar_contract.keys import owner_of


def principal_of(request_context: dict[str, Any] | None) -> str:
    """The caller's stable IAM identity: the Cognito identity id when the caller came through an
    identity pool (its role session name changes between sessions), else the caller's ARN."""
    identity = (request_context or {}).get("identity") or {}
    cognito_id = identity.get("cognitoIdentityId")
    if cognito_id:
        return f"cognito:{cognito_id}"
    user_arn = identity.get("userArn")
    if user_arn:
        return user_arn
    raise Forbidden("the request carries no IAM identity; sign it with AWS SigV4")


def owner_from_event(raw_event: dict[str, Any]) -> str:
    return owner_of(principal_of(raw_event.get("requestContext")))
