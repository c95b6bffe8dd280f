"""Routes of the `models` function (`router`: DELETE /models/{model_id}) and, on `read_router`, of the
`reads` function: GET /models."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from avatar_api.domain import models
from avatar_api.domain.models import ModelDeletion, ModelList
from avatar_api.observability import count, logger
from avatar_api.routers.common import caller, error_responses, json_response, page_size, page_token
from avatar_api.settings import MODELS_PAGE_DEFAULT, MODELS_PAGE_MAX

router = APIGatewayRouter()
read_router = APIGatewayRouter()


@read_router.get(
    "/models",
    summary="One page of the caller's models (follow next_cursor for the rest)",
    tags=["models"],
    responses=error_responses(),
)
def list_models(
    limit: Annotated[int, page_size(MODELS_PAGE_MAX, "Models")] = MODELS_PAGE_DEFAULT,
    cursor: Annotated[str | None, page_token("next_cursor")] = None,
) -> Response[ModelList]:
    found = models.list_models(*caller(read_router), limit=limit, cursor=cursor)
    count("ModelsListed")
    return json_response(200, found)


@router.delete(
    "/models/<model_id>",
    summary="Erase a model, its training inputs and outputs, and its stored images",
    tags=["models"],
    responses=error_responses(404, 409),
)
def delete_model(model_id: Annotated[str, Path()]) -> Response[ModelDeletion]:
    deletion = models.delete_model(*caller(router), model_id)
    count("ModelDeleted")
    logger.info("model deleted", extra={"model_id": model_id, "deleted_objects": deletion.deleted_objects})
    return json_response(200, deletion)
