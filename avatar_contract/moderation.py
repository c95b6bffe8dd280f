"""The content-moderation policy shared by the CDK app (cdk.json -> the functions' environment) and the
API (environment -> checks). Standard library only: `stacks.config` imports it.

Three stages, each one cdk.json key (see docs/moderation.md):

- `prompts`: Amazon Comprehend DetectToxicContent on generation and training prompts, blocked when a
  category's score reaches its threshold, plus the deployer's deny list (an SSM parameter);
- `outputs`: Amazon Rekognition DetectModerationLabels on every generated image, withheld when a label of
  a listed category reaches `min_confidence`;
- `inputs`: the same on every selfie at training submission.

`on_failure` says what happens when the moderation service is throttled or down: `closed` answers 503
with Retry-After, `open` lets the content through (logged and counted).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

ENV_VAR: Final = "AVATAR_MODERATION"  # the whole policy as JSON, set on every API function
FailureMode = Literal["closed", "open"]
FAILURE_MODES: Final = ("closed", "open")

# Amazon Comprehend DetectToxicContent's label names (botocore's ToxicContentType) plus the overall score.
TOXIC_CATEGORIES: Final = (
    "GRAPHIC",
    "HARASSMENT_OR_ABUSE",
    "HATE_SPEECH",
    "INSULT",
    "PROFANITY",
    "SEXUAL",
    "VIOLENCE_OR_THREAT",
    "TOXICITY",
)
# Amazon Rekognition's top-level moderation categories (taxonomy v7).
IMAGE_CATEGORIES: Final = (
    "Explicit",
    "Non-Explicit Nudity of Intimate parts and Kissing",
    "Swimwear or Underwear",
    "Violence",
    "Visually Disturbing",
    "Drugs & Tobacco",
    "Alcohol",
    "Rude Gestures",
    "Gambling",
    "Hate Symbols",
)
DENY_LIST_CATEGORY: Final = "DENY_LIST"
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
# The deny-list parameter's first value; deployers edit it (one term or /regex/ per line, # comments).
INITIAL_DENY_LIST: Final = (
    "# One term or /regular expression/ per line; prompts containing one are refused.\n"
)


def _default_thresholds() -> dict[str, float]:
    return {
        "GRAPHIC": 0.5,
        "HARASSMENT_OR_ABUSE": 0.5,
        "HATE_SPEECH": 0.5,
        "INSULT": 0.7,
        "PROFANITY": 0.7,
        "SEXUAL": 0.5,
        "VIOLENCE_OR_THREAT": 0.5,
        "TOXICITY": 0.8,
    }


@dataclass(frozen=True)
class PromptModeration:
    enabled: bool = True
    thresholds: dict[str, float] = field(default_factory=_default_thresholds)
    on_failure: FailureMode = "closed"
    # DetectToxicContent is offered in a few regions only; empty: the functions' own region.
    region: str = ""


@dataclass(frozen=True)
class ImageModeration:
    enabled: bool = True
    min_confidence: float = 80.0
    categories: tuple[str, ...] = ("Explicit", "Violence", "Visually Disturbing", "Hate Symbols")
    on_failure: FailureMode = "closed"


@dataclass(frozen=True)
class ModerationPolicy:
    """Everything the API needs to moderate: the three stages and where the deny list is."""

    prompts: PromptModeration = field(default_factory=PromptModeration)
    outputs: ImageModeration = field(default_factory=ImageModeration)
    inputs: ImageModeration = field(default_factory=lambda: ImageModeration(categories=("Explicit",)))
    deny_list_parameter: str = ""  # SSM parameter name; empty: no deny list

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModerationPolicy:
        raw = json.loads(text)
        return cls(
            prompts=parse_prompts(raw.get("prompts", {})),
            outputs=parse_images(raw.get("outputs", {}), ImageModeration()),
            inputs=parse_images(raw.get("inputs", {}), cls().inputs),
            deny_list_parameter=str(raw.get("deny_list_parameter", "")),
        )


class PolicyError(ValueError):
    """A moderation setting is malformed (the message says which part)."""


def _keys(raw: Any, allowed: set[str]) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise PolicyError(f"not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise PolicyError("expected an object")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise PolicyError(f"unknown field {unknown[0]!r}; fields: {', '.join(sorted(allowed))}")
    return raw


def _enabled(raw: dict[str, Any], default: bool) -> bool:
    value = raw.get("enabled", default)
    if not isinstance(value, bool):
        raise PolicyError("'enabled' must be true or false")
    return value


def _on_failure(raw: dict[str, Any], default: FailureMode) -> FailureMode:
    value = raw.get("on_failure", default)
    if value not in FAILURE_MODES:
        raise PolicyError(f"'on_failure' must be one of {', '.join(FAILURE_MODES)}")
    return value


def _fraction(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise PolicyError(f"{name!r} must be a number from {low:g} to {high:g}")
    return float(value)


def parse_prompts(raw: Any, default: PromptModeration | None = None) -> PromptModeration:
    """A `prompts` stage from JSON-like data (missing fields keep their defaults)."""
    default = default or PromptModeration()
    data = _keys(raw, {"enabled", "thresholds", "on_failure", "region"})
    region = data.get("region", default.region)
    if not isinstance(region, str) or (region and not _REGION_RE.fullmatch(region)):
        raise PolicyError("'region' must be empty or an AWS region such as us-east-1")
    thresholds = dict(default.thresholds)
    given = data.get("thresholds", {})
    if not isinstance(given, dict):
        raise PolicyError("'thresholds' must map categories to scores")
    for category, score in given.items():
        if category not in TOXIC_CATEGORIES:
            raise PolicyError(f"unknown category {category!r}; categories: {', '.join(TOXIC_CATEGORIES)}")
        thresholds[category] = _fraction(f"thresholds.{category}", score, 0.0, 1.0)
    return PromptModeration(
        enabled=_enabled(data, default.enabled),
        thresholds=thresholds,
        on_failure=_on_failure(data, default.on_failure),
        region=region,
    )


def parse_images(raw: Any, default: ImageModeration) -> ImageModeration:
    """An `outputs` or `inputs` stage from JSON-like data (missing fields keep their defaults)."""
    data = _keys(raw, {"enabled", "min_confidence", "categories", "on_failure"})
    categories = data.get("categories", default.categories)
    if not isinstance(categories, list | tuple) or not categories:
        raise PolicyError("'categories' must be a non-empty list")
    for category in categories:
        if category not in IMAGE_CATEGORIES:
            raise PolicyError(f"unknown category {category!r}; categories: {', '.join(IMAGE_CATEGORIES)}")
    return ImageModeration(
        enabled=_enabled(data, default.enabled),
        min_confidence=_fraction(
            "min_confidence", data.get("min_confidence", default.min_confidence), 0, 100
        ),
        categories=tuple(categories),
        on_failure=_on_failure(data, default.on_failure),
    )
