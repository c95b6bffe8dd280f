"""SageMaker asynchronous inference notifications, as they reach the status SQS queue.

The queue is subscribed to the success and error SNS topics; a message body is either SNS's envelope
(`{"Type": "Notification", "Message": "<json>"}`) or, with raw message delivery, SageMaker's JSON itself:
`invocationStatus` (Completed | Failed), `inferenceId` (= our training id),
`requestParameters.inputLocation`, `responseParameters.outputLocation` / `failureLocation`,
`failureReason`, `eventTime`, `eventSource` `aws:sagemaker`, `eventName` `InferenceResult`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrainingNotification:
    training_id: str
    status: str  # completed | failed
    input_location: str | None
    output_location: str | None
    failure_location: str | None
    failure_reason: str | None
    event_time: str | None


def parse_notification(body: str | bytes | dict[str, Any]) -> TrainingNotification | None:
    """The notification in an SQS message body, or None if the message is not one."""
    try:
        document = json.loads(body) if isinstance(body, str | bytes) else body
        if isinstance(document, dict) and document.get("Type") == "Notification" and "Message" in document:
            document = json.loads(document["Message"])
    except (ValueError, TypeError):
        return None
    if not isinstance(document, dict) or document.get("eventSource", "aws:sagemaker") != "aws:sagemaker":
        return None
    status = document.get("invocationStatus")
    inference_id = document.get("inferenceId")
    if status not in ("Completed", "Failed") or not inference_id:
        return None
    request = document.get("requestParameters") or {}
    response = document.get("responseParameters") or {}
    return TrainingNotification(
        training_id=inference_id,
        status="completed" if status == "Completed" else "failed",
        input_location=request.get("inputLocation"),
        output_location=response.get("outputLocation"),
        failure_location=response.get("failureLocation"),
        failure_reason=document.get("failureReason"),
        event_time=document.get("eventTime"),
    )
