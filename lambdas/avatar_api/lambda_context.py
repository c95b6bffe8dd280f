"""The one stand-in for Lambda's context object, where no Lambda runtime passes one: the handlers called
with None, the local cloud's sandbox processes, the idempotency records' in-progress expiry, and tests.
It has what the handlers and Powertools read; the time left runs down to `deadline_ms` (epoch ms)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from avatar_contract.names import API_TIMEOUT_SECONDS


def _ms_from_now(seconds: float) -> int:
    return int((time.time() + seconds) * 1000)


@dataclass
class LocalContext:
    function_name: str = "avatar-api-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:avatar-api-local"
    deadline_ms: int = field(default_factory=lambda: _ms_from_now(API_TIMEOUT_SECONDS))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    @classmethod
    def with_remaining(cls, seconds: float, **fields: Any) -> LocalContext:
        """A context whose invocation may still run `seconds`."""
        return cls(deadline_ms=_ms_from_now(seconds), **fields)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))
