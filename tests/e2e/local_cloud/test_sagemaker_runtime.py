"""The local SageMaker runtime's own fidelity: the runtime API's errors as botocore sees them, safe model
extraction, and inline async payloads (the product's journeys are in tests/e2e/test_*.py)."""

from __future__ import annotations

import io
import tarfile

import boto3
import pytest
from botocore.exceptions import ClientError

from local_cloud import LocalCloud
from local_cloud.aws import SERVICE_ACCESS_KEY_ID, SERVICE_SECRET_ACCESS_KEY
from tests.e2e.helpers import NotificationInbox

pytestmark = pytest.mark.slow


def test_runtime_speaks_sagemaker_errors(cloud: LocalCloud, inbox: NotificationInbox) -> None:
    runtime = boto3.client(
        "sagemaker-runtime",
        endpoint_url=cloud.runtime.url,
        region_name=cloud.region,
        aws_access_key_id=SERVICE_ACCESS_KEY_ID,
        aws_secret_access_key=SERVICE_SECRET_ACCESS_KEY,
    )
    with pytest.raises(ClientError) as missing:
        runtime.invoke_endpoint(
            EndpointName=cloud.settings.hosting_endpoint,
            TargetModel="0" * 32 + "/m-" + "a" * 20 + ".tar.gz",
            ContentType="application/json",
            Body=b"{}",
        )
    assert missing.value.response["Error"]["Code"] == "ValidationError"
    assert "Failed to download model data" in missing.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as traversal:
        runtime.invoke_endpoint(
            EndpointName=cloud.settings.hosting_endpoint, TargetModel="../x.tar.gz", Body=b"{}"
        )
    assert traversal.value.response["Error"]["Code"] == "ValidationError"
    # a model archive that tries to write outside its folder is refused before anything is extracted
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        payload = b"escaped"
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    evil_target = "0" * 32 + "/m-" + "e" * 20 + ".tar.gz"
    cloud.client("s3").put_object(
        Bucket=cloud.settings.hosting_bucket,
        Key=cloud.settings.models_prefix + evil_target,
        Body=archive.getvalue(),
    )
    with pytest.raises(ClientError) as unsafe:
        runtime.invoke_endpoint(
            EndpointName=cloud.settings.hosting_endpoint, TargetModel=evil_target, Body=b"{}"
        )
    assert unsafe.value.response["Error"]["Code"] == "ValidationError"
    assert "leaves the archive" in unsafe.value.response["Error"]["Message"]
    assert not list(cloud.state_dir.rglob("escaped.txt"))
    with pytest.raises(ClientError) as both:
        runtime.invoke_endpoint_async(
            EndpointName=cloud.settings.training_endpoint, InputLocation="s3://b/k", Body=b"x"
        )
    assert both.value.response["Error"]["Code"] == "ValidationError"
    # an inline payload that is not a training archive: queued, then an error notification with the reason
    queued = runtime.invoke_endpoint_async(
        EndpointName=cloud.settings.training_endpoint, Body=b"not a tar.gz", InferenceId="inline-garbage",
        ContentType="application/x-gzip", InvocationTimeoutSeconds=3600,
    )  # fmt: skip
    assert queued["InferenceId"] == "inline-garbage"
    _, raw = inbox.wait_for("inline-garbage")
    assert raw["invocationStatus"] == "Failed" and raw["failureReason"]
    assert "inputLocation" not in raw["requestParameters"]
    with pytest.raises(ClientError) as unknown:
        runtime.invoke_endpoint_async(EndpointName="no-such-endpoint", InputLocation="s3://b/k")
    assert unknown.value.response["Error"]["Code"] == "ValidationError"
