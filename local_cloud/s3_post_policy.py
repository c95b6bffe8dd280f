"""The local stand-in for what S3 enforces on a browser-based (presigned POST) upload, in front of moto.

moto's S3 accepts any POST form: it checks neither the policy's signature nor its conditions (DESIGN §5).
`S3PostPolicyFront` listens on 127.0.0.1 and forwards every request to moto unchanged, except a POST form
upload (`POST /<bucket>` with multipart/form-data), which it first checks as S3 does
(https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html):

- the policy's SigV4 signature, with the secret of the access key named in `x-amz-credential` (the
  credentials the API's role signed it with), for this region and service `s3`, `x-amz-date` on the
  credential's day; `x-amz-algorithm` AWS4-HMAC-SHA256;
- `expiration` not passed;
- every condition: exact matches (`{"field": value}`, `["eq", "$field", value]`), `starts-with`,
  `content-length-range` on the file's size; `bucket` against the bucket posted to;
- every form field except `policy`, `x-amz-signature`, `file` and `x-ignore-*` named by a condition.

A refused form is answered with S3's error (403 AccessDenied / SignatureDoesNotMatch / InvalidAccessKeyId,
400 EntityTooLarge / EntityTooSmall / InvalidArgument) and never reaches moto, so nothing is stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.parser
import email.policy
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import requests

from local_cloud.http_server import Answer, HttpService, LocalHttpServer, Request

log = logging.getLogger("local_cloud.s3_post_policy")
ALGORITHM = "AWS4-HMAC-SHA256"
UNCHECKED_FIELDS = frozenset({"policy", "x-amz-signature", "file"})
# Headers that belong to one hop, not to the request forwarded to moto (or to its answer). A request's
# Content-Encoding (aws-chunked) is S3's and is kept; an answer's is undone by requests, so it goes.
HOP_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding", "accept-encoding",
                         "keep-alive"})  # fmt: skip
MAX_FORM_BYTES = 64 * 2**20  # what this stand-in reads at all (S3's own POST limit is 5 GB)


class Refused(Exception):
    """What S3 answers a form it refuses."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    def answer(self) -> Answer:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{self.code}</Code>'
            f"<Message>{escape(self.message)}</Message></Error>"
        ).encode()
        return self.status, {"Content-Type": "application/xml"}, body


@dataclass(frozen=True)
class PostForm:
    fields: dict[str, str]  # names lower-cased (S3 matches field names case-insensitively)
    file: bytes | None


def parse_form(content_type: str, body: bytes) -> PostForm:
    """The form's fields and its `file` part from a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise Refused(
            400,
            "MalformedPOSTRequest",
            "The body of your POST request is not well-formed multipart/form-data.",
        )
    fields: dict[str, str] = {}
    file: bytes | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if name.lower() == "file":
            file = payload
            break  # S3 ignores everything after the file
        fields[name.lower()] = payload.decode()
    return PostForm(fields, file)


def _signing_key(secret: str, day: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _verify_signature(fields: Mapping[str, str], secrets: Mapping[str, str], region: str) -> None:
    if fields.get("x-amz-algorithm") != ALGORITHM:
        raise Refused(400, "InvalidArgument", f"x-amz-algorithm must be {ALGORITHM}")
    parts = fields.get("x-amz-credential", "").split("/")
    if len(parts) != 5 or parts[3:] != ["s3", "aws4_request"]:
        raise Refused(400, "InvalidArgument", "x-amz-credential is malformed")
    access_key, day, credential_region = parts[0], parts[1], parts[2]
    if access_key not in secrets:
        raise Refused(
            403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        )
    if credential_region != region or not fields.get("x-amz-date", "").startswith(day):
        raise Refused(400, "AuthorizationQueryParametersError", "the credential's region or date is wrong")
    expected = hmac.new(
        _signing_key(secrets[access_key], day, region), fields.get("policy", "").encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, fields.get("x-amz-signature", "")):
        raise Refused(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )


def _condition_failed(condition: Any) -> Refused:
    return Refused(
        403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}"
    )


def check_form(
    bucket: str, form: PostForm, secrets: Mapping[str, str], region: str, now: dt.datetime
) -> None:
    """Refused (S3's answer) unless the form may store its file in `bucket` now."""
    if "policy" not in form.fields:
        raise Refused(403, "AccessDenied", "Bucket POST must contain a field named 'policy'.")
    _verify_signature(form.fields, secrets, region)
    try:
        policy = json.loads(base64.b64decode(form.fields["policy"], validate=True))
        expiration = dt.datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        conditions = list(policy["conditions"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise Refused(400, "InvalidPolicyDocument", f"Invalid Policy: {error}") from error
    if expiration <= now:
        raise Refused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    if form.file is None:
        raise Refused(400, "InvalidArgument", "POST requires exactly one file upload per request.")
    values = {**form.fields, "bucket": bucket}
    covered = {"bucket"}
    for condition in conditions:
        if isinstance(condition, dict) and len(condition) == 1:
            ((name, wanted),) = condition.items()
            operator, name = "eq", name.lower()
        elif isinstance(condition, list) and len(condition) == 3 and condition[0] == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if len(form.file) > high:
                raise Refused(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
            if len(form.file) < low:
                raise Refused(
                    400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
                )
            continue
        elif isinstance(condition, list) and len(condition) == 3 and condition[0] in ("eq", "starts-with"):
            operator, name, wanted = condition[0], str(condition[1]).lower().removeprefix("$"), condition[2]
        else:
            raise Refused(
                400, "InvalidPolicyDocument", f"Invalid Policy: unknown condition {json.dumps(condition)}"
            )
        covered.add(name)
        value = values.get(name)
        if value is None or not (value == wanted if operator == "eq" else value.startswith(str(wanted))):
            raise _condition_failed(condition)
    extra = [n for n in form.fields if n not in covered | UNCHECKED_FIELDS and not n.startswith("x-ignore-")]
    if extra:
        raise Refused(
            403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}"
        )


class S3PostPolicyFront(HttpService):
    """An HTTP front for moto's S3 on 127.0.0.1: POST form uploads checked (`check_form`) before they
    are forwarded; every other request forwarded as it is. `secrets`: access key id -> secret."""

    def __init__(self, moto_url: str, secrets: Mapping[str, str], region: str) -> None:
        self.moto_url, self.secrets, self.region = moto_url.rstrip("/"), dict(secrets), region
        self.refused: list[Refused] = []  # what it refused, for the tests
        self._session = requests.Session()
        self._server = LocalHttpServer(
            "local-s3-post-policy",
            self._respond,
            lambda error: Refused(500, "InternalError", str(error)).answer(),
            logging.getLogger("local_cloud.s3_front"),
            max_body_bytes=MAX_FORM_BYTES,
            on_too_large=Refused(
                400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
            ).answer,
        )

    def stop(self) -> None:
        super().stop()
        self._session.close()

    def _respond(self, request: Request) -> Answer:
        headers = {name: value for name, value in request.headers}
        content_type = next((v for n, v in request.headers if n.lower() == "content-type"), "")
        path = urlsplit(request.target).path.strip("/")
        if (
            request.method == "POST"
            and path
            and "/" not in path
            and content_type.startswith("multipart/form-data")
        ):
            try:
                check_form(
                    path,
                    parse_form(content_type, request.body),
                    self.secrets,
                    self.region,
                    dt.datetime.now(dt.UTC),
                )
            except Refused as refused:
                log.info("refused a POST upload to %s: %s %s", path, refused.code, refused.message)
                self.refused.append(refused)
                return refused.answer()
        forwarded = {n: v for n, v in headers.items() if n.lower() not in HOP_HEADERS}
        response = self._session.request(
            request.method, self.moto_url + request.target, data=request.body, headers=forwarded,
            allow_redirects=False, timeout=300,
        )  # fmt: skip
        answer_headers = {
            n: v for n, v in response.headers.items() if n.lower() not in HOP_HEADERS | {"content-encoding"}
        }
        if request.method == "HEAD" and "Content-Length" in response.headers:
            answer_headers["Content-Length"] = response.headers["Content-Length"]
        return response.status_code, answer_headers, response.content
