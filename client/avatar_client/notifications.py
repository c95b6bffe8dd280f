"""SageMaker asynchronous inference notifications, as they reach the status SQS queue.

The queue is subscribed to the success and error SNS topics; a message body is either SNS's envelope
(`{"Type": "Notification", "Message": "<json>"}`) or, with raw message delivery, SageMaker's JSON itself.
The notification is the contract's model (`avatar_contract.notifications.AsyncInferenceNotification`,
the one the status consumer parses); this module only unwraps the envelope.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from avatar_contract.notifications import AsyncInferenceNotification


def parse_notification(body: str | bytes | dict[str, Any]) -> AsyncInferenceNotification | None:
    """The notification in an SQS message body, or None if the message is not one."""
    try:
        document = json.loads(body) if isinstance(body, str | bytes) else body
        if isinstance(document, dict) and document.get("Type") == "Notification" and "Message" in document:
            document = json.loads(document["Message"])
        return AsyncInferenceNotification.model_validate(document)
    except (ValueError, TypeError, ValidationError):
        return None
