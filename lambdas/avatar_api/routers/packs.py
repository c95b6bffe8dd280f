"""Routes of the `reads` function about packs (`read_router`): GET /packs."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from avatar_api.domain import packs
from avatar_api.domain.packs import PackList
from avatar_api.observability import count
from avatar_api.routers.common import error_responses, json_response
from avatar_api.routers.identity import principal_of

read_router = APIGatewayRouter()


@read_router.get(
    "/packs",
    summary="The avatar packs on offer: themed prompts with their settings (docs/packs.md)",
    tags=["packs"],
    responses=error_responses(),
)
def list_packs() -> Response[PackList]:
    principal_of(read_router.current_event.raw_event.get("requestContext"))  # 403 when unsigned
    found = packs.list_packs()
    count("PacksListed")
    return json_response(200, found)
