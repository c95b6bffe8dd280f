"""`AvatarClient` and the `avatar` CLI against the real handlers (SigV4 verified on every call)."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import pytest
from PIL import Image

from avatar_api.services import get_services
from avatar_client import AvatarApiError, AvatarClient
from avatar_client import client as client_module
from avatar_client.cli import build_parser, run
from avatar_client.client import TrainingTimeout
from avatar_contract import keys
from avatar_contract.keys import split_s3_uri
from avatar_contract.progress import TrainingProgress
from avatar_contract.training import TrainingMetrics, TrainingResult
from tests.fixtures.api import ALICE, image_bytes, owner_id
from tests.fixtures.api_backend import DATA_BUCKET, HOSTING_BUCKET, Api
from tests.fixtures.faces import face_variant
from tests.fixtures.sigv4 import ENDPOINT
from tests.integration.api.test_records import record
from tests.integration.client.conftest import gen_response


def selfie_files(tmp_path, count: int = 10):
    folder = tmp_path / "selfies"
    folder.mkdir()
    for i in range(count):
        fmt = "PNG" if i % 2 else "JPEG"
        image = Image.new("RGB", (1500, 1200), (120, 120, 120))  # larger than the client sends
        image.paste(face_variant(i, (1200, 1200)), (150, 0))  # a real face: the function screens them
        image.save(folder / f"{i:02d}.{fmt.lower().replace('jpeg', 'jpg')}", format=fmt)
    (folder / "notes.txt").write_text("ignored")
    return folder


def complete(api: Api, accepted: dict) -> None:
    """The training finished and the publisher published its model (issue 21 M1)."""
    record = json.loads(
        api.s3.get_object(
            Bucket=DATA_BUCKET,
            Key=keys.training_record_key(accepted["target_model"].split("/")[0], accepted["training_id"]),
        )["Body"].read()
    )
    api.s3.put_object(Bucket=HOSTING_BUCKET, Key=f"models/{accepted['target_model']}", Body=b"artifact")
    result = TrainingResult(
        training_id=accepted["training_id"],
        model_id=accepted["model_id"],
        target_model=accepted["target_model"],
        model_s3_uri=f"s3://{HOSTING_BUCKET}/models/{accepted['target_model']}",
        metrics=TrainingMetrics(steps=1, seconds=1, final_loss=0.5, usable_images=10),
    )
    api.s3.put_object(
        Bucket=DATA_BUCKET, Key=split_s3_uri(record["output_location"])[1], Body=result.model_dump_json()
    )
    owner = accepted["target_model"].split("/")[0]
    api.published(owner, accepted["training_id"], accepted["model_id"])  # the model publisher's verdict


def test_train_generate_list_delete(api: Api, client: AvatarClient, tmp_path) -> None:
    folder = selfie_files(tmp_path)
    api.queue_training()
    accepted = client.start_training(
        sorted(folder.glob("*.*g")), model_name="me", config={"max_train_steps": 50}
    )
    assert accepted["status"] == "queued"
    assert client.get_training(accepted["training_id"])["status"] == "queued"
    # The handler received the resized selfies (longest side 1024).
    [(_, params)] = api.training.calls
    assert params["InferenceId"] == accepted["training_id"]
    archive = api.s3.get_object(Bucket=DATA_BUCKET, Key=split_s3_uri(params["InputLocation"])[1])[
        "Body"
    ].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        sizes = {Image.open(tar.extractfile(m)).size for m in tar.getmembers() if m.name.startswith("image_")}
    assert sizes and all(max(size) == 1024 for size in sizes)

    complete(api, accepted)
    status = client.wait_for_training(accepted["training_id"], timeout=5, poll_interval=0.01)
    assert status["status"] == "completed"

    gen_response(api, 2)
    result = client.generate(accepted["model_id"], "a photo of <<TOK>>", num_images=2, seed=7)
    assert (
        result.seed == 7 and len(result.images) == 2 and all(i.startswith(b"\x89PNG") for i in result.images)
    )
    assert [m["model_id"] for m in client.list_models()] == [accepted["model_id"]]
    assert client.delete_model(accepted["model_id"])["deleted"] is True
    with pytest.raises(AvatarApiError) as error:
        client.get_training(accepted["training_id"])
    assert (error.value.status, error.value.code) == (404, "not_found")


def test_large_selfie_sets_go_through_presigned_uploads(
    api: Api, client: AvatarClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "INLINE_BODY_LIMIT", 1000)
    api.queue_training()
    accepted = client.start_training([image_bytes(seed=i) for i in range(10)])
    assert accepted["status"] == "queued"
    assert any(url.endswith("/uploads") for _, url, _, _ in client.transport.requests)


def test_start_training_retries_with_the_same_idempotency_key(
    api: Api, client: AvatarClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("time.sleep", lambda _: None)
    api.training.queue_error("invoke_endpoint_async", "ThrottlingException", 503)
    api.queue_training()
    accepted = client.start_training([image_bytes(seed=i) for i in range(10)], prepare=False)
    keys_sent = {
        h["Idempotency-Key"] for _, url, h, _ in client.transport.requests if url.endswith("/trainings")
    }
    assert accepted["status"] == "queued" and len(keys_sent) == 1
    assert len(api.training.calls) == 2


def test_wait_polls_the_api_with_backoff_and_never_reads_a_queue(
    api: Api, client: AvatarClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []
    api.queue_training()
    accepted = client.start_training([image_bytes(seed=i) for i in range(10)], prepare=False)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 4:  # the training finishes while the client waits
            complete(api, accepted)

    monkeypatch.setattr("time.sleep", sleep)
    status = client.wait_for_training(
        accepted["training_id"], timeout=3600, poll_interval=10, max_poll_interval=20
    )

    assert status["status"] == "completed"
    assert sleeps == [10, 15, 20, 20]
    assert not hasattr(client, "queue_url")


def test_wait_gives_up_after_its_timeout(
    api: Api, client: AvatarClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.queue_training()
    accepted = client.start_training([image_bytes(seed=i) for i in range(10)], prepare=False)
    clock = [0.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    monkeypatch.setattr("time.sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))

    with pytest.raises(TrainingTimeout):
        client.wait_for_training(accepted["training_id"], timeout=100, poll_interval=10)
    assert clock[0] == pytest.approx(100)


def test_api_errors_carry_status_code_and_message(client: AvatarClient) -> None:
    with pytest.raises(AvatarApiError) as error:
        client.start_training([image_bytes(seed=i) for i in range(3)], prepare=False)
    assert error.value.status == 400 and error.value.code == "invalid_request"
    assert "images" in error.value.message


def test_cli_generate_writes_numbered_files(api: Api, client: AvatarClient, tmp_path, capsys) -> None:
    api.queue_training()
    accepted = client.start_training([image_bytes(seed=i) for i in range(10)], prepare=False)
    complete(api, accepted)
    gen_response(api, 2)
    args = build_parser().parse_args(
        [
            "--endpoint",
            ENDPOINT,
            "generate",
            accepted["model_id"],
            "hello",
            "-o",
            str(tmp_path / "out.png"),
            "--num-images",
            "2",
            "--steps",
            "5",
        ]
    )
    assert run(args, client) == 0
    assert (tmp_path / "out-1.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "out-2.png").exists()
    sent = json.loads(json.loads(api.hosting.calls[0][1]["Body"])["inputs"][2]["data"][0])
    assert sent["num_inference_steps"] == 5 and sent["num_images"] == 2

    assert run(build_parser().parse_args(["models"]), client) == 0
    assert accepted["model_id"] in capsys.readouterr().out


def test_cli_train_waits_with_progress(api: Api, client: AvatarClient, tmp_path, capsys, monkeypatch) -> None:
    folder = selfie_files(tmp_path)
    api.queue_training()
    original = client.get_training
    calls = []

    def get_training(training_id: str) -> dict:
        calls.append(training_id)
        if len(calls) == 2:
            complete(api, {**original(training_id), "target_model": api_target(api, training_id)})
        return original(training_id)

    monkeypatch.setattr(client, "get_training", get_training)
    args = build_parser().parse_args(
        [
            "train",
            str(folder),
            "--name",
            "me",
            "--preset",
            "fast",
            "--poll-interval",
            "0.01",
            "--timeout",
            "10",
        ]
    )
    assert run(args, client) == 0
    out = capsys.readouterr()
    assert '"status": "completed"' in out.out
    assert "training t-" in out.err  # progress line
    [(_, _url, _, body)] = [r for r in client.transport.requests if r[1].endswith("/trainings")]
    assert json.loads(body)["config"]["max_train_steps"] == 8  # the fast preset


def api_target(api: Api, training_id: str) -> str:
    for key in api.object_keys():
        if key.endswith(f"{training_id}/training.json"):
            return json.loads(api.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read())["target_model"]
    raise AssertionError(training_id)


def test_upload_selfies_posts_each_file_to_its_presigned_post(api: Api, client: AvatarClient) -> None:
    selfies = [image_bytes("PNG", seed=1), image_bytes("JPEG", seed=2)]

    references = client.upload_selfies(selfies)

    assert [r["index"] for r in references] == [0, 1]
    for reference, data, content_type in zip(references, selfies, ("image/png", "image/jpeg"), strict=True):
        key = f"uploads/{owner_id(ALICE)}/{reference['upload_id']}/{reference['index']}"
        stored = api.s3.get_object(Bucket=DATA_BUCKET, Key=key)
        assert stored["Body"].read() == data and stored["ContentType"] == content_type


def test_get_and_wait_expose_the_training_progress(api: Api, client: AvatarClient) -> None:
    api.queue_training()
    accepted = client.start_training([image_bytes(seed=i) for i in range(10)], prepare=False)
    owner = accepted["target_model"].split("/")[0]
    progress = TrainingProgress(
        phase="training", step=3, total_steps=8, loss=0.2, elapsed_seconds=12.5, eta_seconds=9.0,
        updated="2026-12-01T23:00:00+00:00",
    )  # fmt: skip
    api.s3.put_object(
        Bucket=DATA_BUCKET,
        Key=keys.progress_key(owner, accepted["training_id"]),
        Body=progress.model_dump_json(),
    )
    assert client.get_training(accepted["training_id"])["progress"]["step"] == 3
    seen: list[dict | None] = []

    def on_progress(status: dict, _: float) -> None:
        seen.append(status["progress"])
        complete(api, accepted)

    status = client.wait_for_training(
        accepted["training_id"], timeout=10, poll_interval=0.01, on_progress=on_progress
    )

    assert status["status"] == "completed" and status["progress"] is None
    assert seen == [{**progress.model_dump(), "queue_position": None}]


def test_a_training_can_carry_a_webhook_and_the_secret_is_the_callers(api: Api, client: AvatarClient) -> None:
    api.queue_training()
    url = "https://hooks.example.com/avatar"
    accepted = client.start_training([image_bytes(seed=i) for i in range(10)], prepare=False, webhook_url=url)
    assert client.get_training(accepted["training_id"])["webhook"]["url"] == url
    secret = client.webhook_secret()
    assert len(secret) == 64 and int(secret, 16) >= 0


def test_list_models_follows_every_page_newest_first(api: Api, client: AvatarClient, transport: Any) -> None:
    """Issue 21 L8: GET /models is paginated; the SDK follows next_cursor to the end."""
    records, owner = get_services().records, owner_id(ALICE)
    made = []
    for day in range(5):
        item = record(created=f"2026-01-0{day + 1}T00:00:00+00:00")
        records.create(owner, item.model_copy(update={"target_model": f"{owner}/{item.model_id}"}))
        made.append(item.model_id)
    listed = client.list_models(page_size=2)
    assert [m["model_id"] for m in listed] == made[::-1]  # every model once, newest first
    pages = [url for method, url, _, _ in transport.requests if method == "GET" and "/models" in url]
    assert len(pages) == 3 and "cursor=" in pages[1] and "limit=2" in pages[0]


def test_the_webhook_secret_rotates_from_the_sdk_and_the_cli(
    api: Api, client: AvatarClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 21 L3: the SDK's rotate_webhook_secret() and `avatar webhook-secret --rotate`."""
    first = client.webhook_secret()
    rotated = client.rotate_webhook_secret()
    assert rotated["secret"] != first and rotated["previous_secret"] == first
    assert client.webhook_secret() == rotated["secret"]
    capsys.readouterr()
    assert run(build_parser().parse_args(["webhook-secret", "--rotate"]), client) == 0
    printed = _cli_json(capsys.readouterr().out)
    assert printed["previous_secret"] == rotated["secret"]
    assert printed["secret"] not in (first, rotated["secret"])
    assert run(build_parser().parse_args(["webhook-secret"]), client) == 0
    assert _cli_json(capsys.readouterr().out)["secret"] == printed["secret"]


def _cli_json(out: str) -> dict[str, Any]:
    """What the CLI printed, without the handlers' metric lines (EMF on stdout) in between."""
    return dict(json.loads("\n".join(line for line in out.splitlines() if not line.startswith('{"_aws"'))))
