"""AWS access behind small classes (tests point them at moto; boto3 finds the local cloud through
`AWS_ENDPOINT_URL*` env vars). Nothing here knows about HTTP or the domain's rules."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError
from pydantic import BaseModel, ValidationError

from avatar_api.errors import TIMEOUT_CODE, AlreadyExists, Changed, EndpointError, ModelNotReady

_MISSING = {"404", "NoSuchKey", "NotFound"}
_CONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


@dataclass
class Bucket:
    """One S3 bucket."""

    name: str
    client: Any

    def put_json_if_absent(self, key: str, document: dict[str, Any]) -> str:
        """Create `key` only if it does not exist (S3 conditional write `If-None-Match: *`): atomic,
        so two concurrent callers cannot both win. Raises AlreadyExists for the loser; returns the ETag."""
        try:
            return self._put_json(key, document, IfNoneMatch="*")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _CONDITION_FAILED:
                raise AlreadyExists(key) from error
            raise

    def put_json_if_unchanged(self, key: str, document: dict[str, Any], etag: str) -> str:
        """Replace `key` only if it still has `etag` (S3 conditional write `If-Match`). Raises Changed
        when someone else wrote or deleted it in between; returns the new ETag."""
        try:
            return self._put_json(key, document, IfMatch=etag)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _CONDITION_FAILED | _MISSING:
                raise Changed(key) from error
            raise

    def put_json(self, key: str, document: dict[str, Any]) -> str:
        return self._put_json(key, document)

    def _put_json(self, key: str, document: dict[str, Any], **conditions: str) -> str:
        response = self.client.put_object(
            Bucket=self.name,
            Key=key,
            Body=json.dumps(document).encode(),
            ContentType="application/json",
            **conditions,
        )
        return str(response.get("ETag", ""))

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data, ContentType=content_type)

    def upload_file(
        self,
        key: str,
        fileobj: IO[bytes],
        content_type: str,
        tagging: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        extra: dict[str, Any] = {"ContentType": content_type, **({"Tagging": tagging} if tagging else {})}
        if metadata:
            extra["Metadata"] = metadata
        self.client.upload_fileobj(fileobj, self.name, key, ExtraArgs=extra)

    def _if_exists(self, call: Callable[..., dict[str, Any]], key: str) -> dict[str, Any] | None:
        """`call(Bucket=, Key=)`'s response (get_object, head_object), or None if there is no object."""
        try:
            return call(Bucket=self.name, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise

    def get_bytes(self, key: str) -> bytes | None:
        response = self._if_exists(self.client.get_object, key)
        return None if response is None else response["Body"].read()

    def get_json(self, key: str) -> dict[str, Any] | None:
        data = self.get_bytes(key)
        return None if data is None else json.loads(data)

    def get_model(self, key: str, model: type[M], *, unreadable: str, level: int = logging.ERROR) -> M | None:
        """The object at `key` read as `model`, or None when there is none. An object that is not one
        (not JSON, or not the model) is logged at `level` as `unreadable` with its key, and reads as None."""
        data = self.get_bytes(key)
        if data is None:
            return None
        try:
            return model.model_validate_json(data)
        except ValidationError:
            log.log(level, unreadable, extra={"key": key})
            return None

    def get_json_versioned(self, key: str) -> tuple[dict[str, Any], str] | None:
        """The document and its ETag (for `put_json_if_unchanged`), or None if it does not exist."""
        response = self._if_exists(self.client.get_object, key)
        if response is None:
            return None
        return json.loads(response["Body"].read()), str(response.get("ETag", ""))

    def size_of(self, key: str) -> int | None:
        """The object's size in bytes, or None if it does not exist."""
        response = self._if_exists(self.client.head_object, key)
        return None if response is None else int(response["ContentLength"])

    def exists(self, key: str) -> bool:
        return self.size_of(key) is not None

    def user_metadata(self, key: str) -> dict[str, str] | None:
        """The object's user metadata (x-amz-meta-*, names lower-cased), or None if it does not exist."""
        response = self._if_exists(self.client.head_object, key)
        if response is None:
            return None
        return {str(k).lower(): str(v) for k, v in (response.get("Metadata") or {}).items()}

    def subprefixes_page(self, prefix: str, start_after: str, max_keys: int) -> tuple[list[str], bool]:
        """Up to `max_keys` "folders" directly below `prefix` whose names sort after `start_after` (one
        ListObjectsV2 call), and whether more follow."""
        page = self.client.list_objects_v2(
            Bucket=self.name, Prefix=prefix, Delimiter="/", StartAfter=start_after, MaxKeys=max_keys
        )
        found = [item["Prefix"] for item in page.get("CommonPrefixes", [])]
        return found, bool(page.get("IsTruncated"))

    def list_keys(self, prefix: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=self.name, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def list_modified(self, prefix: str) -> dict[str, datetime]:
        """Every key under `prefix` with when it was last written."""
        paginator = self.client.get_paginator("list_objects_v2")
        return {
            item["Key"]: item["LastModified"]
            for page in paginator.paginate(Bucket=self.name, Prefix=prefix)
            for item in page.get("Contents", [])
        }

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix`; returns how many."""
        deleted = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.name, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.name, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        return deleted

    def presigned_post(
        self, key: str, expires: int, max_bytes: int, content_type_prefix: str
    ) -> dict[str, Any]:
        """A presigned POST (`url` and form `fields`) that lets its holder upload exactly this key until it
        expires: S3 refuses a body outside 1..`max_bytes` (`content-length-range`) or a Content-Type that
        does not start with `content_type_prefix`. (moto enforces neither; the API checks the bytes too.)"""
        return dict(
            self.client.generate_presigned_post(
                Bucket=self.name,
                Key=key,
                Conditions=[
                    ["content-length-range", 1, max_bytes],
                    ["starts-with", "$Content-Type", content_type_prefix],
                ],
                ExpiresIn=expires,
            )
        )

    def head(self, key: str) -> tuple[int, str] | None:
        """The object's size and ETag, or None if it does not exist."""
        response = self._if_exists(self.client.head_object, key)
        if response is None:
            return None
        return int(response["ContentLength"]), str(response["ETag"])

    def get_bounded(self, key: str, etag: str, max_bytes: int) -> bytes:
        """At most `max_bytes + 1` bytes of the object, only if it still has `etag` (Changed otherwise):
        a re-upload between a size check and this read can neither grow the read nor swap the bytes."""
        try:
            response = self.client.get_object(
                Bucket=self.name, Key=key, IfMatch=etag, Range=f"bytes=0-{max_bytes}"
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _CONDITION_FAILED | _MISSING:
                raise Changed(key) from error
            raise
        return bytes(response["Body"].read(max_bytes + 1))

    def presigned_get(self, key: str, expires: int) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.name, "Key": key}, ExpiresIn=expires
        )

    def uri(self, key: str) -> str:
        return f"s3://{self.name}/{key}"


def _endpoint_error(error: ClientError) -> EndpointError:
    info = error.response.get("Error", {})
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return EndpointError(info.get("Message", str(error)), code=info.get("Code", ""), status=status)


@dataclass
class TrainingEndpointClient:
    """The SageMaker asynchronous inference endpoint that runs trainings."""

    name: str
    client: Any

    def invoke_async(
        self,
        input_location: str,
        inference_id: str,
        timeout_seconds: int,
        content_type: str,
        queue_ttl_seconds: int | None = None,
    ) -> dict[str, str]:
        """Queue one training; returns SageMaker's `OutputLocation` / `FailureLocation`."""
        if not self.name:
            raise RuntimeError("AVATAR_TRAINING_ENDPOINT is not set for this function")
        try:
            response = self.client.invoke_endpoint_async(
                EndpointName=self.name,
                InputLocation=input_location,
                InferenceId=inference_id,
                InvocationTimeoutSeconds=timeout_seconds,
                ContentType=content_type,
                Accept="application/json",
                **({"RequestTTLSeconds": queue_ttl_seconds} if queue_ttl_seconds else {}),
            )
        except ClientError as error:
            raise _endpoint_error(error) from error
        except (ReadTimeoutError, BotoConnectionError) as error:
            raise EndpointError(str(error), code=TIMEOUT_CODE, status=504) from error
        return {
            "inference_id": response.get("InferenceId", inference_id),
            "output_location": response["OutputLocation"],
            "failure_location": response.get("FailureLocation", ""),
        }


@dataclass
class HostingEndpointClient:
    """The SageMaker multi-model endpoint (Triton) that serves the per-user models."""

    name: str
    client: Any
    # Builds a client with another read timeout (None: always use `client`, as the tests' stubs do).
    make_client: Callable[[float], Any] | None = None
    _by_timeout: dict[int, Any] = field(default_factory=dict)

    def _client_for(self, read_timeout: float | None) -> Any:
        if read_timeout is None or self.make_client is None:
            return self.client
        seconds = max(1, int(read_timeout))  # rounded down: never waits past the caller's deadline
        if seconds not in self._by_timeout:
            self._by_timeout[seconds] = self.make_client(seconds)
        return self._by_timeout[seconds]

    def invoke(
        self, target_model: str, payload: dict[str, Any], read_timeout: float | None = None
    ) -> dict[str, Any]:
        """One InvokeEndpoint; `read_timeout` (seconds) is how long the caller can still wait."""
        if not self.name:
            raise RuntimeError("AVATAR_HOSTING_ENDPOINT is not set for this function")
        try:
            response = self._client_for(read_timeout).invoke_endpoint(
                EndpointName=self.name,
                TargetModel=target_model,
                ContentType="application/json",
                Accept="application/json",
                Body=json.dumps(payload).encode(),
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ModelNotReadyException":
                raise ModelNotReady(error.response["Error"].get("Message", "")) from error
            raise _endpoint_error(error) from error
        except (ReadTimeoutError, BotoConnectionError) as error:
            raise EndpointError(str(error), code=TIMEOUT_CODE, status=504) from error
        return json.loads(response["Body"].read())


def s3_client() -> Any:
    # SigV4 everywhere: presigned URLs for KMS-encrypted objects need it.
    return boto3.client("s3", config=Config(signature_version="s3v4", retries={"mode": "standard"}))


def dynamodb_client() -> Any:
    """The state table's client (quotas and idempotency records): short timeouts, standard retries."""
    return boto3.client(
        "dynamodb", config=Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard"})
    )


def runtime_client(read_timeout: float = 60.0) -> Any:
    """sagemaker-runtime client without botocore retries: a retried InvokeEndpointAsync after a read
    timeout could queue the same training twice, and ModelNotReady is retried by our own code within the
    request's time budget. Callers retry through the idempotency key instead."""
    return boto3.client(
        "sagemaker-runtime",
        config=Config(
            read_timeout=read_timeout,
            connect_timeout=5,
            retries={"mode": "standard", "total_max_attempts": 1},
        ),
    )
