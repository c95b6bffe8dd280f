"""Local STAND-INS for Amazon Comprehend `DetectToxicContent` and Amazon Rekognition
`DetectModerationLabels` (moto implements neither). They speak the real wire protocols, as botocore sends
them when `AWS_ENDPOINT_URL_COMPREHEND` / `AWS_ENDPOINT_URL_REKOGNITION` point here: Comprehend's
smithy RPC v2 CBOR (and its older JSON 1.1), Rekognition's JSON 1.1, SigV4-signed, with the real request
limits, response shapes and error codes. They are NOT moderation: their verdicts come from a small,
documented policy (docs/moderation.md):

- text: a keyword classifier, `LEXICON` (whole words, case-insensitive): a segment containing a word of a
  category scores `FLAGGED_SCORE` there, every other category `CLEAN_SCORE`; `Toxicity` is the highest.
  A segment containing `THROTTLE_MARKER` is answered with a throttling error.
- images: a PNG text chunk `IMAGE_MARKER_KEY` whose value is a label (`Explicit`, or
  `Explicit/Exposed Male Genitalia` for a level-2 label under its parent) is reported with confidence
  `MARKED_CONFIDENCE`; so is an image whose SHA-256 was registered with `flag_image` (how the e2e tests
  flag an image the model generated). `throttle` as the marker's value answers a throttling error.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import botocore.session
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import CBORSerializer
from PIL import Image, UnidentifiedImageError

from local_cloud.http_server import Answer, LocalHttpServer, ServedOverHttp
from local_cloud.sigv4 import Principal, SignatureError, verify_sigv4

log = logging.getLogger(__name__)

COMPREHEND_TARGET = "Comprehend_20171127"
REKOGNITION_TARGET = "RekognitionService"
CBOR_PATH = f"/service/{COMPREHEND_TARGET}/operation/DetectToxicContent"
LEXICON: dict[str, tuple[str, ...]] = {
    "PROFANITY": ("damn", "crap", "shit", "fuck"),
    "INSULT": ("idiot", "moron", "stupid"),
    "HATE_SPEECH": ("subhuman", "vermin"),
    "VIOLENCE_OR_THREAT": ("kill", "murder", "stab", "massacre"),
    "GRAPHIC": ("gore", "gory", "mutilated"),
    "SEXUAL": ("nude", "naked", "porn", "nsfw"),
    "HARASSMENT_OR_ABUSE": ("harass", "stalk"),
}
FLAGGED_SCORE = 0.97
CLEAN_SCORE = 0.01
THROTTLE_MARKER = "local-stand-in-throttle"
IMAGE_MARKER_KEY = "avatar-moderation-test"
MARKED_CONFIDENCE = 99.0
MAX_SEGMENTS = 10
MAX_SEGMENT_BYTES = 1024
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MODERATION_MODEL_VERSION = "7.0"


class StandInError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def classify_text(text: str) -> dict[str, Any]:
    """One DetectToxicContent result for `text` under the stand-in's keyword policy."""
    words = {word.lower() for word in re.findall(r"\w+", text)}
    scores = {name: FLAGGED_SCORE if words & set(terms) else CLEAN_SCORE for name, terms in LEXICON.items()}
    labels = [{"Name": name, "Score": score} for name, score in scores.items()]
    return {"Labels": labels, "Toxicity": max(scores.values())}


def image_marker(data: bytes) -> str | None:
    """The value of the image's test marker chunk, if any; raises InvalidImageFormatException."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in {"PNG", "JPEG"}:
                raise StandInError(400, "InvalidImageFormatException", "Request has invalid image format")
            text = getattr(image, "text", None) or image.info
            value = text.get(IMAGE_MARKER_KEY)
    except (UnidentifiedImageError, OSError) as error:
        raise StandInError(400, "InvalidImageFormatException", "Request has invalid image format") from error
    return str(value) if value else None


class ModerationStandIns(ServedOverHttp):
    """One HTTP server for both stand-ins (each request is routed by its protocol and signed service)."""

    def __init__(self, region: str, principals: Mapping[str, Principal]) -> None:
        self.region = region
        self.principals = principals
        self.flagged_digests: dict[str, str] = {}
        self.requests: list[tuple[str, int]] = []  # (operation, items) of every call, for tests
        self._lock = threading.Lock()
        session = botocore.session.get_session()
        self._comprehend = session.get_service_model("comprehend").operation_model("DetectToxicContent")
        self._server = LocalHttpServer(
            "LocalModerationStandIns", self.handle, _internal_failure, log, max_body_bytes=8 * 2**20
        )

    def flag_image(self, data: bytes, label: str = "Explicit") -> None:
        """Report `label` for exactly these bytes from now on (the e2e tests' marker for outputs)."""
        with self._lock:
            self.flagged_digests[hashlib.sha256(data).hexdigest()] = label

    # -- HTTP ----------------------------------------------------------------------------------------
    def handle(self, request: Any) -> Answer:
        headers = {name.lower(): value for name, value in request.headers}
        parts = urlsplit(request.target)
        cbor = parts.path == CBOR_PATH
        target = headers.get("x-amz-target", "")
        service = "comprehend" if cbor or target.startswith(COMPREHEND_TARGET) else "rekognition"
        try:
            verify_sigv4(
                method=request.method,
                raw_path=parts.path,
                raw_query=parts.query,
                headers=dict(request.headers),
                body=request.body,
                principals=self.principals,
                service=service,
                region=self.region,
            )
            if cbor:
                parser = RpcV2CBORParser()
                params = parser.parse_data_item(parser.get_peekable_stream_from_bytes(request.body))
                return self._cbor_answer(self.detect_toxic_content(params))
            params = json.loads(request.body or b"{}")
            if target == f"{COMPREHEND_TARGET}.DetectToxicContent":
                return _json_answer(200, self.detect_toxic_content(params))
            if target == f"{REKOGNITION_TARGET}.DetectModerationLabels":
                return _json_answer(200, self.detect_moderation_labels(params))
            raise StandInError(400, "UnknownOperationException", f"the stand-ins do not serve {target!r}")
        except SignatureError as error:
            return self._error(cbor, StandInError(403, error.error_type, error.message))
        except StandInError as error:
            return self._error(cbor, error)

    def _cbor_answer(self, result: dict[str, Any]) -> Answer:
        body = bytearray()
        CBORSerializer()._serialize_data_item(body, result, self._comprehend.output_shape)
        return 200, {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}, bytes(body)

    def _error(self, cbor: bool, error: StandInError) -> Answer:
        if not cbor:
            return _json_answer(error.status, {"__type": error.code, "message": error.message})
        body = _cbor_text_map({"__type": f"com.amazonaws.comprehend#{error.code}", "message": error.message})
        return error.status, {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}, body

    # -- operations ----------------------------------------------------------------------------------
    def detect_toxic_content(self, params: dict[str, Any]) -> dict[str, Any]:
        segments = params.get("TextSegments") or []
        if params.get("LanguageCode") != "en":
            raise StandInError(400, "UnsupportedLanguageException", "DetectToxicContent supports only en")
        if not 1 <= len(segments) <= MAX_SEGMENTS:
            raise StandInError(400, "InvalidRequestException", f"send 1 to {MAX_SEGMENTS} TextSegments")
        texts = [str(segment.get("Text", "")) for segment in segments]
        if any(len(text.encode()) > MAX_SEGMENT_BYTES for text in texts):
            raise StandInError(400, "TextSizeLimitExceededException", "a segment is over 1 KB (UTF-8)")
        if any(THROTTLE_MARKER in text for text in texts):
            raise StandInError(400, "TooManyRequestsException", "Rate exceeded (stand-in throttle marker)")
        with self._lock:
            self.requests.append(("DetectToxicContent", len(texts)))
        return {"ResultList": [classify_text(text) for text in texts]}

    def detect_moderation_labels(self, params: dict[str, Any]) -> dict[str, Any]:
        image = params.get("Image") or {}
        if "Bytes" not in image:
            raise StandInError(400, "InvalidParameterException", "the stand-in reads Image.Bytes only")
        data = base64.b64decode(image["Bytes"])
        if len(data) > MAX_IMAGE_BYTES:
            raise StandInError(400, "ImageTooLargeException", "Image size is too large")
        min_confidence = float(params.get("MinConfidence", 50.0))
        if not 0 <= min_confidence <= 100:
            raise StandInError(400, "InvalidParameterException", "MinConfidence must be 0-100")
        marker = image_marker(data)
        with self._lock:
            self.requests.append(("DetectModerationLabels", 1))
            marker = marker or self.flagged_digests.get(hashlib.sha256(data).hexdigest())
        if marker == "throttle":
            raise StandInError(400, "ThrottlingException", "Rate exceeded (stand-in throttle marker)")
        labels = []
        if marker and min_confidence <= MARKED_CONFIDENCE:
            parent, _, child = marker.partition("/")
            labels.append(
                {"Confidence": MARKED_CONFIDENCE, "Name": parent, "ParentName": "", "TaxonomyLevel": 1}
            )
            if child:
                labels.append(
                    {"Confidence": MARKED_CONFIDENCE, "Name": child, "ParentName": parent, "TaxonomyLevel": 2}
                )
        return {
            "ModerationLabels": labels,
            "ModerationModelVersion": MODERATION_MODEL_VERSION,
            "ContentTypes": [],
        }


def _json_answer(status: int, document: dict[str, Any]) -> Answer:
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if status >= 400:
        headers["x-amzn-ErrorType"] = str(document.get("__type", ""))
    return status, headers, json.dumps(document).encode()


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    for extra, size in ((24, 1), (25, 2), (26, 4)):
        if length < 256**size:
            return bytes([major << 5 | extra]) + length.to_bytes(size, "big")
    raise ValueError("too long")


def _cbor_text_map(document: dict[str, str]) -> bytes:
    """A CBOR map of text strings (an error body; botocore's CBOR serializer needs a modeled shape)."""
    out = bytearray(_cbor_head(5, len(document)))
    for key, value in document.items():
        for text in (key, value):
            data = text.encode()
            out += _cbor_head(3, len(data)) + data
    return bytes(out)


def _internal_failure(exc: Exception) -> Answer:
    return _json_answer(500, {"__type": "InternalServerError", "message": f"stand-in failed: {exc}"})
