"""What the local SageMaker runtime's parts share: the runtime API's error answer, S3 locations, and one
HTTP exchange with a container."""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from avatar_contract.keys import split_s3_uri


class RuntimeApiError(Exception):
    """An error answer of the runtime API: HTTP status, `x-amzn-ErrorType` and message."""

    def __init__(self, status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}


def validation_error(message: str) -> RuntimeApiError:
    return RuntimeApiError(400, "ValidationError", message)


def s3_split(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key), or the ValidationError SageMaker answers for a bad URI."""
    try:
        bucket, key = split_s3_uri(uri)
    except ValueError:
        raise validation_error(f"Invalid S3 URI: {uri}") from None
    if not key:
        raise validation_error(f"Invalid S3 URI: {uri}")
    return bucket, key


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def http_call(
    url: str, method: str, body: bytes | None, headers: Mapping[str, str], timeout: float
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP exchange with a container; an HTTP error status is a result, not an exception."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()
