"""Route of the `generations` function: POST /models/{model_id}/generations (steps 7-8)."""

import time
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from avatar_api.domain import generations
from avatar_api.domain.generations import Generation
from avatar_api.observability import count
from avatar_api.routers.common import caller, error_responses, json_response, remaining_seconds
from avatar_api.routers.schemas import GenerationRequest
from avatar_api.settings import GENERATION_BUDGET_SECONDS

router = APIGatewayRouter()
# Keep this much of the Lambda's remaining time for writing the response.
RESPONSE_MARGIN_SECONDS = 2.0


def _time_budget() -> float:
    remaining = remaining_seconds(router, default=GENERATION_BUDGET_SECONDS + RESPONSE_MARGIN_SECONDS)
    return min(GENERATION_BUDGET_SECONDS, remaining - RESPONSE_MARGIN_SECONDS)


@router.post(
    "/models/<model_id>/generations",
    summary="Generate images of the person with their model",
    tags=["generations"],
    responses=error_responses(404, 409, 422, 429, 502, 503),
)
def create_generation(
    model_id: Annotated[str, Path()], body: Annotated[GenerationRequest, Body()]
) -> Response[Generation]:
    result = generations.generate(
        *caller(router),
        model_id,
        body.prompt,
        body.negative_prompt,
        body.gen_args(),
        deadline=time.monotonic() + _time_budget(),
    )
    count("GenerationSucceeded")
    return json_response(200, result)
