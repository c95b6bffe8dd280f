"""Powertools Logger, Tracer and Metrics shared by every handler (one service, one namespace).

Service name and namespace can be overridden with POWERTOOLS_SERVICE_NAME /
POWERTOOLS_METRICS_NAMESPACE, as Powertools reads them itself."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from avatar_api.settings import METRICS_NAMESPACE, SERVICE_NAME

_service = os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_NAME)
logger = Logger(service=_service)
tracer = Tracer(service=_service)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE), service=_service
)


def count(outcome: str) -> None:
    """One metric per outcome, e.g. `TrainingStarted`, `GenerationModelNotReady`."""
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
