"""Lambda entry points, one per function of `avatar_contract.routes` (each serves only its routes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.batch import BatchProcessor, process_partial_response

from avatar_api.lambda_context import LocalContext
from avatar_api.observability import logger, metrics, tracer


def make_handler(app: APIGatewayRestResolver) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Wrap a resolver with structured logging (correlation id = API Gateway request id), tracing
    and metrics flushing."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    # Never record the response (presigned URLs, inline images) or the error text in X-Ray.
    @tracer.capture_lambda_handler(capture_response=False, capture_error=False)
    @metrics.log_metrics
    def instrumented(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        return instrumented(event, context if context is not None else LocalContext())

    return lambda_handler


def make_batch_handler(
    processor: BatchProcessor, record_handler: Callable[..., None], *, with_metrics: bool = False
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """An SQS consumer's entry point: Powertools' batch processing with partial batch failures (SQS
    redelivers only the records that raised, then sends them to the queue's dead-letter queue), with
    structured logging and tracing. `record_handler` takes the parsed record (and, if it declares it,
    `lambda_context`). `with_metrics`: flush the metrics the records count (Powertools' EMF)."""

    def process(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        return dict(response)

    if with_metrics:
        process = metrics.log_metrics(process)
    instrumented = logger.inject_lambda_context(clear_state=True)(
        tracer.capture_lambda_handler(capture_response=False)(process)
    )

    def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        return instrumented(event, context if context is not None else LocalContext())

    return lambda_handler
