"""`AvatarClient`: the REST API of the Personalized Avatar Service as Python methods.

Every call is signed with SigV4 (botocore) for API Gateway's AWS_IAM authorization. HTTP goes through
a small `transport` callable (urllib by default) so that tests and the local cloud can plug in theirs.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import boto3
from urllib3 import encode_multipart_formdata

from avatar_client.end_users import EndUserPool, EndUserSession
from avatar_client.errors import AvatarApiError
from avatar_client.packs import PacksMixin
from avatar_client.selfies import prepare_selfie
from avatar_client.signing import sign_request
from avatar_contract.status import TrainingStatus

# (method, url, headers, body, timeout) -> (status, headers, body)
Transport = Callable[[str, str, dict[str, str], bytes | None, float], tuple[int, dict[str, str], bytes]]
# (the training's status document, as `get_training` returns it, seconds waited so far)
ProgressCallback = Callable[[dict[str, Any], float], None]

# Inline selfies travel as base64 inside the JSON body; API Gateway takes at most 10 MB per request.
INLINE_BODY_LIMIT = 7 * 2**20
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")


def image_content_type(data: bytes) -> str:
    """image/jpeg or image/png from the magic bytes (the upload policy admits image/* only)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return "image/jpeg" if data.startswith(b"\xff\xd8") else "application/octet-stream"


def upload_form(fields: dict[str, str], data: bytes) -> tuple[bytes, str]:
    """The multipart body of a presigned POST and its Content-Type header (the file goes last, as S3
    requires)."""
    form: list[tuple[str, Any]] = [*fields.items(), ("Content-Type", image_content_type(data))]
    form.append(("file", ("selfie", data, image_content_type(data))))
    return encode_multipart_formdata(form)


class TrainingTimeout(TimeoutError):
    """The training did not finish within the wait time (it may still finish later)."""


@dataclass
class GeneratedImages:
    model_id: str
    seed: int
    images: list[bytes]  # PNG bytes
    response: dict[str, Any] = field(repr=False, default_factory=dict)


def urllib_transport(
    method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


class AvatarClient(PacksMixin):
    """Client of one deployment's REST API.

    `endpoint_url`: the API's base URL (e.g. `https://abc.execute-api.eu-west-1.amazonaws.com/prod`).
    Credentials come from `credentials` (botocore), else `session` (boto3), else boto3's default chain.
    `wait_for_training` polls the API: it never reads the status queue, which holds every owner's
    notifications (an app backend consumes that queue, or subscribes to its owners' training events:
    docs/events.md). The pack calls (`start_pack`, `wait_for_pack`, ...) are in avatar_client.packs."""

    def __init__(
        self,
        endpoint_url: str,
        region: str | None = None,
        *,
        session: boto3.session.Session | None = None,
        credentials: Any = None,
        timeout: float = 60.0,
        transport: Transport | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.session = session or boto3.session.Session()
        match = _REGION_IN_HOST.search(self.endpoint_url)
        self.region = (
            region
            or self.session.region_name
            or os.environ.get("AWS_REGION")
            or (match.group(1) if match else None)
            or "us-east-1"
        )
        self._credentials = credentials
        self.timeout = timeout
        self.transport = transport or urllib_transport

    @classmethod
    def for_user(
        cls,
        endpoint_url: str,
        pool: EndUserPool,
        username: str,
        password: str,
        *,
        mfa_code: Callable[[], str] | None = None,
        session: boto3.session.Session | None = None,
        **options: Any,
    ) -> AvatarClient:
        """A client acting as an end user of the stack's user pool (docs/end-users.md): signed in with
        e-mail and password, calling with the identity pool's temporary credentials, refreshed before
        they expire. `options`: as for `AvatarClient` (timeout, transport, ...)."""
        user = EndUserSession.sign_in(pool, username, password, mfa_code=mfa_code, session=session)
        return cls.for_session(endpoint_url, user, **options)

    @classmethod
    def for_session(cls, endpoint_url: str, user: EndUserSession, **options: Any) -> AvatarClient:
        """A client acting as the signed-in end user `user` (e.g. a saved `avatar login`)."""
        return cls(endpoint_url, user.pool.region, credentials=user.credentials(), **options)

    # ------------------------------------------------------------------------------------------ HTTP
    def _frozen_credentials(self) -> Any:
        credentials = self._credentials or self.session.get_credentials()
        if credentials is None:
            raise RuntimeError(
                "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID, or pass them)"
            )
        return (
            credentials.get_frozen_credentials()
            if hasattr(credentials, "get_frozen_credentials")
            else credentials
        )

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One signed call; returns (status, JSON body) or raises AvatarApiError."""
        url = self.endpoint_url + path
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        signed = sign_request(method, url, data, all_headers, self._frozen_credentials(), self.region)
        status, response_headers, raw = self.transport(method, url, signed, data, self.timeout)
        try:
            document = json.loads(raw) if raw else {}
        except ValueError:
            document = {"error": {"code": "invalid_response", "message": raw[:200].decode(errors="replace")}}
        if status >= 400:
            error = document.get("error") if isinstance(document, dict) else None
            error = error if isinstance(error, dict) else {}
            retry_after = next((v for k, v in response_headers.items() if k.lower() == "retry-after"), None)
            raise AvatarApiError(
                status,
                str(error.get("code", "http_error")),
                str(error.get("message") or document.get("message") or raw[:200]),
                float(retry_after) if retry_after else None,
            )
        return status, document

    def _unsigned(
        self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> bytes:
        status, _, raw = self.transport(method, url, headers or {}, body, self.timeout)
        if status >= 300:
            raise AvatarApiError(status, "storage_error", raw[:200].decode(errors="replace"))
        return raw

    # ------------------------------------------------------------------------------------- trainings
    def create_uploads(self, count: int) -> dict[str, Any]:
        return self.request("POST", "/uploads", {"count": count})[1]

    def upload_selfies(self, selfies: Sequence[bytes]) -> list[dict[str, Any]]:
        """POST the selfies to their presigned S3 POSTs (multipart/form-data: the slot's fields, the
        Content-Type, then the file); returns the image references for `start_training`."""
        batch = self.create_uploads(len(selfies))
        for slot, data in zip(batch["uploads"], selfies, strict=True):
            body, content_type = upload_form(slot["fields"], data)
            self._unsigned("POST", slot["url"], body, {"Content-Type": content_type})
        return [{"upload_id": batch["upload_id"], "index": slot["index"]} for slot in batch["uploads"]]

    def start_training(
        self,
        selfies: Sequence[bytes | Path | str],
        *,
        model_name: str | None = None,
        config: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        webhook_url: str | None = None,
        prepare: bool = True,
        attempts: int = 3,
    ) -> dict[str, Any]:
        """Start a training from 10-20 selfies (files or bytes). Each is resized to at most 1024 px
        unless `prepare` is False. Sets an idempotency key, so retrying a retryable answer (up to
        `attempts` tries) never starts two jobs. `webhook_url`: an HTTPS URL the outcome is POSTed to,
        signed with `webhook_secret()` (docs/events.md)."""
        key = idempotency_key or str(uuid.uuid4())
        body: dict[str, Any] = {"images": self._image_references(selfies, prepare)}
        if model_name:
            body["model_name"] = model_name
        if config:
            body["config"] = config
        if webhook_url:
            body["webhook_url"] = webhook_url
        for attempt in range(attempts):
            try:
                return self.request("POST", "/trainings", body, {"Idempotency-Key": key})[1]
            except AvatarApiError as error:
                if not error.retryable or attempt == attempts - 1:
                    raise
                time.sleep(min(error.retry_after or 2.0 * (attempt + 1), 30))
        raise AssertionError("unreachable")

    def webhook_secret(self) -> str:
        """This caller's webhook signing secret (GET /webhooks/secret)."""
        return self.webhook_secrets()["secret"]

    def webhook_secrets(self) -> dict[str, Any]:
        """GET /webhooks/secret: `secret`, and `previous_secret` with `previous_valid_until` while a
        rotated-out secret still signs deliveries."""
        return self.request("GET", "/webhooks/secret")[1]

    def rotate_webhook_secret(self) -> dict[str, Any]:
        """POST /webhooks/secret/rotate: a new secret; the old one signs too for `grace_seconds`."""
        return self.request("POST", "/webhooks/secret/rotate", {})[1]

    def screen_selfies(
        self,
        selfies: Sequence[bytes | Path | str],
        *,
        config: dict[str, Any] | None = None,
        prepare: bool = True,
    ) -> dict[str, Any]:
        """The dry run of `start_training`: each selfie's verdict (usable, reason, message, crop box) from
        the same face screening a training applies; nothing is stored and nothing starts."""
        body: dict[str, Any] = {"images": self._image_references(selfies, prepare), "dry_run": True}
        if config:
            body["config"] = config
        return self.request("POST", "/trainings", body)[1]

    def _image_references(self, selfies: Sequence[bytes | Path | str], prepare: bool) -> list[dict[str, Any]]:
        """Inline base64 images, or upload slots when the set would not fit API Gateway's body limit."""
        images = [prepare_selfie(s) if prepare else _read(s) for s in selfies]
        encoded = [base64.b64encode(data).decode() for data in images]
        if sum(len(item) for item in encoded) > INLINE_BODY_LIMIT:
            return self.upload_selfies(images)
        return [{"data": item} for item in encoded]

    def get_training(self, training_id: str) -> dict[str, Any]:
        """The training's status: `status` (queued, completed, failed), `reason`, `metrics`,
        `preview_urls` (the previews content moderation let through), `previews_withheld` (index, reason,
        labels of the others), and while queued `progress` (phase, step, total_steps, loss, elapsed_seconds,
        eta_seconds, updated, queue_position; None until the training container starts it)."""
        return self.request("GET", f"/trainings/{quote(training_id, safe='')}")[1]

    def wait_for_training(
        self,
        training_id: str,
        *,
        timeout: float = 7200,
        poll_interval: float = 15,
        max_poll_interval: float = 120,
        on_progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Block until the training completed or failed; returns its status (GET /trainings/{id}).

        Polls the API, first after `poll_interval` seconds, then backing off (x1.5) up to
        `max_poll_interval`; a retryable API error (429, 5xx) is waited out like a `queued` answer.
        `on_progress(status, elapsed)` is called on every round while the training is queued, with the
        latest status (its `progress`: see `get_training`); with it the API is asked every
        `poll_interval`, without backing off, so the progress stays current.
        TrainingTimeout after `timeout` seconds in all."""
        started = time.monotonic()
        interval = poll_interval
        while True:
            elapsed = time.monotonic() - started
            try:
                status = self.get_training(training_id)
            except AvatarApiError as error:
                if not error.retryable:
                    raise
                status = {"status": TrainingStatus.QUEUED}
            if status["status"] != TrainingStatus.QUEUED:
                return status
            if on_progress:
                on_progress(status, elapsed)
            if elapsed >= timeout:
                raise TrainingTimeout(f"training {training_id} not finished after {timeout:.0f} s")
            time.sleep(max(0.01, min(interval, timeout - elapsed)))
            if on_progress is None:
                interval = min(max_poll_interval, interval * 1.5)

    # ---------------------------------------------------------------------------------------- models
    def list_models(self, page_size: int = 50) -> list[dict[str, Any]]:
        """Every model of the caller, newest first: follows GET /models's pages (`next_cursor`) to the end,
        `page_size` (1-50) models a request."""
        models: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = urlencode({"limit": page_size, **({"cursor": cursor} if cursor else {})})
            page = self.request("GET", f"/models?{query}")[1]
            models += page["models"]
            cursor = page.get("next_cursor")
            if not cursor:
                return sorted(models, key=lambda model: model.get("created", ""), reverse=True)

    def delete_model(self, model_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/models/{quote(model_id, safe='')}")[1]

    def generate(
        self, model_id: str, prompt: str, negative_prompt: str = "", *, max_wait: float = 300, **gen_args: Any
    ) -> GeneratedImages:
        """Generate PNG images; `gen_args`: num_inference_steps, guidance_scale, seed, num_images, width,
        height. While the endpoint loads the model (503 + Retry-After), retries for up to `max_wait` s."""
        body = {"prompt": prompt, "negative_prompt": negative_prompt, **gen_args}
        path = f"/models/{quote(model_id, safe='')}/generations"
        started = time.monotonic()
        while True:
            try:
                result = self.request("POST", path, body)[1]
                break
            except AvatarApiError as error:
                waited = time.monotonic() - started
                delay = error.retry_after or 5.0
                if not error.retryable or waited + delay > max_wait:
                    raise
                time.sleep(delay)
        images = [  # images withheld by content moderation (`blocked`) stay in `response` only
            base64.b64decode(item["data"]) if item.get("data") else self._unsigned("GET", item["url"])
            for item in result["images"]
            if not item.get("blocked")
        ]
        return GeneratedImages(
            model_id=result["model_id"], seed=result["seed"], images=images, response=result
        )


def _read(source: bytes | Path | str) -> bytes:
    return source if isinstance(source, bytes) else Path(source).read_bytes()
