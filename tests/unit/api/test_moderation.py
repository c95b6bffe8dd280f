"""Content moderation's policy (docs/moderation.md): segmenting, the deny list, thresholds, label
categories, Rekognition's size limit, failure modes, metrics and the deny list's cache."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from avatar_api.domain.moderation import (
    MAX_IMAGE_BYTES,
    blocking_labels,
    deny_list_match,
    fit_for_rekognition,
    metric_name,
    segments,
    withhold_blocked,
)
from avatar_api.errors import ContentBlocked, ServiceUnavailable
from avatar_api.routers.common import error_headers, http_status
from avatar_contract.moderation import ImageModeration, ModerationPolicy, PolicyError, PromptModeration
from tests.fixtures.api import b64, image_bytes
from tests.fixtures.moderation import StubbedModeration


@pytest.mark.parametrize(
    "text",
    [
        "a short prompt",
        "word " * 700,
        "é" * 1500,  # two bytes per character, no whitespace: cut by characters
        "portrait " * 100 + "x" * 3000 + " of a 🐱 " * 200,
    ],
)
def test_segments_hold_every_word_within_one_kilobyte(text: str) -> None:
    pieces = segments(text)
    assert all(0 < len(piece.encode()) <= 1024 for piece in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    if len(text.encode()) <= 1024:
        assert pieces == [text.strip()]


@pytest.mark.parametrize(
    "prompt",
    [
        "a photo of NAKED person",
        "a photo of n a k e d person",
        "a photo of n.a.k.e.d person",
        "a photo of na_ked person",
        "a photo of na\u200bked person",  # zero-width space
        "a photo of ｎａｋｅｄ person",  # fullwidth
        "a photo of 𝐧𝐚𝐤𝐞𝐝 person",  # mathematical bold
        "a photo of nаkеd person",  # Cyrillic а and е
        "a photo of näked person",
    ],
)
def test_deny_list_terms_match_through_case_width_spacing_and_look_alikes(prompt: str) -> None:
    assert deny_list_match(prompt, ["naked"]) == "naked"


def test_deny_list_normalising_keeps_whole_words() -> None:
    assert deny_list_match("snaked through the hills", ["naked"]) is None
    assert deny_list_match("a nak edition", ["naked"]) is None
    assert deny_list_match("c++ code", ["c++"]) == "c++" and deny_list_match("a c program", ["c++"]) is None
    assert deny_list_match("white-power", ["white power"]) == "white power"


def test_deny_list_terms_are_whole_words_and_patterns_are_regexes() -> None:
    entries = ["# comment lines never reach here", "Sparkle", "/\\bgun(s)?\\b/", "/[unbalanced/"]
    assert deny_list_match("a SPARKLE unicorn", entries) == "Sparkle"
    assert deny_list_match("sparkles everywhere", entries) is None  # not the whole word
    assert deny_list_match("two guns", entries) == "/\\bgun(s)?\\b/"
    assert deny_list_match("a gunnysack", entries) is None


def test_metric_names_are_one_per_category() -> None:
    assert metric_name("prompt", "HATE_SPEECH") == "ContentBlockedPromptHateSpeech"
    assert metric_name("output", "Drugs & Tobacco") == "ContentBlockedOutputDrugsTobacco"
    assert metric_name("input", "Explicit") == "ContentBlockedInputExplicit"


def test_labels_block_by_top_level_category_and_confidence() -> None:
    stage = ImageModeration(min_confidence=80, categories=("Explicit", "Violence"))
    labels = [
        {"Name": "Explicit", "ParentName": "", "Confidence": 95.0, "TaxonomyLevel": 1},
        {"Name": "Explicit Nudity", "ParentName": "Explicit", "Confidence": 90.0, "TaxonomyLevel": 2},
        {"Name": "Exposed Buttocks", "ParentName": "Explicit Nudity", "Confidence": 85.0, "TaxonomyLevel": 3},
        {"Name": "Weapons", "ParentName": "Violence", "Confidence": 60.0, "TaxonomyLevel": 2},
        {"Name": "Alcohol", "ParentName": "", "Confidence": 99.0, "TaxonomyLevel": 1},
    ]
    found = blocking_labels(labels, stage)
    assert [(label.name, label.category) for label in found] == [
        ("Explicit", "Explicit"),
        ("Explicit Nudity", "Explicit"),
        ("Exposed Buttocks", "Explicit"),  # level 3: its category through its parent
    ]


def test_large_images_are_shrunk_under_rekognitions_limit() -> None:
    small = image_bytes("PNG", (64, 64))
    assert fit_for_rekognition(small) is small
    rng = random.Random(3)
    noise = Image.frombytes("RGB", (1800, 1800), bytes(rng.getrandbits(8) for _ in range(1800 * 1800 * 3)))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    assert buffer.tell() > MAX_IMAGE_BYTES
    fitted = fit_for_rekognition(buffer.getvalue())
    assert len(fitted) <= MAX_IMAGE_BYTES
    assert Image.open(io.BytesIO(fitted)).format == "JPEG"


def test_a_clean_prompt_passes_and_is_sent_in_segments() -> None:
    stub = StubbedModeration()
    stub.queue_deny_list("# nothing yet\n")
    stub.queue_scores({}, {})
    stub.moderator.check_prompts(["a portrait of " + "жжжжжжжжжж " * 60])  # 63 words, 1.3 KB: two segments
    assert stub.operations() == ["GetParameter", "DetectToxicContent"]
    sent = stub.calls[1][1]
    assert sent["LanguageCode"] == "en" and len(sent["TextSegments"]) == 2
    assert stub.metrics == []


def test_comprehend_reads_what_the_text_encoder_reads_normalised() -> None:
    stub = StubbedModeration()
    stub.queue_deny_list("")
    stub.queue_scores({})
    padding = " ".join(["calm"] * 200)  # past CLIP's 77 tokens: the model never reads it
    stub.moderator.check_prompts(["ａ ｐｈｏｔｏ of ki\u200bll\u00adme  now, " + padding])
    sent = [segment["Text"] for segment in stub.calls[1][1]["TextSegments"]]
    # The cut is counted on the text as the model reads it: the zero-width space and the soft hyphen are
    # tokens there, so 10 tokens before the padding, then 65 of it.
    assert sent == ["a photo of killme now, " + " ".join(["calm"] * 65)]


def test_the_threshold_of_each_category_decides() -> None:
    policy = ModerationPolicy(prompts=PromptModeration(thresholds={"INSULT": 0.9, "TOXICITY": 1.0}))
    stub = StubbedModeration(policy)
    stub.queue_scores({"INSULT": 0.85})
    stub.moderator.check_prompts(["you fool"])  # under INSULT's 0.9
    stub.queue_scores({"INSULT": 0.91})
    with pytest.raises(ContentBlocked) as raised:
        stub.moderator.check_prompts(["you fool"])
    assert http_status(raised.value) == 422 and raised.value.code == "content_blocked"
    assert raised.value.category == "INSULT" and "INSULT" in raised.value.message
    assert stub.metrics == ["ContentBlockedPromptInsult"]


def test_the_deny_list_blocks_without_comprehend_and_is_cached() -> None:
    stub = StubbedModeration()
    stub.queue_deny_list("sparkle\n")
    with pytest.raises(ContentBlocked) as raised:
        stub.moderator.check_prompts(["a sparkle pony"])
    assert raised.value.category == "DENY_LIST"
    stub.queue_scores({})
    stub.moderator.check_prompts(["a pony"])  # the list is cached: no second GetParameter
    assert stub.operations() == ["GetParameter", "DetectToxicContent"]
    assert stub.metrics == ["ContentBlockedPromptDenyList"]


@pytest.mark.parametrize("code", ["TooManyRequestsException", "InternalServerException"])
def test_comprehend_down_fails_closed_by_default(code: str) -> None:
    stub = StubbedModeration(ModerationPolicy())
    stub.queue_error("comprehend", "detect_toxic_content", code, 400 if code.startswith("Too") else 500)
    with pytest.raises(ServiceUnavailable) as raised:
        stub.moderator.check_prompts(["a pony"])
    assert error_headers(raised.value)["Retry-After"]
    assert stub.metrics == ["ModerationUnavailablePrompt"]


def test_comprehend_down_lets_prompts_through_when_open() -> None:
    stub = StubbedModeration(ModerationPolicy(prompts=PromptModeration(on_failure="open")))
    stub.queue_error("comprehend", "detect_toxic_content", "TooManyRequestsException")
    stub.moderator.check_prompts(["a pony"])
    assert stub.metrics == ["ModerationUnavailablePrompt"]


def test_disabled_stages_call_nothing() -> None:
    off = ImageModeration(enabled=False)
    stub = StubbedModeration(ModerationPolicy(PromptModeration(enabled=False), off, off))
    stub.moderator.check_prompts(["anything"])
    stub.moderator.check_selfies([image_bytes()])
    assert withhold_blocked(stub.moderator, [b64(image_bytes("PNG"))]) == {}
    assert stub.calls == []


def test_outputs_are_withheld_one_by_one_and_all_blocked_is_content_blocked() -> None:
    stub = StubbedModeration(ModerationPolicy())
    images = [b64(image_bytes("PNG", seed=i)) for i in range(3)]
    stub.queue_labels()
    stub.queue_labels(("Explicit", "", 97.5))
    stub.queue_labels(("Alcohol", "", 99.0))  # not an outputs category by default
    blocked = withhold_blocked(stub.moderator, images)
    assert blocked == {1: [{"name": "Explicit", "category": "Explicit", "confidence": 97.5}]}
    assert stub.calls[0][1]["MinConfidence"] == 80.0
    assert stub.metrics == ["ContentBlockedOutputExplicit"]
    stub.queue_labels(("Violence", "", 90.0))
    with pytest.raises(ContentBlocked) as raised:
        withhold_blocked(stub.moderator, images[:1])
    assert raised.value.category == "Violence"


def test_rekognition_throttled_fails_outputs_closed_and_open_returns_them() -> None:
    closed = StubbedModeration(ModerationPolicy())
    closed.queue_error("rekognition", "detect_moderation_labels", "ThrottlingException")
    with pytest.raises(ServiceUnavailable):
        withhold_blocked(closed.moderator, [b64(image_bytes("PNG"))])
    opened = StubbedModeration(ModerationPolicy(outputs=ImageModeration(on_failure="open")))
    opened.queue_error("rekognition", "detect_moderation_labels", "ProvisionedThroughputExceededException")
    assert withhold_blocked(opened.moderator, [b64(image_bytes("PNG"))]) == {}
    assert opened.metrics == ["ModerationUnavailableOutput"]


def test_flagged_selfies_are_named() -> None:
    stub = StubbedModeration(ModerationPolicy())
    for index in range(3):
        if index == 2:
            stub.queue_labels(("Explicit", "", 99.0), ("Explicit Nudity", "Explicit", 98.0))
        else:
            stub.queue_labels()
    with pytest.raises(ContentBlocked) as raised:
        stub.moderator.check_selfies([image_bytes(seed=i) for i in range(3)])
    assert raised.value.message == "images[2]: refused by content moderation (Explicit)"
    assert stub.metrics == ["ContentBlockedInputExplicit"]


def test_policy_round_trips_through_the_environment_and_rejects_typos() -> None:
    policy = ModerationPolicy(
        prompts=PromptModeration(on_failure="open"),
        outputs=ImageModeration(min_confidence=55.5, categories=("Explicit",)),
        deny_list_parameter="/p/moderation/deny-list",
    )
    assert ModerationPolicy.from_json(policy.to_json()) == policy
    with pytest.raises(PolicyError, match="unknown category"):
        ModerationPolicy.from_json('{"outputs": {"categories": ["Nudes"]}}')


def test_images_are_screened_concurrently_and_verdicts_keep_their_order() -> None:
    import threading
    import time

    from avatar_api.domain.moderation import Moderator

    class SlowRekognition:
        def __init__(self) -> None:
            self.in_flight = self.most = 0
            self.lock = threading.Lock()

        def moderation_labels(self, image: bytes, min_confidence: float) -> list[dict]:
            with self.lock:
                self.in_flight += 1
                self.most = max(self.most, self.in_flight)
            time.sleep(0.05)
            with self.lock:
                self.in_flight -= 1
            flagged = image.endswith(b"!")
            return [{"Name": "Explicit", "ParentName": "", "Confidence": 99.0}] if flagged else []

    clients = SlowRekognition()
    moderator = Moderator(ModerationPolicy(), clients, lambda _: None, max_concurrent_images=4)  # type: ignore[arg-type]
    images = [b"a", b"b!", b"c", b"d", b"e!", b"f", b"g", b"h"]
    verdicts = moderator.screen_images(images, "input")
    assert [bool(found) for found in verdicts] == [image.endswith(b"!") for image in images]
    assert clients.most == 4


def test_clients_are_made_on_first_use_only() -> None:
    from avatar_api.adapters.moderation_aws import ModerationClients

    made: list[str] = []

    class Comprehend:
        def detect_toxic_content(self, TextSegments: list, LanguageCode: str) -> dict:
            return {"ResultList": [{"Labels": [], "Toxicity": 0.0} for _ in TextSegments]}

    clients = ModerationClients(make_client=lambda service: made.append(service) or Comprehend())
    assert made == []
    assert len(clients.toxic_content(["a"] * 12)) == 12  # two calls: at most 10 segments each
    assert clients.toxic_content(["b"])
    assert made == ["comprehend"]  # made once; Rekognition and SSM never loaded


def test_comprehend_can_be_called_in_another_region(monkeypatch: pytest.MonkeyPatch) -> None:
    from avatar_api.adapters.moderation_aws import ModerationClients

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    clients = ModerationClients.from_environment("", comprehend_region="eu-west-1")
    assert clients._client("comprehend").meta.region_name == "eu-west-1"
    assert clients._client("rekognition").meta.region_name == "eu-central-1"


def test_the_moderator_comes_from_the_stacks_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from avatar_api.domain.moderation import Moderator
    from avatar_contract.moderation import ENV_VAR

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert Moderator.from_environment() is None  # no policy set: nothing is moderated
    policy = ModerationPolicy(prompts=PromptModeration(region="eu-west-1"), deny_list_parameter="/x/deny")
    monkeypatch.setenv(ENV_VAR, policy.to_json())
    moderator = Moderator.from_environment()
    assert moderator is not None and moderator.policy == policy
    assert moderator.clients.deny_list_parameter == "/x/deny"
    assert moderator.clients._client("comprehend").meta.region_name == "eu-west-1"
