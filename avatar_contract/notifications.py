"""SageMaker asynchronous-inference notifications (docs/design.md §4, "Training output and status").

The one model of the body SageMaker publishes to the success/error topics (raw delivery puts it into SQS
unchanged). The status consumer parses it with the Powertools parser; the client SDK returns it from
`parse_notification` (client/avatar_client/notifications.py, which only unwraps SNS's envelope).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RequestParameters(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    input_location: str | None = Field(None, alias="inputLocation")
    endpoint_name: str | None = Field(None, alias="endpointName")


class ResponseParameters(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    output_location: str | None = Field(None, alias="outputLocation")
    failure_location: str | None = Field(None, alias="failureLocation")


class AsyncInferenceNotification(BaseModel):
    """`invocationStatus`, `inferenceId` (= the training id), where the input and outcome are."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    invocation_status: Literal["Completed", "Failed"] = Field(alias="invocationStatus")
    inference_id: str = Field(alias="inferenceId", min_length=1)
    event_source: Literal["aws:sagemaker"] = Field("aws:sagemaker", alias="eventSource")
    event_time: str | None = Field(None, alias="eventTime")
    failure_reason: str | None = Field(None, alias="failureReason")
    request_parameters: RequestParameters = Field(
        default_factory=RequestParameters, alias="requestParameters"
    )
    response_parameters: ResponseParameters = Field(
        default_factory=ResponseParameters, alias="responseParameters"
    )

    @property
    def status(self) -> Literal["completed", "failed"]:
        return "completed" if self.invocation_status == "Completed" else "failed"
