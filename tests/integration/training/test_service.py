"""The training service end to end over HTTP: real archives in, a real model in (moto's) S3 out."""

from __future__ import annotations

import http.client
import io
import json
import tarfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import StableDiffusionPipeline

from avatar_api.adapters.aws import Bucket
from avatar_api.domain.publishing import publish
from avatar_contract.keys import TRAINING_ID_RE, model_key, progress_key, publication_key, staged_prefix
from avatar_contract.names import Prefix, Triton
from avatar_contract.progress import TrainingProgress
from avatar_contract.publishing import STAGED_ADAPTER, STAGED_METADATA
from avatar_contract.training import TrainingFailure, TrainingResult
from avatar_runtime.artifact import artifact_members
from avatar_runtime.rendering import RENDER_VERSION
from tests.fixtures.training_samples import (
    bomb_tar,
    face_photos,
    faceless_photos,
    many_members_tar,
    tar_bytes,
    tar_with_member,
    training_config,
    with_config,
)
from tests.integration.training.conftest import DATA_BUCKET, HOSTING_BUCKET, RunningService, start
from training_service.config import REFERENCE_OWNER
from training_service.service import TrainingService
from training_service.storage import S3Store


def _render(pipe: StableDiffusionPipeline) -> torch.Tensor:
    generator = torch.Generator("cpu").manual_seed(7)
    out = pipe("a photo of sks person", height=64, width=64, num_inference_steps=3, generator=generator,
               output_type="pt")  # fmt: skip
    return out.images


def _extract_model(s3: Any, key: str, target: Path) -> Path:
    blob = s3.get_object(Bucket=HOSTING_BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == sorted(
            artifact_members(key.rsplit("/", 1)[1].removesuffix(".tar.gz"))
        )
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.mark.slow
def test_training_publishes_a_model_whose_adapter_changes_the_output(
    running: RunningService, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = training_config(HOSTING_BUCKET, DATA_BUCKET)
    archive = tar_bytes(with_config(face_photos(10), config))
    # Hold the training at its first upload, so the second request surely meets it still running.
    release = threading.Event()
    upload = running.service.store.upload_file

    held_keys: list[str] = []

    def held_upload(*args: Any, **kwargs: Any) -> Any:
        held_keys.append(args[2])
        release.wait(120)
        return upload(*args, **kwargs)

    monkeypatch.setattr(running.service.store, "upload_file", held_upload)
    replies: list = []
    worker = threading.Thread(target=lambda: replies.append(running.post(archive)))
    worker.start()
    pings = [running.get("/ping")]  # /ping answers while the training holds its request
    while not pings[-1].body["training"] and worker.is_alive():
        time.sleep(0.1)
        pings.append(running.get("/ping"))
    assert running.post(archive).status == 429  # one training at a time
    # held at its first upload (previews, or the class images' cache): the progress object says so
    while not held_keys:
        assert worker.is_alive(), replies
        time.sleep(0.1)
    phase = "publishing" if "/previews/" in held_keys[0] else "class_images"
    deadline = time.monotonic() + 60  # written by a background thread
    while (held := _progress(running, config)) is None or held.phase != phase:
        assert time.monotonic() < deadline, held
        time.sleep(0.1)
    release.set()
    worker.join()

    assert all(p.status == 200 for p in pings) and any(p.body["training"] for p in pings)
    reply = replies[0]
    assert reply.status == 200, reply.body
    result = TrainingResult.model_validate(reply.body)
    assert (result.training_id, result.model_id) == (config["training_id"], config["model_id"])
    assert result.target_model == f"{config['owner']}/{config['model_id']}.tar.gz"
    assert result.model_s3_uri == config["model_s3_uri"]
    assert result.metrics.steps == 6 and result.metrics.usable_images == 10
    assert result.metrics.final_loss > 0
    written = [k for k in running.keys(DATA_BUCKET) if not k.startswith(Prefix.CLASS_IMAGES)]  # shared cache
    progress = progress_key(config["owner"], config["training_id"])
    staged = [
        staged_prefix(config["owner"], config["training_id"]) + n for n in (STAGED_ADAPTER, STAGED_METADATA)
    ]
    assert sorted(written) == sorted([*result.metrics.preview_image_keys, progress, *staged])
    final = _progress(running, config)
    assert final is not None and final.phase == "completed"
    assert (final.step, final.total_steps, final.eta_seconds) == (6, 6, 0.0)
    assert held.elapsed_seconds > 0 and held.step == (6 if phase == "publishing" else 0)
    assert len(result.metrics.preview_image_keys) == 2  # checkpoint selection: one prompt, two seeds
    assert result.metrics.checkpoint_step == 6 and not result.metrics.stopped_early
    # The training writes no model (issue 21 M1): the publisher checks what it staged and publishes it.
    assert running.keys(HOSTING_BUCKET) == []
    data, hosting = Bucket(DATA_BUCKET, running.s3), Bucket(HOSTING_BUCKET, running.s3)
    outcome = publish(data, hosting, config["owner"], config["training_id"], config["model_id"])
    assert outcome == "published", data.get_json(publication_key(config["owner"], config["training_id"]))
    key = model_key(config["owner"], config["model_id"])
    assert running.keys(HOSTING_BUCKET) == [key]

    model_dir = _extract_model(running.s3, key, tmp_path / "model") / config["model_id"]
    assert (model_dir / "config.pbtxt").is_file()
    version = model_dir / Triton.VERSION_DIR
    metadata = json.loads((version / Triton.METADATA_FILE).read_text())
    assert metadata["token"] == "sks" and metadata["training_id"] == config["training_id"]
    # what the adapter was trained on: <<TOK>> is the token and the class noun (as hosting renders it)
    assert metadata["instance_prompt"] == "a photo of sks person"
    assert metadata["class_prompt"] == "a photo of person"
    assert metadata["class_noun"] == "person" and metadata["render_version"] == RENDER_VERSION
    assert metadata["base_family"] == "sd21-base"  # the endpoint's family (AVATAR_BASE_FAMILY unset)
    assert metadata["lora_rank"] == 4 and metadata["text_encoder_lora_rank"] == 4

    pipe = StableDiffusionPipeline.from_pretrained(tiny_model_dir, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    before = _render(pipe)
    pipe.load_lora_weights(version, weight_name=Triton.ADAPTER_FILE)
    after = _render(pipe)
    assert (after - before).abs().max() > 1e-4


@pytest.mark.slow
def test_reference_layout_trains(running: RunningService) -> None:
    reference_config = {
        "face_preprocessing": True,
        "n_steps": 4,
        "resolution": 64,
        "concept_prompt": "photo of <<TOK>>",
        "lora_r": 4,
        "lora_alpha": 1,
        "lora_text_encoder_r": 4,
        "with_prior_preservation": False,
        "fp16": True,
        "use_8bit_adam": True,
    }
    files = {**face_photos(9), "config.json": json.dumps(reference_config).encode()}
    inference_id = "t-" + "r" * 20
    reply = running.post(tar_bytes(files), headers={"X-Amzn-SageMaker-Inference-Id": inference_id})

    assert reply.status == 200, reply.body
    result = TrainingResult.model_validate(reply.body)
    assert result.training_id == inference_id and TRAINING_ID_RE.fullmatch(result.training_id)
    assert result.metrics.steps == 4 and result.metrics.usable_images == 9
    staged = staged_prefix(REFERENCE_OWNER, result.training_id)
    assert {staged + STAGED_ADAPTER, staged + STAGED_METADATA} <= set(running.keys(DATA_BUCKET))
    assert running.keys(HOSTING_BUCKET) == []


def _progress(running: RunningService, config: dict[str, Any]) -> TrainingProgress | None:
    key = progress_key(config["owner"], config["training_id"])
    if key not in running.keys(DATA_BUCKET):
        return None
    body = running.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
    return TrainingProgress.model_validate_json(body)


def _assert_failed(running: RunningService, body: bytes, status: int, *words: str) -> TrainingFailure:
    """The failure, and nothing written but (once the destinations were checked) its progress object."""
    reply = running.post(body)
    assert reply.status == status, reply.body
    failure = TrainingFailure.model_validate(reply.body)
    for word in words:
        assert word in failure.reason
    assert running.keys(HOSTING_BUCKET) == []
    written = running.keys(DATA_BUCKET)
    assert all(key.endswith("/progress.json") for key in written), written
    for key in written:
        progress = TrainingProgress.model_validate_json(
            running.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
        )
        assert progress.phase == "failed"
    return failure


def _config() -> dict[str, Any]:
    return training_config(HOSTING_BUCKET, DATA_BUCKET)


def _symlink() -> tarfile.TarInfo:
    link = tarfile.TarInfo("selfie-99.jpg")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return link


def _traversal() -> tarfile.TarInfo:
    member = tarfile.TarInfo("../../outside.jpg")
    member.size = 3
    return member


FAILURES = {
    "path traversal": (
        lambda: tar_with_member(_traversal(), with_config(face_photos(10), _config()), b"abc"),
        400,
        ("../../outside.jpg", "leaves the archive"),
    ),
    "symlink": (
        lambda: tar_with_member(_symlink(), with_config(face_photos(10), _config())),
        400,
        ("selfie-99.jpg", "link"),
    ),
    "10,000 members": (lambda: many_members_tar(10_000), 413, ("more than 200 members",)),
    "decompression bomb": (lambda: bomb_tar(600 * 2**20), 413, ("unpacks to more than",)),
    "non-image files only": (
        lambda: tar_bytes(with_config({"notes.txt": b"hello", "run.sh": b"rm -rf /"}, _config())),
        400,
        ("no image files", "notes.txt"),
    ),
    "3 images": (lambda: tar_bytes(with_config(face_photos(3), _config())), 422, ("3 usable image(s)", "8")),
    "no faces with face crop on": (
        lambda: tar_bytes(with_config({**face_photos(5), **faceless_photos(5)}, _config())),
        422,
        ("5 usable", "object-00.jpg: no_face (no face found", "object-04.jpg"),
    ),
    "corrupt JPEG": (
        lambda: tar_bytes(
            with_config({**face_photos(7), "broken.jpg": face_photos(1)["selfie-00.jpg"][:600]}, _config())
        ),
        422,
        ("7 usable", "broken.jpg: not a readable image"),
    ),
    "not an archive": (lambda: b"\xff\xd8 this is a jpeg, not a tar", 400, ("not a readable tar",)),
    "invalid config": (
        lambda: tar_bytes(with_config(face_photos(10), {**_config(), "lora_rank": 0})),
        400,
        ("lora_rank",),
    ),
    "another owner's model key": (
        lambda: tar_bytes(
            with_config(
                face_photos(10), {**_config(), "model_s3_uri": f"s3://{HOSTING_BUCKET}/models/x/m.tar.gz"}
            )
        ),
        400,
        ("model_s3_uri",),
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_bad_input_fails_clearly_and_writes_nothing(running: RunningService, case: str) -> None:
    make, status, words = FAILURES[case]
    _assert_failed(running, make(), status, *words)


def test_oversized_body_is_refused_unread(running: RunningService) -> None:
    host, port = running.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/invocations")
    connection.putheader("Content-Length", str(65 * 2**20))  # over the 64 MiB limit; no body is sent
    connection.endheaders()
    reply = connection.getresponse()
    assert reply.status == 413
    assert "limit" in TrainingFailure.model_validate(json.loads(reply.read())).reason
    connection.close()
    assert running.keys(HOSTING_BUCKET) == [] and running.keys(DATA_BUCKET) == []


def test_missing_base_model_fails_clearly(aws: Any, settings: Any, tmp_path: Path) -> None:
    missing = replace(settings, base_model=str(tmp_path / "no-such-model"))
    for running in start(TrainingService(missing, S3Store(aws))):
        config = training_config(HOSTING_BUCKET, DATA_BUCKET)
        failure = _assert_failed(
            running, tar_bytes(with_config(face_photos(8), config)), 500, "could not load the base model"
        )
        assert failure.training_id == config["training_id"]
        assert str(tmp_path) not in failure.reason and "Error" not in failure.reason  # issue 21 L7: logs only
        progress = _progress(running, config)  # it had started: its progress ends failed
        assert progress is not None and progress.phase == "failed" and progress.step == 0


class _FailingStagingUploads(S3Store):
    def upload_file(self, path: Path, bucket: str, key: str, content_type: str) -> None:
        if "/staged/" in key:
            raise ConnectionError("simulated network failure")
        super().upload_file(path, bucket, key, content_type)


@pytest.mark.slow
def test_failed_artifact_upload_fails_and_removes_previews(aws: Any, settings: Any) -> None:
    for running in start(TrainingService(settings, _FailingStagingUploads(aws))):
        config = training_config(
            HOSTING_BUCKET, DATA_BUCKET, with_prior_preservation=False, max_train_steps=2
        )
        failure = _assert_failed(
            running, tar_bytes(with_config(face_photos(8), config)), 502, "could not stage the model"
        )
        assert failure.training_id == config["training_id"]
        assert "s3://" not in failure.reason and "simulated" not in failure.reason  # issue 21 L7
