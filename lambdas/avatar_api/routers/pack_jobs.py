"""Routes of pack jobs (docs/packs.md): on `router` (the `generations` function) POST
/models/{model_id}/packs and POST …/packs/{job_id}/cancel; on `read_router` (the `reads` function) GET
/models/{model_id}/packs and GET …/packs/{job_id}."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from avatar_api.domain import pack_jobs
from avatar_api.observability import count, logger
from avatar_api.routers.common import (
    caller,
    error_responses,
    json_response,
    page_size,
    page_token,
    remaining_seconds,
)
from avatar_api.routers.schemas import IDEMPOTENCY_KEY_PATTERN, PackJobBody
from avatar_api.settings import PACK_JOBS_PAGE_DEFAULT, PACK_JOBS_PAGE_MAX
from avatar_contract.names import API_TIMEOUT_SECONDS
from avatar_contract.pack_jobs import PackJob, PackJobList

router = APIGatewayRouter()
read_router = APIGatewayRouter()


@router.post(
    "/models/<model_id>/packs",
    summary="Render a pack (or inline prompts) with the model in the background; 202 with the job",
    tags=["packs"],
    responses={202: {"description": "Job queued"}, **error_responses(404, 409, 422, 429, 503)},
)
def start_pack(
    model_id: Annotated[str, Path()],
    body: Annotated[PackJobBody, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Same key, same owner, same request: the same job is returned and nothing new starts",
        ),
    ] = None,
) -> Response[PackJob]:
    services, owner = caller(router)
    attempt = remaining_seconds(router, default=API_TIMEOUT_SECONDS)  # the in-progress expiry
    job = pack_jobs.start_pack(services, owner, model_id, body, idempotency_key, attempt_seconds=attempt)
    count("PackJobReplayed" if job.replayed else "PackJobStarted")
    logger.info("pack job accepted", extra={"job_id": job.job_id, "replayed": job.replayed})
    return json_response(202, job, headers={"Location": f"/models/{model_id}/packs/{job.job_id}"})


@router.post(
    "/models/<model_id>/packs/<job_id>/cancel",
    summary="Cancel a pack job: its pending images are not rendered (409 job_finished once all finished)",
    tags=["packs"],
    responses=error_responses(404, 409),
)
def cancel_pack(model_id: Annotated[str, Path()], job_id: Annotated[str, Path()]) -> Response[PackJob]:
    job = pack_jobs.cancel_job(*caller(router), model_id, job_id)
    count("PackJobCancelled")
    return json_response(200, job)


@read_router.get(
    "/models/<model_id>/packs",
    summary="One page of the caller's pack jobs of the model, newest first (follow next_token)",
    tags=["packs"],
    responses=error_responses(404),
)
def list_packs_of_model(
    model_id: Annotated[str, Path()],
    limit: Annotated[int, page_size(PACK_JOBS_PAGE_MAX, "Jobs")] = PACK_JOBS_PAGE_DEFAULT,
    next_token: Annotated[str | None, page_token("next_token")] = None,
) -> Response[PackJobList]:
    found = pack_jobs.list_jobs(*caller(read_router), model_id, limit=limit, next_token=next_token)
    count("PackJobsListed")
    return json_response(200, found)


@read_router.get(
    "/models/<model_id>/packs/<job_id>",
    summary="A pack job with each image's status and presigned URLs of the delivered ones",
    tags=["packs"],
    responses=error_responses(404),
)
def get_pack(model_id: Annotated[str, Path()], job_id: Annotated[str, Path()]) -> Response[PackJob]:
    job = pack_jobs.get_job(*caller(read_router), model_id, job_id)
    count("PackJobRead")
    return json_response(200, job)
