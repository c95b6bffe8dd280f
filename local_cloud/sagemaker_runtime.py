"""A local SageMaker runtime: the `sagemaker-runtime` REST protocol boto3 speaks when
`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` points here, backed by the real containers.

- `InvokeEndpointAsync` (`POST /endpoints/{name}/async-invocations`): validated against the endpoint
  config in moto's SageMaker control plane, queued, and run by one worker per
  `MaxConcurrentInvocationsPerInstance` slot: read the input from S3, POST it to the container's
  `/invocations`, write the response to `<S3OutputPath>/<id>.out` (2xx) or `<S3FailurePath>/<id>-error.out`
  (otherwise), and publish SageMaker's notification to the success or error topic.
- `InvokeEndpoint` with `TargetModel` (`POST /endpoints/{name}/invocations`) on a multi-model endpoint:
  the multi-model contract a SageMaker host runs against the container — download
  `<ModelDataUrl><TargetModel>`, extract it safely, `POST /models` (load), `POST /models/<name>/invoke`,
  keep an LRU-bounded set of loaded models and `DELETE /models/<name>` (unload) to evict.

Errors use the runtime's JSON error shape and status codes (botocore maps them to `ValidationError`,
`ModelError`, `ModelNotReadyException`, ...). Hand-written because no maintained library emulates
the SageMaker runtime (moto only records invocations and returns canned results).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import queue
import shutil
import tarfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.exceptions import ClientError

from local_cloud.settings import ACCOUNT_ID
from local_cloud.sigv4 import Principal, SignatureError, verify_sigv4

log = logging.getLogger(__name__)

MODEL_LOAD_WAIT_SECONDS = 60.0  # InvokeEndpoint gives up with ModelNotReadyException, the load goes on
MODEL_INVOKE_TIMEOUT_SECONDS = 60.0
MAX_ASYNC_INVOCATION_TIMEOUT = 3600
DEFAULT_ASYNC_INVOCATION_TIMEOUT = 900
MAX_MODEL_ARCHIVE_BYTES = 2 * 1024**3
MAX_INLINE_ASYNC_PAYLOAD_BYTES = 128_000


class RuntimeApiError(Exception):
    """An error answer of the runtime API: HTTP status, `x-amzn-ErrorType` and message."""

    def __init__(self, status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}


def _validation(message: str) -> RuntimeApiError:
    return RuntimeApiError(400, "ValidationError", message)


def _s3_split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise _validation(f"Invalid S3 URI: {uri}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def _iso_now() -> str:
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
    received_time: str = field(default_factory=_iso_now)
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
            self._finish(job, False, b"", "text/plain", f"ModelError: the container is unreachable ({err})")
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

    def _download(self, location: str) -> bytes:
        bucket, key = _s3_split(location)
        return self._clients("s3").get_object(Bucket=bucket, Key=key)["Body"].read()

    def _finish(self, job: AsyncJob, ok: bool, body: bytes, content_type: str, reason: str | None) -> None:
        """Write the output/failure object, then publish SageMaker's notification."""
        location = job.output_location if ok else job.failure_location
        bucket, key = _s3_split(location)
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
        "eventTime": _iso_now(),
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


def _safe_extract(archive: Path, destination: Path) -> None:
    """Extract a model archive refusing anything that could escape `destination` (absolute paths,
    `..`, links, devices) — the reference's unfiltered extractall is one of its defects."""
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        for member in members:
            path = PurePosixPath(member.name)
            if path.is_absolute() or ".." in path.parts:
                raise ValueError(f"unsafe path in model archive: {member.name}")
            if not (member.isfile() or member.isdir()):
                raise ValueError(f"unsupported entry in model archive: {member.name}")
        tar.extractall(destination, members=members, filter="data")


@dataclass
class _LoadedModel:
    name_hash: str
    directory: Path
    ready: threading.Event = field(default_factory=threading.Event)
    error: RuntimeApiError | None = None
    load_seconds: float | None = None  # download + extract + load into the container


class MultiModelHost:
    """What a SageMaker multi-model host does in front of one container (here the real Triton)."""

    def __init__(
        self,
        clients: Callable[[str], Any],
        container_url: str,
        model_data_url: str,
        work_dir: Path,
        max_loaded_models: int = 8,
    ) -> None:
        self._clients = clients
        self.container_url = container_url
        self.bucket, self.prefix = _s3_split(
            model_data_url if "/" in model_data_url[5:] else model_data_url + "/"
        )
        self.work_dir = work_dir
        self.max_loaded_models = max_loaded_models
        self._models: OrderedDict[str, _LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def name_hash(target_model: str) -> str:
        return hashlib.md5(target_model.encode(), usedforsecurity=False).hexdigest()

    def invoke(
        self, target_model: str, body: bytes, content_type: str, accept: str | None
    ) -> tuple[bytes, str]:
        target = PurePosixPath(target_model)
        if not target_model or target.is_absolute() or ".." in target.parts or len(target_model) > 1024:
            raise _validation(f"Invalid TargetModel: {target_model!r}")
        headers = {"Content-Type": content_type, "X-Amzn-SageMaker-Target-Model": target_model}
        if accept:
            headers["Accept"] = accept
        for attempt in range(2):
            model = self._ensure_loaded(target_model)
            try:
                status, response_headers, response = http_call(
                    f"{self.container_url}/models/{model.name_hash}/invoke",
                    "POST",
                    body,
                    headers,
                    MODEL_INVOKE_TIMEOUT_SECONDS,
                )
            except TimeoutError:
                raise RuntimeApiError(
                    424, "ModelError", "Model did not respond within 60 seconds", {"OriginalStatusCode": 504}
                ) from None
            if status == 200:
                return response, response_headers.get("Content-Type", "application/json")
            if status == 404 and attempt == 0:  # the container lost the model (e.g. restarted): reload once
                self._forget(target_model)
                continue
            break
        if status == 507:  # out of memory: SageMaker unloads models to make room
            self._evict(keep=target_model)
        message = response[:1000].decode("utf-8", errors="replace")
        kind = "client" if status < 500 else "server"
        raise RuntimeApiError(
            424,
            "ModelError",
            f'Received {kind} error ({status}) from primary with message "{message}". '
            "See the endpoint's logs (.local-cloud/logs/) for more information.",
            {"OriginalStatusCode": status, "OriginalMessage": message},
        )

    def loaded_models(self) -> list[str]:
        with self._lock:
            return [name for name, model in self._models.items() if model.ready.is_set() and not model.error]

    def load_seconds(self, target_model: str) -> float | None:
        """How long loading `target_model` took, if it is loaded."""
        with self._lock:
            model = self._models.get(target_model)
        return model.load_seconds if model is not None else None

    def _ensure_loaded(self, target_model: str) -> _LoadedModel:
        with self._lock:
            model = self._models.get(target_model)
            if model is not None and model.ready.is_set() and model.error is not None:
                del self._models[target_model]
                model = None
            if model is None:
                model = _LoadedModel(
                    self.name_hash(target_model), self.work_dir / self.name_hash(target_model)
                )
                self._models[target_model] = model
                threading.Thread(target=self._load, args=(target_model, model), daemon=True).start()
            self._models.move_to_end(target_model)
        if not model.ready.wait(MODEL_LOAD_WAIT_SECONDS):
            raise RuntimeApiError(
                429,
                "ModelNotReadyException",
                f"Model {target_model} is still loading; retry the request.",
            )
        if model.error is not None:
            raise model.error
        return model

    def _load(self, target_model: str, model: _LoadedModel) -> None:
        started = time.monotonic()
        try:
            self._download_and_extract(target_model, model.directory)
            self._load_into_container(target_model, model)
            model.load_seconds = time.monotonic() - started
        except RuntimeApiError as err:
            model.error = err
        except Exception as err:
            log.exception("loading %s failed", target_model)
            model.error = RuntimeApiError(
                500, "InternalFailure", f"Failed to load model {target_model}: {err}"
            )
        finally:
            if model.error is not None:
                shutil.rmtree(model.directory, ignore_errors=True)
            model.ready.set()

    def _download_and_extract(self, target_model: str, directory: Path) -> None:
        key = self.prefix + target_model
        s3 = self._clients("s3")
        shutil.rmtree(directory, ignore_errors=True)
        (directory / "model").mkdir(parents=True)
        archive = directory / "model.tar.gz"
        try:
            head = s3.head_object(Bucket=self.bucket, Key=key)
            if head["ContentLength"] > MAX_MODEL_ARCHIVE_BYTES:
                raise _validation(f"Model data {key} exceeds {MAX_MODEL_ARCHIVE_BYTES} bytes")
            s3.download_file(self.bucket, key, str(archive))
        except ClientError:
            raise _validation(
                f"Failed to download model data(bucket: {self.bucket}, key: {key}). Please ensure that there "
                "is an object located at the URL and that the role passed to CreateModel has permissions "
                "to download the model."
            ) from None
        try:
            _safe_extract(archive, directory / "model")
        except (ValueError, tarfile.TarError) as err:
            raise _validation(f"Failed to extract model data {key}: {err}") from None
        finally:
            archive.unlink(missing_ok=True)

    def _load_into_container(self, target_model: str, model: _LoadedModel) -> None:
        body = json.dumps({"model_name": model.name_hash, "url": str(model.directory / "model")}).encode()
        headers = {"Content-Type": "application/json", "X-Amzn-SageMaker-Target-Model": target_model}
        for attempt in range(2):
            status, _, response = http_call(f"{self.container_url}/models", "POST", body, headers, 360)
            if status in (200, 409):  # 409: the container already has it
                log.info("loaded %s as %s", target_model, model.name_hash)
                return
            if status == 507 and attempt == 0 and self._evict(keep=target_model):
                continue  # SageMaker unloads least recently used models and retries
            message = response[:1000].decode("utf-8", errors="replace")
            raise RuntimeApiError(
                507 if status == 507 else 424,
                "ModelError",
                f'Failed to load model {target_model}: the container answered {status} with "{message}"',
                {"OriginalStatusCode": status, "OriginalMessage": message},
            )

    def _evict(self, keep: str) -> bool:
        """Unload the least recently used model other than `keep`; False when there is none."""
        with self._lock:
            victim = next((n for n, m in self._models.items() if n != keep and m.ready.is_set()), None)
            if victim is None:
                return False
            model = self._models.pop(victim)
        self._unload(victim, model)
        return True

    def enforce_bound(self) -> None:
        while True:
            with self._lock:
                if len(self._models) <= self.max_loaded_models:
                    return
                victim = next((n for n, m in self._models.items() if m.ready.is_set()), None)
                if victim is None:
                    return
                model = self._models.pop(victim)
            self._unload(victim, model)

    def _forget(self, target_model: str) -> None:
        with self._lock:
            model = self._models.pop(target_model, None)
        if model is not None:
            shutil.rmtree(model.directory, ignore_errors=True)

    def _unload(self, target_model: str, model: _LoadedModel) -> None:
        if model.error is None:
            try:
                status, _, response = http_call(
                    f"{self.container_url}/models/{model.name_hash}",
                    "DELETE",
                    None,
                    {"X-Amzn-SageMaker-Target-Model": target_model},
                    360,
                )
                log.info("unloaded %s: %d %s", target_model, status, response[:200])
            except (urllib.error.URLError, OSError) as err:
                log.warning("unloading %s failed: %s", target_model, err)
        shutil.rmtree(model.directory, ignore_errors=True)

    def forget_all(self) -> None:
        """Drop the extracted models without asking the container (it is going away)."""
        with self._lock:
            models, self._models = list(self._models.values()), OrderedDict()
        for model in models:
            shutil.rmtree(model.directory, ignore_errors=True)


class LocalSageMakerRuntime:
    """The HTTP server for the runtime API; endpoint configs are read from moto's control plane."""

    def __init__(
        self,
        clients: Callable[[str], Any],
        region: str,
        containers: Mapping[str, str],
        work_dir: Path,
        principals: Mapping[str, Principal],
        max_loaded_models: int = 8,
    ) -> None:
        self._clients = clients
        self.region = region
        self.containers = dict(containers)  # SageMaker model name -> container base URL
        self.work_dir = work_dir
        self.principals = principals
        self.max_loaded_models = max_loaded_models
        self.async_invoker = AsyncInvoker(clients, region)
        self._hosts: dict[str, MultiModelHost] = {}
        self._hosts_lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sagemaker-runtime", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self.async_invoker.stop()
        with self._hosts_lock:
            hosts = list(self._hosts.values())
        for host in hosts:  # the container is stopped next (as when an endpoint is deleted): no unloads
            host.forget_all()

    # -- control plane -------------------------------------------------------------------------------
    def _describe(self, endpoint_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        sagemaker = self._clients("sagemaker")
        try:
            endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
            config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        except ClientError:
            raise _validation(f"Endpoint {endpoint_name} of account {ACCOUNT_ID} not found.") from None
        if endpoint.get("EndpointStatus") != "InService":
            raise _validation(f"Endpoint {endpoint_name} is not in service.")
        return endpoint, config

    def _variant(self, config: dict[str, Any]) -> tuple[dict[str, Any], str]:
        variant = config["ProductionVariants"][0]
        url = self.containers.get(variant["ModelName"])
        if url is None:
            raise RuntimeApiError(
                503, "ServiceUnavailable", f"No container serves model {variant['ModelName']}"
            )
        return variant, url

    # -- operations ----------------------------------------------------------------------------------
    def invoke_endpoint_async(
        self, endpoint_name: str, headers: Mapping[str, str], body: bytes = b""
    ) -> dict[str, Any]:
        _, config = self._describe(endpoint_name)
        async_config = config.get("AsyncInferenceConfig")
        if not async_config:
            raise _validation(f"Endpoint {endpoint_name} is not configured for asynchronous inference.")
        input_location = headers.get("x-amzn-sagemaker-inputlocation")
        if input_location and body:
            raise _validation("Body and InputLocation are mutually exclusive; set one of them.")
        if not input_location and not body:
            raise _validation("Either InputLocation or Body is required.")
        if len(body) > MAX_INLINE_ASYNC_PAYLOAD_BYTES:
            raise _validation(
                f"Body must be at most {MAX_INLINE_ASYNC_PAYLOAD_BYTES} bytes; use InputLocation."
            )
        if input_location:
            _s3_split(input_location)
        inference_id = headers.get("x-amzn-sagemaker-inference-id") or str(uuid.uuid4())
        if len(inference_id) > 64:
            raise _validation("InferenceId must be at most 64 characters.")
        raw_timeout = str(
            headers.get("x-amzn-sagemaker-invocationtimeoutseconds") or DEFAULT_ASYNC_INVOCATION_TIMEOUT
        )
        timeout = int(raw_timeout) if raw_timeout.isdigit() else 0
        if not 1 <= timeout <= MAX_ASYNC_INVOCATION_TIMEOUT:
            raise _validation(
                f"InvocationTimeoutSeconds must be between 1 and {MAX_ASYNC_INVOCATION_TIMEOUT}."
            )
        output_config = async_config["OutputConfig"]
        notify = output_config.get("NotificationConfig") or {}
        _, container_url = self._variant(config)
        output_location = f"{output_config['S3OutputPath'].rstrip('/')}/{inference_id}.out"
        failure_path = output_config.get("S3FailurePath") or output_config["S3OutputPath"]
        failure_location = f"{failure_path.rstrip('/')}/{inference_id}-error.out"
        job = AsyncJob(
            endpoint_name=endpoint_name,
            inference_id=inference_id,
            input_location=input_location,
            inline_payload=body or None,
            content_type=headers.get("x-amzn-sagemaker-content-type") or "application/octet-stream",
            accept=headers.get("x-amzn-sagemaker-accept"),
            custom_attributes=headers.get("x-amzn-sagemaker-custom-attributes"),
            timeout_seconds=timeout,
            output_location=output_location,
            failure_location=failure_location,
            success_topic=notify.get("SuccessTopic"),
            error_topic=notify.get("ErrorTopic"),
            container_url=container_url,
        )
        concurrency = (async_config.get("ClientConfig") or {}).get("MaxConcurrentInvocationsPerInstance", 1)
        instances = config["ProductionVariants"][0].get("InitialInstanceCount", 1)
        self.async_invoker.submit(job, concurrency * instances)
        return {
            "InferenceId": inference_id,
            "OutputLocation": output_location,
            "FailureLocation": failure_location,
        }

    def invoke_endpoint(
        self, endpoint_name: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[bytes, str, str]:
        _, config = self._describe(endpoint_name)
        variant, container_url = self._variant(config)
        if config.get("AsyncInferenceConfig"):
            raise _validation(
                f"Endpoint {endpoint_name} is an asynchronous endpoint; use InvokeEndpointAsync."
            )
        model = self._clients("sagemaker").describe_model(ModelName=variant["ModelName"])
        container = model.get("PrimaryContainer") or {}
        content_type = headers.get("content-type") or "application/octet-stream"
        accept = headers.get("accept")
        target_model = headers.get("x-amzn-sagemaker-target-model")
        if container.get("Mode") != "MultiModel":
            if target_model:
                raise _validation("TargetModel is only valid for multi-model endpoints.")
            status, response_headers, response = http_call(
                f"{container_url}/invocations", "POST", body, {"Content-Type": content_type}, 60
            )
            if status != 200:
                raise RuntimeApiError(
                    424,
                    "ModelError",
                    response[:1000].decode(errors="replace"),
                    {"OriginalStatusCode": status},
                )
            return response, response_headers.get("Content-Type", "application/json"), variant["VariantName"]
        if not target_model:
            raise _validation("TargetModel is required for a multi-model endpoint.")
        host = self._host(endpoint_name, container["ModelDataUrl"], container_url)
        response, response_type = host.invoke(target_model, body, content_type, accept)
        host.enforce_bound()
        return response, response_type, variant["VariantName"]

    def _host(self, endpoint_name: str, model_data_url: str, container_url: str) -> MultiModelHost:
        with self._hosts_lock:
            host = self._hosts.get(endpoint_name)
            if host is None:
                host = self._hosts[endpoint_name] = MultiModelHost(
                    self._clients,
                    container_url,
                    model_data_url,
                    self.work_dir / endpoint_name,
                    self.max_loaded_models,
                )
            return host

    def host(self, endpoint_name: str) -> MultiModelHost | None:
        return self._hosts.get(endpoint_name)

    # -- HTTP ----------------------------------------------------------------------------------------
    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        lower = {k.lower(): v for k, v in headers.items()}
        parts = urlsplit(target)
        try:
            if self.principals:
                try:
                    verify_sigv4(
                        method=method,
                        raw_path=parts.path,
                        raw_query=parts.query,
                        headers=headers,
                        body=body,
                        principals=self.principals,
                        service="sagemaker",
                        region=self.region,
                    )
                except SignatureError as exc:
                    raise RuntimeApiError(
                        403, exc.error_type.removesuffix("Exception"), exc.message
                    ) from None
            segments = parts.path.strip("/").split("/")
            if method != "POST" or len(segments) != 3 or segments[0] != "endpoints":
                raise RuntimeApiError(
                    404, "UnknownOperationException", f"Unknown operation {method} {parts.path}"
                )
            endpoint_name, operation = unquote(segments[1]), segments[2]
            if operation == "async-invocations":
                result = self.invoke_endpoint_async(endpoint_name, lower, body)
                return (
                    202,
                    {
                        "Content-Type": "application/json",
                        "X-Amzn-SageMaker-OutputLocation": result["OutputLocation"],
                        "X-Amzn-SageMaker-FailureLocation": result["FailureLocation"],
                    },
                    json.dumps(result).encode(),
                )
            if operation == "invocations":
                response, content_type, variant = self.invoke_endpoint(endpoint_name, lower, body)
                return (
                    200,
                    {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": variant},
                    response,
                )
            raise RuntimeApiError(
                404, "UnknownOperationException", f"Unknown operation {method} {parts.path}"
            )
        except RuntimeApiError as err:
            payload = {"ErrorCode": err.code, "Message": err.message, "message": err.message, **err.extra}
            if err.code == "ModelError":
                payload["LogStreamArn"] = (
                    f"arn:aws:logs:{self.region}:{ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/local"
                )
            return (
                err.status,
                {
                    "Content-Type": "application/json",
                    "x-amzn-ErrorType": err.code,
                    "x-amzn-RequestId": str(uuid.uuid4()),
                },
                json.dumps(payload).encode(),
            )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    status, headers, payload = runtime.handle(
                        self.command, self.path, dict(self.headers.items()), body
                    )
                except Exception as exc:  # never leave the client hanging
                    log.exception("runtime request failed")
                    status, headers, payload = (
                        500,
                        {"x-amzn-ErrorType": "InternalFailure"},
                        json.dumps({"message": f"InternalFailure: {exc}"}).encode(),
                    )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                log.info("%s %s -> %d", self.command, self.path, status)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
