"""avatar_client.doctor on moto alone: what each quick check reports (the local-cloud run is in e2e)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from avatar_client.doctor import Doctor, run_doctor

ROLE = "arn:aws:iam::123456789012:role/sagemaker"
AMI = "al2023-ami-sagemaker-inference-gpu-4-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield lambda service: boto3.client(service, region_name="us-east-1")


def _endpoint(clients: Any, name: str, ami: str | None, env: dict[str, str]) -> None:
    sagemaker = clients("sagemaker")
    sagemaker.create_model(
        ModelName=f"{name}-model",
        PrimaryContainer={"Image": "img", "Environment": env},
        ExecutionRoleArn=ROLE,
    )
    variant = {"VariantName": "AllTraffic", "ModelName": f"{name}-model", "InitialInstanceCount": 1,
               "InstanceType": "ml.g4dn.xlarge", **({"InferenceAmiVersion": ami} if ami else {})}  # fmt: skip
    sagemaker.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")


def _deployment(clients: Any, training_ami: str | None, base_model: str) -> Doctor:
    env = {"AVATAR_BASE_MODEL": base_model}
    _endpoint(clients, "avatar-training", training_ami, env)
    _endpoint(clients, "avatar-hosting", AMI, env)
    queue = clients("sqs").create_queue(QueueName="avatar-training-status")["QueueUrl"]
    outputs = {"TrainingEndpointName": "avatar-training", "HostingEndpointName": "avatar-hosting",
               "StatusQueueUrl": queue}  # fmt: skip
    return Doctor(outputs, clients, expected_amis={"training": AMI, "hosting": AMI})


def test_a_variant_without_ami_fails(aws: Any) -> None:
    doctor = _deployment(aws, None, "s3://bucket/base-models/x/")
    check = doctor.check_endpoint("training")
    assert not check.ok and "sets no InferenceAmiVersion" in check.detail
    assert doctor.check_endpoint("hosting").ok


def test_a_hub_id_is_not_staged(aws: Any) -> None:
    check = _deployment(aws, AMI, "stabilityai/stable-diffusion-2-1-base").check_base_model()
    assert not check.ok and "not staged in S3" in check.detail and "make stage-base-model" in check.detail


def test_a_prefix_without_manifest_fails_and_one_with_it_passes(aws: Any) -> None:
    s3 = aws("s3")
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="base/model_index.json", Body=b"{}")
    doctor = _deployment(aws, AMI, "s3://data/base")
    check = doctor.check_base_model()
    assert not check.ok and "no base-model-manifest.json or manifest.json" in check.detail
    manifest = {"files": [{"path": "model_index.json", "size": 2}, {"path": "unet/w.safetensors", "size": 5}]}
    s3.put_object(Bucket="data", Key="base/manifest.json", Body=json.dumps(manifest).encode())
    check = doctor.check_base_model()
    assert not check.ok and "unet/w.safetensors is missing" in check.detail
    s3.put_object(Bucket="data", Key="base/unet/w.safetensors", Body=b"1234")
    check = doctor.check_base_model()
    assert not check.ok and "is 4 bytes, the manifest says 5" in check.detail
    s3.put_object(Bucket="data", Key="base/unet/w.safetensors", Body=b"12345")
    assert doctor.check_base_model().ok


def test_unreachable_queue_fails_and_the_report_says_so(aws: Any) -> None:
    doctor = _deployment(aws, AMI, "not-s3")
    doctor.outputs["StatusQueueUrl"] = "https://sqs.us-east-1.amazonaws.com/123456789012/missing"
    out = io.StringIO()
    report = run_doctor(doctor, out)
    assert not report.ok
    assert "FAIL  status queue" in out.getvalue() and "FAILED: 2/4 passed" in out.getvalue()


def test_cli_fails_clearly_when_the_stack_is_not_there(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from avatar_client import cli

    args = cli.build_parser().parse_args(["doctor", "--stack", "avatar-service"])
    assert cli.doctor(args, session=SimpleNamespace(client=aws)) == 1
    assert "FAIL  stack avatar-service: cannot read its outputs" in capsys.readouterr().out
