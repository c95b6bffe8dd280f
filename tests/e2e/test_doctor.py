"""`avatar doctor` / `make smoke` against the local cloud: the same checks as after a real deploy.

The local cloud provisions both endpoints as the stacks declare them (InferenceAmiVersion, startup
timeout). Its containers load the tiny model from a local folder, so the base-model step first fails
("not staged"); the test then stages the tiny model into the data bucket the way a deployment does
(content-addressed prefix + manifest) and points both models' environment at it, as `cdk deploy` would.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

import pytest

from avatar_client import cli
from avatar_client.doctor import MANIFEST_OBJECTS, Doctor, run_doctor, stack_outputs
from local_cloud import LocalCloud
from local_cloud.selfies import make_selfies, to_jpeg
from stacks.gpu_runtime import DEFAULT_AMI
from tests.e2e.helpers import FAST_TRAINING, client_for

STACK = "avatar-service"
TINY_GEN_ARGS = {"width": 64, "height": 64, "num_inference_steps": 2}


class _CloudSession:
    """What `avatar doctor` needs of a boto3 session, answered by the local cloud's clients."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.client = cloud.client


def _publish_outputs(cloud: LocalCloud) -> None:
    """The service stack's outputs the doctor reads, as a CloudFormation stack in moto."""
    settings = cloud.settings
    outputs = {
        "ApiUrl": cloud.api_url,
        "StatusQueueUrl": cloud.status_queue_url,
        "TrainingEndpointName": settings.training_endpoint,
        "HostingEndpointName": settings.hosting_endpoint,
    }
    template = {
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    cloud.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))


def _stage_base_model(cloud: LocalCloud, model_dir: Path) -> tuple[str, str, list[str]]:
    """Upload `model_dir` to base-models/<digest>/ with its manifest (written last); return the URI."""
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    entries = [
        {"path": p.relative_to(model_dir).as_posix(), "size": p.stat().st_size,
         "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p in files
    ]  # fmt: skip
    canonical = json.dumps([[e["path"], e["size"], e["sha256"]] for e in entries], separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    bucket, prefix = cloud.settings.data_bucket, f"base-models/{digest}/"
    s3 = cloud.client("s3")
    for path, entry in zip(files, entries, strict=True):
        s3.upload_file(str(path), bucket, prefix + entry["path"])
    manifest = {"format": 1, "name": "tiny", "files": entries}
    s3.put_object(Bucket=bucket, Key=prefix + MANIFEST_OBJECTS[0], Body=json.dumps(manifest).encode())
    return f"s3://{bucket}/{prefix}", digest, [e["path"] for e in entries]


def _point_models_at(cloud: LocalCloud, uri: str, digest: str | None) -> None:
    """Re-register both models with `uri` as their base model (what a deploy does)."""
    sagemaker = cloud.client("sagemaker")
    for name in (cloud.settings.training_model, cloud.settings.hosting_model):
        model = sagemaker.describe_model(ModelName=name)
        container = {
            **model["PrimaryContainer"],
            "Environment": {
                "AVATAR_BASE_MODEL": uri,
                **({"AVATAR_BASE_MODEL_SHA256": digest} if digest else {}),
            },
        }
        sagemaker.delete_model(ModelName=name)
        sagemaker.create_model(
            ModelName=name, PrimaryContainer=container, ExecutionRoleArn=model["ExecutionRoleArn"]
        )


def _doctor(cloud: LocalCloud, **amis: str) -> Doctor:
    outputs = stack_outputs(cloud.client("cloudformation"), STACK)
    return Doctor(
        outputs, cloud.client, expected_amis=amis or {"training": DEFAULT_AMI, "hosting": DEFAULT_AMI}
    )


def _cli(cloud: LocalCloud, *args: str) -> tuple[int, str]:
    parsed = cli.build_parser().parse_args(["doctor", "--stack", STACK, *args])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.doctor(parsed, session=_CloudSession(cloud))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def published(cloud: LocalCloud) -> LocalCloud:
    _publish_outputs(cloud)
    return cloud


def _lines(report_text: str) -> dict[str, str]:
    return {
        line.split(":")[0][6:]: line[:4] for line in report_text.splitlines() if line[:4] in ("PASS", "FAIL")
    }


@pytest.mark.slow
def test_doctor_before_and_after_staging_then_full_round_trip(
    published: LocalCloud, tiny_model_dir: Path
) -> None:
    cloud = published
    settings = cloud.settings
    # 1. As the local cloud runs it: endpoints and queue pass; the base model is a local folder.
    _point_models_at(cloud, str(tiny_model_dir), None)
    code, text = _cli(cloud, "--training-ami", DEFAULT_AMI, "--hosting-ami", DEFAULT_AMI)
    lines = _lines(text)
    assert code == 1, text
    assert lines[f"training endpoint {settings.training_endpoint}"] == "PASS", text
    assert lines[f"hosting endpoint {settings.hosting_endpoint}"] == "PASS", text
    assert lines["status queue"] == "PASS", text
    assert lines["base model"] == "FAIL", text
    assert "FAILED: 3/4 passed" in text

    # 2. Staged and deployed: every quick check passes, and the CLI exits 0.
    uri, digest, paths = _stage_base_model(cloud, tiny_model_dir)
    _point_models_at(cloud, uri, digest)
    code, text = _cli(cloud, "--training-ami", DEFAULT_AMI, "--hosting-ami", DEFAULT_AMI)
    assert code == 0, text
    assert f"PASS  base model: {uri}: {len(paths)} files" in text
    assert "OK: 4/4 passed" in text

    # 3. --full: one short training and one generation through the API, as a client.
    client = client_for(cloud, cloud.principals[0])
    selfies = [to_jpeg(image) for image in make_selfies(10)]
    out = io.StringIO()
    report = run_doctor(
        _doctor(cloud), out, client=client, selfies=selfies, training_config=FAST_TRAINING,
        gen_args=TINY_GEN_ARGS, timeout=300, poll_interval=1,
    )  # fmt: skip
    assert report.ok, out.getvalue()
    assert [c.name for c in report.checks][-2:] == ["training", "generation"]
    assert "OK: 6/6 passed" in out.getvalue()


@pytest.mark.slow
def test_doctor_catches_a_wrong_ami_and_a_damaged_base_model(
    published: LocalCloud, tiny_model_dir: Path
) -> None:
    cloud = published
    uri, digest, paths = _stage_base_model(cloud, tiny_model_dir)
    _point_models_at(cloud, uri, digest)
    wrong = _doctor(cloud, training="al2-ami-sagemaker-inference-gpu-3-1", hosting=DEFAULT_AMI)
    check = wrong.check_endpoint("training")
    assert not check.ok and "expected al2-ami-sagemaker-inference-gpu-3-1" in check.detail

    bucket, prefix = uri.removeprefix("s3://").split("/", 1)
    damaged = next(p for p in paths if p.endswith(".json") and "/" in p)
    cloud.client("s3").delete_object(Bucket=bucket, Key=prefix + damaged)
    check = _doctor(cloud).check_base_model()
    assert not check.ok and f"{damaged} is missing" in check.detail

    _point_models_at(cloud, uri, "0" * 64)
    check = _doctor(cloud).check_base_model()
    assert not check.ok and "not the expected digest" in check.detail


def test_stack_outputs_are_read_from_describe_stacks(published: LocalCloud) -> None:
    outputs = stack_outputs(published.client("cloudformation"), STACK)
    assert outputs["TrainingEndpointName"] == published.settings.training_endpoint
    assert outputs["StatusQueueUrl"] == published.status_queue_url


def test_doctor_refuses_outputs_of_another_stack(published: LocalCloud) -> None:
    with pytest.raises(ValueError, match="TrainingEndpointName"):
        Doctor({"ApiUrl": "x"}, published.client)
