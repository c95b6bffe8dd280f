"""A local SageMaker runtime: the `sagemaker-runtime` REST protocol boto3 speaks when
`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` points here, backed by the real containers.

- `InvokeEndpointAsync` (`POST /endpoints/{name}/async-invocations`): validated against the endpoint
  config in moto's SageMaker control plane, then queued and run by `local_cloud.sagemaker_async`.
- `InvokeEndpoint` (`POST /endpoints/{name}/invocations`): on a multi-model endpoint, with `TargetModel`,
  through that endpoint's `local_cloud.multi_model_host.MultiModelHost`; otherwise straight to the
  container's `/invocations`.

Errors use the runtime's JSON error shape and status codes (botocore maps them to `ValidationError`,
`ModelError`, `ModelNotReadyException`, ...). Hand-written because no maintained library emulates
the SageMaker runtime (moto only records invocations and returns canned results).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.exceptions import ClientError

from local_cloud.http_server import Answer, LocalHttpServer, ServedOverHttp
from local_cloud.multi_model_host import MultiModelHost
from local_cloud.runtime_api import RuntimeApiError, http_call, s3_split, validation_error
from local_cloud.sagemaker_async import AsyncInvoker, AsyncJob
from local_cloud.settings import ACCOUNT_ID
from local_cloud.sigv4 import Principal, SignatureError

log = logging.getLogger(__name__)

MAX_ASYNC_INVOCATION_TIMEOUT = 3600
DEFAULT_ASYNC_INVOCATION_TIMEOUT = 900
MAX_INLINE_ASYNC_PAYLOAD_BYTES = 128_000


class LocalSageMakerRuntime(ServedOverHttp):
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
        self._server = LocalHttpServer(
            "LocalSageMakerRuntime",
            lambda r: self.handle(r.method, r.target, dict(r.headers), r.body),
            _internal_failure,
            log,
        )

    def stop(self) -> None:
        super().stop()
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
            raise validation_error(f"Endpoint {endpoint_name} of account {ACCOUNT_ID} not found.") from None
        if endpoint.get("EndpointStatus") != "InService":
            raise validation_error(f"Endpoint {endpoint_name} is not in service.")
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
            raise validation_error(f"Endpoint {endpoint_name} is not configured for asynchronous inference.")
        input_location = headers.get("x-amzn-sagemaker-inputlocation")
        if input_location and body:
            raise validation_error("Body and InputLocation are mutually exclusive; set one of them.")
        if not input_location and not body:
            raise validation_error("Either InputLocation or Body is required.")
        if len(body) > MAX_INLINE_ASYNC_PAYLOAD_BYTES:
            raise validation_error(
                f"Body must be at most {MAX_INLINE_ASYNC_PAYLOAD_BYTES} bytes; use InputLocation."
            )
        if input_location:
            s3_split(input_location)
        inference_id = headers.get("x-amzn-sagemaker-inference-id") or str(uuid.uuid4())
        if len(inference_id) > 64:
            raise validation_error("InferenceId must be at most 64 characters.")
        raw_timeout = str(
            headers.get("x-amzn-sagemaker-invocationtimeoutseconds") or DEFAULT_ASYNC_INVOCATION_TIMEOUT
        )
        timeout = int(raw_timeout) if raw_timeout.isdigit() else 0
        if not 1 <= timeout <= MAX_ASYNC_INVOCATION_TIMEOUT:
            raise validation_error(
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
            raise validation_error(
                f"Endpoint {endpoint_name} is an asynchronous endpoint; use InvokeEndpointAsync."
            )
        model = self._clients("sagemaker").describe_model(ModelName=variant["ModelName"])
        container = model.get("PrimaryContainer") or {}
        content_type = headers.get("content-type") or "application/octet-stream"
        accept = headers.get("accept")
        target_model = headers.get("x-amzn-sagemaker-target-model")
        if container.get("Mode") != "MultiModel":
            if target_model:
                raise validation_error("TargetModel is only valid for multi-model endpoints.")
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
            raise validation_error("TargetModel is required for a multi-model endpoint.")
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
                    self._verify_signed_for_this_host(method, parts, headers, body, "sagemaker")
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


def _internal_failure(exc: Exception) -> Answer:
    """What the runtime answers when it fails itself (never leave the client hanging)."""
    return (
        500,
        {"x-amzn-ErrorType": "InternalFailure"},
        json.dumps({"message": f"InternalFailure: {exc}"}).encode(),
    )
