"""Access to the moderation services: Amazon Comprehend DetectToxicContent, Amazon Rekognition
DetectModerationLabels and the deny list in SSM Parameter Store (read with a cache). Nothing here knows
the policy; every failure of a service is one `ModerationUnavailable`.

boto3 finds the local cloud's stand-ins through `AWS_ENDPOINT_URL_COMPREHEND` /
`AWS_ENDPOINT_URL_REKOGNITION` (and moto's SSM through `AWS_ENDPOINT_URL`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

DENY_LIST_TTL_SECONDS = 60.0
MAX_SEGMENTS_PER_CALL = 10  # DetectToxicContent: at most 10 segments of at most 1 KB each


class ModerationUnavailable(Exception):
    """A moderation service refused, throttled or could not be reached."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


def _unavailable(service: str, error: Exception) -> ModerationUnavailable:
    if isinstance(error, ClientError):
        return ModerationUnavailable(service, error.response.get("Error", {}).get("Code", "") or str(error))
    return ModerationUnavailable(service, type(error).__name__)


@dataclass
class ModerationClients:
    """The three clients; `None` ones are made by `make_client(service)` on first use (a function that
    never moderates, or only text, never loads the other services' models)."""

    comprehend: Any = None
    rekognition: Any = None
    ssm: Any = None
    deny_list_parameter: str = ""
    clock: Callable[[], float] = time.monotonic
    make_client: Callable[[str], Any] | None = None
    _deny_list: tuple[float, list[str]] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _client(self, service: str) -> Any:
        with self._lock:  # images are screened from several threads; making a client is not thread-safe
            client = getattr(self, service)
            if client is None:
                if self.make_client is None:
                    raise RuntimeError(f"no {service} client")
                client = self.make_client(service)
                setattr(self, service, client)
            return client

    def toxic_content(self, segments: list[str]) -> list[dict[str, Any]]:
        """One DetectToxicContent result (`Labels`, `Toxicity`) per segment, in order."""
        results: list[dict[str, Any]] = []
        for start in range(0, len(segments), MAX_SEGMENTS_PER_CALL):
            batch = segments[start : start + MAX_SEGMENTS_PER_CALL]
            try:
                response = self._client("comprehend").detect_toxic_content(
                    TextSegments=[{"Text": text} for text in batch], LanguageCode="en"
                )
            except (ClientError, BotoCoreError) as error:
                raise _unavailable("comprehend", error) from error
            results.extend(response.get("ResultList", []))
        return results

    def moderation_labels(self, image: bytes, min_confidence: float) -> list[dict[str, Any]]:
        """DetectModerationLabels' `ModerationLabels` for `image` (at most 5 MB)."""
        try:
            response = self._client("rekognition").detect_moderation_labels(
                Image={"Bytes": image}, MinConfidence=min_confidence
            )
        except (ClientError, BotoCoreError) as error:
            raise _unavailable("rekognition", error) from error
        return list(response.get("ModerationLabels", []))

    def deny_list(self) -> list[str]:
        """The deny list's non-empty, non-comment lines (cached for DENY_LIST_TTL_SECONDS)."""
        if not self.deny_list_parameter:
            return []
        now = self.clock()
        if self._deny_list is not None and now - self._deny_list[0] < DENY_LIST_TTL_SECONDS:
            return self._deny_list[1]
        try:
            value = self._client("ssm").get_parameter(Name=self.deny_list_parameter)["Parameter"]["Value"]
        except (ClientError, BotoCoreError) as error:
            if self._deny_list is not None:  # keep the last good list over an outage
                return self._deny_list[1]
            raise _unavailable("ssm", error) from error
        entries = [line.strip() for line in str(value).splitlines()]
        terms = [entry for entry in entries if entry and not entry.startswith("#")]
        self._deny_list = (now, terms)
        return terms

    @classmethod
    def from_environment(cls, deny_list_parameter: str, comprehend_region: str = "") -> ModerationClients:
        """Clients in the function's region (Comprehend in `comprehend_region` when set)."""
        # Few, quick retries: moderation runs inside the generation's 29 s budget.
        config = Config(
            connect_timeout=3, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 2}
        )

        def make(service: str) -> Any:
            region = comprehend_region if service == "comprehend" and comprehend_region else None
            return boto3.client(service, config=config, region_name=region)

        return cls(deny_list_parameter=deny_list_parameter, make_client=make)
