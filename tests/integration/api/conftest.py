"""Fixtures: moto's S3 with the two buckets, stubbed SageMaker runtime clients, and an `api` that sends
real REST proxy events through the per-function Lambda handlers named in avatar_contract.routes."""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from avatar_api.aws import Bucket, HostingEndpointClient, TrainingEndpointClient
from avatar_api.services import Services, use_services
from avatar_contract.routes import ROUTES
from tests.integration.api.support import ALICE, REGION, SESSION, LambdaContext, RecordedRuntime, rest_event

DATA_BUCKET = "avatar-data-test"
HOSTING_BUCKET = "avatar-hosting-test"


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "AvatarServiceTest",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


class Api:
    """Sends REST proxy events to the Lambda function that serves each route."""

    def __init__(self, s3: Any, training: RecordedRuntime, hosting: RecordedRuntime) -> None:
        self.s3 = s3
        self.training = training
        self.hosting = hosting
        self.context = LambdaContext()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = ALICE,
        headers: dict[str, str] | None = None,
        cognito_identity_id: str | None = None,
    ) -> dict[str, Any]:
        for route in ROUTES:
            names = re.findall(r"{(\w+)}", route.path)
            pattern = "^" + re.sub(r"{\w+}", r"([^/]+)", route.path) + "$"
            match = re.match(pattern, path)
            if route.method == method and match:
                handler = importlib.import_module(route.function.handler.rsplit(".", 1)[0]).lambda_handler
                event = rest_event(
                    method,
                    path,
                    resource=route.path,
                    path_parameters=dict(zip(names, match.groups(), strict=True)) or None,
                    body=body,
                    headers=headers,
                    user_arn=user,
                    cognito_identity_id=cognito_identity_id,
                )
                return handler(event, self.context)
        raise AssertionError(f"no route for {method} {path}")

    def queue_training(self) -> tuple[str, str]:
        """Answer the next InvokeEndpointAsync as SageMaker does; returns (output, failure) URIs."""
        name = uuid.uuid4()
        output = f"s3://{DATA_BUCKET}/async-outputs/{name}.out"
        failure = f"s3://{DATA_BUCKET}/async-failures/{name}-error.out"
        self.training.queue_async_ok(output, failure)
        return output, failure

    def object_keys(self, bucket: str = DATA_BUCKET) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@pytest.fixture
def api() -> Iterator[Api]:
    with mock_aws():
        s3 = SESSION.client("s3")
        for bucket in (DATA_BUCKET, HOSTING_BUCKET):
            s3.create_bucket(Bucket=bucket)
        training, hosting = RecordedRuntime(), RecordedRuntime()
        use_services(
            Services(
                data=Bucket(DATA_BUCKET, s3),
                hosting=Bucket(HOSTING_BUCKET, s3),
                training_endpoint=TrainingEndpointClient("avatar-training", training.client),
                hosting_endpoint=HostingEndpointClient("avatar-hosting", hosting.client),
            )
        )
        try:
            yield Api(s3, training, hosting)
        finally:
            use_services(None)
