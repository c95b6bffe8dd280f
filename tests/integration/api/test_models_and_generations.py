"""GET /models, DELETE /models/{id} (models function) and POST /models/{id}/generations (generations
function), including owner isolation: Bob can neither see, generate with nor delete Alice's model."""

from __future__ import annotations

import base64
import json
import time

import pytest

from avatar_contract import keys
from avatar_contract.keys import split_s3_uri
from avatar_contract.training import TrainingFailure, TrainingMetrics, TrainingResult
from tests.fixtures.api import ALICE, BOB, header, image_bytes, owner_id, png, response_json, selfies
from tests.fixtures.api_backend import DATA_BUCKET, HOSTING_BUCKET, STATE_TABLE, Api

ALICE_OWNER = owner_id(ALICE)


def state_keys(api: Api) -> set[str]:
    return {item["pk"]["S"] for item in api.dynamodb.scan(TableName=STATE_TABLE)["Items"]}


def train(api: Api, *, outcome: str = "completed", user: str = ALICE, name: str | None = "me") -> dict:
    """Start a training and, unless `outcome` is queued, write what the async endpoint would."""
    output, failure = api.queue_training()
    body = {"images": selfies(), **({"model_name": name} if name else {})}
    accepted = response_json(
        api.call("POST", "/trainings", body, user=user, headers={"Idempotency-Key": name or "k"})
    )
    owner = owner_id(user)
    tid, mid = accepted["training_id"], accepted["model_id"]
    if outcome == "completed":
        preview = keys.preview_prefix(owner, tid) + "0.png"
        api.s3.put_object(Bucket=DATA_BUCKET, Key=preview, Body=image_bytes("PNG"))
        api.s3.put_object(Bucket=HOSTING_BUCKET, Key=keys.model_key(owner, mid), Body=b"artifact")
        result = TrainingResult(
            training_id=tid,
            model_id=mid,
            target_model=keys.target_model(owner, mid),
            model_s3_uri=f"s3://{HOSTING_BUCKET}/{keys.model_key(owner, mid)}",
            metrics=TrainingMetrics(
                steps=5, seconds=1.0, final_loss=0.2, usable_images=10, preview_image_keys=[preview]
            ),
        )
        api.s3.put_object(Bucket=DATA_BUCKET, Key=split_s3_uri(output)[1], Body=result.model_dump_json())
        api.published(owner, tid, mid)
    elif outcome == "failed":
        failure_doc = TrainingFailure(training_id=tid, reason="no faces found")
        api.s3.put_object(
            Bucket=DATA_BUCKET, Key=split_s3_uri(failure)[1], Body=failure_doc.model_dump_json()
        )
    return accepted


def test_list_models_shows_only_the_callers_models(api: Api) -> None:
    done = train(api, name="done")
    queued = train(api, outcome="queued", name="waiting")
    failed = train(api, outcome="failed", name="broken")
    train(api, user=BOB, name="bobs")

    response = api.call("GET", "/models")

    assert response["statusCode"] == 200
    models = {m["model_id"]: m for m in response_json(response)["models"]}
    assert set(models) == {done["model_id"], queued["model_id"], failed["model_id"]}
    assert models[done["model_id"]]["status"] == "completed" and models[done["model_id"]]["name"] == "done"
    assert models[queued["model_id"]]["status"] == "queued"
    assert models[failed["model_id"]]["status"] == "failed"
    assert models[done["model_id"]]["training_id"] == done["training_id"]
    bobs = response_json(api.call("GET", "/models", user=BOB))["models"]
    assert [m["name"] for m in bobs] == ["bobs"]


def test_generation_sends_the_kserve_request_and_returns_pngs(api: Api) -> None:
    model = train(api)
    api.hosting.queue_images([png(seed=1), png(seed=2)])
    body = {"prompt": "a portrait of <<TOK>> as an astronaut", "negative_prompt": "blurry", "seed": 42}
    body |= {"num_images": 2, "num_inference_steps": 20, "guidance_scale": 6.0, "width": 512, "height": 768}

    response = api.call("POST", f"/models/{model['model_id']}/generations", body)

    assert response["statusCode"] == 200, response["body"]
    result = response_json(response)
    assert result["seed"] == 42 and result["model_id"] == model["model_id"]
    assert [base64.b64decode(i["data"]) for i in result["images"]] == [png(seed=1), png(seed=2)]
    assert all(i["content_type"] == "image/png" and i["url"] is None for i in result["images"])
    [(operation, params)] = api.hosting.calls
    assert operation == "InvokeEndpoint"
    sent = json.loads(params.pop("Body"))
    assert params == {
        "EndpointName": "avatar-hosting",
        "TargetModel": f"{ALICE_OWNER}/{model['model_id']}.tar.gz",
        "ContentType": "application/json",
        "Accept": "application/json",
    }
    assert [(i["name"], i["datatype"], i["shape"]) for i in sent["inputs"]] == [
        ("prompt", "BYTES", [1, 1]),
        ("negative_prompt", "BYTES", [1, 1]),
        ("gen_args", "BYTES", [1, 1]),
    ]
    assert sent["inputs"][0]["data"] == ["a portrait of <<TOK>> as an astronaut"]
    assert sent["inputs"][1]["data"] == ["blurry"]
    engine_args = json.loads(sent["inputs"][2]["data"][0])
    # The caller's deadline goes to the engine (Unix seconds), within the function's 27 s budget.
    assert 0 < engine_args.pop("deadline_unix") - time.time() <= 27
    assert engine_args == {
        "num_inference_steps": 20,
        "guidance_scale": 6.0,
        "seed": 42,
        "num_images": 2,
        "width": 512,
        "height": 768,
        "output_format": "png",
        "default_negative_prompt": True,  # the engine adds its default only when none is sent
    }


def test_seed_is_random_when_absent_and_always_returned(api: Api) -> None:
    model = train(api)
    seeds = []
    for _ in range(2):
        api.hosting.queue_images([png()])
        result = response_json(api.call("POST", f"/models/{model['model_id']}/generations", {"prompt": "hi"}))
        seeds.append(result["seed"])
    sent = [json.loads(json.loads(p["Body"])["inputs"][2]["data"][0])["seed"] for _, p in api.hosting.calls]
    assert sent == seeds
    assert seeds[0] != seeds[1]


def test_model_not_ready_is_retried_then_succeeds(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    model = train(api)
    api.hosting.queue_error("invoke_endpoint", "ModelNotReadyException", 429, "loading")
    api.hosting.queue_error("invoke_endpoint", "ModelNotReadyException", 429, "loading")
    api.hosting.queue_images([png()])

    response = api.call("POST", f"/models/{model['model_id']}/generations", {"prompt": "hi"})

    assert response["statusCode"] == 200, response["body"]
    assert slept == [1.0, 2.0]
    assert len(api.hosting.calls) == 3


def test_model_not_ready_past_the_time_budget_is_a_retryable_503(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("time.sleep", lambda _: None)
    api.remaining_seconds = 7.0  # budget 5 s: tries, sleeps 1 s, tries, then 2 s + 3 s > what is left
    model = train(api)
    for _ in range(2):
        api.hosting.queue_error("invoke_endpoint", "ModelNotReadyException", 429, "loading")

    response = api.call("POST", f"/models/{model['model_id']}/generations", {"prompt": "hi"})

    assert response["statusCode"] == 503
    assert header(response, "Retry-After") == "30"
    assert response_json(response)["error"]["code"] == "service_unavailable"
    assert len(api.hosting.calls) == 2


SAGEMAKER_MODEL_ERROR = (
    'Received server error (500) from primary with message "boom". See https://us-east-1.console.aws.'
    "amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group=/aws/sagemaker/Endpoints/"
    "avatar-hosting in account 123456789012 for more information."
)


def test_endpoint_out_of_memory_is_503_and_other_errors_are_502(api: Api) -> None:
    model = train(api)
    api.hosting.queue_error("invoke_endpoint", "ModelError", 507, "CUDA out of memory")
    api.hosting.queue_error("invoke_endpoint", "ModelError", 424, SAGEMAKER_MODEL_ERROR)
    path = f"/models/{model['model_id']}/generations"
    assert api.call("POST", path, {"prompt": "hi"})["statusCode"] == 503
    failed = api.call("POST", path, {"prompt": "hi"})
    assert failed["statusCode"] == 502
    error = response_json(failed)["error"]
    assert error["code"] == "upstream_error"
    for internal in ("123456789012", "console.aws", "/aws/sagemaker", "avatar-hosting"):  # issue 21 L7
        assert internal not in error["message"]


def test_images_larger_than_the_response_limit_come_back_as_presigned_urls(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("avatar_api.settings.MAX_INLINE_IMAGES_BYTES", 100)
    model = train(api)
    api.hosting.queue_images([png(seed=3), png(seed=4)])

    result = response_json(api.call("POST", f"/models/{model['model_id']}/generations", {"prompt": "hi"}))

    prefix = keys.generation_model_prefix(ALICE_OWNER, model["model_id"])
    stored = [k for k in api.object_keys() if k.startswith(prefix)]
    assert len(stored) == 2
    assert all(i["data"] is None and prefix in i["url"] for i in result["images"])
    assert api.s3.get_object(Bucket=DATA_BUCKET, Key=sorted(stored)[0])["Body"].read() == png(seed=3)


def test_generation_errors(api: Api) -> None:
    done = train(api, name="done")
    queued = train(api, outcome="queued", name="waiting")
    failed = train(api, outcome="failed", name="broken")
    cases = [
        (BOB, done["model_id"], {"prompt": "hi"}, 404, "not_found", "not found"),
        (ALICE, "m-" + "0" * 20, {"prompt": "hi"}, 404, "not_found", "not found"),
        (ALICE, "not-a-model", {"prompt": "hi"}, 404, "not_found", "not found"),
        (
            ALICE,
            queued["model_id"],
            {"prompt": "hi"},
            409,
            "conflict",
            f"GET /trainings/{queued['training_id']}",
        ),
        (
            ALICE,
            failed["model_id"],
            {"prompt": "hi"},
            409,
            "conflict",
            f"GET /trainings/{failed['training_id']}",
        ),
        (ALICE, done["model_id"], {"prompt": "x" * 5000}, 400, "invalid_request", "prompt"),
        (ALICE, done["model_id"], {"prompt": "   "}, 400, "invalid_request", "prompt"),
        (ALICE, done["model_id"], {}, 400, "invalid_request", "prompt"),
        (
            ALICE,
            done["model_id"],
            {"prompt": "hi", "num_inference_steps": 0},
            400,
            "invalid_request",
            "num_inference_steps",
        ),
        (
            ALICE,
            done["model_id"],
            {"prompt": "hi", "num_inference_steps": 101},
            400,
            "invalid_request",
            "num_inference_steps",
        ),
        (ALICE, done["model_id"], {"prompt": "hi", "num_images": 5}, 400, "invalid_request", "num_images"),
        (ALICE, done["model_id"], {"prompt": "hi", "width": 100}, 400, "invalid_request", "width"),
        (
            ALICE,
            done["model_id"],
            {"prompt": "hi", "output_format": "webp"},
            400,
            "invalid_request",
            "output_format",
        ),
        (
            ALICE,
            done["model_id"],
            {"prompt": "hi", "negative_prompt": "n" * 501},
            400,
            "invalid_request",
            "negative_prompt",
        ),
        (ALICE, done["model_id"], {"prompt": "hi", "sampler": "x"}, 400, "invalid_request", "sampler"),
    ]
    for user, model_id, body, status, code, text in cases:
        response = api.call("POST", f"/models/{model_id}/generations", body, user=user)
        assert response["statusCode"] == status, (body, response["body"])
        error = response_json(response)["error"]
        assert error["code"] == code and text in error["message"], (body, error)
    assert api.hosting.calls == []


def test_delete_erases_everything_of_the_model_and_nothing_else(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("avatar_api.settings.MAX_INLINE_IMAGES_BYTES", 100)
    mine = train(api, name="mine")
    other = train(api, name="other")
    bobs = train(api, user=BOB, name="bobs")
    api.hosting.queue_images([png()])
    api.call("POST", f"/models/{mine['model_id']}/generations", {"prompt": "hi"})
    before_data, before_hosting = api.object_keys(), api.object_keys(HOSTING_BUCKET)
    before_records = state_keys(api)

    response = api.call("DELETE", f"/models/{mine['model_id']}")

    assert response["statusCode"] == 200, response["body"]
    assert response_json(response)["deleted"] is True
    after_data, after_hosting = api.object_keys(), api.object_keys(HOSTING_BUCKET)
    gone = set(before_data) - set(after_data)
    assert not [k for k in after_data if mine["training_id"] in k or mine["model_id"] in k]
    assert any(k.startswith("async-outputs/") for k in gone)
    forgotten = before_records - state_keys(api)  # the idempotency record of its submission
    assert len(forgotten) == 1 and next(iter(forgotten)).startswith("idempotency#trainings#")
    assert any(k.startswith("generations/") for k in gone)
    assert set(before_hosting) - set(after_hosting) == {keys.model_key(ALICE_OWNER, mine["model_id"])}
    assert response_json(response)["deleted_objects"] == len(gone) + 1 + len(forgotten)
    for survivor in (other, bobs):
        assert any(survivor["training_id"] in k for k in after_data)
    assert api.call("DELETE", f"/models/{mine['model_id']}")["statusCode"] == 404
    assert api.call("GET", f"/trainings/{mine['training_id']}")["statusCode"] == 404
    # The idempotency key is free again: the same request starts a new training.
    again = train(api, outcome="queued", name="mine")
    assert again["training_id"] != mine["training_id"] and again["replayed"] is False


def test_delete_of_a_failed_model_removes_the_failure_object(api: Api) -> None:
    failed = train(api, outcome="failed", name="broken")
    assert any(k.startswith("async-failures/") for k in api.object_keys())
    assert api.call("DELETE", f"/models/{failed['model_id']}")["statusCode"] == 200
    assert api.object_keys() == []


def test_foreign_unknown_and_training_models_cannot_be_deleted(api: Api) -> None:
    alices = train(api, name="alices")
    queued = train(api, outcome="queued", name="waiting")
    before = api.object_keys(), api.object_keys(HOSTING_BUCKET)
    foreign = api.call("DELETE", f"/models/{alices['model_id']}", user=BOB)
    assert foreign["statusCode"] == 404
    assert response_json(foreign)["error"]["code"] == "not_found"
    assert api.call("DELETE", "/models/m-" + "1" * 20)["statusCode"] == 404
    busy = api.call("DELETE", f"/models/{queued['model_id']}")
    assert busy["statusCode"] == 409
    assert (api.object_keys(), api.object_keys(HOSTING_BUCKET)) == before


def test_generation_reads_only_the_record_it_needs(api: Api) -> None:
    for index in range(4):
        train(api, name=f"other-{index}")
    done = train(api, name="done")
    queued = train(api, outcome="queued", name="waiting")
    calls: list[tuple[str, str]] = []

    def record_call(params, model, **_) -> None:
        calls.append((model.name, params.get("Key", params.get("Prefix", ""))))

    api.s3.meta.events.register("provide-client-params.s3", record_call)
    api.hosting.queue_images([png()])
    sized = {"prompt": "hi", "width": 512, "height": 512}
    assert api.call("POST", f"/models/{done['model_id']}/generations", sized)["statusCode"] == 200
    assert calls == [("HeadObject", keys.model_key(ALICE_OWNER, done["model_id"]))]  # no record read at all

    calls.clear()  # no size: the record names the trained resolution, which is rendered and costed
    api.hosting.queue_images([png()])
    assert api.call("POST", f"/models/{done['model_id']}/generations", {"prompt": "hi"})["statusCode"] == 200
    assert calls == [
        ("HeadObject", keys.model_key(ALICE_OWNER, done["model_id"])),
        ("GetObject", keys.model_entry_key(ALICE_OWNER, done["model_id"])),
        ("GetObject", keys.training_record_key(ALICE_OWNER, done["training_id"])),
    ]
    sent = json.loads(json.loads(api.hosting.calls[-1][1]["Body"])["inputs"][2]["data"][0])
    assert (sent["width"], sent["height"]) == (512, 512)  # the training's resolution (the default)

    calls.clear()
    response = api.call("POST", f"/models/{queued['model_id']}/generations", {"prompt": "hi"})
    assert response["statusCode"] == 409
    assert calls == [
        ("HeadObject", keys.model_key(ALICE_OWNER, queued["model_id"])),
        ("GetObject", keys.model_entry_key(ALICE_OWNER, queued["model_id"])),
        ("GetObject", keys.training_record_key(ALICE_OWNER, queued["training_id"])),
    ]
