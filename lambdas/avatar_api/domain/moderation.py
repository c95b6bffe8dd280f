"""Content moderation (docs/moderation.md): prompts before anything reaches the GPU, generated images before
they are returned, selfies at training submission. The policy is `avatar_contract.moderation`'s; the
services are behind `avatar_api.adapters.moderation_aws`. Blocked content is `ContentBlocked` (422) naming the
category; a moderation service that is down is `ServiceUnavailable` (503) or, where the stage is configured
`open`, let through, logged and counted."""

from __future__ import annotations

import base64
import io
import logging
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PIL import Image

from avatar_api.adapters.moderation_aws import ModerationClients, ModerationUnavailable
from avatar_api.domain import prompt_text
from avatar_api.errors import ContentBlocked, ServiceUnavailable
from avatar_contract.moderation import (
    DENY_LIST_CATEGORY,
    ENV_VAR,
    FailureMode,
    ImageModeration,
    ModerationPolicy,
)

log = logging.getLogger(__name__)

MAX_SEGMENT_BYTES = 1024  # DetectToxicContent's limit per text segment (UTF-8)
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # DetectModerationLabels' limit for image bytes
RETRY_AFTER_SECONDS = 10
MAX_CONCURRENT_IMAGES = 5  # DetectModerationLabels calls at once (Rekognition's default TPS is 5-50)


@dataclass(frozen=True)
class Label:
    """One moderation label that blocks an image."""

    name: str
    category: str
    confidence: float


def segments(text: str, limit: int = MAX_SEGMENT_BYTES) -> list[str]:
    """`text` in pieces of at most `limit` UTF-8 bytes, cut at whitespace where possible, never inside a
    character; together they hold every word of `text`."""
    pieces: list[str] = []
    current = ""
    for word in re.findall(r"\S+\s*", text.strip()):
        candidate = current + word
        if len(candidate.rstrip().encode()) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current.rstrip())
        current = ""
        while len(word.rstrip().encode()) > limit:  # one word over the limit: cut it by characters
            head = word.encode()[:limit].decode("utf-8", errors="ignore")
            pieces.append(head)
            word = word[len(head) :]
        current = word
    if current.strip():
        pieces.append(current.rstrip())
    return pieces


def deny_list_match(prompt: str, entries: list[str]) -> str | None:
    """The first entry that `prompt` contains, matched on its normalised forms (`prompt_text`): a term
    case-insensitively as a whole word, with or without separators between its letters; `/regex/` on
    the NFKC text and on its skeleton."""
    forms = (prompt_text.normalized(prompt), prompt_text.skeleton(prompt))
    for entry in entries:
        pattern = prompt_text.deny_list_pattern(entry)
        if pattern is None:
            if entry.startswith("/") and entry.endswith("/"):
                log.warning("deny-list pattern is not a valid regular expression", extra={"entry": entry})
            continue
        if any(pattern.search(form) for form in forms):
            return entry
    return None


def metric_name(stage: str, category: str) -> str:
    """`ContentBlocked<Stage><Category>`, e.g. ContentBlockedPromptHateSpeech."""
    words = re.findall(r"[A-Za-z0-9]+", category.replace("_", " "))
    return f"ContentBlocked{stage.title()}" + "".join(word.capitalize() for word in words)


def blocking_labels(labels: list[dict[str, Any]], stage: ImageModeration) -> list[Label]:
    """The labels at or above `min_confidence` whose top-level category is one of the stage's."""
    parents = {label["Name"]: label.get("ParentName", "") for label in labels}
    found = []
    for label in labels:
        name, lineage = label["Name"], [label["Name"]]
        parent = label.get("ParentName", "")
        while parent and parent not in lineage:
            lineage.append(parent)
            parent = parents.get(parent, "")
        category = next((item for item in lineage if item in stage.categories), None)
        if category is not None and float(label.get("Confidence", 0)) >= stage.min_confidence:
            found.append(Label(name=name, category=category, confidence=float(label["Confidence"])))
    return found


def fit_for_rekognition(image: bytes) -> bytes:
    """`image` itself when it is within Rekognition's 5 MB, else a downscaled JPEG that is."""
    if len(image) <= MAX_IMAGE_BYTES:
        return image
    with Image.open(io.BytesIO(image)) as opened:
        picture = opened.convert("RGB")
    while True:
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=90)
        if buffer.tell() <= MAX_IMAGE_BYTES:
            return buffer.getvalue()
        picture = picture.resize((max(1, picture.width * 3 // 4), max(1, picture.height * 3 // 4)))


class Moderator:
    """Applies a `ModerationPolicy` with `clients`; `count(name)` records one metric."""

    def __init__(
        self,
        policy: ModerationPolicy,
        clients: ModerationClients,
        count: Callable[[str], None],
        max_concurrent_images: int = MAX_CONCURRENT_IMAGES,
    ) -> None:
        self.policy, self.clients, self.count = policy, clients, count
        self.max_concurrent_images = max_concurrent_images

    @classmethod
    def from_environment(cls) -> Moderator | None:
        """The policy the stack set (`AVATAR_MODERATION`); None when it set none (moderation off)."""
        text = os.environ.get(ENV_VAR)
        if not text:
            return None
        from avatar_api.observability import count  # Powertools: only where a function runs

        policy = ModerationPolicy.from_json(text)
        clients = ModerationClients.from_environment(policy.deny_list_parameter, policy.prompts.region)
        return cls(policy, clients, count)

    def _unavailable(self, stage: str, mode: FailureMode, error: ModerationUnavailable) -> None:
        self.count(f"ModerationUnavailable{stage.title()}")
        if mode == "closed":
            raise ServiceUnavailable(
                f"content moderation is unavailable ({error}); retry", retry_after=RETRY_AFTER_SECONDS
            ) from error
        log.warning(
            "moderation unavailable, %s let through (on_failure=open)", stage, extra={"error": str(error)}
        )

    def _blocked(self, stage: str, category: str, message: str) -> ContentBlocked:
        self.count(metric_name(stage, category))
        return ContentBlocked(message, category=category)

    def deny_listed(self, text: str) -> bool:
        """Whether `text` is on the deny list (False when the list cannot be read: `check_prompts`
        decides then)."""
        if not self.policy.prompts.enabled:
            return False
        try:
            return deny_list_match(text, self.clients.deny_list()) is not None
        except ModerationUnavailable:
            return False

    def check_prompts(self, prompts: list[str], field: str = "prompt") -> None:
        """Raise ContentBlocked when a prompt is on the deny list or scores at or above a threshold.
        `prompts` are rendered (`<<TOK>>` substituted as the model reads it); the deny list sees each
        whole prompt normalised, Comprehend the part the text encoder reads (`prompt_text`)."""
        stage = self.policy.prompts
        if not stage.enabled:
            return
        texts = [prompt for prompt in prompts if prompt.strip()]
        try:
            entries = self.clients.deny_list()
            for prompt in texts:
                if deny_list_match(prompt, entries) is not None:
                    raise self._blocked("prompt", DENY_LIST_CATEGORY, f"{field}: blocked by the deny list")
            read = [prompt_text.moderated_text(prompt) for prompt in texts]
            pieces = [piece for text in read if text for piece in segments(text)]
            results = self.clients.toxic_content(pieces) if pieces else []
        except ModerationUnavailable as error:
            self._unavailable("prompt", stage.on_failure, error)
            return
        for result in results:
            scores = {label["Name"]: float(label["Score"]) for label in result.get("Labels", [])}
            scores["TOXICITY"] = float(result.get("Toxicity", 0.0))
            over = [
                (category != "TOXICITY", scores.get(category, 0.0), category)
                for category, threshold in stage.thresholds.items()
                if scores.get(category, 0.0) >= threshold
            ]
            if over:  # name the most certain specific category; the overall TOXICITY only without one
                _, score, category = max(over)
                raise self._blocked(
                    "prompt",
                    category,
                    f"{field}: blocked by content moderation ({category} {score:.2f} >= "
                    f"{stage.thresholds[category]:g})",
                )

    def screen_images(self, images: list[bytes], stage_name: str) -> list[list[Label]]:
        """Per image, the labels that block it (empty: the image may be shown). `stage_name` is
        `output` or `input`; a service failure under `open` passes every image."""
        stage = self.policy.outputs if stage_name == "output" else self.policy.inputs
        if not stage.enabled:
            return [[] for _ in images]
        try:
            return self._screen(images, stage, stage_name)
        except ModerationUnavailable as error:
            self._unavailable(stage_name, stage.on_failure, error)
            return [[] for _ in images]

    def screen_previews(self, images: list[bytes]) -> list[list[Label]] | None:
        """A training's previews screened as generated images are (the `outputs` stage); None when
        Rekognition failed (counted; the caller withholds them under `closed`, shows them under `open`)."""
        stage = self.policy.outputs
        if not stage.enabled:
            return [[] for _ in images]
        try:
            return self._screen(images, stage, "preview")
        except ModerationUnavailable as error:
            self.count("ModerationUnavailablePreview")
            log.warning("moderation unavailable for previews", extra={"error": str(error)})
            return None

    def _screen(self, images: list[bytes], stage: ImageModeration, stage_name: str) -> list[list[Label]]:
        def screen(image: bytes) -> list[Label]:
            labels = self.clients.moderation_labels(fit_for_rekognition(image), stage.min_confidence)
            return blocking_labels(labels, stage)

        # concurrently: 20 selfies one after the other would take seconds of the 29 s budget
        with ThreadPoolExecutor(min(self.max_concurrent_images, max(1, len(images)))) as pool:
            verdicts = list(pool.map(screen, images))
        for found in verdicts:
            for category in sorted({label.category for label in found}):
                self.count(metric_name(stage_name, category))
        return verdicts

    def check_selfies(self, images: list[bytes]) -> None:
        """Refuse the training when a selfie is flagged, naming each flagged image and its categories."""
        verdicts = self.screen_images(images, "input")
        flagged = [(index, found) for index, found in enumerate(verdicts) if found]
        if flagged:
            reasons = "; ".join(
                f"images[{index}]: refused by content moderation "
                f"({', '.join(sorted({label.category for label in found}))})"
                for index, found in flagged
            )
            raise ContentBlocked(reasons, category=flagged[0][1][0].category)


def label_entries(found: list[Label]) -> list[dict[str, str | float]]:
    """Labels as the API shows them: name, category, confidence."""
    return [{"name": x.name, "category": x.category, "confidence": round(x.confidence, 2)} for x in found]


def withhold_blocked(
    moderator: Moderator | None, encoded: list[str]
) -> dict[int, list[dict[str, str | float]]]:
    """Moderate base64 generated images: index -> the labels of each one to withhold. Raises
    ContentBlocked when every image is blocked (nothing would be returned)."""
    if moderator is None or not encoded:
        return {}
    verdicts = moderator.screen_images([base64.b64decode(item) for item in encoded], "output")
    blocked = {index: label_entries(found) for index, found in enumerate(verdicts) if found}
    if len(blocked) == len(encoded):
        categories = sorted({label.category for found in verdicts for label in found})
        raise ContentBlocked(
            f"every generated image was withheld by content moderation ({', '.join(categories)})",
            category=categories[0],
        )
    return blocked
