"""SageMaker asynchronous inference, locally: `InvokeEndpointAsync` jobs queued per endpoint and run by one
worker per `MaxConcurrentInvocationsPerInstance` slot: read the input from S3 (or take the inline body),
POST it to the container's `/invocations`, write the response to `<S3OutputPath>/<id>.out` (2xx) or
`<S3FailurePath>/<id>-error.out` (otherwise), and publish SageMaker's notification to the success or
error topic.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from local_cloud.runtime_api import http_call, iso_now, s3_split

log = logging.getLogger(__name__)
HEALTHY_WAIT_SECONDS = 300  # as long as a container may take to start (its startup health check)


@dataclass
class AsyncJob:
    endpoint_name: str
    inference_id: str
    input_location: str | None
    content_type: str
    accept: str | None
    custom_attributes: str | None
    timeout_seconds: int
    output_location: str
    failure_location: str
    success_topic: str | None
    error_topic: str | None
    container_url: str
    received_time: str = field(default_factory=iso_now)
    inline_payload: bytes | None = None  # InvokeEndpointAsync's `Body` (instead of InputLocation)


class AsyncInvoker:
    """The async endpoint's internal queue and its workers (one per concurrent-invocation slot)."""

    def __init__(self, clients: Callable[[str], Any], region: str) -> None:
        self._clients = clients
        self.region = region
        self._queues: dict[str, queue.Queue[AsyncJob | None]] = {}
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.in_flight = 0
        self._idle = threading.Condition()

    def submit(self, job: AsyncJob, concurrency: int) -> None:
        with self._lock:
            jobs = self._queues.get(job.endpoint_name)
            if jobs is None:
                jobs = self._queues[job.endpoint_name] = queue.Queue()
                for n in range(max(1, concurrency)):
                    worker = threading.Thread(
                        target=self._work, args=(jobs,), name=f"async-{job.endpoint_name}-{n}", daemon=True
                    )
                    worker.start()
                    self._workers.append(worker)
        with self._idle:
            self.in_flight += 1
        jobs.put(job)

    def stop(self) -> None:
        with self._lock:
            for jobs in self._queues.values():
                for _ in range(len(self._workers)):
                    jobs.put(None)
        for worker in self._workers:
            worker.join(1)

    def _work(self, jobs: queue.Queue[AsyncJob | None]) -> None:
        while (job := jobs.get()) is not None:
            try:
                self._run(job)
            except Exception:  # a worker never dies: the job is reported as failed instead
                log.exception("async invocation %s crashed", job.inference_id)
                self._finish(job, False, b"", "application/json", "InternalFailure: the local runtime failed")
            finally:
                with self._idle:
                    self.in_flight -= 1
                    self._idle.notify_all()

    def _run(self, job: AsyncJob) -> None:
        log.info("async %s: running %s", job.inference_id, job.input_location or "inline payload")
        try:
            if job.inline_payload is not None:
                payload = job.inline_payload
            elif job.input_location is not None:
                payload = self._download(job.input_location)
            else:  # the request handler refuses a call with neither
                raise ValueError(f"async job {job.inference_id} has no input")
        except ClientError as err:
            self._finish(
                job,
                False,
                b"",
                "text/plain",
                f"ClientError: Failed to download input data from {job.input_location}: "
                f"{err.response['Error'].get('Code')}",
            )
            return
        headers = {"Content-Type": job.content_type}
        if job.accept:
            headers["Accept"] = job.accept
        if job.custom_attributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = job.custom_attributes
        if not self._wait_healthy(job.container_url):
            self._finish(
                job, False, b"", "text/plain",
                f"ModelError: the container failed its /ping health check for {HEALTHY_WAIT_SECONDS} s",
            )  # fmt: skip
            return
        started = time.monotonic()
        try:
            status, response_headers, body = http_call(
                f"{job.container_url}/invocations", "POST", payload, headers, job.timeout_seconds
            )
        except TimeoutError:
            self._finish(
                job,
                False,
                b"",
                "text/plain",
                f"ModelError: the model did not respond within the invocation timeout of "
                f"{job.timeout_seconds} seconds",
            )
            return
        except (urllib.error.URLError, ConnectionError, OSError) as err:
            reason = (
                "the container exited before it answered"
                if isinstance(err, ConnectionError)
                else "the container is unreachable"
            )
            self._finish(job, False, b"", "text/plain", f"ModelError: {reason} ({err})")
            return
        content_type = response_headers.get("Content-Type", "application/octet-stream")
        log.info(
            "async %s: container answered %d in %.1f s", job.inference_id, status, time.monotonic() - started
        )
        if 200 <= status < 300:
            self._finish(job, True, body, content_type, None)
        else:
            kind = "client" if status < 500 else "server"
            message = body[:1000].decode("utf-8", errors="replace")
            self._finish(
                job,
                False,
                body,
                content_type,
                f'ClientError: Received {kind} error ({status}) from primary with message "{message}". '
                f"See the endpoint's logs (.local-cloud/logs/) for more information.",
            )

    @staticmethod
    def _wait_healthy(container_url: str) -> bool:
        """SageMaker sends a job only to a container that answers /ping (one being restarted does not)."""
        deadline = time.monotonic() + HEALTHY_WAIT_SECONDS
        while True:
            try:
                if http_call(f"{container_url}/ping", "GET", None, {}, 5)[0] == 200:
                    return True
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)

    def _download(self, location: str) -> bytes:
        bucket, key = s3_split(location)
        return self._clients("s3").get_object(Bucket=bucket, Key=key)["Body"].read()

    def _finish(self, job: AsyncJob, ok: bool, body: bytes, content_type: str, reason: str | None) -> None:
        """Write the output/failure object, then publish SageMaker's notification."""
        location = job.output_location if ok else job.failure_location
        bucket, key = s3_split(location)
        self._clients("s3").put_object(
            Bucket=bucket, Key=key, Body=body or (reason or "").encode(), ContentType=content_type
        )
        notification = async_notification(job, ok, content_type, reason, self.region)
        topic = job.success_topic if ok else job.error_topic
        if topic:
            self._clients("sns").publish(TopicArn=topic, Message=json.dumps(notification))
        log.info("async %s: %s -> %s", job.inference_id, notification["invocationStatus"], location)


def async_notification(
    job: AsyncJob, ok: bool, content_type: str, reason: str | None, region: str
) -> dict[str, Any]:
    """The message SageMaker async inference publishes to the success/error topic."""
    message: dict[str, Any] = {
        "awsRegion": region,
        "eventTime": iso_now(),
        "receivedTime": job.received_time,
        "invocationStatus": "Completed" if ok else "Failed",
        "requestParameters": {
            "accept": job.accept or "*/*",
            "contentType": job.content_type,
            "endpointName": job.endpoint_name,
            **({"inputLocation": job.input_location} if job.input_location else {}),
        },
        "responseParameters": {"contentType": content_type},
        "inferenceId": job.inference_id,
        "eventVersion": "1.0",
        "eventSource": "aws:sagemaker",
        "eventName": "InferenceResult",
    }
    if ok:
        message["responseParameters"]["outputLocation"] = job.output_location
    else:
        message["failureReason"] = reason
        message["responseParameters"]["failureLocation"] = job.failure_location
    return message
