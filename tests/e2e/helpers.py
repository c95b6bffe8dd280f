"""Helpers of the end-to-end tests: clients acting as the local cloud's principals, raw SigV4 signing (to
tamper with requests), and an inbox of the status queue's notifications."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from avatar_client.client import AvatarClient
from avatar_client.notifications import parse_notification
from avatar_contract import keys
from avatar_contract.keys import split_s3_uri
from avatar_contract.names import Env, StateTable
from avatar_contract.notifications import AsyncInferenceNotification
from local_cloud import LocalCloud
from local_cloud.demo import DEMO_TRAINING_CONFIG
from local_cloud.processes import live_members
from local_cloud.sigv4 import Principal

# The demo's fast training, with fewer steps: finishes in seconds on a 2-core CPU with the tiny model.
FAST_TRAINING: dict[str, Any] = {**DEMO_TRAINING_CONFIG, "max_train_steps": 2}
FAST_CONTAINER_ENV = {"AVATAR_TRAINING_SAMPLE_STEPS": "2"}
DENIED = "sparklewing"  # on every test cloud's moderation deny list


def client_for(cloud: LocalCloud, principal: Principal) -> AvatarClient:
    return AvatarClient(
        cloud.api_url,
        cloud.region,
        credentials=Credentials(principal.access_key_id, principal.secret_access_key),
        timeout=60,
    )


def sign(
    principal: Principal,
    method: str,
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    region: str = "us-east-1",
    at: dt.datetime | None = None,
) -> dict[str, str]:
    """SigV4 headers for a request, optionally as if signed at time `at` (for expired signatures)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = SigV4Auth(
        Credentials(principal.access_key_id, principal.secret_access_key), "execute-api", region
    )
    if at is None:
        signer.add_auth(request)
        return dict(request.headers.items())
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    request.headers["X-Amz-Date"] = stamp
    request.context["timestamp"] = stamp
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed = signer.signed_headers(signer.headers_to_sign(request))
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={principal.access_key_id}/{signer.credential_scope(request)}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return dict(request.headers.items())


def signed_call(
    cloud: LocalCloud, principal: Principal, method: str, path: str, body: Any = None
) -> requests.Response:
    url = cloud.api_url + path
    data = b"" if body is None else json.dumps(body).encode()
    headers = sign(principal, method, url, data, {"Content-Type": "application/json"}, cloud.region)
    return requests.request(method, url, data=data, headers=headers, timeout=60)


class NotificationInbox:
    """Reads the status queue as a client app does, keeping every notification by training id (so that
    tests waiting for different trainings never lose each other's messages). A `Completed` notification
    is handed out once the model publisher has given its verdict on the model (issue 21 M1: the API says
    `completed` only then; on the raw queue `Completed` means the training container finished)."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.sqs = cloud.client("sqs")
        self.queue_url = cloud.status_queue_url
        self.received: dict[str, list[tuple[AsyncInferenceNotification, dict[str, Any]]]] = {}

    def _poll(self, wait_seconds: int) -> None:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        )
        for message in response.get("Messages", []):
            notification = parse_notification(message["Body"])
            assert notification is not None, f"not a SageMaker notification: {message['Body']}"
            self.received.setdefault(notification.inference_id, []).append(
                (notification, json.loads(message["Body"]))
            )
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def wait_for(
        self, training_id: str, timeout: float = 150
    ) -> tuple[AsyncInferenceNotification, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while training_id not in self.received:
            if time.monotonic() > deadline:
                raise AssertionError(f"no notification for {training_id} within {timeout:.0f} s")
            self._poll(5)
        self._wait_for_verdict(self.received[training_id][0][1], timeout)
        return self.received[training_id][0]

    def _wait_for_verdict(self, raw: dict[str, Any], timeout: float) -> None:
        if raw.get("invocationStatus") != "Completed":
            return
        _, key = split_s3_uri(raw["requestParameters"]["inputLocation"])  # trainings/<owner>/<id>/input...
        owner, training_id = key.split("/")[1:3]
        verdict = keys.publication_key(owner, training_id)
        s3, deadline = self.cloud.client("s3"), time.monotonic() + timeout
        while (
            s3.list_objects_v2(Bucket=self.cloud.settings.data_bucket, Prefix=verdict).get("KeyCount", 0) == 0
        ):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the model publisher gave no verdict on {training_id} within {timeout:.0f} s"
                )
            time.sleep(0.2)

    def wait_for_all(self, training_ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while missing := [t for t in training_ids if t not in self.received]:
            if time.monotonic() > deadline:
                raise AssertionError(f"no notification for {missing} within {timeout:.0f} s")
            self._poll(5)
        for training_id in training_ids:
            self._wait_for_verdict(self.received[training_id][0][1], timeout)


class EventQueue:
    """An app's SQS queue subscribed to the training events topic with a filter policy on one owner
    (docs/events.md), keeping every event it received by training id."""

    def __init__(self, cloud: LocalCloud, owner: str, name: str) -> None:
        self.sqs = cloud.client("sqs")
        self.url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]
        cloud.client("sns").subscribe(
            TopicArn=cloud.events_topic_arn,
            Protocol="sqs",
            Endpoint=arn["QueueArn"],
            Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"owner": [owner]})},
        )
        self.received: dict[str, list[tuple[dict[str, Any], dict[str, str]]]] = {}

    def poll(self, wait_seconds: int = 0) -> None:
        response = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
        )
        for message in response.get("Messages", []):
            event = json.loads(message["Body"])
            attributes = {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}
            self.received.setdefault(event["training_id"], []).append((event, attributes))
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def wait_for(self, training_id: str, timeout: float = 150) -> tuple[dict[str, Any], dict[str, str]]:
        deadline = time.monotonic() + timeout
        while training_id not in self.received:
            if time.monotonic() > deadline:
                raise AssertionError(f"no training event for {training_id} within {timeout:.0f} s")
            self.poll(5)
        return self.received[training_id][0]


def training_slots(cloud: LocalCloud, principal: Principal) -> dict[str, Any]:
    """The owner's concurrent-training pool item in the state table (adapters.quotas' key layout)."""
    key = f"quota#{cloud.owner_id(principal)}#training-slots"
    found = cloud.client("dynamodb").get_item(
        TableName=cloud.settings.state_table, Key={StateTable.KEY_ATTRIBUTE: {"S": key}}
    )
    return dict(found.get("Item", {}))


E2E_QUOTAS = {
    Env.QUOTA_CONCURRENT_TRAININGS: "100",
    Env.QUOTA_TRAININGS_PER_DAY: "1000",
    Env.QUOTA_GENERATIONS_PER_MINUTE: "1000",
    Env.QUOTA_GENERATION_GPU_SECONDS_PER_MINUTE: "100000",
    Env.QUOTA_GENERATIONS_IN_FLIGHT: "100",
    Env.QUOTA_DRY_RUNS_PER_HOUR: "1000",
    Env.QUOTA_REFUSED_TRAININGS_PER_DAY: "1000",
    Env.QUOTA_PACK_JOBS_IN_FLIGHT: "100",
}


@contextlib.contextmanager
def running_cloud(state_dir: Path, base_model_dir: Path, **options: Any) -> Iterator[LocalCloud]:
    """A local cloud with the tests' fast container settings; once it stopped, nothing of it is left."""
    options.setdefault("extra_container_env", FAST_CONTAINER_ENV)
    # These tests start many trainings per owner; the quotas themselves are tested on the API.
    options.setdefault("extra_lambda_env", E2E_QUOTAS)
    with LocalCloud(state_dir=state_dir, base_model_dir=base_model_dir, **options) as cloud:
        # The deny list of tests/e2e/test_moderation.py, set before any function read (and cached) it
        cloud.client("ssm").put_parameter(
            Name=cloud.settings.config.moderation_deny_list_parameter_name,
            Value=f"# e2e\n{DENIED}\n",
            Type="String",
            Overwrite=True,
        )
        yield cloud
        urls, pids = cloud.listening_urls(), cloud.child_pids()
    assert_stopped_cleanly(urls, pids)


def assert_stopped_cleanly(urls: list[str], pids: list[int]) -> None:
    """After a local cloud stopped: none of its processes (nor anything in their process groups, e.g.
    Triton's Python backend stubs) is left, and none of its ports answers."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap, in case the test process is the parent
        alive = live_members(pid)  # every child leads its own process group
        assert not alive, f"process group {pid} of the local cloud still runs {alive}"
    for url in urls:
        host, port = urlsplit(url).hostname, urlsplit(url).port
        with socket.socket() as probe:
            assert probe.connect_ex((host, port)) != 0, f"{url} still accepts connections"
