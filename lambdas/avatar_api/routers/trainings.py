"""Routes of the `trainings` function (`router`: POST /trainings) and, on `read_router`, of the `reads`
function: POST /uploads, GET /trainings/{training_id}, GET /webhooks/secret."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from avatar_api.domain import screening, status, trainings, uploads, webhooks
from avatar_api.domain.screening import ScreeningReport
from avatar_api.domain.status import TrainingState
from avatar_api.domain.trainings import TrainingAccepted
from avatar_api.domain.uploads import UploadBatch
from avatar_api.domain.webhooks import WebhookSecret
from avatar_api.errors import InvalidRequest
from avatar_api.observability import count, logger
from avatar_api.routers.common import caller, error_responses, json_response, remaining_seconds
from avatar_api.routers.schemas import IDEMPOTENCY_KEY_PATTERN, CreateTrainingRequest, CreateUploadsRequest
from avatar_contract.names import API_TIMEOUT_SECONDS

router = APIGatewayRouter()
read_router = APIGatewayRouter()


@read_router.post(
    "/uploads",
    summary="Presigned S3 POSTs (size- and type-bounded) for selfies too large to send inline",
    tags=["trainings"],
    responses={201: {"description": "Upload slots"}, **error_responses(429)},
)
def create_uploads(body: Annotated[CreateUploadsRequest, Body()]) -> Response[UploadBatch]:
    batch = uploads.create_uploads(*caller(read_router), body.count)
    count("UploadsCreated")
    return json_response(201, batch)


@router.post(
    "/trainings",
    summary="Start a training from 10-20 selfies (or, with dry_run, only screen them)",
    tags=["trainings"],
    responses={
        200: {"description": "dry_run: each image's verdict, reason and crop box; nothing started"},
        202: {"description": "Training queued"},
        **error_responses(409, 413, 422, 429, 502, 503),
    },
)
def create_training(
    body: Annotated[CreateTrainingRequest, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Same key, same owner: the same training is returned and nothing new starts",
        ),
    ] = None,
) -> Response[TrainingAccepted | ScreeningReport]:
    if idempotency_key and body.idempotency_key and idempotency_key != body.idempotency_key:
        raise InvalidRequest("idempotency_key: the body field and the Idempotency-Key header differ")
    sources: list[uploads.ImageSource] = [
        uploads.InlineImage(image.decoded())
        if image.data is not None
        else uploads.UploadedImage(image.upload_id or "", image.index or 0)
        for image in body.images
    ]
    services, owner = caller(router)
    hyperparameters = trainings.family_hyperparameters(services, body.config)
    if body.dry_run:
        report = screening.dry_run(services, owner, sources, hyperparameters)
        count("TrainingDryRun")
        return json_response(200, report)
    request = trainings.NewTraining(
        images=sources,
        hyperparameters=hyperparameters,
        model_name=body.model_name,
        idempotency_key=idempotency_key or body.idempotency_key,
        webhook_url=body.webhook_url,
        attempt_seconds=remaining_seconds(router, default=API_TIMEOUT_SECONDS),
    )
    accepted = trainings.start_training(services, owner, request)
    count("TrainingReplayed" if accepted.replayed else "TrainingStarted")
    logger.info(
        "training accepted", extra={"training_id": accepted.training_id, "replayed": accepted.replayed}
    )
    return json_response(202, accepted, headers={"Location": f"/trainings/{accepted.training_id}"})


@read_router.get(
    "/trainings/<training_id>",
    summary="A training's status: queued, completed or failed (with the reason)",
    tags=["trainings"],
    responses=error_responses(404),
)
def get_training(training_id: Annotated[str, Path()]) -> Response[TrainingState]:
    state = status.get_training(*caller(read_router), training_id)
    count(f"TrainingStatus{state.status.capitalize()}")
    return json_response(200, state)


@read_router.get(
    "/webhooks/secret",
    summary="Your webhook signing secret (the same for all your trainings; docs/events.md, Webhooks)",
    tags=["trainings"],
    responses=error_responses(),
)
def get_webhook_secret() -> Response[WebhookSecret]:
    return json_response(200, webhooks.secret_of(*caller(read_router)), headers={"Cache-Control": "no-store"})


@router.post(
    "/webhooks/secret/rotate",
    summary="A new webhook signing secret; the old one still signs for 24 h (docs/events.md)",
    tags=["trainings"],
    responses=error_responses(409),
)
def rotate_webhook_secret() -> Response[WebhookSecret]:
    rotated = webhooks.rotate_secret(*caller(router))
    count("WebhookSecretRotated")
    return json_response(200, rotated, headers={"Cache-Control": "no-store"})
