"""The client's SigV4 signature is the one botocore's own signer computes, and tampering breaks it."""

from __future__ import annotations

import json

from botocore.credentials import Credentials

from avatar_client.signing import sign_request
from tests.fixtures.sigv4 import CREDENTIALS, ENDPOINT, verify_sigv4


def test_signature_matches_botocores_signer() -> None:
    body = json.dumps({"prompt": "a photo of <<TOK>>"}).encode()
    url = f"{ENDPOINT}/models/m-abc/generations"
    headers = sign_request("POST", url, body, {"Content-Type": "application/json"}, CREDENTIALS, "us-east-1")

    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/execute-api/aws4_request" in headers["Authorization"]
    assert headers["X-Amz-Security-Token"] == "session-token"
    assert verify_sigv4("POST", url, headers, body, CREDENTIALS)


def test_tampering_or_other_keys_fail_verification() -> None:
    url = f"{ENDPOINT}/models"
    headers = sign_request("GET", url, None, {}, CREDENTIALS, "us-east-1")
    assert verify_sigv4("GET", url, headers, None, CREDENTIALS)
    assert not verify_sigv4("GET", f"{ENDPOINT}/models?x=1", headers, None, CREDENTIALS)
    assert not verify_sigv4("DELETE", url, headers, None, CREDENTIALS)
    other = Credentials("AKIDEXAMPLE", "another-secret", "session-token")
    assert not verify_sigv4("GET", url, headers, None, other)


def test_body_is_covered_by_the_signature() -> None:
    url = f"{ENDPOINT}/trainings"
    headers = sign_request("POST", url, b'{"a": 1}', {}, CREDENTIALS, "us-east-1")
    assert verify_sigv4("POST", url, headers, b'{"a": 1}', CREDENTIALS)
    assert not verify_sigv4("POST", url, headers, b'{"a": 2}', CREDENTIALS)
