"""What the local cloud exposes: nothing it starts listens beyond loopback (Triton's SageMaker front end
included, which has no address flag of its own), and its API Gateway checks signatures as the deployed
one does (signed payloads, its own Host, presigned URLs)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from hosting_server.loopback import listeners
from hosting_server.triton import TritonNotAvailable, start_triton
from local_cloud import LocalCloud
from tests.e2e.helpers import sign

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sagemaker", [True, False], ids=["sagemaker-front-end", "kserve-http"])
def test_a_local_triton_listens_on_loopback_only(sagemaker: bool) -> None:
    empty_repository = Path(tempfile.mkdtemp(prefix="empty-models-"))
    try:
        server = start_triton(
            model_repository=empty_repository, base_model="/unused", http_port=None, load_models=(),
            sagemaker=sagemaker, startup_timeout_s=60,
        )  # fmt: skip
    except TritonNotAvailable as exc:
        pytest.skip(f"no tritonserver here: {exc}")
    with server:
        found = listeners(server.process.pid)
        assert found and all(address in ("127.0.0.1", "::1") for address, _ in found), found
        # SageMaker mode: the model gate (issue 21 M1) serves server.url from this process, Triton behind it
        front = listeners(os.getpid()) if sagemaker else found
        port = server.url.rsplit(":", 1)[1]
        assert [a for a, p in front if str(p) == port] and all(
            a in ("127.0.0.1", "::1") for a, p in front if str(p) == port
        ), front


def test_nothing_the_local_cloud_starts_listens_beyond_loopback(cloud: LocalCloud) -> None:
    # moto, the API Gateway and the runtime are threads of this process; the containers and the Lambda
    # sandboxes are its descendants (Triton's Python backend stubs too)
    found = listeners(os.getpid())
    assert [address for address in found if address[0] not in ("127.0.0.1", "::1")] == []
    ports = {port for _, port in found}
    for url in cloud.listening_urls():  # each of them is seen by the check (Triton's front end included)
        assert urlsplit(url).port in ports, (url, found)
    assert cloud.hosting is not None and urlsplit(cloud.hosting.url).port in ports


def test_the_api_checks_signatures_as_api_gateway_does(cloud: LocalCloud) -> None:
    principal = cloud.principals[0]
    url = cloud.api_url + "/models"
    signed = sign(principal, "GET", url, b"", {}, cloud.region)
    assert requests.get(url, headers=signed, timeout=30).status_code == 200
    # presigned: the signature in the query string
    request = AWSRequest(method="GET", url=url)
    credentials = Credentials(principal.access_key_id, principal.secret_access_key)
    SigV4QueryAuth(credentials, "execute-api", cloud.region, expires=60).add_auth(request)
    assert requests.get(request.url, timeout=30).status_code == 200
    assert (
        requests.get(request.url.replace("X-Amz-Expires=60", "X-Amz-Expires=61"), timeout=30).status_code
        == 403
    )
    # UNSIGNED-PAYLOAD: valid SigV4 for S3, refused by API Gateway
    body = b'{"count": 1}'
    headers = {"Content-Type": "application/json", "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    unsigned = sign(principal, "POST", cloud.api_url + "/uploads", body, headers, cloud.region)
    refused = requests.post(cloud.api_url + "/uploads", data=body, headers=unsigned, timeout=30)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "INVALID_SIGNATURE"
    # a request signed for (and naming) another host
    port = urlsplit(cloud.api_url).port
    other_host = f"avatar.example.com:{port}"
    elsewhere = sign(principal, "GET", f"http://{other_host}/v1/models", b"", {}, cloud.region)
    forbidden = requests.get(url, headers={**elsewhere, "Host": other_host}, timeout=30)
    assert forbidden.status_code == 403 and forbidden.json() == {"message": "Forbidden"}
