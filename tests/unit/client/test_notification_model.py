"""SageMaker's notification: the contract's model (the status consumer's parser) and the client SDK's
stand-alone reader agree on the same bodies."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from avatar_client.notifications import parse_notification
from avatar_contract.notifications import AsyncInferenceNotification
from tests.fixtures.notifications import FAILURE, SUCCESS


@pytest.mark.parametrize("body", [SUCCESS, FAILURE])
def test_the_model_and_the_client_read_the_same_fields(body: dict[str, object]) -> None:
    model = AsyncInferenceNotification.model_validate(body)
    client = parse_notification(body)
    assert client is not None
    assert (model.inference_id, model.status, model.event_time) == (
        client.training_id,
        client.status,
        client.event_time,
    )
    assert model.request_parameters.input_location == client.input_location
    assert model.response_parameters.output_location == client.output_location
    assert model.response_parameters.failure_location == client.failure_location
    assert model.failure_reason == client.failure_reason


@pytest.mark.parametrize(
    "body",
    [
        {**SUCCESS, "invocationStatus": "InProgress"},
        {**SUCCESS, "eventSource": "aws:s3"},
        {**SUCCESS, "inferenceId": ""},
    ],
)
def test_both_refuse_what_is_not_a_result(body: dict[str, object]) -> None:
    assert parse_notification(body) is None
    with pytest.raises(ValidationError):
        AsyncInferenceNotification.model_validate(body)
