"""`avatar doctor` (`make smoke`): is a deployed stack ready to serve? One pass/fail line per step.

Given the service stack's CloudFormation outputs (DescribeStacks), it checks with the caller's AWS
credentials that:
- both endpoints are InService and run the expected InferenceAmiVersion
  (DescribeEndpoint -> DescribeEndpointConfig -> ProductionVariants[].InferenceAmiVersion);
- the base model both containers load (`AVATAR_BASE_MODEL` in each model's environment) is staged in S3:
  its manifest (`base-model-manifest.json`, or `manifest.json`) is there and every file it lists is
  present with the listed size, and the prefix is the digest the container expects
  (`AVATAR_BASE_MODEL_SHA256`, when set);
- the status queue is reachable (GetQueueAttributes);
- with `full`: one short training from the given selfies, then one generation with the new model,
  through the API (SigV4, as every client) — slow on a cold stack (the training endpoint scales from 0).

The same code runs in the tests against the local cloud (tests/e2e/test_doctor.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

from avatar_contract.names import Env
from avatar_contract.status import TrainingStatus

BASE_MODEL_ENV = Env.BASE_MODEL
BASE_MODEL_SHA256_ENV = "AVATAR_BASE_MODEL_SHA256"
MANIFEST_OBJECTS = ("base-model-manifest.json", "manifest.json")
REQUIRED_OUTPUTS = ("TrainingEndpointName", "HostingEndpointName", "StatusQueueUrl")
# A short training: the minimum the API accepts for a smoke test (see the training config's bounds).
SMOKE_TRAINING_CONFIG: dict[str, Any] = {"max_train_steps": 10, "with_prior_preservation": False}
SMOKE_PROMPT = "a photo of <<TOK>>"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, check: Check, out: TextIO | None = None) -> Check:
        self.checks.append(check)
        if out is not None:
            print(check.line(), file=out, flush=True)
        return check


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """`OutputKey -> OutputValue` of a deployed stack (DescribeStacks)."""
    [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def split_s3_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parts.netloc, parts.path.lstrip("/")


class Doctor:
    """The checks; `clients(service)` gives boto3 clients (sagemaker, s3, sqs) for the deployment."""

    def __init__(
        self,
        outputs: Mapping[str, str],
        clients: Callable[[str], Any],
        expected_amis: Mapping[str, str | None] | None = None,
    ) -> None:
        missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
        if missing:
            raise ValueError(f"the stack outputs lack {', '.join(missing)}: is this the service stack?")
        self.outputs = dict(outputs)
        self.clients = clients
        self.expected_amis = dict(expected_amis or {})
        self.sagemaker = clients("sagemaker")

    @property
    def endpoints(self) -> dict[str, str]:
        return {
            "training": self.outputs["TrainingEndpointName"],
            "hosting": self.outputs["HostingEndpointName"],
        }

    # --- the quick checks --------------------------------------------------------------------------

    def check_endpoint(self, role: str) -> Check:
        name = self.endpoints[role]
        step = f"{role} endpoint {name}"
        try:
            endpoint = self.sagemaker.describe_endpoint(EndpointName=name)
            config = self.sagemaker.describe_endpoint_config(
                EndpointConfigName=endpoint["EndpointConfigName"]
            )
        except Exception as exc:
            return Check(step, False, f"cannot describe it: {exc}")
        status = endpoint["EndpointStatus"]
        if status != "InService":
            reason = endpoint.get("FailureReason")
            return Check(step, False, f"status {status}" + (f" ({reason})" if reason else ""))
        amis = {v.get("InferenceAmiVersion") for v in config["ProductionVariants"]}
        expected = self.expected_amis.get(role)
        if None in amis:
            return Check(
                step, False, "a production variant sets no InferenceAmiVersion (driver 470 / CUDA 11.4)"
            )
        if expected and amis != {expected}:
            return Check(step, False, f"runs {', '.join(sorted(amis))}, expected {expected}")
        return Check(step, True, f"InService on {', '.join(sorted(amis))}")

    def _model_environments(self) -> dict[str, dict[str, str]]:
        found = {}
        for role, name in self.endpoints.items():
            endpoint = self.sagemaker.describe_endpoint(EndpointName=name)
            config = self.sagemaker.describe_endpoint_config(
                EndpointConfigName=endpoint["EndpointConfigName"]
            )
            for variant in config["ProductionVariants"]:
                model = self.sagemaker.describe_model(ModelName=variant["ModelName"])
                container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
                found[f"{role} model {variant['ModelName']}"] = container.get("Environment") or {}
        return found

    def check_base_model(self) -> Check:
        step = "base model"
        try:
            environments = self._model_environments()
        except Exception as exc:
            return Check(step, False, f"cannot read the models' environment: {exc}")
        locations = {env.get(BASE_MODEL_ENV) for env in environments.values()}
        digests = {env.get(BASE_MODEL_SHA256_ENV) for env in environments.values()}
        if len(locations) != 1 or None in locations:
            shown = ", ".join(f"{model}: {env.get(BASE_MODEL_ENV)!r}" for model, env in environments.items())
            return Check(step, False, f"the models do not load one base model ({shown})")
        [location] = locations
        assert location is not None
        if not location.startswith("s3://"):
            return Check(step, False, f"{location!r} is not staged in S3 (run `make stage-base-model`)")
        try:
            detail = self._verify_staged(location, next(iter(digests)) if len(digests) == 1 else None)
        except _StagingProblem as problem:
            return Check(step, False, f"{location}: {problem}")
        except Exception as exc:
            return Check(step, False, f"{location}: cannot read it: {exc}")
        return Check(step, True, f"{location}: {detail}")

    def _verify_staged(self, location: str, digest: str | None) -> str:
        bucket, prefix = split_s3_uri(location)
        prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        if digest and digest not in prefix.split("/"):
            raise _StagingProblem(f"the prefix is not the expected digest {digest}")
        s3 = self.clients("s3")
        sizes = _object_sizes(s3, bucket, prefix)
        manifest_name = next((name for name in MANIFEST_OBJECTS if name in sizes), None)
        if manifest_name is None:
            raise _StagingProblem(
                f"no {' or '.join(MANIFEST_OBJECTS)}: not staged, or staging did not finish"
            )
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=prefix + manifest_name)["Body"].read())
        files = manifest.get("files") or []
        if not files:
            raise _StagingProblem(f"{manifest_name} lists no files")
        problems = []
        for entry in files:
            path, size = entry.get("path"), entry.get("size")
            if path not in sizes:
                problems.append(f"{path} is missing")
            elif isinstance(size, int) and sizes[path] != size:
                problems.append(f"{path} is {sizes[path]} bytes, the manifest says {size}")
        if problems:
            raise _StagingProblem(
                "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
            )
        total = sum(sizes[e["path"]] for e in files)
        return f"{len(files)} files ({total / 1e6:,.1f} MB) match {manifest_name}"

    def check_status_queue(self) -> Check:
        url = self.outputs["StatusQueueUrl"]
        step = "status queue"
        try:
            attributes = self.clients("sqs").get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "QueueArn"]
            )["Attributes"]
        except Exception as exc:
            return Check(step, False, f"{url}: {exc}")
        return Check(
            step, True, f"{url} reachable, {attributes.get('ApproximateNumberOfMessages', '?')} waiting"
        )

    def quick_checks(self) -> Iterable[Check]:
        yield self.check_endpoint("training")
        yield self.check_endpoint("hosting")
        yield self.check_base_model()
        yield self.check_status_queue()

    # --- the full round trip -----------------------------------------------------------------------

    def full_checks(
        self,
        client: Any,
        selfies: Sequence[bytes],
        *,
        training_config: Mapping[str, Any] | None = None,
        gen_args: Mapping[str, Any] | None = None,
        timeout: float = 3600,
        poll_interval: float = 10,
    ) -> Iterable[Check]:
        """One training through the API, then one generation with its model (`client`: AvatarClient)."""
        started = time.monotonic()
        config = {**SMOKE_TRAINING_CONFIG, **(training_config or {})}
        try:
            accepted = client.start_training(list(selfies), model_name="smoke-test", config=config)
            status = client.wait_for_training(
                accepted["training_id"], timeout=timeout, poll_interval=poll_interval
            )
        except Exception as exc:
            yield Check("training", False, f"{type(exc).__name__}: {exc}")
            return
        seconds = time.monotonic() - started
        if status.get("status") != TrainingStatus.COMPLETED:
            yield Check(
                "training", False, f"{accepted['training_id']} {status.get('status')}: {status.get('reason')}"
            )
            return
        model_id = status.get("model_id") or accepted["model_id"]
        yield Check(
            "training", True, f"{accepted['training_id']} completed in {seconds:.0f} s (model {model_id})"
        )
        started = time.monotonic()
        try:
            result = client.generate(model_id, SMOKE_PROMPT, **{"num_images": 1, **(gen_args or {})})
        except Exception as exc:
            yield Check("generation", False, f"{type(exc).__name__}: {exc}")
            return
        if not result.images or not all(image.startswith(b"\x89PNG") for image in result.images):
            yield Check("generation", False, "the answer holds no PNG image")
            return
        yield Check(
            "generation",
            True,
            f"{len(result.images)} image(s) in {time.monotonic() - started:.0f} s (seed {result.seed})",
        )


class _StagingProblem(Exception):
    pass


def _object_sizes(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """Relative path -> size of every object under `prefix`."""
    sizes: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            sizes[item["Key"][len(prefix) :]] = item["Size"]
    return sizes


def run_doctor(
    doctor: Doctor,
    out: TextIO,
    *,
    client: Any = None,
    selfies: Sequence[bytes] = (),
    **full_options: Any,
) -> Report:
    """Every quick check, then (when `client` is given) the full round trip; printed as they finish."""
    report = Report()
    for check in doctor.quick_checks():
        report.add(check, out)
    if client is not None:
        if not report.ok:
            report.add(Check("full round trip", False, "skipped: a quick check failed"), out)
        else:
            for check in doctor.full_checks(client, selfies, **full_options):
                report.add(check, out)
    print(
        f"{'OK' if report.ok else 'FAILED'}: {sum(c.ok for c in report.checks)}/{len(report.checks)} passed",
        file=out,
    )
    return report
