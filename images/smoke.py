"""Smoke-run both built images the way SageMaker does: the image's entry point with the argument `serve`,
its own environment plus what SageMaker and the stacks set, port 8080; AWS is moto's server on this host
(a chroot shares the host's network).

Once per base family asked for (`make images` smoke-runs both, sd21-base and sdxl-base-1.0, in the same
built images: each family's tiny random-weight pipeline staged as its base model, the containers told the
family as the stacks tell them, `AVATAR_BASE_FAMILY`):
training: `/ping` 200; one `/invocations` training of the tiny random model from a real input archive
(face photos + config.json); the artifact lands in moto's S3.
hosting: `/ping` 200; the artifact of that training loaded through the multi-model API (`POST /models`
with the target-model header, the model extracted where SageMaker puts it, /opt/ml/models/<hash>/model);
the reference payload (`prompt`, `negative_prompt`, `gen_args`) answered with an image; the model unloaded.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import requests
from PIL import Image, ImageEnhance, ImageOps

from avatar_contract.families import ARTIFACT_FAMILY_METADATA, DEFAULT_FAMILY, FamilyName
from avatar_contract.generation import build_inference_request, images_from_response
from avatar_contract.keys import model_key, new_model_id, new_training_id, preview_prefix
from avatar_contract.names import Env, Runtime
from avatar_runtime.base_model import Source
from avatar_runtime.ports import free_port
from base_model_staging import sources, staging
from images import buildah as bh
from images.tarfile_check import tarfile_check
from locks.environments import REPO_ROOT

REGION = "us-east-1"
DATA_BUCKET = "avatar-smoke-data"
HOSTING_BUCKET = "avatar-smoke-hosting"
PORT = Runtime.CONTAINER_PORT
TARGET_HEADER = "X-Amzn-SageMaker-Target-Model"


@dataclass
class Check:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def run(self, name: str, step: Callable[[], str | None]) -> bool:
        started = time.monotonic()
        try:
            detail, ok = step() or "", True
        except Exception as error:  # a failed check is reported, and the next image still runs
            detail, ok = f"{type(error).__name__}: {error}"[-3000:], False
        check = Check(name, ok, time.monotonic() - started, detail)
        self.checks.append(check)
        suffix = f": {detail}" if detail else ""
        print(f"{'PASS' if ok else 'FAIL'} {name} ({check.seconds:.1f}s){suffix}", flush=True)
        return ok

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


def _fail(reason: str) -> Callable[[], str]:
    def step() -> str:
        raise RuntimeError(reason)

    return step


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait_http(url: str, timeout_s: float, alive: Callable[[], bool]) -> requests.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the container exited before {url} answered")
        try:
            return requests.get(url, timeout=5)
        except requests.RequestException:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f}s")


@contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """moto's server on a free local port (the AWS endpoint for both containers)."""
    port = free_port()
    log = open(log_dir / "moto.log", "ab")  # noqa: SIM115 (closed below)
    command = [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/moto-api/", 30, lambda: process.poll() is None)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


class Container:
    """A working container of an image, its entry point run with `serve` under `buildah run` (chroot)."""

    def __init__(self, image: str, env: dict[str, str], log_path: Path) -> None:
        config = bh.image_config(image)
        self.command = [*(config.get("Entrypoint") or []), "serve"]  # `docker run <image> serve`
        self.container, self.root = bh.mount_image(image)
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        env_args = [arg for name, value in env.items() for arg in ("--env", f"{name}={value}")]
        run = ["buildah", "run", "--isolation", bh.ISOLATION, *env_args, self.container, "--", *self.command]
        self.process = subprocess.Popen(
            run, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log.close()
        bh.remove_container(self.container)


def container_env(endpoint_url: str, base_model: str, family: FamilyName = DEFAULT_FAMILY) -> dict[str, str]:
    """What the stacks (and the local cloud) give both containers; AWS credentials are moto's."""
    return {
        Env.BASE_FAMILY: str(family),
        "AWS_ACCESS_KEY_ID": "smoke",
        "AWS_SECRET_ACCESS_KEY": "smoke",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        Env.AWS_ENDPOINT_URL: endpoint_url,
        Env.BASE_MODEL: base_model,
        Env.DATA_BUCKET: DATA_BUCKET,
        Env.HOSTING_BUCKET: HOSTING_BUCKET,
        "AVATAR_TRAINING_SAMPLE_STEPS": "3",
        "AVATAR_TRAINING_LOG_EVERY": "2",
    }


def stage_base_model(s3: Any, pipeline_dir: Path, family: FamilyName = DEFAULT_FAMILY) -> str:
    """The tiny pipeline staged into moto's S3 as `make stage-base-model` stages a deployment's base model:
    a manifest recorded from the folder, the verified files under `base-models/<digest>/`."""
    manifest = sources.record(Source("directory", path=str(pipeline_dir)), f"tiny-{family}")
    return staging.stage(manifest, DATA_BUCKET, s3, lambda _paths: pipeline_dir, progress=False).uri


def face_photos(count: int, seed: int = 0) -> dict[str, bytes]:
    """`count` JPEG selfies of one person: scikit-image's astronaut, varied by crop, flip and colour."""
    from skimage import data

    base, rng, photos = Image.fromarray(data.astronaut()), np.random.default_rng(seed), {}
    for n in range(count):
        left, top = int(rng.integers(0, 60)), int(rng.integers(0, 40))
        side = int(rng.integers(380, 512 - max(left, top)))
        image = base.crop((left, top, left + side, top + side))
        image = ImageOps.mirror(image) if n % 2 else image
        image = ImageEnhance.Color(image).enhance(float(rng.uniform(0.5, 1.4)))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        photos[f"selfie-{n:02d}.jpg"] = buffer.getvalue()
    return photos


def input_archive() -> tuple[bytes, dict[str, Any]]:
    """A training input archive as the API writes it: photos and a config.json for a fast tiny training."""
    owner = secrets.token_hex(16)  # any owner id: the API makes them (keyed HMACs)
    training_id, model_id = new_training_id(), new_model_id()
    config = {
        "training_id": training_id, "model_id": model_id, "owner": owner, "model_name": "smoke",
        "model_s3_uri": f"s3://{HOSTING_BUCKET}/{model_key(owner, model_id)}",
        "preview_s3_prefix": f"s3://{DATA_BUCKET}/{preview_prefix(owner, training_id)}",
        "max_train_steps": 4, "resolution": 64, "lora_rank": 4, "text_encoder_lora_rank": 4,
        "num_class_images": 2, "validation_prompts": ["a photo of <<TOK>>"],
    }  # fmt: skip
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in {**face_photos(10), "config.json": json.dumps(config).encode()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue(), config


def _s3_split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def smoke_training(
    report: Report, image: str, env: dict[str, str], s3: Any, log_dir: Path
) -> tuple[str, str] | None:
    """Run the training image; (target model, artifact S3 URI) of the model it trained, or None."""
    family = env[Env.BASE_FAMILY]
    if not _free(PORT):
        report.run(f"{family} training: port 8080 free", _fail(f"port {PORT} is in use on this machine"))
        return None
    container = Container(image, env, log_dir / f"training-container-{family}.log")
    result: dict[str, Any] = {}
    try:
        url = f"http://127.0.0.1:{PORT}"

        def ping() -> str:
            reply = _wait_http(f"{url}/ping", 300, container.alive)
            assert reply.status_code == 200, f"/ping answered {reply.status_code}: {reply.text[:300]}"
            return reply.text.strip()

        def train() -> str:
            body, config = input_archive()
            headers = {"Content-Type": "application/octet-stream"}
            reply = requests.post(f"{url}/invocations", data=body, headers=headers, timeout=900)
            assert reply.status_code == 200, f"/invocations answered {reply.status_code}: {reply.text[:1000]}"
            result.update(reply.json())
            assert result["model_s3_uri"] == config["model_s3_uri"], result
            return f"{result['metrics']['steps']} steps in {result['metrics']['seconds']:.1f}s"

        def artifact() -> str:
            # The training stages its model; the model publisher (a Lambda function in the stack) checks it
            # and writes the artifact (issue 21 M1): run its domain function here as the stack would.
            sys.path.insert(0, str(REPO_ROOT / "lambdas"))
            from avatar_api.adapters.aws import Bucket
            from avatar_api.domain.publishing import publish

            data, hosting = Bucket(DATA_BUCKET, s3), Bucket(HOSTING_BUCKET, s3)
            owner = result["target_model"].split("/")[0]
            outcome = publish(data, hosting, owner, result["training_id"], result["model_id"])
            assert outcome == "published", outcome
            bucket, key = _s3_split(result["model_s3_uri"])
            head = s3.head_object(Bucket=bucket, Key=key)
            blob = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
                names = tar.getnames()
            assert any(n.endswith("pytorch_lora_weights.safetensors") for n in names), names
            assert head["Metadata"].get(ARTIFACT_FAMILY_METADATA) == family, head["Metadata"]
            return f"s3://{bucket}/{key} ({head['ContentLength']} bytes, {family})"

        ok = report.run(f"{family} training: /ping 200", ping)
        ok = ok and report.run(f"{family} training: /invocations trains the tiny model", train)
        ok = ok and report.run(f"{family} training: artifact in S3", artifact)
        return (result["target_model"], result["model_s3_uri"]) if ok else None
    finally:
        if not report.ok:
            print(container.log_tail(), flush=True)
        container.stop()


def smoke_hosting(
    report: Report, image: str, env: dict[str, str], s3: Any, model: tuple[str, str], log_dir: Path
) -> None:
    """Run the hosting image; `model`: (target model, artifact URI), the URI ending in the target model."""
    target, artifact_uri = model
    assert artifact_uri.endswith("/" + target), (target, artifact_uri)  # <ModelDataUrl><TargetModel>
    family = env[Env.BASE_FAMILY]
    hosting_env = {**env, "SAGEMAKER_MULTI_MODEL": "true"}
    container = Container(image, hosting_env, log_dir / f"hosting-container-{family}.log")
    failures = len([c for c in report.checks if not c.ok])
    try:
        url = f"http://127.0.0.1:{PORT}"
        name = hashlib.md5(target.encode(), usedforsecurity=False).hexdigest()  # as SageMaker names it
        model_dir = f"/opt/ml/models/{name}/model"
        headers = {TARGET_HEADER: target}

        def ping() -> str:
            reply = _wait_http(f"{url}/ping", 600, container.alive)
            assert reply.status_code == 200, f"/ping answered {reply.status_code}: {reply.text[:300]}"
            return "200 (Triton answers /ping once sd_base has loaded)"

        def load() -> str:
            # SageMaker downloads <ModelDataUrl><TargetModel> and extracts it before POST /models.
            bucket, key = _s3_split(artifact_uri)
            archive = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            destination = container.root / model_dir.lstrip("/")
            destination.mkdir(parents=True, exist_ok=True)
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(destination, filter="data")
            body = {"model_name": name, "url": model_dir}
            reply = requests.post(f"{url}/models", json=body, headers=headers, timeout=360)
            assert reply.status_code == 200, f"POST /models answered {reply.status_code}: {reply.text[:1000]}"
            return f"{target} as {name}"

        def invoke(finishing: dict[str, Any] | None = None) -> str:
            # the smallest size every family allows: the tiny models' native sizes cost minutes on a CPU
            gen_args = {"num_inference_steps": 3, "guidance_scale": 7.5, "seed": 0, "width": 64, "height": 64}
            gen_args |= finishing or {}
            payload = build_inference_request("a photo of sks person", "blurry, low quality", gen_args)
            reply = requests.post(f"{url}/models/{name}/invoke", json=payload, headers=headers, timeout=300)
            assert reply.status_code == 200, f"invoke answered {reply.status_code}: {reply.text[:1000]}"
            images = images_from_response(reply.json())
            picture = Image.open(io.BytesIO(base64.b64decode(images[0])))
            picture.load()
            return f"{len(images)} image(s), {picture.format} {picture.size[0]}x{picture.size[1]}"

        def unload() -> str:
            reply = requests.delete(f"{url}/models/{name}", headers=headers, timeout=120)
            assert reply.status_code == 200, f"DELETE answered {reply.status_code}: {reply.text[:500]}"
            after = requests.get(f"{url}/models/{name}", headers=headers, timeout=30)
            assert after.status_code == 404, f"GET /models/{name} after unload answered {after.status_code}"
            return "unloaded (404 afterwards)"

        ok = report.run(f"{family} hosting: /ping 200", ping)
        ok = ok and report.run(f"{family} hosting: POST /models loads the trained model", load)
        ok = ok and report.run(f"{family} hosting: reference payload answered", invoke)
        # The face model is in the image: face_detail runs (a 400 "not available" otherwise).
        ok = ok and report.run(
            f"{family} hosting: face_detail answered (the face model is in the image)",
            lambda: invoke({"face_detail": {"steps": 1}}),
        )
        ok and report.run(f"{family} hosting: model unloaded", unload)
    finally:
        if len([c for c in report.checks if not c.ok]) > failures:
            print(container.log_tail(), flush=True)
        container.stop()


def smoke(
    training_image: str,
    hosting_image: str,
    pipelines: Mapping[FamilyName, Path],
    log_dir: Path,
    waiver: str = "",
) -> Report:
    """`pipelines`: each family to smoke-run, with its tiny pipeline (staged as that family's base)."""
    report = Report()
    log_dir.mkdir(parents=True, exist_ok=True)
    tarfile_check(report, training_image, "python", waiver)
    tarfile_check(report, hosting_image, "python3", waiver)
    with moto_server(log_dir) as endpoint_url:
        s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint_url,
                          aws_access_key_id="smoke", aws_secret_access_key="smoke")  # fmt: skip
        for bucket in (DATA_BUCKET, HOSTING_BUCKET):
            s3.create_bucket(Bucket=bucket)
        for family, pipeline_dir in pipelines.items():
            env = container_env(endpoint_url, stage_base_model(s3, pipeline_dir, family), family)
            model = smoke_training(report, training_image, env, s3, log_dir)
            if model is None:
                report.run(f"{family} hosting: smoke run", _fail("skipped: the training produced no model"))
            else:
                smoke_hosting(report, hosting_image, env, s3, model, log_dir)
    return report
